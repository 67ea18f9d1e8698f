// login: the sign-in page.
import { h, api, session, field } from './ui.js';

export function loginView(done) {
  const name = h('input', { name: 'username', autocomplete: 'username', required: true, autofocus: true });
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const error = h('div', { class: 'alert error', role: 'alert', hidden: true });
  const submit = h('button', { type: 'submit', class: 'primary wide' }, 'Sign in');
  const form = h('form', {
    class: 'login-card', onsubmit: async (e) => {
      e.preventDefault();
      error.hidden = true;
      submit.disabled = true;
      submit.textContent = 'Signing in…';
      try {
        const s = await api('POST', '/api/v1/session', { name: name.value.trim(), password: password.value });
        session.user = s.user; session.csrf = s.csrf;
        await done();
      } catch (err) {
        error.textContent = err.message;
        error.hidden = false;
        password.select();
        submit.disabled = false;
        submit.textContent = 'Sign in';
      }
    },
  },
  h('div', { class: 'login-brand' }, h('img', { src: '/ui/logo.svg', alt: '', width: 40, height: 40 }), h('span', {}, 'snowgate')),
  h('h1', {}, 'Sign in'),
  h('p', { class: 'muted' }, 'Data access, approved and on record.'),
  error,
  field('User name', name),
  field('Password', password),
  submit,
  h('p', { class: 'hint' }, 'No password yet? An admin sets one with ', h('code', {}, 'snowgate user passwd NAME'), '.'));
  return h('div', { class: 'login-page' }, form);
}
