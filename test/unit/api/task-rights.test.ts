import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import type { Caller } from '../../../src/api/identity.ts';
import {
  audienceOf,
  canResolve,
  canSeeTask,
  isRequester,
  isResolutionManager,
  isTemplateOwner,
  isWatcher,
  requireRight,
  resolverOf,
  type TaskParties,
} from '../../../src/api/task-rights.ts';
import { loadTemplateCatalog } from '../../../src/api/template-catalog.ts';
import { BUILTIN_ACTIONS } from '../../../src/plugins/builtins.ts';

/**
 * µTask's rights on a task (pkg/auth), for callers that are not the local admin: the rules
 * the routes apply once the security issue gives callers names and groups.
 */

const user = (username: string, groups: string[] = []): Caller => ({ username, groups, admin: false });
const admin: Caller = { username: 'root', groups: [], admin: true };

const task: TaskParties = {
  requester_username: 'ann',
  watcher_usernames: ['wes'],
  watcher_groups: ['audit'],
  resolver_usernames: ['rita'],
  resolver_groups: ['ops'],
  template_name: 'owned',
};
const owners = { allowed_resolver_usernames: ['carol'], allowed_resolver_groups: ['leads'] };

test('requester and watchers: by name, and watchers by group too', () => {
  assert.equal(isRequester(user('ann'), task), true);
  assert.equal(isRequester(user('wes'), task), false);
  assert.equal(isWatcher(user('wes'), task), true);
  assert.equal(isWatcher(user('zed', ['audit']), task), true);
  assert.equal(isWatcher(user('ann'), task), false);
});

test("resolution managers: the template's owners, the task's resolvers (name or group), its resolution's resolver", () => {
  assert.equal(isTemplateOwner(user('carol'), owners), true);
  assert.equal(isTemplateOwner(user('zed', ['leads']), owners), true);
  assert.equal(isTemplateOwner(user('carol'), undefined), false, 'a template no longer served has no owners');
  assert.equal(isResolutionManager(user('carol'), task, owners, null), true);
  assert.equal(isResolutionManager(user('rita'), task, undefined, null), true);
  assert.equal(isResolutionManager(user('zed', ['ops']), task, undefined, null), true);
  assert.equal(isResolutionManager(user('res'), task, undefined, 'res'), true);
  assert.equal(isResolutionManager(user('ann'), task, owners, null), false, 'requesting is not resolving');
  assert.equal(isResolutionManager(user('wes', ['audit']), task, owners, 'res'), false);
});

test("resolverOf: the requester written as a fresh resolution's resolver makes nobody a resolver; whoever started it does", () => {
  assert.equal(
    resolverOf(task, { resolver_username: 'ann' }),
    null,
    'the placeholder of an unstarted resolution',
  );
  assert.equal(resolverOf(task, { resolver_username: 'res' }), 'res');
  assert.equal(resolverOf(task, null), null);
  assert.equal(
    isResolutionManager(user('ann'), task, owners, resolverOf(task, { resolver_username: 'ann' })),
    false,
  );
});

test('allow_all_resolver_usernames makes the requester a resolution manager, nobody else', () => {
  const open = { ...owners, allow_all_resolver_usernames: true };
  assert.equal(isResolutionManager(user('ann'), task, open, null), true);
  assert.equal(isResolutionManager(user('wes'), task, open, null), false);
  assert.equal(isResolutionManager(user('ann'), task, owners, null), false);
});

test("canSeeTask (µTask's GetTask) and canResolve (its resolution handlers), by caller", () => {
  const table = Object.fromEntries(
    [
      admin,
      user('ann'),
      user('wes'),
      user('zed', ['audit']),
      user('rita'),
      user('zed', ['ops']),
      user('carol'),
      user('sam'),
    ].map((caller) => [
      `${caller.username}${caller.groups.length ? `@${caller.groups.join(',')}` : ''}`,
      [canSeeTask(caller, task, owners, null), canResolve(caller, task, owners, null)],
    ]),
  );
  assert.deepEqual(table, {
    root: [true, true],
    ann: [true, false],
    wes: [true, false],
    'zed@audit': [true, false],
    rita: [true, true],
    'zed@ops': [true, true],
    carol: [true, true],
    sam: [false, false],
  });
});

test('requireRight refuses with TH_AUTH_FORBIDDEN (403)', () => {
  assert.throws(() => requireRight(false, 'only admins delete tasks'), {
    code: 'TH_AUTH_FORBIDDEN',
    message: 'only admins delete tasks',
  });
  assert.doesNotThrow(() => requireRight(true, 'fine'));
});

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'taskhost-rights-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
fs.writeFileSync(
  path.join(dir, 'owned.yaml'),
  'name: owned\ndescription: a note\nallowed_resolver_usernames: [carol]\nallowed_resolver_groups: [leads]\nsteps:\n  a: {action: {type: echo}}\n',
);
fs.writeFileSync(
  path.join(dir, 'open.yaml'),
  'name: open\ndescription: a note\nsteps:\n  a: {action: {type: echo}}\n',
);

test("audienceOf: µTask's list types; an admin's resolvable and all lists are every task", async () => {
  const { catalog } = await loadTemplateCatalog(dir, path.join(dir, 'functions'), BUILTIN_ACTIONS);
  assert.equal(audienceOf(admin, 'all', catalog), undefined);
  assert.equal(audienceOf(admin, 'resolvable', catalog), undefined);
  assert.deepEqual(audienceOf(admin, 'own', catalog), {
    kind: 'requester',
    username: 'root',
    groups: [],
    templates: [],
  });
  assert.deepEqual(audienceOf(user('carol'), 'resolvable', catalog), {
    kind: 'resolver',
    username: 'carol',
    groups: [],
    templates: ['owned'],
  });
  assert.deepEqual(audienceOf(user('zed', ['leads', 'ops']), 'all', catalog), {
    kind: 'involved',
    username: 'zed',
    groups: ['leads', 'ops'],
    templates: ['owned'],
  });
  assert.deepEqual(audienceOf(user('ann'), 'all', catalog)?.templates, []);
});
