// GET /api/v1/events: every change and every run state change as
// server-sent events; Last-Event-ID resumes; an unknown id is a reset.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useServer, expectStatus, openapiCoverageTest, mkEnv, mkShellJob, startRun, waitForRun } from './harness.mjs';

const S = useServer();

/** Opens the feed; returns {events, close, waitFor(pred)} parsing SSE frames as they come. */
async function feed(s, headers = {}) {
  const ctl = new AbortController();
  const res = await fetch(`${s.url}/api/v1/events`, { headers: { Authorization: `Bearer ${s.token}`, Accept: 'text/event-stream', ...headers }, signal: ctl.signal });
  expectStatus({ status: res.status, text: '' }, 200, 'events');
  assert.match(res.headers.get('content-type'), /^text\/event-stream/);
  const events = [];
  const waiters = [];
  let buf = '';
  const dec = new TextDecoder();
  (async () => {
    try {
      for await (const piece of res.body) {
        buf += dec.decode(piece, { stream: true });
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const frame = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const ev = { event: 'message', id: null, data: null };
          for (const line of frame.split('\n')) {
            if (line.startsWith('event: ')) ev.event = line.slice(7);
            else if (line.startsWith('id: ')) ev.id = Number(line.slice(4));
            else if (line.startsWith('data: ')) ev.data = JSON.parse(line.slice(6));
          }
          if (ev.data !== null) events.push(ev);
          for (const w of [...waiters]) if (w.pred(ev)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(ev); }
        }
      }
    } catch { /* aborted */ }
  })();
  return {
    events,
    close: () => ctl.abort(),
    waitFor(pred, ms = 10000) {
      const hit = events.find(pred);
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const w = { pred, resolve };
        waiters.push(w);
        setTimeout(() => reject(new Error(`no such event within ${ms} ms; got ${JSON.stringify(events)}`)), ms).unref();
      });
    },
  };
}

test('changes made through the API are announced with kind, name, version and action', async () => {
  const s = S.server;
  const f = await feed(s);
  await mkEnv(s, 'dev');
  const created = await f.waitFor((e) => e.data.kind === 'environment' && e.data.name === 'dev');
  assert.equal(created.event, 'change');
  assert.equal(created.data.action, 'created');
  assert.equal(created.data.version, 1);
  assert.equal(created.data.path, '/api/v1/environments/dev');
  assert.equal(created.id, created.data.id);
  expectStatus(await s.patch('/api/v1/environments/dev', { description: 'x' }), 200);
  const updated = await f.waitFor((e) => e.data.kind === 'environment' && e.data.action === 'updated');
  assert.equal(updated.data.version, 2);
  assert.ok(updated.id > created.id, 'ids increase');
  expectStatus(await s.del('/api/v1/environments/dev'), 204);
  await f.waitFor((e) => e.data.kind === 'environment' && e.data.action === 'deleted');
  f.close();
});

test('run state changes are announced, and Last-Event-ID resumes', async () => {
  const s = S.server;
  await mkEnv(s, 'qa');
  const f = await feed(s);
  await mkShellJob(s, 'ev', [{ name: 'one', script: 'echo hi' }]);
  const run = await startRun(s, 'ev', 'qa');
  await waitForRun(s, run.id);
  const done = await f.waitFor((e) => e.data.kind === 'run' && e.data.name === String(run.id) && e.data.status === 'succeeded' && e.data.action === 'updated');
  await f.waitFor((e) => e.data.kind === 'run' && e.data.action === 'task' && e.data.status === 'running');
  f.close();
  const first = f.events[0].id;
  const again = await feed(s, { 'Last-Event-ID': String(first) });
  const resumed = await again.waitFor((e) => e.id === done.id);
  assert.equal(again.events[0].id, first + 1, 'resumes right after Last-Event-ID');
  assert.deepEqual(resumed.data, done.data);
  again.close();
});

test('a Last-Event-ID the server does not know is a reset', async () => {
  const f = await feed(S.server, { 'Last-Event-ID': '999999999' });
  const ev = await f.waitFor((e) => e.event === 'reset');
  assert.ok(ev.data.reason);
  f.close();
  const bad = await S.server.get('/api/v1/events', { 'Last-Event-ID': 'x' });
  expectStatus(bad, 422);
});

openapiCoverageTest(S);
