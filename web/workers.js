// workers.js - the executors sharing the database (GET /api/v1/workers):
// kind, online or lost, tags, load, last heartbeat and the runs each holds.
// Heartbeats change this list without an event on /events, so the page
// reloads itself every few seconds while it is visible, and on run events.
import { api } from './api.js';
import { h, clear, fmtTime, tagBadges } from './ui.js';

export const WORKERS_REFRESH_MS = 5000;

/** "4 s ago", "3 min ago", "2 h ago" for an RFC 3339 time (or '—'). */
export function ago(t, now = Date.now()) {
  if (!t) return '—';
  const s = Math.max(0, Math.round((now - new Date(t).getTime()) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** online / draining / lost, visibly different: colour, symbol and word. */
export function workerStatusEl(s) {
  const label = { online: '● online', draining: '◐ draining', lost: '✕ lost' }[s] || s;
  return h('span.wstatus', { class: `wstatus ${s}`, 'data-status': s }, label);
}

export function workersPage(main) {
  const summary = h('p.hint', { id: 'workers-summary' });
  const table = h('div.table-wrap');
  const updated = h('span.hint', { id: 'workers-updated' });
  clear(main, h('h1', 'Workers'),
    h('p.hint', 'The executors that run queued runs: each ', h('code', 'dmt serve'), ' with an executor and each ', h('code', 'dmt worker'), ' sharing this database. ',
      'A run of an environment with worker tags waits for an executor that has all of them. ',
      'A draining executor (sent SIGQUIT) finishes its runs and claims no new one. ',
      'An executor not heard of for a whole lease is lost; its runs are taken back when their leases expire.'),
    h('div.row', summary, h('span.grow'), updated,
      h('button', { type: 'button', onclick: () => load() }, 'Refresh')),
    table);

  let seq = 0;
  async function load() {
    const my = ++seq;
    let items;
    try { items = (await api('GET', '/workers')).data.items; } catch (e) {
      if (my === seq) { clear(table, h('div.alert', e.message)); updated.textContent = ''; }
      return;
    }
    if (my !== seq) return;
    render(items);
  }

  function render(items) {
    const now = Date.now();
    const count = (st) => items.filter((w) => w.status === st).length;
    const draining = count('draining');
    summary.textContent = `${count('online')} online, ${draining ? `${draining} draining, ` : ''}${count('lost')} lost`;
    updated.textContent = `updated ${new Date(now).toLocaleTimeString()}`;
    if (!items.length) {
      clear(table, h('p.hint', 'No executor has reported itself: queued runs wait until a ', h('code', 'dmt worker'), ' (or a ', h('code', 'dmt serve'), ' without ', h('code', '--no-executor'), ') starts.'));
      return;
    }
    clear(table, h('table.stackable', { 'aria-label': 'Workers' },
      h('thead', h('tr', ['Name', 'Kind', 'Status', 'Tags', 'Active / concurrency', 'Last seen', 'Started', 'Runs held'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', items.map((w) => h('tr', { 'data-name': w.name, 'data-status': w.status, class: w.status === 'lost' ? 'lost' : null },
        h('td', { 'data-label': 'Name' }, h('code', w.name)),
        h('td', { 'data-label': 'Kind' }, h('span.badge', { 'data-kind': w.kind }, w.kind)),
        h('td', { 'data-label': 'Status' }, workerStatusEl(w.status)),
        h('td', { 'data-label': 'Tags' }, tagBadges(w.tags, 'no tags')),
        // A run it holds is active (a server before c20f921 reported its last beat's figure).
        h('td', { 'data-label': 'Active / concurrency', 'data-load': '', title: `runs executing / at most at once; lease ${w.lease_s} s` },
          `${Math.max(w.active, (w.runs || []).length)} / ${w.concurrency}`),
        h('td', { 'data-label': 'Last seen', title: fmtTime(w.last_seen_at) }, h('time', { datetime: w.last_seen_at }, ago(w.last_seen_at, now))),
        h('td', { 'data-label': 'Started' }, fmtTime(w.started_at)),
        h('td', { 'data-label': 'Runs held' }, w.runs && w.runs.length
          ? h('span.held', w.runs.map((r) => h('a', { href: `/runs/${r.id}`, title: `lease until ${fmtTime(r.lease_until)}` }, `#${r.id}`)))
          : h('span.hint', 'none')))))));
  }

  const tick = () => { if (document.visibilityState === 'visible') load(); };
  const timer = setInterval(tick, WORKERS_REFRESH_MS);
  const onVisible = () => { if (document.visibilityState === 'visible') load(); };
  document.addEventListener('visibilitychange', onVisible);
  load();
  return {
    onChange: (evs) => { if (evs.some((e) => e.kind === 'run' || e.kind === 'reset')) load(); },
    dispose: () => { clearInterval(timer); document.removeEventListener('visibilitychange', onVisible); seq++; },
  };
}
