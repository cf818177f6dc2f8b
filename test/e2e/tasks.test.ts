import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import {
  assertNoProblems,
  launchBrowser,
  waitForPath,
  openPage,
  screenshot,
  startUiServer,
} from '../helpers/browser.ts';

/**
 * The template and task pages in a browser: a template's step graph and YAML, a task created
 * from the form generated from its inputs, its steps turning DONE live on the task page, and a
 * task that waits for a resolver's inputs answered from its form.
 */

const browser = await launchBrowser();

const FLOW = `name: ui-flow
description: greets, waits for a gate file, says goodbye
title_format: 'flow for {{input.who}}'
auto_runnable: true
inputs:
  - name: who
    description: who to greet
    regex: '[a-z]+'
  - name: gate
    description: the file the wait step waits for
  - name: mood
    legal_values: [calm, loud]
    default: calm
  - name: times
    type: number
    optional: true
steps:
  greet:
    description: says hello
    action: {type: echo, configuration: {output: {text: 'hello {{input.who}}'}}}
  wait:
    dependencies: [greet]
    action: {type: ui-form, configuration: {message: '{{input.who}}', gate: '{{input.gate}}'}}
  bye:
    dependencies: ['wait:ANY']
    action: {type: echo, configuration: {output: {text: bye}}}
`;

const APPROVE = `name: ui-approve
description: waits for an approver, then records the approval
resolver_inputs:
  - name: approver
    description: who approves
    regex: '[a-z]+'
steps:
  record:
    action: {type: echo, configuration: {output: {approved_by: '{{resolver_input.approver}}'}}}
`;

/** The state a step's box of the graph shows, as its words. */
const stepState = (page: Page, step: string) =>
  page.locator(`.step-graph [data-step="${step}"] .step-sub`).textContent();

/** Waits until the graph shows `step` in `state` (its text, not only its colour). */
async function waitForStep(page: Page, step: string, state: string): Promise<void> {
  await page.waitForFunction(
    ([name, wanted]) =>
      document
        .querySelector(`.step-graph [data-step="${name}"] .step-sub`)
        ?.textContent?.includes(wanted as string),
    [step, state],
  );
}

test('a template page draws its step graph with dependency states and shows its YAML', async (t) => {
  const server = await startUiServer(t, {
    plugins: { 'ui-form': 'ui-form.sh' },
    templates: { 'ui-flow.yaml': FLOW, 'ui-approve.yaml': APPROVE },
  });
  const tested = await openPage(browser, t);
  const { page } = tested;
  await page.goto(`${server.url}/ui/templates`);
  await page.waitForSelector('#template-list tbody tr');
  assert.equal(await page.locator('#template-list tbody tr').count(), 2);
  await page.getByRole('link', { name: 'ui-flow', exact: true }).click();
  await page.waitForSelector('.step-graph svg');
  assert.equal(await page.locator('.step-graph [data-step]').count(), 3);
  assert.deepEqual(await page.locator('.step-graph .step-name').allTextContents(), ['greet', 'wait', 'bye']);
  assert.match((await stepState(page, 'wait')) ?? '', /ui-form/);
  assert.equal(await page.locator('.step-graph .edge[data-from="greet"][data-to="wait"]').count(), 1);
  assert.equal(
    await page.locator('.step-graph .edge[data-from="wait"][data-to="bye"] .edge-label').textContent(),
    'ANY',
  );
  assert.match(await page.getByLabel('Template YAML').innerText(), /name: ui-flow\n/);
  await screenshot(page, 'template');
  assertNoProblems(tested);
});

test('a task created from the generated form: its inputs checked first, then its steps turn DONE live', async (t) => {
  const server = await startUiServer(t, {
    plugins: { 'ui-form': 'ui-form.sh' },
    templates: { 'ui-flow.yaml': FLOW },
  });
  const tested = await openPage(browser, t);
  const { page } = tested;
  await page.goto(`${server.url}/ui/templates/ui-flow/new`);
  await page.waitForSelector('.json-form .je-ready');
  assert.equal(await page.getByLabel('mood').evaluate((element) => element.tagName), 'SELECT');
  assert.equal(await page.getByLabel('mood').inputValue(), 'calm');
  assert.equal(await page.getByLabel('times').getAttribute('type'), 'number');

  // The template's regex is checked before anything is sent.
  await page.getByLabel('who').fill('Ann!');
  await page.getByLabel('gate').fill(path.join(server.dir, 'gate'));
  await page.getByRole('button', { name: 'Create task' }).click();
  await page.waitForSelector('.errmsg:visible');
  const tasks = async () => ((await (await fetch(`${server.url}/task?type=all`)).json()) as unknown[]).length;
  assert.equal(await tasks(), 0);

  await page.getByLabel('who').fill('ann');
  await page.getByRole('button', { name: 'Create task' }).click();
  await waitForPath(page, /\/ui\/tasks\/[0-9a-f-]{36}$/);
  assert.equal(await tasks(), 1);
  await page.locator('h1', { hasText: 'flow for ann' }).waitFor();
  await waitForStep(page, 'greet', 'DONE');
  await waitForStep(page, 'wait', 'RUNNING');
  assert.match((await stepState(page, 'bye')) ?? '', /TODO/);

  // The running step's details and its log, live.
  await page.locator('.step-graph [data-step="wait"]').click();
  await waitForPath(page, /\?step=wait$/);
  await page.locator('.step-details .log-lines li', { hasText: 'hello ann' }).waitFor();
  await screenshot(page, 'task-running');

  fs.writeFileSync(path.join(server.dir, 'gate'), '');
  await waitForStep(page, 'wait', 'DONE');
  await waitForStep(page, 'bye', 'DONE');
  await page.waitForFunction(() => document.querySelector('h1 .state')?.textContent?.includes('DONE'));
  await page.locator('.step-details .log-lines li', { hasText: 'after the gate' }).waitFor();
  await page.locator('.step-details pre', { hasText: '"message": "ann"' }).waitFor();
  assert.match(await page.locator('.step-details').innerText(), /Tries\s+1/);
  await screenshot(page, 'task-done');

  await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Tasks' }).click();
  await page.waitForSelector('#task-list tbody tr');
  assert.match(await page.locator('#task-list').innerText(), /flow for ann\s+ui-flow\s+✔ DONE/);
  await screenshot(page, 'tasks');
  assertNoProblems(tested);
});

test('a task waiting for a resolver: its resolver-input form is answered and the task runs to DONE', async (t) => {
  const server = await startUiServer(t, { templates: { 'ui-approve.yaml': APPROVE } });
  const created = (await (
    await fetch(`${server.url}/task`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ template_name: 'ui-approve', input: {} }),
    })
  ).json()) as { id: string; state: string };
  assert.equal(created.state, 'TODO');
  const tested = await openPage(browser, t);
  const { page } = tested;
  await page.goto(`${server.url}/ui/tasks/${created.id}`);
  const form = page.locator('form.resolver-form');
  await form.waitFor();
  await form.locator('.je-ready').waitFor();
  assert.match((await stepState(page, 'record')) ?? '', /TODO/);
  await page.getByLabel('approver').fill('Nope!');
  await page.getByRole('button', { name: 'Resolve and run' }).click();
  await page.waitForSelector('.errmsg:visible');
  await page.getByLabel('approver').fill('ada');
  await page.getByRole('button', { name: 'Resolve and run' }).click();
  await waitForStep(page, 'record', 'DONE');
  await page.waitForFunction(() => document.querySelector('h1 .state')?.textContent?.includes('DONE'));
  assert.equal(await page.locator('form.resolver-form').count(), 0);
  await page.locator('.step-graph [data-step="record"]').click();
  await page.locator('.step-details', { hasText: '"approved_by": "ada"' }).waitFor();
  assertNoProblems(tested);
});

const MANUAL = `name: ui-manual
description: waits until someone runs it
steps:
  only:
    action: {type: echo, configuration: {output: {ok: true}}}
`;

test('the actions of a task are buttons with their names: comment, then set WONTFIX, after which only what still applies is offered', async (t) => {
  const server = await startUiServer(t, { templates: { 'ui-manual.yaml': MANUAL } });
  const created = (await (
    await fetch(`${server.url}/task`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ template_name: 'ui-manual', input: {} }),
    })
  ).json()) as { id: string };
  const tested = await openPage(browser, t);
  const { page } = tested;
  await page.goto(`${server.url}/ui/tasks/${created.id}`);
  const actions = page.getByRole('group', { name: 'Task actions' });
  await actions.waitFor();
  assert.deepEqual(await actions.getByRole('button').allInnerTexts(), [
    'Run',
    'Pause',
    'Cancel',
    "Won't fix",
  ]);

  await page.getByRole('textbox', { name: 'Comment' }).fill('looking at it');
  await page.getByRole('button', { name: 'Add comment' }).click();
  await page.locator('.comments li', { hasText: 'looking at it' }).waitFor();

  await actions.getByRole('button', { name: "Won't fix" }).click();
  await page.waitForFunction(() => document.querySelector('h1 .state')?.textContent?.includes('WONTFIX'));
  await page.waitForFunction(() => document.querySelector('[aria-label="Task actions"]') === null);
  const stored = (await (await fetch(`${server.url}/task/${created.id}`)).json()) as { state: string };
  assert.equal(stored.state, 'WONTFIX');
  assertNoProblems(tested);
});
