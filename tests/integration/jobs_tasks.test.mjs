// Jobs and tasks: CRUD, task creation with plugin variables, ordering, cascades.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  useServer, expectStatus, expectList, expectProblem, expectCreated, expectStored, expectStrongETag,
  openapiCoverageTest, mkEnv, mkJob, mkTask, mkVar, putOverride, varOf,
} from './harness.mjs';

const S = useServer();
const J = '/api/v1/jobs';

async function taskOrder(s, job) {
  const items = expectList(await s.get(`${J}/${job}/tasks`));
  return items.map((t) => [t.name, t.position]);
}

test('the job list starts empty', async () => {
  assert.deepEqual((await S.server.get(J)).json, { items: [], next: null });
});

test('POST /jobs: 201, Location, object with empty tasks', async () => {
  const s = S.server;
  const r = await s.post(J, { name: 'deploy', description: 'Deploy the app' });
  const job = expectCreated(r, `${J}/deploy`);
  expectStored(job, 'job');
  assert.equal(job.name, 'deploy');
  assert.equal(job.description, 'Deploy the app');
  assert.deepEqual(job.tasks, []);
  const g = await s.get(`${J}/deploy`);
  expectStatus(g, 200);
  expectStrongETag(g, 'GET job');
  assert.deepEqual(g.json, job);
  const min = await s.post(J, { name: 'minimal' });
  expectCreated(min, `${J}/minimal`);
  const names = expectList(await s.get(J)).map((j) => j.name).sort();
  assert.deepEqual(names, ['deploy', 'minimal']);
});

test('job names: 422 for bad names, 409 when taken', async () => {
  const s = S.server;
  const before = (await s.get(J)).json;
  for (const bad of ['Deploy', 'a b', '-x', 'x'.repeat(64), '']) expectProblem(await s.post(J, { name: bad }), 422, 'name');
  expectProblem(await s.post(J, { name: 'deploy' }), 409);
  expectProblem(await s.post(J, { description: 'no name' }), 422, 'name');
  assert.deepEqual((await s.get(J)).json, before);
});

test('PATCH job: description and rename', async () => {
  const s = S.server;
  const old = (await s.get(`${J}/minimal`)).json;
  let r = await s.patch(`${J}/minimal`, { description: 'now described' });
  expectStatus(r, 200);
  assert.equal(r.json.description, 'now described');
  assert.ok(r.json.version > old.version);
  r = await s.patch(`${J}/minimal`, { name: 'renamed' });
  expectStatus(r, 200);
  assert.equal(r.json.name, 'renamed');
  assert.equal(r.json.id, old.id);
  expectProblem(await s.get(`${J}/minimal`), 404);
  expectStatus(await s.get(`${J}/renamed`), 200);
  expectProblem(await s.patch(`${J}/renamed`, { name: 'deploy' }), 409);
  expectProblem(await s.patch(`${J}/renamed`, { name: 'Not OK' }), 422, 'name');
  assert.equal((await s.get(`${J}/renamed`)).json.name, 'renamed');
});

test('POST task creates it with one variable per shell schema entry', async () => {
  const s = S.server;
  const r = await s.post(`${J}/deploy/tasks`, { name: 'build', plugin: 'shell' });
  const t = expectCreated(r, `${J}/deploy/tasks/build`);
  expectStored(t, 'task');
  assert.equal(t.name, 'build');
  assert.equal(t.plugin, 'shell');
  assert.equal(t.position, 1);
  assert.equal(t.on_failure, 'stop');
  assert.equal(t.retries, 0);
  assert.equal(t.enabled, true);
  assert.ok('timeout_s' in t, 'task has timeout_s');
  assert.ok(Array.isArray(t.variables));
  assert.deepEqual(t.variables.map((v) => v.name).sort(), ['script', 'shell', 'workdir']);
  const script = varOf(t.variables, 'script');
  assert.equal(script.type, 'text');
  assert.equal(script.required, true);
  assert.equal(script.secret, false);
  assert.equal(script.custom, false);
  assert.equal(script.value, null);
  const sh = varOf(t.variables, 'shell');
  assert.equal(sh.type, 'string');
  assert.equal(sh.value, '/bin/sh', 'schema default');
  assert.equal(sh.custom, false);
  const wd = varOf(t.variables, 'workdir');
  assert.equal(wd.type, 'string');
  for (const v of t.variables) {
    expectStored(v, `variable ${v.name}`);
    assert.deepEqual(v.overrides, {});
  }
  const g = await s.get(`${J}/deploy/tasks/build`);
  expectStatus(g, 200);
  expectStrongETag(g, 'GET task');
  assert.deepEqual(g.json, t);
});

test('POST task with variables sets defaults; options are stored', async () => {
  const s = S.server;
  const r = await s.post(`${J}/deploy/tasks`, {
    name: 'ship', plugin: 'shell', on_failure: 'continue', timeout_s: 30, retries: 2, enabled: false,
    variables: { script: 'echo hi', shell: '/bin/bash' },
  });
  const t = expectCreated(r, `${J}/deploy/tasks/ship`);
  assert.equal(t.position, 2);
  assert.equal(t.on_failure, 'continue');
  assert.equal(t.timeout_s, 30);
  assert.equal(t.retries, 2);
  assert.equal(t.enabled, false);
  assert.equal(varOf(t.variables, 'script').value, 'echo hi');
  assert.equal(varOf(t.variables, 'shell').value, '/bin/bash');
  assert.equal(varOf(t.variables, 'workdir').value ?? null, null);
});

test('POST task rejects unknown variables, wrong types, unknown plugins (422) and creates nothing', async () => {
  const s = S.server;
  const before = (await s.get(`${J}/deploy/tasks`)).json;
  expectProblem(await s.post(`${J}/deploy/tasks`, { name: 'x1', plugin: 'shell', variables: { nope: 'x' } }), 422);
  expectProblem(await s.post(`${J}/deploy/tasks`, { name: 'x2', plugin: 'shell', variables: { script: 5 } }), 422);
  expectProblem(await s.post(`${J}/deploy/tasks`, { name: 'x3', plugin: 'no-such-plugin' }), 422, 'plugin');
  expectProblem(await s.post(`${J}/deploy/tasks`, { name: 'x4' }), 422, 'plugin');
  expectProblem(await s.post(`${J}/deploy/tasks`, { name: 'x5', plugin: 'shell', on_failure: 'maybe' }), 422, 'on_failure');
  expectProblem(await s.post(`${J}/deploy/tasks`, { name: 'x6', plugin: 'shell', retries: 'two' }), 422, 'retries');
  expectProblem(await s.post(`${J}/deploy/tasks`, { name: 'x7', plugin: 'shell', enabled: 'yes' }), 422, 'enabled');
  expectProblem(await s.post(`${J}/deploy/tasks`, { name: 'x8', plugin: 'shell', colour: 'red' }), 422, 'colour');
  expectProblem(await s.post(`${J}/deploy/tasks`, { name: 'Bad Task', plugin: 'shell' }), 422, 'name');
  expectProblem(await s.post(`${J}/nojob/tasks`, { name: 'x9', plugin: 'shell' }), 404);
  assert.deepEqual((await s.get(`${J}/deploy/tasks`)).json, before, 'nothing created');
  for (const n of ['x1', 'x2', 'x3', 'x4', 'x5', 'x6', 'x7', 'x8']) expectProblem(await s.get(`${J}/deploy/tasks/${n}`), 404);
});

test('task names are unique within a job only', async () => {
  const s = S.server;
  expectProblem(await s.post(`${J}/deploy/tasks`, { name: 'build', plugin: 'shell' }), 409);
  const r = await s.post(`${J}/renamed/tasks`, { name: 'build', plugin: 'shell' });
  expectCreated(r, `${J}/renamed/tasks/build`);
  assert.equal(r.json.position, 1);
});

test('the job carries its tasks in order, with their variables', async () => {
  const s = S.server;
  const j = (await s.get(`${J}/deploy`)).json;
  assert.deepEqual(j.tasks.map((t) => [t.name, t.position]), [['build', 1], ['ship', 2]]);
  assert.deepEqual(varOf(j.tasks[1].variables, 'script').value, 'echo hi');
});

test('task positions: insert at P, move, delete keep them 1..N', async () => {
  const s = S.server;
  await mkJob(s, 'order');
  for (const n of ['a', 'b', 'c']) await mkTask(s, 'order', n);
  assert.deepEqual(await taskOrder(s, 'order'), [['a', 1], ['b', 2], ['c', 3]]);
  const d = await mkTask(s, 'order', 'd', { position: 2 });
  assert.equal(d.position, 2);
  assert.deepEqual(await taskOrder(s, 'order'), [['a', 1], ['d', 2], ['b', 3], ['c', 4]]);
  let r = await s.patch(`${J}/order/tasks/c`, { position: 1 });
  expectStatus(r, 200, 'move c to 1');
  assert.equal(r.json.position, 1);
  assert.deepEqual(await taskOrder(s, 'order'), [['c', 1], ['a', 2], ['d', 3], ['b', 4]]);
  r = await s.patch(`${J}/order/tasks/c`, { position: 4 });
  expectStatus(r, 200, 'move c to 4');
  assert.deepEqual(await taskOrder(s, 'order'), [['a', 1], ['d', 2], ['b', 3], ['c', 4]]);
  r = await s.patch(`${J}/order/tasks/a`, { position: 3 });
  expectStatus(r, 200, 'move a to 3');
  assert.deepEqual(await taskOrder(s, 'order'), [['d', 1], ['b', 2], ['a', 3], ['c', 4]]);
  expectStatus(await s.del(`${J}/order/tasks/b`), 204);
  assert.deepEqual(await taskOrder(s, 'order'), [['d', 1], ['a', 2], ['c', 3]]);
  expectStatus(await s.del(`${J}/order/tasks/d`), 204);
  assert.deepEqual(await taskOrder(s, 'order'), [['a', 1], ['c', 2]]);
  const e = await mkTask(s, 'order', 'e', { position: 1 });
  assert.equal(e.position, 1);
  assert.deepEqual(await taskOrder(s, 'order'), [['e', 1], ['a', 2], ['c', 3]]);
  const j = (await s.get(`${J}/order`)).json;
  assert.deepEqual(j.tasks.map((t) => t.name), ['e', 'a', 'c']);
});

test('PATCH task: rename and settings; bad values are 422 and change nothing', async () => {
  const s = S.server;
  const old = (await s.get(`${J}/order/tasks/e`)).json;
  let r = await s.patch(`${J}/order/tasks/e`, { name: 'first', on_failure: 'continue', retries: 3, timeout_s: 60, enabled: false });
  expectStatus(r, 200);
  assert.equal(r.json.name, 'first');
  assert.equal(r.json.id, old.id);
  assert.equal(r.json.on_failure, 'continue');
  assert.equal(r.json.retries, 3);
  assert.equal(r.json.timeout_s, 60);
  assert.equal(r.json.enabled, false);
  assert.equal(r.json.position, 1);
  assert.ok(r.json.version > old.version);
  expectProblem(await s.get(`${J}/order/tasks/e`), 404);
  const cur = (await s.get(`${J}/order/tasks/first`)).json;
  assert.deepEqual(varOf(cur.variables, 'shell').value, '/bin/sh', 'variables survive a rename');
  expectProblem(await s.patch(`${J}/order/tasks/first`, { on_failure: 'sometimes' }), 422, 'on_failure');
  expectProblem(await s.patch(`${J}/order/tasks/first`, { retries: -1 }), 422, 'retries');
  expectProblem(await s.patch(`${J}/order/tasks/first`, { plugin_x: 1 }), 422, 'plugin_x');
  expectProblem(await s.patch(`${J}/order/tasks/first`, { name: 'a' }), 409);
  assert.deepEqual((await s.get(`${J}/order/tasks/first`)).json, cur, 'unchanged');
  r = await s.patch(`${J}/order/tasks/first`, { enabled: true, on_failure: 'stop' });
  expectStatus(r, 200);
  assert.equal(r.json.enabled, true);
});

test('DELETE task', async () => {
  const s = S.server;
  expectStatus(await s.del(`${J}/order/tasks/first`), 204);
  expectProblem(await s.get(`${J}/order/tasks/first`), 404);
  expectProblem(await s.get(`${J}/order/tasks/first/variables`), 404);
  expectProblem(await s.del(`${J}/order/tasks/first`), 404);
  assert.deepEqual(await taskOrder(s, 'order'), [['a', 1], ['c', 2]]);
});

test('DELETE job cascades to tasks, variables and overrides', async () => {
  const s = S.server;
  await mkEnv(s, 'prod');
  await mkJob(s, 'doomed');
  await mkTask(s, 'doomed', 'one', { variables: { script: 'echo one' } });
  await mkVar(s, 'doomed', 'one', 'EXTRA', { value: 'x' });
  await putOverride(s, 'doomed', 'one', 'EXTRA', 'prod', 'y');
  const r = await s.del(`${J}/doomed`);
  expectStatus(r, 204);
  expectProblem(await s.get(`${J}/doomed`), 404);
  expectProblem(await s.get(`${J}/doomed/tasks`), 404);
  expectProblem(await s.get(`${J}/doomed/tasks/one`), 404);
  expectProblem(await s.get(`${J}/doomed/tasks/one/variables/EXTRA`), 404);
  expectProblem(await s.get(`${J}/doomed/tasks/one/variables/EXTRA/overrides/prod`), 404);
  assert.ok(!expectList(await s.get(J)).some((j) => j.name === 'doomed'));
  // a new job with the same name starts empty
  const again = await mkJob(s, 'doomed');
  assert.deepEqual(again.tasks, []);
  expectList(await s.get(`${J}/doomed/tasks`));
  assert.deepEqual(expectList(await s.get(`${J}/doomed/tasks`)), []);
  const t = await mkTask(s, 'doomed', 'one');
  assert.equal(t.variables.find((v) => v.name === 'EXTRA'), undefined, 'no leftover custom variable');
  for (const v of t.variables) assert.deepEqual(v.overrides, {}, 'no leftover overrides');
  expectStatus(await s.del(`${J}/doomed`), 204);
});

openapiCoverageTest(S);
