// Call Me Back web app: hash router, layout, navigation and auth state. Plain ES modules, no build step.
//
// CONTRACT for page modules (web/pages/<name>.js):
//   export function render(container, ctx)   // may be async; may return a cleanup function
//   ctx = {
//     api,          // web/api.js client: get/post/patch/put/del(path, body) -> JSON; fetch(path, init) -> Response;
//                   //   failures throw ApiError {status, code, message, field}
//     user,         // the logged-in user (GET /api/me shape) or null
//     params,       // route parameters, e.g. ['sarah'] for #/talk/sarah
//     query,        // URLSearchParams of the part after '?' in the hash (#/calls?before=…)
//     navigate,     // navigate('#/calls/ID') or navigate('/calls/ID')
//     signal,       // AbortSignal aborted when the page is left (stop timers, close websockets)
//     announce,     // announce('Saved') -> polite status message (aria-live)
//     setUser,      // setUser(user) after the profile changes; setUser(null) logs out locally
//     refreshUser,  // re-reads GET /api/me into ctx.user
//   }
// ROUTES: #/login #/signup #/phone #/personas (home) #/talk #/talk/<persona_id> #/designer/<persona_id>
//         #/schedules #/calls #/calls/<call_id> #/memory #/memory/<persona_id> #/usage #/profile
// The layout has <div id="softphone"></div>; once logged in, ./softphone.js's mount(element, ctx) is called.
// Hashes not starting with '#/' (e.g. the skip link's #main) are ordinary anchors, not routes.

import { createApi } from './api.js';
import { h, replace } from './dom.js';

const ROUTES = [
  { path: 'login', page: 'login', public: true },
  { path: 'signup', page: 'signup', public: true },
  { path: 'phone', page: 'phone' },
  { path: 'personas', page: 'personas', nav: 'Personas' },
  { path: 'talk', page: 'talk', nav: 'Talk' },
  { path: 'talk/:id', page: 'talk' },
  { path: 'designer/:id', page: 'designer' },
  { path: 'calls', page: 'calls', nav: 'Calls' },
  { path: 'calls/:id', page: 'call', section: 'calls' },
  { path: 'schedules', page: 'schedules', nav: 'Schedules' },
  { path: 'memory', page: 'memory', nav: 'Memory' },
  { path: 'memory/:id', page: 'memory' },
  { path: 'usage', page: 'usage', nav: 'Usage' },
  { path: 'profile', page: 'profile', nav: 'Profile' },
];

const state = { user: null, leave: null, softphone: false };
const api = createApi({ onUnauthorized: () => { state.user = null; navigate('#/login'); } });
const main = document.getElementById('main');
const nav = document.getElementById('nav');
const status = document.getElementById('status');

function match(hash) {
  const [pathPart, queryPart = ''] = hash.replace(/^#\/?/, '').split('?');
  const parts = pathPart.split('/').filter(Boolean).map(decodeURIComponent);
  for (const route of ROUTES) {
    const pattern = route.path.split('/');
    if (pattern.length !== parts.length) continue;
    const params = [];
    const ok = pattern.every((piece, i) => {
      if (piece.startsWith(':')) { params.push(parts[i]); return true; }
      return piece === parts[i];
    });
    if (ok) return { route, params, query: new URLSearchParams(queryPart) };
  }
  return null;
}

export function navigate(target) {
  const hash = target.startsWith('#') ? target : `#${target.startsWith('/') ? '' : '/'}${target}`;
  if (location.hash === hash) route();
  else location.hash = hash;
}

const STATUS_KEEP_MS = 8000;
let statusAt = 0;
let statusTimer = null;

function announce(message) {
  status.textContent = '';
  statusAt = Date.now();
  clearTimeout(statusTimer);
  // A fresh text node after a tick makes screen readers read the same message twice in a row too.
  setTimeout(() => { status.textContent = message; }, 30);
  statusTimer = setTimeout(() => { status.textContent = ''; }, STATUS_KEEP_MS);
}

function setUser(user) {
  state.user = user;
  renderNav();
  if (user) mountSoftphone();
}

async function refreshUser() {
  setUser(await api.get('/api/me'));
  return state.user;
}

async function logout() {
  try { await api.post('/api/auth/logout'); } catch { /* the token is forgotten either way */ }
  api.token = null;
  setUser(null);
  announce('You are logged out.');
  navigate('#/login');
}

function renderNav() {
  const current = (match(location.hash || '#/') || {}).route;
  const link = (href, label, active) =>
    h('a', { href, class: active ? 'active' : null, 'aria-current': active ? 'page' : null }, label);
  if (!state.user) {
    replace(nav, link('#/login', 'Log in', current?.page === 'login'), link('#/signup', 'Sign up', current?.page === 'signup'));
    return;
  }
  replace(
    nav,
    ROUTES.filter((r) => r.nav).map((r) => link(`#/${r.path}`, r.nav, (current?.section || current?.page) === r.page)),
    h('button', { type: 'button', class: 'link', onclick: logout }, 'Log out'),
  );
}

function mountSoftphone() {
  if (state.softphone) return;
  state.softphone = true;
  const ctx = context({ params: [], query: new URLSearchParams(), signal: new AbortController().signal });
  import('./softphone.js').then((m) => m.mount(document.getElementById('softphone'), ctx)).catch(() => {});
}

function context(extra) {
  return {
    api,
    get user() { return state.user; },
    navigate,
    announce,
    setUser,
    refreshUser,
    ...extra,
  };
}

async function route() {
  if (location.hash && !location.hash.startsWith('#/')) return; // an in-page anchor
  const found = match(location.hash || '#/');
  if (!found) return navigate(state.user ? '#/personas' : '#/login');
  if (!found.route.public && !state.user) return navigate('#/login');
  if (found.route.public && state.user) return navigate('#/personas');

  if (state.leave) state.leave();
  if (Date.now() - statusAt > 1500) status.textContent = ''; // a message belongs to the page that caused it
  const controller = new AbortController();
  let cleanup = null;
  state.leave = () => { controller.abort(); if (typeof cleanup === 'function') cleanup(); };
  renderNav();
  document.title = `${found.route.nav || found.route.page[0].toUpperCase() + found.route.page.slice(1)} · Call Me Back`;

  delete document.body.dataset.rendered;
  const container = h('div', { class: `page page-${found.route.page}` });
  replace(main, container);
  try {
    const module = await import(`./pages/${found.route.page}.js`);
    if (controller.signal.aborted) return;
    cleanup = await module.render(container, context({ params: found.params, query: found.query, signal: controller.signal }));
  } catch (error) {
    if (controller.signal.aborted) return;
    replace(container, h('h1', { tabindex: '-1', class: 'page-title' }, 'Something went wrong'),
      h('p', { class: 'alert', role: 'alert' }, error.message || String(error)));
  }
  if (controller.signal.aborted) return;
  const title = container.querySelector('h1');
  if (title) title.focus({ preventScroll: false });
  document.body.dataset.rendered = location.hash; // the page is drawn (tests wait for this)
}

async function start() {
  if (api.token) {
    try {
      state.user = await api.get('/api/me');
    } catch {
      api.token = null;
      state.user = null;
    }
  }
  setUser(state.user);
  window.addEventListener('hashchange', route);
  await route();
}

start();
