// The CLI (DMT_CLI, a plain REST client) against the real server. Output
// format assertions are loose (contains names/values); exit codes and --json
// output are checked strictly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  useServer, expectStatus, expectMasked, runCli, varOf,
} from './harness.mjs';

const S = useServer();

/** {value, source} of an effective/plan entry (more fields are welcome). */
const vs = (x) => (x && typeof x === 'object' ? { value: x.value, source: x.source } : x);
const SECRET = 'cli-S3CRET-from-stdin-5e8f0b';
const SECRET_PROD = 'cli-S3CRET-prod-a91c3d';

async function ok(args, opts) {
  const r = await S.server.cli(args, opts);
  assert.equal(r.code, 0, `dmt ${args.join(' ')} should exit 0, got ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

const multiLine = [];

async function fails(args, opts) {
  const r = await S.server.cli(args, opts);
  assert.notEqual(r.code, 0, `dmt ${args.join(' ')} should fail\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  assert.equal(r.signal, null, `dmt ${args.join(' ')} died of a signal`);
  const err = r.stderr.trim();
  assert.ok(err.startsWith('dmt:'), `stderr should start with "dmt:", got ${JSON.stringify(r.stderr)}`);
  // checked at the end, all cases at once (see 'CLI error messages are one line')
  if (err.split('\n').length !== 1) multiLine.push(`dmt ${args.join(' ')} -> ${JSON.stringify(r.stderr)}`);
  return r;
}

async function json(args, opts) {
  const r = await ok([...args, '--json'], opts);
  try {
    return JSON.parse(r.stdout);
  } catch (e) {
    assert.fail(`dmt ${args.join(' ')} --json printed no JSON: ${e.message}\n${r.stdout}`);
  }
}

/** Items of a --json list, whether printed as {"items": [...]} or as an array. */
function itemsOf(x) {
  if (Array.isArray(x)) return x;
  assert.ok(x && Array.isArray(x.items), `a JSON list: ${JSON.stringify(x).slice(0, 300)}`);
  return x.items;
}

test('env add / ls / show / rm', async () => {
  for (const e of ['dev', 'staging', 'prod']) await ok(['env', 'add', e]);
  const ls = await ok(['env', 'ls']);
  for (const e of ['dev', 'staging', 'prod']) assert.match(ls.stdout, new RegExp(`\\b${e}\\b`));
  assert.ok(ls.stdout.indexOf('dev') < ls.stdout.indexOf('staging') && ls.stdout.indexOf('staging') < ls.stdout.indexOf('prod'), 'in order');
  const lj = itemsOf(await json(['env', 'ls']));
  assert.deepEqual(lj.map((e) => e.name), ['dev', 'staging', 'prod']);
  const show = await ok(['env', 'show', 'staging']);
  assert.match(show.stdout, /staging/);
  const sj = await json(['env', 'show', 'staging']);
  assert.equal(sj.name, 'staging');
  assert.equal(sj.position, 2);
  await ok(['env', 'add', 'tmp']);
  expectStatus(await S.server.get('/api/v1/environments/tmp'), 200, 'env add went through the API');
  await ok(['env', 'rm', 'tmp']);
  expectStatus(await S.server.get('/api/v1/environments/tmp'), 404, 'env rm went through the API');
});

test('env errors: non-zero exit, one line on stderr starting "dmt:"', async () => {
  await fails(['env', 'show', 'nope']);
  await fails(['env', 'rm', 'nope']);
  await fails(['env', 'add', 'dev']);
  await fails(['env', 'add', 'Bad Name']);
  await fails(['env', 'show', 'nope', '--json']);
});

test('job add / ls / show / rm', async () => {
  await ok(['job', 'add', 'app']);
  await ok(['job', 'add', 'scratch']);
  const ls = await ok(['job', 'ls']);
  assert.match(ls.stdout, /\bapp\b/);
  assert.match(ls.stdout, /\bscratch\b/);
  const lj = itemsOf(await json(['job', 'ls']));
  assert.deepEqual(lj.map((j) => j.name).sort(), ['app', 'scratch']);
  const sj = await json(['job', 'show', 'app']);
  assert.equal(sj.name, 'app');
  assert.deepEqual(sj.tasks, []);
  assert.match((await ok(['job', 'show', 'app'])).stdout, /app/);
  await ok(['job', 'rm', 'scratch']);
  expectStatus(await S.server.get('/api/v1/jobs/scratch'), 404);
  await fails(['job', 'show', 'scratch']);
  await fails(['job', 'add', 'app']);
  await fails(['job', 'rm', 'scratch']);
});

test('task add with --set, ls, show', async () => {
  await ok(['task', 'add', 'app', 'build', '--plugin', 'shell', '--set', 'script=echo hi']);
  await ok(['task', 'add', 'app', 'deploy', '--plugin', 'shell', '--set', 'script=echo deploy ${{ env.name }}', '--set', 'workdir=/srv']);
  const t = (await S.server.get('/api/v1/jobs/app/tasks/build')).json;
  assert.equal(t.plugin, 'shell');
  assert.equal(varOf(t.variables, 'script').value, 'echo hi');
  assert.equal(varOf(t.variables, 'shell').value, '/bin/sh');
  const d = (await S.server.get('/api/v1/jobs/app/tasks/deploy')).json;
  assert.equal(varOf(d.variables, 'workdir').value, '/srv');
  assert.equal(varOf(d.variables, 'script').value, 'echo deploy ${{ env.name }}');
  const ls = await ok(['task', 'ls', 'app']);
  assert.match(ls.stdout, /build/);
  assert.match(ls.stdout, /deploy/);
  assert.ok(ls.stdout.indexOf('build') < ls.stdout.indexOf('deploy'), 'in order');
  const lj = itemsOf(await json(['task', 'ls', 'app']));
  assert.deepEqual(lj.map((x) => [x.name, x.position]), [['build', 1], ['deploy', 2]]);
  const show = await ok(['task', 'show', 'app', 'build']);
  assert.match(show.stdout, /shell/);
  assert.match(show.stdout, /script/);
  const sj = await json(['task', 'show', 'app', 'build']);
  assert.equal(sj.name, 'build');
  assert.equal(varOf(sj.variables, 'script').value, 'echo hi');
});

test('task errors', async () => {
  await fails(['task', 'add', 'app', 'build', '--plugin', 'shell']);
  await fails(['task', 'add', 'app', 'x', '--plugin', 'nope']);
  await fails(['task', 'add', 'nojob', 'z', '--plugin', 'shell']);
  await fails(['task', 'show', 'app', 'nope']);
  await fails(['task', 'mv', 'app', 'nope', '1']);
  await fails(['task', 'rm', 'app', 'nope']);
  for (const n of ['x']) expectStatus(await S.server.get(`/api/v1/jobs/app/tasks/${n}`), 404, 'failed add created nothing');
});

test('task mv and rm', async () => {
  await ok(['task', 'add', 'app', 'tmp', '--plugin', 'shell', '--set', 'script=true']);
  await ok(['task', 'mv', 'app', 'tmp', '1']);
  let order = (await S.server.get('/api/v1/jobs/app/tasks')).json.items.map((t) => [t.name, t.position]);
  assert.deepEqual(order, [['tmp', 1], ['build', 2], ['deploy', 3]]);
  await ok(['task', 'mv', 'app', 'tmp', '3']);
  order = (await S.server.get('/api/v1/jobs/app/tasks')).json.items.map((t) => [t.name, t.position]);
  assert.deepEqual(order, [['build', 1], ['deploy', 2], ['tmp', 3]]);
  await ok(['task', 'rm', 'app', 'tmp']);
  order = (await S.server.get('/api/v1/jobs/app/tasks')).json.items.map((t) => t.name);
  assert.deepEqual(order, ['build', 'deploy']);
});

test('var set: default and override', async () => {
  await ok(['var', 'set', 'app', 'deploy', 'shell', '/bin/bash']);
  await ok(['var', 'set', 'app', 'deploy', 'workdir', '/srv/prod', '--env', 'prod']);
  await ok(['var', 'set', 'app', 'deploy', 'workdir', '/srv/staging', '--env', 'staging']);
  const v = (await S.server.get('/api/v1/jobs/app/tasks/deploy/variables/workdir')).json;
  assert.equal(v.value, '/srv', 'default untouched by --env');
  assert.deepEqual(v.overrides, { prod: '/srv/prod', staging: '/srv/staging' });
  assert.equal((await S.server.get('/api/v1/jobs/app/tasks/deploy/variables/shell')).json.value, '/bin/bash');
});

test('var set --secret with VALUE "-" reads stdin; never printed', async () => {
  const s = S.server;
  const r = await s.post('/api/v1/jobs/app/tasks/deploy/variables', { name: 'API_KEY', secret: true });
  expectStatus(r, 201);
  expectMasked(r.json.value, false);
  const a = await ok(['var', 'set', 'app', 'deploy', 'API_KEY', '-', '--secret'], { input: SECRET + '\n' });
  const b = await ok(['var', 'set', 'app', 'deploy', 'API_KEY', '-', '--env', 'prod', '--secret'], { input: SECRET_PROD });
  const v = (await s.get('/api/v1/jobs/app/tasks/deploy/variables/API_KEY')).json;
  expectMasked(v.value, true, 'secret default set from stdin');
  expectMasked(v.overrides.prod, true, 'secret override set from stdin');
  const outs = [a, b];
  outs.push(await ok(['var', 'ls', 'app', 'deploy']));
  outs.push(await ok(['var', 'ls', 'app', 'deploy', '--json']));
  outs.push(await ok(['workflow', 'app']));
  outs.push(await ok(['workflow', 'app', '--json']));
  outs.push(await ok(['task', 'show', 'app', 'deploy']));
  outs.push(await ok(['task', 'show', 'app', 'deploy', '--json']));
  outs.push(await ok(['plan', 'app', '--env', 'prod']));
  outs.push(await ok(['plan', 'app', '--env', 'prod', '--json']));
  for (const o of outs) {
    for (const x of [SECRET, SECRET_PROD]) {
      assert.ok(!o.stdout.includes(x) && !o.stderr.includes(x), `secret printed by the CLI: ${o.stdout}${o.stderr}`);
    }
  }
  s.assertNeverSeen(SECRET);
  s.assertNeverSeen(SECRET_PROD);
});

test('var set with "-" reads a non-secret value from stdin', async () => {
  await ok(['var', 'set', 'app', 'build', 'script', '-'], { input: 'echo from stdin\necho line two\n' });
  const v = (await S.server.get('/api/v1/jobs/app/tasks/build/variables/script')).json;
  assert.match(v.value, /^echo from stdin\necho line two\n?$/);
});

test('var ls', async () => {
  const ls = await ok(['var', 'ls', 'app', 'deploy']);
  for (const n of ['script', 'shell', 'workdir', 'API_KEY', '/bin/bash']) assert.ok(ls.stdout.includes(n), `var ls shows ${n}: ${ls.stdout}`);
  const lj = itemsOf(await json(['var', 'ls', 'app', 'deploy']));
  assert.deepEqual(lj.map((v) => v.name).sort(), ['API_KEY', 'script', 'shell', 'workdir']);
  assert.deepEqual(varOf(lj, 'workdir').overrides, { prod: '/srv/prod', staging: '/srv/staging' });
});

test('var unset --env removes an override', async () => {
  await ok(['var', 'unset', 'app', 'deploy', 'workdir', '--env', 'staging']);
  const v = (await S.server.get('/api/v1/jobs/app/tasks/deploy/variables/workdir')).json;
  assert.deepEqual(v.overrides, { prod: '/srv/prod' });
  await fails(['var', 'unset', 'app', 'deploy', 'workdir', '--env', 'staging']);
});

test('var errors', async () => {
  await fails(['var', 'set', 'app', 'deploy', 'workdir', 'x', '--env', 'nowhere']);
  await fails(['var', 'set', 'app', 'nope', 'workdir', 'x']);
  await fails(['var', 'ls', 'app', 'nope']);
  assert.equal((await S.server.get('/api/v1/jobs/app/tasks/deploy/variables/workdir')).json.value, '/srv');
});

test('workflow JOB shows environments and override values', async () => {
  const r = await ok(['workflow', 'app']);
  for (const x of ['build', 'deploy', 'workdir', '/srv/prod', 'prod', 'dev']) assert.ok(r.stdout.includes(x), `workflow shows ${x}:\n${r.stdout}`);
  const j = await json(['workflow', 'app']);
  assert.equal(j.job, 'app');
  assert.deepEqual(j.environments, ['dev', 'staging', 'prod']);
  const wd = varOf(j.tasks.find((t) => t.name === 'deploy').variables, 'workdir');
  assert.deepEqual(vs(wd.effective.prod), { value: '/srv/prod', source: 'override' });
  await fails(['workflow', 'nope']);
});

test('plan JOB --env ENV: exit 0 when clean, non-zero with errors', async () => {
  const r = await ok(['plan', 'app', '--env', 'prod']);
  assert.ok(r.stdout.includes('/srv/prod'), `plan shows the override:\n${r.stdout}`);
  const j = await json(['plan', 'app', '--env', 'prod']);
  assert.equal(j.environment, 'prod');
  assert.deepEqual(j.errors, []);
  assert.deepEqual(j.tasks.map((t) => t.name), ['build', 'deploy']);
  assert.deepEqual(vs(j.tasks[1].variables.workdir), { value: '/srv/prod', source: 'override' });
  // a task with no script makes the plan fail
  await ok(['task', 'add', 'app', 'empty', '--plugin', 'shell']);
  const bad = await S.server.cli(['plan', 'app', '--env', 'dev']);
  assert.notEqual(bad.code, 0, `plan with errors should exit non-zero:\n${bad.stdout}\n${bad.stderr}`);
  assert.ok((bad.stdout + bad.stderr).includes('script'), 'the error names the variable');
  assert.ok((bad.stdout + bad.stderr).includes('empty'), 'the error names the task');
  const badj = await S.server.cli(['plan', 'app', '--env', 'dev', '--json']);
  assert.notEqual(badj.code, 0, 'plan --json with errors exits non-zero too');
  let pj;
  try { pj = JSON.parse(badj.stdout); } catch (e) { assert.fail(`plan --json with errors should still print the plan as JSON: ${e.message}\nstdout: ${badj.stdout}\nstderr: ${badj.stderr}`); }
  assert.ok(pj.errors.some((e) => e.task === 'empty' && e.variable === 'script' && e.environment === 'dev'), JSON.stringify(pj.errors));
  await fails(['plan', 'app', '--env', 'nowhere']);
  await fails(['plan', 'nope', '--env', 'dev']);
  await ok(['task', 'rm', 'app', 'empty']);
  await ok(['plan', 'app', '--env', 'dev']);
});

test('plugin ls / show', async () => {
  const ls = await ok(['plugin', 'ls']);
  assert.match(ls.stdout, /\bshell\b/);
  const lj = itemsOf(await json(['plugin', 'ls']));
  assert.ok(lj.some((p) => p.name === 'shell'));
  const show = await ok(['plugin', 'show', 'shell']);
  for (const x of ['script', 'shell', 'workdir', '/bin/sh']) assert.ok(show.stdout.includes(x), `plugin show lists ${x}:\n${show.stdout}`);
  const sj = await json(['plugin', 'show', 'shell']);
  assert.equal(sj.name, 'shell');
  assert.ok(sj.variables.some((v) => v.name === 'script' && v.required === true));
  await fails(['plugin', 'show', 'nope']);
});

test('job rm through the CLI cascades', async () => {
  await ok(['job', 'add', 'gone']);
  await ok(['task', 'add', 'gone', 't', '--plugin', 'shell', '--set', 'script=true']);
  await ok(['job', 'rm', 'gone']);
  expectStatus(await S.server.get('/api/v1/jobs/gone/tasks/t'), 404);
});

test('connection and auth errors', async () => {
  const s = S.server;
  // wrong token
  await fails(['env', 'ls'], { token: 'wrong-token-0000000000000000000000' });
  // nothing listening
  const r = await runCli(['env', 'ls'], { url: 'http://127.0.0.1:1', cwd: s.dir });
  assert.notEqual(r.code, 0);
  assert.ok(r.stderr.trim().startsWith('dmt:'), `stderr: ${r.stderr}`);
  // DMT_URL from the environment is what the CLI uses
  const r2 = await runCli(['env', 'ls', '--json'], { url: s.url, cwd: s.dir });
  assert.equal(r2.code, 0, r2.stderr);
});

test('usage errors: unknown verb, missing arguments', async () => {
  for (const args of [['nonsense'], ['env'], ['env', 'add'], ['task', 'add', 'app'], ['var', 'set', 'app', 'deploy'], ['plan', 'app'], ['task', 'mv', 'app', 'build', 'notanumber']]) {
    const r = await S.server.cli(args);
    assert.notEqual(r.code, 0, `dmt ${args.join(' ')} should fail: ${r.stdout}`);
    assert.equal(r.signal, null);
    assert.ok(r.stderr.trim().length > 0, `dmt ${args.join(' ')} says why on stderr`);
  }
});

test('CLI error messages are one line on stderr', () => {
  assert.deepEqual(multiLine, [], 'errors print a one-line message starting "dmt:"');
});
