// Environments: CRUD, ordering, renames, validation, cascade to overrides.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  useServer, expectStatus, expectList, expectProblem, expectCreated, expectStored, expectStrongETag,
  openapiCoverageTest, mkEnv, mkJob, mkTask, putOverride,
} from './harness.mjs';

const S = useServer();
const E = '/api/v1/environments';

async function order(s) {
  const items = expectList(await s.get(E));
  return items.map((e) => [e.name, e.position]);
}

test('the environment list starts empty', async () => {
  const r = await S.server.get(E);
  const items = expectList(r);
  assert.deepEqual(items, []);
  assert.deepEqual(r.json, { items: [], next: null });
});

test('POST creates an environment: 201, Location, full object', async () => {
  const s = S.server;
  const r = await s.post(E, { name: 'dev', description: 'Development' });
  const env = expectCreated(r, `${E}/dev`);
  expectStored(env, 'environment');
  assert.equal(env.name, 'dev');
  assert.equal(env.description, 'Development');
  assert.equal(env.position, 1);
  assert.equal(env.protected, false);
  assert.deepEqual(env.grants, []);
  const g = await s.get(`${E}/dev`);
  expectStatus(g, 200, 'GET created env');
  expectStrongETag(g, 'GET environment');
  assert.deepEqual(g.json, env, 'GET returns what POST returned');
});

test('positions are 1-based in order of creation', async () => {
  const s = S.server;
  const st = await mkEnv(s, 'staging');
  assert.equal(st.position, 2);
  const pr = await mkEnv(s, 'prod', { protected: true });
  assert.equal(pr.position, 3);
  assert.equal(pr.protected, true);
  assert.equal(typeof pr.description === 'string' || pr.description === null, true, 'description is a string or null when not given');
  assert.deepEqual(await order(s), [['dev', 1], ['staging', 2], ['prod', 3]]);
});

test('creating at position P pushes the others down', async () => {
  const s = S.server;
  const before = (await s.get(`${E}/staging`)).json;
  const qa = await mkEnv(s, 'qa', { position: 2 });
  assert.equal(qa.position, 2);
  assert.deepEqual(await order(s), [['dev', 1], ['qa', 2], ['staging', 3], ['prod', 4]]);
  const after = (await s.get(`${E}/staging`)).json;
  assert.equal(after.position, 3);
  assert.equal(after.id, before.id);
  const first = await mkEnv(s, 'sandbox', { position: 1 });
  assert.equal(first.position, 1);
  assert.deepEqual(await order(s), [['sandbox', 1], ['dev', 2], ['qa', 3], ['staging', 4], ['prod', 5]]);
});

test('PATCH position moves an environment and renumbers the others', async () => {
  const s = S.server;
  const v0 = (await s.get(`${E}/prod`)).json.version;
  const r = await s.patch(`${E}/prod`, { position: 1 });
  expectStatus(r, 200, 'PATCH position');
  assert.equal(r.json.position, 1);
  assert.ok(r.json.version > v0, 'version increases on change');
  assert.deepEqual(await order(s), [['prod', 1], ['sandbox', 2], ['dev', 3], ['qa', 4], ['staging', 5]]);
  expectStatus(await s.patch(`${E}/prod`, { position: 5 }), 200, 'move to the end');
  assert.deepEqual(await order(s), [['sandbox', 1], ['dev', 2], ['qa', 3], ['staging', 4], ['prod', 5]]);
  expectStatus(await s.patch(`${E}/sandbox`, { position: 3 }), 200, 'move down');
  assert.deepEqual(await order(s), [['dev', 1], ['qa', 2], ['sandbox', 3], ['staging', 4], ['prod', 5]]);
});

test('PATCH renames, keeping id; the old name is gone', async () => {
  const s = S.server;
  const old = (await s.get(`${E}/qa`)).json;
  const r = await s.patch(`${E}/qa`, { name: 'test' });
  expectStatus(r, 200, 'rename');
  assert.equal(r.json.name, 'test');
  assert.equal(r.json.id, old.id);
  assert.ok(r.json.version > old.version);
  expectProblem(await s.get(`${E}/qa`), 404);
  const g = await s.get(`${E}/test`);
  expectStatus(g, 200);
  assert.equal(g.json.id, old.id);
  assert.equal(g.json.position, old.position);
});

test('PATCH description and protected', async () => {
  const s = S.server;
  const old = (await s.get(`${E}/staging`)).json;
  const r = await s.patch(`${E}/staging`, { description: 'Pre-production', protected: true });
  expectStatus(r, 200);
  assert.equal(r.json.description, 'Pre-production');
  assert.equal(r.json.protected, true);
  assert.equal(r.json.position, old.position);
  assert.ok(r.json.version > old.version);
  const g = (await s.get(`${E}/staging`)).json;
  assert.equal(g.description, 'Pre-production');
  assert.equal(g.protected, true);
  assert.equal(g.version, r.json.version);
  expectStatus(await s.patch(`${E}/staging`, { protected: false }), 200);
  assert.equal((await s.get(`${E}/staging`)).json.protected, false);
});

test('grants is an array and can be given empty', async () => {
  const s = S.server;
  const e = await mkEnv(s, 'grants-empty', { grants: [] });
  assert.deepEqual(e.grants, []);
  expectStatus(await s.del(`${E}/grants-empty`), 204);
});

test('rename to a taken name is 409 and changes nothing', async () => {
  const s = S.server;
  const before = (await s.get(`${E}/test`)).json;
  expectProblem(await s.patch(`${E}/test`, { name: 'dev' }), 409);
  assert.deepEqual((await s.get(`${E}/test`)).json, before);
});

test('names: slug rules (422 naming the field), 409 when taken', async () => {
  const s = S.server;
  const listBefore = (await s.get(E)).json;
  for (const bad of ['Dev', 'has space', '-lead', '_lead', '.lead', '', 'a'.repeat(64), 'ünï', 'a/b']) {
    expectProblem(await s.post(E, { name: bad }), 422, 'name');
  }
  expectProblem(await s.post(E, { name: 'dev' }), 409);
  expectProblem(await s.patch(`${E}/dev`, { name: 'Bad Name' }), 422, 'name');
  assert.deepEqual((await s.get(E)).json, listBefore, 'bad input changes nothing');
  // the longest valid name and the other allowed characters
  const long = 'a' + 'b'.repeat(62);
  expectStatus(await s.post(E, { name: long }), 201, '63-char name');
  expectStatus(await s.post(E, { name: '0x_y.z-1' }), 201, 'digits, _ . -');
  expectStatus(await s.del(`${E}/${long}`), 204);
  expectStatus(await s.del(`${E}/0x_y.z-1`), 204);
});

test('DELETE removes the environment and renumbers the rest', async () => {
  const s = S.server;
  assert.deepEqual(await order(s), [['dev', 1], ['test', 2], ['sandbox', 3], ['staging', 4], ['prod', 5]]);
  const r = await s.del(`${E}/sandbox`);
  expectStatus(r, 204, 'DELETE');
  assert.equal(r.text, '', '204 has no body');
  expectProblem(await s.get(`${E}/sandbox`), 404);
  assert.deepEqual(await order(s), [['dev', 1], ['test', 2], ['staging', 3], ['prod', 4]]);
  expectProblem(await s.del(`${E}/sandbox`), 404);
});

test('DELETE removes the environment\'s overrides', async () => {
  const s = S.server;
  await mkJob(s, 'envjob');
  await mkTask(s, 'envjob', 'step', { variables: { script: 'echo ${{ env.name }}' } });
  const V = '/api/v1/jobs/envjob/tasks/step/variables/workdir';
  await putOverride(s, 'envjob', 'step', 'workdir', 'test', '/tmp/test');
  await putOverride(s, 'envjob', 'step', 'workdir', 'prod', '/tmp/prod');
  let v = (await s.get(V)).json;
  assert.deepEqual(v.overrides, { test: '/tmp/test', prod: '/tmp/prod' });
  expectStatus(await s.del(`${E}/test`), 204);
  v = (await s.get(V)).json;
  assert.deepEqual(v.overrides, { prod: '/tmp/prod' }, 'the deleted environment\'s override is gone');
  const wf = (await s.get('/api/v1/jobs/envjob/workflow')).json;
  assert.deepEqual(wf.environments, ['dev', 'staging', 'prod']);
  // re-creating an environment with the same name does not resurrect the override
  await mkEnv(s, 'test');
  v = (await s.get(V)).json;
  assert.deepEqual(v.overrides, { prod: '/tmp/prod' });
  expectProblem(await s.get(`${V}/overrides/test`), 404);
});

test('parallel creation keeps names unique and positions 1..N', async () => {
  const s = S.server;
  const before = expectList(await s.get(E)).length;
  const names = Array.from({ length: 12 }, (_, i) => `par${i}`);
  const rs = await Promise.all([...names, ...names.slice(0, 4)].map((name) => s.post(E, { name })));
  const codes = rs.map((r) => r.status);
  assert.equal(codes.filter((c) => c === 201).length, 12, `12 created: ${codes}`);
  assert.equal(codes.filter((c) => c === 409).length, 4, `4 duplicates refused: ${codes}`);
  const items = expectList(await s.get(E));
  assert.equal(items.length, before + 12);
  assert.deepEqual(items.map((e) => e.position), items.map((_, i) => i + 1), 'positions 1..N without gaps or duplicates');
  await Promise.all(names.map((n) => s.del(`${E}/${n}`)));
  const after = expectList(await s.get(E));
  assert.equal(after.length, before);
  assert.deepEqual(after.map((e) => e.position), after.map((_, i) => i + 1));
});

openapiCoverageTest(S);
