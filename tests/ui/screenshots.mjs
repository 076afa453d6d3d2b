// Takes the README's screenshots of the web UI: the workflow area, a run
// page and the workers page, on a demo-like workflow. Run once by hand:
//   cd tests && DMT_BIN=$PWD/../build/dmt node ui/screenshots.mjs
import path from 'node:path';
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import { startServer, mkEnv, mkShellJob, mkVar, putOverride, startRun, waitForRun, sleep, REPO_ROOT, DMT_BIN } from '../integration/harness.mjs';
import { launch, openPage } from './browser.mjs';

const s = await startServer({ args: ['--tags', 'linux,x86_64'] });
const browser = await launch();
let worker = null;
try {
  await mkEnv(s, 'dev');
  await mkEnv(s, 'staging');
  await mkEnv(s, 'prod', { protected: true, description: 'Production', worker_tags: ['linux', 'prod-net'] });
  await mkShellJob(s, 'deploy-web', [
    { name: 'build', script: 'echo "building $APP_VERSION"\nsleep 0.4\necho "built"' },
    { name: 'migrate', script: 'echo "migrating $DB_URL"\necho "warning: slow index" >&2\nsleep 0.6\necho "migrated"' },
    { name: 'release', script: 'echo "releasing to $REPLICAS replicas"\nsleep 0.3\necho "released"' },
  ]);
  await mkVar(s, 'deploy-web', 'build', 'APP_VERSION', { value: '1.4.2' });
  await mkVar(s, 'deploy-web', 'migrate', 'DB_URL', { value: 'postgres://db.dev/app' });
  await mkVar(s, 'deploy-web', 'migrate', 'DB_PASSWORD', { secret: true, required: true });
  await mkVar(s, 'deploy-web', 'release', 'REPLICAS', { type: 'int', value: 1 });
  await putOverride(s, 'deploy-web', 'migrate', 'DB_URL', 'staging', 'postgres://db.staging/app');
  await putOverride(s, 'deploy-web', 'migrate', 'DB_URL', 'prod', 'postgres://db.prod/app');
  await putOverride(s, 'deploy-web', 'migrate', 'DB_PASSWORD', 'dev', 'dev-password');
  await putOverride(s, 'deploy-web', 'migrate', 'DB_PASSWORD', 'staging', 'staging-password');
  await putOverride(s, 'deploy-web', 'release', 'REPLICAS', 'prod', 3);
  for (const env of ['dev', 'staging']) await waitForRun(s, (await startRun(s, 'deploy-web', env)).id);

  const page = await openPage(browser, s);
  await page.goto(`${s.url}/workflows/deploy-web/migrate?env=prod`);
  await page.locator('[role=tabpanel]').waitFor();
  await sleep(300);
  await page.screenshot({ path: path.join(REPO_ROOT, 'docs/screenshot-workflow.png') });

  const run = await startRun(s, 'deploy-web', 'staging');
  await page.goto(`${s.url}/runs/${run.id}`);
  await page.locator('#run-status[data-status="succeeded"]').waitFor({ timeout: 20000 });
  await sleep(300);
  await page.screenshot({ path: path.join(REPO_ROOT, 'docs/screenshot-run.png'), fullPage: true });

  // A second executor on the same database: a `dmt worker` with its own tags.
  const wdir = path.join(s.dir, 'worker');
  fs.mkdirSync(wdir);
  worker = spawn(DMT_BIN, ['worker', '--db', s.dbUrl, '--tags', 'linux,prod-net', '--concurrency', '4', '--data-dir', path.join(wdir, 'data')],
    { env: { PATH: process.env.PATH, HOME: wdir }, cwd: wdir, stdio: 'ignore' });
  await page.goto(`${s.url}/workers`);
  await page.locator('tr[data-status="online"]').nth(1).waitFor();
  await sleep(300);
  await page.screenshot({ path: path.join(REPO_ROOT, 'docs/screenshot-workers.png') });
  if (page.errors.length) throw new Error(page.errors.join('\n'));
  console.log('wrote docs/screenshot-workflow.png, docs/screenshot-run.png and docs/screenshot-workers.png');
} finally {
  if (worker) worker.kill('SIGTERM');
  await browser.close();
  await s.stop();
  fs.rmSync(s.dir, { recursive: true, force: true });
}
