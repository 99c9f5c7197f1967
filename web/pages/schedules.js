// Scheduled callbacks: create one-off or recurring, pause/resume, delete; next occurrences shown in my zone.
import { add, alertBox, field, formatTime, h, heading, loading, onSubmit, replace } from '../dom.js';

const PURPOSES = [
  ['wake-up', 'Wake-up call'],
  ['check-in', 'Check-in'],
  ['interview-practice', 'Interview practice'],
  ['escape-call', 'Escape call'],
  ['other', 'Something else…'],
];
const DAYS = [['mon', 'Mon'], ['tue', 'Tue'], ['wed', 'Wed'], ['thu', 'Thu'], ['fri', 'Fri'], ['sat', 'Sat'], ['sun', 'Sun']];

export async function render(container, ctx) {
  const list = h('div', {}, loading());
  add(container, heading('Schedules'), h('p', { class: 'muted' }, `Times are in your zone, ${ctx.user.timezone}.`), list);
  const [{ personas }, schedules] = await Promise.all([ctx.api.get('/api/personas'), ctx.api.get('/api/schedules')]);
  const names = new Map(personas.map((p) => [p.id, p.name]));
  add(container, createForm(ctx, personas));
  const items = schedules.schedules;
  if (!items.length) {
    replace(list, h('p', {}, 'No scheduled calls yet.'));
    return;
  }
  replace(list, h('ul', { class: 'plain-list card', 'aria-label': 'My schedules' },
    items.map((s) => scheduleItem(ctx, s, names.get(s.persona_id) || s.persona_id))));
}

function describe(schedule, zone) {
  if (schedule.kind === 'once') return `Once, ${formatTime(schedule.at, zone, true)}`;
  const r = schedule.recurrence || {};
  const when = r.repeat === 'daily' ? 'Every day' : r.repeat === 'weekdays' ? 'Weekdays'
    : `Every ${(r.days || []).map((d) => d[0].toUpperCase() + d.slice(1)).join(', ')}`;
  return `${when} at ${r.time}`;
}

function scheduleItem(ctx, schedule, personaName) {
  const zone = ctx.user.timezone;
  const id = encodeURIComponent(schedule.id);
  const paused = schedule.status === 'paused';
  const pause = h('button', { type: 'button', class: 'secondary' }, paused ? 'Resume' : 'Pause');
  const remove = h('button', { type: 'button', class: 'danger' }, 'Delete');
  const label = `${schedule.purpose} with ${personaName}`;
  pause.setAttribute('aria-label', `${paused ? 'Resume' : 'Pause'} ${label}`);
  remove.setAttribute('aria-label', `Delete ${label}`);
  pause.addEventListener('click', () => act(ctx, pause, async () => {
    await ctx.api.patch(`/api/schedules/${id}`, { paused: !paused });
    return paused ? 'Schedule resumed.' : 'Schedule paused.';
  }));
  remove.addEventListener('click', () => act(ctx, remove, async () => {
    await ctx.api.del(`/api/schedules/${id}`);
    return 'Schedule deleted.';
  }));
  return h('li', { dataset: { schedule: schedule.id } },
    h('div', { class: 'row spread' },
      h('strong', {}, `${schedule.purpose} · ${personaName}`),
      h('span', { class: `badge${schedule.status === 'active' ? ' live' : ''}` }, schedule.status)),
    h('p', { class: 'small' }, describe(schedule, zone)),
    schedule.upcoming.length
      ? h('p', { class: 'small' }, 'Next: ', schedule.upcoming.slice(0, 3).map((at, i) =>
        [i ? ', ' : '', h('time', { datetime: at }, formatTime(at, zone))]))
      : h('p', { class: 'small muted' }, 'Nothing upcoming.'),
    h('div', { class: 'row' }, schedule.status === 'done' ? null : pause, remove),
  );
}

async function act(ctx, button, action) {
  button.disabled = true;
  try {
    ctx.announce(await action());
    ctx.navigate('#/schedules');
  } catch (error) {
    ctx.announce(error.message);
    button.disabled = false;
  }
}

function createForm(ctx, personas) {
  const purpose = h('select', { name: 'purpose' }, PURPOSES.map(([value, label]) => h('option', { value }, label)));
  const otherPurpose = field('Describe the purpose', h('input', { type: 'text', name: 'purpose_text', maxlength: 200 }));
  otherPurpose.hidden = true;
  purpose.addEventListener('change', () => { otherPurpose.hidden = purpose.value !== 'other'; });

  const once = h('div', {}, field('Date and time', h('input', { type: 'datetime-local', name: 'at' })));
  const days = h('fieldset', { hidden: true }, h('legend', {}, 'Days'), h('div', { class: 'days' },
    DAYS.map(([value, label]) => h('label', {}, h('input', { type: 'checkbox', name: `day_${value}` }), ` ${label}`))));
  const repeat = h('select', { name: 'repeat' },
    h('option', { value: 'daily' }, 'Every day'), h('option', { value: 'weekdays' }, 'Weekdays'),
    h('option', { value: 'days' }, 'Chosen days'));
  repeat.addEventListener('change', () => { days.hidden = repeat.value !== 'days'; });
  const recurring = h('div', { hidden: true },
    field('Repeat', repeat), days, field('Time', h('input', { type: 'time', name: 'time' })));
  const kindChoice = h('fieldset', {}, h('legend', {}, 'When'), h('div', { class: 'row' },
    h('label', {}, h('input', { type: 'radio', name: 'kind', value: 'once', checked: true }), ' Once'),
    h('label', {}, h('input', { type: 'radio', name: 'kind', value: 'recurring' }), ' Repeating')));
  kindChoice.addEventListener('change', (event) => {
    once.hidden = event.target.value !== 'once';
    recurring.hidden = event.target.value === 'once';
  });

  const form = h('form', { class: 'card', novalidate: true },
    h('h2', {}, 'Schedule a call'),
    alertBox(),
    field('Persona', h('select', { name: 'persona_id' }, personas.map((p) => h('option', { value: p.id }, p.name)))),
    field('Purpose', purpose),
    otherPurpose,
    field('Notes for the persona (optional)', h('input', { type: 'text', name: 'context', maxlength: 1000 })),
    kindChoice, once, recurring,
    field('Retries if busy or unanswered', h('input', { type: 'number', name: 'retries', min: 0, max: 5, value: 0 })),
    h('button', { type: 'submit' }, 'Schedule'),
  );
  onSubmit(form, async (v) => {
    const body = {
      persona_id: v.persona_id,
      purpose: v.purpose === 'other' ? v.purpose_text.trim() : v.purpose,
    };
    if (v.context.trim()) body.context = v.context.trim();
    if (Number(v.retries) > 0) body.retries = { max: Number(v.retries) };
    if (v.kind === 'once') {
      if (!v.at) throw { message: 'Choose the date and time of the call.', field: 'at' };
      body.at = v.at;
    } else {
      if (!v.time) throw { message: 'Choose the time of the call.', field: 'time' };
      body.recurrence = { repeat: v.repeat, time: v.time };
      if (v.repeat === 'days') {
        body.recurrence.days = DAYS.map(([d]) => d).filter((d) => v[`day_${d}`]);
        if (!body.recurrence.days.length) throw { message: 'Pick at least one day.', field: 'day_mon' };
      }
    }
    if (!body.purpose) throw { message: 'Describe the purpose of the call.', field: 'purpose_text' };
    await ctx.api.post('/api/schedules', body);
    ctx.announce('Call scheduled.');
    ctx.navigate('#/schedules');
  });
  return form;
}
