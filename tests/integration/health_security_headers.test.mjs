// /healthz, security headers on every kind of response, the plugin list and
// the OpenAPI document.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  useServer, expectStatus, expectList, expectProblem, openapiPaths, openapiCoverageTest, mkEnv, mkJob, mkTask, expectStrongETag,
} from './harness.mjs';

const S = useServer();

function expectSecurityHeaders(res, what) {
  const h = res.headers;
  const cc = h.get('cache-control') || '';
  assert.match(cc, /no-cache/, `${what}: Cache-Control should contain no-cache, got ${JSON.stringify(cc)}`);
  assert.equal((h.get('x-content-type-options') || '').toLowerCase(), 'nosniff', `${what}: X-Content-Type-Options`);
  const csp = h.get('content-security-policy') || '';
  assert.match(csp, /frame-ancestors 'none'/, `${what}: Content-Security-Policy should contain frame-ancestors 'none', got ${JSON.stringify(csp)}`);
  assert.ok(h.get('referrer-policy'), `${what}: Referrer-Policy missing`);
}

test('GET /healthz answers 200 without authentication', async () => {
  const s = S.server;
  const r = await s.api('GET', '/healthz', undefined, { Authorization: null });
  expectStatus(r, 200, '/healthz');
  expectSecurityHeaders(r, 'GET /healthz');
});

test('GET /healthz answers 200 with the token too', async () => {
  const r = await S.server.get('/healthz');
  expectStatus(r, 200, '/healthz');
});

test('security headers on every kind of response', async () => {
  const s = S.server;
  const seen = [];
  const check = async (what, promise, status) => {
    const r = await promise;
    expectStatus(r, status, what);
    expectSecurityHeaders(r, what);
    seen.push(what);
    return r;
  };
  await check('GET /api/v1/plugins (200)', s.get('/api/v1/plugins'), 200);
  await check('GET /api/v1/environments (200 list)', s.get('/api/v1/environments'), 200);
  await check('POST /api/v1/environments (201)', s.post('/api/v1/environments', { name: 'hdr' }), 201);
  const g = await check('GET /api/v1/environments/hdr (200 object)', s.get('/api/v1/environments/hdr'), 200);
  const etag = expectStrongETag(g, 'GET environment');
  await check('GET with If-None-Match (304)', s.get('/api/v1/environments/hdr', { 'If-None-Match': etag }), 304);
  await check('PATCH with wrong If-Match (412)', s.patch('/api/v1/environments/hdr', { description: 'x' }, { 'If-Match': '"nope"' }), 412);
  await check('GET /api/v1/openapi.json (200)', s.get('/api/v1/openapi.json'), 200);
  await check('GET unknown route (404)', s.get('/api/v1/no-such-thing'), 404);
  await check('GET missing object (404)', s.get('/api/v1/environments/missing'), 404);
  await check('DELETE /api/v1/plugins (405)', s.del('/api/v1/plugins'), 405);
  await check('malformed JSON (400)', s.post('/api/v1/environments', '{"name": '), 400);
  await check('unknown field (422)', s.post('/api/v1/environments', { name: 'x1', bogus: 1 }), 422);
  await check('name taken (409)', s.post('/api/v1/environments', { name: 'hdr' }), 409);
  await check('wrong token (401)', s.get('/api/v1/environments', { Authorization: 'Bearer wrong-token-0000000000000000000' }), 401);
  await check('DELETE /api/v1/environments/hdr (204)', s.del('/api/v1/environments/hdr'), 204);
  await check('unknown root path (404)', s.get('/definitely-not-here'), 404);
});

test('errors carry application/problem+json', async () => {
  const s = S.server;
  expectProblem(await s.get('/api/v1/no-such-thing'), 404);
  expectProblem(await s.get('/api/v1/jobs/nope'), 404);
});

test('GET /api/v1/plugins lists the built-in shell plugin with its schema', async () => {
  const s = S.server;
  const items = expectList(await s.get('/api/v1/plugins'));
  const shell = items.find((p) => p.name === 'shell');
  assert.ok(shell, `shell plugin in ${JSON.stringify(items.map((p) => p.name))}`);
  const r = await s.get('/api/v1/plugins/shell');
  expectStatus(r, 200, 'GET /api/v1/plugins/shell');
  const p = r.json;
  assert.equal(p.name, 'shell');
  assert.equal(typeof p.version, 'string', 'plugin version');
  assert.ok(Array.isArray(p.variables), `plugin.variables should be an array: ${r.text.slice(0, 500)}`);
  const byName = Object.fromEntries(p.variables.map((v) => [v.name, v]));
  assert.ok(byName.script, 'shell has a script variable');
  assert.equal(byName.script.type, 'text');
  assert.equal(byName.script.required, true);
  assert.ok(byName.shell, 'shell has a shell variable');
  assert.equal(byName.shell.type, 'string');
  assert.equal(byName.shell.default, '/bin/sh');
  assert.ok(byName.workdir, 'shell has a workdir variable');
  assert.equal(byName.workdir.type, 'string');
  // the list entry agrees with the object
  if (Array.isArray(shell.variables)) {
    assert.deepEqual(shell.variables.map((v) => v.name).sort(), p.variables.map((v) => v.name).sort());
  }
  expectProblem(await s.get('/api/v1/plugins/no-such-plugin'), 404);
});

test('GET /api/v1/openapi.json is an OpenAPI 3.1 document covering the API used by the tests', async () => {
  const s = S.server;
  const r = await s.get('/api/v1/openapi.json');
  expectStatus(r, 200, 'openapi.json');
  assert.match(r.headers.get('content-type') || '', /json/);
  const doc = r.json;
  assert.ok(doc && typeof doc === 'object', 'openapi.json is JSON');
  assert.match(String(doc.openapi), /^3\.1\.\d+$/, `openapi version should be 3.1.x, got ${doc.openapi}`);
  assert.ok(doc.info && typeof doc.info.title === 'string', 'info.title');
  const docs = openapiPaths(doc);
  const norm = (p) => p.replace(/\{[^}]+\}/g, '{}');
  const have = new Map();
  for (const d of docs) {
    const k = norm(d.template);
    have.set(k, new Set([...(have.get(k) || []), ...d.methods]));
  }
  const V = '/api/v1/jobs/{}/tasks/{}/variables';
  const need = [
    ['/api/v1/plugins', ['get']],
    ['/api/v1/plugins/{}', ['get']],
    ['/api/v1/environments', ['get', 'post']],
    ['/api/v1/environments/{}', ['get', 'patch', 'delete']],
    ['/api/v1/jobs', ['get', 'post']],
    ['/api/v1/jobs/{}', ['get', 'patch', 'delete']],
    ['/api/v1/jobs/{}/tasks', ['get', 'post']],
    ['/api/v1/jobs/{}/tasks/{}', ['get', 'patch', 'delete']],
    [V, ['get', 'post']],
    [V + '/{}', ['get', 'patch', 'delete']],
    [V + '/{}/overrides/{}', ['get', 'put', 'delete']],
    ['/api/v1/jobs/{}/workflow', ['get']],
    ['/api/v1/jobs/{}/plan', ['get']],
    ['/api/v1/openapi.json', ['get']],
  ];
  const missing = [];
  for (const [p, methods] of need) {
    const m = have.get(p);
    if (!m) { missing.push(p); continue; }
    for (const x of methods) if (!m.has(x)) missing.push(`${x.toUpperCase()} ${p}`);
  }
  assert.deepEqual(missing, [], `paths missing from openapi.json (documented: ${[...have.keys()].join(', ')})`);
});

test('openapi.json documents /healthz', async () => {
  const doc = (await S.server.get('/api/v1/openapi.json')).json;
  assert.ok(Object.keys(doc.paths || {}).some((p) => p === '/healthz' || p.endsWith('/healthz')),
    'DESIGN §3: /openapi.json describes all of the table, /healthz included');
});

test('objects created here appear with headers intact (job, task)', async () => {
  const s = S.server;
  await mkEnv(s, 'dev');
  await mkJob(s, 'hj');
  await mkTask(s, 'hj', 't1');
  for (const p of ['/api/v1/jobs/hj', '/api/v1/jobs/hj/tasks/t1', '/api/v1/jobs/hj/tasks/t1/variables/script', '/api/v1/jobs/hj/workflow', '/api/v1/jobs/hj/plan?environment=dev']) {
    const r = await s.get(p);
    expectStatus(r, 200, p);
    expectSecurityHeaders(r, `GET ${p}`);
  }
});

openapiCoverageTest(S);
