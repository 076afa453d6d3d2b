// Runs: the log - following it live (plain text and SSE) and masking
// secrets (plain, base64, JSON-escaped, split over two writes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  useServer, expectStatus, openapiCoverageTest, mkEnv, mkJob, mkTask, mkVar, mkShellJob,
  startRun, waitForRun, runLog, taskOf, REPO_ROOT, RFC3339_UTC, sleep,
} from './harness.mjs';

const DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'dmt-it-log-'));
const S = useServer({
  dir: DIR,
  args: ['--data-dir', path.join(DIR, 'data'), '--plugin-dir', path.join(REPO_ROOT, 'tests/plugins')],
});

const TALK = 'echo line-one\nsleep 1.5\necho line-two\nsleep 1\necho line-three >&2\nsleep 0.5\necho line-four';

/**
 * GET the log with a streaming fetch. onText(allTextSoFar, elapsedMs) is
 * awaited after each piece. Resolves {res, text, pieces} when the server
 * ends the response (bounded by timeoutMs).
 */
async function streamLog(s, id, { query = '', headers = {}, onText, timeoutMs = 20000 } = {}) {
  const t0 = Date.now();
  const res = await fetch(`${s.url}/api/v1/runs/${id}/log${query}`, {
    headers: { Authorization: `Bearer ${s.token}`, ...headers },
    signal: AbortSignal.timeout(timeoutMs),
  });
  expectStatus({ status: res.status, text: res.status === 200 ? '' : await res.text() }, 200, 'log stream');
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let text = '';
  let pieces = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += dec.decode(value, { stream: true });
    pieces++;
    if (onText) await onText(text, Date.now() - t0);
  }
  text += dec.decode();
  s.bodies.push(text);
  return { res, text, pieces };
}

test('setup', async () => {
  await mkEnv(S.server, 'dev');
});

test('?follow=1 streams the log while the run is live and ends with the run', async () => {
  const s = S.server;
  await mkShellJob(s, 'talk', [{ name: 'talk', script: TALK }]);
  const run0 = await startRun(s, 'talk', 'dev');
  let firstSeen = null; // {status, hadLater}
  const { res, text } = await streamLog(s, run0.id, {
    query: '?follow=1',
    onText: async (t) => {
      if (firstSeen === null && t.includes('line-one')) {
        const r = await s.get(`/api/v1/runs/${run0.id}`);
        firstSeen = { status: r.json.status, hadLater: /line-(two|three|four)/.test(t) };
        // a plain GET of the log of a live run answers at once with what is there
        const t1 = Date.now();
        const plain = await s.get(`/api/v1/runs/${run0.id}/log`);
        expectStatus(plain, 200);
        assert.ok(Date.now() - t1 < 1500, 'a log GET without follow does not wait for the run');
        assert.match(plain.text, /line-one/);
      }
    },
  });
  assert.match(res.headers.get('content-type') || '', /^text\/plain/);
  assert.ok(firstSeen, `the follower got line-one:\n${text}`);
  assert.equal(firstSeen.status, 'running', 'the first line arrived while the run was still running');
  assert.equal(firstSeen.hadLater, false, 'the first line arrived before the later ones were printed');
  for (const l of ['line-one', 'line-two', 'line-three', 'line-four']) assert.ok(text.includes(l), `${l} in the followed log:\n${text}`);
  assert.ok(text.indexOf('line-one') < text.indexOf('line-two') && text.indexOf('line-two') < text.indexOf('line-four'));
  assert.match(text, /succeeded/, 'the system line of the end is part of the stream');
  // the stream ended because the run ended
  const end = (await s.get(`/api/v1/runs/${run0.id}`)).json;
  assert.equal(end.status, 'succeeded');
  assert.equal(text, await runLog(s, run0.id), 'the followed log is the stored log');
});

test('Accept: text/event-stream streams log events live and ends with an `end` event', async () => {
  const s = S.server;
  const run0 = await startRun(s, 'talk', 'dev');
  let firstStatus = null;
  const { res, text } = await streamLog(s, run0.id, {
    headers: { Accept: 'text/event-stream' },
    onText: async (t) => {
      if (firstStatus === null && t.includes('line-one')) firstStatus = (await s.get(`/api/v1/runs/${run0.id}`)).json.status;
    },
  });
  assert.match(res.headers.get('content-type') || '', /^text\/event-stream/);
  assert.equal(firstStatus, 'running', 'the first line arrived while the run was running');
  const events = [];
  for (const block of text.split('\n\n')) {
    if (!block.trim()) continue;
    const ev = { event: 'message', data: '' };
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) continue;
      const i = line.indexOf(':');
      const k = i < 0 ? line : line.slice(0, i);
      const v = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
      if (k === 'data') ev.data += (ev.data ? '\n' : '') + v;
      else ev[k] = v;
    }
    if (ev.data || ev.event !== 'message') events.push(ev);
  }
  assert.ok(events.length >= 3, `events: ${text}`);
  const last = events[events.length - 1];
  assert.equal(last.event, 'end', `the stream ends with an end event:\n${text.slice(-500)}`);
  assert.equal(JSON.parse(last.data).status, 'succeeded');
  const logs = events.slice(0, -1);
  assert.ok(logs.every((e) => e.event === 'log'), `every other event is a log event: ${JSON.stringify(logs.map((e) => e.event))}`);
  let prev = 0;
  let joined = '';
  for (const e of logs) {
    const d = JSON.parse(e.data);
    assert.ok(Number.isInteger(d.seq) && d.seq > prev, `seq increases: ${e.data}`);
    prev = d.seq;
    if (e.id !== undefined) assert.equal(Number(e.id), d.seq, 'the event id is the seq');
    assert.ok(['stdout', 'stderr', 'system'].includes(d.stream), e.data);
    assert.match(d.ts, RFC3339_UTC);
    if (d.stream !== 'system') assert.equal(d.task, 'talk');
    if (d.data.includes('line-three')) assert.equal(d.stream, 'stderr', 'stderr is tagged');
    if (d.data.includes('line-one')) assert.equal(d.stream, 'stdout');
    joined += d.data;
  }
  for (const l of ['line-one', 'line-two', 'line-three', 'line-four']) assert.ok(joined.includes(l), l);
  assert.equal(joined, await runLog(s, run0.id), 'the events carry the stored log');
  assert.equal((await s.get(`/api/v1/runs/${run0.id}`)).json.status, 'succeeded');

  // the SSE form of an ended run: everything, then end, at once
  const t0 = Date.now();
  const again = await streamLog(s, run0.id, { headers: { Accept: 'text/event-stream' } });
  assert.ok(Date.now() - t0 < 3000);
  assert.match(again.text, /event: end\n/);
});

const TOKEN = 'tok-9f2c1e7a5b3d';
const TOKEN_B64 = Buffer.from(TOKEN).toString('base64');
// needs JSON escaping: its JSON form differs from its plain form
const QTOKEN = 'q"uo\\te-S3cr3t-77';
const QTOKEN_JSON = JSON.stringify(QTOKEN).slice(1, -1);

test('secrets never reach the stored or streamed log, in any form; *** does', async () => {
  const s = S.server;
  const script = [
    'echo "plain: $TOKEN"',
    'echo "b64: $(printf %s "$TOKEN" | base64)"',
    'printf "split: "; printf %s "${TOKEN%????}"; sleep 0.3; printf %s "${TOKEN#${TOKEN%????}}"; echo',
    'echo "stderr: $TOKEN" >&2',
    'echo "json: {\\"t\\":\\"$TOKEN\\"}"',
    'echo "var: $DMT_VAR_TOKEN"',
  ].join('\n');
  await mkShellJob(s, 'sec', [{ name: 'leak', script }]);
  await mkVar(s, 'sec', 'leak', 'TOKEN', { value: TOKEN, secret: true });
  await mkTask(s, 'sec', 'echo', { plugin: 'echoer', variables: { message: 'with a quoted secret', token: QTOKEN } });
  const run0 = await startRun(s, 'sec', 'dev');
  const followed = await streamLog(s, run0.id, { query: '?follow=1' });
  const run = await waitForRun(s, run0.id);
  assert.equal(run.status, 'succeeded', JSON.stringify(run.tasks));
  const sse = await streamLog(s, run0.id, { headers: { Accept: 'text/event-stream' } });
  const log = await runLog(s, run0.id);
  for (const [what, text] of [['stored log', log], ['followed log', followed.text], ['SSE log', sse.text]]) {
    for (const secret of [TOKEN, TOKEN_B64, QTOKEN, QTOKEN_JSON]) {
      assert.ok(!text.includes(secret), `${what} holds the secret ${JSON.stringify(secret)}:\n${text}`);
    }
    // also no recognisable piece of the secret split across writes
    assert.ok(!text.includes(TOKEN.slice(0, -4)), `${what} holds the first part of the split secret:\n${text}`);
  }
  const lines = log.split('\n');
  for (const want of ['plain: ***', 'b64: ***', 'split: ***', 'stderr: ***', 'json: {"t":"***"}', 'var: ***']) {
    assert.ok(lines.includes(want), `the log should have the line ${JSON.stringify(want)}:\n${log}`);
  }
  assert.match(log, /"token":\s*"\*\*\*"/, `the JSON-escaped secret on the echoer's stdin is masked:\n${log}`);
  assert.match(log, /argc=0/);
  assert.equal(taskOf(run, 'echo').outputs.out, 'with a quoted secret');
  // nothing the API answered, ever, held them
  s.assertNeverSeen(TOKEN);
  s.assertNeverSeen(TOKEN_B64);
  s.assertNeverSeen(QTOKEN_JSON);
});

test('a secret overridden per environment is masked in the environment it runs in', async () => {
  const s = S.server;
  await mkEnv(s, 'prod');
  const PROD = 'prod-only-s3cret-4e1a';
  await mkShellJob(s, 'sec2', [{ name: 'p', script: 'echo "tok: $TOKEN"\necho "b64: $(printf %s "$TOKEN" | base64)"' }]);
  await mkVar(s, 'sec2', 'p', 'TOKEN', { value: 'dev-s3cret-99ab', secret: true });
  expectStatus(await s.put('/api/v1/jobs/sec2/tasks/p/variables/TOKEN/overrides/prod', { value: PROD }), 201);
  const run = await waitForRun(s, (await startRun(s, 'sec2', 'prod')).id);
  assert.equal(run.status, 'succeeded');
  const log = await runLog(s, run.id);
  assert.ok(!log.includes(PROD) && !log.includes(Buffer.from(PROD).toString('base64')), log);
  assert.ok(log.split('\n').includes('tok: ***') && log.split('\n').includes('b64: ***'), log);
  s.assertNeverSeen(PROD);
});

test('a follower of a run that ends by failure gets everything and its end', async () => {
  const s = S.server;
  await mkShellJob(s, 'dies', [{ name: 'd', script: 'echo before-death; sleep 0.5; echo dying >&2; exit 3' }]);
  const run0 = await startRun(s, 'dies', 'dev');
  const { text } = await streamLog(s, run0.id, { headers: { Accept: 'text/event-stream' } });
  assert.match(text, /before-death/);
  assert.match(text, /dying/);
  const end = text.trim().split('\n\n').pop();
  assert.match(end, /^event: end\ndata: \{"status":"failed"\}$/, `end event: ${end}`);
  await sleep(10);
});

openapiCoverageTest(S);
