// pages.js - Environments, Jobs, Tasks, Variables and Plugins: list,
// create, edit (If-Match; a 412 is explained), delete.
import { api, list, enc } from './api.js';
import { h, clear, form, show, toast, parseValue, inputText, explainConflict, isSecret, go, tagBadges } from './ui.js';

/** The ETag of an object read from a list ("KIND-ID-VERSION", §3). */
export const etagOf = (kind, o) => `"${kind}-${o.id}-${o.version}"`;

/**
 * A list page: cfg = {title, intro, load() -> items, columns: [[label,
 * item => node]], newForm(done) -> form, editForm(item, done) -> form|Promise,
 * remove(item), filters}. Returns the page handle (onChange reloads the list).
 */
function listPage(main, cfg) {
  const table = h('div.table-wrap');
  const formArea = h('div');
  const closeForm = () => { clear(formArea); };
  const newBtn = cfg.newForm ? h('button.primary', { type: 'button', onclick: () => {
    const f = cfg.newForm(() => { closeForm(); load(); });
    clear(formArea, h('section.panel', h('h2', `New ${cfg.noun}`), f));
    f.querySelector('input,select,textarea')?.focus();
  } }, `New ${cfg.noun}`) : null;
  clear(main, h('h1', cfg.title), cfg.intro ? h('p.hint', cfg.intro) : null, cfg.filters || null,
    h('div.row', newBtn), formArea, table);
  let seq = 0;
  async function load() {
    const my = ++seq;
    let items;
    try { items = await cfg.load(); } catch (e) { if (my === seq) clear(table, h('div.alert', e.message)); return; }
    if (my !== seq) return;
    if (!items) { clear(table); return; }
    if (!items.length) { clear(table, h('p.hint', `No ${cfg.noun}s yet.`)); return; }
    clear(table, h('table.stackable', { 'aria-label': cfg.title },
      h('thead', h('tr', cfg.columns.map(([l]) => h('th', { scope: 'col' }, l)), h('th', { scope: 'col' }, 'Actions'))),
      h('tbody', items.map((it) => h('tr', { 'data-name': it.name },
        cfg.columns.map(([l, fn]) => h('td', { 'data-label': l }, fn(it))),
        h('td', { 'data-label': 'Actions' }, h('div.row',
          cfg.editForm ? h('button', { type: 'button', 'aria-label': `Edit ${it.name}`, onclick: async () => {
            try {
              const f = await cfg.editForm(it, () => { closeForm(); load(); }, formArea);
              clear(formArea, h('section.panel', h('h2', `Edit ${cfg.noun} ${it.name}`), f));
              f.querySelector('input:not([type=hidden]),select,textarea')?.focus();
            } catch (e) { toast(e.message); }
          } }, 'Edit') : null,
          cfg.remove && (!cfg.canRemove || cfg.canRemove(it)) ? h('button.danger', { type: 'button', 'aria-label': `Delete ${it.name}`, onclick: async () => {
            if (!confirm(`Delete ${cfg.noun} ${it.name}?`)) return;
            try { await cfg.remove(it); toast(`Deleted ${it.name}`); load(); } catch (e) { toast(`Not deleted: ${e.message}`); }
          } }, 'Delete') : null,
          cfg.more ? cfg.more(it) : null)))))));
  }
  load();
  return { onChange: () => load(), reload: load };
}

/**
 * An edit form bound to path: reads the object (and its ETag), sends
 * PATCH with If-Match, and on 412 shows what changed.
 */
async function editForm(path, fields, toBody, done, keys) {
  const { data, etag } = await api('GET', path);
  const build = (obj, tag) => {
    const f = form({
      label: 'Edit',
      fields: fields(obj),
      submit: async (v) => { await api('PATCH', path, toBody(v, obj), { etag: tag }); toast('Saved'); done(); },
      onCancel: done,
      onConflict: (err, alert) => explainConflict(alert, path, obj, toBody(f.values(), obj), keys, (cur, curTag) => {
        const nf = build(cur, curTag);
        f.replaceWith(nf);
      }),
    });
    return f;
  };
  return build(data, etag);
}

// --- environments ------------------------------------------------------------

/** "gpu, linux x86" typed in the form -> ["gpu", "linux", "x86"]; the server checks each. */
export function parseTags(text) {
  return String(text || '').split(/[,\s]+/).map((t) => t.trim()).filter((t) => t !== '');
}

const TAGS_FIELD = { name: 'worker_tags', label: 'Worker tags', placeholder: 'e.g. linux, gpu',
  help: 'Separated by commas (or spaces). Runs of this environment wait for a worker that has all of them; empty: any worker.' };

const envBody = (v) => ({ ...v, worker_tags: parseTags(v.worker_tags) });

export function envPage(main) {
  return listPage(main, {
    title: 'Environments', noun: 'environment',
    intro: 'The targets of runs, in the order of the workflow tabs. Protected environments ask for confirmation before a run. '
      + 'An environment with worker tags is run only by a worker that has every one of them.',
    load: () => list('/environments'),
    columns: [['Position', (e) => e.position], ['Name', (e) => e.name], ['Description', (e) => e.description],
      ['Protected', (e) => (e.protected ? h('span.badge.protected', 'protected') : 'no')],
      ['Worker tags', (e) => tagBadges(e.worker_tags, 'any worker')]],
    newForm: (done) => form({
      label: 'New environment',
      fields: [{ name: 'name', label: 'Name', required: true }, { name: 'description', label: 'Description' },
        { name: 'position', label: 'Position', type: 'number', help: 'Empty: last.' }, { name: 'protected', label: 'Protected', type: 'checkbox' },
        { ...TAGS_FIELD }],
      submitLabel: 'Create environment',
      submit: async (v) => { await api('POST', '/environments', envBody(v)); toast(`Created environment ${v.name}`); done(); },
      onCancel: done,
    }),
    editForm: (e, done) => editForm(`/environments/${enc(e.name)}`,
      (o) => [{ name: 'description', label: 'Description', value: o.description }, { name: 'position', label: 'Position', type: 'number', value: o.position },
        { name: 'protected', label: 'Protected', type: 'checkbox', value: o.protected },
        { ...TAGS_FIELD, value: (o.worker_tags || []).join(', ') }],
      envBody, done, ['description', 'position', 'protected', 'worker_tags']),
    remove: (e) => api('DELETE', `/environments/${enc(e.name)}`, undefined, { etag: etagOf('env', e) }),
  });
}

// --- jobs --------------------------------------------------------------------------

export function recentDots(runs) {
  return h('span.dots', { role: 'img', 'aria-label': runs.length ? `recent runs: ${runs.map((r) => `#${r.id} ${r.status}`).join(', ')}` : 'no runs yet' },
    runs.map((r) => h('a', { href: `/runs/${r.id}`, title: `#${r.id} ${r.environment} ${r.status}`, 'aria-hidden': 'true', tabindex: '-1' }, h('span.dot', { class: `dot ${r.status}` }))));
}

export function jobPage(main) {
  let runsByJob = {};
  return listPage(main, {
    title: 'Jobs', noun: 'job',
    intro: 'A job is an ordered collection of tasks; open it in the workflow area to manage its tasks and values.',
    load: async () => {
      const [jobs, runs] = await Promise.all([list('/jobs'), list('/runs?limit=200').catch(() => [])]);
      runsByJob = {};
      for (const r of runs) (runsByJob[r.job] ||= []).length < 8 && runsByJob[r.job].push(r);
      return jobs;
    },
    columns: [['Name', (j) => h('a', { href: `/workflows/${enc(j.name)}` }, j.name)], ['Description', (j) => j.description],
      ['Tasks', (j) => (j.tasks || []).length], ['Recent runs', (j) => recentDots(runsByJob[j.name] || [])]],
    newForm: (done) => form({
      label: 'New job',
      fields: [{ name: 'name', label: 'Name', required: true }, { name: 'description', label: 'Description' }],
      submitLabel: 'Create job',
      submit: async (v) => { await api('POST', '/jobs', v); toast(`Created job ${v.name}`); done(); },
      onCancel: done,
    }),
    editForm: (j, done) => editForm(`/jobs/${enc(j.name)}`, (o) => [{ name: 'description', label: 'Description', value: o.description }],
      (v) => v, done, ['description']),
    remove: (j) => api('DELETE', `/jobs/${enc(j.name)}`, undefined, { etag: etagOf('job', j) }),
    more: (j) => h('a.button', { href: `/tasks?job=${enc(j.name)}` }, 'Tasks'),
  });
}

// --- tasks ----------------------------------------------------------------------------

/** A select of the jobs that navigates to base?job=NAME. */
async function jobPicker(base, selected, extraQuery = '') {
  const jobs = await list('/jobs');
  const sel = h('select', { id: 'pick-job', onchange: () => { go(`${base}?job=${enc(sel.value)}${extraQuery}`); } },
    h('option', { value: '' }, '— choose a job —'), jobs.map((j) => h('option', { value: j.name, selected: j.name === selected }, j.name)));
  return h('div.filters', h('label', { for: 'pick-job' }, 'Job', sel));
}

function pluginVarFields(f, plugin) {
  clear(f.extra, plugin && plugin.variables.length ? h('fieldset', h('legend', `Variables of ${plugin.name}`),
    plugin.variables.map((v) => {
      const id = `pv-${v.name}`;
      const name = `variables.${v.name}`;
      return h('div.field', h('label', { for: id }, v.name, v.required ? ' *' : '', ' ', h('span.hint', `(${v.type}${v.secret ? ', secret' : ''})`)),
        v.type === 'text' ? h('textarea', { id, name, 'data-var': v.name, 'data-type': v.type, placeholder: v.default ?? '' })
          : h('input', { id, name, 'data-var': v.name, 'data-type': v.type, type: v.secret ? 'password' : 'text', placeholder: v.default === null ? '' : inputText(v.default), autocomplete: v.secret ? 'new-password' : 'off' }),
        v.description ? h('span.hint', v.description) : null,
        h('p.field-error', { 'data-error-for': name }));
    })) : null);
}

export function taskPage(main, q) {
  const job = q.get('job') || '';
  const filters = h('div');
  jobPicker('/tasks', job).then((p) => clear(filters, p)).catch(() => {});
  let plugins = [];
  const page = listPage(main, {
    title: 'Tasks', noun: 'task', filters,
    intro: 'Each task runs one plugin. Creating a task creates its variables from the plugin\'s schema.',
    load: async () => {
      if (!job) return null;
      plugins = await list('/plugins');
      return (await api('GET', `/jobs/${enc(job)}/tasks`)).data.items;
    },
    columns: [['#', (t) => t.position], ['Name', (t) => h('a', { href: `/workflows/${enc(job)}/${enc(t.name)}` }, t.name)], ['Plugin', (t) => t.plugin],
      ['On failure', (t) => t.on_failure], ['Timeout', (t) => (t.timeout_s ? `${t.timeout_s} s` : 'none')], ['Retries', (t) => t.retries], ['Enabled', (t) => (t.enabled ? 'yes' : 'no')]],
    newForm: job ? (done) => {
      const f = form({
        label: 'New task',
        fields: [{ name: 'name', label: 'Name', required: true },
          { name: 'plugin', label: 'Plugin', type: 'select', options: [['', '— choose a plugin —'], ...plugins.filter((p) => !p.error).map((p) => [p.name, `${p.name} — ${p.summary}`])], required: true,
            onChange: (v, fo) => pluginVarFields(fo, plugins.find((p) => p.name === v)) },
          { name: 'position', label: 'Position', type: 'number', help: 'Empty: last.' },
          { name: 'on_failure', label: 'On failure', type: 'select', options: ['stop', 'continue'] },
          { name: 'timeout_s', label: 'Timeout (seconds, 0: none)', type: 'number' },
          { name: 'retries', label: 'Retries', type: 'number' }],
        submitLabel: 'Create task',
        submit: async (v, fo) => {
          const variables = {};
          for (const el of fo.extra.querySelectorAll('[data-var]')) if (el.value !== '') variables[el.dataset.var] = parseValue(el.value, el.dataset.type);
          const body = { name: v.name, plugin: v.plugin, on_failure: v.on_failure, variables };
          for (const k of ['position', 'timeout_s', 'retries']) if (v[k] !== undefined) body[k] = v[k];
          await api('POST', `/jobs/${enc(job)}/tasks`, body);
          toast(`Created task ${v.name}`);
          done();
        },
        onCancel: done,
      });
      return f;
    } : null,
    editForm: (t, done) => editForm(`/jobs/${enc(job)}/tasks/${enc(t.name)}`,
      (o) => [{ name: 'name', label: 'Name', value: o.name }, { name: 'position', label: 'Position', type: 'number', value: o.position },
        { name: 'on_failure', label: 'On failure', type: 'select', options: ['stop', 'continue'], value: o.on_failure },
        { name: 'timeout_s', label: 'Timeout (seconds)', type: 'number', value: o.timeout_s }, { name: 'retries', label: 'Retries', type: 'number', value: o.retries },
        { name: 'enabled', label: 'Enabled', type: 'checkbox', value: o.enabled }],
      (v, o) => { const b = { ...v }; if (b.name === o.name) delete b.name; return b; }, done, ['name', 'position', 'on_failure', 'timeout_s', 'retries', 'enabled']),
    remove: (t) => api('DELETE', `/jobs/${enc(job)}/tasks/${enc(t.name)}`, undefined, { etag: etagOf('task', t) }),
    more: (t) => h('a.button', { href: `/variables?job=${enc(job)}&task=${enc(t.name)}` }, 'Variables'),
  });
  return page;
}

// --- variables ---------------------------------------------------------------------------

export function varPage(main, q) {
  const job = q.get('job') || '';
  const task = q.get('task') || '';
  const filters = h('div.row');
  (async () => {
    const p = await jobPicker('/variables', job);
    if (job) {
      const tasks = (await api('GET', `/jobs/${enc(job)}/tasks`)).data.items;
      const sel = h('select', { id: 'pick-task', onchange: () => { go(`/variables?job=${enc(job)}&task=${enc(sel.value)}`); } },
        h('option', { value: '' }, '— choose a task —'), tasks.map((t) => h('option', { value: t.name, selected: t.name === task }, t.name)));
      p.append(h('label', { for: 'pick-task' }, 'Task', sel));
    }
    clear(filters, p);
  })().catch(() => {});
  const base = `/jobs/${enc(job)}/tasks/${enc(task)}/variables`;
  return listPage(main, {
    title: 'Variables', noun: 'variable', filters,
    intro: 'A task\'s variables: their defaults here; per-environment overrides in the workflow area. Secrets are never shown.',
    load: async () => (job && task ? (await api('GET', base)).data.items : null),
    columns: [['Name', (v) => h('code', v.name)], ['Type', (v) => v.type],
      ['Flags', (v) => [v.required ? h('span.badge', 'required') : null, ' ', v.secret ? h('span.badge', 'secret') : null, ' ', v.custom ? h('span.badge', 'custom') : null]],
      ['Default', (v) => h('span.v', show(v.value))],
      ['Overrides', (v) => Object.entries(v.overrides || {}).map(([e, x]) => h('div', h('span.badge.override', e), ' ', h('span.v', show(x))))]],
    newForm: job && task ? (done) => form({
      label: 'New variable',
      fields: [{ name: 'name', label: 'Name', required: true, help: 'Letters, digits and _; exported to shell scripts.' },
        { name: 'type', label: 'Type', type: 'select', options: ['string', 'text', 'int', 'bool', 'json'] },
        { name: 'value', label: 'Default value' }, { name: 'description', label: 'Description' },
        { name: 'required', label: 'Required', type: 'checkbox' }, { name: 'secret', label: 'Secret', type: 'checkbox' }],
      submitLabel: 'Create variable',
      submit: async (v) => {
        const body = { name: v.name, type: v.type, required: v.required, secret: v.secret, description: v.description };
        if (v.value !== '') body.value = parseValue(v.value, v.type);
        await api('POST', base, body);
        toast(`Created variable ${v.name}`);
        done();
      },
      onCancel: done,
    }) : null,
    editForm: (v, done) => editForm(`${base}/${enc(v.name)}`,
      (o) => [{ name: 'value', label: `Default of ${o.name}`, type: o.secret ? 'password' : o.type === 'text' ? 'textarea' : 'text', value: inputText(o.value),
        placeholder: isSecret(o.value) ? (o.value.set ? 'set: type to replace' : 'not set') : '', autocomplete: o.secret ? 'new-password' : undefined },
      { name: 'description', label: 'Description', value: o.description }],
      (x, o) => { const b = { description: x.description }; if (!(o.secret && x.value === '')) b.value = x.value === '' ? null : parseValue(x.value, o.type); return b; },
      done, ['value', 'description']),
    canRemove: (v) => v.custom,
    remove: (v) => api('DELETE', `${base}/${enc(v.name)}`, undefined, { etag: etagOf('var', v) }),
  });
}

// --- plugins ----------------------------------------------------------------------------

export function pluginPage(main) {
  const area = h('div');
  clear(main, h('h1', 'Plugins'), h('p.hint', 'Task types and the variables a task of each type gets.'), area);
  list('/plugins').then((ps) => clear(area, ps.map((p) => h('section.panel', { 'aria-labelledby': `pl-${p.name}` },
    h('h2', { id: `pl-${p.name}` }, p.name, ' ', h('span.hint', `${p.version} · ${p.kind}`)),
    p.summary ? h('p', p.summary) : null,
    p.error ? h('div.alert', 'Failed to load: ', p.error) : null,
    h('div.table-wrap', h('table.stackable', { 'aria-label': `Variables of ${p.name}` },
      h('thead', h('tr', ['Variable', 'Type', 'Required', 'Secret', 'Default', 'Description'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', p.variables.map((v) => h('tr',
        h('td', { 'data-label': 'Variable' }, h('code', v.name)), h('td', { 'data-label': 'Type' }, v.type, v.values ? ` (${v.values.join(', ')})` : ''),
        h('td', { 'data-label': 'Required' }, v.required ? 'yes' : 'no'), h('td', { 'data-label': 'Secret' }, v.secret ? 'yes' : 'no'),
        h('td', { 'data-label': 'Default' }, h('span.v', show(v.default))), h('td', { 'data-label': 'Description' }, v.description)))))))))).catch((e) => clear(area, h('div.alert', e.message)));
  return null;
}
