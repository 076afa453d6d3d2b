// Runs: a server killed with SIGKILL mid-run, then restarted on the same
// database: the run is `interrupted`, says so in its log, and no process
// of it remains. A clean stop mid-run also ends the run `interrupted`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  useServer, expectStatus, mkEnv, mkShellJob, startRun, waitForRun, runLog, taskOf,
  waitForPid, waitProcessGone, processGone, sleep,
} from './harness.mjs';

const DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'dmt-it-crash-'));
const WORK = path.join(DIR, 'work');
fs.mkdirSync(WORK);
const S = useServer({ dir: DIR, args: ['--data-dir', path.join(DIR, 'data'), '--grace', '2'] });

function holdScript(tag) {
  const task = path.join(WORK, `${tag}.task.pid`);
  const child = path.join(WORK, `${tag}.child.pid`);
  // the task process becomes `sleep 300` itself (exec), after starting a
  // background child in its group
  return {
    task, child,
    script: `sleep 300 &\necho $! > '${child}'\necho $$ > '${task}'\necho "${tag} holding"\nexec sleep 300`,
  };
}

const leftovers = [];

test('kill -9 of the server mid-run, restart: the run is interrupted, its log says so, no process remains', async () => {
  const s = S.server;
  await mkEnv(s, 'dev');
  const g = holdScript('k9');
  await mkShellJob(s, 'hold', [{ name: 'hold', script: g.script }, { name: 'after', script: 'echo after' }]);
  const run0 = await startRun(s, 'hold', 'dev');
  const taskPid = await waitForPid(g.task);
  const childPid = await waitForPid(g.child);
  leftovers.push(taskPid, childPid);
  await waitForRun(s, run0.id, ['running'], 10000);
  assert.ok(!processGone(taskPid) && !processGone(childPid), 'the task and its child run before the kill');
  // wait until the task's line is stored (logs are flushed every ~100 ms)
  const deadline = Date.now() + 10000;
  while (!(await runLog(s, run0.id)).includes('k9 holding')) {
    assert.ok(Date.now() < deadline, 'the first line of the task is stored within 10 s');
    await sleep(50);
  }

  await s.kill9();
  await s.start(); // same directory, database and arguments
  const run = (await s.get(`/api/v1/runs/${run0.id}`)).json;
  assert.equal(run.status, 'interrupted', `after a restart the run is interrupted: ${JSON.stringify(run)}`);
  assert.match(String(run.finished_at), /Z$/, 'an interrupted run has finished_at');
  const hold = taskOf(run, 'hold');
  assert.ok(['failed', 'canceled'].includes(hold.status), `the running task ended: ${JSON.stringify(hold)}`);
  assert.notEqual(taskOf(run, 'after').status, 'pending', 'no task stays pending');
  assert.notEqual(taskOf(run, 'after').status, 'running');
  const log = await runLog(s, run0.id);
  assert.match(log, /k9 holding/, 'what was logged before the kill is kept');
  assert.ok(log.split('\n').some((l) => /interrupt/i.test(l)), `a system line tells about the interruption:\n${log}`);
  await waitProcessGone(taskPid, 10000, 'the task process of the killed server');
  await waitProcessGone(childPid, 10000, 'the background child of the task of the killed server');

  // it stays interrupted, and can be re-run; the old pid files go first,
  // or a quick re-run could write its pids before they are removed
  const g2 = { task: g.task, child: g.child };
  fs.rmSync(g2.task, { force: true });
  fs.rmSync(g2.child, { force: true });
  const again = await s.post(`/api/v1/runs/${run0.id}/rerun`);
  expectStatus(again, 201, 'rerun of an interrupted run');
  assert.equal(again.json.rerun_of, run0.id);
  const p2 = await waitForPid(g2.task);
  const c2 = await waitForPid(g2.child);
  leftovers.push(p2, c2);
  const c = await s.post(`/api/v1/runs/${again.json.id}/cancel`);
  assert.ok(c.status === 202 || c.status === 200, `cancel: ${c.status} ${c.text.slice(0, 300)}`);
  assert.equal((await waitForRun(s, again.json.id, undefined, 15000)).status, 'canceled');
  await waitProcessGone(p2, 5000, 'the re-run task');
  await waitProcessGone(c2, 5000, 'the re-run task child');
  assert.equal((await s.get(`/api/v1/runs/${run0.id}`)).json.status, 'interrupted');
});

test('a clean stop (SIGTERM) mid-run ends the run interrupted and kills its processes', async () => {
  const s = S.server;
  const g = holdScript('term');
  await mkShellJob(s, 'hold2', [{ name: 'hold', script: g.script }]);
  const run0 = await startRun(s, 'hold2', 'dev');
  const taskPid = await waitForPid(g.task);
  const childPid = await waitForPid(g.child);
  leftovers.push(taskPid, childPid);
  await waitForRun(s, run0.id, ['running'], 10000);
  const t0 = Date.now();
  await s.restart(); // asserts a clean exit (status 0, no sanitizer report)
  assert.ok(Date.now() - t0 < 12000, 'the stop does not wait for the task beyond the grace period');
  await waitProcessGone(taskPid, 5000, 'the task process after a clean stop');
  await waitProcessGone(childPid, 5000, 'its background child');
  const run = (await s.get(`/api/v1/runs/${run0.id}`)).json;
  assert.equal(run.status, 'interrupted', JSON.stringify(run));
  assert.match(await runLog(s, run0.id), /term holding/);
  for (const pid of leftovers) assert.ok(processGone(pid), `pid ${pid} still runs`);
});
