// jobs: the background queue (admin): how many jobs are in each state, and the dead ones (a
// job that kept failing, or failed where retrying cannot help) with their last error, each
// with a Replay button that puts it back in the queue. Payloads are never shown (the API
// leaves them out); a job names only the request or connection it concerns.
//
// Keyboard focus survives a redraw as on the Connections page: a control carries data-key,
// and the one that had focus gets it back. A replayed job leaves the list, taking its button
// with it, so focus then goes to the page's heading rather than to the top of the document.
import { h, api, show, when, loading, failure, empty, toast } from './ui.js';

const STATES = [
  ['queued', 'queued', 'waiting to run, or to be retried after a failure'],
  ['running', 'running', 'being worked on now'],
  ['done', 'done', 'finished'],
  ['dead', 'dead', 'gave up; replay them once the cause is fixed'],
];
const LIMIT = 500; // GET /api/v1/jobs lists the newest 500 of a state

function subject(s) {
  if (!s) return h('span', { class: 'muted' }, '—');
  if (s.type === 'request') return h('a', { href: `#/requests/${encodeURIComponent(s.id)}`, class: 'mono', title: s.id }, `request ${s.id.slice(0, 8)}`);
  if (s.type === 'connection') return h('a', { href: '#/admin/connections' }, `connection ${s.id}`);
  return `${s.type} ${s.id}`;
}

export async function jobsView(main) {
  show(main, loading());
  let left = false;
  async function load() {
    let dead, sum;
    try {
      [dead, sum] = await Promise.all([api('GET', '/api/v1/jobs?state=dead'), api('GET', '/api/v1/jobs/summary')]);
    } catch (e) { if (!left) show(main, failure(e, load)); return; }
    if (left) return;
    const list = dead.items || [];
    const by = sum.by_state || {};
    const rows = list.map((j) => {
      const replay = h('button', {
        dataset: { key: `replay:${j.id}` },
        'aria-label': `Replay ${j.kind} job ${j.id}`,
        onclick: async () => {
          if (replay.getAttribute('aria-disabled') === 'true') return;
          replay.setAttribute('aria-disabled', 'true');
          try { await api('POST', `/api/v1/jobs/${encodeURIComponent(j.id)}/replay`); toast(`The ${j.kind} job is queued again`); } catch (e) { toast(e.message, 'error'); }
          load();
        },
      }, 'Replay');
      return h('tr', { dataset: { job: j.id } },
        h('td', { class: 'mono' }, j.kind),
        h('td', {}, subject(j.subject)),
        h('td', {}, String(j.attempts)),
        h('td', {}, when(j.updated_at)),
        h('td', { class: 'job-error' }, j.last_error || h('span', { class: 'muted' }, 'no error recorded')),
        h('td', {}, replay));
    });
    const had = main.contains(document.activeElement) ? document.activeElement.dataset.key : undefined;
    const title = h('h1', { tabindex: '-1' }, 'Jobs');
    show(main, h('section', { class: 'panel' },
      h('div', { class: 'panel-head' }, title,
        h('button', { class: 'ghost', dataset: { key: 'refresh' }, onclick: load }, 'Refresh')),
      h('p', { class: 'muted' }, 'Background work: fulfilling and expiring grants, talking to ServiceNow, discovering connections. A job that fails is retried with a growing delay; one that keeps failing, or fails where retrying cannot help, is dead and waits here until it is replayed.'),
      h('ul', { class: 'counts', 'aria-label': 'Jobs by state' },
        STATES.map(([k, label, hint]) => h('li', { class: `count c-${k}`, title: hint },
          h('span', { class: 'count-n' }, String(by[k] ?? 0)), ' ', h('span', { class: 'count-label' }, label)))),
      h('h2', {}, 'Dead jobs'),
      list.length ? [
        list.length >= LIMIT ? h('p', { class: 'alert warn' }, `Showing the newest ${list.length} of ${by.dead} dead jobs; replay or fix these to see the older ones.`) : null,
        h('div', { class: 'scroll' }, h('table', { class: 'grid' },
          h('caption', { class: 'sr' }, 'Dead jobs, newest first'),
          h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Kind'), h('th', { scope: 'col' }, 'Concerns'), h('th', { scope: 'col' }, 'Attempts'),
            h('th', { scope: 'col' }, 'Died'), h('th', { scope: 'col' }, 'Last error'), h('th', { scope: 'col' }, h('span', { class: 'sr' }, 'Actions')))),
          h('tbody', {}, rows))),
      ] : empty('No dead jobs', 'Every background job has finished or is still being retried.')));
    if (had) {
      const again = [...main.querySelectorAll('[data-key]')].find((el) => el.dataset.key === had);
      (again || title).focus();
    }
  }
  await load();
  return () => { left = true; };
}
