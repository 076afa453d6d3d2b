// The web UI in real headless Chromium, part two: real paths (deep links,
// reloads, old #/ links), task reorder by drag and by buttons, deletes
// with confirmation, cancel and re-run from the run page, and the runs
// list's "Load more".
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { useServer, mkEnv, mkJob, mkShellJob, startRun, waitForRun, sleep } from '../integration/harness.mjs';
import { launch, openPage, closePage } from './browser.mjs';

const S = useServer();
let browser;
before(async () => {
  browser = await launch();
  const s = S.server;
  await mkEnv(s, 'dev');
  await mkShellJob(s, 'order', ['a', 'b', 'c', 'd'].map((name) => ({ name, script: `echo ${name}` })));
  await mkShellJob(s, 'slow', [{ name: 'wait', script: 'echo started\nsleep 30\necho never' }]);
  await mkShellJob(s, 'quick', [{ name: 'ok', script: 'true' }]);
});
after(async () => { if (browser) await browser.close(); });

/** The task names of job, in order, as the API has them. */
async function apiOrder(job) {
  const r = await S.server.get(`/api/v1/jobs/${job}/tasks`);
  assert.equal(r.status, 200, r.text);
  return [...r.json.items].sort((x, y) => x.position - y.position).map((t) => t.name);
}
/** The task names as the workflow area shows them. */
const uiOrder = (page) => page.locator('ol.tasklist > li').evaluateAll((lis) => lis.map((li) => li.dataset.task));

async function waitOrder(page, want) {
  const deadline = Date.now() + 8000;
  let got;
  while (Date.now() < deadline) {
    got = await uiOrder(page);
    if (JSON.stringify(got) === JSON.stringify(want)) return;
    await sleep(50);
  }
  assert.deepEqual(got, want, 'the order the page shows');
}

test('real paths: deep links and reloads load the page; other paths are not the UI', async () => {
  const s = S.server;
  // The server: the UI's pages are index.html; the API, assets and others are untouched.
  for (const p of ['/workflows', '/workflows/order', '/workflows/order/b', '/jobs', '/tasks', '/variables', '/environments', '/runs', '/runs/12', '/plugins', '/login']) {
    const r = await s.api('GET', p, undefined, { Authorization: null });
    assert.equal(r.status, 200, `GET ${p}`);
    assert.match(r.headers.get('content-type'), /^text\/html/, p);
    assert.match(r.text, /<script type="module" src="\/assets\/app\.js">/, p);
  }
  for (const p of ['/nope', '/workflows/a/b/c', '/runs/1/log', '/assets', '/jobs/x', '/assets/nope.js']) {
    assert.equal((await s.api('GET', p, undefined, { Authorization: null })).status, 404, `GET ${p}`);
  }
  assert.equal((await s.api('POST', '/jobs', {}, { Authorization: null })).status, 405, 'POST /jobs (a page)');
  assert.equal((await s.get('/api/v1/jobs')).status, 200);
  assert.equal((await s.api('GET', '/api/v1/jobs', undefined, { Authorization: null })).status, 401);
  assert.equal((await s.get('/healthz')).status, 200);
  const css = await s.api('GET', '/assets/style.css', undefined, { Authorization: null });
  assert.match(css.headers.get('content-type'), /^text\/css/);

  // The browser: a deep link loads the workflow directly, with its task.
  const page = await openPage(browser, s);
  await page.goto(`${s.url}/workflows/order/c`);
  await page.getByRole('heading', { name: 'Workflow order' }).waitFor();
  await page.getByRole('heading', { name: /^Task c/ }).waitFor();
  await page.getByRole('tab', { name: 'dev' }).waitFor();
  await page.waitForURL(`${s.url}/workflows/order/c?env=dev`);
  // The menu's links are real paths, followed without loading the page again.
  await page.evaluate(() => { window.__noReload = true; });
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Jobs' }).click();
  await page.waitForURL(`${s.url}/jobs`);
  await page.locator('tr[data-name="order"]').waitFor();
  assert.equal(await page.getByRole('link', { name: 'Jobs' }).getAttribute('aria-current'), 'page');
  await page.locator('tr[data-name="order"]').getByRole('link', { name: 'order' }).click();
  await page.waitForURL(/\/workflows\/order(\/a)?(\?env=dev)?$/);
  await page.getByRole('heading', { name: /^Task a/ }).waitFor();
  assert.equal(await page.evaluate(() => window.__noReload), true, 'a link loaded the page again');
  // Back and forward.
  await page.goBack();
  await page.waitForURL(`${s.url}/jobs`);
  await page.locator('tr[data-name="order"]').waitFor();
  await page.goForward();
  await page.getByRole('heading', { name: 'Workflow order' }).waitFor();
  assert.equal(await page.evaluate(() => window.__noReload), true, 'back/forward loaded the page again');
  // A reload on a deep link stays there.
  await page.goto(`${s.url}/plugins`);
  await page.reload();
  await page.getByRole('heading', { name: /^shell/ }).waitFor();
  // An old "#/" link with a query is redirected.
  await page.goto(`${s.url}/#/tasks?job=order`);
  await page.waitForURL(`${s.url}/tasks?job=order`);
  await page.locator('tr[data-name="d"]').waitFor();
  // A path the client does not know.
  await page.goto(`${s.url}/`);
  await page.waitForURL(`${s.url}/workflows`);
  await page.getByRole('heading', { name: 'Workflows' }).waitFor();
  await closePage(page);
});

test('reorder tasks by buttons, by drag, and see a reorder made elsewhere', async () => {
  const page = await openPage(browser, S.server);
  await page.goto(`${S.server.url}/workflows/order`);
  await waitOrder(page, ['a', 'b', 'c', 'd']);
  assert.equal(await page.getByRole('button', { name: 'Move a up' }).isDisabled(), true);
  assert.equal(await page.getByRole('button', { name: 'Move d down' }).isDisabled(), true);

  // Buttons (the keyboard way): a down, then d up.
  await page.getByRole('button', { name: 'Move a down' }).focus();
  await page.keyboard.press('Enter');
  await waitOrder(page, ['b', 'a', 'c', 'd']);
  assert.deepEqual(await apiOrder('order'), ['b', 'a', 'c', 'd']);
  await page.getByRole('button', { name: 'Move d up' }).click();
  await waitOrder(page, ['b', 'a', 'd', 'c']);
  assert.deepEqual(await apiOrder('order'), ['b', 'a', 'd', 'c']);

  // Drag with the mouse: c (last) by its grip onto b (first) puts c first.
  // The box of an element (null while a live refresh replaces it: again).
  const box = async (loc) => {
    for (let i = 0; i < 100; i++) {
      const b = await loc.boundingBox().catch(() => null);
      if (b) return b;
      await sleep(20);
    }
    throw new Error(`no box for ${loc}`);
  };
  const drag = async (name, onto) => {
    const g = await box(page.locator(`li[data-task="${name}"] .grip`));
    const t = await box(page.locator(`li[data-task="${onto}"]`));
    await page.mouse.move(g.x + g.width / 2, g.y + g.height / 2);
    await page.mouse.down();
    await page.mouse.move(g.x + g.width / 2, t.y + t.height / 2, { steps: 8 });
    // The drop place is shown while dragging.
    await page.locator('ol.tasklist li.dragging').waitFor();
    await page.locator('ol.tasklist li.drop-before, ol.tasklist li.drop-after').first().waitFor();
    await page.mouse.up();
  };
  await drag('c', 'b');
  await waitOrder(page, ['c', 'b', 'a', 'd']);
  let deadline = Date.now() + 5000;
  while (JSON.stringify(await apiOrder('order')) !== JSON.stringify(['c', 'b', 'a', 'd']) && Date.now() < deadline) await sleep(50);
  assert.deepEqual(await apiOrder('order'), ['c', 'b', 'a', 'd']);
  // Down: b onto d puts b last.
  await drag('b', 'd');
  await waitOrder(page, ['c', 'a', 'd', 'b']);
  deadline = Date.now() + 5000;
  while (JSON.stringify(await apiOrder('order')) !== JSON.stringify(['c', 'a', 'd', 'b']) && Date.now() < deadline) await sleep(50);
  assert.deepEqual(await apiOrder('order'), ['c', 'a', 'd', 'b']);
  // The positions shown are the server's (once its answer is in).
  deadline = Date.now() + 5000;
  const positions = () => page.locator('ol.tasklist .pos').allTextContents();
  while (JSON.stringify(await positions()) !== '["1","2","3","4"]' && Date.now() < deadline) await sleep(50);
  assert.deepEqual(await positions(), ['1', '2', '3', '4']);
  await waitOrder(page, ['c', 'a', 'd', 'b']);
  // A drag let go where it started changes nothing.
  const g = await box(page.locator('li[data-task="a"] .grip'));
  await page.mouse.move(g.x + 3, g.y + 3);
  await page.mouse.down();
  await page.mouse.move(g.x + 3, g.y + 8, { steps: 2 });
  await page.mouse.up();
  await sleep(200);
  assert.deepEqual(await apiOrder('order'), ['c', 'a', 'd', 'b']);

  // Escape during a drag puts the task back.
  const gd = await box(page.locator('li[data-task="d"] .grip'));
  const tc = await box(page.locator('li[data-task="c"]'));
  await page.mouse.move(gd.x + gd.width / 2, gd.y + gd.height / 2);
  await page.mouse.down();
  await page.mouse.move(gd.x + gd.width / 2, tc.y + tc.height / 2, { steps: 6 });
  await page.locator('ol.tasklist li.drop-before').waitFor();
  await page.keyboard.press('Escape');
  await page.locator('ol.tasklist li.dragging').waitFor({ state: 'detached' });
  await page.mouse.up();
  await sleep(200);
  assert.deepEqual(await uiOrder(page), ['c', 'a', 'd', 'b']);
  assert.deepEqual(await apiOrder('order'), ['c', 'a', 'd', 'b']);

  // Someone else reorders: the open page follows from /events.
  const t = await S.server.get('/api/v1/jobs/order/tasks/b');
  const r = await S.server.api('PATCH', '/api/v1/jobs/order/tasks/b', { position: 1 }, { 'If-Match': t.headers.get('etag') });
  assert.equal(r.status, 200, r.text);
  await waitOrder(page, ['b', 'c', 'a', 'd']);
  await closePage(page);
});

test('delete a task, a job and an environment, each after a confirmation', async () => {
  const s = S.server;
  await mkEnv(s, 'scratch');
  await mkShellJob(s, 'doomed', [{ name: 'one', script: 'true' }, { name: 'two', script: 'true' }]);
  const page = await openPage(browser, s);
  // This test answers the confirmations itself.
  page.removeAllListeners('dialog');
  const asked = [];
  let answer = false;
  page.on('dialog', async (d) => {
    asked.push(`${d.type()}: ${d.message()}`);
    if (answer) await d.accept(); else await d.dismiss();
  });

  // A task: dismissed first, nothing happens; then accepted.
  await page.goto(`${s.url}/tasks?job=doomed`);
  await page.locator('tr[data-name="two"]').waitFor();
  await page.getByRole('button', { name: 'Delete two' }).click();
  assert.deepEqual(asked, ['confirm: Delete task two?']);
  await sleep(200);
  assert.equal((await s.get('/api/v1/jobs/doomed/tasks/two')).status, 200, 'a dismissed confirmation deleted the task');
  answer = true;
  await page.getByRole('button', { name: 'Delete two' }).click();
  await page.locator('tr[data-name="two"]').waitFor({ state: 'detached' });
  assert.equal((await s.get('/api/v1/jobs/doomed/tasks/two')).status, 404);
  assert.equal(asked.length, 2);

  // A job.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Jobs' }).click();
  await page.locator('tr[data-name="doomed"]').waitFor();
  await page.getByRole('button', { name: 'Delete doomed' }).click();
  await page.locator('tr[data-name="doomed"]').waitFor({ state: 'detached' });
  assert.equal(asked[2], 'confirm: Delete job doomed?');
  assert.equal((await s.get('/api/v1/jobs/doomed')).status, 404);
  await page.locator('tr[data-name="order"]').waitFor();

  // An environment.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Environments' }).click();
  await page.locator('tr[data-name="scratch"]').waitFor();
  answer = false;
  await page.getByRole('button', { name: 'Delete scratch' }).click();
  await sleep(200);
  assert.equal((await s.get('/api/v1/environments/scratch')).status, 200);
  answer = true;
  await page.getByRole('button', { name: 'Delete scratch' }).click();
  await page.locator('tr[data-name="scratch"]').waitFor({ state: 'detached' });
  assert.equal(asked[4], 'confirm: Delete environment scratch?');
  assert.equal((await s.get('/api/v1/environments/scratch')).status, 404);
  assert.equal(asked.length, 5);
  await closePage(page);
});

test('cancel a run and re-run it from the run page, the status shown live', async () => {
  const s = S.server;
  const page = await openPage(browser, s);
  await page.goto(`${s.url}/workflows/slow`);
  await page.getByLabel('Environment', { exact: true }).selectOption('dev');
  await page.getByRole('button', { name: 'Run', exact: true }).click();
  await page.waitForURL(/\/runs\/\d+$/);
  const first = Number(/\/runs\/(\d+)$/.exec(page.url())[1]);
  await page.locator('#log [data-stream="stdout"]', { hasText: 'started' }).waitFor({ timeout: 15000 });
  await page.locator('#run-status[data-status="running"]').waitFor();
  await page.evaluate(() => { window.__noReload = true; });

  await page.getByRole('button', { name: 'Cancel', exact: true }).click();
  await page.locator('#run-status[data-status="canceled"]').waitFor({ timeout: 15000 });
  await page.locator('tr[data-task="wait"] .status.canceled').waitFor();
  assert.equal(await page.getByRole('button', { name: 'Cancel', exact: true }).isDisabled(), true);
  assert.ok(!(await page.locator('#log').textContent()).includes('never'));
  assert.equal((await s.get(`/api/v1/runs/${first}`)).json.status, 'canceled');
  assert.equal(await page.evaluate(() => window.__noReload), true, 'the page was reloaded');

  // Re-run: a new run of the same job, its page opened, linked to the first.
  await page.getByRole('button', { name: 'Re-run' }).click();
  await page.waitForURL((u) => /\/runs\/\d+$/.test(u.pathname) && !u.pathname.endsWith(`/runs/${first}`));
  const second = Number(/\/runs\/(\d+)$/.exec(page.url())[1]);
  assert.ok(second > first);
  await page.getByRole('link', { name: `re-run of #${first}` }).waitFor();
  await page.locator('#run-status[data-status="running"]').waitFor({ timeout: 15000 });
  await page.locator('#log [data-stream="stdout"]', { hasText: 'started' }).waitFor();
  assert.equal((await s.get(`/api/v1/runs/${second}`)).json.rerun_of, first);

  // Canceled from elsewhere (the API): the open page shows it.
  const c = await s.post(`/api/v1/runs/${second}/cancel`, {});
  assert.ok(c.status === 200 || c.status === 202, c.text);
  await page.locator('#run-status[data-status="canceled"]').waitFor({ timeout: 15000 });
  await waitForRun(s, second);
  assert.equal(await page.evaluate(() => window.__noReload), true, 'the page was reloaded');
  await closePage(page);
});

test('the runs list loads more with the API cursor, and stays live', async () => {
  const s = S.server;
  const ids = [];
  for (let i = 0; i < 5; i++) {
    const r = await startRun(s, 'quick', 'dev');
    await waitForRun(s, r.id);
    ids.push(r.id);
  }
  const newest = [...ids].reverse();
  const page = await openPage(browser, s);
  await page.goto(`${s.url}/runs?job=quick&limit=2`);
  const rows = page.locator('table[aria-label="Runs"] tbody tr');
  const shown = () => rows.evaluateAll((trs) => trs.map((tr) => Number(tr.dataset.run)));
  await rows.first().waitFor();
  assert.deepEqual(await shown(), newest.slice(0, 2));
  const more = page.getByRole('button', { name: 'Load more' });
  await more.click();
  await page.locator(`tr[data-run="${newest[3]}"]`).waitFor();
  assert.deepEqual(await shown(), newest.slice(0, 4));
  // The focus moves to the first run loaded.
  assert.equal(await page.evaluate(() => document.activeElement.textContent), `#${newest[2]}`);
  await more.click();
  await page.locator(`tr[data-run="${newest[4]}"]`).waitFor();
  assert.deepEqual(await shown(), newest);
  await more.waitFor({ state: 'detached' });
  await page.locator('#runs-count', { hasText: '5 runs shown, all that match' }).waitFor();

  // A new run shows at the top without a reload; as many runs stay shown.
  const r = await startRun(s, 'quick', 'dev');
  await page.locator(`tr[data-run="${r.id}"]`).waitFor();
  await waitForRun(s, r.id);
  await page.locator(`tr[data-run="${r.id}"]`).getByText('succeeded').waitFor();
  assert.deepEqual(await shown(), [r.id, ...newest.slice(0, 4)]);
  await more.waitFor();
  await more.click();
  await page.locator(`tr[data-run="${newest[4]}"]`).waitFor();
  assert.equal((await shown()).length, 6);
  await closePage(page);
});
