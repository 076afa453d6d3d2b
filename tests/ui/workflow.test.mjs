// The web UI in real headless Chromium: forms, the workflow area's
// environment tabs, live updates from /api/v1/events, a 412 explained, a
// run watched live, and the login page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { useServer, sleep } from '../integration/harness.mjs';
import { launch, openPage, closePage } from './browser.mjs';

const ADMIN_PASSWORD = 'ui-test-admin-password';
const S = useServer({ env: { DMT_ADMIN_PASSWORD: ADMIN_PASSWORD } });
let browser;
before(async () => { browser = await launch(); });
after(async () => { if (browser) await browser.close(); });

const SCRIPT = 'echo "greeting=$GREETING"\necho oops >&2\nsleep 1.5\necho done';

async function submitForm(page, name) {
  await page.getByRole('form', { name }).getByRole('button', { name: /^Create|^Save/ }).click();
}

test('create an environment, a job and a shell task through the forms', async () => {
  const page = await openPage(browser, S.server);
  // An old "#/" link still works: it is redirected to the real path.
  await page.goto(`${S.server.url}/#/environments`);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Environments' }).waitFor();
  await page.waitForURL(`${S.server.url}/environments`);

  // A bad name: the server's message is shown next to the field.
  await page.getByRole('button', { name: 'New environment' }).click();
  const envForm = page.getByRole('form', { name: 'New environment' });
  await envForm.getByLabel('Name').fill('Bad Name');
  await submitForm(page, 'New environment');
  await envForm.locator('[data-error-for="name"]').filter({ hasText: 'not a valid name' }).waitFor();
  assert.equal(await envForm.getByLabel('Name').getAttribute('aria-invalid'), 'true');

  await envForm.getByLabel('Name').fill('dev');
  await submitForm(page, 'New environment');
  await page.locator('tr[data-name="dev"]').waitFor();
  await page.getByRole('button', { name: 'New environment' }).click();
  await envForm.getByLabel('Name').fill('prod');
  await envForm.getByLabel('Protected').check();
  await submitForm(page, 'New environment');
  await page.locator('tr[data-name="prod"]').getByText('protected').waitFor();

  await page.getByRole('link', { name: 'Jobs' }).click();
  await page.getByRole('button', { name: 'New job' }).click();
  await page.getByRole('form', { name: 'New job' }).getByLabel('Name').fill('deploy');
  await submitForm(page, 'New job');
  await page.locator('tr[data-name="deploy"]').waitFor();

  await page.locator('tr[data-name="deploy"]').getByRole('link', { name: 'Tasks' }).click();
  await page.getByRole('button', { name: 'New task' }).click();
  const taskForm = page.getByRole('form', { name: 'New task' });
  await taskForm.getByLabel('Name').fill('hello');
  await taskForm.getByLabel('Plugin').selectOption('shell');
  // The plugin's variables come with the form.
  await taskForm.getByLabel(/^script/).fill(SCRIPT);
  await submitForm(page, 'New task');
  await page.locator('tr[data-name="hello"]').waitFor();

  // A custom variable, through the Variables page.
  await page.locator('tr[data-name="hello"]').getByRole('link', { name: 'Variables' }).click();
  await page.locator('tr[data-name="script"]').waitFor();
  await page.getByRole('button', { name: 'New variable' }).click();
  const varForm = page.getByRole('form', { name: 'New variable' });
  await varForm.getByLabel('Name').fill('GREETING');
  await varForm.getByLabel('Default value').fill('hello');
  await submitForm(page, 'New variable');
  await page.locator('tr[data-name="GREETING"]').waitFor();

  const task = await S.server.get('/api/v1/jobs/deploy/tasks/hello');
  assert.equal(task.status, 200);
  assert.equal(task.json.plugin, 'shell');
  assert.equal(task.json.variables.find((v) => v.name === 'script').value, SCRIPT);
  await closePage(page);
});

let wfPage;

test('a prod override set in the prod tab changes the effective value', async () => {
  const page = wfPage = await openPage(browser, S.server);
  await page.goto(`${S.server.url}/workflows/deploy/hello`);
  const tabs = page.getByRole('tablist', { name: 'Environments' });
  await tabs.getByRole('tab', { name: 'dev' }).waitFor();
  assert.deepEqual(await tabs.getByRole('tab').allTextContents(), ['dev', 'prod']);
  // Keyboard: the arrow keys move between the tabs.
  await tabs.getByRole('tab', { name: 'dev' }).focus();
  await page.keyboard.press('ArrowRight');
  await page.locator('[role=tab][aria-selected=true]', { hasText: 'prod' }).waitFor();
  await page.locator('[role=tabpanel][aria-labelledby="tab-prod"]').waitFor();
  assert.equal(await page.evaluate(() => document.activeElement.id), 'tab-prod');

  const row = page.locator('tr[data-var="GREETING"]');
  await row.locator('[data-effective]').filter({ hasText: 'hello' }).waitFor();
  await page.getByLabel('GREETING', { exact: true }).fill('bonjour');
  await page.getByRole('button', { name: 'Save GREETING in prod' }).click();
  await row.locator('[data-effective]').filter({ hasText: 'bonjour' }).waitFor();
  await row.locator('[data-effective]').getByText('override (prod)').waitFor();

  const wf = await S.server.get('/api/v1/jobs/deploy/workflow');
  const v = wf.json.tasks[0].variables.find((x) => x.name === 'GREETING');
  assert.deepEqual(v.effective.prod, { ...v.effective.prod, value: 'bonjour', source: 'override' });
  assert.equal(v.effective.dev.value, 'hello');
});

test('a value changed through the API appears on the open page without a reload', async () => {
  const page = wfPage;
  await page.evaluate(() => { window.__noReload = true; });
  const r = await S.server.patch('/api/v1/jobs/deploy/tasks/hello/variables/GREETING', { value: 'hi-from-api' });
  assert.equal(r.status, 200, r.text);
  const row = page.locator('tr[data-var="GREETING"]');
  await row.locator('td[data-label="Default"]').filter({ hasText: 'hi-from-api' }).waitFor({ timeout: 5000 });
  // The matrix shows it too, the prod value as differing.
  await page.getByRole('button', { name: 'Matrix view' }).click();
  await page.locator('table.matrix td.differs[data-env="dev"]', { hasText: 'hi-from-api' }).waitFor();
  await page.locator('table.matrix td.differs[data-env="prod"]', { hasText: 'bonjour' }).waitFor();
  await page.getByRole('button', { name: 'Show tasks and tabs' }).click();
  assert.equal(await page.evaluate(() => window.__noReload), true, 'the page was reloaded');
  await closePage(page);
});

test('a 412 conflict is explained instead of overwriting', async () => {
  const page = await openPage(browser, S.server);
  await page.goto(`${S.server.url}/environments`);
  await page.getByRole('button', { name: 'Edit prod' }).click();
  const form = page.getByRole('form', { name: 'Edit' });
  await form.getByLabel('Description').waitFor();
  // Someone else changes it meanwhile.
  const r = await S.server.patch('/api/v1/environments/prod', { description: 'changed by someone else' });
  assert.equal(r.status, 200, r.text);
  await form.getByLabel('Description').fill('mine');
  await form.getByRole('button', { name: 'Save' }).click();
  const conflict = page.locator('[data-conflict]');
  await conflict.waitFor();
  assert.match(await conflict.textContent(), /someone else changed this/);
  assert.match(await conflict.textContent(), /changed by someone else/);
  const env = await S.server.get('/api/v1/environments/prod');
  assert.equal(env.json.description, 'changed by someone else', 'the 412 overwrote nothing');
  await conflict.getByRole('button', { name: 'Load the current version' }).click();
  assert.equal(await page.getByRole('form', { name: 'Edit' }).getByLabel('Description').inputValue(), 'changed by someone else');
  await closePage(page);
});

test('run the job and watch the log and the status live', async () => {
  const page = await openPage(browser, S.server);
  await page.goto(`${S.server.url}/workflows/deploy`);
  await page.getByLabel('Environment', { exact: true }).selectOption('dev');
  await page.getByRole('button', { name: 'Run', exact: true }).click();
  await page.waitForURL(/\/runs\/\d+$/);
  const log = page.locator('#log');
  // The first line shows while the task still runs.
  await log.locator('[data-stream="stdout"]', { hasText: 'greeting=hi-from-api' }).waitFor();
  assert.equal(await page.locator('#run-status').getAttribute('data-status'), 'running');
  assert.ok(!(await log.textContent()).includes('done'), 'the log came before the task ended');
  await log.locator('[data-stream="stderr"]', { hasText: 'oops' }).waitFor();
  await page.locator('#run-status[data-status="succeeded"]').waitFor({ timeout: 15000 });
  await log.locator('[data-stream="system"]', { hasText: 'run succeeded' }).waitFor();
  assert.match(await log.textContent(), /done/);
  const row = page.locator('tr[data-task="hello"]');
  await row.getByText('succeeded').waitFor();
  assert.equal((await row.locator('[data-exit]').textContent()).trim(), '0');
  await page.locator('.timeline .bar.succeeded').waitFor();

  // A protected environment asks first.
  await page.goto(`${S.server.url}/workflows/deploy`);
  await page.getByLabel('Environment', { exact: true }).selectOption('prod');
  await page.getByRole('button', { name: 'Run', exact: true }).click();
  await page.getByRole('button', { name: 'Yes, run in prod' }).click();
  await page.waitForURL(/\/runs\/\d+$/);
  await page.locator('#log [data-stream="stdout"]', { hasText: 'greeting=bonjour' }).waitFor();
  await page.locator('#run-status[data-status="succeeded"]').waitFor({ timeout: 15000 });

  // The runs list, filtered.
  await page.goto(`${S.server.url}/runs`);
  await page.locator('#f-environment').selectOption('prod');
  await page.locator('table[aria-label="Runs"] tbody tr').first().waitFor();
  assert.equal(await page.locator('table[aria-label="Runs"] tbody tr').count(), 1);
  await closePage(page);
});

test('phone width: the menu folds away and the workflow still works', async () => {
  const page = await openPage(browser, S.server, { width: 390, height: 800 });
  await page.goto(`${S.server.url}/workflows/deploy/hello`);
  await page.getByRole('tab', { name: 'dev' }).waitFor();
  assert.equal(await page.getByRole('navigation', { name: 'Main' }).isVisible(), false);
  await page.getByRole('button', { name: 'Menu' }).click();
  await page.getByRole('link', { name: 'Plugins' }).click();
  await page.getByRole('heading', { name: /^shell/ }).waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `the page is ${overflow}px wider than the screen`);
  await closePage(page);
});

test('the login page, when the API asks for it', async (t) => {
  const s = S.server;
  const probe = await s.api('GET', '/api/v1/jobs', undefined, { Authorization: null });
  if (probe.status !== 401) { t.skip('the API answers without credentials: no login needed'); return; }
  const login = await s.api('POST', '/api/v1/session', { user: 'admin', password: ADMIN_PASSWORD }, { Authorization: null });
  if (login.status === 404 || login.status === 405) { t.skip('no web session yet (POST /api/v1/session)'); return; }
  const page = await openPage(browser, s, { token: null });
  await page.goto(`${s.url}/workflows/deploy/hello`);
  const user = page.getByLabel('User name');
  await user.waitFor();
  assert.equal(await user.getAttribute('autocomplete'), 'username');
  assert.equal(await page.getByLabel('Password').getAttribute('autocomplete'), 'current-password');
  await user.fill('admin');
  await page.getByLabel('Password').fill(ADMIN_PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('tab', { name: 'prod' }).click();
  await page.locator('[role=tabpanel][aria-labelledby="tab-prod"]').waitFor();
  // A write with the cookie carries the CSRF token.
  await page.getByLabel('GREETING', { exact: true }).fill('salut');
  await page.getByRole('button', { name: 'Save GREETING in prod' }).click();
  await page.locator('tr[data-var="GREETING"] [data-effective]').filter({ hasText: 'salut' }).waitFor();
  await closePage(page);
});
