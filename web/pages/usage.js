// Usage: this month (in my time zone) and all time, with the estimated cost and the monthly allowance.
import { add, formatTime, h, heading } from '../dom.js';

const ROWS = [
  ['calls', 'Calls', (v) => v],
  ['minutes_billed', 'Minutes', (v) => v],
  ['stt_seconds', 'Speech-to-text seconds', (v) => v.toFixed(1)],
  ['llm_tokens_in', 'Model tokens in', (v) => v.toLocaleString()],
  ['llm_tokens_out', 'Model tokens out', (v) => v.toLocaleString()],
  ['tts_chars', 'Characters spoken', (v) => v.toLocaleString()],
  ['estimated_cost_usd', 'Estimated cost', (v) => `$${v.toFixed(4)}`],
];

export async function render(container, ctx) {
  const usage = await ctx.api.get('/api/me/usage');
  const { monthly_minutes: monthly, minutes_left: left } = usage.allowance;
  add(container,
    heading('Usage'),
    h('p', { class: 'card', id: 'allowance' }, monthly === null
      ? 'No monthly minute limit.'
      : `${left} of ${monthly} minutes left this month.`),
    h('div', { class: 'table-wrap' }, h('table', {},
      h('caption', { class: 'muted small' }, `This month started ${formatTime(usage.month.start, ctx.user.timezone, true)}`),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'What'), h('th', { scope: 'col' }, 'This month'),
        h('th', { scope: 'col' }, 'All time'))),
      h('tbody', {}, ROWS.map(([key, label, format]) => h('tr', {},
        h('th', { scope: 'row' }, label), h('td', {}, format(usage.month[key])), h('td', {}, format(usage.all_time[key]))))),
    )),
    h('p', { class: 'small muted' }, 'Costs are estimates at the server\'s current prices.'),
  );
}
