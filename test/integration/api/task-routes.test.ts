import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { parse as parseYaml } from 'yaml';
import { engineServices, type TaskDocument } from '../../../src/engine/engine.ts';
import type { ResolutionOutcome } from '../../../src/engine/resolver.ts';
import { Scheduler } from '../../../src/engine/scheduler.ts';
import { Instance } from '../../../src/runs/instance.ts';
import { runOnce, runYaml } from '../../helpers/engine.ts';
import { assertError, LOCAL_USER, startTaskServer } from '../../helpers/task-server.ts';

/**
 * µTask's task routes over real HTTP: POST /task's remaining fields (groups, resolvers,
 * comment, delay, batch), PUT /task/:id, POST /task/:id/wontfix, DELETE /task/:id, and
 * GET /task's filters and formats, each error status with its `{error, code}` body.
 */

const HELLO = `name: hello
description: says hello
title_format: 'hello {{input.name}}'
inputs:
  - name: name
    regex: '^[a-z]+$'
  - name: times
    type: number
    optional: true
    default: 2
steps:
  say:
    action:
      type: echo
      configuration: {output: {greeting: 'hi {{input.name}}'}}
`;

const server = await startTaskServer({
  'hello.yaml': HELLO,
  'later.yaml': `name: later
description: runs by itself, when due
auto_runnable: true
steps:
  say: {action: {type: echo, configuration: {output: {done: true}}}}
`,
  'owned.yaml': `name: owned
description: resolved by carol and the ops group
allowed_resolver_usernames: [carol]
allowed_resolver_groups: [ops]
steps:
  a: {action: {type: echo}}
`,
});
const { store } = server.db;

interface Summary {
  id: string;
  title: string;
  state: string;
  requester: string;
  watcher_usernames: string[];
  watcher_groups: string[];
  resolver_usernames: string[];
  resolver_groups: string[];
  tags: Record<string, string>;
  batch: string | null;
  created: string;
  last_activity: string;
  resolution: { id: string; state: string; run_count: number; next_retry: string | null } | null;
}

interface Comment {
  id: string;
  username: string;
  content: string;
  created: string;
  updated: string;
}

async function create(body: Record<string, unknown>): Promise<TaskDocument> {
  const response = await server.request<TaskDocument>('POST', '/task', { template_name: 'hello', ...body });
  assert.equal(response.status, 201, response.text);
  return response.body;
}

async function get(id: string): Promise<TaskDocument> {
  const response = await server.request<TaskDocument>('GET', `/task/${id}`);
  assert.equal(response.status, 200, response.text);
  return response.body;
}

async function list(query: string): Promise<Summary[]> {
  const response = await server.request<Summary[]>('GET', `/task?${query}`);
  assert.equal(response.status, 200, response.text);
  return response.body;
}

async function commentsOf(id: string): Promise<Comment[]> {
  const response = await server.request<Comment[]>('GET', `/task/${id}/comment`);
  assert.equal(response.status, 200, response.text);
  return response.body;
}

const ids = (tasks: readonly { id: string }[]): string[] => tasks.map((task) => task.id);

test("POST /task takes µTask's watcher_groups, resolver_usernames|groups and comment (its first comment)", async () => {
  const task = await create({
    input: { name: 'ada' },
    comment: 'please hurry',
    watcher_usernames: ['bob'],
    watcher_groups: ['audit'],
    resolver_usernames: ['carol'],
    resolver_groups: ['ops'],
    tags: { suite: 'create' },
  });
  assert.equal(task.state, 'TODO');
  assert.deepEqual(task.resolver_usernames, ['carol']);
  const [summary] = await list('tag=suite=create');
  assert.deepEqual(
    {
      id: summary?.id,
      requester: summary?.requester,
      watcher_usernames: summary?.watcher_usernames,
      watcher_groups: summary?.watcher_groups,
      resolver_usernames: summary?.resolver_usernames,
      resolver_groups: summary?.resolver_groups,
      batch: summary?.batch,
    },
    {
      id: task.id,
      requester: LOCAL_USER,
      watcher_usernames: ['bob'],
      watcher_groups: ['audit'],
      resolver_usernames: ['carol'],
      resolver_groups: ['ops'],
      batch: null,
    },
  );
  const comments = await commentsOf(task.id);
  assert.deepEqual(
    comments.map((comment) => [comment.username, comment.content]),
    [[LOCAL_USER, 'please hurry']],
  );

  const quiet = await create({ input: { name: 'ada' }, comment: '' });
  assert.deepEqual(await commentsOf(quiet.id), [], 'an empty comment is no comment');
});

test('POST /task refuses a short comment, a bad delay, a reserved tag (400), an unknown batch (404), a body over 1 MiB (413)', async () => {
  const post = (extra: Record<string, unknown>) =>
    server.request('POST', '/task', { template_name: 'hello', input: { name: 'ada' }, ...extra });
  assertError(
    await post({ comment: 'ok' }),
    400,
    'TH_REQUEST_INVALID',
    /^body\/comment must NOT have fewer than 3/,
  );
  assertError(
    await post({ delay: 'soon' }),
    400,
    'TH_REQUEST_INVALID',
    /^body\/delay invalid duration "soon"/,
  );
  assertError(await post({ delay: '1d' }), 400, 'TH_REQUEST_INVALID', /^body\/delay unknown unit "d"/);
  assertError(await post({ delay: 10 }), 400, 'TH_REQUEST_INVALID', /^body\/delay/);
  assertError(
    await post({ tags: { _utask_parent_task_id: randomUUID() } }),
    400,
    'TH_REQUEST_INVALID',
    /^body\/tags\/_utask_parent_task_id: reserved/,
  );
  assertError(
    await post({ tags: { _taskhost_parent_step: 'x' } }),
    400,
    'TH_REQUEST_INVALID',
    /_taskhost_parent_step: reserved/,
  );
  assertError(await post({ watcher_groups: [''] }), 400, 'TH_REQUEST_INVALID', /watcher_groups\/0/);
  assertError(
    await post({ batch: 'one' }),
    400,
    'TH_REQUEST_INVALID',
    /body\/batch must match format "uuid"/,
  );
  const batch = randomUUID();
  assertError(await post({ batch }), 404, 'TH_BATCH_NOT_FOUND', new RegExp(batch));
  assertError(await post({ nope: 1 }), 400, 'TH_REQUEST_INVALID', /unknown property "nope"/);
  assertError(
    await post({ input: { name: 'ada', pad: 'x'.repeat(1024 * 1024) } }),
    413,
    'TH_REQUEST_TOO_LARGE',
    /over 1048576 bytes/,
  );
  const { rows } = await store.query('SELECT count(*)::int AS n FROM task');
  const before = rows[0]?.n as number;
  assertError(await post({ delay: 'soon', comment: 'a valid comment' }), 400, 'TH_REQUEST_INVALID');
  const again = await store.query('SELECT count(*)::int AS n FROM task');
  assert.equal(again.rows[0]?.n, before, 'nothing stored');
});

/** A scheduler on its own instance (a server's), stopped when the test ends. */
async function startScheduler(t: TestContext) {
  const owner = new Instance(store, 'server');
  await owner.start();
  const ended = new Map<string, ResolutionOutcome>();
  const waiters = new Map<string, (outcome: ResolutionOutcome) => void>();
  const scheduler = new Scheduler(
    engineServices({ store, owner, scriptsDir: path.join(os.tmpdir(), 'no-scripts') }),
    {
      pollIntervalMs: 60_000, // claimNow() drives it here
      onError: (error) => assert.fail(error as Error),
      onSettled: (resolutionId, outcome) => {
        ended.set(resolutionId, outcome);
        waiters.get(resolutionId)?.(outcome);
      },
    },
  );
  await scheduler.start();
  t.after(async () => {
    await scheduler.stop();
    await owner.stop();
  });
  const settled = (resolutionId: string): Promise<ResolutionOutcome> => {
    const done = ended.get(resolutionId);
    return done ? Promise.resolve(done) : new Promise((resolve) => waiters.set(resolutionId, resolve));
  };
  return { scheduler, settled };
}

test('POST /task with a delay: the task waits DELAYED, its resolution due at creation + delay, and a scheduler runs it once due', async (t) => {
  const later = await create({ template_name: 'later', input: {}, delay: '1h30m' });
  assert.equal(later.state, 'DELAYED');
  assert.equal(later.resolution?.state, 'TO_AUTORUN_DELAYED');
  assert.equal(Date.parse(later.resolution?.next_retry as string) - Date.parse(later.created), 5_400_000);
  const now = await create({ template_name: 'later', input: {}, delay: '0s' });
  assert.equal(now.state, 'DELAYED');
  assert.equal(now.resolution?.next_retry, now.created);

  const { scheduler, settled } = await startScheduler(t);
  await scheduler.claimNow();
  assert.equal((await settled(now.resolution?.id as string)).state, 'DONE');
  assert.equal((await get(now.id)).state, 'DONE');
  const waiting = await get(later.id);
  assert.equal(waiting.state, 'DELAYED', 'not due yet: left alone');
  assert.equal(waiting.resolution?.state, 'TO_AUTORUN_DELAYED');

  // Its time comes (the clock moved on): any instance's scheduler takes it.
  await store.query(`UPDATE resolution SET next_retry = now() - interval '1 second' WHERE id = $1`, [
    later.resolution?.id,
  ]);
  await scheduler.claimNow();
  assert.equal((await settled(later.resolution?.id as string)).state, 'DONE');
  const done = await get(later.id);
  assert.equal(done.state, 'DONE');
  assert.deepEqual(done.steps.say?.output, { done: true });

  // A template that is not auto_runnable waits for a resolver, delayed or not (µTask).
  const manual = await create({ input: { name: 'ada' }, delay: '10m' });
  assert.equal(manual.state, 'DELAYED');
  assert.equal(manual.resolution?.state, 'TODO');
  assert.equal(manual.resolution?.next_retry, null);
});

test('PUT /task/:id replaces input (title rendered again), watchers and tags, and leaves a comment', async () => {
  const task = await create({
    input: { name: 'ada' },
    watcher_usernames: ['bob'],
    tags: { suite: 'put', team: 'payments' },
  });
  const put = await server.request<TaskDocument>('PUT', `/task/${task.id}`, {
    input: { name: 'bea', times: 3 },
    watcher_groups: ['audit'],
    tags: { suite: 'put', team: 'billing' },
  });
  assert.equal(put.status, 200, put.text);
  assert.equal(put.body.title, 'hello bea');
  assert.deepEqual(put.body.input, { name: 'bea', times: 3 });
  assert.deepEqual(put.body, await get(task.id));
  const [summary] = await list('tag=suite=put');
  assert.equal(summary?.id, task.id);
  assert.deepEqual(summary?.watcher_usernames, [], 'left out: none (µTask replaces them)');
  assert.deepEqual(summary?.watcher_groups, ['audit']);
  assert.deepEqual(summary?.tags, { suite: 'put', team: 'billing' });
  assert.ok(Date.parse(summary?.last_activity as string) >= Date.parse(task.last_activity));
  assert.deepEqual(
    (await commentsOf(task.id)).map((comment) => [comment.username, comment.content]),
    [[LOCAL_USER, 'manually edited task']],
  );

  // Defaults apply to the new input as at creation.
  const again = await server.request<TaskDocument>('PUT', `/task/${task.id}`, { input: { name: 'cy' } });
  assert.equal(again.status, 200, again.text);
  assert.deepEqual(again.body.input, { name: 'cy', times: 2 });

  // A paused resolution takes an edit too (µTask requires PAUSED of a resolution that ran).
  await store.query(`UPDATE resolution SET state = 'PAUSED', run_count = 1 WHERE task_id = $1`, [task.id]);
  const paused = await server.request<TaskDocument>('PUT', `/task/${task.id}`, { input: { name: 'dee' } });
  assert.equal(paused.status, 200, paused.text);
  assert.equal(paused.body.title, 'hello dee');
});

test('PUT /task/:id: 400 for a refused input or body, 404 unknown, 409 once its resolution started or ended', async () => {
  const task = await create({ input: { name: 'ada' } });
  const put = (body: unknown, id = task.id) => server.request('PUT', `/task/${id}`, body);
  assertError(await put({ input: { name: 'Ada!' } }), 400, 'TH_TASK_INPUT_INVALID', /^input\.name/);
  assertError(await put({ input: {} }), 400, 'TH_TASK_INPUT_INVALID', /input\.name: missing/);
  assertError(
    await put({ watcher_usernames: ['bob'] }),
    400,
    'TH_REQUEST_INVALID',
    /must have property "input"/,
  );
  assertError(await put({ input: {}, title: 'x' }), 400, 'TH_REQUEST_INVALID', /unknown property "title"/);
  assertError(await put({ input: { name: 'bea' } }, randomUUID()), 404, 'TH_TASK_NOT_FOUND');
  assertError(await put({ input: { name: 'bea' } }, 'nope'), 400, 'TH_REQUEST_INVALID', /params\/id/);
  assert.equal((await get(task.id)).title, 'hello ada', 'nothing changed');

  await store.query(`UPDATE resolution SET state = 'RUNNING' WHERE task_id = $1`, [task.id]);
  assertError(await put({ input: { name: 'bea' } }), 409, 'TH_TASK_STATE', /its resolution is RUNNING/);
  await store.query(`UPDATE resolution SET state = 'TODO' WHERE task_id = $1`, [task.id]);
  assert.equal((await runOnce(store, task.resolution?.id as string)).state, 'DONE');
  assertError(await put({ input: { name: 'bea' } }), 409, 'TH_TASK_STATE', /its resolution is DONE/);
});

test("PUT /task/:id: the engine's tags are read-only, given back unchanged (µTask's _utask_parent_task_id)", async () => {
  const task = await create({ input: { name: 'ada' }, tags: { team: 'a' } });
  const parent = randomUUID();
  await store.query(
    `UPDATE task SET tags = tags || jsonb_build_object('_utask_parent_task_id', $2::text) WHERE id = $1`,
    [task.id, parent],
  );
  const put = (tags: Record<string, string>) =>
    server.request<TaskDocument>('PUT', `/task/${task.id}`, { input: { name: 'ada' }, tags });
  assertError(
    await put({ team: 'b' }),
    400,
    'TH_REQUEST_INVALID',
    /^body\/tags\/_utask_parent_task_id: read-only/,
  );
  assertError(
    await put({ team: 'b', _utask_parent_task_id: randomUUID() }),
    400,
    'TH_REQUEST_INVALID',
    /_utask_parent_task_id: read-only/,
  );
  assertError(
    await put({ _utask_parent_task_id: parent, _taskhost_batch_id: 'x' }),
    400,
    'TH_REQUEST_INVALID',
    /_taskhost_batch_id: read-only/,
  );
  assert.equal((await put({ team: 'b', _utask_parent_task_id: parent })).status, 200);
  const { rows } = await store.query('SELECT tags FROM task WHERE id = $1', [task.id]);
  assert.deepEqual(rows[0]?.tags, { team: 'b', _utask_parent_task_id: parent });
});

test('POST /task/:id/wontfix: a TODO task ends WONTFIX (204), its resolution cancelled; 409 unless TODO, 404, 400', async () => {
  const task = await create({ input: { name: 'ada' } });
  const wontfix = (id = task.id) => server.request('POST', `/task/${id}/wontfix`);
  const answer = await wontfix();
  assert.equal(answer.status, 204, answer.text);
  assert.equal(answer.text, '');
  const document = await get(task.id);
  assert.equal(document.state, 'WONTFIX');
  assert.equal(document.resolution?.state, 'CANCELLED');
  assert.equal(document.resolution?.next_retry, null);
  assert.deepEqual(
    (await commentsOf(task.id)).map((comment) => [comment.username, comment.content]),
    [[LOCAL_USER, 'changed task state to WONTFIX']],
  );
  const { rows } = await store.query<{ type: string; state: string }>(
    'SELECT type, state FROM event WHERE stream_id = $1 ORDER BY seq',
    [task.id],
  );
  assert.deepEqual(rows.at(-1), { type: 'task', state: 'WONTFIX' }, 'the task stream hears of it');
  assertError(await wontfix(), 409, 'TH_TASK_STATE', /it is WONTFIX/);

  const done = await create({ input: { name: 'ada' } });
  assert.equal((await runOnce(store, done.resolution?.id as string)).state, 'DONE');
  assertError(await wontfix(done.id), 409, 'TH_TASK_STATE', /it is DONE/);
  const delayed = await create({ input: { name: 'ada' }, delay: '1h' });
  assertError(await wontfix(delayed.id), 409, 'TH_TASK_STATE', /it is DELAYED/);
  const claimed = await create({ input: { name: 'ada' } });
  await store.query(`UPDATE resolution SET state = 'RUNNING' WHERE task_id = $1`, [claimed.id]);
  assertError(await wontfix(claimed.id), 409, 'TH_TASK_STATE', /its resolution is running/);
  assert.equal((await get(claimed.id)).state, 'TODO');

  assertError(await wontfix(randomUUID()), 404, 'TH_TASK_NOT_FOUND');
  assertError(await wontfix('nope'), 400, 'TH_REQUEST_INVALID', /params\/id/);
});

const CHILD = `name: child
description: a child task
steps:
  a: {action: {type: echo, configuration: {output: {said: hi}}}}
`;
const PARENT = `name: parent
description: waits on a subtask
steps:
  sub:
    action: {type: subtask, configuration: {template: child}}
`;

test('POST /task/:id/wontfix wakes the parent waiting on the task, whose step then fails naming it', async () => {
  const parent = await runYaml(store, PARENT, { templates: { child: CHILD }, runChildren: false });
  assert.equal(parent.document.state, 'WAITING');
  const childId = (parent.document.steps.sub?.output as { id: string }).id;
  const due = 'SELECT next_retry FROM resolution WHERE id = $1';
  assert.equal((await store.query(due, [parent.resolutionId])).rows[0]?.next_retry, null);

  assert.equal((await server.request('POST', `/task/${childId}/wontfix`)).status, 204);
  assert.ok((await store.query(due, [parent.resolutionId])).rows[0]?.next_retry instanceof Date, 'due again');
  const again = await runOnce(store, parent.resolutionId, {
    templates: { child: CHILD },
    runChildren: false,
  });
  assert.equal(again.state, 'BLOCKED_BADREQUEST');
  const document = await get(parent.taskId);
  assert.equal(document.steps.sub?.state, 'CLIENT_ERROR');
  assert.match(document.steps.sub?.error ?? '', /changed state: wontfix/);
});

test('DELETE /task/:id removes a task with its resolution, steps, runs, comments and events (204); 409 while RUNNING or BLOCKED', async () => {
  // A plugin step, so that the task has a run (an echo step has none).
  await server.register('ok', 'ok.sh');
  const ran = await runYaml(
    store,
    'name: plugged\ndescription: one plugin step\nsteps:\n  say: {action: {type: ok, configuration: {name: ada}}}\n',
  );
  assert.equal(ran.document.state, 'DONE');
  const task = { id: ran.taskId, resolution: { id: ran.resolutionId } };
  const commented = await server.request('POST', `/task/${task.id}/comment`, { content: 'to be deleted' });
  assert.equal(commented.status, 201, commented.text);
  const counts = async (): Promise<Record<string, number>> => {
    const { rows } = await store.query<Record<string, number>>(
      `SELECT (SELECT count(*)::int FROM task WHERE id = $1) AS task,
              (SELECT count(*)::int FROM resolution WHERE task_id = $1) AS resolution,
              (SELECT count(*)::int FROM resolution_step WHERE resolution_id = $2) AS steps,
              (SELECT count(*)::int FROM run WHERE task_id = $1) AS runs,
              (SELECT count(*)::int FROM comment WHERE task_id = $1) AS comments,
              (SELECT count(*)::int FROM event WHERE stream_id = $1) AS events`,
      [task.id, task.resolution?.id],
    );
    return rows[0] as Record<string, number>;
  };
  const before = await counts();
  assert.deepEqual(
    {
      task: before.task,
      resolution: before.resolution,
      steps: before.steps,
      runs: before.runs,
      comments: before.comments,
    },
    { task: 1, resolution: 1, steps: 1, runs: 1, comments: 1 },
  );
  assert.ok((before.events as number) > 0);
  const answer = await server.request('DELETE', `/task/${task.id}`);
  assert.equal(answer.status, 204, answer.text);
  assert.deepEqual(await counts(), { task: 0, resolution: 0, steps: 0, runs: 0, comments: 0, events: 0 });
  assertError(await server.request('GET', `/task/${task.id}`), 404, 'TH_TASK_NOT_FOUND');
  assertError(await server.request('DELETE', `/task/${task.id}`), 404, 'TH_TASK_NOT_FOUND');

  const todo = await create({ input: { name: 'ada' } });
  assert.equal((await server.request('DELETE', `/task/${todo.id}`)).status, 204);

  for (const state of ['RUNNING', 'BLOCKED']) {
    const stuck = await create({ input: { name: 'ada' } });
    await store.query('UPDATE task SET state = $2 WHERE id = $1', [stuck.id, state]);
    assertError(
      await server.request('DELETE', `/task/${stuck.id}`),
      409,
      'TH_TASK_STATE',
      new RegExp(`while it is ${state}`),
    );
    assert.equal((await get(stuck.id)).state, state, 'still there');
  }
  const held = await create({ input: { name: 'ada' } });
  const instance = randomUUID();
  await store.query(
    `INSERT INTO instance (id, kind, hostname, pid, version) VALUES ($1, 'server', 'elsewhere', 1, 'test')`,
    [instance],
  );
  await store.query(`UPDATE resolution SET state = 'RUNNING', instance_id = $2 WHERE task_id = $1`, [
    held.id,
    instance,
  ]);
  assertError(await server.request('DELETE', `/task/${held.id}`), 409, 'TH_TASK_STATE', /while it runs/);
  assertError(await server.request('DELETE', '/task/nope'), 400, 'TH_REQUEST_INVALID', /params\/id/);
});

test('GET /task?type=own|resolvable|all: own is what the caller requested or watches; an admin resolves and sees all', async () => {
  const mine = await create({ input: { name: 'ada' }, tags: { suite: 'type' } });
  const theirs = await create({ input: { name: 'ada' }, tags: { suite: 'type' } });
  const watched = await create({ input: { name: 'ada' }, tags: { suite: 'type' } });
  await store.query(`UPDATE task SET requester_username = 'someone-else' WHERE id = ANY($1)`, [
    [theirs.id, watched.id],
  ]);
  await store.query('UPDATE task SET watcher_usernames = ARRAY[$2] WHERE id = $1', [watched.id, LOCAL_USER]);

  assert.deepEqual(ids(await list('tag=suite=type')), [watched.id, mine.id], 'own by default');
  assert.deepEqual(ids(await list('tag=suite=type&type=own')), [watched.id, mine.id]);
  const everything = [watched.id, theirs.id, mine.id];
  assert.deepEqual(ids(await list('tag=suite=type&type=all')), everything);
  assert.deepEqual(ids(await list('tag=suite=type&type=resolvable')), everything);
  assertError(await server.request('GET', '/task?type=mine'), 400, 'TH_REQUEST_INVALID', /querystring\/type/);
});

test('GET /task filters by state, template, batch and tags (tag=key=value, every one), and pages with them', async () => {
  const prod = await create({ input: { name: 'ada' }, tags: { suite: 'filters', env: 'prod' } });
  const dev = await create({ input: { name: 'bea' }, tags: { suite: 'filters', env: 'dev' } });
  const owned = await create({ template_name: 'owned', input: {}, tags: { suite: 'filters' } });
  assert.equal((await server.request('POST', `/task/${dev.id}/wontfix`)).status, 204);

  assert.deepEqual(ids(await list('tag=suite=filters')), [owned.id, dev.id, prod.id]);
  assert.deepEqual(ids(await list('tag=suite=filters&tag=env=prod')), [prod.id]);
  assert.deepEqual(ids(await list('tag=suite=filters&tag=env=test')), []);
  assert.deepEqual(ids(await list('tag=suite=filters&state=WONTFIX')), [dev.id]);
  assert.deepEqual(ids(await list('tag=suite=filters&template=OWNED')), [owned.id]);
  assert.deepEqual(ids(await list('tag=suite=filters&state=TODO&template=hello')), [prod.id]);

  assertError(
    await server.request('GET', '/task?state=SLEEPING'),
    400,
    'TH_REQUEST_INVALID',
    /querystring\/state/,
  );
  assertError(
    await server.request('GET', '/task?tag=suite'),
    400,
    'TH_REQUEST_INVALID',
    /querystring\/tag\/0/,
  );
  assertError(
    await server.request('GET', '/task?tag=a=b=c'),
    400,
    'TH_REQUEST_INVALID',
    /querystring\/tag\/0/,
  );
  assertError(
    await server.request('GET', '/task?batch=nope'),
    400,
    'TH_REQUEST_INVALID',
    /querystring\/batch/,
  );
  const batch = randomUUID();
  assertError(
    await server.request('GET', `/task?batch=${batch}`),
    404,
    'TH_BATCH_NOT_FOUND',
    new RegExp(batch),
  );

  // The next page's link keeps every filter and the format.
  const first = await server.request('GET', '/task?tag=suite=filters&type=all&page_size=2&format=yaml');
  assert.equal(first.status, 200, first.text);
  assert.deepEqual(ids(parseYaml(first.text) as Summary[]), [owned.id, dev.id]);
  const link = first.headers.get('link') ?? '';
  assert.equal(
    link,
    `</task?type=all&tag=suite%3Dfilters&format=yaml&page_size=2&last=${dev.id}>; rel="next"`,
  );
  const next = await server.request('GET', (/^<([^>]+)>/.exec(link) as RegExpExecArray)[1] as string);
  assert.deepEqual(ids(parseYaml(next.text) as Summary[]), [prod.id]);
  assert.equal(next.headers.get('link'), null, 'a page that is not full is the last');
});

/** A CSV document's rows (RFC 4180: quoted cells may hold commas, quotes and newlines). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let index = 0; index < text.length; index += 1) {
    const char = text[index] as string;
    if (quoted) {
      if (char === '"' && text[index + 1] === '"') {
        cell += '"';
        index += 1;
      } else if (char === '"') quoted = false;
      else cell += char;
    } else if (char === '"') quoted = true;
    else if (char === ',') {
      row.push(cell);
      cell = '';
    } else if (char === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
    } else cell += char;
  }
  return rows;
}

const xmlParser = new XMLParser({
  ignoreAttributes: false,
  parseTagValue: false,
  isArray: (_name, jpath) =>
    ['tasks.task', 'tasks.task.watcher_usernames.item', 'tasks.task.tags.entry'].includes(String(jpath)),
});

test('GET /task?format=json|yaml|csv|xml: the same tasks and values in each format', async () => {
  const plain = await create({ input: { name: 'ada' }, tags: { suite: 'formats' } });
  const odd = await create({
    input: { name: 'bea' },
    watcher_usernames: ['bob', 'eve'],
    tags: { suite: 'formats', 'team name': 'a&b <c> "d"', bell: 'a\u0007b', '1st': 'x' },
  });
  const json = await list('tag=suite=formats');
  assert.deepEqual(ids(json), [odd.id, plain.id]);

  const yaml = await server.request('GET', '/task?tag=suite=formats&format=yaml');
  assert.match(yaml.headers.get('content-type') ?? '', /^application\/yaml/);
  assert.deepEqual(parseYaml(yaml.text), json);

  const csv = await server.request('GET', '/task?tag=suite=formats&format=csv');
  assert.match(csv.headers.get('content-type') ?? '', /^text\/csv/);
  const [header, ...rows] = parseCsv(csv.text);
  assert.deepEqual(header, Object.keys(json[0] as object));
  assert.equal(rows.length, 2);
  const cell = (row: string[], column: string): string => row[(header as string[]).indexOf(column)] as string;
  for (const [index, task] of json.entries()) {
    const row = rows[index] as string[];
    assert.equal(cell(row, 'id'), task.id);
    assert.equal(cell(row, 'title'), task.title);
    assert.equal(cell(row, 'state'), 'TODO');
    assert.equal(cell(row, 'watcher_usernames'), task.watcher_usernames.join(';'));
    assert.deepEqual(JSON.parse(cell(row, 'tags')), task.tags);
    assert.deepEqual(JSON.parse(cell(row, 'resolution')), task.resolution);
    assert.equal(cell(row, 'batch'), '', 'null is an empty cell');
  }

  const xml = await server.request('GET', '/task?tag=suite=formats&format=xml');
  assert.match(xml.headers.get('content-type') ?? '', /^application\/xml/);
  assert.equal(XMLValidator.validate(xml.text), true);
  const tasks = (xmlParser.parse(xml.text) as { tasks: { task: Record<string, unknown>[] } }).tasks.task;
  assert.deepEqual(
    tasks.map((task) => [task.id, task.title, task.state, task.requester, task.created]),
    json.map((task) => [task.id, task.title, task.state, task.requester, task.created]),
  );
  const [oddXml, plainXml] = tasks as [Record<string, unknown>, Record<string, unknown>];
  assert.deepEqual(oddXml.watcher_usernames, { item: ['bob', 'eve'] });
  assert.equal(plainXml.watcher_usernames, '', 'an empty list is an empty element');
  assert.deepEqual(oddXml.tags, {
    suite: 'formats',
    bell: 'a\uFFFDb',
    // In the order PostgreSQL keeps a jsonb object's keys: shorter first.
    entry: [
      { '@_key': '1st', '#text': 'x' },
      { '@_key': 'team name', '#text': 'a&b <c> "d"' },
    ],
  });
  assert.deepEqual(oddXml.batch, { '@_nil': 'true' }, 'null is nil');
  assert.deepEqual(oddXml.resolution, {
    id: odd.resolution?.id,
    state: 'TODO',
    run_count: '0',
    next_retry: { '@_nil': 'true' },
  });

  const empty = await server.request('GET', '/task?tag=suite=none&format=xml');
  assert.equal(XMLValidator.validate(empty.text), true);
  assert.deepEqual(xmlParser.parse(empty.text).tasks, '');
  assertError(
    await server.request('GET', '/task?format=html'),
    400,
    'TH_REQUEST_INVALID',
    /querystring\/format/,
  );
});

test('every list endpoint answers XML: templates, plugins, runs and comments too', async () => {
  const parser = new XMLParser({
    isArray: (name) => ['template', 'plugin', 'run', 'comment'].includes(name),
  });
  const templates = await server.request('GET', '/template?format=xml');
  assert.equal(templates.status, 200, templates.text);
  assert.deepEqual(
    (parser.parse(templates.text) as { templates: { template: { name: string }[] } }).templates.template.map(
      (template) => template.name,
    ),
    ['hello', 'later', 'owned'],
  );
  await server.register('ok', 'ok.sh');
  const plugins = parser.parse((await server.request('GET', '/plugin?format=xml')).text) as {
    plugins: { plugin: { name: string }[] };
  };
  assert.deepEqual(
    plugins.plugins.plugin.map((plugin) => plugin.name),
    ['ok'],
  );
  const run = await server.request<{ run_id: string }>('POST', '/plugin/ok/run', { data: {} });
  assert.equal(run.status, 200, run.text);
  const runs = parser.parse((await server.request('GET', '/run?format=xml&plugin=ok')).text) as {
    runs: { run: { id: string }[] };
  };
  assert.deepEqual(
    runs.runs.run.map((item) => item.id),
    [run.body.run_id],
  );
  const task = await create({ input: { name: 'ada' }, comment: 'first & last' });
  const comments = parser.parse(
    (await server.request('GET', `/task/${task.id}/comment?format=xml`)).text,
  ) as {
    comments: { comment: { content: string; username: string }[] };
  };
  assert.deepEqual(
    comments.comments.comment.map((comment) => [comment.username, comment.content]),
    [[LOCAL_USER, 'first & last']],
  );
});

test('the OpenAPI document lists the task, comment and batch routes with their schemas', async () => {
  const { status, body } = await server.request<{
    paths: Record<
      string,
      Record<
        string,
        { parameters?: { name: string }[]; requestBody?: unknown; responses: Record<string, unknown> }
      >
    >;
  }>('GET', '/unsecured/spec.json');
  assert.equal(status, 200);
  // 401: every route but /unsecured/* answers it once auth is on.
  const routes: [string, string, string[]][] = [
    ['/task', 'post', ['201', '400', '401', '403', '404', '413']],
    ['/task', 'get', ['200', '400', '401', '404']],
    ['/task/{id}', 'put', ['200', '400', '401', '403', '404', '409', '413']],
    ['/task/{id}', 'delete', ['204', '400', '401', '403', '404', '409']],
    ['/task/{id}/wontfix', 'post', ['204', '400', '401', '403', '404', '409']],
    ['/task/{id}/comment', 'post', ['201', '400', '401', '403', '404', '413']],
    ['/task/{id}/comment', 'get', ['200', '400', '401', '403', '404']],
    ['/task/{id}/comment/{commentid}', 'get', ['200', '400', '401', '403', '404']],
    ['/task/{id}/comment/{commentid}', 'put', ['200', '400', '401', '403', '404', '413']],
    ['/task/{id}/comment/{commentid}', 'delete', ['204', '400', '401', '403', '404']],
    ['/batch', 'post', ['201', '400', '401', '404', '413']],
  ];
  for (const [route, method, statuses] of routes) {
    const operation = body.paths[route]?.[method];
    assert.ok(operation, `${method.toUpperCase()} ${route} is in the spec`);
    assert.deepEqual(Object.keys(operation.responses).sort(), statuses, `${method.toUpperCase()} ${route}`);
    if (['post', 'put'].includes(method) && !route.endsWith('wontfix')) {
      assert.ok(operation.requestBody, `${method.toUpperCase()} ${route} has its body schema`);
    }
  }
  const query = (body.paths['/task']?.get?.parameters ?? []).map((parameter) => parameter.name).sort();
  assert.deepEqual(query, ['batch', 'format', 'last', 'page_size', 'state', 'tag', 'template', 'type']);
});
