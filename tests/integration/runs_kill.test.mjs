// Runs: stopping tasks - timeout_s and cancel each kill the task's whole
// process group (SIGTERM, then SIGKILL after --grace), quickly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  useServer, expectStatus, expectProblem, openapiCoverageTest, mkEnv, mkShellJob,
  startRun, waitForRun, runLog, taskOf, waitForPid, waitProcessGone, processGone,
} from './harness.mjs';

const DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'dmt-it-kill-'));
const WORK = path.join(DIR, 'work');
fs.mkdirSync(WORK);
const GRACE_S = 2;

const S = useServer({ dir: DIR, args: ['--data-dir', path.join(DIR, 'data'), '--grace', String(GRACE_S), '--concurrency', '2'] });

/** A script that records its pid and the pid of a background child, then runs `tail`. */
function groupScript(tag, tail) {
  const task = path.join(WORK, `${tag}.task.pid`);
  const child = path.join(WORK, `${tag}.child.pid`);
  return {
    task, child,
    script: `sleep 300 &\necho $! > '${child}'\necho $$ > '${task}'\necho "${tag} started"\n${tail}`,
  };
}

const pids = []; // every pid a test recorded: none may survive the file

test('setup', async () => {
  await mkEnv(S.server, 'dev');
});

test('timeout_s 1 on `sleep 30`: failed with a timeout error well before 30 s; the whole group is killed', async () => {
  const s = S.server;
  const g = groupScript('to', 'sleep 30\necho after-sleep');
  await mkShellJob(s, 'slow', [{ name: 'nap', script: g.script, timeout_s: 1 }, { name: 'next', script: 'echo next-ran' }]);
  const t0 = Date.now();
  const run0 = await startRun(s, 'slow', 'dev');
  const taskPid = await waitForPid(g.task);
  const childPid = await waitForPid(g.child);
  pids.push(taskPid, childPid);
  const run = await waitForRun(s, run0.id, undefined, 20000);
  const took = Date.now() - t0;
  assert.equal(run.status, 'failed', JSON.stringify(run));
  const nap = taskOf(run, 'nap');
  assert.equal(nap.status, 'failed');
  assert.match(String(nap.error), /timeout|timed out/i, `the error mentions the timeout: ${nap.error}`);
  assert.equal(taskOf(run, 'next').status, 'skipped');
  assert.ok(took < 10000, `the run should end about 1 s after its start, took ${took} ms`);
  await waitProcessGone(taskPid, 5000, 'the timed-out task process');
  await waitProcessGone(childPid, 5000, 'the background child of the timed-out task');
  const log = await runLog(s, run.id);
  assert.match(log, /to started/);
  assert.doesNotMatch(log, /after-sleep/);
  assert.match(log, /timeout/i, `the log says why:\n${log}`);
});

test('a task that ignores SIGTERM is killed with SIGKILL after the grace period', async () => {
  const s = S.server;
  const g = groupScript('stubborn', "trap '' TERM\nwhile :; do sleep 1; done");
  await mkShellJob(s, 'stubborn', [{ name: 'hold', script: g.script, timeout_s: 1 }]);
  const t0 = Date.now();
  const run0 = await startRun(s, 'stubborn', 'dev');
  const taskPid = await waitForPid(g.task);
  const childPid = await waitForPid(g.child);
  pids.push(taskPid, childPid);
  const run = await waitForRun(s, run0.id, undefined, 20000);
  const took = Date.now() - t0;
  assert.equal(run.status, 'failed');
  assert.match(String(taskOf(run, 'hold').error), /timeout|timed out/i);
  assert.ok(took >= 1000 + GRACE_S * 1000 - 500, `SIGKILL comes only after the grace period (${took} ms)`);
  assert.ok(took < 1000 + GRACE_S * 1000 + 6000, `but not much later (${took} ms)`);
  await waitProcessGone(taskPid, 5000, 'the task that ignored SIGTERM');
  await waitProcessGone(childPid, 5000, 'its background child');
});

test('cancel of a running `sleep 30`: canceled quickly, the whole group is killed, later tasks canceled', async () => {
  const s = S.server;
  const g = groupScript('cx', 'sleep 30\necho after-sleep');
  await mkShellJob(s, 'cancelme', [{ name: 'wait', script: g.script }, { name: 'later', script: 'echo later-ran' }]);
  const run0 = await startRun(s, 'cancelme', 'dev');
  const taskPid = await waitForPid(g.task);
  const childPid = await waitForPid(g.child);
  pids.push(taskPid, childPid);
  const running = await waitForRun(s, run0.id, ['running'], 10000);
  assert.equal(taskOf(running, 'wait').status, 'running');
  const t0 = Date.now();
  const c = await s.post(`/api/v1/runs/${run0.id}/cancel`);
  assert.ok(c.status === 202 || c.status === 200, `cancel: ${c.status} ${c.text.slice(0, 500)}`);
  assert.equal(c.json.id, run0.id);
  const run = await waitForRun(s, run0.id, undefined, 15000);
  const took = Date.now() - t0;
  assert.equal(run.status, 'canceled', JSON.stringify(run));
  assert.ok(took < 5000, `canceled ${took} ms after the request`);
  assert.equal(taskOf(run, 'wait').status, 'canceled');
  assert.equal(taskOf(run, 'later').status, 'canceled');
  assert.match(String(run.finished_at), /Z$/);
  await waitProcessGone(taskPid, 5000, 'the canceled task process');
  await waitProcessGone(childPid, 5000, 'the background child of the canceled task');
  const log = await runLog(s, run.id);
  assert.doesNotMatch(log, /after-sleep|later-ran/);
  assert.match(log, /cancel/i);
  // an ended run cannot be canceled again
  expectProblem(await s.post(`/api/v1/runs/${run0.id}/cancel`), 409);
  expectProblem(await s.post('/api/v1/runs/999999/cancel'), 404);
});

test('with --concurrency 2 a third run waits queued; canceling it ends it at once, nothing of it ran', async () => {
  const s = S.server;
  const a = groupScript('qa', 'sleep 30');
  const b = groupScript('qb', 'sleep 30');
  const marker = path.join(WORK, 'qc.ran');
  await mkShellJob(s, 'qa', [{ name: 't', script: a.script }]);
  await mkShellJob(s, 'qb', [{ name: 't', script: b.script }]);
  await mkShellJob(s, 'qc', [{ name: 't', script: `touch '${marker}'` }, { name: 'u', script: 'echo u' }]);
  const ra = await startRun(s, 'qa', 'dev');
  const rb = await startRun(s, 'qb', 'dev');
  for (const f of [a.task, a.child, b.task, b.child]) pids.push(await waitForPid(f));
  await waitForRun(s, ra.id, ['running'], 10000);
  await waitForRun(s, rb.id, ['running'], 10000);
  const rc = await startRun(s, 'qc', 'dev');
  await new Promise((r) => setTimeout(r, 500));
  const q = (await s.get(`/api/v1/runs/${rc.id}`)).json;
  assert.equal(q.status, 'queued', 'beyond the concurrency limit a run waits queued');
  assert.equal(q.started_at, null);
  const c = await s.post(`/api/v1/runs/${rc.id}/cancel`);
  assert.ok(c.status === 202 || c.status === 200, `cancel: ${c.status} ${c.text.slice(0, 500)}`);
  assert.equal(c.json.status, 'canceled', 'a queued run is canceled at once');
  const run = await waitForRun(s, rc.id, ['canceled'], 2000);
  assert.deepEqual(run.tasks.map((t) => t.status), ['canceled', 'canceled']);
  for (const r of [ra, rb]) expectStatus(await s.post(`/api/v1/runs/${r.id}/cancel`), 202);
  for (const r of [ra, rb]) assert.equal((await waitForRun(s, r.id, undefined, 10000)).status, 'canceled');
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(!fs.existsSync(marker), 'the canceled queued run never started a task');
  assert.equal((await s.get(`/api/v1/runs/${rc.id}`)).json.started_at, null);
});

test('no process recorded by this file survives', async () => {
  assert.ok(pids.length >= 6);
  for (const pid of pids) assert.ok(processGone(pid), `pid ${pid} still runs`);
  // the run folders are cleaned up once runs end
  const runs = path.join(DIR, 'data', 'runs');
  const left = fs.existsSync(runs) ? fs.readdirSync(runs) : [];
  assert.deepEqual(left, [], 'run folders are removed when runs end');
  expectStatus(await S.server.get('/healthz'), 200);
});

openapiCoverageTest(S);
