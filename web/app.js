// app: the shell: who is signed in, the navigation, and the router (#/path). Each view is a
// function (main, params) that fills main and may return a cleanup function.
import { h, api, session, show, toast } from './ui.js';
import { loginView } from './view_login.js';
import { requestView, myRequestsView, requestDetailView, assetView } from './view_access.js';
import { inboxView } from './view_inbox.js';
import { profileView } from './view_profile.js';
import { integrationsView } from './view_integrations.js';
import { connectionsView } from './view_connections.js';
import { jobsView } from './view_jobs.js';

const routes = [
  { path: /^\/request$/, view: requestView, title: 'Request access', nav: 'request' },
  { path: /^\/requests$/, view: myRequestsView, title: 'My requests', nav: 'requests' },
  { path: /^\/requests\/([0-9a-f]{32})$/, view: requestDetailView, title: 'Request', nav: 'requests' },
  { path: /^\/inbox$/, view: inboxView, title: 'Inbox', nav: 'inbox' },
  { path: /^\/assets\/(.+)$/, view: assetView, title: 'Asset', nav: 'request' },
  { path: /^\/profile$/, view: profileView, title: 'Profile', nav: 'profile' },
  { path: /^\/admin\/integrations$/, view: integrationsView, title: 'Integrations', nav: 'admin', admin: true },
  { path: /^\/admin\/connections$/, view: connectionsView, title: 'Connections', nav: 'connections', admin: true },
  { path: /^\/admin\/jobs$/, view: jobsView, title: 'Jobs', nav: 'jobs', admin: true },
];

let cleanup = null;

function navLink(href, label, key, current) {
  return h('a', { href, class: key === current ? 'active' : null, 'aria-current': key === current ? 'page' : null }, label);
}

function layout(current) {
  const u = session.user;
  const links = [
    navLink('#/request', 'Request access', 'request', current),
    navLink('#/requests', 'My requests', 'requests', current),
    navLink('#/inbox', 'Inbox', 'inbox', current),
    u.role === 'admin' ? navLink('#/admin/integrations', 'Integrations', 'admin', current) : null,
    u.role === 'admin' ? navLink('#/admin/connections', 'Connections', 'connections', current) : null,
    u.role === 'admin' ? navLink('#/admin/jobs', 'Jobs', 'jobs', current) : null,
  ];
  const signOut = h('button', {
    class: 'ghost', onclick: async () => {
      try { await api('DELETE', '/api/v1/session'); } catch (e) { /* signed out anyway */ }
      session.user = null; session.csrf = null;
      location.hash = '#/request';
      render();
    },
  }, 'Sign out');
  const main = h('main', { id: 'main', tabindex: '-1' });
  const menu = h('nav', { class: 'nav', 'aria-label': 'Main' }, links);
  const top = h('header', { class: 'top' },
    h('a', { class: 'brand', href: '#/request' }, h('img', { src: '/ui/logo.svg', alt: '', width: 28, height: 28 }), 'snowgate'),
    menu,
    h('div', { class: 'me' },
      h('a', { href: '#/profile', class: current === 'profile' ? 'active' : null }, u.name, h('span', { class: 'role' }, u.role)),
      signOut));
  show(document.getElementById('app'), h('a', { class: 'skip', href: '#main', onclick: (e) => { e.preventDefault(); main.focus(); } }, 'Skip to content'), top, main);
  return main;
}

function forbidden(main) {
  show(main, h('div', { class: 'panel narrow' },
    h('h1', {}, 'Admins only'),
    h('p', {}, `This page is for snowgate admins, and you are signed in as a ${session.user.role}. Ask an admin if you need something changed.`),
    h('a', { class: 'button', href: '#/request' }, 'Back to requesting access')));
}

export async function render() {
  if (cleanup) { cleanup(); cleanup = null; }
  if (!session.user) {
    show(document.getElementById('app'), loginView(async () => { await render(); }));
    return;
  }
  const path = (location.hash || '#/request').slice(1);
  let route = null, params = [];
  for (const r of routes) {
    const m = r.path.exec(path);
    if (m) { route = r; params = m.slice(1).map(decodeURIComponent); break; }
  }
  if (!route) { location.hash = '#/request'; return; }
  document.title = `${route.title} · snowgate`;
  const main = layout(route.nav);
  if (route.admin && session.user.role !== 'admin') { forbidden(main); return; }
  try {
    cleanup = await route.view(main, ...params) || null;
  } catch (e) {
    show(main, h('div', { class: 'alert error', role: 'alert' }, e.message));
  }
}

async function boot() {
  try {
    const s = await api('GET', '/api/v1/session');
    session.user = s.user; session.csrf = s.csrf || null;
  } catch (e) {
    session.user = null;
  }
  window.addEventListener('hashchange', render);
  window.addEventListener('signedout', () => {
    if (session.user) toast('Your session has ended; please sign in again.', 'warn');
    session.user = null; session.csrf = null;
    render();
  });
  render();
}

boot();
