// Every error class of the API contract, as problem+json, and that bad input
// changes nothing and never gets a 5xx.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  useServer, expectStatus, expectProblem, expectList, openapiCoverageTest, rawRequest, mkEnv, mkJob, mkTask, mkVar,
} from './harness.mjs';

const S = useServer();
const E = '/api/v1/environments';
const J = '/api/v1/jobs';
const V = '/api/v1/jobs/ej/tasks/et/variables';

/** Snapshot of everything this file creates, to prove bad input changes nothing. */
async function snapshot(s) {
  const out = {};
  for (const p of [E, J, `${J}/ej`, `${J}/ej/tasks`, `${V}`, `${V}/EV`, `${E}/dev`]) {
    const r = await s.get(p);
    out[p] = [r.status, r.json];
  }
  return out;
}

test('setup', async () => {
  const s = S.server;
  await mkEnv(s, 'dev');
  await mkEnv(s, 'prod');
  await mkJob(s, 'ej');
  await mkTask(s, 'ej', 'et', { variables: { script: 'echo e' } });
  await mkVar(s, 'ej', 'et', 'EV', { value: 'v' });
});

test('malformed JSON is 400 problem+json and changes nothing', async () => {
  const s = S.server;
  const before = await snapshot(s);
  const bodies = ['{"name": ', '{name: "x"}', "{'name': 'x'}", '{"name": "x",}', 'nul', '{"name": "x"} trailing', '\u0000', '{"name": "\\x41"}'];
  for (const b of bodies) {
    expectProblem(await s.post(E, b), 400);
    expectProblem(await s.post(J, b), 400);
    expectProblem(await s.patch(`${E}/dev`, b), 400);
    expectProblem(await s.patch(`${J}/ej/tasks/et`, b), 400);
    expectProblem(await s.put(`${V}/EV/overrides/prod`, b), 400);
  }
  expectProblem(await s.post(`${J}/ej/tasks`, '{"name": "t", "plugin": "shell"'), 400);
  expectProblem(await s.post(V, '[1,'), 400);
  assert.deepEqual(await snapshot(s), before);
});

test('empty body on POST is an error (400 or 422), not a 5xx', async () => {
  const s = S.server;
  const r = await s.api('POST', E, '', {});
  assert.ok(r.status === 400 || r.status === 422, `empty body: ${r.status} ${r.text}`);
  expectProblem(r, r.status);
});

test('unknown fields are 422 naming the field', async () => {
  const s = S.server;
  const before = await snapshot(s);
  expectProblem(await s.post(E, { name: 'x1', colour: 'red' }), 422, 'colour');
  expectProblem(await s.patch(`${E}/dev`, { colour: 'red' }), 422, 'colour');
  expectProblem(await s.post(J, { name: 'x1', owner: 'me' }), 422, 'owner');
  expectProblem(await s.patch(`${J}/ej`, { owner: 'me' }), 422, 'owner');
  expectProblem(await s.post(`${J}/ej/tasks`, { name: 'x1', plugin: 'shell', foo: 1 }), 422, 'foo');
  expectProblem(await s.patch(`${J}/ej/tasks/et`, { foo: 1 }), 422, 'foo');
  expectProblem(await s.post(V, { name: 'X1', foo: 1 }), 422, 'foo');
  expectProblem(await s.patch(`${V}/EV`, { type: 'int' }), 422, 'type');
  expectProblem(await s.put(`${V}/EV/overrides/prod`, { value: 'x', foo: 1 }), 422, 'foo');
  assert.deepEqual(await snapshot(s), before);
});

test('wrong types are 422 naming the field', async () => {
  const s = S.server;
  const before = await snapshot(s);
  expectProblem(await s.post(E, { name: 5 }), 422, 'name');
  expectProblem(await s.post(E, { name: 'x2', description: 5 }), 422, 'description');
  expectProblem(await s.post(E, { name: 'x2', protected: 'yes' }), 422, 'protected');
  expectProblem(await s.post(E, { name: 'x2', position: 'one' }), 422, 'position');
  expectProblem(await s.post(E, { name: 'x2', grants: 'alice' }), 422, 'grants');
  expectProblem(await s.patch(`${E}/dev`, { position: 1.5 }), 422, 'position');
  expectProblem(await s.patch(`${E}/dev`, { name: null }), 422, 'name');
  expectProblem(await s.post(J, { name: ['x'] }), 422, 'name');
  expectProblem(await s.patch(`${J}/ej`, { description: {} }), 422, 'description');
  expectProblem(await s.post(`${J}/ej/tasks`, { name: 'x2', plugin: 7 }), 422, 'plugin');
  expectProblem(await s.post(`${J}/ej/tasks`, { name: 'x2', plugin: 'shell', timeout_s: '10' }), 422, 'timeout_s');
  expectProblem(await s.post(`${J}/ej/tasks`, { name: 'x2', plugin: 'shell', variables: ['script'] }), 422, 'variables');
  expectProblem(await s.patch(`${J}/ej/tasks/et`, { position: 'first' }), 422, 'position');
  expectProblem(await s.patch(`${J}/ej/tasks/et`, { enabled: 1 }), 422, 'enabled');
  expectProblem(await s.post(V, { name: 'X2', required: 'no' }), 422, 'required');
  expectProblem(await s.patch(`${V}/EV`, { value: 12 }), 422, 'value');
  expectProblem(await s.put(`${V}/EV/overrides/prod`, { value: false }), 422, 'value');
  // a JSON body that is not an object
  for (const b of ['[]', '"name"', '42', 'null', 'true']) {
    const r = await s.post(E, b);
    assert.ok(r.status === 400 || r.status === 422, `POST ${b}: ${r.status} ${r.text}`);
    expectProblem(r, r.status);
  }
  assert.deepEqual(await snapshot(s), before);
});

test('bad names are 422', async () => {
  const s = S.server;
  const before = await snapshot(s);
  expectProblem(await s.post(E, { name: 'UPPER' }), 422, 'name');
  expectProblem(await s.post(J, { name: 'with space' }), 422, 'name');
  expectProblem(await s.post(`${J}/ej/tasks`, { name: 'Task!', plugin: 'shell' }), 422, 'name');
  expectProblem(await s.post(V, { name: '9lives' }), 422, 'name');
  expectProblem(await s.post(V, { name: 'a-b' }), 422, 'name');
  expectProblem(await s.post(E, {}), 422, 'name');
  assert.deepEqual(await snapshot(s), before);
});

test('a name already taken is 409', async () => {
  const s = S.server;
  const before = await snapshot(s);
  expectProblem(await s.post(E, { name: 'dev' }), 409);
  expectProblem(await s.post(J, { name: 'ej' }), 409);
  expectProblem(await s.post(`${J}/ej/tasks`, { name: 'et', plugin: 'shell' }), 409);
  expectProblem(await s.post(V, { name: 'EV' }), 409);
  expectProblem(await s.patch(`${E}/prod`, { name: 'dev' }), 409);
  assert.deepEqual(await snapshot(s), before);
});

test('missing objects and routes are 404', async () => {
  const s = S.server;
  const paths = [
    `${E}/nope`, `${J}/nope`, `${J}/nope/tasks`, `${J}/ej/tasks/nope`, `${J}/ej/tasks/nope/variables`, `${V}/NOPE`,
    `${V}/EV/overrides/nope`, `${V}/EV/overrides/dev`, `${J}/nope/workflow`, `${J}/nope/plan?environment=dev`,
    '/api/v1/plugins/nope', '/api/v1/nothing', '/api/v1/jobs/ej/nothing', '/api/v2/jobs', '/nothing', '/api/v1/jobs/ej/tasks/et/variables/EV/overrides/dev/extra',
  ];
  for (const p of paths) expectProblem(await s.get(p), 404);
  expectProblem(await s.patch(`${E}/nope`, { description: 'x' }), 404);
  expectProblem(await s.del(`${J}/nope`), 404);
  expectProblem(await s.patch(`${V}/NOPE`, { value: 'x' }), 404);
  expectProblem(await s.post(`${J}/nope/tasks/x/variables`, { name: 'A' }), 404);
  expectProblem(await s.put(`${V}/EV/overrides/nope`, { value: 'x' }), 404);
});

test('wrong method is 405 with Allow', async () => {
  const s = S.server;
  const cases = [
    ['DELETE', '/api/v1/plugins', ['GET']],
    ['POST', '/api/v1/plugins/shell', ['GET']],
    ['DELETE', E, ['GET', 'POST']],
    ['PUT', E, ['GET', 'POST']],
    ['POST', `${E}/dev`, ['GET', 'PATCH', 'DELETE']],
    ['PUT', `${J}/ej`, ['GET', 'PATCH', 'DELETE']],
    ['PATCH', J, ['GET', 'POST']],
    ['DELETE', `${J}/ej/tasks`, ['GET', 'POST']],
    ['PUT', `${J}/ej/tasks/et`, ['GET', 'PATCH', 'DELETE']],
    ['PUT', V, ['GET', 'POST']],
    ['POST', `${V}/EV`, ['GET', 'PATCH', 'DELETE']],
    ['POST', `${V}/EV/overrides/prod`, ['GET', 'PUT', 'DELETE']],
    ['PATCH', `${V}/EV/overrides/prod`, ['GET', 'PUT', 'DELETE']],
    ['POST', `${J}/ej/workflow`, ['GET']],
    ['DELETE', `${J}/ej/plan`, ['GET']],
    ['POST', '/api/v1/openapi.json', ['GET']],
  ];
  for (const [m, p, allow] of cases) {
    const body = ['POST', 'PUT', 'PATCH'].includes(m) ? {} : undefined;
    const r = await s.api(m, p, body);
    expectProblem(r, 405);
    const got = (r.headers.get('allow') || '').split(',').map((x) => x.trim().toUpperCase()).filter(Boolean);
    for (const a of allow) assert.ok(got.includes(a), `${m} ${p}: Allow should include ${a}, got ${JSON.stringify(r.headers.get('allow'))}`);
    assert.ok(!got.includes(m), `${m} ${p}: Allow must not list the refused method`);
  }
});

test('a body over 1 MiB is 413 and creates nothing; the server stays up', async () => {
  const s = S.server;
  const before = await snapshot(s);
  const big = Buffer.from(JSON.stringify({ name: 'huge', description: 'x'.repeat(1.5 * 1024 * 1024) }));
  assert.ok(big.length > 1.5 * 1024 * 1024);
  let r = await rawRequest(s, 'POST', E, big);
  expectProblem(r, 413);
  r = await rawRequest(s, 'PUT', `${V}/EV/overrides/prod`, Buffer.from(JSON.stringify({ value: 'y'.repeat(1.5 * 1024 * 1024) })));
  expectProblem(r, 413);
  r = await rawRequest(s, 'PATCH', `${V}/EV`, Buffer.from(JSON.stringify({ value: 'z'.repeat(1.5 * 1024 * 1024) })));
  expectProblem(r, 413);
  expectProblem(await s.get(`${E}/huge`), 404);
  expectStatus(await s.get('/healthz'), 200);
  assert.deepEqual(await snapshot(s), before);
  // a body just under the limit is fine (it is only big, not too big)
  const okBody = { name: 'large', description: 'd'.repeat(900 * 1024) };
  r = await s.post(E, okBody);
  expectStatus(r, 201, 'a 900 KiB body');
  expectStatus(await s.del(`${E}/large`), 204);
});

test('a chunked body over 1 MiB is 413 too', async () => {
  const s = S.server;
  const big = Buffer.from(JSON.stringify({ name: 'chunky', description: 'x'.repeat(1.5 * 1024 * 1024) }));
  const r = await rawRequest(s, 'POST', E, big, { 'Content-Length': undefined, 'Transfer-Encoding': 'chunked' });
  expectProblem(r, 413);
  expectProblem(await s.get(`${E}/chunky`), 404);
});

test('a wrong bearer token is 401; so is no Authorization header at all', async () => {
  const s = S.server;
  const before = await snapshot(s);
  expectProblem(await s.get(E, { Authorization: 'Bearer wrong-token-zzzzzzzzzzzzzzzzzzzzzzz' }), 401);
  expectProblem(await s.post(E, { name: 'sneaky' }, { Authorization: 'Bearer wrong-token-zzzzzzzzzzzzzzzzzzzzzzz' }), 401);
  expectProblem(await s.del(`${E}/dev`, { Authorization: 'Bearer test-admin-token-0123456789abcdeX' }), 401);
  expectProblem(await s.get(E, { Authorization: 'Bearer ' }), 401);
  assert.deepEqual(await snapshot(s), before, 'a 401 changed nothing');
  const r = await s.get(E, { Authorization: null });
  expectProblem(r, 401);
  assert.match(r.headers.get('www-authenticate') || '', /^Bearer/, 'a 401 says how to authenticate');
  expectStatus(await s.get(E), 200, 'the bootstrap token works');
});

test('plan parameter errors: missing environment 422, unknown 404', async () => {
  const s = S.server;
  expectProblem(await s.get(`${J}/ej/plan`), 422);
  expectProblem(await s.get(`${J}/ej/plan?environment=nowhere`), 404);
});

test('odd but well-formed input never gets a 5xx', async () => {
  const s = S.server;
  const deep = '['.repeat(5000) + ']'.repeat(5000);
  const inputs = [
    ['POST', E, `{"name": ${deep}}`],
    ['POST', E, '{"name": "a", "name": "b"}'],
    ['POST', E, '{"name": 1e999}'],
    ['POST', E, '{"name": "\\ud800"}'],
    ['POST', E, Buffer.from([0x7b, 0x22, 0x6e, 0x61, 0x6d, 0x65, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d])],
    ['POST', E, JSON.stringify({ name: 'ok-name', description: 'line\nbreak \u0000 nul' })],
    ['POST', E, JSON.stringify({ name: 'pos', position: 100000 })],
    ['POST', E, JSON.stringify({ name: 'neg', position: -1 })],
    ['POST', E, JSON.stringify({ name: 'zero', position: 0 })],
    ['PATCH', `${E}/dev`, JSON.stringify({ position: 9999999999999 })],
    ['POST', `${J}/ej/tasks`, JSON.stringify({ name: 'big', plugin: 'shell', retries: 1e12, timeout_s: -5 })],
    ['GET', `${J}/ej/plan?environment=%ff%fe`, undefined],
    ['GET', `${E}/%2e%2e`, undefined],
    ['GET', `${E}/${'a'.repeat(5000)}`, undefined],
    ['GET', `${J}/ej/tasks/et/variables/${'%00'}`, undefined],
    ['GET', `${J}/ej/plan?environment=dev&environment=prod`, undefined],
  ];
  for (const [m, p, b] of inputs) {
    const r = await s.api(m, p, b);
    assert.ok(r.status < 500, `${m} ${p} ${String(b).slice(0, 80)}: got ${r.status} ${r.text.slice(0, 300)}`);
  }
  expectStatus(await s.get('/healthz'), 200);
  // clean up whatever odd input created
  for (const e of expectList(await s.get(E))) if (!['dev', 'prod'].includes(e.name)) await s.del(`${E}/${e.name}`);
});

test('a 422 lists every invalid field at once', async () => {
  const s = S.server;
  const p = expectProblem(await s.post(E, { name: 'BAD NAME', protected: 'x', colour: 1 }), 422);
  const fields = p.errors.map((e) => e.field);
  for (const f of ['name', 'protected', 'colour']) assert.ok(fields.some((x) => x === f), `errors name ${f}: ${JSON.stringify(p.errors)}`);
});

openapiCoverageTest(S);
