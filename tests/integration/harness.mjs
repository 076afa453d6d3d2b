// Integration test harness: starts the real `dmt serve` (DMT_BIN, normally the
// ASan build) on a free loopback port with a fresh SQLite database in a temp
// directory, and drives it through HTTP (global fetch) and the CLI (DMT_CLI).
//
// Typical use in a *.test.mjs file:
//
//   import { test } from 'node:test';
//   import { useServer } from './harness.mjs';
//   const S = useServer();              // one server for the whole file
//   test('something', async () => {
//     const r = await S.server.api('GET', '/api/v1/environments');
//   });
//
// useServer() registers before/after hooks: the server is started before the
// first test, its log is printed for every failing test, and after the last
// test it is stopped with SIGTERM and must exit with status 0 and without any
// sanitizer report.

import { execFileSync, spawn } from 'node:child_process';
import net from 'node:net';
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { before, after, beforeEach, afterEach, test } from 'node:test';

export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';
export const DMT_BIN = process.env.DMT_BIN || path.resolve(import.meta.dirname ?? '.', '../../build/asan/dmt');
export const DMT_CLI = process.env.DMT_CLI || path.resolve(import.meta.dirname ?? '.', '../../build/dmt');

const STARTUP_MS = 15000;
const STOP_MS = 10000;
const REQUEST_MS = 15000;
const SANITIZER_RE = /(ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|SUMMARY: (Address|Leak|UndefinedBehavior)Sanitizer)/;

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** A free TCP port on 127.0.0.1: bind port 0, read the port, close. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function tail(text, lines = 200) {
  const all = text.split('\n');
  return all.length > lines ? ['... (' + (all.length - lines) + ' lines cut)', ...all.slice(-lines)].join('\n') : text;
}

class Server {
  constructor({ env = {}, args = [], dir } = {}) {
    this.extraEnv = env;
    this.args = args;
    this.dir = dir || fs.mkdtempSync(path.join(os.tmpdir(), 'dmt-it-'));
    this.log = '';          // stdout + stderr of every start, in order
    this.stderr = '';       // stderr of the current process only
    this.proc = null;
    this.exit = null;       // {code, signal} once the current process exited
    this.bodies = [];       // every response body text seen (secret leak checks)
    this.calls = [];        // {method, path, status} of every api() call
    this.token = ADMIN_TOKEN;
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  get dbPath() {
    return path.join(this.dir, 'dmt.db');
  }

  // The --db URL: a SQLite file in this server's directory, or, when
  // DMT_TEST_PG names the socket directory of a throw-away cluster
  // (scripts/pg-test.sh), a database of its own there, created on first use
  // and kept across restarts of this server.
  get dbUrl() {
    const pg = process.env.DMT_TEST_PG;
    if (!pg) return `sqlite:${this.dbPath}`;
    if (!this.pgdb) {
      this.pgdb = `dmt_${path.basename(this.dir).replace(/[^A-Za-z0-9]/g, '_').toLowerCase()}`;
      execFileSync(process.env.DMT_TEST_PG_CREATEDB || 'createdb', ['-h', pg, '-U', 'dmt', this.pgdb]);
    }
    return `postgres://dmt@/${this.pgdb}?host=${pg}&port=5432`;
  }

  note(line) {
    this.log += `\n[harness ${new Date().toISOString()}] ${line}\n`;
  }

  async start(overrides = {}) {
    if (overrides.env) this.extraEnv = overrides.env;
    if (overrides.args) this.args = overrides.args;
    this.port = await freePort();
    const env = {
      PATH: process.env.PATH,
      HOME: this.dir,
      DMT_ADMIN_TOKEN: ADMIN_TOKEN,
    };
    if (process.env.ASAN_OPTIONS !== undefined) env.ASAN_OPTIONS = process.env.ASAN_OPTIONS;
    if (process.env.UBSAN_OPTIONS !== undefined) env.UBSAN_OPTIONS = process.env.UBSAN_OPTIONS;
    if (process.env.LSAN_OPTIONS !== undefined) env.LSAN_OPTIONS = process.env.LSAN_OPTIONS;
    for (const [k, v] of Object.entries(this.extraEnv)) {
      if (v === undefined || v === null) delete env[k];
      else env[k] = String(v);
    }
    const argv = ['serve', '--listen', `127.0.0.1:${this.port}`, '--db', this.dbUrl, ...this.args];
    this.note(`start: ${DMT_BIN} ${argv.join(' ')}`);
    assert.ok(fs.existsSync(DMT_BIN), `DMT_BIN ${DMT_BIN} does not exist`);
    this.stderr = '';
    this.exit = null;
    const proc = spawn(DMT_BIN, argv, { env, cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    proc.stdout.setEncoding('utf8');
    proc.stderr.setEncoding('utf8');
    proc.stdout.on('data', (d) => { this.log += d; });
    proc.stderr.on('data', (d) => { this.log += d; this.stderr += d; });
    this.exited = new Promise((resolve) => {
      proc.on('exit', (code, signal) => {
        this.exit = { code, signal };
        this.note(`exit: code=${code} signal=${signal}`);
        resolve(this.exit);
      });
      proc.on('error', (err) => {
        this.exit = { code: null, signal: null, error: err };
        this.note(`spawn error: ${err.message}`);
        resolve(this.exit);
      });
    });
    const deadline = Date.now() + STARTUP_MS;
    let lastErr = null;
    while (Date.now() < deadline) {
      if (this.exit) {
        throw new Error(`dmt serve exited during startup (${JSON.stringify(this.exit)}); log:\n${tail(this.log)}`);
      }
      try {
        const r = await fetch(`${this.url}/healthz`, { signal: AbortSignal.timeout(1000) });
        await r.arrayBuffer();
        if (r.status === 200) return this;
        lastErr = new Error(`/healthz answered ${r.status}`);
      } catch (e) {
        lastErr = e;
      }
      await sleep(100);
    }
    await this.kill9();
    throw new Error(`dmt serve did not answer /healthz within ${STARTUP_MS} ms (${lastErr && lastErr.message}); log:\n${tail(this.log)}`);
  }

  /** SIGTERM, wait (bounded) for exit; returns {code, signal, sanitizer}. Never throws. */
  async stop() {
    if (!this.proc) return { code: 0, signal: null, sanitizer: false };
    if (!this.exit) {
      this.note('stop: SIGTERM');
      this.proc.kill('SIGTERM');
      let handle;
      const timer = new Promise((r) => { handle = setTimeout(() => r('timeout'), STOP_MS); });
      const res = await Promise.race([this.exited, timer]);
      clearTimeout(handle);
      if (res === 'timeout') {
        this.note(`stop: no exit within ${STOP_MS} ms, SIGKILL`);
        this.proc.kill('SIGKILL');
        await this.exited;
        this.exit.timedOut = true;
      }
    }
    this.proc = null;
    return { ...this.exit, sanitizer: SANITIZER_RE.test(this.stderr) };
  }

  /** stop() and assert a clean exit (status 0, no sanitizer report). */
  async stopClean() {
    const r = await this.stop();
    const problems = [];
    if (r.timedOut) problems.push(`did not exit within ${STOP_MS} ms of SIGTERM`);
    if (r.code !== 0) problems.push(`exit code ${r.code} signal ${r.signal}`);
    if (r.sanitizer) problems.push('sanitizer report in stderr');
    if (problems.length) {
      assert.fail(`dmt serve did not exit cleanly: ${problems.join('; ')}\nlog:\n${tail(this.log, 300)}`);
    }
    return r;
  }

  async kill9() {
    if (!this.proc) return this.exit;
    if (!this.exit) {
      this.note('kill9: SIGKILL');
      this.proc.kill('SIGKILL');
      await this.exited;
    }
    this.proc = null;
    return this.exit;
  }

  /** Clean stop (asserted) then start again on the same database. */
  async restart(overrides = {}) {
    await this.stopClean();
    await this.start(overrides);
    return this;
  }

  /**
   * One HTTP request. body: object (sent as JSON), string/Buffer (sent raw) or undefined.
   * headers: extra headers; set Authorization to null to send none.
   * Returns {status, headers (Headers), json (parsed or null), text}.
   */
  async api(method, p, body, headers = {}) {
    const h = { Authorization: `Bearer ${this.token}` };
    let payload;
    if (body !== undefined && body !== null && typeof body === 'object' && !Buffer.isBuffer(body)) {
      payload = JSON.stringify(body);
      h['Content-Type'] = 'application/json';
    } else if (body !== undefined && body !== null) {
      payload = body;
      h['Content-Type'] = 'application/json';
    }
    for (const [k, v] of Object.entries(headers)) {
      const key = Object.keys(h).find((x) => x.toLowerCase() === k.toLowerCase()) || k;
      if (v === null || v === undefined) delete h[key];
      else h[key] = v;
    }
    let res;
    try {
      res = await fetch(this.url + p, { method, headers: h, body: payload, redirect: 'manual', signal: AbortSignal.timeout(REQUEST_MS) });
    } catch (e) {
      throw new Error(`${method} ${p}: request failed: ${e.message}${e.cause ? ' (' + e.cause.message + ')' : ''}`);
    }
    const text = await res.text();
    let json = null;
    if (text.length) {
      try { json = JSON.parse(text); } catch { json = null; }
    }
    this.bodies.push(text);
    this.calls.push({ method, path: p.split('?')[0], status: res.status });
    return { status: res.status, headers: res.headers, json, text };
  }

  get(p, headers) { return this.api('GET', p, undefined, headers); }
  post(p, body, headers) { return this.api('POST', p, body, headers); }
  patch(p, body, headers) { return this.api('PATCH', p, body, headers); }
  put(p, body, headers) { return this.api('PUT', p, body, headers); }
  del(p, headers) { return this.api('DELETE', p, undefined, headers); }

  /** Run the CLI against this server. */
  cli(args, opts = {}) {
    return runCli(args, { url: this.url, token: this.token, cwd: this.dir, ...opts });
  }

  /** Fail if `secret` ever appeared in a response body (API or CLI output recorded). */
  assertNeverSeen(secret) {
    for (const b of this.bodies) {
      assert.ok(!b.includes(secret), `secret ${JSON.stringify(secret)} appeared in a response body: ${b.slice(0, 2000)}`);
    }
  }
}

export async function startServer(opts = {}) {
  const s = new Server(opts);
  await s.start();
  return s;
}

/** Run DMT_CLI; resolves {code, signal, stdout, stderr}. */
export function runCli(args, { url, token = ADMIN_TOKEN, env = {}, input, cwd, timeoutMs = 15000 } = {}) {
  return new Promise((resolve, reject) => {
    const e = { PATH: process.env.PATH, HOME: cwd || os.tmpdir(), DMT_URL: url, DMT_TOKEN: token };
    for (const [k, v] of Object.entries(env)) {
      if (v === undefined || v === null) delete e[k];
      else e[k] = String(v);
    }
    const proc = spawn(DMT_CLI, args, { env: e, cwd: cwd || os.tmpdir(), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.setEncoding('utf8');
    proc.stderr.setEncoding('utf8');
    proc.stdout.on('data', (d) => { stdout += d; });
    proc.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => { proc.kill('SIGKILL'); }, timeoutMs);
    proc.on('error', (err) => { clearTimeout(timer); reject(err); });
    proc.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    proc.stdin.on('error', () => {});
    if (input !== undefined) proc.stdin.end(input);
    else proc.stdin.end();
  });
}

/**
 * Raw request with node:http, for bodies the server may refuse before reading
 * them all (413): resolves with the response even if writing the body fails.
 */
export function rawRequest(server, method, p, bodyBuf, headers = {}) {
  return new Promise((resolve, reject) => {
    const hdrs = { Authorization: `Bearer ${server.token}`, 'Content-Type': 'application/json', 'Content-Length': bodyBuf.length, ...headers };
    for (const k of Object.keys(hdrs)) if (hdrs[k] === undefined || hdrs[k] === null) delete hdrs[k];
    const req = http.request({ host: '127.0.0.1', port: server.port, method, path: p, headers: hdrs });
    let done = false;
    let writeErr = null;
    const timer = setTimeout(() => { if (!done) { done = true; req.destroy(); reject(new Error(`${method} ${p}: no response within ${REQUEST_MS} ms`)); } }, REQUEST_MS);
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      const finish = () => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        let json = null;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        server.bodies.push(text);
        resolve({ status: res.statusCode, headers: new Headers(Object.entries(res.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : String(v)])), json, text });
      };
      res.on('end', finish);
      res.on('error', finish);
      res.on('close', finish);
    });
    req.on('error', (err) => {
      writeErr = err;
      // The server may answer and close before reading the body: give the
      // response a moment to arrive before reporting the error.
      setTimeout(() => {
        if (!done) { done = true; clearTimeout(timer); reject(new Error(`${method} ${p}: ${writeErr.message}`)); }
      }, 500);
    });
    req.end(bodyBuf);
  });
}

/**
 * One server for the test file: started in before(), log printed for each
 * failing test, stopped (and asserted clean under ASan) in after().
 * Returns a holder whose `.server` is the running Server.
 */
export function useServer(opts = {}) {
  const holder = { server: null };
  let mark = 0;
  before(async () => {
    holder.server = await startServer(opts);
  });
  beforeEach(() => {
    mark = holder.server ? holder.server.log.length : 0;
  });
  afterEach((t) => {
    if (!t.passed && holder.server) {
      process.stderr.write(`\n===== dmt server log during failed test "${t.name}" (dir ${holder.server.dir}) =====\n` +
        tail(holder.server.log.slice(Math.max(0, mark - 2000)), 200) + '\n===== end of server log =====\n');
    }
  });
  after(async () => {
    if (!holder.server) return;
    await holder.server.stopClean();
    fs.rmSync(holder.server.dir, { recursive: true, force: true });
  });
  return holder;
}

// ---------------------------------------------------------------- assertions

/** Assert status; on mismatch show the body. */
export function expectStatus(res, status, what = '') {
  assert.equal(res.status, status, `${what ? what + ': ' : ''}expected HTTP ${status}, got ${res.status}: ${res.text.slice(0, 1500)}`);
}

/** Assert an RFC 9457 problem document with the given status (and, optionally, an errors[] entry naming `field`). */
export function expectProblem(res, status, field) {
  expectStatus(res, status);
  const ct = res.headers.get('content-type') || '';
  assert.match(ct, /^application\/problem\+json/, `Content-Type of a ${status} should be application/problem+json, got ${ct}`);
  assert.ok(res.json && typeof res.json === 'object', `problem body is not JSON: ${res.text.slice(0, 500)}`);
  for (const k of ['type', 'title', 'detail']) {
    assert.equal(typeof res.json[k], 'string', `problem.${k} should be a string: ${res.text.slice(0, 500)}`);
  }
  assert.equal(res.json.status, status, `problem.status should be ${status}: ${res.text.slice(0, 500)}`);
  if (field !== undefined) {
    assert.ok(Array.isArray(res.json.errors), `problem.errors should be an array: ${res.text.slice(0, 500)}`);
    const fields = res.json.errors.map((e) => e.field);
    assert.ok(fields.some((f) => f === field || (typeof f === 'string' && (f.endsWith('.' + field) || f.endsWith('/' + field) || f.startsWith(field + '.') || f.startsWith(field + '/')))),
      `problem.errors should name field ${JSON.stringify(field)}, got ${JSON.stringify(res.json.errors)}`);
    for (const e of res.json.errors) assert.equal(typeof e.message, 'string', `errors[].message should be a string: ${JSON.stringify(e)}`);
  }
  return res.json;
}

export const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

export function expectStored(obj, what = 'object') {
  assert.ok(Number.isInteger(obj.id), `${what}.id should be an integer: ${JSON.stringify(obj)}`);
  assert.ok(Number.isInteger(obj.version) && obj.version >= 1, `${what}.version should be an integer >= 1: ${JSON.stringify(obj)}`);
  assert.match(String(obj.created_at), RFC3339_UTC, `${what}.created_at should be RFC 3339 UTC`);
  assert.match(String(obj.updated_at), RFC3339_UTC, `${what}.updated_at should be RFC 3339 UTC`);
}

/** A 201 with a Location pointing at `expectedPath` (absolute URL or path) and the object in the body. */
export function expectCreated(res, expectedPath) {
  expectStatus(res, 201, 'create');
  const loc = res.headers.get('location');
  assert.ok(loc, 'a 201 must carry a Location header');
  const locPath = loc.startsWith('http') ? new URL(loc).pathname : loc;
  assert.equal(locPath, expectedPath, 'Location header');
  assert.ok(res.json && typeof res.json === 'object', `201 body should be the created object: ${res.text.slice(0, 500)}`);
  return res.json;
}

/** Assert a list shape and return its items. */
export function expectList(res) {
  expectStatus(res, 200, 'list');
  assert.ok(res.json && Array.isArray(res.json.items), `a list is {"items": [...], "next": null}: ${res.text.slice(0, 500)}`);
  assert.ok('next' in res.json, `a list has "next": ${res.text.slice(0, 300)}`);
  assert.equal(res.json.next, null, 'next should be null for a short list');
  return res.json.items;
}

export function isMaskedSecret(v, set) {
  return v !== null && typeof v === 'object' && v.secret === true && (set === undefined || v.set === set);
}

export function expectMasked(v, set = true, what = 'value') {
  assert.ok(isMaskedSecret(v, set), `${what} should read {"secret": true, "set": ${set}}, got ${JSON.stringify(v)}`);
}

/** Normalised ETag check: strong (no W/), quoted. */
export function expectStrongETag(res, what = 'response') {
  const et = res.headers.get('etag');
  assert.ok(et, `${what} should carry an ETag`);
  assert.ok(!et.startsWith('W/'), `${what} ETag should be strong, got ${et}`);
  assert.match(et, /^"[^"]*"$/, `${what} ETag should be a quoted string, got ${et}`);
  return et;
}

// ------------------------------------------------------------- OpenAPI check

function templateMatch(template, concrete) {
  const a = template.split('/');
  const b = concrete.split('/');
  if (a.length !== b.length) return false;
  return a.every((seg, i) => (/^\{[^}]+\}$/.test(seg) ? b[i].length > 0 : seg === b[i]));
}

/** Full paths ("/api/v1/...") documented by the OpenAPI doc, with their methods. */
export function openapiPaths(doc) {
  let prefix = '';
  if (Array.isArray(doc.servers) && doc.servers.length && typeof doc.servers[0].url === 'string') {
    try { prefix = new URL(doc.servers[0].url, 'http://x').pathname.replace(/\/$/, ''); } catch { prefix = ''; }
  }
  const out = [];
  for (const [p, item] of Object.entries(doc.paths || {})) {
    const methods = Object.keys(item).filter((m) => ['get', 'post', 'put', 'patch', 'delete', 'head', 'options'].includes(m));
    out.push({ template: p, methods });
    if (prefix && !p.startsWith(prefix + '/')) out.push({ template: prefix + p, methods });
    if (!p.startsWith('/api/v1/') && !prefix) out.push({ template: '/api/v1' + p, methods });
  }
  return out;
}

/** Adds a last test to the file: every (method, path) the file used successfully is in the OpenAPI doc. */
export function openapiCoverageTest(holder) {
  test('openapi.json documents every API path and method used by this file', async () => {
    const s = holder.server;
    const calls = s.calls.filter((c) => c.path.startsWith('/api/v1/') && c.status !== 404 && c.status !== 405 && c.status !== 401);
    const res = await s.get('/api/v1/openapi.json');
    expectStatus(res, 200, 'openapi.json');
    const docs = openapiPaths(res.json);
    const missing = new Set();
    for (const c of calls) {
      const hit = docs.filter((d) => templateMatch(d.template, c.path));
      if (!hit.length) missing.add(`${c.path} (no path)`);
      else if (!hit.some((d) => d.methods.includes(c.method.toLowerCase()))) missing.add(`${c.method} ${c.path}`);
    }
    assert.deepEqual([...missing], [], 'paths/methods used by the tests but missing from openapi.json');
  });
}

// ------------------------------------------------------------------- helpers

export const enc = encodeURIComponent;

/** Create an environment (asserting 201) and return it. */
export async function mkEnv(s, name, extra = {}) {
  const r = await s.post('/api/v1/environments', { name, ...extra });
  expectStatus(r, 201, `create environment ${name}`);
  return r.json;
}

export async function mkJob(s, name, extra = {}) {
  const r = await s.post('/api/v1/jobs', { name, ...extra });
  expectStatus(r, 201, `create job ${name}`);
  return r.json;
}

export async function mkTask(s, job, name, extra = {}) {
  const r = await s.post(`/api/v1/jobs/${job}/tasks`, { name, plugin: 'shell', ...extra });
  expectStatus(r, 201, `create task ${job}/${name}`);
  return r.json;
}

export async function mkVar(s, job, task, name, extra = {}) {
  const r = await s.post(`/api/v1/jobs/${job}/tasks/${task}/variables`, { name, ...extra });
  expectStatus(r, 201, `create variable ${job}/${task}/${name}`);
  return r.json;
}

export async function putOverride(s, job, task, v, env, value) {
  const r = await s.put(`/api/v1/jobs/${job}/tasks/${task}/variables/${v}/overrides/${env}`, { value });
  assert.ok(r.status === 201 || r.status === 200, `PUT override ${job}/${task}/${v}/${env}: ${r.status} ${r.text.slice(0, 500)}`);
  return r;
}

/** Find a variable by name in an array of variables. */
export function varOf(list, name) {
  assert.ok(Array.isArray(list), `variables should be an array: ${JSON.stringify(list)}`);
  const v = list.find((x) => x.name === name);
  assert.ok(v, `no variable ${name} in ${JSON.stringify(list.map((x) => x.name))}`);
  return v;
}

// ------------------------------------------------------------- run helpers

/** The repository root (tests/integration/../..). */
export const REPO_ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

export const RUN_STATUSES_ENDED = ['succeeded', 'failed', 'canceled', 'interrupted'];

/** POST /jobs/{job}/runs, asserting 201 and its Location; returns the run. */
export async function startRun(s, job, environment, what = '') {
  const r = await s.post(`/api/v1/jobs/${encodeURIComponent(job)}/runs`, { environment });
  expectStatus(r, 201, what || `start a run of ${job} in ${environment}`);
  assert.ok(r.json && Number.isInteger(r.json.id), `the new run has an integer id: ${r.text.slice(0, 500)}`);
  const loc = r.headers.get('location');
  assert.ok(loc, 'POST /runs must answer with a Location');
  assert.equal(loc.startsWith('http') ? new URL(loc).pathname : loc, `/api/v1/runs/${r.json.id}`, 'Location of the new run');
  return r.json;
}

/**
 * Poll GET /api/v1/runs/{id} until its status is one of `statuses` (default:
 * any end state); fails after timeoutMs with the last state seen.
 */
export async function waitForRun(s, id, statuses = RUN_STATUSES_ENDED, timeoutMs = 20000) {
  const want = Array.isArray(statuses) ? statuses : [statuses];
  const deadline = Date.now() + timeoutMs;
  let last = null;
  for (;;) {
    const r = await s.get(`/api/v1/runs/${id}`);
    expectStatus(r, 200, `GET run ${id}`);
    last = r.json;
    if (want.includes(last.status)) return last;
    if (Date.now() > deadline) {
      assert.fail(`run ${id} did not reach ${want.join('|')} within ${timeoutMs} ms; last seen: ${JSON.stringify(last).slice(0, 3000)}`);
    }
    await sleep(50);
  }
}

/** Start a run and wait for it to end; returns the ended run. */
export async function runToEnd(s, job, environment, timeoutMs = 20000) {
  const run = await startRun(s, job, environment);
  return waitForRun(s, run.id, RUN_STATUSES_ENDED, timeoutMs);
}

/** The stored log of a run (GET /runs/{id}/log), asserting 200. */
export async function runLog(s, id) {
  const r = await s.get(`/api/v1/runs/${id}/log`);
  expectStatus(r, 200, `GET log of run ${id}`);
  return r.text;
}

/** A task result of a run by name. */
export function taskOf(run, name) {
  assert.ok(Array.isArray(run.tasks), `run.tasks should be an array: ${JSON.stringify(run).slice(0, 1000)}`);
  const t = run.tasks.find((x) => x.name === name);
  assert.ok(t, `run ${run.id} has no task ${name}: ${JSON.stringify(run.tasks)}`);
  return t;
}

/** True if no process `pid` exists, or it is only a zombie (dead, not reaped). */
export function processGone(pid) {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if (e.code === 'ESRCH') return true;
    if (e.code !== 'EPERM') throw e;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return state === 'Z' || state === 'X';
  } catch {
    return true;
  }
}

/** Wait (bounded) for process pid to be gone; fails naming what it still is. */
export async function waitProcessGone(pid, timeoutMs = 10000, what = 'process') {
  const deadline = Date.now() + timeoutMs;
  while (!processGone(pid)) {
    if (Date.now() > deadline) {
      let info = '';
      try { info = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' '); } catch { /* gone */ }
      assert.fail(`${what} ${pid} (${info}) still runs ${timeoutMs} ms later`);
    }
    await sleep(50);
  }
}

/** Wait (bounded) for a file to exist with non-empty content; returns its trimmed text. */
export async function waitForFile(file, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const t = fs.readFileSync(file, 'utf8');
      if (t.trim().length && t.endsWith('\n')) return t.trim();
    } catch { /* not yet */ }
    if (Date.now() > deadline) assert.fail(`file ${file} did not appear within ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** Read a pid written by a task script (one line). */
export async function waitForPid(file, timeoutMs = 15000) {
  const t = await waitForFile(file, timeoutMs);
  const pid = Number(t);
  assert.ok(Number.isInteger(pid) && pid > 1, `${file} should hold a pid, got ${JSON.stringify(t)}`);
  return pid;
}

/** A job with one shell task per entry of tasks ({name, script, ...task fields}). */
export async function mkShellJob(s, job, tasks) {
  await mkJob(s, job);
  for (const t of tasks) {
    const { name, script, variables = {}, ...rest } = t;
    await mkTask(s, job, name, { ...rest, variables: { script, ...variables } });
  }
}
