// Phone verification: send a 6-digit code by SMS, then check it. Calls only go to a verified number.
import { add, alertBox, field, h, heading, onSubmit, replace } from '../dom.js';

export function render(container, ctx) {
  const user = ctx.user;
  const current = h('p', {},
    user.phone_verified_at
      ? ['Your verified number is ', h('strong', {}, user.phone), '. You can verify another one below.']
      : 'Verify your phone number so personas can call you.');

  const sendForm = h('form', { class: 'card narrow', novalidate: true },
    alertBox(),
    field('Phone number', h('input', { type: 'tel', name: 'phone', autocomplete: 'tel', required: true,
      value: user.phone || '' }), 'International format, e.g. +14155550123.'),
    h('button', { type: 'submit' }, 'Send code'),
  );
  const checkArea = h('div');

  onSubmit(sendForm, async ({ phone }) => {
    const sent = await ctx.api.post('/api/phone/verify', { phone: phone.trim() });
    ctx.announce(`Code sent to ${sent.phone}.`);
    replace(checkArea, codeForm(ctx, sent.phone));
    checkArea.querySelector('input').focus();
  });

  add(container, heading('Verify your phone'), current, sendForm, checkArea);
}

function codeForm(ctx, phone) {
  const form = h('form', { class: 'card narrow', novalidate: true },
    alertBox(),
    h('p', {}, 'We sent a code to ', h('strong', {}, phone), '.'),
    field('6-digit code', h('input', { type: 'text', name: 'code', inputmode: 'numeric', autocomplete: 'one-time-code',
      maxlength: 6, required: true })),
    h('button', { type: 'submit' }, 'Verify'),
  );
  showLocalTexts(ctx, phone, form);
  onSubmit(form, async ({ code }) => {
    const user = await ctx.api.post('/api/phone/verify/check', { phone, code: code.trim() });
    ctx.setUser(user);
    ctx.announce('Your phone is verified.');
    ctx.navigate('#/personas');
  });
  return form;
}

// With the built-in local carrier there is no real phone to receive the SMS: show what it delivered.
// With Twilio the endpoint answers 409 and nothing is shown.
async function showLocalTexts(ctx, phone, form) {
  let texts;
  try {
    ({ texts } = await ctx.api.get(`/api/softphone/texts?phone=${encodeURIComponent(phone)}`));
  } catch {
    return;
  }
  if (!texts.length) return;
  form.insertBefore(h('div', { class: 'notice local-text', role: 'status' },
    h('p', {}, h('strong', {}, 'Local carrier: '), `no real SMS is sent, so here is the text ${phone} received:`),
    h('blockquote', {}, texts[0].body)), form.querySelector('.field'));
}
