// Browser tests of the web UI, in Debian's Chromium driven by playwright-core. Started by
// tests/e2e/test_browser.c, which brings up snowsim, snowgate, PostgreSQL and the users, and
// passes their addresses in the environment. Each scenario throws on failure; the exit status
// tells the C test. Screenshots of every main screen go to $SHOTS.
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';

const env = (k) => { const v = process.env[k]; if (!v) throw new Error(`${k} is not set`); return v; };
const GATE = env('GATE_URL'), SIM = env('SIM_URL'), SIM_AUTH = env('SIM_AUTH');
const SHOTS = process.env.SHOTS || '.';
const PASSWORD = { alice: env('ALICE_PW'), bob: env('BOB_PW'), sam: env('SAM_PW') };
const SVC_PASSWORD = 'Svc-Pa55word!';
const PG_HOST = env('PG_HOST'), PG_PORT = env('PG_PORT');

async function sim(method, path, body, headers) {
  const res = await fetch(SIM + path, {
    method,
    headers: { Authorization: SIM_AUTH, Accept: 'application/json', ...(body && !(body instanceof FormData) ? { 'Content-Type': 'application/json' } : {}), ...headers },
    body: body instanceof FormData ? body : body ? JSON.stringify(body) : undefined,
    redirect: 'manual',
  });
  return res;
}

async function simJson(method, path, body) {
  const res = await sim(method, path, body);
  const text = await res.text();
  if (!res.ok) throw new Error(`snowsim ${method} ${path}: ${res.status} ${text}`);
  return JSON.parse(text).result;
}

// The ServiceNow side of step 3: import, preview and commit the update set; create the
// service user with the role. As a ServiceNow admin would, through the same APIs.
async function serviceNowSide(xml) {
  const form = new FormData();
  form.append('sysparm_target', 'sys_remote_update_set');
  form.append('attachFile', new Blob([xml], { type: 'text/xml' }), 'snowgate-update-set.xml');
  const up = await sim('POST', '/sys_upload.do', form);
  assert.equal(up.status, 302, 'update set upload');
  const id = /sys_id=([0-9a-f]{32})/.exec(up.headers.get('location'))[1];
  for (const what of ['preview', 'commit']) {
    const r = await simJson('POST', `/api/sn_cicd/update_set/${what}/${id}`);
    const p = await simJson('GET', `/api/sn_cicd/progress/${r.links.progress.id}`);
    assert.equal(p.status_label, 'Successful', `update set ${what}`);
  }
  const role = (await simJson('GET', '/api/now/table/sys_user_role?name=snowgate_service_account_role'))[0];
  const user = await simJson('POST', '/api/now/table/sys_user', { user_name: 'snowgate.service', user_password: SVC_PASSWORD });
  await simJson('POST', '/api/now/table/sys_user_has_role', { user: user.sys_id, role: role.sys_id });
}

// Runs SQL as PostgreSQL's superuser in the governed database (analytics) in a psql session
// that stays open: a lock taken in a transaction is held until release() commits and quits.
async function holdInAnalytics(sql) {
  const psql = spawn(process.env.PSQL || 'psql', ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', PG_HOST, '-p', PG_PORT, '-U', 'postgres', '-d', 'analytics'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '', err = '';
  const exited = new Promise((resolve) => psql.on('close', (code) => resolve(code)));
  psql.stdout.on('data', (d) => { out += d; });
  psql.stderr.on('data', (d) => { err += d; });
  psql.stdin.write(`BEGIN; ${sql}; SELECT 'held';\n`);
  for (;;) {
    if (out.includes('held')) break;
    const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r(null), 100))]);
    if (code !== null) throw new Error(`psql ended (${code}) before holding: ${err}`);
  }
  return {
    async release() {
      psql.stdin.end('COMMIT;\n');
      const code = await exited;
      if (code !== 0) throw new Error(`psql ended with ${code}: ${err}`);
    },
  };
}

async function signIn(page, who) {
  await page.goto(GATE + '/');
  await page.getByLabel('User name').fill(who);
  await page.getByLabel('Password').fill(PASSWORD[who]);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Main' }).waitFor();
}

async function shot(page, name) {
  await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
}

const scenarios = [];
const scenario = (name, fn) => scenarios.push({ name, fn });

scenario('a wrong password is refused with a clear message', async (browser) => {
  const page = await browser.newPage();
  await page.goto(GATE + '/');
  await shot(page, 'sign-in');
  await page.getByLabel('User name').fill('alice');
  await page.getByLabel('Password').fill('not-her-password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').filter({ hasText: 'wrong user name or password' }).waitFor();
  await page.close();
});

scenario('the admin wizard connects ServiceNow; a wrong password shows the failed check and its fix', async (browser) => {
  const page = await browser.newPage({ acceptDownloads: true });
  await signIn(page, 'alice');
  await page.goto(GATE + '/#/admin/integrations');
  await page.getByText('Not connected').waitFor();
  await shot(page, 'integrations');
  await page.getByRole('button', { name: 'Connect', exact: true }).click();
  const dialog = page.getByRole('dialog');
  // 1: the instance URL, validated as one types.
  const url = dialog.getByLabel('Instance URL');
  await url.fill('ftp://x');
  await dialog.getByText('Not a URL yet', { exact: false }).or(dialog.getByText('Use https://')).waitFor();
  assert.equal(await dialog.getByRole('button', { name: 'Next' }).isDisabled(), true);
  await url.fill(SIM);
  await shot(page, 'wizard-1-instance');
  await dialog.getByRole('button', { name: 'Next' }).click();
  // 2: the redirect URL to copy, then the OAuth app's client ID and secret.
  const redirect = await dialog.getByLabel('Redirect URL').inputValue();
  assert.equal(redirect, `${GATE}/oauth-callback`);
  const app = await simJson('POST', '/api/now/table/oauth_entity', { name: 'snowgate', client_secret: 'client-Secret-1', redirect_url: redirect });
  await dialog.getByLabel('Client ID').fill(app.client_id);
  await dialog.getByLabel('Client secret').fill('client-Secret-1');
  await shot(page, 'wizard-2-oauth');
  await dialog.getByRole('button', { name: 'Save and continue' }).click();
  // 3: download the update set; the ServiceNow admin imports and commits it.
  await dialog.getByText('Install snowgate in ServiceNow').waitFor();
  await shot(page, 'wizard-3-update-set');
  const [download] = await Promise.all([page.waitForEvent('download'), dialog.getByRole('link', { name: 'Download update set' }).click()]);
  const xml = await (await import('node:fs/promises')).readFile(await download.path(), 'utf8');
  assert.match(xml, /<unload/);
  await serviceNowSide(xml);
  await dialog.getByRole('button', { name: 'I have done this' }).click();
  // 4: a wrong password first: the failed check, with its fix.
  await dialog.getByLabel('Password of snowgate.service').fill('wrong-password');
  await dialog.getByRole('button', { name: 'Connect and test' }).click();
  await dialog.locator('.check.fail').first().waitFor({ timeout: 60000 });
  await dialog.locator('.fix').first().waitFor();
  await shot(page, 'wizard-4-failed-check');
  // Then the right one: every check passes, and the wizard ends on CONNECTED. ServiceNow's
  // event is held back a little, so the checks can be seen arriving one by one.
  await simJson('PUT', '/api/x_snowsim/faults', { rules: [{ path: '/webhooks/', kind: 'delay', delay_ms: 2500, outbound: true, count: 1 }] });
  await dialog.getByLabel('Password of snowgate.service').fill(SVC_PASSWORD);
  await dialog.getByRole('button', { name: 'Connect and test' }).click();
  await page.waitForFunction(() => document.querySelector('dialog .check.pass') && document.querySelector('dialog .check.running'), null, { timeout: 30000 });
  await shot(page, 'wizard-4-live-checks');
  await dialog.getByRole('heading', { name: 'CONNECTED' }).waitFor({ timeout: 90000 });
  await shot(page, 'wizard-5-connected');
  await dialog.getByRole('button', { name: 'Done' }).click();
  await page.locator('.pill.st-connected').waitFor();
  await page.getByRole('tab', { name: 'Overview' }).waitFor();
  await shot(page, 'integrations-overview');
  await page.getByRole('tab', { name: 'Configurations' }).click();
  await page.getByRole('button', { name: 'Run test' }).waitFor();
  await shot(page, 'integrations-configurations');
  // The webhook path dies (ServiceNow's events are dropped): the next Run test (scheduled every
  // second here) finds it, and the tile shows the degraded state and what it means; the tabs
  // stay, since snowgate still calls ServiceNow.
  await simJson('PUT', '/api/x_snowsim/faults', { rules: [{ path: '/webhooks/', kind: 'drop', outbound: true }] });
  for (let i = 0; ; i++) {
    await page.reload();
    await page.locator('.pill').first().waitFor();
    if (await page.locator('.pill.st-degraded').count()) break;
    if (i >= 60) throw new Error('the status did not turn degraded with the webhook path dead');
    await page.waitForTimeout(1000);
  }
  await page.getByText('events do not reach snowgate', { exact: false }).waitFor();
  await page.getByRole('tab', { name: 'Overview' }).waitFor();
  await shot(page, 'integrations-degraded');
  // The path works again: the scheduled test (every second here) heals the status.
  await simJson('PUT', '/api/x_snowsim/faults', { rules: [] });
  for (let i = 0; ; i++) {
    await page.reload();
    await page.locator('.pill').first().waitFor();
    if (await page.locator('.pill.st-connected').count()) break;
    if (i >= 60) throw new Error('the status did not heal after the webhook path came back');
    await page.waitForTimeout(1000);
  }
  await page.close();
});

scenario('a member requests access, a steward approves in the inbox, the request is fulfilled with its ServiceNow number', async (browser) => {
  const bob = await browser.newPage();
  await signIn(bob, 'bob');
  await bob.getByRole('searchbox', { name: 'Find an asset' }).fill('orders');
  await bob.getByRole('button', { name: /analytics\.sales\.orders/ }).click();
  await bob.getByLabel('Justification').fill('Quarterly revenue report');
  await shot(bob, 'request-access');
  await bob.getByRole('button', { name: 'Request access' }).click();
  await bob.waitForURL(/#\/requests\/[0-9a-f]{32}$/);
  await bob.getByText('pending', { exact: true }).first().waitFor();

  const sam = await browser.newPage();
  await signIn(sam, 'sam');
  await sam.goto(GATE + '/#/inbox');
  const card = sam.locator('.card').filter({ hasText: 'analytics.sales.orders' });
  await card.waitFor();
  await card.locator('.sn').waitFor({ timeout: 60000 }); // mirrored: its ServiceNow number shows
  await shot(sam, 'inbox');
  await card.getByRole('textbox').fill('OK for the quarter');
  await card.getByRole('button', { name: 'Approve' }).click();
  await sam.getByText('Nothing to decide').waitFor();

  // bob's page refreshes by itself: fulfilled, with the ServiceNow number and the grant.
  await bob.locator('.badge.s-fulfilled').waitFor({ timeout: 60000 });
  const sn = await bob.locator('dd a').filter({ hasText: /^REQ/ }).first().textContent();
  assert.match(sn, /^REQ\d+/);
  await bob.locator('dd').filter({ hasText: 'OK for the quarter' }).waitFor();
  await shot(bob, 'request-timeline');
  await bob.goto(GATE + '/#/requests');
  await bob.locator('.row').filter({ hasText: 'analytics.sales.orders' }).locator('.badge.s-fulfilled').waitFor();
  await shot(bob, 'my-requests');
  await bob.goto(GATE + '/#/assets/analytics.sales.orders');
  await bob.getByRole('cell', { name: 'bob' }).waitFor();
  await shot(bob, 'asset');
  await bob.goto(GATE + '/#/profile');
  await bob.getByRole('button', { name: 'Link your ServiceNow account' }).waitFor();
  await shot(bob, 'profile');
  // A steward sees who has access and raises a revoke from the asset's page.
  await sam.goto(GATE + '/#/assets/analytics.sales.orders');
  await sam.getByRole('cell', { name: 'bob' }).waitFor();
  await sam.getByRole('button', { name: 'Revoke' }).click();
  await sam.getByLabel("Why revoke bob's access").fill('Quarter closed');
  await shot(sam, 'asset-revoke');
  await sam.getByRole('button', { name: 'Request revoke' }).click();
  await sam.waitForURL(/#\/requests\/[0-9a-f]{32}$/);
  await sam.getByText('revoke read', { exact: false }).waitFor();
  await bob.close();
  await sam.close();
});

scenario('a member links their ServiceNow account through OAuth, and the profile shows it', async (browser) => {
  await simJson('POST', '/api/now/table/sys_user', { user_name: 'bob.sn', user_password: 'Bob-Sn-Pass1' });
  const page = await browser.newPage();
  await signIn(page, 'bob');
  await page.goto(GATE + '/#/profile');
  await page.getByRole('button', { name: 'Link your ServiceNow account' }).click();
  // ServiceNow's own sign-in and consent pages.
  await page.waitForURL((u) => u.toString().startsWith(SIM));
  await page.locator('#user_name').fill('bob.sn');
  await page.locator('#user_password').fill('Bob-Sn-Pass1');
  await page.locator('#sysverb_login').click();
  await page.locator('#allow').click();
  await page.getByRole('heading', { name: 'ServiceNow account linked' }).waitFor();
  await page.getByRole('link', { name: 'Back to your profile' }).click();
  await page.getByText('Linked to').waitFor();
  assert.match(await page.locator('.panel').filter({ hasText: 'Linked to' }).textContent(), /bob\.sn/);
  await shot(page, 'profile-linked');
  await page.close();
});

scenario('a ServiceNow approver decides on snowsim\'s My approvals page, and snowgate fulfils the request', async (browser) => {
  const approverRole = (await simJson('GET', '/api/now/table/sys_user_role?name=approver_user'))[0];
  // carla is a steward in snowgate too (tests/e2e/test_browser.c), known there by her email.
  const carla = await simJson('POST', '/api/now/table/sys_user', { user_name: 'carla', first_name: 'Carla', last_name: 'Approver', email: 'carla@example.com', user_password: 'Carla-Pass1' });
  await simJson('POST', '/api/now/table/sys_user_has_role', { user: carla.sys_id, role: approverRole.sys_id });

  const bob = await browser.newPage();
  await signIn(bob, 'bob');
  await bob.getByRole('searchbox', { name: 'Find an asset' }).fill('refunds');
  await bob.getByRole('button', { name: /analytics\.sales\.refunds/ }).click();
  await bob.getByLabel('Justification').fill('Refund audit');
  await bob.getByRole('button', { name: 'Request access' }).click();
  await bob.waitForURL(/#\/requests\/[0-9a-f]{32}$/);
  const number = (await bob.locator('dd a').filter({ hasText: /^REQ/ }).first().textContent({ timeout: 60000 })).trim();
  // The instance's approval flow asks carla (here: an approval record, as a flow would add).
  const req = (await simJson('GET', `/api/now/table/sc_request?number=${number}&sysparm_fields=sys_id`))[0];
  await simJson('POST', '/api/now/table/sysapproval_approver', { approver: carla.sys_id, sysapproval: req.sys_id, source_table: 'sc_request', state: 'requested' });

  const sn = await browser.newPage();
  await sn.goto(SIM + '/navpage.do');
  await sn.locator('#user_name').fill('carla');
  await sn.locator('#user_password').fill('Carla-Pass1');
  await sn.locator('#sysverb_login').click();
  await sn.getByRole('heading', { name: 'My approvals' }).waitFor();
  const card = sn.locator('section.approval').filter({ hasText: number });
  await card.waitFor();
  assert.match(await card.textContent(), /Justification: Refund audit/);
  await shot(sn, 'snowsim-my-approvals');
  // Rejecting needs a comment, as on an instance.
  await card.getByRole('button', { name: 'Reject' }).click();
  await sn.getByRole('alert').filter({ hasText: 'Comments are required' }).waitFor();
  await sn.goto(SIM + '/navpage.do');
  await card.getByLabel(/Comments/).fill('Fine for the audit');
  await card.getByRole('button', { name: 'Approve' }).click();
  await sn.getByRole('status').filter({ hasText: `${number} approved.` }).waitFor();
  await sn.getByText('Nothing awaits your approval.').waitFor();

  // snowgate hears of it, re-reads the request, and grants.
  await bob.locator('.badge.s-fulfilled').waitFor({ timeout: 60000 });
  await bob.locator('dd').filter({ hasText: 'Fine for the audit' }).waitFor();

  // What snowgate wrote, seen in read-only views as the instance's admin.
  const [user, pass] = Buffer.from(SIM_AUTH.replace(/^Basic /, ''), 'base64').toString().split(':');
  const admin = await browser.newContext();
  const ap = await admin.newPage();
  await ap.goto(SIM + '/sc_request_list.do?sysparm_query=' + encodeURIComponent('correlation_idSTARTSWITHsnowgate:^ORDERBYDESCsys_created_on'));
  await ap.locator('#user_name').fill(user);
  await ap.locator('#user_password').fill(pass);
  await ap.locator('#sysverb_login').click();
  await ap.getByRole('link', { name: number }).click();
  await ap.getByRole('heading', { name: 'Approvers' }).waitFor();
  await ap.locator('#record td[data-field="approval"]').filter({ hasText: 'approved' }).waitFor();
  await ap.locator('#activity .entry').first().waitFor({ timeout: 60000 });
  await shot(ap, 'snowsim-record');
  await admin.close();
  await sn.close();
  await bob.close();
});

scenario('a member cannot open the admin pages', async (browser) => {
  const page = await browser.newPage();
  await signIn(page, 'bob');
  assert.equal(await page.getByRole('link', { name: 'Integrations' }).count(), 0);
  assert.equal(await page.getByRole('link', { name: 'Connections' }).count(), 0);
  await page.goto(GATE + '/#/admin/integrations');
  await page.getByRole('heading', { name: 'Admins only' }).waitFor();
  // The API refuses too, whatever the page shows.
  const status = await page.evaluate(async () => (await fetch('/api/v1/integrations/servicenow')).status);
  assert.equal(status, 403);
  await page.close();
});

// The connection and the tables tests/e2e/test_browser.c sets up: a postgres connection on
// database analytics, and a manual one whose name, like two of the tables' names and comments,
// would be markup if a page ever treated them as HTML.
const HTML_CONNECTION = '<img src=x onerror="window.__xss = 3">';
const BOLD = 'analytics.sales.<b>x</b>', QUOTED = 'analytics.sales.it\'s "quoted" & <i>';
const COMMENT = { [BOLD]: '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2"> & more', [QUOTED]: 'Said "hi" & left <!-- a comment -->' };

// Fails on what a name or comment could have turned into: a script that ran, or elements of
// their markup in the page (a dialog it opened is caught by the scenario's handler).
async function assertNoMarkup(page, where) {
  assert.equal(await page.evaluate(() => window.__xss), undefined, `${where}: a name or comment ran as script`);
  assert.equal(await page.locator('#app b, #app i, #app script, #app img[src="x"]').count(), 0, `${where}: a name or comment became markup`);
}

scenario('an admin discovers a PostgreSQL connection on the Connections page and follows it to done; the tables become assets with their comments, as text', async (browser) => {
  const page = await browser.newPage();
  page.setDefaultTimeout(60000); // a slow shared machine: conditions, never durations
  const dialogs = [];
  page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  await signIn(page, 'alice');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Connections' }).click();
  await page.getByRole('heading', { name: 'Connections', level: 1 }).waitFor();
  const row = page.getByRole('row').filter({ hasText: 'warehouse' });
  await row.getByText('never discovered').waitFor();
  await row.getByRole('cell', { name: 'postgres', exact: true }).waitFor();
  // The manual connection: its name as text, and nothing to discover.
  const manual = page.getByRole('row').filter({ hasText: HTML_CONNECTION });
  await manual.getByText('registered by hand').waitFor();
  assert.equal(await manual.getByRole('button').count(), 0);
  await assertNoMarkup(page, 'Connections');
  await shot(page, 'connections');

  // Discover, with the catalog held (a lock the run's catalog query waits for), so the page is
  // sure to see the run while it is queued or running.
  const hold = await holdInAnalytics('LOCK TABLE pg_catalog.pg_description IN ACCESS EXCLUSIVE MODE');
  try {
    // From the keyboard: the button keeps focus while the page is drawn again each second.
    await row.getByRole('button', { name: 'Discover' }).focus();
    await page.keyboard.press('Enter');
    await page.locator('#toast').filter({ hasText: 'Discovery of warehouse started' }).waitFor({ state: 'attached' });
    await row.getByRole('progressbar', { name: 'warehouse discovery' }).waitFor({ timeout: 60000 });
    await row.getByText(/discovery queued|discovering: \d+%/).waitFor();
    assert.equal(await row.getByRole('button', { name: 'Discover' }).isDisabled(), true, 'Discover is disabled while a run is on');
    // Pressed again while it is on, nothing is asked of the API (the toast would say 409).
    await page.keyboard.press('Enter');
    // One run at a time: the API refuses a second while this one is on.
    const again = await page.evaluate(async () => {
      const s = await (await fetch('/api/v1/session')).json();
      const r = await fetch('/api/v1/connections/warehouse/discover', { method: 'POST', headers: { 'X-CSRF-Token': s.csrf } });
      return r.status;
    });
    assert.equal(again, 409);
    await shot(page, 'connections-discovering');
    // Held past the run's lock_timeout, the attempt fails and is retried: the row says so, with
    // the error, rather than sitting at 0%.
    await row.getByText(/an attempt failed and is retried: .*lock timeout/).waitFor({ timeout: 120000 });
    await row.getByRole('progressbar', { name: 'warehouse discovery' }).waitFor();
    await shot(page, 'connections-retrying');
  } finally {
    await hold.release();
  }
  // The page follows the run by itself (no reload) to its result.
  const result = row.getByText(/discovered .*: \d+ found, \d+ added, \d+ updated, \d+ gone/);
  try {
    await result.waitFor({ timeout: 120000 });
  } catch (e) {
    await shot(page, 'connections-not-done');
    const now = await page.evaluate(async () => (await fetch('/api/v1/connections/warehouse')).text());
    throw new Error(`the page did not show the run's result; the row shows "${await row.textContent()}", the API ${now}\n${e.message}`);
  }
  assert.equal(await row.getByRole('progressbar').count(), 0);
  assert.equal(await row.getByRole('button', { name: 'Discover' }).isDisabled(), false);
  // Focus stayed on the button through every redraw of the run (polled each second).
  assert.equal(await row.getByRole('button', { name: 'Discover' }).evaluate((el) => el === document.activeElement), true,
    'keyboard focus was lost while the page followed the run');
  assert.equal(await page.locator('#toast.error').count(), 0, 'a second press while the run was on reached the API');
  const conn = await page.evaluate(async () => (await fetch('/api/v1/connections/warehouse')).json());
  assert.equal(conn.discovery.state, 'done');
  assert.equal(conn.discovery.percent, 100);
  const n = conn.discovery.counts;
  assert.match((await result.textContent()).trim(), new RegExp(`: ${n.found} found, ${n.added} added, ${n.updated} updated, ${n.gone} gone$`));
  // 4 tables and the schema sales at least (public too, where the database has it); orders and
  // refunds were registered by hand and are unchanged (orders' comment is its description).
  assert.ok(n.found >= 5, `found ${n.found}`);
  assert.equal(n.added, n.found - 2);
  assert.equal(n.updated, 0);
  assert.equal(n.gone, 0);
  await assertNoMarkup(page, 'Connections after the run');
  await shot(page, 'connections-discovered');

  // The API lists the discovered assets, each with its COMMENT ON as description.
  const assets = await page.evaluate(async () => (await (await fetch('/api/v1/assets?q=analytics.sales')).json()).items);
  const byName = Object.fromEntries(assets.map((a) => [a.name, a]));
  assert.equal(byName[BOLD].description, COMMENT[BOLD]);
  assert.equal(byName[BOLD].type, 'table');
  assert.equal(byName[BOLD].connection, 'warehouse');
  assert.equal(byName[QUOTED].description, COMMENT[QUOTED]);
  assert.equal(byName['analytics.sales'].type, 'schema');
  assert.equal(byName['analytics.sales'].description, 'Orders & refunds');
  assert.equal(byName['analytics.sales.orders'].description, 'Every order since 2019, one row per order');

  // The catalog (Request access) shows them, names and comments as text.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Request access' }).click();
  // '<' is in the two names only, so their cards are the search's answer, not the first list's.
  await page.getByRole('searchbox', { name: 'Find an asset' }).fill('<');
  await page.locator('#results-count').filter({ hasText: /^2 assets$/ }).waitFor();
  for (const name of [BOLD, QUOTED]) {
    const card = page.getByRole('button', { name }).filter({ has: page.locator('.asset-name', { hasText: name }) });
    await card.locator('.asset-name').filter({ hasText: name }).waitFor();
    assert.equal(await card.locator('.asset-name').textContent(), name);
    assert.equal(await card.locator('.asset-desc').textContent(), COMMENT[name]);
    assert.equal(await card.locator('.asset-meta').textContent(), 'table · warehouse');
  }
  await assertNoMarkup(page, 'Request access');
  await shot(page, 'discovered-assets');
  // The asset's own page, reached through its link: the name is its heading, as text.
  await page.getByRole('button', { name: BOLD }).click();
  await page.getByRole('heading', { name: `Access to ${BOLD}` }).waitFor();
  await page.getByRole('link', { name: 'who has access' }).click();
  await page.getByRole('heading', { name: BOLD, level: 1, exact: true }).waitFor();
  await assertNoMarkup(page, 'the asset page');
  assert.deepEqual(dialogs, []);
  await page.close();
});

scenario('a member cannot see the Connections page nor start a discovery', async (browser) => {
  const page = await browser.newPage();
  await signIn(page, 'bob');
  assert.equal(await page.getByRole('link', { name: 'Connections' }).count(), 0);
  await page.goto(GATE + '/#/admin/connections');
  await page.getByRole('heading', { name: 'Admins only' }).waitFor();
  assert.equal(await page.getByRole('button', { name: 'Discover' }).count(), 0);
  assert.equal(await page.getByText('warehouse').count(), 0);
  await shot(page, 'connections-member');
  // The API refuses too, with the CSRF token (so the refusal is the role's, not the token's).
  const r = await page.evaluate(async () => {
    const s = await (await fetch('/api/v1/session')).json();
    const list = await fetch('/api/v1/connections');
    const one = await fetch('/api/v1/connections/warehouse');
    const go = await fetch('/api/v1/connections/warehouse/discover', { method: 'POST', headers: { 'X-CSRF-Token': s.csrf } });
    return { list: list.status, one: one.status, go: go.status, message: (await go.json()).error.message };
  });
  assert.deepEqual([r.list, r.one, r.go], [403, 403, 403]);
  assert.match(r.message, /admin role/);
  await page.close();
});

// Calls snowgate's API from a signed-in page, with its CSRF token: { status, body }.
async function apiFrom(page, method, path, body) {
  return page.evaluate(async ([m, p, b]) => {
    const s = await (await fetch('/api/v1/session')).json();
    const headers = { Accept: 'application/json', 'X-CSRF-Token': s.csrf };
    if (b !== undefined) headers['Content-Type'] = 'application/json';
    const r = await fetch(p, { method: m, headers, body: b === undefined ? undefined : JSON.stringify(b) });
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : null };
  }, [method, path, body]);
}

scenario('an admin sees a dead job with its error and the counts on the Jobs page, replays it from the keyboard, and the counts change', async (browser) => {
  const page = await browser.newPage();
  page.setDefaultTimeout(60000); // a slow shared machine: conditions, never durations
  await signIn(page, 'alice');
  // A grant for dora, whose database role PostgreSQL does not have (tests/e2e/test_browser.c):
  // PostgreSQL refuses, retrying cannot help, and the fulfilment job is dead at once.
  const made = await apiFrom(page, 'POST', '/api/v1/requests', { asset: 'analytics.sales.refunds', privilege: 'read', justification: 'Refund audit', for: 'dora' });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  const id = made.body.id;
  const sam = await browser.newPage();
  await signIn(sam, 'sam');
  const approved = await apiFrom(sam, 'POST', `/api/v1/requests/${id}/approve`, { comment: 'OK' });
  assert.equal(approved.status, 200, JSON.stringify(approved.body));
  await sam.close();
  for (let i = 0; ; i++) {
    const r = await apiFrom(page, 'GET', `/api/v1/requests/${id}`);
    if (r.body.state === 'failed') break;
    if (i >= 240) throw new Error(`the request did not fail; it is ${r.body.state}`);
    await page.waitForTimeout(500);
  }
  const before = (await apiFrom(page, 'GET', '/api/v1/jobs/summary')).body.by_state;
  assert.ok(before.dead >= 1);

  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Jobs' }).click();
  await page.getByRole('heading', { name: 'Jobs', level: 1 }).waitFor();
  const counts = page.getByRole('list', { name: 'Jobs by state' });
  const count = (state) => counts.getByRole('listitem').filter({ hasText: new RegExp(`\\b${state}$`) });
  for (const state of ['queued', 'running', 'done', 'dead']) await count(state).waitFor();
  assert.equal((await count('dead').textContent()).trim(), `${before.dead} dead`);
  // The dead job: its kind, the request it concerns (a link to its page), one attempt, and
  // PostgreSQL's error as text.
  const link = page.getByRole('link', { name: `request ${id.slice(0, 8)}` });
  const row = page.getByRole('row').filter({ has: link });
  await row.waitFor();
  assert.equal(await link.getAttribute('href'), `#/requests/${id}`);
  await row.getByRole('cell', { name: 'request.fulfil', exact: true }).waitFor();
  await row.getByRole('cell', { name: '1', exact: true }).waitFor();
  await row.getByText('role "dora_role" does not exist').waitFor();
  assert.equal(await page.getByText('payload', { exact: false }).count(), 0);
  await shot(page, 'jobs');

  // Replay, from the keyboard: the API is asked, a toast says so, and the page is drawn again
  // without the job, with the counts changed; focus goes to the heading, not the page's top.
  const replay = row.getByRole('button', { name: /^Replay request\.fulfil job / });
  await replay.focus();
  await page.keyboard.press('Enter');
  await page.locator('#toast').filter({ hasText: 'The request.fulfil job is queued again' }).waitFor({ state: 'attached' });
  await link.waitFor({ state: 'detached' });
  await count('dead').filter({ hasText: new RegExp(`^${before.dead - 1} dead$`) }).waitFor();
  assert.equal(await page.getByRole('heading', { name: 'Jobs', level: 1 }).evaluate((el) => el === document.activeElement), true,
    'keyboard focus was lost when the replayed job left the page');
  if (before.dead === 1) await page.getByText('No dead jobs').waitFor();
  await shot(page, 'jobs-replayed');
  // The job ran again: the request had already failed, so it is done with nothing to do; the
  // page's Refresh shows the counts the API gives.
  for (let i = 0; ; i++) {
    const done = (await apiFrom(page, 'GET', '/api/v1/jobs?state=done')).body.items;
    const j = done.find((x) => x.subject && x.subject.id === id && x.kind === 'request.fulfil');
    if (j) { assert.equal(j.attempts, 1, "the replay ran it once, its attempts counted from 0 again"); break; }
    if (i >= 240) throw new Error('the replayed job did not run');
    await page.waitForTimeout(500);
  }
  const after = (await apiFrom(page, 'GET', '/api/v1/jobs/summary')).body.by_state;
  await page.getByRole('button', { name: 'Refresh' }).click();
  await count('done').filter({ hasText: new RegExp(`^${after.done} done$`) }).waitFor();
  assert.ok(after.done > before.done);
  await page.close();
});

scenario('a member cannot see the Jobs page, and the jobs API refuses them', async (browser) => {
  const page = await browser.newPage();
  await signIn(page, 'bob');
  assert.equal(await page.getByRole('link', { name: 'Jobs' }).count(), 0);
  await page.goto(GATE + '/#/admin/jobs');
  await page.getByRole('heading', { name: 'Admins only' }).waitFor();
  assert.equal(await page.getByRole('list', { name: 'Jobs by state' }).count(), 0);
  await shot(page, 'jobs-member');
  const list = await apiFrom(page, 'GET', '/api/v1/jobs');
  const sum = await apiFrom(page, 'GET', '/api/v1/jobs/summary');
  const replay = await apiFrom(page, 'POST', '/api/v1/jobs/0123456789abcdef0123456789abcdef/replay');
  assert.deepEqual([list.status, sum.status, replay.status], [403, 403, 403]);
  assert.match(replay.body.error.message, /admin role/);
  await page.close();
});

scenario('a change without the CSRF token is refused; signing out ends the session', async (browser) => {
  const page = await browser.newPage();
  await signIn(page, 'bob');
  const status = await page.evaluate(async () => (await fetch('/api/v1/requests', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' })).status);
  assert.equal(status, 403);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
  const after = await page.evaluate(async () => (await fetch('/api/v1/session')).status);
  assert.equal(after, 401);
  await page.close();
});

scenario('it works at 360 px wide', async (browser) => {
  const page = await browser.newPage({ viewport: { width: 360, height: 740 } });
  await signIn(page, 'bob');
  await page.goto(GATE + '/#/requests');
  await page.locator('.row').first().waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
  assert.equal(overflow, false, 'no horizontal scrolling at 360 px');
  await shot(page, 'mobile-my-requests');
  await page.close();
});

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
let failed = 0;
// UI_ONLY=regex runs only the scenarios whose names match (when working on one).
const only = process.env.UI_ONLY ? new RegExp(process.env.UI_ONLY) : null;
const chosen = scenarios.filter((x) => !only || only.test(x.name));
for (const s of chosen) {
  try {
    await s.fn(browser);
    console.log(`ok   ${s.name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${s.name}\n     ${String(e.stack || e).split('\n').slice(0, 6).join('\n     ')}`);
  }
}
await browser.close();
console.log(`${chosen.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
