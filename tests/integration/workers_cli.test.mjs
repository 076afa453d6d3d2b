// The CLI's verbs for workers and worker tags (DMT_CLI against the real
// server): dmt workers, dmt env add --worker-tags, dmt env set, the TAGS of
// env ls and env show, and what dmt run / rerun / runs say about where a run
// is (its worker, or why it is still queued). Errors: non-zero exit, one line
// on stderr starting "dmt:", nothing changed on the server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  useServer, startServer, expectStatus, mkEnv, mkShellJob, waitForRun, sleep,
} from './harness.mjs';

const DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'dmt-it-wcli-'));
const WORK = path.join(DIR, 'work');
fs.mkdirSync(WORK);
const S = useServer({
  dir: DIR,
  args: ['--data-dir', path.join(DIR, 'data'), '--concurrency', '4', '--lease', '9', '--tags', 'linux,ci'],
});
const E = '/api/v1/environments';

function show(args, r) {
  return `dmt ${args.join(' ')}: exit ${r.code} signal ${r.signal}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
}

async function ok(args, opts) {
  const r = await S.server.cli(args, opts);
  assert.equal(r.code, 0, show(args, r));
  return r;
}

async function json(args, opts) {
  const r = await ok([...args, '--json'], opts);
  try {
    return JSON.parse(r.stdout);
  } catch (e) {
    assert.fail(`--json printed no JSON: ${e.message}\n${show(args, r)}`);
  }
}

/** Fails with a non-zero exit and exactly one line on stderr starting "dmt:". */
async function fails(args, code) {
  const r = await S.server.cli(args);
  assert.notEqual(r.code, 0, `should fail: ${show(args, r)}`);
  if (code !== undefined) assert.equal(r.code, code, show(args, r));
  assert.equal(r.signal, null, show(args, r));
  const err = r.stderr.trim();
  assert.ok(err.startsWith('dmt:'), `stderr starts with "dmt:": ${show(args, r)}`);
  assert.equal(err.split('\n').length, 1, `one line on stderr: ${show(args, r)}`);
  assert.equal(r.stdout, '', `nothing on stdout: ${show(args, r)}`);
  return r;
}

function selfName() {
  return `${os.hostname()}:${S.server.proc.pid}`;
}

async function envDoc(name) {
  const r = await S.server.get(`${E}/${name}`);
  expectStatus(r, 200, `GET env ${name}`);
  return r.json;
}

test('dmt workers: a table of the executors, and --json', async () => {
  const r = await ok(['workers']);
  const lines = r.stdout.trimEnd().split('\n');
  assert.match(lines[0], /^NAME\s+KIND\s+STATUS\s+TAGS\s+RUNS\s+LAST_SEEN$/, show(['workers'], r));
  assert.equal(lines.length, 2, `one executor: ${r.stdout}`);
  const cells = lines[1].split(/\s+/);
  assert.deepEqual(cells.slice(0, 5), [selfName(), 'serve', 'online', 'ci,linux', '0/4'], lines[1]);
  assert.match(cells[5], /^\d{4}-\d{2}-\d{2}T/, 'LAST_SEEN is a time');
  const doc = await json(['workers']);
  assert.deepEqual(doc.next, null);
  assert.equal(doc.items.length, 1);
  assert.equal(doc.items[0].name, selfName());
  assert.equal(doc.items[0].kind, 'serve');
  assert.deepEqual([...doc.items[0].tags].sort(), ['ci', 'linux']);
  const bad = await S.server.cli(['workers', 'extra']);
  assert.equal(bad.code, 2, `an argument is a usage error: ${show(['workers', 'extra'], bad)}`);
  const help = await ok(['help', 'workers']);
  assert.match(help.stdout, /dmt workers/);
  const usage = await ok(['--help']);
  assert.match(usage.stdout, /dmt workers/, 'the usage text lists the verb');
  assert.match(usage.stdout, /dmt env set/, 'and env set');
});

test('dmt workers on a server without an executor: "no workers"', async () => {
  const s2 = await startServer({ args: ['--no-executor'] });
  try {
    const r = await s2.cli(['workers']);
    assert.equal(r.code, 0, show(['workers'], r));
    assert.equal(r.stdout.trim(), 'no workers');
    const j = await s2.cli(['workers', '--json']);
    assert.equal(j.code, 0, show(['workers', '--json'], j));
    assert.deepEqual(JSON.parse(j.stdout), { items: [], next: null });
  } finally {
    await s2.stopClean();
    fs.rmSync(s2.dir, { recursive: true, force: true });
  }
});

test('dmt env add --worker-tags; env show and env ls show them', async () => {
  await ok(['env', 'add', 'gpu-env', '--worker-tags', 'gpu, cuda-12', '--description', 'GPU boxes']);
  assert.deepEqual((await envDoc('gpu-env')).worker_tags, ['gpu', 'cuda-12'], 'sent as a JSON array, blanks dropped');
  await ok(['env', 'add', 'plain']);
  assert.deepEqual((await envDoc('plain')).worker_tags, []);
  const added = await json(['env', 'add', 'lin', '--worker-tags=linux']);
  assert.deepEqual(added.worker_tags, ['linux']);

  const sh = await ok(['env', 'show', 'gpu-env']);
  assert.match(sh.stdout, /^worker tags:\s+gpu, cuda-12$/m, sh.stdout);
  const shp = await ok(['env', 'show', 'plain']);
  assert.match(shp.stdout, /^worker tags:\s+-$/m, shp.stdout);
  assert.deepEqual((await json(['env', 'show', 'gpu-env'])).worker_tags, ['gpu', 'cuda-12']);

  const ls = await ok(['env', 'ls']);
  const lines = ls.stdout.trimEnd().split('\n');
  assert.match(lines[0], /^POSITION\s+NAME\s+PROTECTED\s+TAGS\s+DESCRIPTION$/, ls.stdout);
  assert.match(ls.stdout, /^\d+\s+gpu-env\s+no\s+gpu,cuda-12\s+GPU boxes$/m, ls.stdout);
  assert.match(ls.stdout, /^\d+\s+plain\s+no\s+-\s*$/m, ls.stdout);
  const lj = await json(['env', 'ls']);
  assert.deepEqual(lj.items.find((e) => e.name === 'gpu-env').worker_tags, ['gpu', 'cuda-12']);
});

test('dmt env set: worker tags, description, protected; "" clears the tags', async () => {
  let r = await ok(['env', 'set', 'plain', '--worker-tags', 'gpu,arm64']);
  assert.match(r.stdout, /updated environment plain/);
  assert.deepEqual((await envDoc('plain')).worker_tags, ['gpu', 'arm64']);
  r = await ok(['env', 'set', 'plain', '--description', 'now described']);
  let doc = await envDoc('plain');
  assert.equal(doc.description, 'now described');
  assert.deepEqual(doc.worker_tags, ['gpu', 'arm64'], 'set without --worker-tags keeps them');
  await ok(['env', 'set', 'plain', '--protected', 'true']);
  assert.equal((await envDoc('plain')).protected, true);
  const j = await json(['env', 'set', 'plain', '--protected', 'false', '--worker-tags', '', '--description', '']);
  assert.equal(j.name, 'plain');
  assert.equal(j.protected, false);
  assert.deepEqual(j.worker_tags, [], 'an empty --worker-tags clears them');
  assert.equal(j.description, '');
  doc = await envDoc('plain');
  assert.deepEqual(doc.worker_tags, []);
  assert.equal(doc.protected, false);
  const help = await ok(['env', 'set', '--help']);
  assert.match(help.stdout, /--worker-tags/);
});

test('dmt env set / add with bad input: one line on stderr, non-zero exit, nothing changed', async () => {
  await ok(['env', 'set', 'gpu-env', '--worker-tags', 'gpu']);
  const before = await envDoc('gpu-env');
  const many = Array.from({ length: 33 }, (_, i) => `t${i}`).join(',');
  const badTags = ['GPU', 'a b', 'gpu,gpu', 'a,,b', 'x/y', many];
  for (const t of badTags) {
    const r = await fails(['env', 'set', 'gpu-env', '--description', 'changed?', '--worker-tags', t]);
    assert.match(r.stderr, /worker_tags/, `the error names worker_tags: ${r.stderr}`);
    assert.deepEqual(await envDoc('gpu-env'), before, `--worker-tags ${t}: nothing changed`);
    await fails(['env', 'add', 'never', '--worker-tags', t]);
    expectStatus(await S.server.get(`${E}/never`), 404, `env add --worker-tags ${t} created nothing`);
  }
  const p = await fails(['env', 'set', 'gpu-env', '--protected', 'maybe', '--worker-tags', 'cuda'], 2);
  assert.match(p.stderr, /--protected/);
  assert.deepEqual(await envDoc('gpu-env'), before, 'a bad --protected sends nothing');
  const nf = await fails(['env', 'set', 'no-such-env', '--description', 'x']);
  assert.match(nf.stderr, /no-such-env/);
  // usage errors: exit 2, nothing changed
  for (const args of [['env', 'set', 'gpu-env'], ['env', 'set'], ['env', 'set', 'gpu-env', '--bogus', 'x'],
    ['env', 'set', 'gpu-env', 'extra', '--description', 'x']]) {
    const r = await S.server.cli(args);
    assert.equal(r.code, 2, show(args, r));
    assert.match(r.stderr, /^dmt: /, show(args, r));
  }
  assert.deepEqual(await envDoc('gpu-env'), before, 'nothing changed after all of these');
});

test('dmt run / rerun / runs: a queued run says why it waits, a run shows its worker', async () => {
  const s = S.server;
  await mkShellJob(s, 'cjob', [{ name: 'hi', script: 'echo hi' }]);
  // gpu-env needs ["gpu"]: the executor (linux, ci) lacks it
  const r = await ok(['run', 'cjob', '--env', 'gpu-env']);
  const m = /^run #(\d+) queued$/m.exec(r.stdout);
  assert.ok(m, show(['run'], r));
  const id = Number(m[1]);
  assert.match(r.stdout, /^reason:\s+.*\bgpu\b.*\bgpu-env\b/m, `the reason names tag and environment: ${r.stdout}`);
  assert.doesNotMatch(r.stdout, /^worker:/m, 'no worker yet');

  const j = await json(['run', 'cjob', '--env', 'gpu-env']);
  assert.equal(j.status, 'queued');
  assert.equal(j.worker, null);
  assert.deepEqual(j.worker_tags, ['gpu']);
  assert.match(j.queued_reason, /\bgpu\b/, '--json prints the run as GET shows it');

  const rr = await ok(['rerun', String(id)]);
  const rm = new RegExp(`^run #(\\d+) queued \\(re-run of #${id}\\)$`, 'm').exec(rr.stdout);
  assert.ok(rm, show(['rerun'], rr));
  assert.match(rr.stdout, /^reason:\s+.*\bgpu\b/m, rr.stdout);

  // a run the executor may take: it ends on this server, and says so
  const ran = await ok(['run', 'cjob', '--env', 'lin']);
  const rid = Number(/^run #(\d+) queued$/m.exec(ran.stdout)[1]);
  const end = await waitForRun(s, rid);
  assert.equal(end.status, 'succeeded');
  const ls = await ok(['runs', '--job', 'cjob']);
  assert.match(ls.stdout.split('\n')[0], /^ID\s+JOB\s+ENVIRONMENT\s+STATUS\s+WORKER\s+TRIGGERED_BY\s+CREATED$/, ls.stdout);
  assert.match(ls.stdout, new RegExp(`^${rid}\\s+cjob\\s+lin\\s+succeeded\\s+${selfName()}\\s`, 'm'), ls.stdout);
  assert.match(ls.stdout, new RegExp(`^${id}\\s+cjob\\s+gpu-env\\s+queued\\s+-\\s`, 'm'), ls.stdout);

  const f = await s.cli(['run', 'cjob', '--env', 'lin', '--follow'], { timeoutMs: 20000 });
  assert.equal(f.code, 0, show(['run', '--follow'], f));
  assert.match(f.stdout, /^hi$/m);
  assert.match(f.stderr, new RegExp(`run #\\d+ succeeded on ${selfName()}`), f.stderr);

  for (const q of [id, j.id, Number(rm[1])]) await ok(['cancel', String(q)]);
});

test('dmt run --follow of a run no executor may take says why, then ends when it is canceled', async () => {
  const s = S.server;
  const follower = s.cli(['run', 'cjob', '--env', 'gpu-env', '--follow'], { timeoutMs: 20000 });
  let run = null;
  for (let i = 0; i < 100 && !run; i++) {
    const items = (await s.get('/api/v1/runs?job=cjob&status=queued')).json.items;
    run = items[0] || null;
    if (!run) await sleep(50);
  }
  assert.ok(run, 'the run was created');
  await sleep(1000); // the CLI reads the run back and starts following
  const c = await ok(['cancel', String(run.id)]);
  assert.match(c.stdout, /canceled/);
  const f = await follower;
  assert.notEqual(f.code, 0, `a canceled run is not a success: ${show(['run', '--follow'], f)}`);
  assert.match(f.stdout, new RegExp(`^run #${run.id} queued$`, 'm'));
  assert.match(f.stderr, new RegExp(`run #${run.id} is queued: .*\\bgpu\\b.*\\bgpu-env\\b`), `the reason on stderr: ${f.stderr}`);
  assert.doesNotMatch(f.stdout, /reason:|is queued:/, 'stdout stays the log');
});

test('dmt workers shows the run an executor holds', async () => {
  const s = S.server;
  const go = path.join(WORK, 'go');
  await mkShellJob(s, 'hold', [{ name: 'h', script: `while [ ! -e '${go}' ]; do sleep 0.05; done` }]);
  await mkEnv(s, 'ci-env', { worker_tags: ['ci'] });
  const r = await ok(['run', 'hold', '--env', 'ci-env']);
  const id = Number(/^run #(\d+) queued$/m.exec(r.stdout)[1]);
  await waitForRun(s, id, ['running'], 10000);
  const w = await ok(['workers']);
  assert.match(w.stdout, new RegExp(`^${selfName()}\\s+serve\\s+online\\s+ci,linux\\s+\\d+/4 \\(#${id}\\)\\s`, 'm'), w.stdout);
  const st = await ok(['run', 'hold', '--env', 'ci-env']);
  const id2 = Number(/^run #(\d+) queued$/m.exec(st.stdout)[1]);
  await waitForRun(s, id2, ['running'], 10000);
  const w2 = await ok(['workers']);
  assert.match(w2.stdout, new RegExp(`\\(#${id}, #${id2}\\)|\\(#${id2}, #${id}\\)`), w2.stdout);
  fs.writeFileSync(go, '');
  for (const x of [id, id2]) assert.equal((await waitForRun(s, x)).status, 'succeeded');
  const w3 = await ok(['workers']);
  assert.doesNotMatch(w3.stdout, /\(#/, `no runs held: ${w3.stdout}`);
});
