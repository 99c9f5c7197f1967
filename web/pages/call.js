// One call: status and times, the status timeline, the transcript (what the persona said versus what the caller
// heard, interruptions marked) and a per-turn latency chart, refreshed while the call is live.
import { add, formatDuration, formatTime, h, heading, loading, replace, svg } from '../dom.js';
import { statusBadge } from './calls.js';

const REFRESH_MS = 1500;
// Latency stamps are ms after the caller stopped speaking, in pipeline order; the chart stacks their differences.
export const STAGES = [
  ['transcript', 'Speech to text'],
  ['llm_first_token', 'Model first token'],
  ['tts_first_audio', 'Voice first audio'],
  ['first_frame_sent', 'First audio sent'],
  ['first_mark_echoed', 'Heard by the caller'],
];

export async function render(container, ctx) {
  const id = ctx.params[0];
  const summary = h('div', {}, loading());
  const live = h('p', { class: 'muted', role: 'status', 'aria-live': 'polite' });
  const hangup = h('button', { type: 'button', class: 'danger', hidden: true }, 'Hang up');
  const timeline = h('section', { 'aria-labelledby': 'timeline-title' });
  const transcript = h('section', { 'aria-labelledby': 'transcript-title' });
  const latency = h('section', { 'aria-labelledby': 'latency-title' });
  add(container, heading('Call'), h('div', { class: 'row spread' }, live, hangup), summary, timeline, transcript,
    latency, h('p', {}, h('a', { href: '#/calls' }, '← All calls')));

  hangup.addEventListener('click', async () => {
    hangup.disabled = true;
    try {
      await ctx.api.post(`/api/calls/${encodeURIComponent(id)}/hangup`);
      ctx.announce('Hanging up…');
    } catch (error) {
      ctx.announce(error.message);
      hangup.disabled = false;
    }
  });

  const personas = await ctx.api.get('/api/personas').then((r) => r.personas, () => []);
  const name = (pid) => personas.find((p) => p.id === pid)?.name || pid || 'Persona';
  let lastStatus = null;
  let lastTurns = -1;

  const refresh = async () => {
    const call = await ctx.api.get(`/api/calls/${encodeURIComponent(id)}`);
    if (ctx.signal.aborted) return;
    const persona = name(call.persona_id);
    container.querySelector('h1').textContent = `Call with ${persona}`;
    replace(summary, details(call, ctx.user.timezone));
    if (call.status !== lastStatus) live.textContent = call.ended_at ? `Call ${call.status}.` : `Call ${call.status}…`;
    lastStatus = call.status;
    hangup.hidden = Boolean(call.ended_at);
    replace(timeline, h('h2', { id: 'timeline-title' }, 'Timeline'), timelineOf(call, ctx.user.timezone));
    if (call.transcript.length !== lastTurns || call.ended_at) {
      lastTurns = call.transcript.length;
      replace(transcript, h('h2', { id: 'transcript-title' }, 'Transcript'), transcriptOf(call, persona));
      replace(latency, h('h2', { id: 'latency-title' }, 'Latency per reply'),
        latencyChart(call.transcript, latency.clientWidth));
    }
    return call;
  };

  const call = await refresh();
  if (call.ended_at) return;
  let timer = null;
  const poll = async () => {
    try {
      const current = await refresh();
      if (current && current.ended_at) return;
    } catch (error) {
      live.textContent = error.message;
    }
    if (!ctx.signal.aborted) timer = setTimeout(poll, REFRESH_MS);
  };
  timer = setTimeout(poll, REFRESH_MS);
  return () => clearTimeout(timer);
}

function details(call, zone) {
  const rows = [
    ['Status', statusBadge(call)],
    ['Direction', call.direction],
    call.to ? ['To', call.to] : null,
    call.context ? ['Reason', call.context] : null,
    ['Requested', formatTime(call.requested_at, zone)],
    ['Answered', formatTime(call.answered_at, zone)],
    ['Ended', formatTime(call.ended_at, zone)],
    ['Length', formatDuration(call.duration_s)],
    call.end_reason ? ['End reason', call.end_reason] : null,
    call.error ? ['Error', call.error] : null,
    call.usage ? ['Estimated cost', `$${call.usage.estimated_cost_usd.toFixed(4)}`] : null,
  ].filter(Boolean);
  return h('div', { class: 'card' }, h('dl', { class: 'facts' }, rows.map(([term, value]) => [h('dt', {}, term), h('dd', {}, value)])));
}

function timelineOf(call, zone) {
  if (!call.events.length) return h('p', { class: 'muted' }, 'No status events yet.');
  return h('ol', { class: 'timeline' }, call.events.map((event) => h('li', {},
    h('span', { class: 'badge' }, event.status),
    h('time', { datetime: event.at }, new Intl.DateTimeFormat(undefined,
      { hour: '2-digit', minute: '2-digit', second: '2-digit', timeZone: zone }).format(new Date(event.at))))));
}

function transcriptOf(call, persona) {
  const turns = call.transcript;
  if (!turns.length) {
    return h('p', { class: 'muted' }, call.ended_at ? 'Nothing was said.' : 'The transcript appears here as you talk.');
  }
  return h('ol', { class: 'transcript' }, turns.map((turn) => {
    const who = turn.role === 'persona' ? persona : turn.role === 'caller' ? 'You' : 'System';
    const item = h('li', { class: `turn ${turn.role}${turn.interrupted ? ' interrupted' : ''}`, dataset: { seq: turn.seq } },
      h('span', { class: 'who' }, who));
    if (turn.role !== 'persona' || turn.heard_text === null || turn.heard_text === turn.text) {
      add(item, h('p', { class: 'said' }, turn.text));
    } else {
      const heard = turn.heard_text || '';
      const rest = turn.text.startsWith(heard) ? turn.text.slice(heard.length) : turn.text;
      add(item,
        h('p', { class: 'said' }, h('span', { class: 'visually-hidden' }, 'Said: '), heard,
          rest ? h('span', { class: 'unheard', title: 'not heard' }, rest) : null),
        h('p', { class: 'heard small' }, h('strong', {}, 'You heard: '), heard ? `“${heard}”` : 'nothing'));
    }
    if (turn.interrupted) add(item, h('span', { class: 'flag' }, 'Interrupted'));
    return item;
  }));
}

/**
 * Stacked horizontal bars, one per persona reply: each stage's share of the time to that reply. Drawn at the
 * width it is shown at (`widthPx`), so its text stays readable on a phone instead of being scaled down.
 */
export function latencyChart(turns, widthPx = 640) {
  const rows = turns
    .filter((t) => t.role === 'persona' && t.latency_ms && STAGES.some(([key]) => t.latency_ms[key] != null))
    .map((t) => ({ seq: t.seq, segments: segmentsOf(t.latency_ms) }));
  if (!rows.length) return h('p', { class: 'muted' }, 'No reply timings yet (the greeting has none).');
  const total = (row) => row.segments.reduce((sum, s) => sum + s.ms, 0);
  const max = Math.max(...rows.map(total), 1);
  const width = Math.round(Math.min(Math.max(widthPx || 640, 300), 900));
  const label = 64, bar = 22, gap = 10, plot = width - label - 64;
  const height = rows.length * (bar + gap) + 4;
  const chart = svg('svg', { class: 'chart', viewBox: `0 0 ${width} ${height}`, role: 'img',
    'aria-label': `Latency per reply, stage by stage, for ${rows.length} replies` });
  rows.forEach((row, i) => {
    const y = i * (bar + gap) + 4;
    add(chart, svg('text', { x: 0, y: y + bar * 0.7 }, `Reply ${i + 1}`));
    let x = label;
    for (const segment of row.segments) {
      const w = (segment.ms / max) * plot;
      add(chart, svg('rect', { x: x.toFixed(1), y, width: Math.max(w, 0).toFixed(1), height: bar, class: `stage-${segment.key}` },
        svg('title', {}, `${segment.name}: ${Math.round(segment.ms)} ms`)));
      x += w;
    }
    add(chart, svg('text', { x: (x + 6).toFixed(1), y: y + bar * 0.7 }, `${Math.round(total(row))} ms`));
  });
  add(chart, svg('line', { class: 'axis', x1: label, x2: label, y1: 0, y2: height }));
  const legend = h('ul', { class: 'legend' }, STAGES.map(([key, name]) =>
    h('li', {}, h('span', { class: `swatch stage-${key}`, 'aria-hidden': 'true' }), name)));
  const table = h('details', {}, h('summary', {}, 'Show as a table'),
    h('div', { class: 'table-wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Reply'), STAGES.map(([, name]) => h('th', { scope: 'col' }, name)))),
      h('tbody', {}, rows.map((row, i) => h('tr', {}, h('th', { scope: 'row' }, `${i + 1}`),
        STAGES.map(([key]) => h('td', {}, cumulative(row, key)))))))));
  return [chart, legend, table];
}

function segmentsOf(latency) {
  const segments = [];
  let previous = 0;
  for (const [key, name] of STAGES) {
    const at = latency[key];
    if (at == null) continue;
    segments.push({ key, name, ms: Math.max(0, at - previous), at });
    previous = Math.max(previous, at);
  }
  return segments;
}

function cumulative(row, key) {
  const segment = row.segments.find((s) => s.key === key);
  return segment ? `${Math.round(segment.at)} ms` : '—';
}
