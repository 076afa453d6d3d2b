// Workers and worker tags through the API, against the real `dmt serve` on
// SQLite: GET /workers lists the server's own executor (kind serve) with the
// tags given by --tags; environments carry worker_tags (validated, 422 naming
// the field, nothing changed); a run needing a tag the executor lacks stays
// queued saying why, and runs once the server is restarted with that tag;
// a rerun takes the environment's tags of today.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  useServer, expectStatus, expectProblem, expectList, expectCreated, openapiCoverageTest,
  mkEnv, mkShellJob, startRun, waitForRun, sleep, RFC3339_UTC,
} from './harness.mjs';

const DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'dmt-it-workers-'));
const WORK = path.join(DIR, 'work');
fs.mkdirSync(WORK);
const base = ['--data-dir', path.join(DIR, 'data'), '--concurrency', '4', '--lease', '9'];
// "linux,ci": the server sorts and keeps them as ["ci", "linux"].
const S = useServer({ dir: DIR, args: [...base, '--tags', 'linux,ci'] });
const E = '/api/v1/environments';

/** The name the server's executor goes by: host:pid. */
function selfName() {
  return `${os.hostname()}:${S.server.proc.pid}`;
}

async function workers(s, headers) {
  return expectList(await s.get('/api/v1/workers', headers));
}

async function userToken(s, name, role) {
  expectStatus(await s.post('/api/v1/users', { name, role }), 201, `create user ${name}`);
  const t = await s.post('/api/v1/tokens', { name: `${name}-token`, user: name });
  expectStatus(t, 201, `token of ${name}`);
  return t.json.token;
}

/** A run that must stay queued: another run that may go (in `okEnv`),
 * started after it, ends first, so the executor had its chance. */
async function assertStaysQueued(s, id, job, okEnv) {
  const other = await startRun(s, job, okEnv);
  const end = await waitForRun(s, other.id);
  assert.equal(end.status, 'succeeded', `the run in ${okEnv} runs: ${JSON.stringify(end)}`);
  await sleep(300);
  const r = await s.get(`/api/v1/runs/${id}`);
  expectStatus(r, 200, `GET run ${id}`);
  assert.equal(r.json.status, 'queued', `run ${id} waits: ${r.text}`);
  return r.json;
}

test('GET /workers lists the server itself: kind serve, online, its tags, no runs', async () => {
  const s = S.server;
  const r = await s.get('/api/v1/workers');
  const items = expectList(r);
  assert.equal(items.length, 1, `one executor: ${r.text}`);
  const w = items[0];
  assert.equal(w.name, selfName(), 'name is host:pid');
  assert.equal(w.kind, 'serve');
  assert.equal(w.status, 'online');
  assert.deepEqual([...w.tags].sort(), ['ci', 'linux'], 'the tags of --tags');
  assert.equal(w.concurrency, 4);
  assert.equal(w.active, 0);
  assert.equal(w.lease_s, 9);
  assert.match(w.started_at, RFC3339_UTC);
  assert.match(w.last_seen_at, RFC3339_UTC);
  assert.ok(Date.parse(w.last_seen_at) >= Date.parse(w.started_at), 'seen after it started');
  assert.deepEqual(w.runs, []);
  assert.match(r.headers.get('cache-control') || '', /no-cache|no-store/, 'never cached: status depends on the clock');
});

test('a viewer may read /workers; without credentials it is 401', async () => {
  const s = S.server;
  const tok = await userToken(s, 'wview', 'viewer');
  const items = await workers(s, { Authorization: `Bearer ${tok}` });
  assert.deepEqual(items.map((w) => w.name), [selfName()]);
  expectProblem(await s.get('/api/v1/workers', { Authorization: null }), 401);
  expectProblem(await s.get('/api/v1/workers', { Authorization: 'Bearer not-a-real-token-0000000000' }), 401);
});

test('worker_tags round-trip on POST and PATCH of environments', async () => {
  const s = S.server;
  const plain = await mkEnv(s, 'wt-plain');
  assert.deepEqual(plain.worker_tags, [], 'no tags by default');
  const c = expectCreated(await s.post(E, { name: 'wt-gpu', worker_tags: ['gpu', 'cuda-12'] }), `${E}/wt-gpu`);
  assert.deepEqual(c.worker_tags, ['gpu', 'cuda-12']);
  assert.deepEqual((await s.get(`${E}/wt-gpu`)).json.worker_tags, ['gpu', 'cuda-12'], 'GET shows them');
  const listed = expectList(await s.get(E)).find((e) => e.name === 'wt-gpu');
  assert.deepEqual(listed.worker_tags, ['gpu', 'cuda-12'], 'the list shows them');

  let p = await s.patch(`${E}/wt-plain`, { worker_tags: ['eu-west', 'arm64', 'a.b_c'] });
  expectStatus(p, 200, 'PATCH worker_tags');
  assert.deepEqual(p.json.worker_tags, ['eu-west', 'arm64', 'a.b_c']);
  assert.equal(p.json.version, plain.version + 1, 'a change bumps the version');
  p = await s.patch(`${E}/wt-plain`, { description: 'only the description' });
  expectStatus(p, 200);
  assert.deepEqual(p.json.worker_tags, ['eu-west', 'arm64', 'a.b_c'], 'a PATCH without worker_tags keeps them');
  const max = Array.from({ length: 32 }, (_, i) => `t${i}`);
  p = await s.patch(`${E}/wt-plain`, { worker_tags: max });
  expectStatus(p, 200, '32 tags are allowed');
  assert.deepEqual(p.json.worker_tags, max);
  p = await s.patch(`${E}/wt-plain`, { worker_tags: [] });
  expectStatus(p, 200, 'an empty array clears them');
  assert.deepEqual(p.json.worker_tags, []);
  assert.deepEqual((await s.get(`${E}/wt-plain`)).json.worker_tags, []);
});

test('bad worker_tags: 422 naming worker_tags, on POST and PATCH, and nothing changes', async () => {
  const s = S.server;
  const before = (await s.patch(`${E}/wt-gpu`, { worker_tags: ['gpu'] })).json;
  assert.deepEqual(before.worker_tags, ['gpu']);
  const bad = [
    ['not an array (string)', 'gpu'],
    ['not an array (null)', null],
    ['not an array (object)', { gpu: true }],
    ['upper case', ['GPU']],
    ['a blank inside', ['a b']],
    ['empty', ['']],
    ['not a string', [7]],
    ['a slash', ['x/y']],
    ['duplicates', ['gpu', 'arm', 'gpu']],
    ['33 tags', Array.from({ length: 33 }, (_, i) => `t${i}`)],
  ];
  for (const [what, tags] of bad) {
    const r = await s.post(E, { name: 'wt-bad', worker_tags: tags });
    expectProblem(r, 422, 'worker_tags');
    expectStatus(await s.get(`${E}/wt-bad`), 404, `POST with ${what}: no environment created`);
    const p = await s.patch(`${E}/wt-gpu`, { description: 'changed?', worker_tags: tags });
    expectProblem(p, 422, 'worker_tags');
    const now = (await s.get(`${E}/wt-gpu`)).json;
    assert.deepEqual(now, before, `PATCH with ${what}: nothing changed`);
  }
});

test('a run needing a tag the executor lacks stays queued, says why, and can be canceled', async () => {
  const s = S.server;
  await mkShellJob(s, 'wjob', [{ name: 'hi', script: 'echo hello' }]);
  await mkEnv(s, 'needs-gpu', { worker_tags: ['gpu'] });
  await mkEnv(s, 'needs-ci-gpu', { worker_tags: ['ci', 'gpu'] });
  await mkEnv(s, 'needs-linux-ci', { worker_tags: ['linux', 'ci'] });
  await mkEnv(s, 'needs-linux', { worker_tags: ['linux'] });

  const run = await startRun(s, 'wjob', 'needs-gpu');
  assert.deepEqual(run.worker_tags, ['gpu'], 'the run takes the environment\'s tags');
  assert.equal(run.worker, null);
  const partial = await startRun(s, 'wjob', 'needs-ci-gpu');
  // tags in another order than the executor's, and a subset of them: both run
  const q = await assertStaysQueued(s, run.id, 'wjob', 'needs-linux-ci');
  const sub = await waitForRun(s, (await startRun(s, 'wjob', 'needs-linux')).id);
  assert.equal(sub.status, 'succeeded', 'a subset of the executor\'s tags runs');
  assert.equal(sub.worker, selfName(), 'worker names the executor that ran it');
  assert.deepEqual(sub.worker_tags, ['linux']);
  assert.equal(sub.lease_until, null, 'no lease once it ended');

  assert.equal(q.worker, null, 'no worker holds a queued run');
  assert.equal(q.lease_until, null);
  assert.deepEqual(q.worker_tags, ['gpu']);
  assert.equal(typeof q.queued_reason, 'string', `a queued run says why: ${JSON.stringify(q)}`);
  assert.match(q.queued_reason, /\bgpu\b/, 'the reason names the tag');
  assert.match(q.queued_reason, /\bneeds-gpu\b/, 'the reason names the environment');
  const p = (await s.get(`/api/v1/runs/${partial.id}`)).json;
  assert.equal(p.status, 'queued', 'having only some of the tags is not enough');
  assert.match(p.queued_reason, /\bgpu\b/);
  assert.match(p.queued_reason, /\bneeds-ci-gpu\b/);

  const c = await s.post(`/api/v1/runs/${run.id}/cancel`);
  assert.ok(c.status === 202 || c.status === 200, `cancel: ${c.status} ${c.text.slice(0, 500)}`);
  assert.equal(c.json.status, 'canceled', 'a queued run is canceled at once');
  const after = (await s.get(`/api/v1/runs/${run.id}`)).json;
  assert.equal(after.status, 'canceled');
  assert.equal(after.worker, null, 'it never had a worker');
  assert.ok(!('queued_reason' in after) || after.queued_reason == null, 'no queued_reason once it is not queued');
  const ended = (await s.get(`/api/v1/runs/${sub.id}`)).json;
  assert.ok(!('queued_reason' in ended) || ended.queued_reason == null, 'none for an ended run either');
  const c2 = await s.post(`/api/v1/runs/${partial.id}/cancel`);
  assert.equal(c2.json && c2.json.status, 'canceled', `cancel: ${c2.status} ${c2.text.slice(0, 500)}`);
});

test('a rerun takes the environment\'s worker_tags of today', async () => {
  const s = S.server;
  await mkEnv(s, 'flex');
  const first = await waitForRun(s, (await startRun(s, 'wjob', 'flex')).id);
  assert.equal(first.status, 'succeeded');
  assert.deepEqual(first.worker_tags, []);
  expectStatus(await s.patch(`${E}/flex`, { worker_tags: ['gpu'] }), 200);
  const rr = await s.post(`/api/v1/runs/${first.id}/rerun`);
  expectStatus(rr, 201, 'rerun');
  assert.equal(rr.json.rerun_of, first.id);
  assert.deepEqual(rr.json.worker_tags, ['gpu'], 'the rerun needs the tags the environment has now');
  const q = await assertStaysQueued(s, rr.json.id, 'wjob', 'needs-linux');
  assert.match(q.queued_reason, /\bgpu\b/);
  assert.match(q.queued_reason, /\bflex\b/);
  assert.deepEqual((await s.get(`/api/v1/runs/${first.id}`)).json.worker_tags, [], 'the first run keeps its own');
  // back to no tags: a new rerun goes anywhere, the queued one keeps waiting
  expectStatus(await s.patch(`${E}/flex`, { worker_tags: [] }), 200);
  const rr2 = await s.post(`/api/v1/runs/${first.id}/rerun`);
  expectStatus(rr2, 201);
  assert.deepEqual(rr2.json.worker_tags, []);
  assert.equal((await waitForRun(s, rr2.json.id)).status, 'succeeded');
  const still = (await s.get(`/api/v1/runs/${rr.json.id}`)).json;
  assert.equal(still.status, 'queued', 'a queued run keeps the tags it was created with');
  assert.deepEqual(still.worker_tags, ['gpu']);
  // it waits for the gpu executor of the next test
  S.pendingGpu = rr.json.id;
});

test('a rerun follows its environment by id: renamed, the rule of the renamed one; a new namesake does not count', async () => {
  const s = S.server;
  await mkEnv(s, 'ren');
  const first = await waitForRun(s, (await startRun(s, 'wjob', 'ren')).id);
  assert.equal(first.status, 'succeeded');
  expectStatus(await s.patch(`${E}/ren`, { name: 'ren2', worker_tags: ['ci'] }), 200);
  await mkEnv(s, 'ren', { worker_tags: ['nowhere'] });
  const rr = await s.post(`/api/v1/runs/${first.id}/rerun`);
  expectStatus(rr, 201, 'rerun');
  assert.deepEqual(rr.json.worker_tags, ['ci'], 'the tags of the environment the run belonged to');
  assert.equal((await waitForRun(s, rr.json.id)).status, 'succeeded', 'the server has ci: it runs');
  expectStatus(await s.del(`${E}/ren`), 204);
});

test('started with --tags gpu the server runs such runs: worker, lease_until, /workers runs', async () => {
  const s = S.server;
  assert.ok(S.pendingGpu, 'the previous test left a run waiting for gpu');
  const oldName = selfName();
  await s.restart({ args: [...base, '--tags', 'gpu,linux'] });
  const name = selfName();
  assert.notEqual(name, oldName);
  const ws = await workers(s);
  assert.deepEqual(ws.map((w) => w.name), [name], 'a clean stop removed the old executor; the new one is listed');
  assert.deepEqual([...ws[0].tags].sort(), ['gpu', 'linux']);
  assert.equal(ws[0].kind, 'serve');
  assert.equal(ws[0].status, 'online');

  const waited = await waitForRun(s, S.pendingGpu);
  assert.equal(waited.status, 'succeeded', 'the run that waited for gpu ran');
  assert.equal(waited.worker, name);
  assert.deepEqual(waited.worker_tags, ['gpu']);

  const go = path.join(WORK, 'go');
  await mkShellJob(s, 'wlong', [{ name: 'hold', script: `while [ ! -e '${go}' ]; do sleep 0.05; done; echo released` }]);
  const run = await startRun(s, 'wlong', 'needs-gpu');
  const running = await waitForRun(s, run.id, ['running'], 10000);
  assert.equal(running.worker, name, 'worker names the executor holding it');
  assert.deepEqual(running.worker_tags, ['gpu']);
  assert.match(String(running.lease_until), RFC3339_UTC, 'a running run has a lease');
  assert.ok(Date.parse(running.lease_until) > Date.now() - 2000, 'the lease lies ahead');
  assert.ok(!('queued_reason' in running) || running.queued_reason == null, 'no queued_reason while running');
  const held = (await workers(s))[0].runs;
  assert.deepEqual(held.map((x) => x.id), [run.id], '/workers shows the run it holds');
  assert.match(held[0].lease_until, RFC3339_UTC);
  fs.writeFileSync(go, '');
  const end = await waitForRun(s, run.id);
  assert.equal(end.status, 'succeeded');
  assert.equal(end.worker, name, 'worker stays: the executor that last held it');
  assert.equal(end.lease_until, null);
  assert.deepEqual((await workers(s))[0].runs, [], 'nothing held once it ended');
});

openapiCoverageTest(S);
