import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import {
  assertNoProblems,
  launchBrowser,
  nextFrames,
  waitForPath,
  openPage,
  screenshot,
  startUiServer,
} from '../helpers/browser.ts';

/**
 * The plugin pages in a browser: the catalogue, a run form generated from a plugin's inputs
 * (checked before anything is sent), a run followed live while the plugin still runs, a finished
 * run opened directly, the confirmation a dangerous plugin asks for, and a run by keyboard only.
 */

const browser = await launchBrowser();

async function runCount(url: string): Promise<number> {
  return ((await (await fetch(`${url}/run`)).json()) as unknown[]).length;
}

/** Waits for the run page to show the stored outcome of a finished run (its exit code). */
async function waitForOutcome(page: Page): Promise<string> {
  await page.waitForFunction(() => {
    const code = document.querySelector('#run-exit-code')?.textContent ?? '—';
    return code.trim() !== '—';
  });
  return page.locator('#run-outcome').innerText();
}

/** The run page's state badge in its title, as words. */
const titleState = (page: Page) => page.locator('h1 .state').innerText();

test('the catalogue shows each plugin with its category, tags, danger and cost, and finds them by search', async (t) => {
  const server = await startUiServer(t, {
    plugins: { 'ui-form': 'ui-form.sh', rich: 'rich-metadata.sh', ok: 'ok.sh' },
  });
  const tested = await openPage(browser, t);
  const { page } = tested;
  await page.goto(`${server.url}/`);
  assert.equal(new URL(page.url()).pathname, '/ui/');
  await page.waitForSelector('#plugin-list tbody tr');
  const rows = page.locator('#plugin-list tbody tr');
  assert.equal(await rows.count(), 3);
  const rich = rows.filter({ hasText: 'Rich metadata' });
  assert.match(await rich.innerText(), /⚠ Dangerous/);
  assert.match(await rich.innerText(), /\$ Expensive/);
  assert.match(await rich.innerText(), /testing/);
  assert.match(await rich.innerText(), /alpha/);
  assert.doesNotMatch(await rows.filter({ hasText: 'Form fixture' }).innerText(), /Dangerous|Expensive/);
  await screenshot(page, 'plugins');

  await page.getByLabel('Search plugins').fill('forms');
  await page.waitForFunction(() => document.querySelectorAll('#plugin-list tbody tr').length === 1);
  assert.match(await rows.first().innerText(), /Form fixture/);
  assert.match(new URL(page.url()).search, /q=forms/);
  assertNoProblems(tested);
});

test('a run form generated from the inputs schema: checked before sending, then the run page shows lines while the plugin runs, and its outcome', async (t) => {
  const server = await startUiServer(t, { plugins: { 'ui-form': 'ui-form.sh' } });
  const tested = await openPage(browser, t);
  const { page } = tested;
  await page.goto(`${server.url}/ui/plugins`);
  await page.getByRole('link', { name: 'Form fixture' }).click();
  await page.waitForSelector('.json-form .je-ready');
  assert.equal(new URL(page.url()).pathname, '/ui/plugins/ui-form');

  // Labels from titles, help from descriptions, an enum as a select, a boolean as a checkbox,
  // bounds on the number, a nested object and an array.
  const message = page.getByLabel('Message', { exact: true });
  const help = await message.getAttribute('aria-describedby');
  assert.equal(await page.locator(`[id="${help}"]`).innerText(), 'What it greets');
  assert.equal(await page.getByLabel('Colour').evaluate((element) => element.tagName), 'SELECT');
  assert.deepEqual(await page.getByLabel('Colour').locator('option').allInnerTexts(), [
    'red',
    'green',
    'blue',
  ]);
  assert.equal(await page.getByLabel('Loud').getAttribute('type'), 'checkbox');
  const count = page.getByLabel('Count');
  assert.equal(await count.getAttribute('type'), 'number');
  assert.equal(await count.getAttribute('min'), '1');
  assert.equal(await count.getAttribute('max'), '5');
  assert.equal(await page.getByLabel('Host').count(), 1, 'the nested object has its field');
  assert.ok((await page.getByRole('button', { name: /add label/i }).count()) > 0, 'the array can grow');
  await screenshot(page, 'plugin-form');

  // Nothing is sent while a field is wrong; the error is shown by the field.
  await message.fill('x');
  await page.getByRole('button', { name: 'Run ui-form' }).click();
  await page.waitForSelector('.errmsg:visible');
  assert.match(await page.locator('.form-errors').innerText(), /to fix/);
  assert.equal(await runCount(server.url), 0);

  const gate = path.join(server.dir, 'gate');
  await message.fill('world');
  await page.getByLabel('Gate file').fill(gate);
  await page.getByRole('button', { name: 'Run ui-form' }).click();
  await waitForPath(page, /\/ui\/runs\/[0-9a-f-]{36}$/);
  const line = page.locator('.log-lines li', { hasText: 'hello world' });
  await line.waitFor();
  // The plugin is still waiting for its gate: the line arrived live, ANSI green rendered.
  assert.equal(await titleState(page), '▶ RUNNING');
  assert.equal(await line.locator('.ansi-green-fg').innerText(), 'hello world');
  assert.equal(await page.locator('.log-lines li', { hasText: 'after the gate' }).count(), 0);
  await screenshot(page, 'run-live');

  fs.writeFileSync(gate, '');
  await page.locator('.log-lines li', { hasText: 'after the gate' }).waitFor();
  const outcome = await waitForOutcome(page);
  assert.match(outcome, /State\s+✔ DONE/);
  assert.match(outcome, /Exit code\s+0/);
  assert.match(outcome, /Error\s+—/);
  assert.match(await page.locator('pre[aria-label="result"]').innerText(), /"message": "world"/);
  assertNoProblems(tested);
});

test('a finished run opened by its URL shows its whole log, its result and its timings', async (t) => {
  const server = await startUiServer(t, { plugins: { 'ui-form': 'ui-form.sh' } });
  const gate = path.join(server.dir, 'gate');
  fs.writeFileSync(gate, '');
  const started = (await (
    await fetch(`${server.url}/plugin/ui-form/run`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ data: { message: 'again', gate } }),
    })
  ).json()) as { run_id: string; state: string };
  assert.equal(started.state, 'DONE');
  const tested = await openPage(browser, t);
  const { page } = tested;
  await page.goto(`${server.url}/ui/runs/${started.run_id}`);
  await page.locator('.log-lines li', { hasText: 'after the gate' }).waitFor();
  // Every line the plugin wrote, its result line last (the protocol's stdout).
  const lines = await page.locator('.log-lines li .text').allInnerTexts();
  assert.deepEqual(lines.slice(0, 2), ['hello again', 'after the gate']);
  assert.equal(lines.length, 3);
  assert.deepEqual(JSON.parse(lines[2] as string), {
    status: 1,
    reason: 'ok',
    payload: { message: 'again', gate },
  });
  assert.equal(await titleState(page), '✔ DONE');
  assert.match(await page.locator('#run-outcome').innerText(), /Started\s+\S+/);
  assert.equal(await page.getByRole('button', { name: /follow/i }).count(), 0, 'nothing to follow');
  await screenshot(page, 'run-finished');

  await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Runs' }).click();
  await page.waitForSelector('#run-list tbody tr');
  assert.match(await page.locator('#run-list').innerText(), /ui-form/);
  await page.getByLabel('State').selectOption('FATAL_ERROR');
  await page.waitForSelector('text=No runs match these filters');
  assert.match(new URL(page.url()).search, /state=FATAL_ERROR/);
  assertNoProblems(tested);
});

test('a dangerous plugin asks before it runs; nothing runs until the answer is yes', async (t) => {
  const server = await startUiServer(t, { plugins: { rich: 'rich-metadata.sh' } });
  const tested = await openPage(browser, t);
  const { page } = tested;
  await page.goto(`${server.url}/ui/plugins/rich-metadata`);
  await page.waitForSelector('.json-form .je-ready');
  assert.match(await page.locator('.warning').innerText(), /Dangerous: deletes nothing/);
  // An untouched form shows no error (json-editor's 'missing the required property' waits
  // for a submit), and filling and leaving a field moves nothing above the button: a button
  // that moves between mousedown and mouseup loses its click.
  const run = page.getByRole('button', { name: 'Run rich-metadata' });
  await nextFrames(page);
  assert.deepEqual(
    await page
      .locator('.json-form')
      .getByText(/missing the required property/)
      .filter({ visible: true })
      .allInnerTexts(),
    [],
  );
  const untouched = await run.boundingBox();
  await page.getByLabel('x', { exact: true }).fill('value');
  await page.getByLabel('x', { exact: true }).press('Tab');
  await nextFrames(page);
  assert.deepEqual(await run.boundingBox(), untouched);
  await run.click();
  const confirm = page.getByRole('alertdialog');
  await confirm.waitFor();
  assert.match(await confirm.innerText(), /Run it anyway\?/);
  assert.equal(await runCount(server.url), 0);
  await page.getByRole('button', { name: 'Cancel' }).click();
  await page.getByRole('button', { name: 'Run rich-metadata' }).click();
  await page.getByRole('button', { name: 'Yes, run rich-metadata' }).click();
  await waitForPath(page, /\/ui\/runs\//);
  assert.match(await waitForOutcome(page), /State\s+✔ DONE/);
  assert.equal(await runCount(server.url), 1);
  assertNoProblems(tested);
});

test('a plugin runs by keyboard alone: every field reached with Tab, focus visible, Enter sends', async (t) => {
  const server = await startUiServer(t, { plugins: { 'ui-form': 'ui-form.sh' } });
  const gate = path.join(server.dir, 'gate');
  fs.writeFileSync(gate, '');
  const tested = await openPage(browser, t);
  const { page } = tested;
  await page.goto(`${server.url}/ui/plugins`);
  await page.waitForSelector('#plugin-list tbody tr');

  /** Tabs until the focused element matches, up to `limit` presses. */
  const tabTo = async (
    matches: (element: { tag: string; text: string; label: string }) => boolean,
    limit = 40,
  ) => {
    for (let presses = 0; presses < limit; presses++) {
      await page.keyboard.press('Tab');
      const focused = await page.evaluate(() => {
        const element = document.activeElement as HTMLElement;
        const id = element.id;
        const label = id ? (document.querySelector(`label[for="${CSS.escape(id)}"]`)?.textContent ?? '') : '';
        return { tag: element.tagName, text: element.textContent ?? '', label: label.trim() };
      });
      if (matches(focused)) return;
    }
    throw new Error('not reached by Tab');
  };
  const outlined = () =>
    page.evaluate(() => getComputedStyle(document.activeElement as Element).outlineStyle !== 'none');

  await tabTo((element) => element.tag === 'A' && element.text.includes('Form fixture'));
  assert.equal(await outlined(), true, 'the focused link shows its focus');
  await page.keyboard.press('Enter');
  await page.waitForSelector('.json-form .je-ready');
  await tabTo((element) => element.label === 'Message');
  assert.equal(await outlined(), true, 'the focused field shows its focus');
  await page.keyboard.type('keys');
  await tabTo((element) => element.label === 'Gate file');
  await page.keyboard.type(gate);
  await page.keyboard.press('Enter');
  await waitForPath(page, /\/ui\/runs\//);
  await page.locator('.log-lines li', { hasText: 'hello keys' }).waitFor();
  assert.match(await waitForOutcome(page), /State\s+✔ DONE/);
  assertNoProblems(tested);
});

test('a dropped run stream is resumed with ?since=: every line shown once, in order', async (t) => {
  const server = await startUiServer(t, { plugins: { gated: 'gated-lines.sh' } });
  const dir = path.join(server.dir, 'gates');
  fs.mkdirSync(dir);
  const tested = await openPage(browser, t);
  const { page } = tested;
  // The browser's run stream goes through the test: the first connection is dropped, as a
  // server does to a subscriber too slow to keep up (4008), after the first line.
  const urls: string[] = [];
  await page.routeWebSocket(/\/run\/[0-9a-f-]+\/stream/, (socket) => {
    urls.push(socket.url());
    const upstream = socket.connectToServer();
    const first = urls.length === 1;
    upstream.onMessage((message) => {
      socket.send(message);
      if (first && typeof message === 'string' && message.includes('"line":"line 1"')) {
        void socket.close({ code: 4008, reason: 'too slow: resume with ?since' });
      }
    });
  });
  const started = (await (
    await fetch(`${server.url}/plugin/gated-lines/run?async=true`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ data: { dir, count: 3 } }),
    })
  ).json()) as { run_id: string };
  fs.writeFileSync(path.join(dir, 'go-1'), '');
  await page.goto(`${server.url}/ui/runs/${started.run_id}`);
  await page.locator('.log-lines li', { hasText: 'line 1' }).waitFor();
  await page.waitForFunction(
    () =>
      document.querySelector('[data-status]')?.getAttribute('data-status') === 'live' &&
      document.querySelectorAll('.log-lines li').length === 1,
  );
  fs.writeFileSync(path.join(dir, 'go-2'), '');
  fs.writeFileSync(path.join(dir, 'go-3'), '');
  await waitForOutcome(page);
  const lines = await page.locator('.log-lines li .text').allInnerTexts();
  assert.deepEqual(lines.slice(0, 3), ['line 1', 'line 2', 'line 3']);
  assert.equal(lines.length, 4, 'the three lines and the result line, none twice');
  assert.equal(urls.length, 2);
  assert.match(urls[1] as string, /\?since=\d+$/);
  assertNoProblems(tested);
});
