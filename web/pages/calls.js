// Call history: my calls, newest first, 20 a page (keyset pagination: ?before=<id of the last call shown>).
import { add, formatDuration, formatTime, h, heading, loading, replace } from '../dom.js';

const PAGE_SIZE = 20;

export async function render(container, ctx) {
  const body = h('div', {}, loading());
  add(container, heading('Calls'), body);
  const before = ctx.query.get('before');
  const path = `/api/calls?limit=${PAGE_SIZE}${before ? `&before=${encodeURIComponent(before)}` : ''}`;
  const [{ calls, next }, { personas }] = await Promise.all([ctx.api.get(path), ctx.api.get('/api/personas')]);
  const names = new Map(personas.map((p) => [p.id, p.name]));
  if (!calls.length) {
    replace(body, h('p', {}, before ? 'No older calls.' : 'No calls yet. ',
      before ? null : h('a', { href: '#/personas' }, 'Pick a persona and ask for a call'), before ? null : '.'));
    return;
  }
  const zone = ctx.user.timezone;
  replace(body,
    h('div', { class: 'table-wrap' }, h('table', {},
      h('caption', { class: 'muted small' }, `Times in ${zone}`),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'When'), h('th', { scope: 'col' }, 'Persona'),
        h('th', { scope: 'col', class: 'hide-narrow' }, 'Direction'), h('th', { scope: 'col' }, 'Status'),
        h('th', { scope: 'col', class: 'hide-narrow' }, 'Length'))),
      h('tbody', {}, calls.map((call) => h('tr', {},
        h('td', {}, h('a', { href: `#/calls/${call.id}` }, formatTime(call.requested_at, zone))),
        h('td', {}, names.get(call.persona_id) || call.persona_id || '—'),
        h('td', { class: 'hide-narrow' }, call.direction),
        h('td', {}, statusBadge(call)),
        h('td', { class: 'hide-narrow' }, formatDuration(call.duration_s)),
      ))),
    )),
    h('nav', { class: 'pager', 'aria-label': 'Pages' },
      before ? h('a', { class: 'button secondary', href: '#/calls' }, 'Newest calls') : null,
      next ? h('a', { class: 'button secondary', href: `#/calls?before=${encodeURIComponent(next)}` }, 'Older calls') : null,
    ),
  );
}

export function statusBadge(call) {
  const live = !call.ended_at;
  const bad = ['failed', 'busy', 'no-answer', 'canceled'].includes(call.status);
  return h('span', { class: `badge${live ? ' live' : ''}${bad ? ' bad' : ''}` }, call.status);
}
