// Security (DESIGN §7, issue 6): protected environments, token revocation,
// the web session with CSRF, login lockout, short secrets, and a canary
// secret that must never appear anywhere outside the task.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { useServer, expectStatus, expectProblem, mkEnv, mkJob, mkTask, mkVar, putOverride,
  runToEnd, runLog, startRun, waitForRun, sleep, ADMIN_TOKEN } from './harness.mjs';

const MASTER = 'a1'.repeat(32);
const S = useServer({ env: { DMT_MASTER_KEY: MASTER } });
const CANARY = 'canary-Zq7-s3cr3t-value';
const J = '/api/v1/jobs';

async function userToken(s, name, role, password) {
  const body = { name, role };
  if (password) body.password = password;
  expectStatus(await s.post('/api/v1/users', body), 201, `create user ${name}`);
  const t = await s.post('/api/v1/tokens', { name: `${name}-token`, user: name });
  expectStatus(t, 201);
  return t.json.token;
}
const as = (token) => ({ Authorization: `Bearer ${token}` });

test('protected environments: only admins and grants run and change overrides', async () => {
  const s = S.server;
  await mkEnv(s, 'stage');
  await mkEnv(s, 'prod', { protected: true, grants: ['ed-granted', 'op-granted'] });
  await mkJob(s, 'deploy');
  await mkTask(s, 'deploy', 'go', { variables: { script: 'echo deploying' } });
  await mkVar(s, 'deploy', 'go', 'TARGET', { value: 'x' });
  const op = await userToken(s, 'op-plain', 'operator');
  const opg = await userToken(s, 'op-granted', 'operator');
  const ed = await userToken(s, 'ed-plain', 'editor');
  const edg = await userToken(s, 'ed-granted', 'editor');
  expectProblem(await s.post(`${J}/deploy/runs`, { environment: 'prod' }, as(op)), 403);
  expectProblem(await s.post(`${J}/deploy/runs`, { environment: 'prod' }, as(ed)), 403);
  const r = await s.post(`${J}/deploy/runs`, { environment: 'prod' }, as(opg));
  expectStatus(r, 201, 'a granted operator runs against prod');
  assert.equal(r.json.triggered_by, 'op-granted', 'triggered_by names the user');
  await waitForRun(s, r.json.id);
  expectStatus(await s.post(`${J}/deploy/runs`, { environment: 'stage' }, as(op)), 201, 'unprotected: any operator');
  const ov = `${J}/deploy/tasks/go/variables/TARGET/overrides/prod`;
  expectProblem(await s.put(ov, { value: 'p' }, as(ed)), 403);
  expectStatus(await s.put(ov, { value: 'p' }, as(edg)), 201, 'a granted editor sets a prod override');
  expectProblem(await s.del(ov, as(ed)), 403);
  expectStatus(await s.put(`${J}/deploy/tasks/go/variables/TARGET/overrides/stage`, { value: 's' }, as(ed)), 201);
  expectStatus(await s.post(`${J}/deploy/runs`, { environment: 'prod' }), 201, 'admins always may');
  // re-running a prod run is running against prod
  expectProblem(await s.post(`/api/v1/runs/${r.json.id}/rerun`, undefined, as(op)), 403);
  // ... by its id: renamed, it is still protected, and a new unprotected
  // environment with its old name does not open the door
  expectStatus(await s.patch('/api/v1/environments/prod', { name: 'production' }), 200);
  await mkEnv(s, 'prod');
  expectProblem(await s.post(`/api/v1/runs/${r.json.id}/rerun`, undefined, as(op)), 403);
  expectStatus(await s.post(`/api/v1/runs/${r.json.id}/rerun`, undefined, as(opg)), 201, 'a granted operator may');
  expectStatus(await s.del('/api/v1/environments/prod'), 204);
  expectStatus(await s.patch('/api/v1/environments/production', { name: 'prod' }), 200);
});

test('token revocation takes effect at once; tokens are never listed', async () => {
  const s = S.server;
  const tok = await userToken(s, 'revokee', 'viewer');
  expectStatus(await s.get('/api/v1/environments', as(tok)), 200);
  const list = await s.get('/api/v1/tokens');
  expectStatus(list, 200);
  assert.ok(!list.text.includes(tok), 'the token list never shows a token');
  const mine = list.json.items.find((t) => t.name === 'revokee-token');
  assert.equal(mine.user, 'revokee');
  expectStatus(await s.del(`/api/v1/tokens/${mine.id}`), 204);
  expectProblem(await s.get('/api/v1/environments', as(tok)), 401);
  expectProblem(await s.del(`/api/v1/tokens/${mine.id}`), 404);
});

function cookieOf(res) {
  const c = res.headers.get('set-cookie') || '';
  const m = /dmt_session=([^;]+)/.exec(c);
  return { raw: c, value: m && m[1] };
}

test('web session: HttpOnly SameSite=Strict cookie, new id per login, CSRF on writes, logout', async () => {
  const s = S.server;
  await userToken(s, 'webby', 'editor', 'correct horse battery');
  const login = () => s.post('/api/v1/session', { user: 'webby', password: 'correct horse battery' }, { Authorization: null });
  const a = await login();
  expectStatus(a, 200);
  assert.equal(a.json.user, 'webby');
  assert.equal(a.json.role, 'editor');
  assert.ok(typeof a.json.csrf_token === 'string' && a.json.csrf_token.length >= 22);
  const ca = cookieOf(a);
  assert.match(ca.raw, /HttpOnly/i);
  assert.match(ca.raw, /SameSite=Strict/i);
  assert.match(ca.raw, /Path=\//);
  const b = await login();
  const cb = cookieOf(b);
  assert.notEqual(ca.value, cb.value, 'a new session id at every login');
  const ck = { Authorization: null, Cookie: `dmt_session=${cb.value}` };
  const me = await s.get('/api/v1/session', ck);
  expectStatus(me, 200);
  assert.equal(me.json.user, 'webby');
  expectStatus(await s.get('/api/v1/jobs', ck), 200, 'reads need no CSRF token');
  expectProblem(await s.post(J, { name: 'via-cookie' }, ck), 403);
  expectProblem(await s.post(J, { name: 'via-cookie' }, { ...ck, 'X-CSRF-Token': a.json.csrf_token }), 403);
  expectStatus(await s.post(J, { name: 'via-cookie' }, { ...ck, 'X-CSRF-Token': b.json.csrf_token }), 201);
  expectProblem(await s.del('/api/v1/session', ck), 403);
  expectStatus(await s.del('/api/v1/session', { ...ck, 'X-CSRF-Token': b.json.csrf_token }), 204);
  expectProblem(await s.get('/api/v1/jobs', ck), 401);
  expectProblem(await s.get('/api/v1/jobs', { Authorization: null, Cookie: 'dmt_session=forged-session-id-000000000' }), 401);
});

test('failed logins are slow and counted; 10 in a row lock the account (429)', async () => {
  const s = S.server;
  await userToken(s, 'locky', 'viewer', 'the right password');
  const bad = () => s.post('/api/v1/session', { user: 'locky', password: 'wrong password' }, { Authorization: null });
  const t0 = Date.now();
  const pending = [];
  for (let i = 0; i < 10; i++) pending.push(bad());
  // the server keeps answering others while failed logins wait
  const t1 = Date.now();
  expectStatus(await s.get('/api/v1/environments'), 200);
  const quick = Date.now() - t1;
  const results = await Promise.all(pending);
  for (const r of results) expectProblem(r, 401);
  assert.ok(Date.now() - t0 >= 900, `failed logins are answered slowly (${Date.now() - t0} ms)`);
  assert.ok(quick < 900, `other requests are not held up by failed logins (${quick} ms)`);
  expectProblem(await s.post('/api/v1/session', { user: 'locky', password: 'the right password' }, { Authorization: null }), 429);
  const u = await s.get('/api/v1/users/locky');
  assert.equal(u.json.locked, true);
  // unknown users are answered like wrong passwords
  const t2 = Date.now();
  expectProblem(await s.post('/api/v1/session', { user: 'nobody', password: 'whatever1' }, { Authorization: null }), 401);
  assert.ok(Date.now() - t2 >= 900, 'unknown user: slow too');
  // an admin resets the password: unlocked
  expectStatus(await s.patch('/api/v1/users/locky', { password: 'a new password' }), 200);
  expectStatus(await s.post('/api/v1/session', { user: 'locky', password: 'a new password' }, { Authorization: null }), 200);
});

test('secrets shorter than 4 characters are refused', async () => {
  const s = S.server;
  await mkJob(s, 'shorty');
  await mkTask(s, 'shorty', 't', { variables: { script: 'true' } });
  const V = `${J}/shorty/tasks/t/variables`;
  expectProblem(await s.post(V, { name: 'S', secret: true, value: 'abc' }), 422, 'value');
  expectStatus(await s.post(V, { name: 'S', secret: true, value: 'abcd' }), 201);
  expectProblem(await s.patch(`${V}/S`, { value: 'xy' }), 422, 'value');
  expectProblem(await s.put(`${V}/S/overrides/stage`, { value: 'xyz' }), 422, 'value');
});

test('the canary secret appears nowhere: log, API, audit, server log, ps, database and WAL, child env', async () => {
  const s = S.server;
  await mkJob(s, 'canary');
  const b64 = Buffer.from(CANARY).toString('base64');
  const half = CANARY.length >> 1;
  const script = [
    'echo "plain: $KEY"',
    'printf "%s" "$KEY" | base64',
    'printf \'{"k": "%s"}\\n\' "$KEY"',
    `printf "%s" "$(printf %s "$KEY" | cut -c1-${half})"; sleep 0.3; printf "%s\\n" "$(printf %s "$KEY" | cut -c${half + 1}-)"`,
    'env > "$DMT_RUN_DIR_ENV_DUMP" 2>/dev/null || true',
    'env | sort',
    'sleep 1.5',
  ].join('\n');
  await mkTask(s, 'canary', 'leak', { variables: { script } });
  await mkVar(s, 'canary', 'leak', 'KEY', { secret: true, value: CANARY });
  await putOverride(s, 'canary', 'leak', 'KEY', 'stage', CANARY + '-stage');
  const run = await startRun(s, 'canary', 'stage');
  // ps while the task runs
  await sleep(700);
  const ps = execFileSync('ps', ['-eo', 'pid,args', '-ww'], { encoding: 'utf8' });
  const ended = await waitForRun(s, run.id);
  assert.equal(ended.status, 'succeeded', JSON.stringify(ended));
  const log = await runLog(s, run.id);
  const forms = [CANARY, b64, CANARY.slice(0, half + 2)];
  for (const f of forms) assert.ok(!log.includes(f), `the log holds ${f}:\n${log}`);
  assert.match(log, /plain: \*\*\*/);
  // the child's environment: nothing of the server's own
  for (const k of ['DMT_MASTER_KEY', 'DMT_ADMIN_TOKEN', MASTER, ADMIN_TOKEN]) assert.ok(!log.includes(k), `the child env holds ${k}`);
  assert.ok(!ps.includes(CANARY), 'ps shows the secret');
  // every API answer, the audit log, the server's own log
  const audit = await s.get('/api/v1/audit?limit=500');
  expectStatus(audit, 200);
  assert.ok(audit.json.items.some((e) => e.action === 'start' && e.kind === 'run'), 'run starts are audited');
  assert.ok(audit.json.items.some((e) => e.kind === 'variable' && e.name.includes('/canary/')), 'variable changes are audited');
  for (const x of [CANARY, CANARY + '-stage']) {
    s.assertNeverSeen(x);
    assert.ok(!s.log.includes(x), 'the server log holds the secret');
  }
  // the server process's own environment no longer holds the master key
  const environ = fs.readFileSync(`/proc/${s.proc.pid}/environ`);
  assert.ok(!environ.includes(MASTER), 'the master key stays in /proc/PID/environ');
  // the raw bytes of the database and its WAL
  for (const f of fs.readdirSync(s.dir)) {
    if (!f.startsWith('dmt.db')) continue;
    const buf = fs.readFileSync(`${s.dir}/${f}`);
    assert.ok(!buf.includes(CANARY), `${f} holds the secret in clear`);
  }
});

test('a wrong master key fails the start loudly; rotate-key re-seals every secret', async () => {
  const s = S.server;
  await s.stopClean();
  await assert.rejects(s.start({ env: { DMT_MASTER_KEY: 'b2'.repeat(32) } }), /master key does not match/);
  await assert.rejects(s.start({ env: { DMT_MASTER_KEY: 'zz' } }), /64 hexadecimal/);
  const newKey = `${s.dir}/new.key`;
  const out = execFileSync(process.env.DMT_CLI || `${process.cwd()}/../build/dmt`,
    ['admin', 'rotate-key', '--db', s.dbUrl, '--new-key-file', newKey],
    { env: { PATH: process.env.PATH, DMT_MASTER_KEY: MASTER }, encoding: 'utf8' });
  assert.match(out, /re-sealed \d+ secret/);
  assert.equal(fs.statSync(newKey).mode & 0o777, 0o600);
  await assert.rejects(s.start({ env: { DMT_MASTER_KEY: MASTER } }), /master key does not match/);
  await s.start({ env: { DMT_MASTER_KEY: undefined }, args: ['--key-file', newKey] });
  await mkTask(s, 'canary', 'check', { variables: { script: `test "$KEY" = "${'$'}EXPECT" && echo same` } });
  await mkVar(s, 'canary', 'check', 'KEY', { secret: true, value: 'rotated-secret-1' });
  await mkVar(s, 'canary', 'check', 'EXPECT', { value: 'rotated-secret-1' });
  expectStatus(await s.patch(`${J}/canary/tasks/leak`, { enabled: false }), 200);
  const run = await runToEnd(s, 'canary', 'stage');
  assert.equal(run.status, 'succeeded', JSON.stringify(run));
  // the old secret still opens after the rotation (the leak task, re-enabled)
  expectStatus(await s.patch(`${J}/canary/tasks/leak`, { enabled: true }), 200);
  const run2 = await runToEnd(s, 'canary', 'stage');
  assert.equal(run2.status, 'succeeded', JSON.stringify(run2));
  assert.match(await runLog(s, run2.id), /plain: \*\*\*/);
});
