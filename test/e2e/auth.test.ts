import assert from 'node:assert/strict';
import { test } from 'node:test';
import { basic, passwordOf, usersFileWith } from '../helpers/auth.ts';
import { assertNoProblems, launchBrowser, openPage, startUiServer } from '../helpers/browser.ts';

/**
 * The dashboard under basic auth: each user sees the actions µTask gives them on a task, and
 * none they would be refused (SPEC section 8: a watcher sees a task, only its requester and
 * resolvers comment, only resolvers run, pause and cancel, only admins set WONTFIX).
 */

const browser = await launchBrowser();

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
    await page.evaluate(
      () => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))),
    );
    const buttons = await page
      .locator('[aria-label="Task actions"] button, button:has-text("Add comment")')
      .allInnerTexts();
    assertNoProblems(tested);
    return buttons;
  };
  assert.deepEqual(await actionsOf('eve'), [], 'a watcher: no action offered');
  assert.deepEqual(await actionsOf('alice'), ['Run', 'Pause', 'Cancel', "Won't fix", 'Add comment']);
});
