import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import type { TaskDocument } from '../../../src/engine/engine.ts';
import { assertError, LOCAL_USER, startTaskServer } from '../../helpers/task-server.ts';

/** µTask's POST /batch over real HTTP, and the tasks it makes as GET /task?batch= lists them. */

const server = await startTaskServer({
  'greet.yaml': `name: greet
description: greets someone
title_format: '{{input.greeting}} {{input.name}}'
inputs:
  - name: name
    regex: '^[a-z]+$'
  - name: greeting
    optional: true
    default: hello
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
  tags: Record<string, string>;
  batch: string | null;
}

async function batchTasks(batchId: string): Promise<Summary[]> {
  const response = await server.request<Summary[]>('GET', `/task?batch=${batchId}`);
  assert.equal(response.status, 200, response.text);
  return response.body;
}

const count = async (table: 'task' | 'batch'): Promise<number> =>
  (await store.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`)).rows[0]?.n as number;

test('POST /batch creates a task per input in one batch (201 {id}); GET /task?batch= lists exactly them', async () => {
  const response = await server.request<{ id: string }>('POST', '/batch', {
    template_name: 'greet',
    inputs: [{ name: 'ada' }, { name: 'bea' }, { name: 'cy', greeting: 'hi' }],
    comment: 'made together',
    watcher_usernames: ['bob'],
    watcher_groups: ['audit'],
    tags: { campaign: 'spring' },
  });
  assert.equal(response.status, 201, response.text);
  assert.deepEqual(Object.keys(response.body), ['id']);
  const batchId = response.body.id;

  const tasks = await batchTasks(batchId);
  assert.deepEqual(tasks.map((task) => task.title).sort(), ['hello ada', 'hello bea', 'hi cy']);
  for (const task of tasks) {
    assert.equal(task.batch, batchId);
    assert.equal(task.state, 'TODO');
    assert.equal(task.requester, LOCAL_USER);
    assert.deepEqual(task.watcher_usernames, ['bob']);
    assert.deepEqual(task.watcher_groups, ['audit']);
    assert.deepEqual(task.tags, { campaign: 'spring' });
    const comments = await server.request<{ content: string }[]>('GET', `/task/${task.id}/comment`);
    assert.deepEqual(
      comments.body.map((comment) => comment.content),
      ['made together'],
    );
  }

  const other = await server.request<{ id: string }>('POST', '/batch', {
    template_name: 'greet',
    inputs: [{ name: 'dee' }],
  });
  assert.equal(other.status, 201, other.text);
  assert.deepEqual(
    (await batchTasks(other.body.id)).map((task) => task.title),
    ['hello dee'],
  );
  assert.equal((await batchTasks(batchId)).length, 3, 'each batch lists its own');
});

test('POST /batch merges common_input into every input; POST /task joins an existing batch', async () => {
  const response = await server.request<{ id: string }>('POST', '/batch', {
    template_name: 'greet',
    common_input: { greeting: 'welcome' },
    inputs: [{ name: 'eve' }, { name: 'fay' }],
  });
  assert.equal(response.status, 201, response.text);
  const batchId = response.body.id;
  assert.deepEqual((await batchTasks(batchId)).map((task) => task.title).sort(), [
    'welcome eve',
    'welcome fay',
  ]);

  const joined = await server.request<TaskDocument>('POST', '/task', {
    template_name: 'greet',
    input: { name: 'gus' },
    batch: batchId,
  });
  assert.equal(joined.status, 201, joined.text);
  const tasks = await batchTasks(batchId);
  assert.equal(tasks.length, 3);
  assert.equal(tasks[0]?.id, joined.body.id, 'newest first');
});

test('POST /batch is all or nothing: a refused input is named by its index and no task is created', async () => {
  const before = { tasks: await count('task'), batches: await count('batch') };
  const post = (body: Record<string, unknown>) =>
    server.request('POST', '/batch', { template_name: 'greet', ...body });
  assertError(
    await post({ inputs: [{ name: 'ok' }, { name: 'Not OK' }] }),
    400,
    'TH_TASK_INPUT_INVALID',
    /^inputs\[1\]\.name/,
  );
  assertError(
    await post({ inputs: [{ name: 'ok' }, {}] }),
    400,
    'TH_TASK_INPUT_INVALID',
    /^inputs\[1\]\.name: missing/,
  );
  assertError(
    await post({ inputs: [{ name: 'ok', greeting: 'yo' }], common_input: { greeting: 'hey' } }),
    400,
    'TH_TASK_INPUT_INVALID',
    /^inputs\[0\]\.greeting: also in common_input/,
  );
  assertError(
    await post({ inputs: [] }),
    400,
    'TH_REQUEST_INVALID',
    /body\/inputs must NOT have fewer than 1 items/,
  );
  assertError(await post({}), 400, 'TH_REQUEST_INVALID', /must have property "inputs"/);
  assertError(await post({ inputs: ['ada'] }), 400, 'TH_REQUEST_INVALID', /body\/inputs\/0 must be object/);
  assertError(
    await post({ inputs: [{ name: 'ok' }], comment: 'no' }),
    400,
    'TH_REQUEST_INVALID',
    /body\/comment/,
  );
  assertError(
    await post({ inputs: [{ name: 'ok' }], tags: { _taskhost_batch_id: 'x' } }),
    400,
    'TH_REQUEST_INVALID',
    /body\/tags\/_taskhost_batch_id: reserved/,
  );
  assertError(
    await post({ inputs: [{ name: 'ok' }], extra: true }),
    400,
    'TH_REQUEST_INVALID',
    /unknown property "extra"/,
  );
  assertError(
    await server.request('POST', '/batch', { template_name: 'nothing', inputs: [{}] }),
    404,
    'TH_TEMPLATE_NOT_FOUND',
    /nothing/,
  );
  assertError(
    await post({ inputs: Array.from({ length: 2000 }, () => ({ name: 'x'.repeat(600) })) }),
    413,
    'TH_REQUEST_TOO_LARGE',
  );
  assert.deepEqual(
    { tasks: await count('task'), batches: await count('batch') },
    before,
    'neither a batch nor a task from a refused batch',
  );
  assertError(await server.request('GET', `/task?batch=${randomUUID()}`), 404, 'TH_BATCH_NOT_FOUND');
});
