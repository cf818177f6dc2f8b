import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import type { TaskDocument } from '../../../src/engine/engine.ts';
import { assertError, LOCAL_USER, startTaskServer } from '../../helpers/task-server.ts';

/** µTask's comment routes over real HTTP: create, list, get, edit, delete, and their errors. */

const server = await startTaskServer({
  'note.yaml': 'name: note\ndescription: a task to comment on\nsteps:\n  a: {action: {type: echo}}\n',
});

interface Comment {
  id: string;
  username: string;
  content: string;
  created: string;
  updated: string;
}

async function newTask(): Promise<string> {
  const response = await server.request<TaskDocument>('POST', '/task', { template_name: 'note', input: {} });
  assert.equal(response.status, 201, response.text);
  return response.body.id;
}

async function comment(taskId: string, content: string): Promise<Comment> {
  const response = await server.request<Comment>('POST', `/task/${taskId}/comment`, { content });
  assert.equal(response.status, 201, response.text);
  return response.body;
}

test('POST /task/:id/comment adds a comment by the caller (201); GET lists them oldest first and one by id', async () => {
  const taskId = await newTask();
  const first = await comment(taskId, 'first look');
  assert.deepEqual(Object.keys(first).sort(), ['content', 'created', 'id', 'updated', 'username']);
  assert.equal(first.username, LOCAL_USER);
  assert.equal(first.content, 'first look');
  assert.equal(first.created, first.updated);
  const second = await comment(taskId, 'second look, with "quotes" & <angles>');

  const listed = await server.request<Comment[]>('GET', `/task/${taskId}/comment`);
  assert.equal(listed.status, 200, listed.text);
  assert.deepEqual(listed.body, [first, second]);
  const one = await server.request<Comment>('GET', `/task/${taskId}/comment/${second.id}`);
  assert.equal(one.status, 200, one.text);
  assert.deepEqual(one.body, second);

  const yaml = await server.request('GET', `/task/${taskId}/comment?format=yaml`);
  assert.deepEqual(parseYaml(yaml.text), [first, second]);
  const csv = await server.request('GET', `/task/${taskId}/comment?format=csv`);
  assert.equal(
    csv.text.split('\n')[2],
    `${second.id},${LOCAL_USER},"second look, with ""quotes"" & <angles>",${second.created},${second.updated}`,
  );
  assert.deepEqual((await server.request<Comment[]>('GET', `/task/${await newTask()}/comment`)).body, []);
});

test('PUT /task/:id/comment/:commentid edits the content (200, updated moves on); DELETE removes it (204)', async () => {
  const taskId = await newTask();
  const original = await comment(taskId, 'typo here');
  const edited = await server.request<Comment>('PUT', `/task/${taskId}/comment/${original.id}`, {
    content: 'no typo here',
  });
  assert.equal(edited.status, 200, edited.text);
  assert.deepEqual(
    { ...edited.body, updated: original.updated },
    { ...original, content: 'no typo here' },
    'only content and updated change',
  );
  assert.ok(Date.parse(edited.body.updated) >= Date.parse(original.updated));
  assert.deepEqual((await server.request('GET', `/task/${taskId}/comment/${original.id}`)).body, edited.body);

  const deleted = await server.request('DELETE', `/task/${taskId}/comment/${original.id}`);
  assert.equal(deleted.status, 204, deleted.text);
  assert.equal(deleted.text, '');
  assertError(
    await server.request('GET', `/task/${taskId}/comment/${original.id}`),
    404,
    'TH_COMMENT_NOT_FOUND',
    new RegExp(original.id),
  );
  assertError(
    await server.request('DELETE', `/task/${taskId}/comment/${original.id}`),
    404,
    'TH_COMMENT_NOT_FOUND',
  );
  assert.deepEqual((await server.request('GET', `/task/${taskId}/comment`)).body, []);
});

test('comments: 400 for a short, missing or extra content or a bad id, 404 for an unknown task or comment, or one of another task', async () => {
  const taskId = await newTask();
  const other = await newTask();
  const mine = await comment(taskId, 'on the first task');
  const post = (body: unknown, id = taskId) => server.request('POST', `/task/${id}/comment`, body);
  assertError(
    await post({ content: 'no' }),
    400,
    'TH_REQUEST_INVALID',
    /^body\/content must NOT have fewer than 3/,
  );
  assertError(await post({}), 400, 'TH_REQUEST_INVALID', /must have property "content"/);
  assertError(await post({ content: 'fine', by: 'x' }), 400, 'TH_REQUEST_INVALID', /unknown property "by"/);
  assertError(
    await post({ content: 'x'.repeat(100_001) }),
    400,
    'TH_REQUEST_INVALID',
    /body\/content must NOT have more than 100000/,
  );
  assertError(await post({ content: 'fine' }, randomUUID()), 404, 'TH_TASK_NOT_FOUND');
  assertError(await post({ content: 'fine' }, 'nope'), 400, 'TH_REQUEST_INVALID', /params\/id/);
  assertError(await server.request('GET', `/task/${randomUUID()}/comment`), 404, 'TH_TASK_NOT_FOUND');
  assertError(
    await server.request('GET', `/task/${taskId}/comment?format=pdf`),
    400,
    'TH_REQUEST_INVALID',
    /format/,
  );

  // A comment asked for under another task is not there, whatever the verb.
  assertError(await server.request('GET', `/task/${other}/comment/${mine.id}`), 404, 'TH_COMMENT_NOT_FOUND');
  assertError(
    await server.request('PUT', `/task/${other}/comment/${mine.id}`, { content: 'hijack' }),
    404,
    'TH_COMMENT_NOT_FOUND',
  );
  assertError(
    await server.request('DELETE', `/task/${other}/comment/${mine.id}`),
    404,
    'TH_COMMENT_NOT_FOUND',
  );
  assertError(
    await server.request('GET', `/task/${taskId}/comment/${randomUUID()}`),
    404,
    'TH_COMMENT_NOT_FOUND',
  );
  assertError(
    await server.request('GET', `/task/${randomUUID()}/comment/${mine.id}`),
    404,
    'TH_TASK_NOT_FOUND',
  );
  assertError(
    await server.request('GET', `/task/${taskId}/comment/nope`),
    400,
    'TH_REQUEST_INVALID',
    /params\/commentid/,
  );
  assertError(
    await server.request('PUT', `/task/${taskId}/comment/${mine.id}`, { content: 'x' }),
    400,
    'TH_REQUEST_INVALID',
    /body\/content/,
  );
  assertError(
    await server.request('PUT', `/task/${taskId}/comment/${mine.id}`, { content: 'x'.repeat(1024 * 1024) }),
    413,
    'TH_REQUEST_TOO_LARGE',
  );
  assert.deepEqual(
    (await server.request('GET', `/task/${taskId}/comment/${mine.id}`)).body,
    mine,
    'untouched',
  );
});

test('an admin edits and deletes the comment of another user (µTask: its author or an admin)', async () => {
  const taskId = await newTask();
  const id = randomUUID();
  await server.db.store.query(
    `INSERT INTO comment (id, task_id, username, content) VALUES ($1, $2, 'zoe', 'by zoe')`,
    [id, taskId],
  );
  const edited = await server.request<Comment>('PUT', `/task/${taskId}/comment/${id}`, {
    content: 'by an admin',
  });
  assert.equal(edited.status, 200, edited.text);
  assert.equal(edited.body.username, 'zoe', 'the author stays');
  assert.equal(edited.body.content, 'by an admin');
  assert.equal((await server.request('DELETE', `/task/${taskId}/comment/${id}`)).status, 204);
});

test('a task deleted takes its comments along', async () => {
  const taskId = await newTask();
  const kept = await comment(taskId, 'soon gone');
  assert.equal((await server.request('DELETE', `/task/${taskId}`)).status, 204);
  assertError(await server.request('GET', `/task/${taskId}/comment/${kept.id}`), 404, 'TH_TASK_NOT_FOUND');
  const { rows } = await server.db.store.query('SELECT count(*)::int AS n FROM comment WHERE id = $1', [
    kept.id,
  ]);
  assert.equal(rows[0]?.n, 0);
});
