// connections: the data sources (admin), each with its last discovery run; a Discover button
// starts one on a connection that can discover, and the page follows its percentage.
//
// The page is drawn again every second while a run is on. Keyboard focus survives that: a
// control carries data-key, and the one that had focus gets it back in the new drawing. That
// is also why a Discover button of a running connection is aria-disabled, not disabled: a
// disabled button cannot hold focus, so a keyboard user who pressed it would be sent back to
// the top of the page.
import { h, api, show, when, loading, failure, empty, toast } from './ui.js';

function runText(c) {
  const d = c.discovery;
  if (!c.discoverable) return 'registered by hand';
  if (!d) return 'never discovered';
  if (d.state === 'queued') return 'discovery queued';
  // An attempt that failed and is retried (the database unreachable, a lock timeout) leaves
  // its error on the run: without it, the page would show 0% and nothing else until it gives up.
  if (d.state === 'running') return `discovering: ${d.percent || 0}%${d.error ? ` (an attempt failed and is retried: ${d.error})` : ''}`;
  if (d.state === 'failed') return `last discovery failed: ${d.error || 'unknown error'}`;
  const n = d.counts || {};
  // The rarer counts only when there are some: assets found again, and names left out.
  const more = [[n.returned, 'back from gone'], [n.skipped, 'skipped (not an asset name)'], [n.conflicts, "skipped (another connection's asset has the name)"]]
    .filter(([k]) => k > 0).map(([k, what]) => `, ${k} ${what}`).join('');
  return `discovered ${d.finished_at ? when(d.finished_at) : ''}: ${n.found} found, ${n.added} added, ${n.updated} updated, ${n.gone} gone${more}`;
}

export async function connectionsView(main) {
  show(main, loading());
  let timer = null, left = false;
  async function load() {
    let list;
    try { list = (await api('GET', '/api/v1/connections')).items || []; } catch (e) { if (!left) show(main, failure(e, load)); return; }
    if (left) return; // the page was left while this was loading: no more polling
    const busy = list.some((c) => c.discovery && (c.discovery.state === 'queued' || c.discovery.state === 'running'));
    const rows = list.map((c) => {
      const running = c.discovery && (c.discovery.state === 'queued' || c.discovery.state === 'running');
      const go = c.discoverable ? h('button', {
        'aria-disabled': running ? 'true' : null,
        dataset: { key: `discover:${c.id}` },
        onclick: async () => {
          if (go.getAttribute('aria-disabled') === 'true') return;
          go.setAttribute('aria-disabled', 'true');
          try { await api('POST', `/api/v1/connections/${encodeURIComponent(c.id)}/discover`); toast(`Discovery of ${c.name} started`); } catch (e) { toast(e.message, 'error'); }
          load();
        },
      }, 'Discover') : null;
      const pct = running ? h('progress', { max: 100, value: c.discovery.percent || 0, 'aria-label': `${c.name} discovery` }) : null;
      return h('tr', {}, h('td', {}, c.name), h('td', {}, c.kind), h('td', { role: 'status' }, runText(c), ' ', pct), h('td', {}, go));
    });
    const had = main.contains(document.activeElement) ? document.activeElement.dataset.key : undefined;
    show(main, h('section', { class: 'panel' },
      h('h1', {}, 'Connections'),
      h('p', { class: 'muted' }, 'Data sources snowgate grants access on. Discover registers a PostgreSQL, MariaDB or MySQL database\'s schemas, tables and views as assets; tables that disappear are marked gone, never deleted.'),
      list.length ? h('table', { class: 'grid' },
        h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Kind'), h('th', {}, 'Assets'), h('th', {}, h('span', { class: 'sr' }, 'Actions')))),
        h('tbody', {}, rows)) : empty('No connections yet', 'Add one with POST /api/v1/connections.')));
    if (had) [...main.querySelectorAll('[data-key]')].find((el) => el.dataset.key === had)?.focus();
    clearTimeout(timer);
    if (busy) timer = setTimeout(load, 1000);
  }
  await load();
  return () => { left = true; clearTimeout(timer); };
}
