// ui.js - small DOM helpers, value formatting, forms with server errors.
import { ApiError, api } from './api.js';

/** h('tag.class#id', {attrs, on*: handler}, ...children) */
export function h(spec, attrs, ...kids) {
  const m = /^([a-z0-9]+)?((?:[.#][\w-]+)*)$/i.exec(spec);
  const el = document.createElement((m && m[1]) || 'div');
  if (m && m[2]) for (const part of m[2].match(/[.#][\w-]+/g)) {
    if (part[0] === '.') el.classList.add(part.slice(1)); else el.id = part.slice(1);
  }
  if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) { kids.unshift(attrs); attrs = null; }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  add(el, kids);
  return el;
}
function add(el, kids) {
  for (const k of kids.flat(Infinity)) {
    if (k === null || k === undefined || k === false) continue;
    el.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
}

/**
 * Goes to a page of the UI (a real path: "/workflows/deploy?env=prod")
 * through the History API; replace: no new history entry. app.js routes
 * on the 'dmt:navigate' event (and on popstate).
 */
export function go(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', path); else history.pushState(null, '', path);
  window.dispatchEvent(new Event('dmt:navigate'));
}

/** Changes the address shown (filters, selected tab) without routing. */
export function setUrl(path) {
  if (location.pathname + location.search !== path) history.replaceState(null, '', path);
}

export function clear(el, ...kids) { el.replaceChildren(); add(el, kids); return el; }

let uid = 0;
export const newId = (p = 'f') => `${p}-${++uid}`;

export function toast(msg) {
  const t = document.getElementById('toast');
  t.textContent = msg; t.classList.add('show');
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => t.classList.remove('show'), 3500);
}

export function isSecret(v) { return v !== null && typeof v === 'object' && v.secret === true; }

/** A value for people: secrets as set / not set, null as unset. */
export function show(v) {
  if (isSecret(v)) return v.set ? 'set (secret)' : 'not set (secret)';
  if (v === null || v === undefined) return '(unset)';
  if (typeof v === 'string') return v === '' ? '""' : v;
  return JSON.stringify(v);
}

/** Text typed in an input, as the JSON value of a variable of type. */
export function parseValue(text, type) {
  if (type === 'int') { const n = Number(text); if (text.trim() !== '' && Number.isInteger(n)) return n; return text; }
  if (type === 'bool') { if (text === 'true') return true; if (text === 'false') return false; return text; }
  if (type === 'json') { try { return JSON.parse(text); } catch { return text; } }
  return text;
}
export function inputText(v) {
  if (v === null || v === undefined || isSecret(v)) return '';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

export function fmtTime(t) { return t ? new Date(t).toLocaleString() : '—'; }
export function duration(a, b) {
  if (!a) return null;
  const ms = (b ? new Date(b) : new Date()) - new Date(a);
  return ms < 0 ? 0 : ms;
}
export function fmtDur(ms) {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
}
export function statusEl(s) { return h('span.status', { class: `status ${s}` }, s); }

/** Worker tags as badges ("chips"); no tags: the text `empty`, muted. */
export function tagBadges(tags, empty = 'none') {
  if (!tags || !tags.length) return h('span.hint', empty);
  return h('span.tags', tags.map((t) => h('span.badge.tag', { 'data-tag': t }, t)));
}

/**
 * A form that shows the server's answer: fields [{name, label, type, value,
 * options, required, help, autocomplete}], submit(values) -> Promise. A 422
 * puts each errors[].field message next to its field; a 412 calls
 * onConflict(err) (or shows the problem); anything else shows the problem.
 */
export function form({ fields, submitLabel = 'Save', submit, onCancel, onConflict, label }) {
  const f = h('form.stack', { novalidate: true, 'aria-label': label });
  const alert = h('div', { role: 'alert' });
  const inputs = {};
  for (const fd of fields) {
    const id = newId(fd.name);
    const errId = id + '-err';
    let input;
    if (fd.type === 'textarea') input = h('textarea', { id, name: fd.name, value: fd.value ?? '' });
    else if (fd.type === 'select') input = h('select', { id, name: fd.name }, fd.options.map((o) => {
      const [v, t] = Array.isArray(o) ? o : [o, o];
      return h('option', { value: v, selected: String(fd.value ?? '') === String(v) }, t);
    }));
    else if (fd.type === 'checkbox') input = h('input', { id, name: fd.name, type: 'checkbox', checked: !!fd.value });
    else input = h('input', { id, name: fd.name, type: fd.type || 'text', value: fd.value ?? '', autocomplete: fd.autocomplete, placeholder: fd.placeholder });
    if (fd.required) input.setAttribute('aria-required', 'true');
    input.setAttribute('aria-describedby', errId);
    inputs[fd.name] = input;
    const lab = h('label', { for: id }, fd.label || fd.name, fd.required ? ' *' : '');
    const err = h('p.field-error', { id: errId, 'data-error-for': fd.name });
    const help = fd.help ? h('span.hint', fd.help) : null;
    f.append(fd.type === 'checkbox' ? h('div.field.check', input, lab, err) : h('div.field', lab, input, help, err));
    if (fd.onChange) input.addEventListener('change', () => fd.onChange(input.value, f));
  }
  const extra = h('div.extra');
  f.append(extra, alert, h('div.row', h('button.primary', { type: 'submit' }, submitLabel),
    onCancel ? h('button', { type: 'button', onclick: onCancel }, 'Cancel') : null));
  f.inputs = inputs;
  f.extra = extra;
  f.values = () => {
    const out = {};
    for (const fd of fields) {
      const el = inputs[fd.name];
      if (!el) continue;
      out[fd.name] = fd.type === 'checkbox' ? el.checked : fd.type === 'number' ? (el.value === '' ? undefined : Number(el.value)) : el.value;
    }
    return out;
  };
  f.showErrors = (err) => showFormError(f, alert, err, onConflict);
  f.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(f, alert);
    const btn = f.querySelector('button[type=submit]');
    btn.disabled = true;
    try { await submit(f.values(), f); } catch (err) { f.showErrors(err); } finally { btn.disabled = false; }
  });
  return f;
}

export function clearErrors(f, alert) {
  for (const p of f.querySelectorAll('.field-error')) p.textContent = '';
  for (const i of f.querySelectorAll('[aria-invalid]')) i.removeAttribute('aria-invalid');
  if (alert) alert.replaceChildren();
}

function showFormError(f, alert, err, onConflict) {
  if (!(err instanceof ApiError)) { clear(alert, h('div.alert', String(err && err.message || err))); return; }
  if (err.status === 412 && onConflict) { onConflict(err, alert); return; }
  const unplaced = [];
  for (const fe of err.fieldErrors) {
    const name = String(fe.field || '');
    const key = [name, name.split(/[./]/).pop(), name.split(/[./]/)[0]].find((k) => f.querySelector(`[data-error-for="${CSS.escape(k)}"]`));
    if (key) {
      const p = f.querySelector(`[data-error-for="${CSS.escape(key)}"]`);
      p.textContent = (p.textContent ? p.textContent + ' ' : '') + fe.message;
      const inp = f.elements.namedItem(key);
      if (inp && inp.setAttribute) inp.setAttribute('aria-invalid', 'true');
    } else unplaced.push(`${name}: ${fe.message}`);
  }
  clear(alert, h('div.alert', h('strong', `${err.status}: `), err.message, unplaced.length ? h('ul', unplaced.map((u) => h('li', u))) : null));
  const first = f.querySelector('[aria-invalid="true"]');
  if (first) first.focus();
}

/**
 * The 412 explanation: reads the object again and lists what changed
 * between what the form was opened with (before) and now, next to what
 * was typed (mine). reload(current, etag) re-opens the form on the new
 * version.
 */
export async function explainConflict(alert, path, before, mine, keys, reload) {
  let cur;
  try { cur = await api('GET', path); } catch (e) { clear(alert, h('div.alert', 'This object was changed or deleted by someone else: ', e.message)); return; }
  const rows = keys.filter((k) => JSON.stringify(before[k]) !== JSON.stringify(cur.data[k])).map((k) =>
    h('tr', h('th', { scope: 'row' }, k), h('td.v', show(before[k])), h('td.v', show(cur.data[k])), h('td.v', show(mine[k]))));
  clear(alert, h('div.alert.conflict', { 'data-conflict': '' },
    h('strong', 'Not saved: someone else changed this since you opened it.'),
    rows.length ? h('table', h('thead', h('tr', h('th', 'field'), h('th', 'you read'), h('th', 'now on the server'), h('th', 'yours'))), h('tbody', rows))
      : h('p', 'Its other fields changed.'),
    h('div.row', h('button', { type: 'button', onclick: () => reload(cur.data, cur.etag) }, 'Load the current version'))));
}
