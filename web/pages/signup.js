// Create an account; the browser's time zone is offered as the default so schedules ring at the right local time.
import { add, alertBox, field, h, heading, onSubmit } from '../dom.js';

export function render(container, ctx) {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  const form = h('form', { class: 'card narrow', novalidate: true },
    alertBox(),
    field('Name', h('input', { type: 'text', name: 'name', autocomplete: 'name', maxlength: 100 })),
    field('Email', h('input', { type: 'email', name: 'email', autocomplete: 'email', required: true })),
    field('Password', h('input', { type: 'password', name: 'password', autocomplete: 'new-password', required: true }),
      'At least 8 characters.'),
    field('Time zone', h('input', { type: 'text', name: 'timezone', value: zone, autocomplete: 'off', required: true }),
      'An IANA name such as Europe/Paris; scheduled calls ring in this zone.'),
    h('button', { type: 'submit' }, 'Sign up'),
  );
  onSubmit(form, async (values) => {
    const body = { email: values.email, password: values.password, timezone: values.timezone.trim() };
    if (values.name.trim()) body.name = values.name.trim();
    const { token, user } = await ctx.api.post('/api/auth/register', body);
    ctx.api.token = token;
    ctx.setUser(user);
    ctx.announce('Account created. Next: verify your phone.');
    ctx.navigate('#/phone');
  });
  add(container, 
    heading('Create your account'),
    h('p', { class: 'muted' }, 'Personas that phone you back: a coach, a friend, a challenger, or one you design.'),
    form,
    h('p', {}, 'Already have an account? ', h('a', { href: '#/login' }, 'Log in'), '.'),
  );
}
