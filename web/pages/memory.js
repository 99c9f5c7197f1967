// Memory viewer: what a persona remembers about me, each fact editable and deletable, and "forget me".
import { add, alertBox, field, h, heading, loading, onSubmit, replace } from '../dom.js';

const CATEGORIES = ['personal', 'family', 'work', 'health', 'goals', 'preferences', 'events', 'other'];

export async function render(container, ctx) {
  const { personas } = await ctx.api.get('/api/personas');
  const chosen = ctx.params[0] || null;
  const picker = h('nav', { 'aria-label': 'Personas', class: 'row' }, personas.map((p) => h('a', {
    class: `button ${p.id === chosen ? '' : 'secondary'}`, href: `#/memory/${encodeURIComponent(p.id)}`,
    'aria-current': p.id === chosen ? 'page' : null,
  }, p.name)));
  if (!chosen) {
    add(container, heading('Memory'), h('p', {}, 'Choose a persona to see what it remembers about you.'), picker);
    return;
  }
  const persona = personas.find((p) => p.id === chosen);
  if (!persona) throw new Error('No such persona.');
  const list = h('div', {}, loading());
  add(container, heading(`What ${persona.name} remembers`), picker, list);
  const base = `/api/personas/${encodeURIComponent(chosen)}/memory`;
  const { facts } = await ctx.api.get(base);
  if (!facts.length) {
    replace(list, h('p', { class: 'card' }, `${persona.name} doesn't remember anything about you yet. Facts appear after calls.`));
    return;
  }
  replace(list,
    h('ul', { class: 'plain-list card', 'aria-label': 'Remembered facts' }, facts.map((fact) => factItem(ctx, base, fact))),
    forgetMe(ctx, base, persona),
  );
}

function factItem(ctx, base, fact) {
  const url = `${base}/${fact.id}`;
  const item = h('li', { dataset: { fact: fact.id } });
  const show = () => replace(item,
    h('p', { class: 'fact-content' }, fact.content),
    h('p', { class: 'small muted' }, `${fact.category} · importance ${fact.importance} of 5`),
    h('div', { class: 'row' },
      h('button', { type: 'button', class: 'secondary', 'aria-label': `Edit: ${fact.content}`, onclick: edit }, 'Edit'),
      h('button', { type: 'button', class: 'danger', 'aria-label': `Delete: ${fact.content}`, onclick: remove }, 'Delete')));
  function edit() {
    const form = h('form', { novalidate: true },
      alertBox(),
      field('Fact', h('input', { type: 'text', name: 'content', value: fact.content, maxlength: 300 })),
      field('Category', h('select', { name: 'category' },
        CATEGORIES.map((c) => h('option', { value: c, selected: c === fact.category }, c)))),
      field('Importance (1 to 5)', h('input', { type: 'number', name: 'importance', min: 1, max: 5, value: fact.importance })),
      h('div', { class: 'row' }, h('button', { type: 'submit' }, 'Save'),
        h('button', { type: 'button', class: 'secondary', onclick: show }, 'Cancel')));
    onSubmit(form, async (v) => {
      fact = await ctx.api.patch(url, { content: v.content, category: v.category, importance: Number(v.importance) });
      ctx.announce('Fact updated.');
      show();
    });
    replace(item, form);
    form.querySelector('input').focus();
  }
  async function remove() {
    try {
      await ctx.api.del(url);
      ctx.announce('Fact deleted.');
      item.remove();
    } catch (error) {
      ctx.announce(error.message);
    }
  }
  show();
  return item;
}

function forgetMe(ctx, base, persona) {
  const box = h('div', { class: 'card' });
  const ask = () => replace(box,
    h('h2', {}, 'Forget me'),
    h('p', {}, `${persona.name} forgets everything above. This cannot be undone.`),
    h('button', { type: 'button', class: 'danger', onclick: confirm }, 'Forget me…'));
  function confirm() {
    replace(box, h('p', { role: 'alert' }, `Really make ${persona.name} forget everything about you?`),
      h('div', { class: 'row' },
        h('button', { type: 'button', class: 'danger', onclick: forget }, 'Yes, forget everything'),
        h('button', { type: 'button', class: 'secondary', onclick: ask }, 'Cancel')));
    box.querySelector('button').focus();
  }
  async function forget() {
    try {
      const { forgotten } = await ctx.api.del(base);
      ctx.announce(`${persona.name} forgot ${forgotten} fact${forgotten === 1 ? '' : 's'}.`);
      ctx.navigate(`#/memory/${encodeURIComponent(persona.id)}`);
    } catch (error) {
      ctx.announce(error.message);
    }
  }
  ask();
  return box;
}
