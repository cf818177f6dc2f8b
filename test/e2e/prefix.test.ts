import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import type { Page } from 'playwright-core';
import {
  assertNoProblems,
  launchBrowser,
  nextFrames,
  openPage,
  startUiServer,
  waitForPath,
  type TestPage,
} from '../helpers/browser.ts';
import { startPrefixProxy } from '../helpers/prefix-proxy.ts';

/**
 * The dashboard behind a reverse proxy that serves taskhost under a path prefix and strips it:
 * the prefix comes from `--base-path` or from the proxy's X-Forwarded-Prefix, and every page,
 * asset, API call and stream stays under it (the proxy answers 404 to anything else, which the
 * browser would report).
 */

const browser = await launchBrowser();

const FLOW = `name: ui-prefix
description: one echo step
auto_runnable: true
inputs: [{name: who}]
steps:
  greet:
    action: {type: echo, configuration: {output: {text: 'hello {{input.who}}'}}}
`;

/** Runs a plugin and creates a task through the pages, all under `base` (the proxy's prefix URL). */
async function walkThrough(
  t: TestContext,
  tested: TestPage,
  base: string,
  gate: string,
  asked: readonly string[],
): Promise<void> {
  const page: Page = tested.page;
  await page.goto(`${base}/`);
  assert.equal(new URL(page.url()).pathname, `${new URL(base).pathname}/ui/`);
  await page.waitForSelector('#plugin-list tbody tr');
  await page.getByRole('link', { name: 'Form fixture' }).click();
  await page.waitForSelector('.json-form .je-ready');
  await page.getByLabel('Message', { exact: true }).fill('proxy');
  await page.getByLabel('Gate file').fill(gate);
  await page.getByRole('button', { name: 'Run ui-form' }).click();
  await waitForPath(page, new RegExp(`${new URL(base).pathname}/ui/runs/[0-9a-f-]{36}$`));
  await page.locator('.log-lines li', { hasText: 'after the gate' }).waitFor();

  // A page of the app loaded directly under the prefix (a bookmark), then a task from a form.
  await page.goto(`${base}/ui/templates/ui-prefix/new`);
  await page.waitForSelector('.json-form .je-ready');
  // Loaded directly, the page draws its parts as their modules arrive: once all are drawn,
  // and the field left (json-editor takes a value on blur, and redraws a frame later), the
  // button stays where it is. Else the mouse can go down on the button and up on whatever
  // moved under it: no click (seen under load: mousedown on the button, click on <section>).
  await page.waitForSelector('.step-graph [data-step="greet"]');
  await page.locator('pre.yaml', { hasText: 'name: ui-prefix' }).waitFor();
  await page.getByLabel('who').fill('pat');
  await page.getByLabel('who').press('Tab');
  await nextFrames(page);
  await page.getByRole('button', { name: 'Create task' }).click();
  await waitForPath(page, new RegExp(`${new URL(base).pathname}/ui/tasks/[0-9a-f-]{36}$`)).catch(
    (error: unknown) => {
      throw new Error(`${(error as Error).message}; the proxy's last requests: ${asked.slice(-6).join(' ')}`);
    },
  );
  await page.waitForFunction(() =>
    document.querySelector('.step-graph [data-step="greet"] .step-sub')?.textContent?.includes('DONE'),
  );
  await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Runs' }).click();
  await page.waitForSelector('#run-list tbody tr');
  assertNoProblems(tested);
}

test('--base-path: behind a proxy that strips /ops, every page, call and stream stays under /ops', async (t) => {
  const server = await startUiServer(t, {
    plugins: { 'ui-form': 'ui-form.sh' },
    templates: { 'ui-prefix.yaml': FLOW },
    args: ['--base-path', '/ops/'],
  });
  const gate = path.join(server.dir, 'gate');
  fs.writeFileSync(gate, '');
  const proxy = await startPrefixProxy(server.port, '/ops', { forwardPrefix: false });
  const tested = await openPage(browser, t);
  await walkThrough(t, tested, `${proxy.url}/ops`, gate, proxy.paths);
  assert.deepEqual(
    proxy.paths.filter((asked) => !asked.startsWith('/ops/')),
    [],
  );
  assert.ok(
    proxy.paths.some((asked) => /^\/ops\/run\/[0-9a-f-]{36}\/stream/.test(asked)),
    'the run stream went through',
  );
  assert.ok(
    proxy.paths.some((asked) => /^\/ops\/task\/[0-9a-f-]{36}\/stream/.test(asked)),
    'the task stream went through',
  );
});

test('X-Forwarded-Prefix: the same walk under the prefix the proxy names, with no --base-path', async (t) => {
  const server = await startUiServer(t, {
    plugins: { 'ui-form': 'ui-form.sh' },
    templates: { 'ui-prefix.yaml': FLOW },
  });
  const gate = path.join(server.dir, 'gate');
  fs.writeFileSync(gate, '');
  const proxy = await startPrefixProxy(server.port, '/team/taskhost', { forwardPrefix: true });
  const tested = await openPage(browser, t);
  await walkThrough(t, tested, `${proxy.url}/team/taskhost`, gate, proxy.paths);
  assert.deepEqual(
    proxy.paths.filter((asked) => !asked.startsWith('/team/taskhost/')),
    [],
  );
});

test('--base-path without a proxy: the server itself answers under the prefix', async (t) => {
  const server = await startUiServer(t, {
    plugins: { 'ui-form': 'ui-form.sh' },
    args: ['--base-path', '/ops'],
  });
  const tested = await openPage(browser, t);
  await tested.page.goto(`${server.url}/ops/ui/plugins`);
  await tested.page.waitForSelector('#plugin-list tbody tr');
  assert.equal(await tested.page.evaluate(() => document.baseURI), `${server.url}/ops/ui/`);
  assertNoProblems(tested);
});
