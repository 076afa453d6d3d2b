// The role x endpoint matrix (DESIGN §7), generated from openapi.json: every
// path and method, for no credentials and for each role. Each operation's
// least role is its `x-dmt-role`. Expected: 401 without credentials (but the
// public operations), 403 when the role is too low, neither when allowed.
// Requests are made so that an allowed one changes nothing (If-Match that
// cannot match, invalid bodies, ids that do not exist).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useServer, expectStatus, mkEnv, mkJob, mkTask, mkVar, putOverride, runToEnd } from './harness.mjs';

const S = useServer();
const ROLES = ['viewer', 'operator', 'editor', 'admin'];
const RANK = { none: 0, viewer: 1, operator: 2, editor: 3, admin: 4 };
const tokens = {};
let runId;

test('setup: fixtures and one user with a token per role', async () => {
  const s = S.server;
  await mkEnv(s, 'dev');
  await mkJob(s, 'app');
  await mkTask(s, 'app', 't', { variables: { script: 'true' } });
  await mkVar(s, 'app', 't', 'V', { value: 'x' });
  await putOverride(s, 'app', 't', 'V', 'dev', 'y');
  runId = (await runToEnd(s, 'app', 'dev')).id;
  for (const role of ROLES) {
    expectStatus(await s.post('/api/v1/users', { name: `u-${role}`, role }), 201, `user ${role}`);
    const t = await s.post('/api/v1/tokens', { name: `t-${role}`, user: `u-${role}` });
    expectStatus(t, 201, `token ${role}`);
    assert.ok(t.json.token.length >= 22, 'at least 128 bits of token');
    tokens[role] = t.json.token;
  }
});

function fill(template) {
  return template
    .replace('{env}', 'dev').replace('{job}', 'app').replace('{task}', 't').replace('{var}', 'V')
    .replace('{plugin}', 'shell').replace('{user}', 'nobody-here').replace('{id}', (m) => m)
    .replace(/\{id\}/, '{id}');
}

/** A request for (path, method) that changes nothing when allowed. */
function request(template, method) {
  let p = fill(template);
  if (p.includes('{id}')) p = p.replace('{id}', template.startsWith('/api/v1/runs/{id}') && method === 'get' ? String(runId) : '999999');
  if (p.endsWith('/plan')) p += '?environment=dev';
  const headers = {};
  let body;
  if (['patch', 'put', 'delete'].includes(method)) headers['If-Match'] = '"never-matches"';
  if (['post', 'put', 'patch'].includes(method)) body = { unknown_field_for_the_matrix: true };
  return { p, headers, body };
}

async function call(s, method, p, body, headers, token) {
  const h = { ...headers };
  if (token) h.Authorization = `Bearer ${token}`;
  if (body !== undefined) h['Content-Type'] = 'application/json';
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), 10000);
  try {
    const r = await fetch(s.url + p, { method: method.toUpperCase(), headers: h, body: body === undefined ? undefined : JSON.stringify(body), signal: ctl.signal });
    const status = r.status;
    // Streams (events, log follow) are not read to their end.
    ctl.abort();
    return status;
  } catch (e) {
    if (e.name === 'AbortError') throw new Error(`${method} ${p} timed out`);
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

test('every operation of openapi.json: 401 / 403 / allowed for each role', async () => {
  const s = S.server;
  const doc = (await s.get('/api/v1/openapi.json')).json;
  const problems = [];
  let checked = 0;
  for (const [template, item] of Object.entries(doc.paths)) {
    for (const method of ['get', 'post', 'put', 'patch', 'delete']) {
      const op = item[method];
      if (!op) continue;
      const need = op['x-dmt-role'];
      if (!(need in RANK)) { problems.push(`${method} ${template}: no x-dmt-role`); continue; }
      const { p, headers, body } = request(template, method);
      const anon = await call(s, method, p, body, headers, null);
      if (need === 'none' ? anon === 401 || anon === 403 : anon !== 401)
        problems.push(`${method.toUpperCase()} ${p} without credentials: ${anon}`);
      for (const role of ROLES) {
        const got = await call(s, method, p, body, headers, tokens[role]);
        const allowed = RANK[role] >= RANK[need];
        if (allowed && (got === 401 || got === 403)) problems.push(`${method.toUpperCase()} ${p} as ${role} (needs ${need}): ${got}`);
        if (!allowed && got !== 403) problems.push(`${method.toUpperCase()} ${p} as ${role} (needs ${need}): ${got}, want 403`);
        checked++;
      }
    }
  }
  assert.ok(checked > 100, `checked ${checked} combinations`);
  assert.deepEqual(problems, []);
});

test('the matrix changed nothing it should not have', async () => {
  const s = S.server;
  expectStatus(await s.get('/api/v1/jobs/app/tasks/t/variables/V'), 200);
  expectStatus(await s.get('/api/v1/environments/dev'), 200);
  const users = (await s.get('/api/v1/users')).json.items.map((u) => u.name).sort();
  assert.deepEqual(users, ['admin', 'u-admin', 'u-editor', 'u-operator', 'u-viewer']);
});
