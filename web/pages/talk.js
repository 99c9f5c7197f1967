// Talk to a persona from the browser: the same conversation engine as a phone call (turn-taking, barge-in,
// transcripts and latency records; the call is stored with direction "browser"), over a websocket. The
// microphone goes through an AudioWorklet (16 kHz PCM16) and the persona's voice plays through another; a typed
// line can be sent too. Without a microphone the page still works, typed lines only.
import { add, alertBox, field, h, heading, loading, onSubmit, replace, showError } from '../dom.js';
import { VoiceSession } from '../voice/session.js';

export async function render(container, ctx) {
  const wanted = ctx.params[0] || '';
  add(container, heading('Talk'), loading());
  const { personas } = await ctx.api.get('/api/personas');
  container.querySelector('[role="status"]').remove();
  if (!personas.length) {
    add(container, h('p', {}, 'No personas yet. ', h('a', { href: '#/personas' }, 'Create one'), '.'));
    return undefined;
  }
  const byId = new Map(personas.map((p) => [p.id, p]));
  const select = h('select', { name: 'persona_id' },
    personas.map((p) => h('option', { value: p.id, selected: p.id === wanted }, p.builtin ? p.name : `${p.name} (mine)`)));
  const setup = h('form', { class: 'card talk-setup', novalidate: true },
    alertBox(),
    field('Persona', select),
    field('What to talk about (optional)', h('input', { type: 'text', name: 'context', maxlength: 2000,
      placeholder: 'e.g. practising for a job interview' })),
    h('button', { type: 'submit', class: 'talk-start' }, 'Talk'),
    h('p', { class: 'hint muted' }, 'Uses your microphone; the persona answers out loud. Headphones avoid echo.'),
  );
  const live = h('section', { class: 'card talk-live', hidden: true, 'aria-labelledby': 'talk-live-title' });
  add(container, setup, live);

  let session = null;
  onSubmit(setup, async ({ persona_id: personaId, context }) => {
    const body = { persona_id: personaId };
    if (context.trim()) body.context = context.trim();
    const talk = await ctx.api.post('/api/talk', body);
    session = await startSession(ctx, live, talk, byId.get(personaId), () => {
      setup.hidden = false;
      session = null;
    });
    setup.hidden = true;
  });
  return () => { if (session) session.hangUp(); };
}

async function startSession(ctx, live, talk, persona, onEnded) {
  const state = h('p', { class: 'talk-state', role: 'status' }, 'Connecting…');
  const transcript = h('ol', { class: 'transcript', 'aria-live': 'polite', 'aria-label': 'Transcript' });
  const alert = alertBox();
  const input = h('input', { type: 'text', name: 'text', maxlength: 2000, autocomplete: 'off' });
  const typed = h('form', { class: 'row talk-type', novalidate: true }, field('Type a line', input),
    h('button', { type: 'submit' }, 'Send'));
  const hangup = h('button', { type: 'button', class: 'danger talk-hangup' }, 'Hang up');
  const after = h('p', { class: 'talk-after', hidden: true });
  replace(live, h('h2', { id: 'talk-live-title' }, `Talking to ${persona.name}`), state, alert, transcript, typed,
    h('div', { class: 'row' }, hangup), after);
  live.hidden = false;

  const session = new VoiceSession(talk.ws_path, {
    onOpen: () => { state.textContent = session.hasMicrophone ? 'Connected: speak whenever you like.' : 'Connected: type below.'; },
    onMessage: (message) => {
      if (message.type === 'transcript') add(transcript, turnItem(message, persona.name));
    },
    onClose: ({ code, reason }) => {
      state.textContent = code === 1000 || code === 1005 ? 'The call has ended.' : `The call ended (${reason || code}).`;
      typed.hidden = true;
      hangup.hidden = true;
      after.hidden = false;
      replace(after, h('a', { href: `#/calls/${talk.call_id}` }, 'See this call: transcript and latency'),
        ' · ', h('a', { href: `#/talk/${encodeURIComponent(persona.id)}` }, 'Talk again'));
      ctx.announce('The call has ended.');
      onEnded();
    },
  });
  await session.start({ microphone: true });
  // No microphone (refused, missing, insecure page): talk by typing rather than not at all.
  if (session.micError) showError(live, session.micError);
  onSubmit(typed, async ({ text }) => {
    if (!text.trim()) throw Object.assign(new Error('Type something to say first.'), { field: 'text' });
    session.sendJson({ type: 'text', text });
    input.value = '';
    input.focus();
  });
  hangup.addEventListener('click', () => session.hangUp());
  return session;
}

function turnItem(turn, personaName) {
  const who = turn.role === 'persona' ? personaName : 'You';
  const item = h('li', { class: `turn ${turn.role}${turn.interrupted ? ' interrupted' : ''}`, dataset: { seq: turn.seq } },
    h('span', { class: 'who' }, who));
  const heard = turn.heard_text;
  if (turn.role === 'persona' && heard !== null && heard !== turn.text) {
    const rest = turn.text.startsWith(heard) ? turn.text.slice(heard.length) : turn.text;
    add(item, h('p', { class: 'said' }, heard, rest ? h('span', { class: 'unheard', title: 'not heard' }, rest) : null));
  } else {
    add(item, h('p', { class: 'said' }, turn.text));
  }
  if (turn.interrupted) add(item, h('span', { class: 'flag' }, 'Interrupted'));
  return item;
}
