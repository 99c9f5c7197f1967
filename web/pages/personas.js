// The persona gallery: built-ins and mine, favorites, "Call me now" with an optional reason, links to Talk and
// (for my own personas) the designer, and a form to create a new persona (its greeting included).
import { add, alertBox, field, h, heading, loading, onSubmit, replace } from '../dom.js';
import { greetingField } from './designer.js';

export async function render(container, ctx) {
  const list = h('ul', { class: 'gallery', 'aria-label': 'Personas' });
  add(container, 
    heading('Personas'),
    ctx.user.phone_verified_at ? null : h('div', { class: 'banner' },
      'Verify your phone before a persona can call you. ', h('a', { href: '#/phone' }, 'Verify now'), '.'),
    list,
    newPersonaForm(ctx),
  );
  replace(list, loading());
  const { personas } = await ctx.api.get('/api/personas');
  replace(list, personas.map((persona) => card(ctx, persona)));
}

function card(ctx, persona) {
  const item = h('li', { class: 'card persona', dataset: { persona: persona.id } });
  const id = encodeURIComponent(persona.id);
  const star = h('button', {
    type: 'button', class: 'star', 'aria-pressed': String(persona.favorite),
    'aria-label': `Favorite ${persona.name}`,
  }, persona.favorite ? '★ Favorite' : '☆ Favorite');
  const callForm = h('form', { class: 'call-form', novalidate: true },
    alertBox(),
    field(['Reason', h('span', { class: 'visually-hidden' }, ` for ${persona.name}'s call`), ' (optional)'],
      h('input', { type: 'text', name: 'context', maxlength: 2000, placeholder: 'e.g. I need a push to go running' })),
    h('button', { type: 'submit' }, 'Call me now', h('span', { class: 'visually-hidden' }, ` (${persona.name})`)),
  );
  star.addEventListener('click', async () => {
    star.disabled = true;
    try {
      const wanted = star.getAttribute('aria-pressed') !== 'true';
      const updated = await (wanted ? ctx.api.put : ctx.api.del)(`/api/personas/${id}/favorite`);
      star.setAttribute('aria-pressed', String(updated.favorite));
      star.textContent = updated.favorite ? '★ Favorite' : '☆ Favorite';
      ctx.announce(updated.favorite ? `${persona.name} is a favorite.` : `${persona.name} is no longer a favorite.`);
    } catch (error) {
      ctx.announce(error.message);
    } finally {
      star.disabled = false;
    }
  });
  onSubmit(callForm, async ({ context }) => {
    const body = { persona_id: persona.id };
    if (context.trim()) body.context = context.trim();
    const call = await ctx.api.post('/api/calls', body);
    ctx.announce(`${persona.name} is calling you.`);
    ctx.navigate(`#/calls/${call.id}`);
  });
  item.append(
    h('div', { class: 'row spread' }, h('h2', {}, persona.name),
      h('span', { class: 'badge' }, persona.builtin ? 'Built-in' : 'Mine')),
    h('p', { class: 'tagline' }, persona.tagline || ''),
    star,
    callForm,
    h('div', { class: 'actions' },
      h('a', { class: 'button secondary', href: `#/talk/${id}` }, `Talk to ${persona.name}`),
      persona.builtin ? null : h('a', { class: 'button secondary', href: `#/designer/${id}` }, 'Edit in designer'),
      h('a', { class: 'button secondary', href: `#/memory/${id}` }, 'Memory',
        h('span', { class: 'visually-hidden' }, ` of ${persona.name}`)),
    ),
  );
  return item;
}

function newPersonaForm(ctx) {
  const form = h('form', { class: 'card', novalidate: true },
    h('h2', {}, 'New persona'),
    alertBox(),
    field('Name', h('input', { type: 'text', name: 'name', maxlength: 60, required: true })),
    field('Tagline', h('input', { type: 'text', name: 'tagline', maxlength: 200 }), 'One line shown in the gallery.'),
    field('Who they are and how they talk', h('textarea', { name: 'core_prompt', maxlength: 8000, required: true, rows: 5 }),
      'The persona\'s core prompt: personality, tone, what they care about.'),
    greetingField(),
    h('button', { type: 'submit' }, 'Create persona'),
  );
  onSubmit(form, async ({ name, tagline, core_prompt: corePrompt, greeting }) => {
    const body = { name, core_prompt: corePrompt };
    if (tagline.trim()) body.tagline = tagline;
    if (greeting.trim()) body.greeting = greeting;
    const created = await ctx.api.post('/api/personas', body);
    ctx.announce(`${created.name} created.`);
    form.reset();
    ctx.navigate('#/personas');
  });
  return form;
}
