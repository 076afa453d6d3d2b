// api.js - the one way the UI talks to the server: /api/v1 only.
// Tracks the session's CSRF token (sent on writes once logged in), turns
// problem+json answers into ApiError, and reports 401 to whoever listens.

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
  get fieldErrors() { return Array.isArray(this.problem.errors) ? this.problem.errors : []; }
}

export const session = {
  csrf: sessionStorage.getItem('dmt.csrf'),
  user: sessionStorage.getItem('dmt.user'),
  onUnauthorized: () => {},
  set(user, csrf) {
    this.user = user; this.csrf = csrf;
    if (user) { sessionStorage.setItem('dmt.user', user); sessionStorage.setItem('dmt.csrf', csrf || ''); }
    else { sessionStorage.removeItem('dmt.user'); sessionStorage.removeItem('dmt.csrf'); }
  },
};

export const enc = encodeURIComponent;

/**
 * One request. opts.etag sends If-Match. Resolves {data, etag, status,
 * location}; rejects with ApiError for any non-2xx answer.
 */
export async function api(method, path, body, opts = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (opts.etag) headers['If-Match'] = opts.etag;
  if (method !== 'GET' && session.csrf) headers['X-CSRF-Token'] = session.csrf;
  const res = await fetch('/api/v1' + path, {
    method, headers, credentials: 'same-origin', cache: 'no-cache',
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let data = null;
  if (text) { try { data = JSON.parse(text); } catch { data = text; } }
  if (res.status === 401 && path !== '/session') session.onUnauthorized();
  // A cookie session whose CSRF token this tab does not know: log in again.
  if (res.status === 403 && method !== 'GET' && /csrf/i.test(text)) session.onUnauthorized();
  if (!res.ok) throw new ApiError(res.status, data && typeof data === 'object' ? data : null);
  return { data, etag: res.headers.get('ETag'), status: res.status, location: res.headers.get('Location') };
}

export const get = (p) => api('GET', p);
export async function list(p) { return (await api('GET', p)).data.items; }

// --- the change feed ------------------------------------------------------

const listeners = new Set();
let es = null;

/** fn(event) for every change; event.kind === 'reset' means reload all. */
export function onChange(fn) { listeners.add(fn); return () => listeners.delete(fn); }

function emit(ev) { for (const fn of [...listeners]) { try { fn(ev); } catch (e) { console.warn(e); } } }

/** Opens /api/v1/events (once); status(text) reports the connection. */
export function connectEvents(status) {
  if (es) return;
  es = new EventSource('/api/v1/events');
  es.addEventListener('open', () => { status('live'); emit({ kind: 'reset', reason: 'connected' }); });
  es.addEventListener('change', (e) => emit(JSON.parse(e.data)));
  es.addEventListener('reset', () => emit({ kind: 'reset', reason: 'server' }));
  es.addEventListener('error', () => status('reconnecting…'));
}

export function disconnectEvents() { if (es) { es.close(); es = null; } }
