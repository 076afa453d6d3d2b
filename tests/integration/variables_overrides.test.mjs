// Variables (schema and custom), overrides per environment, write-only secrets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  useServer, expectStatus, expectList, expectProblem, expectCreated, expectStored, expectStrongETag, expectMasked,
  openapiCoverageTest, mkEnv, mkJob, mkTask, mkVar, varOf,
} from './harness.mjs';

const S = useServer();
const T = '/api/v1/jobs/app/tasks/deploy';
const V = `${T}/variables`;
const SECRET = 'hunter2-S3CRET-value-7f3a9c';
const SECRET_PROD = 'prod-only-S3CRET-9d2e41';
const SECRET_LATE = 'patched-S3CRET-b7c0aa';

test('setup: environments, job, task', async () => {
  const s = S.server;
  for (const e of ['dev', 'staging', 'prod']) await mkEnv(s, e);
  await mkJob(s, 'app');
  await mkTask(s, 'app', 'deploy', { variables: { script: 'echo deploying' } });
});

test('GET variables lists the schema variables with full fields', async () => {
  const s = S.server;
  const items = expectList(await s.get(V));
  assert.deepEqual(items.map((v) => v.name).sort(), ['script', 'shell', 'workdir']);
  for (const v of items) {
    expectStored(v, `variable ${v.name}`);
    for (const k of ['name', 'type', 'required', 'secret', 'custom', 'description', 'value', 'overrides']) {
      assert.ok(k in v, `variable ${v.name} has ${k}: ${JSON.stringify(v)}`);
    }
    assert.equal(v.custom, false);
    assert.equal(v.secret, false);
    assert.deepEqual(v.overrides, {});
  }
  assert.equal(varOf(items, 'script').value, 'echo deploying');
  assert.equal(varOf(items, 'shell').value, '/bin/sh');
  const g = await s.get(`${V}/shell`);
  expectStatus(g, 200);
  expectStrongETag(g, 'GET variable');
  assert.deepEqual(g.json, varOf(items, 'shell'));
  expectProblem(await s.get(`${V}/NOPE`), 404);
});

test('PATCH variable value and description; null unsets', async () => {
  const s = S.server;
  const old = (await s.get(`${V}/shell`)).json;
  let r = await s.patch(`${V}/shell`, { value: '/bin/bash' });
  expectStatus(r, 200);
  assert.equal(r.json.value, '/bin/bash');
  assert.ok(r.json.version > old.version, 'version increases');
  assert.equal((await s.get(`${V}/shell`)).json.value, '/bin/bash');
  r = await s.patch(`${V}/workdir`, { value: '/srv/app', description: 'where to run' });
  expectStatus(r, 200);
  assert.equal(r.json.value, '/srv/app');
  assert.equal(r.json.description, 'where to run');
  r = await s.patch(`${V}/workdir`, { value: null });
  expectStatus(r, 200);
  assert.equal(r.json.value, null, 'value null unsets');
  assert.equal(r.json.description, 'where to run', 'description untouched');
  assert.equal((await s.get(`${V}/workdir`)).json.value, null);
});

test('PATCH variable rejects wrong types, unknown fields, other fields (422) and changes nothing', async () => {
  const s = S.server;
  const before = (await s.get(`${V}/shell`)).json;
  expectProblem(await s.patch(`${V}/shell`, { value: 5 }), 422, 'value');
  expectProblem(await s.patch(`${V}/shell`, { value: ['a'] }), 422, 'value');
  expectProblem(await s.patch(`${V}/shell`, { description: 7 }), 422, 'description');
  expectProblem(await s.patch(`${V}/shell`, { colour: 'red' }), 422, 'colour');
  expectProblem(await s.patch(`${V}/shell`, '{"value": '), 400);
  assert.deepEqual((await s.get(`${V}/shell`)).json, before);
});

test('POST custom variable: 201, Location, default type string', async () => {
  const s = S.server;
  const r = await s.post(V, { name: 'GREETING', value: 'hello', description: 'what to say' });
  const v = expectCreated(r, `${V}/GREETING`);
  expectStored(v, 'custom variable');
  assert.equal(v.name, 'GREETING');
  assert.equal(v.type, 'string');
  assert.equal(v.custom, true);
  assert.equal(v.secret, false);
  assert.equal(v.required, false);
  assert.equal(v.value, 'hello');
  assert.equal(v.description, 'what to say');
  assert.deepEqual(v.overrides, {});
  assert.deepEqual((await s.get(`${V}/GREETING`)).json, v);
  const noval = await s.post(V, { name: '_under_score9' });
  expectCreated(noval, `${V}/_under_score9`);
  assert.equal(noval.json.value, null);
  const typed = await s.post(V, { name: 'COUNT', type: 'int', value: 3, required: true });
  expectCreated(typed, `${V}/COUNT`);
  assert.equal(typed.json.type, 'int');
  assert.equal(typed.json.value, 3);
  assert.equal(typed.json.required, true);
  const b = await s.post(V, { name: 'FLAG', type: 'bool', value: true });
  expectCreated(b, `${V}/FLAG`);
  assert.equal(b.json.value, true);
  const names = expectList(await s.get(V)).map((x) => x.name);
  for (const n of ['script', 'shell', 'workdir', 'GREETING', '_under_score9', 'COUNT', 'FLAG']) assert.ok(names.includes(n), `${n} listed`);
});

test('POST custom variable validation: names 422, taken 409, type-checked values 422', async () => {
  const s = S.server;
  const before = (await s.get(V)).json;
  for (const bad of ['1abc', 'has-dash', 'has space', 'a.b', '', 'X'.repeat(65)]) expectProblem(await s.post(V, { name: bad }), 422, 'name');
  expectProblem(await s.post(V, { name: 'GREETING' }), 409);
  expectProblem(await s.post(V, { name: 'script' }), 409);
  expectProblem(await s.post(V, { name: 'N1', type: 'int', value: 'abc' }), 422, 'value');
  expectProblem(await s.post(V, { name: 'N2', type: 'bool', value: 'yes' }), 422, 'value');
  expectProblem(await s.post(V, { name: 'N3', value: 12 }), 422, 'value');
  expectProblem(await s.post(V, { name: 'N4', type: 'no-such-type' }), 422, 'type');
  expectProblem(await s.post(V, { name: 'N5', secret: 'yes' }), 422, 'secret');
  expectProblem(await s.post(V, { name: 'N6', bogus: true }), 422, 'bogus');
  assert.deepEqual((await s.get(V)).json, before, 'nothing created');
  // the longest valid variable name
  const long = 'A' + 'b'.repeat(63);
  expectStatus(await s.post(V, { name: long }), 201, '64-char variable name');
  expectStatus(await s.del(`${V}/${long}`), 204);
});

test('variable names are unique per task only', async () => {
  const s = S.server;
  await mkTask(s, 'app', 'other');
  const r = await mkVar(s, 'app', 'other', 'GREETING', { value: 'other hello' });
  assert.equal(r.value, 'other hello');
  assert.equal((await s.get(`${V}/GREETING`)).json.value, 'hello');
});

test('DELETE: custom variables only (schema variable is 422)', async () => {
  const s = S.server;
  const before = (await s.get(`${V}/workdir`)).json;
  expectProblem(await s.del(`${V}/workdir`), 422);
  assert.deepEqual((await s.get(`${V}/workdir`)).json, before, 'schema variable still there');
  expectStatus(await s.del(`${V}/_under_score9`), 204);
  expectProblem(await s.get(`${V}/_under_score9`), 404);
  expectProblem(await s.del(`${V}/_under_score9`), 404);
});

test('overrides: PUT 201 then 200, GET, variable shows them, DELETE', async () => {
  const s = S.server;
  const O = `${V}/GREETING/overrides`;
  expectProblem(await s.get(`${O}/prod`), 404, undefined);
  let r = await s.put(`${O}/prod`, { value: 'hello prod' });
  expectCreated(r, `${O}/prod`);
  assert.equal(r.json.value, 'hello prod');
  r = await s.get(`${O}/prod`);
  expectStatus(r, 200);
  assert.equal(r.json.value, 'hello prod');
  expectStrongETag(r, 'GET override');
  r = await s.put(`${O}/prod`, { value: 'hello prod 2' });
  expectStatus(r, 200, 'replacing an override');
  assert.equal(r.json.value, 'hello prod 2');
  r = await s.put(`${O}/staging`, { value: 'hello staging' });
  expectStatus(r, 201);
  const v = (await s.get(`${V}/GREETING`)).json;
  assert.deepEqual(v.overrides, { prod: 'hello prod 2', staging: 'hello staging' });
  assert.equal(v.value, 'hello', 'default untouched');
  const task = (await s.get(T)).json;
  assert.deepEqual(varOf(task.variables, 'GREETING').overrides, { prod: 'hello prod 2', staging: 'hello staging' });
  expectStatus(await s.del(`${O}/staging`), 204);
  expectProblem(await s.get(`${O}/staging`), 404);
  expectProblem(await s.del(`${O}/staging`), 404);
  assert.deepEqual((await s.get(`${V}/GREETING`)).json.overrides, { prod: 'hello prod 2' });
  // overrides on schema variables too
  r = await s.put(`${V}/workdir/overrides/dev`, { value: '/tmp/dev' });
  expectStatus(r, 201);
  assert.deepEqual((await s.get(`${V}/workdir`)).json.overrides, { dev: '/tmp/dev' });
  // an override may be null? not specified; a typed override
  r = await s.put(`${V}/COUNT/overrides/prod`, { value: 10 });
  expectStatus(r, 201);
  assert.equal(r.json.value, 10);
});

test('override errors: unknown env 404, wrong type 422, unknown field 422, malformed 400; nothing changes', async () => {
  const s = S.server;
  const before = (await s.get(`${V}/GREETING`)).json;
  expectProblem(await s.put(`${V}/GREETING/overrides/nowhere`, { value: 'x' }), 404);
  expectProblem(await s.get(`${V}/GREETING/overrides/nowhere`), 404);
  expectProblem(await s.put(`${V}/GREETING/overrides/dev`, { value: 42 }), 422, 'value');
  expectProblem(await s.put(`${V}/COUNT/overrides/dev`, { value: 'ten' }), 422, 'value');
  expectProblem(await s.put(`${V}/FLAG/overrides/dev`, { value: 'true' }), 422, 'value');
  expectProblem(await s.put(`${V}/GREETING/overrides/dev`, { value: 'x', extra: 1 }), 422, 'extra');
  expectProblem(await s.put(`${V}/GREETING/overrides/dev`, { val: 'x' }), 422);
  expectProblem(await s.put(`${V}/GREETING/overrides/dev`, '{"value"'), 400);
  expectProblem(await s.put(`${V}/NOPE/overrides/dev`, { value: 'x' }), 404);
  expectProblem(await s.put(`/api/v1/jobs/app/tasks/nope/variables/GREETING/overrides/dev`, { value: 'x' }), 404);
  assert.deepEqual((await s.get(`${V}/GREETING`)).json, before);
  expectProblem(await s.get(`${V}/GREETING/overrides/dev`), 404);
});

test('secrets: write-only everywhere', async () => {
  const s = S.server;
  let r = await s.post(V, { name: 'API_KEY', secret: true, value: SECRET, description: 'the key' });
  const v = expectCreated(r, `${V}/API_KEY`);
  assert.equal(v.secret, true);
  assert.equal(v.custom, true);
  expectMasked(v.value, true, 'created secret value');
  r = await s.put(`${V}/API_KEY/overrides/prod`, { value: SECRET_PROD });
  expectStatus(r, 201);
  expectMasked(r.json.value, true, 'override PUT response value');
  r = await s.get(`${V}/API_KEY/overrides/prod`);
  expectStatus(r, 200);
  expectMasked(r.json.value, true, 'override GET value');
  const got = (await s.get(`${V}/API_KEY`)).json;
  expectMasked(got.value, true, 'variable GET value');
  expectMasked(got.overrides.prod, true, 'variable GET overrides.prod');
  assert.deepEqual(Object.keys(got.overrides), ['prod']);
  expectMasked(varOf(expectList(await s.get(V)), 'API_KEY').value, true, 'variable list value');
  const task = (await s.get(T)).json;
  expectMasked(varOf(task.variables, 'API_KEY').value, true, 'task value');
  expectMasked(varOf(task.variables, 'API_KEY').overrides.prod, true, 'task override');
  const job = (await s.get('/api/v1/jobs/app')).json;
  const jt = job.tasks.find((t) => t.name === 'deploy');
  expectMasked(varOf(jt.variables, 'API_KEY').value, true, 'job value');
  const wf = (await s.get('/api/v1/jobs/app/workflow')).json;
  const wv = varOf(wf.tasks.find((t) => t.name === 'deploy').variables, 'API_KEY');
  expectMasked(wv.value, true, 'workflow value');
  expectMasked(wv.overrides.prod, true, 'workflow override');
  for (const e of ['dev', 'staging', 'prod']) {
    assert.ok(wv.effective[e], `workflow effective.${e}`);
    expectMasked(wv.effective[e].value ?? wv.effective[e], true, `workflow effective.${e}`);
  }
  for (const e of ['dev', 'prod']) {
    const plan = (await s.get(`/api/v1/jobs/app/plan?environment=${e}`)).json;
    const pv = plan.tasks.find((t) => t.name === 'deploy').variables.API_KEY;
    assert.ok(pv, `plan for ${e} has API_KEY`);
    assert.equal(pv.secret, true, `plan ${e}: API_KEY reads {"secret": true, ...}: ${JSON.stringify(pv)}`);
    assert.equal(pv.set, true, `plan ${e}: API_KEY set`);
    assert.equal(pv.source, e === 'prod' ? 'override' : 'default');
  }
  // a plain variable referring to the secret must not reveal it in the plan
  expectStatus(await s.post(V, { name: 'USES_KEY', value: 'key=${{ vars.API_KEY }}' }), 201);
  for (const e of ['dev', 'prod']) {
    const pr = await s.get(`/api/v1/jobs/app/plan?environment=${e}`);
    expectStatus(pr, 200);
    assert.ok(!pr.text.includes(SECRET) && !pr.text.includes(SECRET_PROD), `plan ${e} reveals the secret through \${{ vars.API_KEY }}`);
  }
  const wf2 = await s.get('/api/v1/jobs/app/workflow');
  assert.ok(!wf2.text.includes(SECRET) && !wf2.text.includes(SECRET_PROD), 'workflow reveals the secret through a reference');
  expectStatus(await s.del(`${V}/USES_KEY`), 204);
  // PATCH a new secret value, reply masked
  r = await s.patch(`${V}/API_KEY`, { value: SECRET_LATE });
  expectStatus(r, 200);
  expectMasked(r.json.value, true, 'PATCH response');
  // a secret without a value reads set: false
  r = await s.post(V, { name: 'EMPTY_SECRET', secret: true });
  expectStatus(r, 201);
  expectMasked(r.json.value, false, 'unset secret');
  // unsetting with null
  r = await s.patch(`${V}/EMPTY_SECRET`, { value: null });
  expectStatus(r, 200);
  expectMasked(r.json.value, false, 'still unset');
  // the override can be removed
  expectStatus(await s.del(`${V}/API_KEY/overrides/prod`), 204);
  assert.deepEqual((await s.get(`${V}/API_KEY`)).json.overrides, {});
  s.assertNeverSeen(SECRET);
  s.assertNeverSeen(SECRET_PROD);
  s.assertNeverSeen(SECRET_LATE);
});

test('secret values never reach the log or any body so far', async () => {
  const s = S.server;
  s.assertNeverSeen(SECRET);
  s.assertNeverSeen(SECRET_PROD);
  s.assertNeverSeen(SECRET_LATE);
  for (const x of [SECRET, SECRET_PROD, SECRET_LATE]) assert.ok(!s.log.includes(x), 'secret in the server log');
});

openapiCoverageTest(S);
