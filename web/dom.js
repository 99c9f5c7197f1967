// Building the DOM without innerHTML (so no API text is ever parsed as markup) and without inline styles
// (the server's CSP forbids them): `h()` creates elements, forms report API errors in an accessible alert.

const SVG_NS = 'http://www.w3.org/2000/svg';

/** h('p', {class: 'x', onclick: fn}, 'text', child) -> HTMLElement. `null`/`false` children are skipped. */
export function h(tag, attrs = {}, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** The same for SVG elements (the latency chart). */
export function svg(tag, attrs = {}, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

function build(node, attrs, children) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') node.addEventListener(name.slice(2), value);
    else if (name === 'dataset') Object.assign(node.dataset, value);
    else if (value === true) node.setAttribute(name, '');
    else node.setAttribute(name, String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Append children to `node`, skipping null/false (Element.append would write "null"). */
export function add(node, ...children) {
  append(node, children);
  return node;
}

/** Replace everything inside `node`. */
export function replace(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

/** A labelled form control: <div class="field"><label for=id>…</label><input id=id …><small>hint</small></div>. */
let fieldCounter = 0;
export function field(label, control, hint) {
  const id = control.id || `f${++fieldCounter}`;
  control.id = id;
  const hintNode = hint ? h('small', { id: `${id}-hint`, class: 'hint' }, hint) : null;
  if (hintNode) control.setAttribute('aria-describedby', hintNode.id);
  return h('div', { class: 'field' }, h('label', { for: id }, label), control, hintNode);
}

/** A form's error box: empty until `showError`, then read out by screen readers (role=alert). */
export function alertBox() {
  return h('div', { class: 'alert', role: 'alert', hidden: true });
}

/**
 * Show an API error to the user: the server's message in the form's alert, and the named field (if the API
 * said which one) marked invalid and focused so keyboard users land on what to fix.
 */
export function showError(form, error) {
  const box = form.querySelector('.alert');
  for (const bad of form.querySelectorAll('[aria-invalid="true"]')) bad.removeAttribute('aria-invalid');
  if (!error) {
    if (box) { box.hidden = true; box.textContent = ''; }
    return;
  }
  const text = error.message || String(error);
  const message = text.charAt(0).toUpperCase() + text.slice(1); // the API's messages start in lower case
  if (box) {
    box.textContent = message;
    box.hidden = false;
  }
  // The API names nested fields with dots (recurrence.time); the form's control is named by the last part.
  const input = error.field && (form.querySelector(`[name="${CSS.escape(error.field)}"]`)
    || form.querySelector(`[name="${CSS.escape(error.field.split('.').pop())}"]`));
  if (input) {
    input.setAttribute('aria-invalid', 'true');
    input.focus();
  }
}

/**
 * Wire a form: on submit, clear the error, disable the submit button, run `action(values)`, show any error.
 * `values` are the named controls' values (checkboxes as booleans).
 */
export function onSubmit(form, action) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = form.querySelector('button[type="submit"]');
    showError(form, null);
    if (button) button.disabled = true;
    try {
      await action(values(form));
    } catch (error) {
      showError(form, error);
    } finally {
      if (button && button.isConnected) button.disabled = false;
    }
  });
  return form;
}

export function values(form) {
  const out = {};
  for (const control of form.elements) {
    if (!control.name) continue;
    if (control.type === 'checkbox') out[control.name] = control.checked;
    else if (control.type === 'radio') { if (control.checked) out[control.name] = control.value; }
    else out[control.name] = control.value;
  }
  return out;
}

/** "Tue 3 Jun, 07:00" in the given IANA zone (the user's, not the browser's). */
export function formatTime(iso, timeZone, withYear = false) {
  if (!iso) return '—';
  const options = { weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', timeZone };
  if (withYear) options.year = 'numeric';
  try {
    return new Intl.DateTimeFormat(undefined, options).format(new Date(iso));
  } catch {
    return new Date(iso).toLocaleString();
  }
}

export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined) return '—';
  const m = Math.floor(seconds / 60);
  const s = seconds % 60;
  return m ? `${m} min ${s} s` : `${s} s`;
}

/** A page heading that receives focus after navigation, so screen readers announce the new page. */
export function heading(text) {
  return h('h1', { tabindex: '-1', class: 'page-title' }, text);
}

export function loading(text = 'Loading…') {
  return h('p', { class: 'muted', role: 'status' }, text);
}
