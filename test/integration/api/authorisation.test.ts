import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { CHALLENGE } from '../../../src/api/auth/authenticate.ts';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { prepareEncryption } from '../../../src/store/crypto/encryption.ts';
import { basic, openStream, passwordOf, usersFileWith } from '../../helpers/auth.ts';
import { fixturePath } from '../../helpers/plugin-fixtures.ts';
import { startTaskServer } from '../../helpers/task-server.ts';

/**
 * The authorisation matrix of SPEC section 8, as µTask's pkg/auth and api/handler decide
 * it: five callers (an admin, a task's requester, a resolver of its template by group, a
 * watcher, a stranger) against every action, over real HTTP and WebSocket with basic auth.
 * The expected table is data (EXPECTED); each row is measured by doing the action as each
 * caller on a fresh task, and compared whole. Without an identity, every one answers 401.
 */

const ROLES = ['admin', 'requester', 'resolver', 'watcher', 'stranger'] as const;
type Role = (typeof ROLES)[number];
const USER: Record<Role, string> = {
  admin: 'ada',
  requester: 'rex',
  resolver: 'rita',
  watcher: 'wes',
  stranger: 'sam',
};

const usersFile = await usersFileWith({ ada: [], rex: [], rita: ['ops'], wes: [], sam: [] });
const server = await startTaskServer(
  {
    'matrix.yaml': `name: matrix
description: resolved by the ops group
allowed_resolver_groups: [ops]
steps:
  greet:
    action:
      type: echo
      configuration: {output: {hello: world}}
`,
    'frozen.yaml': `name: frozen
description: accepts no new task
blocked: true
steps:
  greet:
    action:
      type: echo
      configuration: {output: {}}
`,
    'secret.yaml': `name: secret
description: listed to admins only
hidden: true
steps:
  greet:
    action:
      type: echo
      configuration: {output: {}}
`,
  },
  // Wrong passwords are part of the test: the login limit is hostile-requests.test.ts's.
  { usersFile, admins: ['ada'], loginFailures: { max: 1000, windowMs: 60_000 } },
);

const as = (role: Role): Record<string, string> => basic(USER[role], passwordOf(USER[role]));
const wsUrl = (path: string): string => `${server.url.replace('http', 'ws')}${path}`;

async function call(role: Role, method: string, path: string, body?: unknown) {
  return server.request<Record<string, unknown>>(method, path, body, as(role));
}

/** A task `rex` requested and `wes` watches; `rita` resolves it through her group. */
async function newTask(): Promise<{ id: string; resolution: string }> {
  const created = await call('requester', 'POST', '/task', {
    template_name: 'matrix',
    input: {},
    watcher_usernames: [USER.watcher],
  });
  assert.equal(created.status, 201, created.text);
  const resolution = created.body.resolution as { id: string };
  return { id: created.body.id as string, resolution: resolution.id };
}

/** The same, its resolution started by the admin (TO_AUTORUN: no scheduler runs in this server). */
async function startedTask(): Promise<{ id: string; resolution: string }> {
  const task = await newTask();
  const started = await call('admin', 'POST', '/resolution', { task_id: task.id });
  assert.equal(started.status, 201, started.text);
  return task;
}

/** What one caller got: the HTTP status (101 for a stream that opened), or presence in a list. */
type Outcome = { status: number; code?: unknown; listed?: boolean };
type Action = (role: Role) => Promise<Outcome>;

const outcomeOf = (response: { status: number; body: unknown }): Outcome => ({
  status: response.status,
  code: (response.body as { code?: unknown } | undefined)?.code,
});

const ACTIONS: Record<string, Action> = {
  list: async (role) => {
    const { id } = await newTask();
    const listed = await call(role, 'GET', '/task?type=all&page_size=1000');
    assert.equal(listed.status, 200, listed.text);
    return {
      status: 200,
      listed: (listed.body as unknown as { id: string }[]).some((task) => task.id === id),
    };
  },
  show: async (role) => outcomeOf(await call(role, 'GET', `/task/${(await newTask()).id}`)),
  'task stream': async (role) => {
    const { id } = await newTask();
    return { status: (await openStream(wsUrl(`/task/${id}/stream`), as(role))).status };
  },
  create: async (role) =>
    outcomeOf(await call(role, 'POST', '/task', { template_name: 'matrix', input: {} })),
  'create from a blocked template': async (role) =>
    outcomeOf(await call(role, 'POST', '/task', { template_name: 'frozen', input: {} })),
  'see a hidden template': async (role) => outcomeOf(await call(role, 'GET', '/template/secret')),
  comment: async (role) =>
    outcomeOf(await call(role, 'POST', `/task/${(await newTask()).id}/comment`, { content: `from ${role}` })),
  'create resolution': async (role) =>
    outcomeOf(await call(role, 'POST', '/resolution', { task_id: (await newTask()).id })),
  run: async (role) => {
    const { resolution } = await startedTask();
    assert.equal((await call('admin', 'POST', `/resolution/${resolution}/pause`)).status, 204);
    return outcomeOf(await call(role, 'POST', `/resolution/${resolution}/run`));
  },
  pause: async (role) =>
    outcomeOf(await call(role, 'POST', `/resolution/${(await startedTask()).resolution}/pause`)),
  cancel: async (role) =>
    outcomeOf(await call(role, 'POST', `/resolution/${(await startedTask()).resolution}/cancel`)),
  wontfix: async (role) => outcomeOf(await call(role, 'POST', `/task/${(await newTask()).id}/wontfix`)),
  delete: async (role) => {
    const { id } = await newTask();
    const outcome = outcomeOf(await call(role, 'DELETE', `/task/${id}`));
    // A refused delete leaves the task there.
    const after = await call('admin', 'GET', `/task/${id}`);
    assert.equal(after.status, outcome.status === 204 ? 404 : 200, `${role}: ${after.text}`);
    return outcome;
  },
  'edit step': async (role) =>
    outcomeOf(
      await call(role, 'PUT', `/resolution/${(await newTask()).resolution}/step/greet/state`, {
        state: 'DONE',
      }),
    ),
  'plugin list': async (role) => outcomeOf(await call(role, 'GET', '/plugin')),
  'plugin run': async (role) =>
    outcomeOf(await call(role, 'POST', '/plugin/echo-data/run', { data: { role } })),
  'run stream': async (role) => {
    // A run the requester started: theirs and the admins' to follow.
    const run = await call('requester', 'POST', '/plugin/echo-data/run', { data: {} });
    assert.equal(run.status, 200, run.text);
    return { status: (await openStream(wsUrl(`/run/${run.body.run_id as string}/stream`), as(role))).status };
  },
  register: async (role) =>
    outcomeOf(
      await call(role, 'POST', '/plugin', { name: `reg-${role}`, location: fixturePath('echo-data.sh') }),
    ),
  'key rotate': async (role) => outcomeOf(await call(role, 'POST', '/key-rotate')),
  'plugin delete': async (role) => {
    const name = `gone-${role}`;
    const registered = await call('admin', 'POST', '/plugin', {
      name,
      location: fixturePath('echo-data.sh'),
    });
    assert.equal(registered.status, 201, registered.text);
    return outcomeOf(await call(role, 'DELETE', `/plugin/${name}`));
  },
};

const EVERYONE: Role[] = [...ROLES];
const TASK_PARTIES: Role[] = ['admin', 'requester', 'resolver', 'watcher'];
const MANAGERS: Role[] = ['admin', 'resolver'];
const ADMIN: Role[] = ['admin'];

/**
 * µTask's answers, by action: who is allowed, and what the others get (403 unless said).
 * A hidden template is not found for a non-admin; a blocked template refuses everyone (400).
 */
const EXPECTED: Record<keyof typeof ACTIONS, { allowed: Role[]; refusal?: number }> = {
  list: { allowed: TASK_PARTIES },
  show: { allowed: TASK_PARTIES },
  'task stream': { allowed: TASK_PARTIES },
  create: { allowed: EVERYONE },
  'create from a blocked template': { allowed: [], refusal: 400 },
  'see a hidden template': { allowed: ADMIN, refusal: 404 },
  comment: { allowed: TASK_PARTIES },
  'create resolution': { allowed: MANAGERS },
  run: { allowed: MANAGERS },
  pause: { allowed: MANAGERS },
  cancel: { allowed: MANAGERS },
  wontfix: { allowed: ['admin', 'requester', 'resolver'] },
  delete: { allowed: ADMIN },
  'edit step': { allowed: ADMIN },
  'plugin list': { allowed: EVERYONE },
  'plugin run': { allowed: EVERYONE },
  'run stream': { allowed: ['admin', 'requester'] },
  register: { allowed: ADMIN },
  'plugin delete': { allowed: ADMIN },
  'key rotate': { allowed: ADMIN },
};

// The server's store under a key ring of its own, as `serve` opens it: the rotation is real.
const keysDir = fs.mkdtempSync(path.join(os.tmpdir(), 'taskhost-matrix-keys-'));
after(() => fs.rmSync(keysDir, { recursive: true, force: true }));
server.db.store.codec = await prepareEncryption(server.db.store, path.join(keysDir, 'keys.json'));

await server.request(
  'POST',
  '/plugin',
  { name: 'echo-data', location: fixturePath('echo-data.sh') },
  as('admin'),
);

/** Whether an outcome is "allowed": listed, a stream opened, or a 2xx answer. */
function allowed(outcome: Outcome): boolean {
  if (outcome.listed !== undefined) return outcome.listed;
  return outcome.status === 101 || (outcome.status >= 200 && outcome.status < 300);
}

for (const [name, act] of Object.entries(ACTIONS)) {
  const expected = EXPECTED[name] as { allowed: Role[]; refusal?: number };
  test(`${name}: allowed to ${expected.allowed.join(', ') || 'nobody'}; refused to the others`, async () => {
    const outcomes = new Map<Role, Outcome>();
    for (const role of ROLES) outcomes.set(role, await act(role));
    const measured = ROLES.filter((role) => allowed(outcomes.get(role) as Outcome));
    assert.deepEqual(measured, expected.allowed, JSON.stringify(Object.fromEntries(outcomes)));
    for (const role of ROLES.filter((candidate) => !expected.allowed.includes(candidate))) {
      const outcome = outcomes.get(role) as Outcome;
      if (outcome.listed !== undefined) continue;
      const refusal = expected.refusal ?? 403;
      assert.equal(outcome.status, refusal, `${name} as ${role}: ${JSON.stringify(outcome)}`);
      if (refusal === 403 && outcome.code !== undefined) assert.equal(outcome.code, 'TH_AUTH_FORBIDDEN');
    }
  });
}

test('without an identity every route but /unsecured/* answers 401 with the Basic challenge, WebSocket upgrades included', async () => {
  const { id, resolution } = await newTask();
  const run = await call('requester', 'POST', '/plugin/echo-data/run', { data: {} });
  const routes: [string, string, unknown?][] = [
    ['GET', '/task'],
    ['GET', `/task/${id}`],
    ['POST', '/task', { template_name: 'matrix', input: {} }],
    ['POST', `/task/${id}/comment`, { content: 'anonymous' }],
    ['POST', '/resolution', { task_id: id }],
    ['POST', `/resolution/${resolution}/run`],
    ['POST', `/resolution/${resolution}/pause`],
    ['POST', `/resolution/${resolution}/cancel`],
    ['POST', `/task/${id}/wontfix`],
    ['DELETE', `/task/${id}`],
    ['PUT', `/resolution/${resolution}/step/greet/state`, { state: 'DONE' }],
    ['GET', '/plugin'],
    ['POST', '/plugin/echo-data/run', { data: {} }],
    ['POST', '/plugin', { name: 'anon', location: fixturePath('echo-data.sh') }],
    ['DELETE', '/plugin/echo-data'],
    ['GET', '/template'],
    ['GET', '/metrics'],
    ['GET', '/no/such/route'],
  ];
  for (const [method, path, body] of routes) {
    for (const headers of [{}, basic(USER.admin, 'not-the-password'), basic('nobody', 'whatever')]) {
      const response = await server.request(method, path, body, headers);
      assert.equal(response.status, 401, `${method} ${path}: ${response.text}`);
      assert.equal(response.headers.get('www-authenticate'), CHALLENGE);
      assert.equal((response.body as { code: string }).code, 'TH_AUTH_REQUIRED');
    }
  }
  for (const path of [`/task/${id}/stream`, `/run/${run.body.run_id as string}/stream`]) {
    const refused = await openStream(wsUrl(path));
    assert.equal(refused.status, 401, path);
    assert.equal(refused.headers['www-authenticate'], CHALLENGE);
  }
  // Nothing was changed: the task is still TODO, the plugin still registered.
  assert.equal((await call('admin', 'GET', `/task/${id}`)).body.state, 'TODO');
  assert.equal((await call('admin', 'GET', '/plugin/echo-data')).status, 200);
  // /unsecured/* needs no identity.
  assert.equal((await server.request('GET', '/unsecured/mon/ping')).status, 200);
  assert.equal((await server.request('GET', '/unsecured/spec.json')).status, 200);
});

test('a list shows a user only what they may see, in every list type', async () => {
  const { id } = await newTask();
  const seen = async (role: Role, type: string): Promise<boolean> => {
    const listed = await call(role, 'GET', `/task?type=${type}&page_size=1000`);
    return (listed.body as unknown as { id: string }[]).some((task) => task.id === id);
  };
  const table = Object.fromEntries(
    await Promise.all(
      ROLES.map(async (role) => [
        role,
        [await seen(role, 'own'), await seen(role, 'resolvable'), await seen(role, 'all')],
      ]),
    ),
  );
  // µTask's ListTasks: own = requested or watched; resolvable = may resolve (an admin, any); all = involved.
  assert.deepEqual(table, {
    admin: [false, true, true],
    requester: [true, false, true],
    resolver: [false, true, true],
    watcher: [true, false, true],
    stranger: [false, false, false],
  });
});

test('GET /run lists the plugin runs a user started; an admin lists every run', async () => {
  const mine = await call('watcher', 'POST', '/plugin/echo-data/run', { data: { whose: 'wes' } });
  const theirs = await call('stranger', 'POST', '/plugin/echo-data/run', { data: { whose: 'sam' } });
  const listed = async (role: Role): Promise<string[]> =>
    ((await call(role, 'GET', '/run?page_size=1000')).body as unknown as { id: string }[]).map(
      (run) => run.id,
    );
  const [watcherRuns, adminRuns] = [await listed('watcher'), await listed('admin')];
  assert.ok(watcherRuns.includes(mine.body.run_id as string));
  assert.ok(!watcherRuns.includes(theirs.body.run_id as string));
  assert.ok(
    adminRuns.includes(mine.body.run_id as string) && adminRuns.includes(theirs.body.run_id as string),
  );
  const runs = (await call('watcher', 'GET', '/run?page_size=1000')).body as unknown as {
    requester: string;
  }[];
  assert.deepEqual([...new Set(runs.map((run) => run.requester))], [USER.watcher]);
});
