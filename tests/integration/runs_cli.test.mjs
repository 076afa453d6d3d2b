// Runs from the CLI: dmt run [--follow], runs, log, cancel, rerun - against
// `dmt serve --demo` (job hello, environments dev/staging/prod).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  useServer, startServer, mkShellJob, mkJob, mkTask, REPO_ROOT, startRun, waitForRun, runLog, taskOf, waitForPid, waitProcessGone,
} from './harness.mjs';

const DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'dmt-it-runcli-'));
const WORK = path.join(DIR, 'work');
fs.mkdirSync(WORK);
const S = useServer({ dir: DIR, args: ['--demo', '--data-dir', path.join(DIR, 'data'), '--grace', '2'] });

function show(r) {
  return `exit ${r.code} signal ${r.signal}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
}

test('dmt run hello --env prod --follow: exit 0, the log printed live', async () => {
  const s = S.server;
  const r = await s.cli(['run', 'hello', '--env', 'prod', '--follow'], { timeoutMs: 20000 });
  assert.equal(r.code, 0, show(r));
  assert.match(r.stdout, /Hello, production team from prod \(job hello\)/, show(r));
  const runs = (await s.get('/api/v1/runs?job=hello')).json.items;
  assert.equal(runs.length, 1);
  assert.equal(runs[0].status, 'succeeded');
  assert.equal(runs[0].environment, 'prod');
  assert.match(r.stdout + r.stderr, new RegExp(`#?${runs[0].id}\\b`), 'the CLI names the run');
});

test('dmt run --follow of a failing job exits non-zero and still prints the log', async () => {
  const s = S.server;
  await mkShellJob(s, 'bad', [{ name: 'boom', script: 'echo about-to-fail\nexit 7' }]);
  const r = await s.cli(['run', 'bad', '--env', 'dev', '--follow'], { timeoutMs: 20000 });
  assert.notEqual(r.code, 0, show(r));
  assert.equal(r.signal, null, show(r));
  assert.match(r.stdout, /about-to-fail/, show(r));
  assert.match(r.stdout + r.stderr, /failed/, show(r));
  const run = (await s.get('/api/v1/runs?job=bad')).json.items[0];
  assert.equal(run.status, 'failed');
  assert.equal(taskOf(run, 'boom').exit_code, 7);
});

test('dmt run without --follow queues; dmt runs lists; dmt log prints the stored log', async () => {
  const s = S.server;
  const r = await s.cli(['run', 'hello', '--env', 'dev']);
  assert.equal(r.code, 0, show(r));
  const m = /#?(\d+)/.exec(r.stdout);
  assert.ok(m, `the CLI prints the new run's number: ${show(r)}`);
  const id = Number(m[1]);
  const run = await waitForRun(s, id);
  assert.equal(run.status, 'succeeded');
  assert.equal(run.environment, 'dev');
  const list = await s.cli(['runs', '--job', 'hello']);
  assert.equal(list.code, 0, show(list));
  assert.match(list.stdout, new RegExp(`\\b${id}\\b.*hello.*dev.*succeeded`), show(list));
  const js = await s.cli(['runs', '--json', '--env', 'dev', '--job', 'hello']);
  assert.equal(js.code, 0, show(js));
  const page = JSON.parse(js.stdout);
  assert.deepEqual(page.items.map((x) => x.id), [id]);
  const log = await s.cli(['log', String(id)]);
  assert.equal(log.code, 0, show(log));
  assert.match(log.stdout, /Hello, world from dev \(job hello\)/, show(log));
  assert.equal(log.stdout, await runLog(s, id), 'dmt log prints the stored log as it is');
  const none = await s.cli(['log', '999999']);
  assert.notEqual(none.code, 0, show(none));
  assert.ok(none.stderr.length > 0, 'an error on stderr');
});

test('dmt log --follow streams a live run to its end; dmt cancel stops a run', async () => {
  const s = S.server;
  const pidFile = path.join(WORK, 'cli.child.pid');
  await mkShellJob(s, 'long', [{ name: 'wait', script: `echo waiting\nsleep 300 &\necho $! > '${pidFile}'\nsleep 30` }]);
  const run0 = await startRun(s, 'long', 'dev');
  const child = await waitForPid(pidFile);
  await waitForRun(s, run0.id, ['running'], 10000);
  const follower = s.cli(['log', String(run0.id), '--follow'], { timeoutMs: 20000 });
  await new Promise((r) => setTimeout(r, 300));
  const c = await s.cli(['cancel', String(run0.id)]);
  assert.equal(c.code, 0, show(c));
  assert.match(c.stdout, /cancel/i, show(c));
  const f = await follower;
  assert.equal(f.code, 0, `dmt log --follow ends with the run: ${show(f)}`);
  assert.match(f.stdout, /waiting/);
  assert.match(f.stdout, /canceled/, show(f));
  assert.equal((await waitForRun(s, run0.id, undefined, 5000)).status, 'canceled');
  await waitProcessGone(child, 5000, 'the child of the canceled task');
  const again = await s.cli(['cancel', String(run0.id)]);
  assert.notEqual(again.code, 0, `canceling an ended run fails: ${show(again)}`);
});

test('dmt rerun makes a new run of the same job and environment', async () => {
  const s = S.server;
  const first = (await s.get('/api/v1/runs?job=hello&environment=prod')).json.items[0];
  const r = await s.cli(['rerun', String(first.id), '--follow'], { timeoutMs: 20000 });
  assert.equal(r.code, 0, show(r));
  assert.match(r.stdout, /Hello, production team from prod/, show(r));
  const runs = (await s.get('/api/v1/runs?job=hello&environment=prod')).json.items;
  assert.equal(runs.length, 2);
  assert.equal(runs[0].rerun_of, first.id);
  assert.equal(runs[0].status, 'succeeded');
});

test('dmt run: a preflight failure exits non-zero naming the problem; unknown job too', async () => {
  const s = S.server;
  await mkShellJob(s, 'needy', [{ name: 't', script: 'echo ${{ vars.NOPE }}' }]);
  const r = await s.cli(['run', 'needy', '--env', 'dev', '--follow']);
  assert.notEqual(r.code, 0, show(r));
  assert.match(r.stderr, /NOPE|preflight/i, show(r));
  assert.deepEqual((await s.get('/api/v1/runs?job=needy')).json.items, []);
  const u = await s.cli(['run', 'nosuchjob', '--env', 'dev']);
  assert.notEqual(u.code, 0, show(u));
  const e = await s.cli(['run', 'hello']);
  assert.notEqual(e.code, 0, `--env is required: ${show(e)}`);
});

test('with the default --data-dir (./dmt-data, relative) shell and executable-plugin tasks run', async () => {
  // `make run` starts `dmt serve --demo` without --data-dir
  const s2 = await startServer({ args: ['--demo', '--plugin-dir', path.join(REPO_ROOT, 'tests/plugins')] });
  try {
    await mkJob(s2, 'echo');
    await mkTask(s2, 'echo', 'e', { plugin: 'echoer', variables: { message: 'relative' } });
    const problems = [];
    for (const [job, check] of [
      ['hello', (end, log) => end.status === 'succeeded' && /Hello, production team from prod/.test(log)],
      ['echo', (end) => end.status === 'succeeded' && end.tasks[0].outputs.out === 'relative'],
    ]) {
      const run = await startRun(s2, job, 'prod');
      const end = await waitForRun(s2, run.id);
      const log = await runLog(s2, run.id);
      if (!check(end, log)) problems.push(`job ${job}: run ${end.status}, tasks ${JSON.stringify(end.tasks)}\nlog:\n${log}`);
    }
    assert.deepEqual(problems, [], problems.join('\n'));
  } finally {
    await s2.stopClean();
    fs.rmSync(s2.dir, { recursive: true, force: true });
  }
});
