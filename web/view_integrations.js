// integrations: Admin → Integrations. The ServiceNow tile, the Connect wizard (five steps, one
// at a time), and once connected the Overview and Configurations tabs.
import { h, api, show, toast, when, loading, failure, field, badge } from './ui.js';

const BASE = '/api/v1/integrations/servicenow';
const STATUS_TEXT = {
  not_configured: 'Not connected',
  awaiting_connection: 'Setup in progress',
  connected: 'CONNECTED',
  degraded: 'CONNECTED, events not arriving',
  needs_reconnect: 'Needs reconnecting',
  error: 'Error',
};
const CHECK_TEXT = {
  instance_reachable: 'ServiceNow instance reachable',
  token_obtained: 'OAuth app and snowgate.service accepted',
  update_set_committed: 'Update set committed (oauth_userinfo answers)',
  role_assigned: 'snowgate.service holds snowgate_service_account_role',
  catalog_present: '“snowgate Data Access” catalog present',
  webhook_secret_set: 'Signing secret stored in ServiceNow, encrypted (password2)',
  webhook_roundtrip: 'Sample request raised; its signed event came back',
};

function statusPill(status) {
  return h('span', { class: `pill st-${status}` }, STATUS_TEXT[status] || status);
}

// The checks so far, in order; with live, those not reported yet show as running (the first)
// or waiting.
function checkList(checks, live) {
  let rows = checks;
  if (live) {
    const seen = new Map(checks.map((c) => [c.name, c]));
    let first = true;
    rows = CHECK_NAMES.map((name) => {
      if (seen.has(name)) return seen.get(name);
      const row = { name, pending: first ? 'running' : 'waiting' };
      first = false;
      return row;
    });
  }
  return h('ol', { class: 'checks', 'aria-label': 'Checks' }, rows.map((c) => {
    const running = !!c.pending;
    const state = c.pending || (c.ok === true ? 'pass' : c.ok === false ? 'fail' : 'skip');
    return h('li', { class: `check ${state}` },
      h('span', { class: 'mark', 'aria-hidden': 'true' }),
      h('div', {},
        h('p', {}, h('strong', {}, CHECK_TEXT[c.name] || c.name), h('span', { class: 'sr' }, ` — ${state}`)),
        c.message && !running ? h('p', { class: 'small' }, c.message) : null,
        c.fix && c.ok === false ? h('p', { class: 'fix' }, h('strong', {}, 'How to fix: '), c.fix) : null));
  }));
}

const CHECK_NAMES = Object.keys(CHECK_TEXT);

// The wizard, in a dialog. step: 1..5.
function wizard(integ, onclose) {
  const dialog = h('dialog', { class: 'wizard', 'aria-labelledby': 'wz-title' });
  const body = h('div', { class: 'wz-body' });
  const steps = ['Instance', 'OAuth app', 'Update set', 'Connect and test', 'Connected'];
  const rail = h('ol', { class: 'wz-steps' });
  let step = integ.status === 'awaiting_connection' || integ.status === 'needs_reconnect' || integ.status === 'error' ? 4 : 1;
  const data = { instance_url: integ.instance_url || '', client_id: integ.client_id || '', client_secret: '' };

  function railFor(n) {
    show(rail, steps.map((s, i) => h('li', { class: i + 1 === n ? 'now' : i + 1 < n ? 'done' : '', 'aria-current': i + 1 === n ? 'step' : null }, h('span', {}, String(i + 1)), s)));
  }
  function close() { dialog.close(); dialog.remove(); onclose(); }

  function nav(back, next) {
    return h('div', { class: 'actions' },
      back ? h('button', { type: 'button', class: 'ghost', onclick: back }, 'Back') : h('span'),
      next);
  }

  function step1() {
    const url = h('input', { type: 'url', value: data.instance_url, placeholder: 'https://yourcompany.service-now.com', required: true, autocomplete: 'off', 'aria-describedby': 'url-msg' });
    const msg = h('p', { class: 'hint', id: 'url-msg' }, 'The address you open ServiceNow at.');
    const next = h('button', { type: 'submit', class: 'primary', disabled: true }, 'Next');
    const validate = () => {
      let ok = false, text = 'The address you open ServiceNow at.';
      try {
        const u = new URL(url.value.trim());
        const local = u.hostname === '127.0.0.1' || u.hostname === 'localhost';
        if (u.protocol !== 'https:' && !(local && u.protocol === 'http:')) text = 'Use https://';
        else if (u.pathname !== '/' || u.search || u.hash) text = 'Only the instance address, without a path';
        else { ok = true; text = `✓ ${u.host}`; }
      } catch (e) { text = url.value ? 'Not a URL yet, e.g. https://yourcompany.service-now.com' : text; }
      msg.textContent = text;
      msg.className = `hint ${ok ? 'good' : url.value ? 'bad' : ''}`;
      url.setAttribute('aria-invalid', ok || !url.value ? 'false' : 'true');
      next.disabled = !ok;
      return ok;
    };
    url.addEventListener('input', validate);
    const form = h('form', {
      onsubmit: (e) => { e.preventDefault(); if (validate()) { data.instance_url = url.value.trim().replace(/\/$/, ''); go(2); } },
    }, h('h3', {}, 'Which ServiceNow instance?'), field('Instance URL', url), msg, nav(null, next));
    show(body, form);
    validate();
    url.focus();
  }

  function step2() {
    const redirect = h('input', { readonly: true, value: integ.redirect_url, 'aria-label': 'Redirect URL' });
    const copy = h('button', {
      type: 'button', class: 'ghost', onclick: async () => {
        try { await navigator.clipboard.writeText(integ.redirect_url); toast('Redirect URL copied', 'ok'); } catch (e) { redirect.select(); toast('Press Ctrl+C to copy', 'warn'); }
      },
    }, 'Copy');
    const id = h('input', { value: data.client_id, required: true, autocomplete: 'off' });
    const secret = h('input', { type: 'password', required: true, autocomplete: 'off' });
    const error = h('div', { class: 'alert error', role: 'alert', hidden: true });
    const next = h('button', { type: 'submit', class: 'primary' }, 'Save and continue');
    const form = h('form', {
      onsubmit: async (e) => {
        e.preventDefault();
        error.hidden = true; next.disabled = true;
        try {
          integ = await api('PUT', BASE, { instance_url: data.instance_url, client_id: id.value.trim(), client_secret: secret.value });
          data.client_id = id.value.trim();
          go(3);
        } catch (err) { error.textContent = err.message; error.hidden = false; next.disabled = false; }
      },
    },
    h('h3', {}, 'Register snowgate as an OAuth app in ServiceNow'),
    h('p', {}, 'In ServiceNow open ', h('em', {}, 'System OAuth → Application Registry → New → Create an OAuth API endpoint for external clients'), ', name it “snowgate”, and paste this redirect URL:'),
    h('div', { class: 'copyrow' }, redirect, copy),
    h('p', {}, 'Save it, then copy its client ID and client secret here.'),
    field('Client ID', id), field('Client secret', secret, 'Stored encrypted; never shown again.'),
    error, nav(() => go(1), next));
    show(body, form);
    id.focus();
  }

  function step3() {
    const dl = h('a', { class: 'button primary', href: `${BASE}/update-set`, download: 'snowgate-update-set.xml' }, 'Download update set');
    show(body, h('div', {},
      h('h3', {}, 'Install snowgate in ServiceNow'),
      h('p', {}, 'The update set adds the “snowgate Data Access” catalog, the business rule that signs events to snowgate, the role snowgate_service_account_role with exactly the access snowgate needs, and the Scripted REST API /api/snc/oauth_userinfo.'),
      h('p', {}, dl),
      h('ol', { class: 'howto' },
        h('li', {}, 'In ServiceNow open ', h('em', {}, 'System Update Sets → Retrieved Update Sets'), ' and choose ', h('em', {}, 'Import Update Set from XML'), '; upload the file.'),
        h('li', {}, 'Open the imported set and press ', h('em', {}, 'Preview Update Set'), '.'),
        h('li', {}, 'Press ', h('em', {}, 'Commit Update Set'), '.'),
        h('li', {}, 'In ', h('em', {}, 'User Administration → Users'), ' create the user ', h('code', {}, 'snowgate.service'), '.'),
        h('li', {}, 'Give it the role ', h('code', {}, 'snowgate_service_account_role'), '.'),
        h('li', {}, 'Set its password, and keep it for the next step.')),
      nav(() => go(2), h('button', { type: 'button', class: 'primary', onclick: () => go(4) }, 'I have done this'))));
  }

  function step4() {
    const pw = h('input', { type: 'password', required: true, autocomplete: 'off' });
    const results = h('div', { 'aria-live': 'polite' });
    const run = h('button', { type: 'submit', class: 'primary' }, 'Connect and test');
    const form = h('form', {
      onsubmit: async (e) => {
        e.preventDefault();
        run.disabled = true; run.textContent = 'Testing…';
        show(results, checkList([], true));
        // Each check shows as it completes: snowgate publishes its progress while it runs.
        let done = false;
        const poll = async () => {
          while (!done) {
            await new Promise((r) => setTimeout(r, 400));
            try {
              const p = (await api('GET', BASE)).connect_progress;
              if (!done && p && p.running) show(results, checkList(p.checks || [], true));
            } catch (e) { /* the final answer will tell */ }
          }
        };
        poll();
        let r;
        try {
          r = await api('POST', `${BASE}/connect`, { password: pw.value });
        } catch (err) {
          done = true;
          // A failed check is an answer too (422, with the checks); anything else is an error.
          if (!err.data || !err.data.checks) { show(results, failure(err)); run.disabled = false; run.textContent = 'Connect and test'; return; }
          r = err.data;
        }
        done = true;
        const failed = (r.checks || []).find((c) => c.ok === false);
        show(results, checkList(r.checks || [], false),
          r.status !== 'connected' ? h('div', { class: 'alert error', role: 'alert' }, failed ? `Not connected: ${CHECK_TEXT[failed.name] || failed.name} failed. Fix it as shown, then test again.` : 'Not connected.') : null);
        run.disabled = false; run.textContent = 'Connect and test';
        if (r.status === 'connected') setTimeout(() => go(5), 600);
      },
    },
    h('h3', {}, 'Connect and test'),
    h('p', {}, 'snowgate signs in as snowgate.service, checks every part of the setup, raises a sample request and waits for ServiceNow’s signed event to come back.'),
    field('Password of snowgate.service', pw, 'Used once to obtain tokens; not stored.'),
    h('div', { class: 'actions' }, h('button', { type: 'button', class: 'ghost', onclick: () => go(3) }, 'Back'), run),
    results);
    show(body, form);
    pw.focus();
  }

  function step5() {
    show(body, h('div', { class: 'done' },
      h('div', { class: 'big-ok', 'aria-hidden': 'true' }, '✓'),
      h('h3', {}, 'CONNECTED'),
      h('p', {}, 'Requests made in snowgate now appear in ServiceNow, and decisions made there come back.'),
      h('div', { class: 'actions' }, h('span'), h('button', { type: 'button', class: 'primary', onclick: close }, 'Done'))));
  }

  function go(n) {
    step = n;
    railFor(n);
    [null, step1, step2, step3, step4, step5][n]();
  }

  dialog.append(
    h('div', { class: 'wz-head' }, h('h2', { id: 'wz-title' }, 'Connect ServiceNow'), h('button', { class: 'ghost icon', 'aria-label': 'Close', onclick: close }, '×')),
    rail, body);
  dialog.addEventListener('cancel', (e) => { e.preventDefault(); close(); });
  document.body.append(dialog);
  dialog.showModal();
  go(step);
}

async function overviewTab(pane) {
  // The overview asks ServiceNow and may answer late: if the admin has moved to another tab
  // meanwhile, the answer must not replace it.
  const ticket = (pane.dataset.ticket = String(Number(pane.dataset.ticket || 0) + 1));
  const current = () => pane.dataset.ticket === ticket;
  show(pane, loading());
  try {
    const o = await api('GET', `${BASE}/overview`);
    if (!current()) return;
    const states = Object.entries(o.by_state || {});
    show(pane,
      h('div', { class: 'stats' },
        h('div', { class: 'stat' }, h('span', { class: 'stat-n' }, String(o.linked_requests)), h('span', {}, 'linked ServiceNow requests')),
        states.map(([s, n]) => h('div', { class: 'stat' }, h('span', { class: 'stat-n' }, String(n)), h('span', {}, s)))),
      (o.latest || []).length ? h('table', { class: 'grid' },
        h('thead', {}, h('tr', {}, h('th', {}, 'Number'), h('th', {}, 'State'), h('th', {}, 'Approval'))),
        h('tbody', {}, o.latest.map((r) => h('tr', {},
          h('td', {}, h('a', { href: r.url, target: '_blank', rel: 'noopener' }, r.number)),
          h('td', {}, r.request_state), h('td', {}, r.approval)))))
        : h('p', { class: 'muted' }, 'No requests in ServiceNow yet.'));
  } catch (e) { if (current()) show(pane, failure(e, () => overviewTab(pane))); }
}

function configTab(pane, integ, reload) {
  const last = integ.last_test;
  const every = integ.test_interval ? `every ${integ.test_interval >= 3600 ? `${Math.round(integ.test_interval / 3600)} h` : `${integ.test_interval} s`}` : 'off';
  const runBtn = h('button', {
    class: 'primary', onclick: async () => {
      runBtn.disabled = true; runBtn.textContent = 'Testing…';
      try { const r = await api('POST', `${BASE}/test`); toast(r.status === 'connected' ? 'Test passed' : 'Test failed', r.status === 'connected' ? 'ok' : 'error'); } catch (e) { toast(e.message, 'error'); }
      reload();
    },
  }, 'Run test');
  const disconnect = h('button', {
    class: 'danger', onclick: async () => {
      if (!confirm('Disconnect ServiceNow? snowgate stops mirroring requests and forgets its tokens.')) return;
      try { await api('DELETE', BASE); toast('Disconnected', 'ok'); } catch (e) { toast(e.message, 'error'); }
      reload();
    },
  }, 'Disconnect');
  const ws = integ.webhook_secret || {};
  const rotateBtn = h('button', {
    onclick: async () => {
      if (!confirm('Rotate the webhook signing secret? snowgate stores a new one in ServiceNow; events signed with the old one are still accepted for the grace period.')) return;
      rotateBtn.disabled = true; rotateBtn.textContent = 'Rotating…';
      try { await api('POST', `${BASE}/rotate-webhook-secret`, {}); toast('Signing secret rotated', 'ok'); } catch (e) { toast(e.message, 'error'); }
      reload();
    },
  }, 'Rotate signing secret');
  show(pane,
    h('dl', { class: 'facts' },
      h('dt', {}, 'Instance'), h('dd', {}, integ.instance_url || ''),
      h('dt', {}, 'Service account'), h('dd', {}, integ.service_user || ''),
      h('dt', {}, 'Webhook URL'), h('dd', { class: 'mono' }, integ.webhook_url),
      h('dt', {}, 'Scheduled test'), h('dd', {}, every, ' (', h('code', {}, 'servicenow.test_interval'), ')'),
      h('dt', {}, 'Last test'), h('dd', {}, last ? `${last.ok ? 'passed' : 'failed'} ${when(last.at)}` : 'never'),
      h('dt', {}, 'Signing secret'), h('dd', {}, ws.rotated_at ? `rotated ${when(ws.rotated_at)}` : 'never rotated',
        ws.previous_accepted_until ? ` (the previous one is accepted until ${when(ws.previous_accepted_until)})` : '')),
    last && last.checks ? checkList(last.checks, false) : null,
    h('div', { class: 'actions' }, disconnect, rotateBtn, runBtn));
}

export async function integrationsView(main) {
  async function load() {
    let integ;
    try { integ = await api('GET', BASE); } catch (e) { show(main, failure(e, load)); return; }
    const connected = ['connected', 'degraded', 'error', 'needs_reconnect'].includes(integ.status);
    const connectBtn = h('button', { class: 'primary', onclick: () => wizard(integ, load) }, integ.status === 'not_configured' ? 'Connect' : integ.status === 'connected' || integ.status === 'degraded' ? 'Reconnect' : 'Continue setup');
    const seconds = (n) => (n >= 3600 ? `${Math.round(n / 3600)} h` : n >= 60 ? `${Math.round(n / 60)} min` : `${n} s`);
    // What the status means for requests, beside the reason the last test gave.
    const impact = {
      degraded: integ.reconcile_interval
        ? `ServiceNow’s events do not reach snowgate. Requests are still mirrored; decisions made in ServiceNow arrive through the reconciler, every ${seconds(integ.reconcile_interval)}, instead of at once. Fix the webhook path, then Run test.`
        : 'ServiceNow’s events do not reach snowgate, and the reconciler is off (servicenow.reconcile_interval = 0): decisions made in ServiceNow will not arrive until the webhook path is fixed. Fix it, then Run test.',
      error: 'The last test failed. snowgate keeps calling ServiceNow; each job retries on its own error, and one that keeps failing ends up dead under Jobs, to replay once the cause is fixed.',
      needs_reconnect: 'ServiceNow refused snowgate’s tokens: nothing is mirrored until you connect again.',
    }[integ.status];
    const tile = h('article', { class: 'tile expanded', 'aria-labelledby': 'sn-title' },
      h('div', { class: 'tile-head' },
        h('div', { class: 'tile-logo', 'aria-hidden': 'true' }, 'now'),
        h('div', {}, h('h2', { id: 'sn-title' }, 'ServiceNow'), h('p', { class: 'muted' }, 'Mirror requests to ServiceNow and take decisions from it.')),
        statusPill(integ.status), connectBtn),
      integ.status_reason || impact ? h('div', { class: 'alert warn', role: 'status' },
        impact ? h('p', {}, h('strong', {}, impact)) : null,
        integ.status_reason ? h('p', {}, integ.status_reason) : null) : null);
    if (connected) {
      const pane = h('div', { class: 'tabpane', role: 'tabpanel' });
      const tabs = ['Overview', 'Configurations'];
      const bar = h('div', { class: 'tabs', role: 'tablist' });
      const select = (i) => {
        bar.querySelectorAll('button').forEach((b, k) => { b.setAttribute('aria-selected', k === i ? 'true' : 'false'); b.tabIndex = k === i ? 0 : -1; });
        if (i === 0) overviewTab(pane);
        else { pane.dataset.ticket = String(Number(pane.dataset.ticket || 0) + 1); configTab(pane, integ, load); }
      };
      tabs.forEach((t, i) => bar.append(h('button', {
        role: 'tab', onclick: () => select(i),
        onkeydown: (e) => { if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') { const n = (i + (e.key === 'ArrowRight' ? 1 : tabs.length - 1)) % tabs.length; select(n); bar.children[n].focus(); } },
      }, t)));
      tile.append(bar, pane);
      select(0);
    }
    show(main, h('section', {}, h('h1', {}, 'Integrations'), h('div', { class: 'tiles' }, tile)));
  }
  await load();
}
