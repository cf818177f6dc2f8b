import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, type TestContext } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { cliEnv, startServe, type ServeProcess } from './cli.ts';
import { fixturePath, tempDir } from './plugin-fixtures.ts';
import { createTestDatabase } from './store.ts';

/**
 * The dashboard's browser tests: Debian's Chromium (found by test/e2e/run.ts, passed in
 * TASKHOST_CHROMIUM) driven by playwright-core, against a real `taskhost serve` on its own
 * database, with real plugin fixtures and templates.
 */

function chromiumPath(): string {
  const found = process.env.TASKHOST_CHROMIUM;
  if (!found) throw new Error('TASKHOST_CHROMIUM is not set: run the browser tests with `npm run test:e2e`');
  return found;
}

/** One headless Chromium for a test file, closed after its tests. */
export async function launchBrowser(): Promise<Browser> {
  // Root (CI, containers) cannot use Chromium's sandbox; the pages are our own, on loopback.
  const browser = await chromium.launch({
    executablePath: chromiumPath(),
    args: os.userInfo().uid === 0 ? ['--no-sandbox'] : [],
  });
  after(() => browser.close());
  return browser;
}

export interface TestPage {
  page: Page;
  /** Console errors, uncaught exceptions and failed requests of the page, in order. */
  problems: string[];
}

/** A fresh page (its own context: no shared storage) that records every console error. */
export async function openPage(
  browser: Browser,
  t: TestContext,
  options: {
    extraHTTPHeaders?: Record<string, string>;
    httpCredentials?: { username: string; password: string };
  } = {},
): Promise<TestPage> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, ...options });
  t.after(() => context.close());
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('requestfailed', (request) => {
    // A page left while a request is in flight aborts it: that is the browser, not an error.
    if (request.failure()?.errorText !== 'net::ERR_ABORTED') {
      problems.push(`request failed: ${request.url()} ${request.failure()?.errorText}`);
    }
  });
  return { page, problems };
}

/** Resolves after the page drew its next two frames (what json-editor and preact draw late). */
export async function nextFrames(page: Page): Promise<void> {
  await page.evaluate(
    'new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)))',
  );
}

/** Asserts that the page logged no error (called at the end of each test). */
export function assertNoProblems(tested: TestPage): void {
  assert.deepEqual(tested.problems, []);
}

/**
 * Saves a screenshot of the page as NAME.png in TASKHOST_SCREENSHOTS (the README's pictures
 * are made with TASKHOST_SCREENSHOTS=docs/screenshots), else in a temporary folder.
 */
export async function screenshot(page: Page, name: string): Promise<string> {
  const dir = process.env.TASKHOST_SCREENSHOTS ?? path.join(os.tmpdir(), 'taskhost-screenshots');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

export interface UiServer extends ServeProcess {
  /** The project folder the server runs in. */
  dir: string;
}

/**
 * `taskhost serve` in a fresh project: `plugins` (name → fixture of test/fixtures/plugins/) in
 * its tasks/, `templates` (file → YAML) in its templates/, `config` as its taskhost.yaml, its
 * own database. Stopped (SIGTERM)
 * after the test.
 */
export async function startUiServer(
  t: TestContext,
  setup: {
    plugins?: Record<string, string>;
    templates?: Record<string, string>;
    args?: string[];
    /** More environment for the server (TASKHOST_USERS_FILE, TASKHOST_ADMINS...). */
    env?: Record<string, string>;
    /** The project's taskhost.yaml. */
    config?: string;
  } = {},
): Promise<UiServer> {
  const dir = tempDir(t);
  fs.mkdirSync(path.join(dir, 'tasks'));
  fs.mkdirSync(path.join(dir, 'templates'));
  for (const [name, fixture] of Object.entries(setup.plugins ?? {})) {
    fs.copyFileSync(fixturePath(fixture), path.join(dir, 'tasks', `${name}${path.extname(fixture)}`));
    fs.chmodSync(path.join(dir, 'tasks', `${name}${path.extname(fixture)}`), 0o755);
  }
  for (const [file, yaml] of Object.entries(setup.templates ?? {})) {
    fs.writeFileSync(path.join(dir, 'templates', file), yaml);
  }
  if (setup.config !== undefined) fs.writeFileSync(path.join(dir, 'taskhost.yaml'), setup.config);
  const database = await createTestDatabase();
  const server = await startServe(setup.args ?? [], {
    cwd: dir,
    env: cliEnv({ DATABASE_URL: database.url, ...setup.env }),
  });
  t.after(async () => {
    server.child.kill('SIGTERM');
    await server.child;
  });
  // A template with an error is not served, and says why on stderr (before "listening").
  assert.doesNotMatch(server.stderr(), /not served|skipped/);
  return { ...server, dir };
}

/**
 * Waits until the page's path matches `pattern`. The app changes pages with history.pushState
 * (no load event), so this polls location rather than waiting for a navigation.
 */
export async function waitForPath(page: Page, pattern: RegExp): Promise<void> {
  try {
    await page.waitForFunction((source) => {
      // Runs in the page (this file is typed for Node, without the DOM's names).
      const { location } = globalThis as unknown as { location: { pathname: string; search: string } };
      return new RegExp(source).test(location.pathname + location.search);
    }, pattern.source);
  } catch (error) {
    // Say where the page stayed, what it shows as an error (a refused form, an API error) or
    // as a status (a form's "1 field to fix"), which buttons wait, and keep a screenshot.
    const texts = (selector: string): Promise<string[]> =>
      page
        .locator(selector)
        .allInnerTexts()
        .catch(() => []);
    const alerts = await texts('[role="alert"], .error');
    const statuses = (await texts('[role="status"]')).filter((text) => text.trim() !== '');
    const disabled = await texts('button[disabled]');
    const shot = path.join(os.tmpdir(), `taskhost-e2e-${Date.now()}.png`);
    await page.screenshot({ path: shot, fullPage: true }).catch(() => undefined);
    throw new Error(
      `the page did not reach ${pattern.source}: it is at ${page.url()}; alerts: ${JSON.stringify(alerts)}; statuses: ${JSON.stringify(statuses)}; disabled buttons: ${JSON.stringify(disabled)}; screenshot ${shot} (${(error as Error).message})`,
    );
  }
}
