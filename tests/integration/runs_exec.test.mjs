// Runs: executing jobs end to end - values, outputs and run.id between
// tasks, the plugin kinds, on_failure, retries, preflight, the task's
// environment and argv, re-runs and the run list.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  useServer, expectStatus, expectProblem, openapiCoverageTest, mkEnv, mkJob, mkTask, mkVar, putOverride,
  startRun, waitForRun, runToEnd, runLog, taskOf, mkShellJob, REPO_ROOT, RFC3339_UTC,
} from './harness.mjs';

const DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'dmt-it-runs-'));
const DATA = path.join(DIR, 'data');
const WORK = path.join(DIR, 'work'); // files the task scripts write (counters)
fs.mkdirSync(WORK);
const CANARY = 'canary-7d1f0a9e33b2c4';
const SERVER_VAR = 'server-only-value-5b8e';

const S = useServer({
  dir: DIR,
  env: { DMT_SECRET_CANARY: CANARY, SOME_SERVER_VAR: SERVER_VAR },
  args: [
    '--plugin-dir', path.join(REPO_ROOT, 'tests/plugins'),
    '--plugin-dir', path.join(REPO_ROOT, 'build/test-plugins'),
    '--plugin-dir', path.join(REPO_ROOT, 'plugins'),
    '--plugin-dir', path.join(REPO_ROOT, 'build/plugins'),
    '--data-dir', DATA,
  ],
});

const R = '/api/v1/runs';

function expectTimes(t, what) {
  for (const k of ['started_at', 'finished_at']) {
    assert.match(String(t[k]), RFC3339_UTC, `${what}.${k} should be RFC 3339 UTC: ${JSON.stringify(t)}`);
  }
  assert.ok(Date.parse(t.started_at) <= Date.parse(t.finished_at), `${what}: started_at <= finished_at`);
}

test('setup: environments and plugins', async () => {
  const s = S.server;
  await mkEnv(s, 'dev');
  await mkEnv(s, 'prod');
  const p = (await s.get('/api/v1/plugins')).json.items;
  for (const name of ['echoer', 'sotest', 'greet', 'checksum']) {
    const pl = p.find((x) => x.name === name);
    assert.ok(pl && !pl.error, `plugin ${name} should be loaded: ${JSON.stringify(pl)}`);
  }
});

test('a three-task run: prod override, an earlier output and run.id reach the second task', async () => {
  const s = S.server;
  await mkShellJob(s, 'three', [
    { name: 'first', script: 'echo "first in $DMT_ENVIRONMENT"\necho "KEY=from-first-$DMT_RUN_ID" >> "$DMT_OUTPUT"\necho "other=x y" >> "$DMT_OUTPUT"' },
    { name: 'second', script: 'echo "second: $MSG | ${{ vars.MSG }} | ${{ tasks.first.outputs.KEY }} | run ${{ run.id }}"\necho "combined=${{ vars.MSG }}|${{ tasks.first.outputs.KEY }}|${{ run.id }}" >> "$DMT_OUTPUT"' },
    { name: 'third', script: 'echo third-ran\necho done=yes >> "$DMT_OUTPUT"' },
  ]);
  await mkVar(s, 'three', 'second', 'MSG', { value: 'default msg' });
  await putOverride(s, 'three', 'second', 'MSG', 'prod', 'prod msg');

  const queued = await startRun(s, 'three', 'prod');
  assert.equal(queued.job, 'three');
  assert.equal(queued.environment, 'prod');
  assert.ok(['queued', 'running'].includes(queued.status), `a new run is queued: ${queued.status}`);
  assert.match(queued.created_at, RFC3339_UTC);
  assert.deepEqual(queued.tasks.map((t) => t.name), ['first', 'second', 'third']);
  const run = await waitForRun(s, queued.id);
  const id = run.id;
  assert.equal(run.status, 'succeeded', JSON.stringify(run));
  expectTimes(run, 'run');
  assert.ok(Date.parse(run.created_at) <= Date.parse(run.started_at));
  assert.equal(typeof run.triggered_by, 'string');
  assert.ok(run.triggered_by.length > 0, 'triggered_by is set');
  for (const t of run.tasks) {
    assert.equal(t.status, 'succeeded', JSON.stringify(t));
    assert.equal(t.attempts, 1);
    assert.equal(t.exit_code, 0);
    assert.equal(t.error, null);
    expectTimes(t, `task ${t.name}`);
  }
  assert.deepEqual(taskOf(run, 'first').outputs, { KEY: `from-first-${id}`, other: 'x y' });
  assert.deepEqual(taskOf(run, 'second').outputs, { combined: `prod msg|from-first-${id}|${id}` });
  assert.deepEqual(taskOf(run, 'third').outputs, { done: 'yes' });
  assert.ok(Date.parse(taskOf(run, 'first').finished_at) <= Date.parse(taskOf(run, 'second').started_at), 'tasks run in order');
  const log = await runLog(s, id);
  assert.match(log, /first in prod/);
  assert.ok(log.includes(`second: prod msg | prod msg | from-first-${id} | run ${id}`), log);
  assert.ok(log.indexOf('first in prod') < log.indexOf('second:') && log.indexOf('second:') < log.indexOf('third-ran'), `log in task order:\n${log}`);

  // the same job in dev: the default value
  const dev = await runToEnd(s, 'three', 'dev');
  assert.equal(dev.status, 'succeeded');
  assert.equal(dev.environment, 'dev');
  assert.notEqual(dev.id, id);
  assert.deepEqual(taskOf(dev, 'second').outputs, { combined: `default msg|from-first-${dev.id}|${dev.id}` });
});

test('external (echoer, greet) and shared-object (sotest, checksum) plugins run; outputs stored', async () => {
  const s = S.server;
  await mkJob(s, 'plugins');
  await mkTask(s, 'plugins', 'echo', { plugin: 'echoer', variables: { message: 'hello echoer', count: 3 } });
  await mkTask(s, 'plugins', 'hi', { plugin: 'greet', variables: { who: 'Ann' } });
  await mkTask(s, 'plugins', 'so', { plugin: 'sotest', variables: { value: 'so:${{ tasks.echo.outputs.out }}' } });
  await mkTask(s, 'plugins', 'sum', { plugin: 'checksum', variables: { text: 'abc' } });
  const run = await runToEnd(s, 'plugins', 'dev');
  assert.equal(run.status, 'succeeded', JSON.stringify(run.tasks));
  assert.deepEqual(taskOf(run, 'echo').outputs, { out: 'hello echoer' });
  assert.deepEqual(taskOf(run, 'hi').outputs, { greeting: 'Hello, Ann!' });
  assert.deepEqual(taskOf(run, 'so').outputs, { echo: 'so:hello echoer' });
  const sha = crypto.createHash('sha256').update('abc').digest('hex');
  assert.deepEqual(taskOf(run, 'sum').outputs, { hash: sha });
  const log = await runLog(s, run.id);
  assert.match(log, /argc=0/, 'the executable plugin gets no argument');
  const doc = log.split('\n').find((l) => l.startsWith('{') && l.includes('hello echoer'));
  assert.ok(doc, `echoer printed its stdin JSON:\n${log}`);
  const values = JSON.parse(doc);
  assert.equal(values.message, 'hello echoer');
  assert.equal(values.count, 3, 'an int stays a JSON number on stdin');
  assert.equal(values.mode, 'plain', 'defaults are resolved');
  assert.match(log, /Hello, Ann!/);
  assert.match(log, /sotest: value=so:hello echoer/);
  assert.ok(log.includes(`sha256 ${sha}`), log);
});

test('on_failure stop: the run fails, later tasks are skipped', async () => {
  const s = S.server;
  await mkShellJob(s, 'stopper', [
    { name: 'a', script: 'echo a-ran' },
    { name: 'b', script: 'echo b-fails; exit 4' },
    { name: 'c', script: 'echo c-ran' },
  ]);
  const run = await runToEnd(s, 'stopper', 'dev');
  assert.equal(run.status, 'failed');
  assert.equal(taskOf(run, 'a').status, 'succeeded');
  const b = taskOf(run, 'b');
  assert.equal(b.status, 'failed');
  assert.equal(b.exit_code, 4);
  assert.equal(b.attempts, 1);
  assert.equal(typeof b.error, 'string');
  assert.match(b.error, /4/);
  const c = taskOf(run, 'c');
  assert.equal(c.status, 'skipped');
  assert.equal(c.attempts, 0);
  assert.equal(c.started_at, null);
  const log = await runLog(s, run.id);
  assert.match(log, /b-fails/);
  assert.doesNotMatch(log, /c-ran/);
});

test('on_failure continue: the next task runs; the run succeeds when only continue-tasks failed', async () => {
  const s = S.server;
  await mkJob(s, 'goon');
  await mkTask(s, 'goon', 'crash', { plugin: 'crasher', on_failure: 'continue' });
  await mkTask(s, 'goon', 'sofail', { plugin: 'sotest', on_failure: 'continue', variables: { value: 'v', fail: true } });
  await mkTask(s, 'goon', 'shfail', { on_failure: 'continue', variables: { script: 'exit 9' } });
  await mkTask(s, 'goon', 'last', { variables: { script: 'echo last-ran' } });
  const run = await runToEnd(s, 'goon', 'dev');
  assert.equal(run.status, 'succeeded', JSON.stringify(run.tasks));
  const crash = taskOf(run, 'crash');
  assert.equal(crash.status, 'failed');
  assert.match(String(crash.error), /signal|SEGV|11/i, `a crash names the signal: ${crash.error}`);
  const so = taskOf(run, 'sofail');
  assert.equal(so.status, 'failed');
  assert.equal(so.exit_code, 3, 'the .so run() status is the exit status');
  assert.deepEqual(so.outputs, { echo: 'v' }, 'outputs of a failed task are kept');
  assert.equal(taskOf(run, 'shfail').exit_code, 9);
  assert.equal(taskOf(run, 'last').status, 'succeeded');
  assert.match(await runLog(s, run.id), /last-ran/);

  // a continue-task failure followed by a stop-task failure fails the run
  await mkShellJob(s, 'mixed', [
    { name: 'soft', script: 'exit 1', on_failure: 'continue' },
    { name: 'hard', script: 'exit 2' },
    { name: 'never', script: 'echo never' },
  ]);
  const m = await runToEnd(s, 'mixed', 'dev');
  assert.equal(m.status, 'failed');
  assert.deepEqual(m.tasks.map((t) => t.status), ['failed', 'failed', 'skipped']);
});

test('retries: a task failing twice succeeds with retries 2 (3 attempts), fails with retries 1', async () => {
  const s = S.server;
  const script = (file) => `n=$(cat '${file}' 2>/dev/null || echo 0); n=$((n+1)); echo $n > '${file}'\n` +
    'echo "try $n attempt $DMT_ATTEMPT"\n[ "$n" -ge 3 ]';
  const c2 = path.join(WORK, 'count2');
  const c1 = path.join(WORK, 'count1');
  await mkShellJob(s, 'retry2', [{ name: 'flaky', script: script(c2), retries: 2 }]);
  await mkShellJob(s, 'retry1', [{ name: 'flaky', script: script(c1), retries: 1 }]);
  const ok = await runToEnd(s, 'retry2', 'dev');
  assert.equal(ok.status, 'succeeded', JSON.stringify(ok.tasks));
  assert.equal(taskOf(ok, 'flaky').status, 'succeeded');
  assert.equal(taskOf(ok, 'flaky').attempts, 3);
  assert.equal(taskOf(ok, 'flaky').exit_code, 0);
  assert.equal(fs.readFileSync(c2, 'utf8').trim(), '3');
  const log = await runLog(s, ok.id);
  for (const n of [1, 2, 3]) assert.ok(log.includes(`try ${n} attempt ${n}`), `DMT_ATTEMPT counts attempts:\n${log}`);

  const bad = await runToEnd(s, 'retry1', 'dev');
  assert.equal(bad.status, 'failed');
  assert.equal(taskOf(bad, 'flaky').status, 'failed');
  assert.equal(taskOf(bad, 'flaky').attempts, 2);
  assert.equal(taskOf(bad, 'flaky').exit_code, 1);
  assert.equal(fs.readFileSync(c1, 'utf8').trim(), '2', 'exactly two attempts ran');
});

test('preflight: a required variable missing in that environment is a 422 listing it; no run is created', async () => {
  const s = S.server;
  await mkShellJob(s, 'pre', [{ name: 'needs', script: 'echo "need=$NEEDED"' }]);
  await mkVar(s, 'pre', 'needs', 'NEEDED', { required: true });
  await putOverride(s, 'pre', 'needs', 'NEEDED', 'prod', 'set in prod');
  const before = (await s.get(`${R}?limit=500`)).json.items.length;
  const r = await s.post('/api/v1/jobs/pre/runs', { environment: 'dev' });
  const p = expectProblem(r, 422);
  assert.ok(Array.isArray(p.errors), `problem.errors: ${r.text}`);
  const e = p.errors.find((x) => x.task === 'needs' && x.variable === 'NEEDED');
  assert.ok(e, `errors should list needs/NEEDED: ${r.text}`);
  assert.equal(e.environment, 'dev');
  assert.equal(typeof e.message, 'string');
  assert.equal(r.headers.get('location'), null, 'no Location: nothing was created');
  assert.deepEqual((await s.get(`${R}?job=pre`)).json.items, [], 'GET /runs shows no run of the job');
  assert.equal((await s.get(`${R}?limit=500`)).json.items.length, before, 'no run at all was added');

  // a broken reference in the script is a preflight error too
  await mkShellJob(s, 'preref', [{ name: 't', script: 'echo ${{ tasks.ghost.outputs.x }}' }]);
  const r2 = await s.post('/api/v1/jobs/preref/runs', { environment: 'dev' });
  const p2 = expectProblem(r2, 422);
  assert.ok(p2.errors.some((x) => x.task === 't' && x.variable === 'script'), r2.text);
  assert.deepEqual((await s.get(`${R}?job=preref`)).json.items, []);

  // in prod the value is there: the run goes
  const run = await runToEnd(s, 'pre', 'prod');
  assert.equal(run.status, 'succeeded');
  assert.match(await runLog(s, run.id), /need=set in prod/);
  expectProblem(await s.post('/api/v1/jobs/nosuchjob/runs', { environment: 'dev' }), 404);
  expectProblem(await s.post('/api/v1/jobs/pre/runs', {}), 422, 'environment');
  assert.equal((await s.get(`${R}?job=pre`)).json.items.length, 1, 'only the prod run exists');
});

test("the task's environment is built from scratch: nothing of the server's leaks", async () => {
  const s = S.server;
  await mkShellJob(s, 'envjob', [{ name: 'show', script: 'env' }]);
  await mkVar(s, 'envjob', 'show', 'PLAIN', { value: 'plain value' });
  const run = await runToEnd(s, 'envjob', 'prod');
  assert.equal(run.status, 'succeeded');
  const log = await runLog(s, run.id);
  assert.ok(!log.includes(CANARY), `the server's DMT_SECRET_CANARY value leaked:\n${log}`);
  assert.ok(!log.includes(SERVER_VAR), `the server's SOME_SERVER_VAR value leaked:\n${log}`);
  const env = {};
  for (const line of log.split('\n')) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (m) env[m[1]] = m[2];
  }
  for (const k of ['DMT_SECRET_CANARY', 'SOME_SERVER_VAR', 'DMT_ADMIN_TOKEN', 'ASAN_OPTIONS', 'UBSAN_OPTIONS', 'LSAN_OPTIONS']) {
    assert.ok(!(k in env), `${k} reached the task:\n${log}`);
  }
  assert.equal(env.PATH, '/usr/local/bin:/usr/bin:/bin');
  assert.equal(env.LANG, 'C.UTF-8');
  assert.ok(env.HOME && env.HOME.startsWith(DATA + '/'), `HOME is the run's folder under --data-dir: ${env.HOME}`);
  assert.equal(env.DMT_RUN_ID, String(run.id));
  assert.equal(env.DMT_JOB, 'envjob');
  assert.equal(env.DMT_ENVIRONMENT, 'prod');
  assert.equal(env.DMT_TASK, 'show');
  assert.equal(env.DMT_ATTEMPT, '1');
  assert.ok(env.DMT_OUTPUT && env.DMT_OUTPUT.startsWith(DATA + '/'), `DMT_OUTPUT: ${env.DMT_OUTPUT}`);
  assert.equal(env.PLAIN, 'plain value', 'the shell plugin exports custom variables by name');
  assert.equal(env.DMT_VAR_PLAIN, 'plain value');
  assert.equal(env.DMT_VAR_script, 'env');
  const allowedDmt = new Set(['DMT_RUN_ID', 'DMT_JOB', 'DMT_ENVIRONMENT', 'DMT_TASK', 'DMT_ATTEMPT', 'DMT_OUTPUT']);
  const allowed = new Set(['PATH', 'HOME', 'LANG', 'PWD', 'OLDPWD', 'SHLVL', '_', 'PLAIN']);
  for (const k of Object.keys(env)) {
    assert.ok(allowed.has(k) || allowedDmt.has(k) || k.startsWith('DMT_VAR_'), `unexpected variable ${k} in the task's environment:\n${log}`);
  }
});

test('values arrive on stdin (JSON) and as DMT_VAR_<name>, never on argv', async () => {
  const s = S.server;
  const script = [
    'json=$(cat)',
    'printf "stdin:%s\\n" "$json" | tr -d "\\n" ; echo',
    'args=$(tr "\\0" " " < /proc/$$/cmdline)',
    'echo "argv: $args"',
    'case "$args" in *"$PROBE"*) echo ARGV-HAS-PROBE;; *) echo argv-clean-probe;; esac',
    'case "$args" in *"$KEY"*) echo ARGV-HAS-KEY;; *) echo argv-clean-key;; esac',
    'case "$json" in *"\\"KEY\\":\\"$KEY\\""*) echo stdin-has-key;; *) echo STDIN-LACKS-KEY;; esac',
    '[ "$DMT_VAR_KEY" = "$KEY" ] && echo dmt-var-key-ok',
    'echo "probe=$DMT_VAR_PROBE"',
  ].join('\n');
  await mkShellJob(s, 'argv', [{ name: 'probe', script }]);
  await mkVar(s, 'argv', 'probe', 'PROBE', { value: 'probe-value-123' });
  await mkVar(s, 'argv', 'probe', 'KEY', { value: 'argv-secret-k3y', secret: true });
  await mkJob(s, 'argv2');
  await mkTask(s, 'argv2', 'echo', { plugin: 'echoer', variables: { message: 'on stdin', token: 'echoer-secret-t0k' } });
  const run = await runToEnd(s, 'argv', 'dev');
  assert.equal(run.status, 'succeeded', JSON.stringify(run.tasks));
  const log = await runLog(s, run.id);
  assert.match(log, /argv-clean-probe/);
  assert.match(log, /argv-clean-key/);
  assert.match(log, /stdin-has-key/);
  assert.match(log, /dmt-var-key-ok/);
  assert.match(log, /probe=probe-value-123/);
  const stdinLine = log.split('\n').find((l) => l.startsWith('stdin:'));
  const doc = JSON.parse(stdinLine.slice(6));
  assert.equal(doc.PROBE, 'probe-value-123');
  assert.equal(doc.KEY, '***', 'the secret on stdin is masked in the log');
  assert.ok(!log.includes('argv-secret-k3y'));

  const r2 = await runToEnd(s, 'argv2', 'dev');
  assert.equal(r2.status, 'succeeded', JSON.stringify(r2.tasks));
  const log2 = await runLog(s, r2.id);
  assert.match(log2, /argc=0/);
  assert.match(log2, /"message":\s*"on stdin"/);
  assert.match(log2, /"token":\s*"\*\*\*"/);
  assert.ok(!log2.includes('echoer-secret-t0k'));
});

test('a re-run is a new run from the same snapshot, and succeeds', async () => {
  const s = S.server;
  await mkShellJob(s, 'again', [{ name: 'say', script: 'echo "v1 run ${{ run.id }}"' }]);
  const first = await runToEnd(s, 'again', 'prod');
  assert.equal(first.status, 'succeeded');
  // editing the job afterwards does not change what a re-run does
  expectStatus(await s.patch('/api/v1/jobs/again/tasks/say/variables/script', { value: 'echo v2; exit 1' }), 200);
  const r = await s.post(`${R}/${first.id}/rerun`);
  expectStatus(r, 201, 'rerun');
  const loc = r.headers.get('location');
  assert.ok(loc, 'a rerun answers with a Location');
  assert.ok(r.json.id > first.id, 'a new run');
  assert.equal(loc.startsWith('http') ? new URL(loc).pathname : loc, `${R}/${r.json.id}`);
  assert.equal(r.json.job, 'again');
  assert.equal(r.json.environment, 'prod');
  assert.equal(r.json.rerun_of, first.id);
  const second = await waitForRun(s, r.json.id);
  assert.equal(second.status, 'succeeded');
  const log = await runLog(s, second.id);
  assert.ok(log.includes(`v1 run ${second.id}`), `the re-run uses the old snapshot and its own id:\n${log}`);
  assert.doesNotMatch(log, /v2/);
  // the first run is untouched
  const old = (await s.get(`${R}/${first.id}`)).json;
  assert.equal(old.status, 'succeeded');
  assert.equal(old.finished_at, first.finished_at);
  expectProblem(await s.post(`${R}/999999/rerun`), 404);
  expectProblem(await s.post(`${R}/${first.id}/cancel`), 409);
  expectProblem(await s.get(`${R}/999999`), 404);
  expectProblem(await s.get(`${R}/999999/log`), 404);
});

test('GET /runs: newest first, filters, limit and cursor', async () => {
  const s = S.server;
  const all = (await s.get(`${R}?limit=500`)).json;
  assert.ok(Array.isArray(all.items) && all.items.length >= 10, `runs listed: ${all.items && all.items.length}`);
  assert.equal(all.next, null);
  const ids = all.items.map((x) => x.id);
  assert.deepEqual(ids, [...ids].sort((a, b) => b - a), 'newest first');
  const three = (await s.get(`${R}?job=three`)).json.items;
  assert.equal(three.length, 2);
  assert.ok(three.every((x) => x.job === 'three'));
  const threeProd = (await s.get(`${R}?job=three&environment=prod`)).json.items;
  assert.equal(threeProd.length, 1);
  assert.equal(threeProd[0].environment, 'prod');
  const failed = (await s.get(`${R}?status=failed`)).json.items;
  assert.ok(failed.length >= 3 && failed.every((x) => x.status === 'failed'), JSON.stringify(failed.map((x) => x.status)));
  // pages of 3 cover everything once
  const seen = [];
  let cursor = null;
  for (let i = 0; i < 100; i++) {
    const r = await s.get(`${R}?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    expectStatus(r, 200);
    assert.ok(r.json.items.length <= 3);
    seen.push(...r.json.items.map((x) => x.id));
    cursor = r.json.next;
    if (cursor === null) break;
  }
  assert.deepEqual(seen, ids, 'paging with the cursor yields every run once, in order');
  expectProblem(await s.get(`${R}?status=bogus`), 422);
  expectProblem(await s.get(`${R}?limit=0`), 422);
});

test('disabled tasks are skipped (and their problems do not block a run); a missing output fails its task', async () => {
  const s = S.server;
  await mkShellJob(s, 'partly', [{ name: 'a', script: 'echo a-ran' }]);
  await mkTask(s, 'partly', 'off', { enabled: false }); // no script: would be a preflight error
  await mkTask(s, 'partly', 'c', { variables: { script: 'echo c-ran' } });
  const run = await runToEnd(s, 'partly', 'dev');
  assert.equal(run.status, 'succeeded', JSON.stringify(run.tasks));
  assert.deepEqual(run.tasks.map((t) => [t.name, t.status]), [['a', 'succeeded'], ['off', 'skipped'], ['c', 'succeeded']]);
  assert.equal(taskOf(run, 'off').attempts, 0);

  await mkShellJob(s, 'noout', [
    { name: 'first', script: 'echo "present=1" >> "$DMT_OUTPUT"' },
    { name: 'second', script: 'echo "got ${{ tasks.first.outputs.absent }}"' },
  ]);
  const r = await runToEnd(s, 'noout', 'dev');
  assert.equal(r.status, 'failed');
  assert.deepEqual(taskOf(r, 'first').outputs, { present: '1' });
  const second = taskOf(r, 'second');
  assert.equal(second.status, 'failed');
  assert.match(String(second.error), /absent/, `the error names the missing output: ${second.error}`);
  assert.doesNotMatch(await runLog(s, r.id), /got /);
});

test('a large log (3 MB on stdout) is stored whole and in order', async () => {
  const s = S.server;
  const size = 3 * 1024 * 1024;
  await mkShellJob(s, 'big', [{ name: 'spew', script: `echo BEGIN-MARK; head -c ${size} /dev/zero | tr '\\0' 'x'; echo; echo END-MARK` }]);
  const run = await runToEnd(s, 'big', 'dev', 30000);
  assert.equal(run.status, 'succeeded', JSON.stringify(run.tasks));
  const log = await runLog(s, run.id);
  const b = log.indexOf('BEGIN-MARK\n');
  const e = log.indexOf('\nEND-MARK\n');
  assert.ok(b >= 0 && e > b, 'both marks are in the log, in order');
  const body = log.slice(b + 'BEGIN-MARK\n'.length, e);
  assert.equal(body.length, size, 'every byte of the output is stored');
  assert.ok(/^x*$/.test(body), 'nothing else is mixed into the output');
});

openapiCoverageTest(S);
