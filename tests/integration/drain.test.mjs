// Draining an executor (SIGQUIT), for rolling restarts: the runs it has go
// on to their end and succeed, it claims no new run (GET /workers shows it
// draining, a queued run says so), then the process exits 0 by itself; the
// queued run is taken by the next start. SIGTERM during a drain stops at
// once, as ever.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  useServer, expectList, mkEnv, mkShellJob, startRun, waitForRun, sleep,
} from './harness.mjs';

const DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'dmt-it-drain-'));
const S = useServer({ dir: DIR, args: ['--data-dir', path.join(DIR, 'data'), '--lease', '9'] });

async function waitExit(s, ms) {
  let handle;
  const timer = new Promise((r) => { handle = setTimeout(() => r('timeout'), ms); });
  const res = await Promise.race([s.exited, timer]);
  clearTimeout(handle);
  return res;
}

test('SIGQUIT drains: running runs finish, nothing new is claimed, then the server exits 0', async () => {
  const s = S.server;
  await mkEnv(s, 'dev');
  await mkShellJob(s, 'slow', [{ name: 't', script: 'sleep 4; echo done' }]);
  await mkShellJob(s, 'quick', [{ name: 't', script: 'echo quick' }]);
  const running = await startRun(s, 'slow', 'dev');
  await waitForRun(s, running.id, ['running']);

  s.proc.kill('SIGQUIT');
  let w;
  for (let i = 0; i < 50; i++) {
    w = expectList(await s.get('/api/v1/workers'));
    if (w[0] && w[0].status === 'draining') break;
    await sleep(100);
  }
  assert.equal(w.length, 1);
  assert.equal(w[0].status, 'draining', 'GET /workers shows the drain');

  const queued = await startRun(s, 'quick', 'dev');
  await sleep(700);
  const q = (await s.get(`/api/v1/runs/${queued.id}`)).json;
  assert.equal(q.status, 'queued', 'a draining executor claims nothing new');
  assert.match(q.queued_reason, /draining/);

  // It exits by itself once its run is done (it may be gone before a
  // client looks again: the outcome is read after the next start).
  assert.notEqual(await waitExit(s, 15000), 'timeout', 'the server exits once drained');
  assert.equal(s.exit.code, 0, `exit status: ${JSON.stringify(s.exit)}`);
  assert.match(s.log, /draining/);
  assert.match(s.log, /drained, shutting down/);

  await s.start();
  const end = await waitForRun(s, running.id);
  assert.equal(end.status, 'succeeded', `the run it had finished normally, not interrupted: ${JSON.stringify(end)}`);
  const log = (await s.get(`/api/v1/runs/${running.id}/log`)).text;
  assert.match(log, /done/);
  // The next start takes the run that waited.
  assert.equal((await waitForRun(s, queued.id)).status, 'succeeded');
});

test('SIGTERM during a drain stops at once: the running run ends interrupted', async () => {
  const s = S.server;
  await mkShellJob(s, 'long', [{ name: 't', script: 'sleep 30' }]);
  const r = await startRun(s, 'long', 'dev');
  await waitForRun(s, r.id, ['running']);
  s.proc.kill('SIGQUIT');
  await sleep(500);
  assert.equal(s.exit, null, 'still draining');
  const t0 = Date.now();
  s.proc.kill('SIGTERM');
  assert.notEqual(await waitExit(s, 15000), 'timeout');
  assert.ok(Date.now() - t0 < 14000, 'stopped without waiting for the task');
  assert.equal(s.exit.code, 0);
  await s.start();
  assert.equal((await waitForRun(s, r.id)).status, 'interrupted');
});

test('a second SIGTERM while tasks are being stopped changes nothing: a clean exit, the run interrupted', async () => {
  const s = S.server;
  await s.stopClean();
  await s.start({ args: ['--data-dir', path.join(DIR, 'data'), '--lease', '9', '--grace', '2'] });
  await mkShellJob(s, 'stubborn', [{ name: 't', script: "trap '' TERM; sleep 30" }]);
  const r = await startRun(s, 'stubborn', 'dev');
  await waitForRun(s, r.id, ['running']);
  s.proc.kill('SIGTERM');
  await sleep(700); // the task ignores it: the server waits out --grace
  assert.equal(s.exit, null, 'still in its grace period');
  s.proc.kill('SIGTERM');
  s.proc.kill('SIGQUIT');
  assert.notEqual(await waitExit(s, 15000), 'timeout');
  assert.deepEqual({ code: s.exit.code, signal: s.exit.signal }, { code: 0, signal: null },
    'not killed by the second signal');
  await s.start();
  assert.equal((await waitForRun(s, r.id)).status, 'interrupted');
});
