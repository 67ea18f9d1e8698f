// inbox: the requests the signed-in user may decide, refreshed every few seconds.
import { h, api, show, toast, ago, duration, empty, loading, failure } from './ui.js';

function card(r, reload) {
  const comment = h('input', { placeholder: 'Comment (optional)', 'aria-label': `Comment on ${r.asset} for ${r.for}`, maxlength: 4000 });
  const decide = (verb) => async (e) => {
    const buttons = e.target.closest('.decide').querySelectorAll('button');
    buttons.forEach((b) => { b.disabled = true; });
    try {
      await api('POST', `/api/v1/requests/${r.id}/${verb}`, comment.value.trim() ? { comment: comment.value.trim() } : {});
      toast(verb === 'approve' ? `Approved: ${r.for} on ${r.asset}` : `Rejected: ${r.for} on ${r.asset}`, 'ok');
    } catch (err) {
      toast(err.message, 'error');
    }
    reload();
  };
  return h('li', { class: 'card', dataset: { id: r.id } },
    h('div', { class: 'card-head' },
      h('span', { class: 'mono' }, r.asset),
      r.servicenow && r.servicenow.number ? h('span', { class: 'sn' }, r.servicenow.number) : null),
    h('p', {}, h('strong', {}, r.for), ` asks for ${r.privilege} (${(r.privileges || []).join(', ')}) · ${duration(r.duration)}`,
      r.requester !== r.for ? ` · raised by ${r.requester}` : ''),
    h('blockquote', {}, r.justification),
    h('p', { class: 'muted small' }, `asked ${ago(r.created_at)}`),
    h('div', { class: 'decide' }, comment,
      h('button', { class: 'primary', onclick: decide('approve') }, 'Approve'),
      h('button', { class: 'danger', onclick: decide('reject') }, 'Reject')));
}

export async function inboxView(main) {
  const list = h('ul', { class: 'cards', 'aria-label': 'Requests to decide' });
  const status = h('p', { class: 'muted small', 'aria-live': 'polite' });
  let first = true, busy = false;
  async function load() {
    if (busy) return;
    // Do not redraw under someone typing a comment.
    if (!first && list.contains(document.activeElement) && document.activeElement.tagName === 'INPUT' && document.activeElement.value) return;
    busy = true;
    if (first) show(list, h('li', {}, loading()));
    try {
      const data = await api('GET', '/api/v1/inbox');
      const items = data.items || [];
      show(list, items.length ? items.map((r) => card(r, load))
        : h('li', {}, empty('Nothing to decide', 'Requests on assets you own (or all, for stewards and admins) appear here as they arrive.')));
      status.textContent = `Updated ${new Date().toLocaleTimeString()}`;
    } catch (e) {
      show(list, h('li', {}, failure(e, load)));
    }
    first = false;
    busy = false;
  }
  show(main, h('section', { class: 'panel' },
    h('div', { class: 'panel-head' }, h('h1', {}, 'Inbox'), status), list));
  await load();
  const t = setInterval(load, 4000);
  return () => clearInterval(t);
}
