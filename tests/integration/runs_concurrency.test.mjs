// Runs: 50 runs started at once, with the default concurrency limit (16):
// the rest wait queued, all succeed, none sees another's values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  useServer, expectStatus, mkEnv, mkShellJob, startRun, waitForRun, runLog, taskOf, sleep,
} from './harness.mjs';

const DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'dmt-it-conc-'));
const S = useServer({ dir: DIR, args: ['--data-dir', path.join(DIR, 'data')] });
const N = 50;
const LIMIT = 16; // the documented default of --concurrency

test('50 concurrent runs all succeed; at most 16 run at once, the rest queue', async () => {
  const s = S.server;
  await mkEnv(s, 'dev');
  await mkShellJob(s, 'many', [
    { name: 'work', script: 'echo "work of $DMT_RUN_ID"\nsleep 0.7\necho "id=$DMT_RUN_ID" >> "$DMT_OUTPUT"' },
    { name: 'check', script: 'echo "check ${{ tasks.work.outputs.id }} in ${{ run.id }}"\necho "seen=${{ tasks.work.outputs.id }}" >> "$DMT_OUTPUT"' },
  ]);
  const t0 = Date.now();
  const runs = await Promise.all(Array.from({ length: N }, () => startRun(s, 'many', 'dev')));
  const ids = runs.map((r) => r.id);
  assert.equal(new Set(ids).size, N, 'every run has its own id');

  // watch the run list while they execute
  let maxRunning = 0;
  let sawQueued = false;
  const deadline = Date.now() + 40000;
  for (;;) {
    const running = (await s.get('/api/v1/runs?status=running&limit=500')).json.items.length;
    const queued = (await s.get('/api/v1/runs?status=queued&limit=500')).json.items.length;
    maxRunning = Math.max(maxRunning, running);
    if (queued > 0) sawQueued = true;
    if (running === 0 && queued === 0) break;
    assert.ok(Date.now() < deadline, `runs still active after 40 s: ${running} running, ${queued} queued`);
    await sleep(100);
  }
  const took = Date.now() - t0;
  assert.ok(maxRunning <= LIMIT, `at most ${LIMIT} runs at once, saw ${maxRunning}`);
  assert.ok(maxRunning >= 2, `runs execute in parallel, saw at most ${maxRunning} at once`);
  assert.ok(sawQueued, 'with 50 runs and a limit of 16 some runs wait queued');
  assert.ok(took < 35000, `50 runs of 0.7 s with 16 in parallel took ${took} ms`);

  for (const id of ids) {
    const run = await waitForRun(s, id, undefined, 5000);
    assert.equal(run.status, 'succeeded', `run ${id}: ${JSON.stringify(run.tasks)}`);
    assert.deepEqual(taskOf(run, 'work').outputs, { id: String(id) });
    assert.deepEqual(taskOf(run, 'check').outputs, { seen: String(id) }, `run ${id} saw only its own outputs`);
  }
  const some = await runLog(s, ids[N - 1]);
  assert.ok(some.includes(`work of ${ids[N - 1]}`) && some.includes(`check ${ids[N - 1]} in ${ids[N - 1]}`), some);
  const all = (await s.get('/api/v1/runs?job=many&limit=500')).json.items;
  assert.equal(all.length, N);
  assert.ok(all.every((r) => r.status === 'succeeded'));
  expectStatus(await s.get('/healthz'), 200);
});
