// The persona designer: edit my persona (prompt, voice, temperature, reply cap, call length, end-of-turn silence),
// see the exact prompt a call would get layer by layer, hear a voice sample, then talk to the draft.
// Built-in personas are shown read-only (their prompt and voice can still be inspected and heard).
import { add, alertBox, field, h, heading, loading, onSubmit, replace } from '../dom.js';

const OPENAI_VOICES = ['alloy', 'ash', 'ballad', 'coral', 'echo', 'fable', 'nova', 'onyx', 'sage', 'shimmer', 'verse'];
const SAMPLE_TEXT = 'Hi, it\'s me. I was just thinking about you, how did today go?';

/** The greeting input, here and in the personas page's create form (where the name is not known yet). */
export function greetingField({ value = '', personaName = '', disabled = false } = {}) {
  const example = personaName ? `Hi {name}, it's ${personaName}! How are you doing?` : 'Hi {name}! How are you doing?';
  return field('Greeting', h('input', { type: 'text', name: 'greeting', maxlength: 300, value, placeholder: example, disabled }),
    'Their first words when a call connects, said at once. {name} is your name. Empty = the model greets (and can say why it called; small local models greet like a help desk).');
}

export async function render(container, ctx) {
  const id = encodeURIComponent(ctx.params[0]);
  add(container, loading());
  const persona = await ctx.api.get(`/api/personas/${id}`);
  const prompt = h('section', { class: 'card', 'aria-labelledby': 'prompt-title' });
  let sampleUrl = null;
  replace(container,
    heading(`Designer: ${persona.name}`),
    persona.builtin ? h('div', { class: 'banner' }, `${persona.name} is built in and cannot be changed. `,
      'Create your own persona on the ', h('a', { href: '#/personas' }, 'Personas page'), ' to design one.') : null,
    editForm(ctx, persona, () => showPrompt(ctx, id, prompt)),
    sampleForm(ctx, id, (url) => { if (sampleUrl) URL.revokeObjectURL(sampleUrl); sampleUrl = url; }),
    prompt,
    h('p', {}, h('a', { class: 'button', href: `#/talk/${id}` }, `Talk to this ${persona.builtin ? 'persona' : 'draft'}`)),
  );
  await showPrompt(ctx, id, prompt);
  return () => { if (sampleUrl) URL.revokeObjectURL(sampleUrl); };
}

function number(name, value, attrs) {
  return h('input', { type: 'number', name, value: value ?? '', ...attrs });
}

function editForm(ctx, persona, saved) {
  const piper = persona.voice?.piper || {};
  const openai = persona.voice?.openai || {};
  const disabled = persona.builtin;
  const form = h('form', { class: 'card designer-form', novalidate: true },
    h('h2', {}, 'Personality and voice'),
    alertBox(),
    field('Core prompt', h('textarea', { name: 'core_prompt', rows: 10, maxlength: 8000, required: true, disabled }),
      'Who they are, how they talk, what they never do.'),
    greetingField({ value: persona.greeting, personaName: persona.name, disabled }),
    h('div', { class: 'grid-2' },
      field('Temperature', number('temperature', persona.temperature, { min: 0, max: 2, step: 0.05, disabled }),
        '0 = predictable, 1 = lively, 2 = wild.'),
      field('Reply cap (tokens)', number('reply_max_tokens', persona.reply_max_tokens, { min: 16, max: 1024, step: 1, disabled }),
        'The longest a single reply may be.'),
      field('Max call minutes', number('max_call_minutes', persona.max_call_minutes, { min: 1, max: 120, step: 1, disabled })),
      field('End-of-turn silence (ms)', number('end_of_turn_silence_ms', persona.end_of_turn_silence_ms, { min: 200, max: 3000, step: 50, disabled }),
        'How long you must pause before they answer. Empty = the server default.'),
      field('Speaking pace (Piper length scale)', number('length_scale', piper.length_scale, { min: 0.5, max: 2, step: 0.05, disabled }),
        'Below 1 is faster, above 1 slower. Empty = the default voice.'),
      field('Pitch (semitones)', number('pitch_semitones', piper.pitch_semitones, { min: -12, max: 12, step: 0.5, disabled }),
        'Negative is lower. Empty = the default voice.'),
      field('OpenAI voice', h('select', { name: 'openai_voice', disabled },
        h('option', { value: '' }, '(default)'),
        OPENAI_VOICES.map((v) => h('option', { value: v, selected: v === openai.voice }, v)))),
    ),
    field('OpenAI voice instructions', h('input', { type: 'text', name: 'openai_instructions', maxlength: 500,
      value: openai.instructions || '', disabled })),
    disabled ? null : h('button', { type: 'submit' }, 'Save'),
  );
  form.querySelector('textarea').value = persona.core_prompt;
  onSubmit(form, async (values) => {
    const changes = {
      core_prompt: values.core_prompt,
      greeting: values.greeting,
      temperature: Number(values.temperature),
      reply_max_tokens: Number(values.reply_max_tokens),
      max_call_minutes: Number(values.max_call_minutes),
      end_of_turn_silence_ms: values.end_of_turn_silence_ms === '' ? null : Number(values.end_of_turn_silence_ms),
      voice: voiceOf(persona.voice, values),
    };
    const updated = await ctx.api.patch(`/api/personas/${encodeURIComponent(persona.id)}`, changes);
    Object.assign(persona, updated);
    ctx.announce(`${updated.name} saved.`);
    await saved();
  });
  return form;
}

function voiceOf(current, values) {
  const voice = structuredClone(current || {});
  const piper = { ...(voice.piper || {}) };
  for (const key of ['length_scale', 'pitch_semitones']) {
    if (values[key] === '') delete piper[key];
    else piper[key] = Number(values[key]);
  }
  voice.piper = piper;
  const openai = { ...(voice.openai || {}) };
  if (values.openai_voice) openai.voice = values.openai_voice; else delete openai.voice;
  if (values.openai_instructions.trim()) openai.instructions = values.openai_instructions.trim();
  else delete openai.instructions;
  voice.openai = openai;
  return voice;
}

function sampleForm(ctx, id, keepUrl) {
  const player = h('audio', { controls: true, hidden: true, class: 'voice-sample' });
  const form = h('form', { class: 'card', novalidate: true },
    h('h2', {}, 'Hear the voice'),
    alertBox(),
    field('Text to say', h('input', { type: 'text', name: 'text', maxlength: 300, value: SAMPLE_TEXT, required: true }),
      'Uses the saved voice: save your changes first.'),
    h('button', { type: 'submit' }, 'Play sample'),
    player,
  );
  onSubmit(form, async ({ text }) => {
    const response = await ctx.api.fetch(`/api/personas/${id}/voice-sample`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'audio/wav' },
      body: JSON.stringify({ text }),
    });
    const url = URL.createObjectURL(await response.blob());
    keepUrl(url);
    player.src = url;
    player.hidden = false;
    player.play().catch(() => { /* autoplay refused: the controls are there */ });
  });
  return form;
}

async function showPrompt(ctx, id, section) {
  const compiled = await ctx.api.get(`/api/personas/${id}/prompt`);
  replace(section,
    h('h2', { id: 'prompt-title' }, 'Compiled prompt'),
    h('p', { class: 'muted' }, `What the model is told at the start of your next call: about ${compiled.approx_tokens} tokens.`),
    compiled.layers.map((layer) => h('details', { class: 'prompt-layer' },
      h('summary', {}, layer.name), h('pre', { class: 'prompt-text' }, layer.text))),
    h('details', { class: 'prompt-layer' }, h('summary', {}, 'Style example (messages before the call)'),
      h('pre', { class: 'prompt-text' }, compiled.example.map((m) => `${m.role}: ${m.content}`).join('\n'))),
    h('details', { class: 'prompt-layer' }, h('summary', {}, 'Opening instruction'),
      h('pre', { class: 'prompt-text' }, compiled.opening_instruction)),
    h('details', { class: 'prompt-layer' }, h('summary', {}, 'Greeting'),
      h('pre', { class: 'prompt-text' }, compiled.greeting || '(written by the model when the call connects)')),
  );
}
