// The web UI in real headless Chromium, part three: executors and worker
// tags. The Workers page (the server itself, a second `dmt worker` on the
// same database, online then lost with no event announcing it), worker
// tags in the environment forms (created, edited, bad input), and the run
// page of a run that waits for a worker with tags: its queued reason, kept
// current by the page without an event, until a worker with the tag takes it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { useServer, mkEnv, mkShellJob, startRun, waitForRun, sleep, DMT_BIN } from '../integration/harness.mjs';
import { launch, openPage, closePage } from './browser.mjs';

const SERVE_TAGS = ['linux', 'ui-test'];
const S = useServer({ args: ['--tags', SERVE_TAGS.join(',')] });
let browser;
const workers = [];
before(async () => {
  browser = await launch();
  await mkEnv(S.server, 'plain');
  await mkShellJob(S.server, 'hold', [{ name: 'wait', script: 'echo holding\nsleep 30' }]);
  await mkShellJob(S.server, 'quick', [{ name: 'hi', script: 'echo hi from $(hostname)' }]);
});
after(async () => {
  for (const w of workers) if (w.exitCode === null && w.signalCode === null) { w.kill('SIGKILL'); await new Promise((r) => w.once('exit', r)); }
  if (browser) await browser.close();
});

async function submitForm(page, name) {
  await page.getByRole('form', { name }).getByRole('button', { name: /^Create|^Save/ }).click();
}

/** GET /workers, asserting 200; its items. */
async function apiWorkers() {
  const r = await S.server.get('/api/v1/workers');
  assert.equal(r.status, 200, r.text);
  return r.json.items;
}

/** The tags shown as badges inside loc, in order. */
const badges = (loc) => loc.locator('.badge.tag').evaluateAll((els) => els.map((e) => e.textContent));

/** Polls fn() until it returns true (fails with what() after ms). */
async function until(fn, ms, what) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await fn()) return;
    await sleep(100);
  }
  assert.fail(`not within ${ms} ms: ${what()}`);
}

/** Starts `dmt worker` on the server's database; resolves {proc, name} once it reported itself. */
async function startWorker(tags, lease, concurrency = 2) {
  const s = S.server;
  const dir = path.join(s.dir, `worker-${workers.length}`);
  fs.mkdirSync(dir, { recursive: true });
  const env = { PATH: process.env.PATH, HOME: dir };
  for (const k of ['ASAN_OPTIONS', 'UBSAN_OPTIONS', 'LSAN_OPTIONS']) if (process.env[k] !== undefined) env[k] = process.env[k];
  const proc = spawn(DMT_BIN, ['worker', '--db', s.dbUrl, '--tags', tags.join(','), '--lease', String(lease), '--concurrency', String(concurrency),
    '--data-dir', path.join(dir, 'data')], { env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  workers.push(proc);
  proc.log = '';
  proc.stdout.setEncoding('utf8');
  proc.stderr.setEncoding('utf8');
  proc.stdout.on('data', (d) => { proc.log += d; });
  proc.stderr.on('data', (d) => { proc.log += d; s.log += `[worker] ${d}`; });
  let mine;
  await until(async () => {
    mine = (await apiWorkers()).find((w) => w.kind === 'worker' && w.name.endsWith(`:${proc.pid}`));
    return !!mine;
  }, 15000, () => `the worker (pid ${proc.pid}) never showed in GET /workers; its log:\n${proc.log}`);
  return { proc, name: mine.name };
}

test('the Workers page lists the server itself, online, with its tags and the runs it holds', async () => {
  const s = S.server;
  const [self] = (await apiWorkers()).filter((w) => w.kind === 'serve');
  assert.ok(self, 'GET /workers lists the serve process');
  assert.equal(self.status, 'online');
  assert.deepEqual(self.tags, SERVE_TAGS);

  // /workers is a page of the UI (index.html, no login needed for the shell); the API is not.
  const shell = await s.api('GET', '/workers', undefined, { Authorization: null });
  assert.equal(shell.status, 200);
  assert.match(shell.headers.get('content-type'), /^text\/html/);
  assert.equal((await s.api('GET', '/api/v1/workers', undefined, { Authorization: null })).status, 401);

  const page = await openPage(browser, s);
  await page.goto(`${s.url}/workflows`);
  // The side menu has the page; its link is a real path.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Workers' }).click();
  await page.waitForURL(`${s.url}/workers`);
  await page.getByRole('heading', { name: 'Workers' }).waitFor();
  assert.equal(await page.getByRole('link', { name: 'Workers' }).getAttribute('aria-current'), 'page');

  const row = page.getByRole('table', { name: 'Workers' }).locator(`tr[data-name="${self.name}"]`);
  await row.waitFor();
  assert.equal(await row.locator('td[data-label="Name"]').textContent(), self.name);
  assert.equal(await row.locator('td[data-label="Kind"]').textContent(), 'serve');
  assert.equal(await row.locator('.wstatus').getAttribute('data-status'), 'online');
  assert.match(await row.locator('td[data-label="Status"]').textContent(), /online/);
  assert.deepEqual(await badges(row.locator('td[data-label="Tags"]')), SERVE_TAGS);
  assert.equal(await row.locator('td[data-label="Active / concurrency"]').textContent(), `0 / ${self.concurrency}`);
  assert.match(await row.locator('td[data-label="Last seen"]').textContent(), /^\d+ (s|min) ago$/);
  assert.equal(await row.locator('td[data-label="Runs held"]').textContent(), 'none');
  await page.locator('#workers-summary').filter({ hasText: '1 online, 0 lost' }).waitFor();

  // A run it claims shows up in its row (the claim is an event), linked to the run's page.
  const run = await startRun(s, 'hold', 'plain');
  await waitForRun(s, run.id, 'running');
  const link = row.locator('td[data-label="Runs held"]').getByRole('link', { name: `#${run.id}` });
  await link.waitFor();
  await link.click();
  await page.waitForURL(`${s.url}/runs/${run.id}`);
  await page.locator('#run-status[data-status="running"]').waitFor();
  // The run page says where it runs and what it needs.
  assert.equal(await page.locator('#run-worker').textContent(), self.name);
  assert.match(await page.locator('#run-worker-tags').textContent(), /none \(any worker\)/);
  assert.equal(await page.locator('#queued-reason').isHidden(), true);
  await page.getByRole('button', { name: 'Cancel' }).click();
  await page.locator('#run-status[data-status="canceled"]').waitFor({ timeout: 20000 });
  await page.goBack();
  await page.waitForURL(`${s.url}/workers`);
  await row.locator('td[data-label="Runs held"]').filter({ hasText: /^none$/ }).waitFor();
  // A reload of the deep link stays on the page.
  await page.reload();
  await page.getByRole('table', { name: 'Workers' }).locator(`tr[data-name="${self.name}"]`).waitFor();
  await closePage(page);
});

test('worker tags in the environment forms: created, shown as badges, edited, cleared', async () => {
  const s = S.server;
  const page = await openPage(browser, s);
  await page.goto(`${s.url}/environments`);
  await page.locator('tr[data-name="plain"]').waitFor();
  assert.equal(await page.locator('tr[data-name="plain"] td[data-label="Worker tags"]').textContent(), 'any worker');

  await page.getByRole('button', { name: 'New environment' }).click();
  const f = page.getByRole('form', { name: 'New environment' });
  await f.getByLabel('Name').fill('gpu-farm');
  await f.getByLabel('Worker tags').fill(' gpu, linux ,cuda.12 ');
  await submitForm(page, 'New environment');
  const row = page.locator('tr[data-name="gpu-farm"]');
  await row.waitFor();
  assert.deepEqual(await badges(row.locator('td[data-label="Worker tags"]')), ['gpu', 'linux', 'cuda.12']);
  let env = (await s.get('/api/v1/environments/gpu-farm')).json;
  assert.deepEqual(env.worker_tags, ['gpu', 'linux', 'cuda.12']);

  // Edit: the form opens with the tags as text; a new list replaces them.
  await row.getByRole('button', { name: 'Edit gpu-farm' }).click();
  const ef = page.getByRole('form', { name: 'Edit' });
  assert.equal(await ef.getByLabel('Worker tags').inputValue(), 'gpu, linux, cuda.12');
  await ef.getByLabel('Worker tags').fill('gpu');
  await submitForm(page, 'Edit');
  await row.locator('td[data-label="Worker tags"]').filter({ hasText: /^gpu$/ }).waitFor();
  env = (await s.get('/api/v1/environments/gpu-farm')).json;
  assert.deepEqual(env.worker_tags, ['gpu']);

  // A change made elsewhere shows up by itself.
  const r = await s.patch('/api/v1/environments/gpu-farm', { worker_tags: ['gpu', 'big-mem'] });
  assert.equal(r.status, 200, r.text);
  await until(async () => JSON.stringify(await badges(row)) === '["gpu","big-mem"]', 8000, () => 'the list did not show gpu, big-mem');

  // Emptied: any worker.
  await row.getByRole('button', { name: 'Edit gpu-farm' }).click();
  await ef.getByLabel('Worker tags').fill('');
  await submitForm(page, 'Edit');
  await row.locator('td[data-label="Worker tags"]').filter({ hasText: /^any worker$/ }).waitFor();
  assert.deepEqual((await s.get('/api/v1/environments/gpu-farm')).json.worker_tags, []);
  await closePage(page);
});

test('bad worker tags: the server\'s message next to the field, nothing saved', async () => {
  const s = S.server;
  const page = await openPage(browser, s);
  await page.goto(`${s.url}/environments`);
  await page.getByRole('button', { name: 'New environment' }).click();
  const f = page.getByRole('form', { name: 'New environment' });
  const err = f.locator('[data-error-for="worker_tags"]');
  await f.getByLabel('Name').fill('badtags');

  for (const [typed, message] of [['GPU!', /tags: 1-63 of a-z 0-9/], ['gpu, gpu', /names 'gpu' twice/],
    [Array.from({ length: 33 }, (_, i) => `t${i}`).join(','), /more than 32 tags/]]) {
    await f.getByLabel('Worker tags').fill(typed);
    await submitForm(page, 'New environment');
    await err.filter({ hasText: message }).waitFor();
    assert.equal(await f.getByLabel('Worker tags').getAttribute('aria-invalid'), 'true', typed);
    // The other fields are fine: no error next to them.
    assert.equal(await f.locator('[data-error-for="name"]').textContent(), '');
    assert.equal((await s.get('/api/v1/environments/badtags')).status, 404, `nothing created for ${typed}`);
  }
  // Fixed: the error goes away and the environment is created.
  await f.getByLabel('Worker tags').fill('gpu');
  await submitForm(page, 'New environment');
  await page.locator('tr[data-name="badtags"]').waitFor();

  // The edit form shows its errors the same way, and keeps the old tags.
  await page.locator('tr[data-name="badtags"]').getByRole('button', { name: 'Edit badtags' }).click();
  const ef = page.getByRole('form', { name: 'Edit' });
  await ef.getByLabel('Worker tags').fill('has space, Upper');
  await submitForm(page, 'Edit');
  await ef.locator('[data-error-for="worker_tags"]').filter({ hasText: /tags: 1-63/ }).waitFor();
  assert.deepEqual((await s.get('/api/v1/environments/badtags')).json.worker_tags, ['gpu']);
  await closePage(page);
});

test('a run waiting for a worker tag: its queued reason, kept current until a worker takes it', async () => {
  const s = S.server;
  await mkEnv(s, 'cuda', { worker_tags: ['cuda'] });
  const run = await startRun(s, 'quick', 'cuda');
  const page = await openPage(browser, s);
  await page.goto(`${s.url}/runs/${run.id}`);
  await page.locator('#run-status[data-status="queued"]').waitFor();
  const reason = (await s.get(`/api/v1/runs/${run.id}`)).json.queued_reason;
  assert.match(reason, /cuda/, 'the API says why the run waits');
  const notice = page.locator('#queued-reason');
  await notice.waitFor();
  assert.equal(await notice.getAttribute('role'), 'status');
  assert.equal(await page.locator('#queued-reason-text').textContent(), reason.replaceAll('`', ''));
  assert.match(await notice.textContent(), /none of the 1 online executor/);
  assert.deepEqual(await badges(page.locator('#run-worker-tags')), ['cuda']);
  assert.equal(await page.locator('#run-worker').textContent(), 'not claimed yet');

  // A worker with the tag starts (another process: the server announces
  // nothing): the page, asking again while the run is queued, sees the run
  // taken by it and finished.
  const w = await startWorker(['cuda', 'linux'], 2);
  await page.locator('#run-status[data-status="succeeded"]').waitFor({ timeout: 20000 });
  await page.locator('#run-worker').filter({ hasText: w.name }).waitFor();
  assert.equal(await notice.isHidden(), true, 'no queued notice once the run left the queue');
  const done = await waitForRun(s, run.id);
  assert.equal(done.worker, w.name);

  // The Workers page shows both executors; the worker, killed, turns lost
  // when its lease runs out: no event says so, the page refreshes by itself.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Workers' }).click();
  const wrow = page.locator(`tr[data-name="${w.name}"]`);
  await wrow.waitFor();
  assert.equal(await wrow.locator('td[data-label="Kind"]').textContent(), 'worker');
  assert.deepEqual(await badges(wrow), ['cuda', 'linux']);
  await wrow.locator('.wstatus[data-status="online"]').waitFor();
  await page.locator('#workers-summary').filter({ hasText: '2 online, 0 lost' }).waitFor();
  w.proc.kill('SIGKILL');
  await new Promise((r) => (w.proc.exitCode !== null || w.proc.signalCode !== null ? r() : w.proc.once('exit', r)));
  await wrow.locator('.wstatus[data-status="lost"]').waitFor({ timeout: 15000 });
  assert.equal(await wrow.getAttribute('data-status'), 'lost');
  await page.locator('#workers-summary').filter({ hasText: '1 online, 1 lost' }).waitFor();

  // Now a queued run of cuda says the only worker with the tag is gone.
  const run2 = await startRun(s, 'quick', 'cuda');
  await page.goto(`${s.url}/runs/${run2.id}`);
  await page.locator('#queued-reason-text').filter({ hasText: /cuda/ }).waitFor();
  assert.equal(await page.locator('#queued-reason-text').textContent(), (await s.get(`/api/v1/runs/${run2.id}`)).json.queued_reason.replaceAll('`', ''));
  // Canceled from its page: the notice goes.
  await page.getByRole('button', { name: 'Cancel' }).click();
  await page.locator('#run-status[data-status="canceled"]').waitFor();
  assert.equal(await page.locator('#queued-reason').isHidden(), true);

  // A reason that changes with no event about the run: a second worker
  // with the tag, busy with a long run, then killed. The waiting run's page
  // goes from "busy" to "none has the tags" by asking again by itself.
  const w2 = await startWorker(['cuda'], 2, 1);
  const long = await startRun(s, 'hold', 'cuda');
  const held = await waitForRun(s, long.id, 'running');
  assert.equal(held.worker, w2.name);
  await until(async () => (await apiWorkers()).find((x) => x.name === w2.name).active === 1, 10000, () => 'the worker never reported 1 active run');
  const run3 = await startRun(s, 'quick', 'cuda');
  await page.goto(`${s.url}/runs/${run3.id}`);
  await page.locator('#queued-reason-text').filter({ hasText: /free slot/ }).waitFor();
  assert.equal(await page.locator('#queued-reason-text').textContent(), (await s.get(`/api/v1/runs/${run3.id}`)).json.queued_reason);
  w2.proc.kill('SIGKILL');
  await page.locator('#queued-reason-text').filter({ hasText: /none of the 1 online executor has them all/ }).waitFor({ timeout: 15000 });
  assert.equal(await page.locator('#run-status').getAttribute('data-status'), 'queued');
  await page.getByRole('button', { name: 'Cancel' }).click();
  await page.locator('#run-status[data-status="canceled"]').waitFor();
  await closePage(page);
});
