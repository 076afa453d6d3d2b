// workflow.js - the workflow area: a job's tasks in order, one tab per
// environment with every variable's default, override and effective value,
// the matrix of all variables x environments, and the Run button.
import { api, list, enc, ApiError } from './api.js';
import { h, clear, show, parseValue, inputText, toast, go, setUrl } from './ui.js';
import { recentDots, etagOf } from './pages.js';

export function workflowPage(main, job, task, q) {
  if (!job) return jobChooser(main);
  const st = { job, task, env: q.get('env') || null, matrix: q.get('view') === 'matrix', wf: null, envs: [], tasks: [], runs: [], ovTags: {} };
  const head = h('div');
  const body = h('div');
  clear(main, head, body);
  let seq = 0;
  let alive = true;

  function setHash() {
    const path = `/workflows/${enc(st.job)}${st.task ? '/' + enc(st.task) : ''}`;
    const qs = new URLSearchParams();
    if (st.env) qs.set('env', st.env);
    if (st.matrix) qs.set('view', 'matrix');
    setUrl(path + (qs.toString() ? '?' + qs : ''));
  }

  async function load() {
    const my = ++seq;
    let wf, envs, tasks, runs;
    try {
      [wf, envs, tasks, runs] = await Promise.all([
        api('GET', `/jobs/${enc(job)}/workflow`).then((r) => r.data), list('/environments'),
        list(`/jobs/${enc(job)}/tasks`), list(`/runs?job=${enc(job)}&limit=8`).catch(() => []),
      ]);
    } catch (e) {
      if (my === seq) clear(body, h('div.alert', e.status === 404 ? `There is no job ${job}.` : e.message), h('p', h('a', { href: '/workflows' }, 'All workflows')));
      return;
    }
    if (my !== seq) return;
    Object.assign(st, { wf, envs, tasks, runs });
    if (!st.task && wf.tasks.length) st.task = wf.tasks[0].name;
    if (st.task && !wf.tasks.find((t) => t.name === st.task)) st.task = wf.tasks.length ? wf.tasks[0].name : null;
    if (!st.env || !wf.environments.includes(st.env)) st.env = wf.environments[0] || null;
    // The ETags of the overrides shown, for If-Match on change and removal.
    const t = wf.tasks.find((x) => x.name === st.task);
    st.ovTags = {};
    const env = st.env;
    if (t && env) {
      await Promise.all(t.variables.filter((v) => v.overrides && env in v.overrides).map((v) =>
        api('GET', `/jobs/${enc(job)}/tasks/${enc(t.name)}/variables/${enc(v.name)}/overrides/${enc(env)}`)
          .then((r) => { st.ovTags[`${env}/${v.name}`] = r.etag; }).catch(() => {})));
      if (my !== seq) return;
    }
    render();
  }

  function render() {
    if (!alive) return;
    // Not while a task is being dragged: after the drop.
    if (st.dragging) { st.stale = true; return; }
    // Keep what someone is typing, and the focus, across a refresh.
    const dirty = {};
    for (const el of main.querySelectorAll('input[data-dirty]')) dirty[el.id] = el.value;
    const focusId = document.activeElement && main.contains(document.activeElement) ? document.activeElement.id : null;
    setHash();
    clear(head, h('h1', 'Workflow ', h('span.v', st.job)),
      h('div.row', h('a', { href: '/workflows' }, '← all workflows'), h('span.grow'),
        h('button', { type: 'button', 'aria-pressed': String(st.matrix), onclick: () => { st.matrix = !st.matrix; render(); } }, st.matrix ? 'Show tasks and tabs' : 'Matrix view')),
      runPanel());
    clear(body, st.matrix ? matrix() : h('div.wf', taskList(), taskDetail()));
    for (const [id, v] of Object.entries(dirty)) {
      const el = document.getElementById(id);
      if (el) { el.value = v; el.dataset.dirty = '1'; }
    }
    if (focusId) document.getElementById(focusId)?.focus();
  }

  // --- running ---------------------------------------------------------------------
  function runPanel() {
    // What is chosen here (the environment, an open confirmation, an error)
    // lives in st.run, so a live refresh of the page keeps it.
    const run = st.run || (st.run = { env: null, confirm: null, error: null });
    // It follows the selected tab until someone picks one here.
    if (!run.picked || !st.envs.some((e) => e.name === run.env)) run.env = st.env;
    const envSel = h('select', { id: 'run-env', onchange: () => { run.env = envSel.value; run.picked = true; run.confirm = null; run.error = null; render(); } },
      st.envs.map((e) => h('option', { value: e.name, selected: e.name === run.env }, e.name + (e.protected ? ' (protected)' : ''))));
    const msg = h('div', { role: 'alert' });
    const start = async () => {
      const environment = run.env;
      run.confirm = null;
      try {
        const r = await api('POST', `/jobs/${enc(st.job)}/runs`, { environment });
        run.error = null;
        go(`/runs/${r.data.id}`);
      } catch (e) { run.error = e; render(); }
    };
    if (run.error) {
      const e = run.error;
      const errs = (e.problem && e.problem.errors) || [];
      clear(msg, h('div.alert', h('strong', 'Not started: '), e.message, errs.length ? h('ul', errs.map((x) => h('li', x.task ? `${x.task} · ${x.variable} · ${x.environment}: ${x.message}` : `${x.field}: ${x.message}`))) : null));
    } else if (run.confirm) {
      clear(msg, h('div.confirm', h('p', h('strong', `${run.confirm} is protected.`), ` Run ${st.job} in ${run.confirm}?`),
        h('div.row', h('button.primary#run-confirm', { type: 'button', onclick: start }, `Yes, run in ${run.confirm}`),
          h('button#run-confirm-cancel', { type: 'button', onclick: () => { run.confirm = null; render(); document.getElementById('run-go')?.focus(); } }, 'Cancel'))));
    }
    const runBtn = h('button.primary#run-go', { type: 'button', onclick: () => {
      const env = st.envs.find((e) => e.name === run.env);
      run.error = null;
      if (env && env.protected) {
        run.confirm = env.name;
        render();
        document.getElementById('run-confirm')?.focus();
      } else { run.confirm = null; render(); start(); }
    } }, 'Run');
    return h('section.panel', { 'aria-label': 'Run this job' }, h('div.row',
      h('label', { for: 'run-env' }, 'Environment'), envSel, runBtn, h('span.grow'),
      h('span.hint', 'Recent runs: '), recentDots(st.runs), h('a', { href: `/runs?job=${enc(st.job)}` }, 'all runs')), msg);
  }

  // --- tasks in order: drag a task by its grip (pointer events: mouse, pen
  // and touch alike) or use its up/down buttons (keyboard) -----------------------------
  function taskList() {
    const tasks = [...st.tasks].sort((a, b) => a.position - b.position);
    const move = async (t, to) => {
      try {
        await api('PATCH', `/jobs/${enc(st.job)}/tasks/${enc(t.name)}`, { position: to }, { etag: etagOf('task', t) });
        toast(`Moved ${t.name} to position ${to}`);
      } catch (e) { toast(e.status === 412 ? 'The tasks changed meanwhile: showing the new order.' : e.message); }
      load();
    };
    const ol = h('ol.tasklist', { 'aria-describedby': 'tasklist-hint' });
    const drag = (ev, t, li) => {
      if (ev.button !== 0 || st.dragging) return;
      ev.preventDefault();
      const grip = ev.currentTarget;
      grip.setPointerCapture(ev.pointerId);
      const items = [...ol.children];
      const rects = items.map((x) => x.getBoundingClientRect());
      const from = items.indexOf(li);
      const y0 = ev.clientY;
      let to = from;
      st.dragging = true;
      li.classList.add('dragging');
      const mark = () => {
        for (const x of items) x.classList.remove('drop-before', 'drop-after');
        if (to !== from) items[to].classList.add(to < from ? 'drop-before' : 'drop-after');
      };
      const onMove = (e) => {
        li.style.transform = `translateY(${e.clientY - y0}px)`;
        const y = e.clientY;
        if (y < rects[0].top) to = 0;
        else if (y > rects[rects.length - 1].bottom) to = items.length - 1;
        else {
          const i = rects.findIndex((r) => y >= r.top && y <= r.bottom);
          if (i >= 0) to = i;
        }
        mark();
      };
      const end = (commit) => () => {
        grip.removeEventListener('pointermove', onMove);
        grip.removeEventListener('pointerup', up);
        grip.removeEventListener('pointercancel', cancel);
        document.removeEventListener('keydown', esc);
        if (grip.hasPointerCapture(ev.pointerId)) grip.releasePointerCapture(ev.pointerId);
        li.style.transform = '';
        li.classList.remove('dragging');
        to = commit ? to : from;
        mark();
        st.dragging = false;
        if (to !== from) {
          // Show the new order at once; the server's answer (and /events) confirm it.
          ol.insertBefore(li, to > from ? items[to].nextSibling : items[to]);
          move(t, tasks[to].position);
        } else if (st.stale) { st.stale = false; render(); }
      };
      const up = end(true);
      const cancel = end(false);
      // Escape puts the task back where it was.
      const esc = (e) => { if (e.key === 'Escape') { e.preventDefault(); cancel(); } };
      grip.addEventListener('pointermove', onMove);
      grip.addEventListener('pointerup', up);
      grip.addEventListener('pointercancel', cancel);
      document.addEventListener('keydown', esc);
    };
    clear(ol, tasks.map((t, i) => {
      const li = h('li', { class: t.name === st.task ? 'selected' : null, 'data-task': t.name });
      clear(li,
        h('span.grip', { 'aria-hidden': 'true', title: `Drag to move ${t.name}`, onpointerdown: (ev) => drag(ev, t, li) }, '⠿'),
        h('span.pos', { 'aria-hidden': 'true' }, t.position),
        h('button.pick', { type: 'button', 'aria-current': t.name === st.task ? 'true' : null, onclick: () => { st.task = t.name; load(); } },
          t.name, ' ', h('span.hint', t.plugin), t.enabled ? null : h('span.hint', ' (disabled)')),
        h('button.mv', { type: 'button', 'aria-label': `Move ${t.name} up`, disabled: i === 0, onclick: () => move(t, tasks[i - 1].position) }, '↑'),
        h('button.mv', { type: 'button', 'aria-label': `Move ${t.name} down`, disabled: i === tasks.length - 1, onclick: () => move(t, tasks[i + 1].position) }, '↓'));
      return li;
    }));
    return h('section', { 'aria-label': 'Tasks in order' }, h('h2', 'Tasks'),
      tasks.length ? [ol, h('p.hint#tasklist-hint', 'Drag a task by its grip, or use its arrow buttons, to change the order.')]
        : h('p.hint', 'No tasks yet. ', h('a', { href: `/tasks?job=${enc(st.job)}` }, 'Add a task')),
      h('p', h('a', { href: `/tasks?job=${enc(st.job)}` }, 'Manage tasks')));
  }

  // --- one task, one tab per environment --------------------------------------------------
  function taskDetail() {
    const t = st.wf.tasks.find((x) => x.name === st.task);
    if (!t) return h('section', h('p.hint', 'Select a task.'));
    const envs = st.wf.environments;
    if (!envs.length) return h('section', h('h2', t.name), h('p.hint', 'No environments yet. ', h('a', { href: '/environments' }, 'Create one')));
    const missingIn = (e) => t.variables.filter((v) => v.effective[e] && v.effective[e].missing).length;
    const tabs = envs.map((e) => h('button', {
      type: 'button', role: 'tab', id: `tab-${e}`, 'aria-selected': String(e === st.env), 'aria-controls': `panel-${e}`,
      tabindex: e === st.env ? '0' : '-1', 'data-env': e,
      onclick: () => { st.env = e; render(); load(); },
      onkeydown: (ev) => {
        const i = envs.indexOf(e);
        let j = null;
        if (ev.key === 'ArrowRight') j = (i + 1) % envs.length;
        else if (ev.key === 'ArrowLeft') j = (i - 1 + envs.length) % envs.length;
        else if (ev.key === 'Home') j = 0;
        else if (ev.key === 'End') j = envs.length - 1;
        if (j === null) return;
        ev.preventDefault();
        st.env = envs[j];
        render();
        document.getElementById(`tab-${envs[j]}`).focus();
        load();
      },
    }, e, missingIn(e) ? h('span.badge.missing', { 'aria-hidden': 'true', title: 'required values missing' }, '!') : null));
    const env = st.env;
    const rows = t.variables.map((v) => varRow(t, v, env));
    const missing = missingIn(env);
    return h('section', { 'aria-label': `Task ${t.name}` },
      h('h2', 'Task ', h('span.v', t.name), ' ', h('span.hint', `plugin ${t.plugin}`)),
      h('div', { role: 'tablist', 'aria-label': 'Environments' }, tabs),
      h('div', { role: 'tabpanel', id: `panel-${env}`, 'aria-labelledby': `tab-${env}`, tabindex: '0' },
        missing ? h('div.alert', { 'data-missing': missing }, `${missing} required value${missing > 1 ? 's are' : ' is'} missing in ${env}: a run there would fail its preflight.`) : null,
        h('div.table-wrap', h('table.vals.stackable', { 'aria-label': `Variables of ${t.name} in ${env}` },
          h('thead', h('tr', ['Variable', 'Default', `Override in ${env}`, 'Effective'].map((c) => h('th', { scope: 'col' }, c)))),
          h('tbody', rows)))));
  }

  function varRow(t, v, env) {
    const id = `ov-${t.name}-${env}-${v.name}`;
    const has = v.overrides && env in v.overrides;
    const ov = has ? v.overrides[env] : undefined;
    const eff = v.effective[env] || { value: null, source: 'unset' };
    const path = `/jobs/${enc(st.job)}/tasks/${enc(t.name)}/variables/${enc(v.name)}/overrides/${enc(env)}`;
    const note = h('div', { role: 'status' });
    const input = v.secret
      ? h('input', { id, type: 'password', autocomplete: 'new-password', placeholder: has ? 'set: type a new value' : 'not set', 'aria-describedby': `${id}-state` })
      : h('input', { id, type: 'text', value: has ? inputText(ov) : '', placeholder: has ? '' : 'no override: default applies' });
    input.addEventListener('input', () => { input.dataset.dirty = '1'; });
    const save = async () => {
      if (v.secret && input.value === '') { toast('Type the secret value first'); return; }
      try {
        await api('PUT', path, { value: parseValue(input.value, v.type) }, has && st.ovTags[`${env}/${v.name}`] ? { etag: st.ovTags[`${env}/${v.name}`] } : {});
        delete input.dataset.dirty;
        toast(`Saved ${v.name} for ${env}`);
        load();
      } catch (e) { conflictOrError(e, note, v, env); }
    };
    input.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); save(); } });
    const remove = async () => {
      try {
        await api('DELETE', path, undefined, st.ovTags[`${env}/${v.name}`] ? { etag: st.ovTags[`${env}/${v.name}`] } : {});
        toast(`Removed the override of ${v.name} in ${env}`);
        load();
      } catch (e) { conflictOrError(e, note, v, env); }
    };
    return h('tr', { 'data-var': v.name, class: eff.missing ? 'missing' : null },
      h('td', { 'data-label': 'Variable' }, h('label', { for: id }, h('code', v.name)), ' ', h('span.hint', v.type),
        v.required ? h('span.badge', 'required') : null, v.secret ? h('span.badge', 'secret') : null),
      h('td', { 'data-label': 'Default' }, h('span.v', show(v.value))),
      h('td', { 'data-label': `Override in ${env}` }, h('div.ov', input,
        v.secret ? h('span.badge', { id: `${id}-state` }, has && ov && ov.set ? 'set' : 'not set') : null,
        h('button', { type: 'button', 'aria-label': `Save ${v.name} in ${env}`, onclick: save }, has ? 'Change' : 'Set'),
        has ? h('button.danger', { type: 'button', 'aria-label': `Remove the override of ${v.name} in ${env}`, onclick: remove }, 'Remove') : null), note),
      h('td', { 'data-label': 'Effective', 'data-effective': '' },
        eff.missing ? h('span.badge.missing', 'missing') : h('span.v', { 'data-value': '' }, show(eff.value)), ' ',
        h('span.badge', { class: `badge ${eff.source}`, title: `from: ${eff.source}` }, eff.source === 'override' ? `override (${env})` : eff.source)));
  }

  async function conflictOrError(e, note, v, env) {
    if (e instanceof ApiError && e.status === 412) {
      const before = st.wf.tasks.find((x) => x.name === st.task).variables.find((x) => x.name === v.name);
      await load();
      const now = st.wf.tasks.find((x) => x.name === st.task)?.variables.find((x) => x.name === v.name);
      const was = before && env in (before.overrides || {}) ? show(before.overrides[env]) : 'no override';
      const is = now && env in (now.overrides || {}) ? show(now.overrides[env]) : 'no override';
      const row = document.querySelector(`tr[data-var="${CSS.escape(v.name)}"] [role=status]`);
      clear(row || note, h('div.alert.conflict', { 'data-conflict': '' }, `Not saved: someone changed ${v.name} in ${env} meanwhile (you read ${was}, it is now ${is}). Your change was not applied; look at the new value and try again.`));
    } else clear(note, h('div.alert', e.message));
  }

  // --- the matrix: all variables x all environments -------------------------------------
  function matrix() {
    const envs = st.wf.environments;
    const rows = [];
    for (const t of st.wf.tasks) for (const v of t.variables) {
      const vals = envs.map((e) => JSON.stringify((v.effective[e] || {}).value));
      const differs = new Set(vals).size > 1;
      rows.push(h('tr', h('th', { scope: 'row' }, h('span.hint', t.name, ' · '), h('code', v.name), v.secret ? h('span.badge', 'secret') : null),
        envs.map((e) => {
          const eff = v.effective[e] || { value: null, source: 'unset' };
          return h('td', { class: eff.missing ? 'missing' : differs ? 'differs' : null, 'data-env': e },
            eff.missing ? h('span.badge.missing', 'missing') : h('span.v', show(eff.value)), ' ',
            eff.source === 'override' ? h('span.badge.override', 'override') : null);
        })));
    }
    return h('section', { 'aria-label': 'Matrix' }, h('h2', 'All variables × all environments'),
      h('p.hint', 'Missing required values are red; values that differ between environments are yellow.'),
      h('div.table-wrap', h('table.matrix', { 'aria-label': 'Variables by environment' },
        h('thead', h('tr', h('th', { scope: 'col' }, 'Task · variable'), envs.map((e) => h('th', { scope: 'col' }, e)))), h('tbody', rows))));
  }

  load();
  return {
    dispose: () => { alive = false; },
    onChange: (evs) => {
      if (evs.some((e) => e.kind !== 'run')) load();
      else list(`/runs?job=${enc(st.job)}&limit=8`).then((r) => { st.runs = r; if (st.wf) render(); }).catch(() => {});
    },
  };
}

function jobChooser(main) {
  const area = h('div');
  clear(main, h('h1', 'Workflows'), h('p.hint', 'Pick a job to manage its tasks and their values in every environment.'), area);
  const load = async () => {
    const [jobs, runs] = await Promise.all([list('/jobs'), list('/runs?limit=200').catch(() => [])]);
    if (!jobs.length) { clear(area, h('p', 'No jobs yet. ', h('a', { href: '/jobs' }, 'Create a job'), ', then add tasks to it.')); return; }
    clear(area, h('ul.tasklist', { 'aria-label': 'Jobs' }, jobs.map((j) => h('li',
      h('a.pick', { href: `/workflows/${enc(j.name)}` }, j.name, ' ', h('span.hint', `${(j.tasks || []).length} task(s)${j.description ? ' · ' + j.description : ''}`)),
      recentDots(runs.filter((r) => r.job === j.name).slice(0, 8))))));
  };
  load().catch((e) => clear(area, h('div.alert', e.message)));
  return { onChange: () => load().catch(() => {}) };
}

