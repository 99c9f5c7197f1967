// Profile: name, time zone (my schedules follow it) and quiet hours (no scheduled call rings in them).
import { add, alertBox, field, h, heading, onSubmit } from '../dom.js';

export function render(container, ctx) {
  const user = ctx.user;
  const quiet = user.quiet_hours;
  const noQuiet = h('input', { type: 'checkbox', name: 'no_quiet', checked: !quiet });
  const start = h('input', { type: 'time', name: 'quiet_start', value: quiet ? quiet.start : '22:00', disabled: !quiet });
  const end = h('input', { type: 'time', name: 'quiet_end', value: quiet ? quiet.end : '07:00', disabled: !quiet });
  noQuiet.addEventListener('change', () => { start.disabled = end.disabled = noQuiet.checked; });

  const form = h('form', { class: 'card narrow', novalidate: true },
    alertBox(),
    field('Name', h('input', { type: 'text', name: 'name', value: user.name, maxlength: 100, autocomplete: 'name' })),
    field('Time zone', h('input', { type: 'text', name: 'timezone', value: user.timezone, autocomplete: 'off' }),
      'An IANA name such as America/New_York. Your repeating schedules move with it.'),
    h('fieldset', {}, h('legend', {}, 'Quiet hours'),
      h('p', { class: 'small muted' }, 'Scheduled calls that fall in these hours are skipped.'),
      h('div', { class: 'field field-inline' }, noQuiet, h('label', { for: 'no-quiet' }, 'No quiet hours')),
      field('From', start), field('Until', end)),
    h('button', { type: 'submit' }, 'Save'),
  );
  noQuiet.id = 'no-quiet';
  onSubmit(form, async (v) => {
    const body = { name: v.name, timezone: v.timezone.trim() };
    body.quiet_hours = v.no_quiet ? null : { start: v.quiet_start, end: v.quiet_end };
    ctx.setUser(await ctx.api.patch('/api/me', body));
    ctx.announce('Profile saved.');
  });
  add(container,
    heading('Profile'),
    h('dl', { class: 'facts card narrow' },
      h('dt', {}, 'Email'), h('dd', {}, user.email),
      h('dt', {}, 'Phone'), h('dd', {}, user.phone_verified_at ? user.phone : 'not verified', ' ',
        h('a', { href: '#/phone' }, user.phone_verified_at ? 'change' : 'verify'))),
    form,
  );
}
