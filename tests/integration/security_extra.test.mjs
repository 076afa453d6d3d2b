// Security, the rest of issue 6: the CLI's user and token verbs, TLS in
// `dmt serve` (--tls-cert/--tls-key, Secure cookies, the CLI over https with
// DMT_CACERT / DMT_INSECURE), tasks run as another user (--run-as), the
// lockout's Retry-After and the cookie a logout expires.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { useServer, startServer, expectStatus, expectProblem, mkEnv, mkShellJob, runToEnd,
  runLog, runCli, freePort, sleep, taskOf, ADMIN_TOKEN, DMT_BIN } from './harness.mjs';

const S = useServer();
const SANITIZER_RE = /(ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|SUMMARY: (Address|Leak|UndefinedBehavior)Sanitizer)/;

/** The cookie attributes of a Set-Cookie header, lower-cased, as a Set. */
function cookieAttrs(setCookie) {
  return new Set(setCookie.split(';').slice(1).map((a) => a.trim().toLowerCase()));
}

// ------------------------------------------------------------------ CLI verbs

test('dmt user and dmt token: a viewer token reads, may not write, and is revoked', async () => {
  const s = S.server;
  await mkEnv(s, 'dev');
  // a password on argv is refused, and nothing is created
  const onArgv = await s.cli(['user', 'add', 'vera', '--role', 'viewer', '--password', 'hunter2-pass']);
  assert.equal(onArgv.code, 2, `a password on argv is a usage error: ${onArgv.stderr}`);
  assert.match(onArgv.stderr, /stdin/);
  expectProblem(await s.get('/api/v1/users/vera'), 404);

  const add = await s.cli(['user', 'add', 'vera', '--role', 'viewer', '--password', '-'], { input: 'vera password 1\n' });
  assert.equal(add.code, 0, add.stderr);
  assert.match(add.stdout, /created user vera \(viewer\)/);
  const ls = await s.cli(['user', 'ls']);
  assert.equal(ls.code, 0, ls.stderr);
  assert.match(ls.stdout, /^NAME\s+ROLE\s+PASSWORD\s+LOCKED/m);
  assert.match(ls.stdout, /^vera\s+viewer\s+set\s+no/m);
  const show = await s.cli(['user', 'show', 'vera', '--json']);
  assert.equal(show.code, 0, show.stderr);
  const doc = JSON.parse(show.stdout);
  assert.equal(doc.role, 'viewer');
  assert.equal(doc.has_password, true);
  assert.ok(!show.stdout.includes('vera password 1'));
  // the password read from stdin is the one that logs in
  expectStatus(await s.post('/api/v1/session', { user: 'vera', password: 'vera password 1' }, { Authorization: null }), 200);

  const tok = await s.cli(['token', 'add', 'vera-ci', '--user', 'vera', '--json']);
  assert.equal(tok.code, 0, tok.stderr);
  const t = JSON.parse(tok.stdout);
  assert.equal(t.user, 'vera');
  assert.ok(typeof t.token === 'string' && t.token.length >= 22, 'the token is printed once');
  const tls = await s.cli(['token', 'ls']);
  assert.equal(tls.code, 0, tls.stderr);
  assert.match(tls.stdout, new RegExp(`^${t.id}\\s+vera-ci\\s+vera\\s`, 'm'));
  assert.ok(!tls.stdout.includes(t.token), 'token ls never shows a token');
  // the human form also prints it (once) with its id
  const tok2 = await s.cli(['token', 'add', 'other']);
  assert.equal(tok2.code, 0, tok2.stderr);
  assert.match(tok2.stdout, /^created token \d+ 'other' for user admin/);
  assert.match(tok2.stdout.split('\n')[1], /^[A-Za-z0-9_-]{22,}$/);

  // the viewer's token reads jobs, may not create one
  const viewer = { token: t.token };
  const jobs = await s.cli(['job', 'ls'], viewer);
  assert.equal(jobs.code, 0, jobs.stderr);
  const denied = await s.cli(['job', 'add', 'nope'], viewer);
  assert.equal(denied.code, 1, 'a viewer creating a job fails');
  expectProblem(await s.post('/api/v1/jobs', { name: 'nope' }, { Authorization: `Bearer ${t.token}` }), 403);
  // and may not manage users
  const u = await s.cli(['user', 'ls'], viewer);
  assert.equal(u.code, 1);

  // revoked: 401 at once
  const rm = await s.cli(['token', 'rm', String(t.id)]);
  assert.equal(rm.code, 0, rm.stderr);
  assert.match(rm.stdout, /revoked token/);
  expectProblem(await s.get('/api/v1/jobs', { Authorization: `Bearer ${t.token}` }), 401);
  const after = await s.cli(['job', 'ls'], viewer);
  assert.equal(after.code, 1);
  assert.equal((await s.cli(['token', 'rm', 'x'])).code, 2, 'a token id is a number');

  // set changes the role and the password; rm deletes
  const set = await s.cli(['user', 'set', 'vera', '--role', 'operator', '--password', '-'], { input: 'vera password 2' });
  assert.equal(set.code, 0, set.stderr);
  assert.equal((await s.get('/api/v1/users/vera')).json.role, 'operator');
  expectStatus(await s.post('/api/v1/session', { user: 'vera', password: 'vera password 2' }, { Authorization: null }), 200);
  assert.equal((await s.cli(['user', 'set', 'vera'])).code, 2, 'set needs something to change');
  const del = await s.cli(['user', 'rm', 'vera']);
  assert.equal(del.code, 0, del.stderr);
  expectProblem(await s.get('/api/v1/users/vera'), 404);
  // the last admin stays
  const last = await s.cli(['user', 'rm', 'admin']);
  assert.equal(last.code, 1);
  assert.match(last.stderr, /last admin/);
});

// ------------------------------------------------ Retry-After, logout cookie

test('a locked login answers 429 with Retry-After; logging out expires the cookie', async () => {
  const s = S.server;
  expectStatus(await s.post('/api/v1/users', { name: 'lucy', role: 'viewer', password: 'lucy password' }), 201);
  const bad = () => s.post('/api/v1/session', { user: 'lucy', password: 'wrong password' }, { Authorization: null });
  const results = await Promise.all(Array.from({ length: 10 }, bad));
  for (const r of results) expectProblem(r, 401);
  const locked = await s.post('/api/v1/session', { user: 'lucy', password: 'lucy password' }, { Authorization: null });
  expectProblem(locked, 429);
  const ra = locked.headers.get('retry-after');
  assert.match(String(ra), /^\d+$/, `Retry-After is a number of seconds: ${ra}`);
  assert.ok(Number(ra) > 800 && Number(ra) <= 900, `Retry-After is about 15 minutes: ${ra}`);
  // other answers carry no Retry-After
  assert.equal(results[0].headers.get('retry-after'), null);

  expectStatus(await s.post('/api/v1/users', { name: 'otto', role: 'viewer', password: 'otto password' }), 201);
  const login = await s.post('/api/v1/session', { user: 'otto', password: 'otto password' }, { Authorization: null });
  expectStatus(login, 200);
  const set = login.headers.get('set-cookie');
  assert.ok(!cookieAttrs(set).has('secure'), 'no Secure over plain HTTP');
  const cookie = set.split(';')[0];
  const out = await s.del('/api/v1/session', { Authorization: null, Cookie: cookie, 'X-CSRF-Token': login.json.csrf_token });
  expectStatus(out, 204);
  const gone = out.headers.get('set-cookie');
  assert.ok(gone, 'logout answers with a Set-Cookie');
  assert.match(gone, /^dmt_session=;/);
  const attrs = cookieAttrs(gone);
  assert.ok(attrs.has('max-age=0') && attrs.has('path=/') && attrs.has('httponly'), gone);
  expectProblem(await s.get('/api/v1/jobs', { Authorization: null, Cookie: cookie }), 401);
});

// ------------------------------------------------------------------------ TLS

/** One https request trusting ca; resolves {status, headers, json, text}. */
function httpsRequest(port, method, p, { ca, headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const h = { ...headers };
    if (payload !== undefined) h['Content-Type'] = 'application/json';
    const req = https.request({ host: 'localhost', port, method, path: p, headers: h, ca, timeout: 15000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => {
        let json = null;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, headers: res.headers, json, text });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${p}: timeout`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** Starts `dmt serve` with args in dir; resolves once it logged its URL. */
async function spawnServe(dir, args, env = {}) {
  const port = await freePort();
  const e = { PATH: process.env.PATH, HOME: dir, DMT_ADMIN_TOKEN: ADMIN_TOKEN, ...env };
  for (const k of ['ASAN_OPTIONS', 'UBSAN_OPTIONS', 'LSAN_OPTIONS'])
    if (process.env[k] !== undefined) e[k] = process.env[k];
  const proc = spawn(DMT_BIN, ['serve', '--listen', `127.0.0.1:${port}`, '--db', `sqlite:${path.join(dir, 'dmt.db')}`, ...args],
    { env: e, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const srv = { proc, port, log: '', exit: null };
  proc.stdout.setEncoding('utf8');
  proc.stderr.setEncoding('utf8');
  proc.stdout.on('data', (d) => { srv.log += d; });
  proc.stderr.on('data', (d) => { srv.log += d; });
  srv.exited = new Promise((r) => proc.on('exit', (code, signal) => { srv.exit = { code, signal }; r(srv.exit); }));
  const deadline = Date.now() + 15000;
  while (!/listening on/.test(srv.log)) {
    if (srv.exit) return srv;
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      assert.fail(`dmt serve did not start:\n${srv.log}`);
    }
    await sleep(50);
  }
  return srv;
}

async function stopServe(srv) {
  if (!srv.exit) {
    srv.proc.kill('SIGTERM');
    const t = setTimeout(() => srv.proc.kill('SIGKILL'), 10000);
    await srv.exited;
    clearTimeout(t);
  }
  assert.equal(srv.exit.code, 0, `dmt serve exit: ${JSON.stringify(srv.exit)}\n${srv.log}`);
  assert.ok(!SANITIZER_RE.test(srv.log), `sanitizer report:\n${srv.log}`);
}

test('TLS: --tls-cert/--tls-key serve https, cookies get Secure, the CLI trusts DMT_CACERT', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dmt-tls-'));
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-days', '1', '-keyout', key, '-out', cert],
  { stdio: 'ignore' });
  const ca = fs.readFileSync(cert);

  // both or neither
  const half = await spawnServe(dir, ['--tls-cert', cert]);
  await half.exited;
  assert.equal(half.exit.code, 2, half.log);
  assert.match(half.log, /--tls-cert and --tls-key go together/);
  const missing = await spawnServe(dir, ['--tls-cert', cert, '--tls-key', path.join(dir, 'nope.pem')]);
  await missing.exited;
  assert.equal(missing.exit.code, 1, missing.log);
  assert.match(missing.log, /--tls-key: cannot open/);

  const srv = await spawnServe(dir, ['--tls-cert', cert, '--tls-key', key]);
  try {
    assert.equal(srv.exit, null, srv.log);
    assert.match(srv.log, new RegExp(`listening on https://127\\.0\\.0\\.1:${srv.port}`));
    const h = await httpsRequest(srv.port, 'GET', '/healthz', { ca });
    assert.equal(h.status, 200);
    const auth = { Authorization: `Bearer ${ADMIN_TOKEN}` };
    assert.equal((await httpsRequest(srv.port, 'POST', '/api/v1/users', { ca, headers: auth,
      body: { name: 'tess', role: 'viewer', password: 'tess password' } })).status, 201);
    const login = await httpsRequest(srv.port, 'POST', '/api/v1/session', { ca, body: { user: 'tess', password: 'tess password' } });
    assert.equal(login.status, 200, login.text);
    const set = [].concat(login.headers['set-cookie'])[0];
    const attrs = cookieAttrs(set);
    assert.ok(attrs.has('secure') && attrs.has('httponly') && attrs.has('samesite=strict'), set);
    const out = await httpsRequest(srv.port, 'DELETE', '/api/v1/session', { ca,
      headers: { Cookie: set.split(';')[0], 'X-CSRF-Token': login.json.csrf_token } });
    assert.equal(out.status, 204, out.text);
    const gone = cookieAttrs([].concat(out.headers['set-cookie'])[0]);
    assert.ok(gone.has('max-age=0') && gone.has('secure'));
    // plain HTTP on the TLS port gets no answer from the API
    await assert.rejects(fetch(`http://127.0.0.1:${srv.port}/healthz`, { signal: AbortSignal.timeout(3000) }).then((r) => r.text()));

    const url = `https://localhost:${srv.port}`;
    const ok = await runCli(['user', 'ls'], { url, cwd: dir, env: { DMT_CACERT: cert } });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^tess\s+viewer/m);
    const untrusted = await runCli(['user', 'ls'], { url, cwd: dir });
    assert.equal(untrusted.code, 1, 'an unknown CA is refused');
    assert.match(untrusted.stderr, /certificate|SSL|TLS/i);
    const insecure = await runCli(['token', 'ls'], { url, cwd: dir, env: { DMT_INSECURE: '1' } });
    assert.equal(insecure.code, 0, insecure.stderr);
  } finally {
    await stopServe(srv);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// -------------------------------------------------------------------- run-as

test('--run-as nobody: tasks run as that user, use their folders, cannot read the database', async (t) => {
  if (process.getuid() !== 0) {
    t.skip('needs root');
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dmt-runas-'));
  // an unknown user, and a folder the user cannot pass, stop the start
  const unknown = await spawnServe(dir, ['--run-as', 'no-such-user-x']);
  await unknown.exited;
  assert.equal(unknown.exit.code, 1);
  assert.match(unknown.log, /--run-as: no user named 'no-such-user-x'/);
  const closed = await spawnServe(dir, ['--run-as', 'nobody', '--data-dir', path.join(dir, 'data')]);
  await closed.exited;
  assert.equal(closed.exit.code, 1, closed.log);
  assert.match(closed.log, /cannot pass through/);

  fs.chmodSync(dir, 0o711); // mkdtemp made it 0700
  const s = await startServer({ dir, args: ['--run-as', 'nobody', '--data-dir', path.join(dir, 'data')] });
  try {
    const db = s.dbPath;
    assert.equal(fs.statSync(db).mode & 0o077, 0, 'the database file is private');
    await mkEnv(s, 'dev');
    await mkShellJob(s, 'who', [
      { name: 'id', script: 'id -u; echo "uid=$(id -u)" >> "$DMT_OUTPUT"' },
      { name: 'files', script: `pwd; echo hello > made.txt && cat made.txt; if cat '${db}' >/dev/null 2>&1; then echo DB-READABLE; else echo db-refused; fi; ls .. >/dev/null 2>&1 && echo LISTED || echo no-listing` },
    ]);
    const run = await runToEnd(s, 'who', 'dev');
    const log = await runLog(s, run.id);
    assert.equal(run.status, 'succeeded', log);
    assert.match(log, /^65534$/m, log);
    assert.deepEqual(taskOf(run, 'id').outputs, { uid: '65534' });
    assert.match(log, /^hello$/m, 'the task writes in its work folder');
    assert.match(log, /db-refused/);
    assert.ok(!log.includes('DB-READABLE'), log);
    assert.match(log, /no-listing/, 'the run folder is not listable');
    assert.match(s.log, /tasks run as nobody \(uid 65534\)/);
  } finally {
    await s.stopClean();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
