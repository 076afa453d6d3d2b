// UI test helpers: Debian's Chromium driven by playwright-core, and a page
// that fails the test on any script error or console error.
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import fs from 'node:fs';

export const CHROMIUM = process.env.CHROMIUM || ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => fs.existsSync(p));

export async function launch() {
  assert.ok(CHROMIUM, 'Chromium is not installed (Debian package chromium: make deps-test)');
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
}

/**
 * A new page on server s. token: send it as a bearer token on every
 * request (null: send none, to go through the login page). Returns the page;
 * page.errors collects script errors and console errors. Answers the API
 * gave on purpose (4xx: validation, conflicts, 401) are logged by Chromium
 * as "Failed to load resource"; those are not script errors.
 */
export async function openPage(browser, s, { token = s.token, width = 1280, height = 800 } = {}) {
  const ctx = await browser.newContext({
    viewport: { width, height },
    extraHTTPHeaders: token ? { Authorization: `Bearer ${token}` } : {},
  });
  const page = await ctx.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    if (/Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())) return;
    page.errors.push(`console.error: ${m.text()}`);
  });
  page.on('dialog', (d) => d.accept());
  page.setDefaultTimeout(10000);
  return page;
}

export async function closePage(page) {
  const errors = page.errors;
  await page.context().close();
  assert.deepEqual(errors, [], 'the page had script or console errors');
}
