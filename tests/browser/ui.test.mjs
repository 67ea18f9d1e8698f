// Browser tests of the web UI, in Debian's Chromium driven by playwright-core. Started by
// tests/e2e/test_browser.c, which brings up snowsim, snowgate, PostgreSQL and the users, and
// passes their addresses in the environment. Each scenario throws on failure; the exit status
// tells the C test. Screenshots of every main screen go to $SHOTS.
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';

const env = (k) => { const v = process.env[k]; if (!v) throw new Error(`${k} is not set`); return v; };
const GATE = env('GATE_URL'), SIM = env('SIM_URL'), SIM_AUTH = env('SIM_AUTH');
const SHOTS = process.env.SHOTS || '.';
const PASSWORD = { alice: env('ALICE_PW'), bob: env('BOB_PW'), sam: env('SAM_PW') };
const SVC_PASSWORD = 'Svc-Pa55word!';

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
  await page.goto(GATE + '/#/admin/integrations');
  await page.getByRole('heading', { name: 'Admins only' }).waitFor();
  // The API refuses too, whatever the page shows.
  const status = await page.evaluate(async () => (await fetch('/api/v1/integrations/servicenow')).status);
  assert.equal(status, 403);
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
for (const s of scenarios) {
  try {
    await s.fn(browser);
    console.log(`ok   ${s.name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${s.name}\n     ${String(e.stack || e).split('\n').slice(0, 6).join('\n     ')}`);
  }
}
await browser.close();
console.log(`${scenarios.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
