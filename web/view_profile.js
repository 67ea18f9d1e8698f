// profile: who you are, and your linked ServiceNow account.
import { h, api, session, show, when, loading, failure } from './ui.js';

export async function profileView(main) {
  show(main, loading());
  async function load() {
    let link = null, err = null;
    try { link = await api('GET', '/api/v1/me/servicenow'); } catch (e) { err = e; }
    const linkBox = h('div', { class: 'panel' }, h('h2', {}, 'ServiceNow account'));
    if (err && err.status !== 404) {
      linkBox.append(failure(err, load));
    } else if (link && link.linked) {
      linkBox.append(
        h('p', {}, 'Linked to ', h('strong', {}, link.sn_user_name || link.user_name || ''), link.linked_at ? ` since ${when(link.linked_at)}` : '', '.'),
        h('p', { class: 'muted' }, 'Requests you make are raised in ServiceNow on behalf of this account.'));
    } else {
      const go = h('button', {
        class: 'primary', onclick: async () => {
          go.disabled = true;
          try {
            const r = await api('GET', '/api/v1/me/servicenow/link');
            location.href = r.authorization_url;
          } catch (e) { go.disabled = false; linkBox.append(failure(e)); }
        },
      }, 'Link your ServiceNow account');
      linkBox.append(h('p', { class: 'muted' }, 'Link your account so that requests are raised in ServiceNow in your name. You sign in to ServiceNow and allow snowgate; snowgate never sees your ServiceNow password.'), go);
    }
    show(main, h('div', { class: 'stack' },
      h('section', { class: 'panel' }, h('h1', {}, session.user.name), h('p', { class: 'muted' }, `Role: ${session.user.role}`)),
      linkBox));
  }
  await load();
}
