// runs.js - the runs list (with filters) and a run's page: task statuses,
// durations and exit codes as they change, a timeline, the live log,
// cancel and re-run.
import { api, list, enc } from './api.js';
import { h, clear, fmtTime, fmtDur, duration, statusEl, toast, go, setUrl, tagBadges } from './ui.js';

const ENDED = ['succeeded', 'failed', 'canceled', 'interrupted'];
const STATUSES = ['queued', 'running', ...ENDED];
// A queued run's reason to wait can change with no event (an executor
// starts, stops or misses its heartbeats): its page asks again this often.
export const QUEUED_REFRESH_MS = 3000;

export function runsPage(main, q) {
  const f = { job: q.get('job') || '', environment: q.get('environment') || '', status: q.get('status') || '' };
  const filters = h('form.filters', { role: 'search', 'aria-label': 'Filter runs', onsubmit: (e) => e.preventDefault() });
  const table = h('div.table-wrap');
  clear(main, h('h1', 'Runs'), filters, table);
  const apply = () => {
    const qs = new URLSearchParams(Object.entries(f).filter(([, v]) => v));
    if (q.get('limit')) qs.set('limit', q.get('limit'));
    setUrl('/runs' + (qs.toString() ? '?' + qs : ''));
    want = pageSize;
    load();
  };
  (async () => {
    const [jobs, envs] = await Promise.all([list('/jobs'), list('/environments')]);
    const sel = (name, label, opts) => {
      const s = h('select', { id: `f-${name}`, onchange: () => { f[name] = s.value; apply(); } },
        h('option', { value: '' }, 'any'), opts.map((o) => h('option', { value: o, selected: o === f[name] }, o)));
      return h('label', { for: `f-${name}` }, label, s);
    };
    clear(filters, sel('job', 'Job', jobs.map((j) => j.name)), sel('environment', 'Environment', envs.map((e) => e.name)), sel('status', 'Status', STATUSES));
  })().catch(() => {});
  // Pages of pageSize (?limit=N, 1 to 500) follow the API's `next` cursor;
  // a live refresh reloads as many runs as are shown.
  const pageSize = Math.min(Math.max(parseInt(q.get('limit'), 10) || 50, 1), 500);
  let rows = [];
  let next = null;
  let want = pageSize;
  let seq = 0;
  async function fetchRuns(cursor, n) {
    const got = [];
    let nxt = cursor;
    do {
      const qs = new URLSearchParams(Object.entries({ ...f, limit: String(Math.min(n - got.length, 500)), cursor: nxt || '' }).filter(([, v]) => v));
      const r = (await api('GET', '/runs?' + qs)).data;
      got.push(...r.items);
      nxt = r.next || null;
    } while (nxt && got.length < n);
    return { got, nxt };
  }
  async function load() {
    const my = ++seq;
    let res;
    try { res = await fetchRuns(null, want); } catch (e) { if (my === seq) clear(table, h('div.alert', e.message)); return; }
    if (my !== seq) return;
    rows = res.got;
    next = res.nxt;
    render();
  }
  async function more(btn) {
    const my = ++seq;
    btn.disabled = true;
    let res;
    try { res = await fetchRuns(next, pageSize); } catch (e) { btn.disabled = false; toast(e.message); return; }
    if (my !== seq) return;
    const first = res.got[0];
    rows = rows.concat(res.got.filter((r) => !rows.some((x) => x.id === r.id)));
    next = res.nxt;
    want = Math.max(want, rows.length);
    render();
    if (first) table.querySelector(`tr[data-run="${first.id}"] a`)?.focus();
  }
  function render() {
    clear(table, rows.length ? [h('table.stackable', { 'aria-label': 'Runs' },
      h('thead', h('tr', ['Run', 'Job', 'Environment', 'Status', 'Started', 'Duration', 'By'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', rows.map((r) => h('tr', { 'data-run': r.id },
        h('td', { 'data-label': 'Run' }, h('a', { href: `/runs/${r.id}` }, `#${r.id}`)),
        h('td', { 'data-label': 'Job' }, h('a', { href: `/workflows/${enc(r.job)}` }, r.job)),
        h('td', { 'data-label': 'Environment' }, r.environment),
        h('td', { 'data-label': 'Status' }, statusEl(r.status)),
        h('td', { 'data-label': 'Started' }, fmtTime(r.started_at || r.created_at)),
        h('td', { 'data-label': 'Duration' }, fmtDur(duration(r.started_at, r.finished_at))),
        h('td', { 'data-label': 'By' }, r.triggered_by))))),
    h('div.row.more', h('span.hint', { role: 'status', id: 'runs-count' }, `${rows.length} run${rows.length === 1 ? '' : 's'} shown${next ? '' : ', all that match'}`),
      next ? h('button', { type: 'button', onclick: (e) => more(e.currentTarget) }, 'Load more') : null)]
      : h('p.hint', 'No runs match.'));
  }
  load();
  return { onChange: (evs) => { if (evs.some((e) => e.kind === 'run' || e.kind === 'reset')) load(); } };
}

/** Text whose `quoted` parts (commands) are shown as code. */
function codeSpans(text) {
  return String(text).split('`').map((part, i) => (i % 2 ? h('code', part) : part));
}

export function runPage(main, id) {
  const head = h('div');
  const tasksArea = h('div');
  const timeline = h('div.timeline', { role: 'img', 'aria-label': 'Timeline of task durations' });
  const logEl = h('pre.log', { id: 'log', tabindex: '0', 'aria-label': 'Log', 'aria-live': 'off' });
  const logState = h('span.hint', { id: 'log-state' }, 'connecting…');
  const notice = h('div.notice.queued', { id: 'queued-reason', role: 'status', hidden: true, dataset: { reason: '' } });
  clear(main, head, notice, h('section.panel', { 'aria-labelledby': 'h-tasks' }, h('h2#h-tasks', 'Tasks'), tasksArea),
    h('section.panel', { 'aria-labelledby': 'h-tl' }, h('h2#h-tl', 'Timeline'), timeline),
    h('section.panel', { 'aria-labelledby': 'h-log' }, h('div.row', h('h2#h-log', 'Log'), h('span.grow'), logState,
      h('span.hint', ' · ', h('span.badge', 'stdout'), ' ', h('span.badge', { style: null }, 'stderr in red'), ' ', h('span.badge', 'system in blue'))), logEl));
  let run = null;
  let seq = 0;
  let es = null;
  let ticker = null;
  let poller = null;

  async function load() {
    const my = ++seq;
    try { run = (await api('GET', `/runs/${id}`)).data; } catch (e) {
      if (my === seq) clear(head, h('h1', `Run #${id}`), h('div.alert', e.status === 404 ? 'There is no such run.' : e.message));
      return;
    }
    if (my !== seq) return;
    render();
    if (ENDED.includes(run.status)) { clearInterval(ticker); ticker = null; } else if (!ticker) ticker = setInterval(render, 1000);
    if (run.status !== 'queued') { clearInterval(poller); poller = null; } else if (!poller) {
      poller = setInterval(() => { if (document.visibilityState === 'visible') load(); }, QUEUED_REFRESH_MS);
    }
  }

  /** Where the run runs (or ran), and what it needs of a worker. */
  function placement() {
    const tags = run.worker_tags || [];
    const w = run.worker;
    return h('div.row.placement', { id: 'run-placement' },
      h('span', 'Worker: ', w ? h('a', { href: '/workers', id: 'run-worker', title: 'the executor that claimed this run' }, h('code', w))
        : h('span.hint', { id: 'run-worker' }, run.status === 'queued' ? 'not claimed yet' : 'none')),
      h('span', { id: 'run-worker-tags' }, 'Requires worker tags: ', tagBadges(tags, 'none (any worker)')));
  }

  function render() {
    if (!run) return;
    const ended = ENDED.includes(run.status);
    clear(head, h('h1', `Run #${run.id} `, h('span.hint', `${run.job} in ${run.environment}`)),
      h('div.row',
        h('span', 'Status: ', h('span#run-status', { class: `status ${run.status}`, 'data-status': run.status }, run.status)),
        h('span.hint', `started ${fmtTime(run.started_at)} · ${fmtDur(duration(run.started_at, run.finished_at))} · by ${run.triggered_by}`),
        run.rerun_of ? h('a', { href: `/runs/${run.rerun_of}` }, `re-run of #${run.rerun_of}`) : null,
        h('span.grow'),
        h('a', { href: `/workflows/${enc(run.job)}` }, 'Workflow'),
        h('button.danger', { type: 'button', disabled: ended || run.cancel_requested, onclick: cancel }, run.cancel_requested && !ended ? 'Canceling…' : 'Cancel'),
        h('button', { type: 'button', onclick: rerun }, 'Re-run')),
      placement());
    // The notice stays one element (a live region), changed only when its text changes.
    const reason = run.status === 'queued' ? (run.queued_reason || 'waiting for a free executor') : '';
    if (notice.dataset.reason !== reason) {
      notice.dataset.reason = reason;
      notice.hidden = !reason;
      clear(notice, reason ? [h('strong', 'Queued: '), h('span', { id: 'queued-reason-text' }, codeSpans(reason)), /[.!?]$/.test(reason) ? ' ' : '. ',
        h('a', { href: '/workers' }, 'See the workers'), '.'] : null);
    }
    clear(tasksArea, h('div.table-wrap', h('table.stackable', { 'aria-label': 'Task results' },
      h('thead', h('tr', ['Task', 'Status', 'Duration', 'Exit code', 'Attempts', 'Error'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', run.tasks.map((t) => h('tr', { 'data-task': t.name },
        h('td', { 'data-label': 'Task' }, t.name),
        h('td', { 'data-label': 'Status' }, statusEl(t.status)),
        h('td', { 'data-label': 'Duration' }, fmtDur(duration(t.started_at, t.finished_at))),
        h('td', { 'data-label': 'Exit code', 'data-exit': '' }, t.exit_code === null ? '—' : String(t.exit_code)),
        h('td', { 'data-label': 'Attempts' }, t.attempts),
        h('td', { 'data-label': 'Error' }, t.error || '')))))));
    const t0 = run.started_at ? new Date(run.started_at).getTime() : null;
    const tEnd = run.finished_at ? new Date(run.finished_at).getTime() : Date.now();
    const span = t0 ? Math.max(tEnd - t0, 1) : 1;
    clear(timeline, run.tasks.map((t) => {
      const d = duration(t.started_at, t.finished_at);
      const left = t.started_at && t0 ? ((new Date(t.started_at).getTime() - t0) / span) * 100 : 0;
      const width = d !== null ? (d / span) * 100 : 0;
      return h('div.bar-row', h('span', t.name), h('div.track', t.started_at ? h('div.bar', { class: `bar ${t.status}`, style: null, 'data-left': left.toFixed(2), 'data-width': width.toFixed(2) }) : null), h('span.hint', fmtDur(d)));
    }));
    // Positions are set through the CSSOM: the CSP allows no inline style attributes.
    for (const b of timeline.querySelectorAll('.bar')) { b.style.left = `${Math.min(b.dataset.left, 100)}%`; b.style.width = `${Math.min(b.dataset.width, 100 - b.dataset.left)}%`; }
  }

  async function cancel() {
    try { await api('POST', `/runs/${id}/cancel`); toast('Cancel requested'); } catch (e) { toast(e.message); }
    load();
  }
  async function rerun() {
    try { const r = await api('POST', `/runs/${id}/rerun`); go(`/runs/${r.data.id}`); } catch (e) { toast(e.message); }
  }

  function follow() {
    es = new EventSource(`/api/v1/runs/${id}/log`);
    es.addEventListener('open', () => { logState.textContent = 'live'; });
    es.addEventListener('log', (e) => {
      const c = JSON.parse(e.data);
      const stick = logEl.scrollTop + logEl.clientHeight >= logEl.scrollHeight - 4;
      logEl.append(h('span', { class: c.stream, 'data-stream': c.stream, title: `${c.task || 'run'} · ${c.stream} · ${c.ts}` }, c.data));
      if (stick) logEl.scrollTop = logEl.scrollHeight;
    });
    es.addEventListener('end', (e) => {
      const s = JSON.parse(e.data).status;
      logState.textContent = `ended: ${s}`;
      es.close();
      load();
    });
    es.addEventListener('error', () => { if (es.readyState !== EventSource.CLOSED) logState.textContent = 'reconnecting…'; });
  }

  load();
  follow();
  return {
    onChange: (evs) => { if (evs.some((e) => e.kind === 'reset' || (e.kind === 'run' && String(e.name) === String(id)))) load(); },
    dispose: () => { if (es) es.close(); clearInterval(ticker); clearInterval(poller); seq++; },
  };
}
