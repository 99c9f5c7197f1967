// Log in with email and password; the token goes to localStorage through ctx.api.
import { add, alertBox, field, h, heading, onSubmit } from '../dom.js';

export function render(container, ctx) {
  const form = h('form', { class: 'card narrow', novalidate: true },
    alertBox(),
    field('Email', h('input', { type: 'email', name: 'email', autocomplete: 'email', required: true })),
    field('Password', h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true })),
    h('button', { type: 'submit' }, 'Log in'),
  );
  onSubmit(form, async ({ email, password }) => {
    const { token, user } = await ctx.api.post('/api/auth/login', { email, password });
    ctx.api.token = token;
    ctx.setUser(user);
    ctx.announce(`Welcome back${user.name ? `, ${user.name}` : ''}.`);
    ctx.navigate(user.phone_verified_at ? '#/personas' : '#/phone');
  });
  add(container, 
    heading('Log in'),
    form,
    h('p', {}, 'New here? ', h('a', { href: '#/signup' }, 'Create an account'), '.'),
  );
}
