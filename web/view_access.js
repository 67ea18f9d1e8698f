// access: requesting access, one's requests with their timelines, and an asset's page.
import { h, api, session, show, toast, when, ago, duration, badge, empty, loading, failure, field } from './ui.js';

const DURATIONS = [
  ['PT5M', '5 minutes'], ['PT1H', '1 hour'], ['PT8H', '8 hours'], ['P1D', '1 day'], ['P7D', '7 days'], ['P30D', '30 days'], ['', 'No end date'],
];

function assetCard(a, chosen, onpick) {
  return h('li', {},
    h('button', {
      type: 'button', class: `asset ${chosen ? 'chosen' : ''}`, 'aria-pressed': chosen ? 'true' : 'false',
      onclick: () => onpick(a),
    },
    h('span', { class: 'asset-name' }, a.name),
    h('span', { class: 'asset-meta' }, `${a.type} · ${a.connection}`),
    a.description ? h('span', { class: 'asset-desc' }, a.description) : null));
}

export async function requestView(main) {
  let chosen = null, timer = null, seq = 0;
  const q = h('input', { type: 'search', placeholder: 'Search assets, e.g. orders', autocomplete: 'off', 'aria-describedby': 'results-count' });
  const results = h('ul', { class: 'assets', 'aria-label': 'Assets' });
  const count = h('p', { class: 'hint', id: 'results-count' });
  const form = h('form', { class: 'panel', hidden: true });
  const intro = h('div', { class: 'panel-intro' });

  async function search() {
    const my = ++seq;
    show(results, h('li', {}, loading('Searching…')));
    try {
      const data = await api('GET', `/api/v1/assets?q=${encodeURIComponent(q.value.trim())}`);
      if (my !== seq) return;
      const items = data.items || [];
      count.textContent = items.length ? `${items.length} asset${items.length === 1 ? '' : 's'}` : '';
      show(results, items.length ? items.map((a) => assetCard(a, chosen && chosen.name === a.name, pick))
        : h('li', {}, empty('No assets match', q.value ? `Nothing is called "${q.value}". Try part of the name.` : 'No assets are governed yet. An admin registers them.')));
    } catch (e) {
      if (my === seq) show(results, h('li', {}, failure(e, search)));
    }
  }

  function pick(a) {
    chosen = a;
    for (const b of results.querySelectorAll('button.asset')) {
      const on = b.querySelector('.asset-name').textContent === a.name;
      b.classList.toggle('chosen', on);
      b.setAttribute('aria-pressed', on ? 'true' : 'false');
    }
    renderForm();
  }

  function renderForm() {
    const a = chosen;
    const read = h('input', { type: 'radio', name: 'privilege', value: 'read', checked: true, id: 'p-read' });
    const write = h('input', { type: 'radio', name: 'privilege', value: 'write', id: 'p-write', disabled: a.type === 'view' });
    const dur = h('select', { name: 'duration' }, DURATIONS.map(([v, l]) => h('option', { value: v, selected: v === 'PT8H' }, l)));
    const why = h('textarea', { name: 'justification', rows: 3, required: true, maxlength: 4000, placeholder: 'What you need it for, so an approver can decide' });
    const forWho = h('input', { name: 'for', placeholder: session.user.name, autocomplete: 'off' });
    const error = h('div', { class: 'alert error', role: 'alert', hidden: true });
    const submit = h('button', { type: 'submit', class: 'primary' }, 'Request access');
    show(form,
      h('h2', {}, 'Access to ', h('span', { class: 'mono' }, a.name)),
      h('p', { class: 'muted' }, `${a.type} on ${a.connection}`, a.owners && a.owners.length ? ` · owned by ${a.owners.join(', ')}` : '', ' · ',
        h('a', { href: `#/assets/${encodeURIComponent(a.name)}` }, 'who has access')),
      h('fieldset', { class: 'choice' }, h('legend', {}, 'Access'),
        h('label', { for: 'p-read', class: 'option' }, read, h('span', {}, h('strong', {}, 'Read'), h('small', {}, 'SELECT'))),
        h('label', { for: 'p-write', class: 'option' }, write, h('span', {}, h('strong', {}, 'Write'), h('small', {}, a.type === 'view' ? 'views cannot be written' : 'SELECT, INSERT, UPDATE, DELETE')))),
      field('For how long', dur, 'Access is taken back automatically when the time is up.'),
      field('Justification', why),
      field('For someone else (optional)', forWho, 'A snowgate user name; leave empty for yourself.'),
      error, h('div', { class: 'actions' }, submit));
    form.hidden = false;
    form.onsubmit = async (e) => {
      e.preventDefault();
      error.hidden = true;
      submit.disabled = true;
      const body = {
        asset: a.name, action: 'grant', justification: why.value.trim(),
        privilege: write.checked ? 'write' : 'read',
      };
      if (dur.value) body.duration = dur.value;
      if (forWho.value.trim()) body.for = forWho.value.trim();
      try {
        const r = await api('POST', '/api/v1/requests', body);
        toast('Request sent for approval', 'ok');
        location.hash = `#/requests/${r.id}`;
      } catch (err) {
        error.textContent = err.message;
        error.hidden = false;
        submit.disabled = false;
      }
    };
    why.focus();
  }

  q.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(search, 200); });
  show(intro, h('h1', {}, 'Request access'), h('p', { class: 'muted' }, 'Find the data you need. Your request goes to its owners and to ServiceNow for approval; once approved, snowgate grants it and takes it back when it expires.'));
  show(main, h('div', { class: 'split' },
    h('section', { class: 'panel' }, intro, field('Find an asset', q), count, results),
    h('section', {}, form, h('div', { class: 'panel placeholder', id: 'pick-hint' }, 'Choose an asset to continue.'))));
  const hint = main.querySelector('#pick-hint');
  new MutationObserver(() => { hint.hidden = !form.hidden; }).observe(form, { attributes: true });
  await search();
  q.focus();
}

function requestRow(r) {
  return h('li', {},
    h('a', { class: 'row', href: `#/requests/${r.id}` },
      h('span', { class: 'row-main' },
        h('span', { class: 'mono' }, r.asset),
        h('span', { class: 'muted' }, `${r.action} ${r.privilege}${r.for !== r.requester ? ` for ${r.for}` : ''} · ${duration(r.duration)} · ${ago(r.created_at)}`)),
      r.servicenow && r.servicenow.number ? h('span', { class: 'sn' }, r.servicenow.number) : null,
      badge(r.state)));
}

export async function myRequestsView(main) {
  const list = h('ul', { class: 'rows', 'aria-label': 'Requests' });
  const filter = h('select', { 'aria-label': 'State' }, ['', 'pending', 'approved', 'fulfilling', 'fulfilled', 'expired', 'revoked', 'rejected', 'cancelled', 'failed']
    .map((s) => h('option', { value: s }, s || 'All states')));
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Show more');
  let shown = 1; // pages on screen; the refresh reloads as many
  const query = (after) => `/api/v1/requests?mine=true${filter.value ? `&state=${filter.value}` : ''}${after ? `&after=${encodeURIComponent(after)}` : ''}`;
  async function load() {
    if (!list.children.length) show(list, h('li', {}, loading()));
    try {
      let items = [], next = null;
      for (let p = 0; p < shown; p++) {
        const data = await api('GET', query(next));
        items = items.concat(data.items || []);
        next = data.next;
        if (!next) break;
      }
      more.hidden = !next;
      more.onclick = async () => { shown++; await load(); };
      show(list, items.length ? items.map(requestRow)
        : h('li', {}, empty('No requests yet', 'Requests you make, or that are made for you, appear here.', h('a', { class: 'button', href: '#/request' }, 'Request access'))));
    } catch (e) { show(list, h('li', {}, failure(e, load))); }
  }
  filter.addEventListener('change', () => { shown = 1; show(list); load(); });
  show(main, h('section', { class: 'panel' },
    h('div', { class: 'panel-head' }, h('h1', {}, 'My requests'), filter), list, more));
  await load();
  const t = setInterval(load, 10000);
  return () => clearInterval(t);
}

function timeline(history) {
  return h('ol', { class: 'timeline' }, history.map((e) => h('li', { class: `ev ev-${e.event} to-${e.to}` },
    h('span', { class: 'dot', 'aria-hidden': 'true' }),
    h('div', {},
      h('p', {}, h('strong', {}, e.event === 'conflict' ? `Conflicting decision: ${e.to}` : e.to), ' by ', e.actor),
      e.note ? h('p', { class: 'note' }, e.note) : null,
      h('p', { class: 'muted small' }, when(e.at))))));
}

export async function requestDetailView(main, id) {
  async function load() {
    let r;
    try { r = await api('GET', `/api/v1/requests/${id}`); } catch (e) { show(main, failure(e, load)); return; }
    const sn = r.servicenow;
    const facts = h('dl', { class: 'facts' },
      h('dt', {}, 'Access'), h('dd', {}, `${r.action} ${r.privilege} (${(r.privileges || []).join(', ')})`),
      h('dt', {}, 'For'), h('dd', {}, r.for, r.for !== r.requester ? ` (asked by ${r.requester})` : ''),
      h('dt', {}, 'Duration'), h('dd', {}, duration(r.duration)),
      h('dt', {}, 'Justification'), h('dd', {}, r.justification),
      h('dt', {}, 'ServiceNow'), h('dd', {}, sn ? (sn.url ? h('a', { href: sn.url, target: '_blank', rel: 'noopener' }, sn.number || sn.sys_id) : (sn.number || sn.sys_id)) : h('span', { class: 'muted' }, 'not mirrored yet')),
      r.decided_by ? [h('dt', {}, 'Decided by'), h('dd', {}, r.decided_by, r.decision_comment ? ` — “${r.decision_comment}”` : '')] : null,
      r.grant ? [h('dt', {}, 'Grant'), h('dd', {}, r.grant.expires_at ? `in force until ${when(r.grant.expires_at)}` : 'in force, no end date')] : null,
      r.reason ? [h('dt', {}, 'Reason'), h('dd', {}, r.reason)] : null);
    const actions = h('div', { class: 'actions' });
    // Who may cancel (as the server decides): the requester or an admin; for a grant also the
    // person it is for, who only gives up their own access. Not a revoke's target.
    const mayCancel = r.requester === session.user.name || session.user.role === 'admin' || (r.action === 'grant' && r.for === session.user.name);
    if ((r.state === 'pending' || r.state === 'approved') && mayCancel) {
      actions.append(h('button', {
        class: 'danger', onclick: async () => {
          try { await api('POST', `/api/v1/requests/${id}/cancel`, {}); toast('Request cancelled', 'ok'); load(); } catch (e) { toast(e.message, 'error'); }
        },
      }, 'Cancel request'));
    }
    show(main, h('section', { class: 'panel' },
      h('p', {}, h('a', { href: '#/requests' }, '← My requests')),
      h('div', { class: 'panel-head' }, h('h1', { class: 'mono' }, r.asset), badge(r.state)),
      facts, actions, h('h2', {}, 'Timeline'), timeline(r.history || [])));
  }
  await load();
  const t = setInterval(load, 5000);
  return () => clearInterval(t);
}

export async function assetView(main, name) {
  async function load() {
    let grants;
    try { grants = await api('GET', '/api/v1/grants'); } catch (e) { show(main, failure(e, load)); return; }
    const mine = (grants.items || []).filter((g) => g.asset === name);
    let asset = null;
    try {
      const a = await api('GET', `/api/v1/assets?q=${encodeURIComponent(name)}`);
      asset = (a.items || []).find((x) => x.name === name) || null;
    } catch (e) { asset = null; }
    const mayRevoke = session.user.role !== 'member' || (asset && (asset.owners || []).includes(session.user.name));
    // Revoking asks why, in place: the reason goes to the approvers like any request's.
    const revokeForm = (g, cell) => {
      const why = h('input', { placeholder: 'Why revoke?', 'aria-label': `Why revoke ${g.for}'s access`, required: true, maxlength: 4000 });
      const go = h('button', { type: 'submit', class: 'small danger' }, 'Request revoke');
      const cancel = h('button', { type: 'button', class: 'small ghost', onclick: () => show(cell, revokeButton(g, cell)) }, 'Cancel');
      const form = h('form', {
        class: 'inline', onsubmit: async (e) => {
          e.preventDefault();
          go.disabled = true;
          try {
            const r = await api('POST', '/api/v1/requests', { asset: name, action: 'revoke', privilege: g.privilege || 'read', justification: why.value.trim(), for: g.for });
            toast('Revoke requested', 'ok');
            location.hash = `#/requests/${r.id}`;
          } catch (err) { toast(err.message, 'error'); go.disabled = false; }
        },
      }, why, go, cancel);
      show(cell, form);
      why.focus();
    };
    const revokeButton = (g, cell) => h('button', { class: 'small danger', onclick: () => revokeForm(g, cell) }, 'Revoke');
    const rows = mine.map((g) => {
      const cell = h('td', {});
      if (mayRevoke) cell.append(revokeButton(g, cell));
      return h('tr', {},
        h('td', {}, g.for), h('td', {}, (g.privileges || []).join(', ')),
        h('td', {}, g.expires_at ? when(g.expires_at) : 'no end date'), cell);
    });
    show(main, h('section', { class: 'panel' },
      h('p', {}, h('a', { href: '#/request' }, '← Assets')),
      h('h1', { class: 'mono' }, name),
      asset ? h('p', { class: 'muted' }, `${asset.type} on ${asset.connection}${asset.owners && asset.owners.length ? ` · owned by ${asset.owners.join(', ')}` : ''}`) : null,
      h('h2', {}, 'Who has access'),
      mine.length ? h('table', { class: 'grid' }, h('thead', {}, h('tr', {}, h('th', {}, 'Person'), h('th', {}, 'Privileges'), h('th', {}, 'Until'), h('th', {}, h('span', { class: 'sr' }, 'Actions')))), h('tbody', {}, rows))
        : empty('Nobody you can see has access', session.user.role === 'member' ? 'You see your own grants, and all grants on assets you own.' : 'No grant is in force on this asset.')));
  }
  await load();
}
