import assert from 'node:assert/strict';
import { test } from 'node:test';
import { basic, passwordOf, usersFileWith } from '../helpers/auth.ts';
import { assertNoProblems, launchBrowser, nextFrames, openPage, startUiServer } from '../helpers/browser.ts';

/**
 * The dashboard under basic auth: each user sees the actions µTask gives them on a task, and
 * none they would be refused (SPEC section 8: a watcher sees a task, only its requester and
 * resolvers comment, only resolvers run, pause and cancel, only admins set WONTFIX).
 */

const browser = await launchBrowser();

const GUARDED_BY_GROUP = `name: ui-ops
description: resolved by the ops group
allowed_resolver_groups: [ops]
steps:
  say:
    action: {type: echo, configuration: {output: {text: hi}}}
`;

const MANUAL = `name: ui-guarded
description: waits for a resolver
steps:
  say:
    action: {type: echo, configuration: {output: {text: hi}}}
`;

test('under basic auth, a watcher sees the task but no action it would be refused; an admin sees them all', async (t) => {
  const usersFile = await usersFileWith({ alice: [], bob: [], eve: [] });
  const server = await startUiServer(t, {
    templates: { 'ui-guarded.yaml': MANUAL },
    env: { TASKHOST_USERS_FILE: usersFile, TASKHOST_ADMINS: 'alice' },
  });
  const created = await fetch(`${server.url}/task`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...basic('bob', passwordOf('bob')) },
    body: JSON.stringify({ template_name: 'ui-guarded', input: {}, watcher_usernames: ['eve'] }),
  });
  assert.equal(created.status, 201);
  const { id } = (await created.json()) as { id: string };

  const actionsOf = async (username: string): Promise<string[]> => {
    const tested = await openPage(browser, t, {
      httpCredentials: { username, password: passwordOf(username) },
    });
    const { page } = tested;
    const rightsRead = page.waitForResponse((response) => response.url().includes(`/me/task/${id}`));
    await page.goto(`${server.url}/ui/tasks/${id}`);
    await rightsRead;
    await page.locator('h1 .state').waitFor();
    // The rights are rendered with the next frames after their answer.
    await nextFrames(page);
    const buttons = await page
      .locator('[aria-label="Task actions"] button, button:has-text("Add comment")')
      .allInnerTexts();
    assertNoProblems(tested);
    return buttons;
  };
  assert.deepEqual(await actionsOf('eve'), [], 'a watcher: no action offered');
  assert.deepEqual(await actionsOf('alice'), ['Run', 'Pause', 'Cancel', "Won't fix", 'Add comment']);
});

test('behind a proxy that sets the trusted header: the page, its calls and its stream are the proxied user', async (t) => {
  const server = await startUiServer(t, {
    templates: { 'ui-ops.yaml': GUARDED_BY_GROUP },
    config:
      'auth:\n  trusted_header: x-remote-user\n  trusted_groups_header: x-remote-groups\n  trusted_proxies: [127.0.0.1/32]\n',
  });
  const as = (user: string, groups: string) => ({ 'x-remote-user': user, 'x-remote-groups': groups });
  const created = await fetch(`${server.url}/task`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...as('rex', 'sales') },
    body: JSON.stringify({ template_name: 'ui-ops', input: {} }),
  });
  assert.equal(created.status, 201);
  const { id } = (await created.json()) as { id: string };

  // No header: no identity, the page is refused like every other route (a basic-auth
  // challenge, which a browser without credentials gives up on).
  const anonymous = await openPage(browser, t);
  await assert.rejects(anonymous.page.goto(`${server.url}/ui/tasks/${id}`), /ERR_INVALID_AUTH_CREDENTIALS/);

  // rita of ops, as the proxy says: she is named, she may run the task, and its stream (a
  // WebSocket upgrade carrying the same header) goes live and follows the run to its end.
  const tested = await openPage(browser, t, { extraHTTPHeaders: as('rita', 'ops') });
  const { page } = tested;
  await page.goto(`${server.url}/ui/tasks/${id}`);
  await page.locator('.me strong', { hasText: 'rita' }).waitFor();
  const run = page.locator('[aria-label="Task actions"] button', { hasText: 'Run' });
  await run.click();
  await page.locator('.step-graph [data-step="say"][data-state="DONE"]').waitFor();
  await page.locator('h1 .state[data-state="DONE"]').waitFor();
  assertNoProblems(tested);
});
