import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import WebSocket from 'ws';
import { cliEnv, serveTemplates, startServe } from '../../helpers/cli.ts';
import { fixturePath, tempDir, waitForFile } from '../../helpers/plugin-fixtures.ts';
import { createTestDatabase } from '../../helpers/store.ts';

/** `taskhost serve` runs the tasks created through its API: the scheduler is part of the server. */

const database = await createTestDatabase();

const AUTO = `name: auto
description: runs at creation
auto_runnable: true
inputs: [{name: who}]
steps:
  greet:
    action: {type: echo, configuration: {output: {text: 'hello {{input.who}}'}}}
  shout:
    dependencies: [greet]
    action: {type: echo, configuration: {output: {text: '{{upper step.greet.output.text}}'}}}
`;

/** Every event of a task's stream, until the server closes it. */
function followTask(
  url: string,
  id: string,
): Promise<{ events: { type: string; state: string | null }[]; code: number }> {
  const socket = new WebSocket(`${url.replace('http', 'ws')}/task/${id}/stream`);
  const events: { type: string; state: string | null }[] = [];
  return new Promise((resolve, reject) => {
    socket.on('message', (data: Buffer) => {
      const message = JSON.parse(data.toString('utf8')) as { type: string; state?: string | null };
      if (message.type !== 'snapshot') events.push({ type: message.type, state: message.state ?? null });
    });
    socket.on('error', reject);
    socket.on('close', (code) => resolve({ events, code }));
  });
}

test('serve: a task created with POST /task of an auto_runnable template is run by the server to DONE', async (t) => {
  const server = await serveTemplates(t, database.url, { 'auto.yaml': AUTO });
  const created = await fetch(`${server.url}/task`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ template_name: 'auto', input: { who: 'ann' } }),
  });
  assert.equal(created.status, 201);
  const { id } = (await created.json()) as { id: string };
  const followed = await followTask(server.url, id);
  assert.equal(followed.code, 1000);
  assert.deepEqual(followed.events.filter((event) => event.type === 'task').at(-1), {
    type: 'task',
    state: 'DONE',
  });
  const document = (await (await fetch(`${server.url}/task/${id}`)).json()) as {
    state: string;
    steps: Record<string, { state: string; output: unknown }>;
  };
  assert.equal(document.state, 'DONE');
  assert.deepEqual(document.steps.shout?.output, { text: 'HELLO ANN' });
});

test('serve: POST /batch of an auto_runnable template: every task is run to DONE, the step transitions of tasks running at once sharing statements', async (t) => {
  const server = await serveTemplates(t, database.url, { 'auto.yaml': AUTO });
  const names = Array.from({ length: 20 }, (_, i) => `p${i}`);
  const created = await fetch(`${server.url}/batch`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ template_name: 'auto', inputs: names.map((who) => ({ who })) }),
  });
  assert.equal(created.status, 201);
  const { id: batchId } = (await created.json()) as { id: string };
  const { rows: tasks } = await database.store.query<{ id: string }>(
    'SELECT id FROM task WHERE batch_id = $1',
    [batchId],
  );
  assert.equal(tasks.length, names.length);
  const ends = await Promise.all(tasks.map((task) => followTask(server.url, task.id)));
  for (const end of ends) {
    assert.equal(end.code, 1000);
    assert.deepEqual(end.events.filter((event) => event.type === 'task').at(-1), {
      type: 'task',
      state: 'DONE',
    });
  }
  const { rows: outputs } = await database.store.query<{ output: unknown }>(
    `SELECT s.output FROM resolution_step s JOIN resolution r ON r.id = s.resolution_id
      WHERE r.task_id = ANY($1::uuid[]) AND s.name = 'shout'`,
    [tasks.map((task) => task.id)],
  );
  assert.deepEqual(
    outputs.map((row) => (database.store.codec.readJson(row.output) as { text: string }).text).sort(),
    names.map((who) => `HELLO ${who.toUpperCase()}`).sort(),
  );
  // The transactions that wrote the steps' ends (their events' xmin): one wrote several tasks'.
  const { rows: shared } = await database.store.query<{ tasks: number }>(
    `SELECT count(DISTINCT stream_id)::int AS tasks FROM event
      WHERE stream_id = ANY($1::uuid[]) AND type = 'step' AND state = 'DONE'
      GROUP BY xmin::text ORDER BY 1 DESC LIMIT 1`,
    [tasks.map((task) => task.id)],
  );
  assert.ok(
    (shared[0]?.tasks ?? 0) > 1,
    `the most tasks one transaction ended steps of: ${shared[0]?.tasks}`,
  );
});

test('serve: a task that is not auto_runnable waits TODO until POST /resolution/:id/run, then runs to DONE', async (t) => {
  const server = await serveTemplates(t, database.url, {
    'manual.yaml': AUTO.replace('name: auto', 'name: manual').replace(
      'auto_runnable: true',
      'auto_runnable: false',
    ),
  });
  const post = (route: string, body?: unknown) =>
    fetch(`${server.url}${route}`, {
      method: 'POST',
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const created = (await (await post('/task', { template_name: 'manual', input: { who: 'bo' } })).json()) as {
    id: string;
    state: string;
    resolution: { id: string; state: string };
  };
  assert.equal(created.state, 'TODO');
  assert.equal((await post(`/resolution/${created.resolution.id}/run`)).status, 204);
  const followed = await followTask(server.url, created.id);
  assert.deepEqual(followed.events.filter((event) => event.type === 'task').at(-1), {
    type: 'task',
    state: 'DONE',
  });
  const again = await post(`/resolution/${created.resolution.id}/run`);
  assert.equal(again.status, 409);
  assert.match(((await again.json()) as { error: string }).error, /it is DONE/);
  assert.equal((await post('/resolution/00000000-0000-0000-0000-000000000000/run')).status, 404);
});

const GATED = (log: string, gate: string) => `name: gated
description: a plugin step that waits for a gate file
auto_runnable: true
steps:
  wait:
    idempotent: true
    action: {type: overlap, configuration: {log: '${log}', gate: '${gate}'}}
`;

async function gatedProject(t: TestContext) {
  const cwd = tempDir(t);
  fs.mkdirSync(path.join(cwd, 'templates'));
  const log = path.join(cwd, 'log');
  const gate = path.join(cwd, 'gate');
  fs.writeFileSync(path.join(cwd, 'templates', 'gated.yaml'), GATED(log, gate));
  fs.mkdirSync(path.join(cwd, 'tasks'));
  fs.symlinkSync(fixturePath('overlap.sh'), path.join(cwd, 'tasks', 'overlap.sh'));
  return { cwd, log, gate };
}

async function createTask(url: string, template: string): Promise<string> {
  const created = await fetch(`${url}/task`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ template_name: template, input: {} }),
  });
  assert.equal(created.status, 201);
  return ((await created.json()) as { id: string }).id;
}

test('serve on SIGTERM lets a running step finish within --shutdown-timeout: the task ends DONE, serve exits 143 (SIGTERM)', async (t) => {
  const { cwd, log, gate } = await gatedProject(t);
  const server = await startServe([], { cwd, env: cliEnv({ DATABASE_URL: database.url }) });
  const id = await createTask(server.url, 'gated');
  await waitForFile(log, { ready: (text) => text.includes('start') });
  server.child.kill('SIGTERM');
  fs.writeFileSync(gate, '');
  const ended = await server.child;
  assert.equal(ended.exitCode, 143);
  const { rows } = await database.store.query<{ state: string }>('SELECT state FROM task WHERE id = $1', [
    id,
  ]);
  assert.equal(rows[0]?.state, 'DONE');
});

test('serve on SIGTERM past --shutdown-timeout cancels the step and releases its task, which another instance finishes', async (t) => {
  const { cwd, log, gate } = await gatedProject(t);
  const env = cliEnv({ DATABASE_URL: database.url });
  const first = await startServe(['--shutdown-timeout', '0'], { cwd, env });
  const id = await createTask(first.url, 'gated');
  await waitForFile(log, { ready: (text) => text.includes('start') });
  first.child.kill('SIGTERM');
  await first.child;
  const released = await database.store.query<{ state: string }>(
    'SELECT r.state FROM resolution r WHERE r.task_id = $1',
    [id],
  );
  assert.equal(released.rows[0]?.state, 'CRASHED', first.stderr());
  fs.writeFileSync(gate, '');
  const second = await startServe([], { cwd, env });
  t.after(async () => {
    second.child.kill('SIGTERM');
    await second.child;
  });
  const followed = await followTask(second.url, id);
  assert.deepEqual(followed.events.filter((event) => event.type === 'task').at(-1), {
    type: 'task',
    state: 'DONE',
  });
  const runs = await database.store.query<{ attempt: number; state: string }>(
    `SELECT attempt, state FROM run WHERE task_id = $1 ORDER BY attempt`,
    [id],
  );
  assert.deepEqual(
    runs.rows.map((run) => [run.attempt, run.state]),
    [
      [1, 'SERVER_ERROR'],
      [2, 'DONE'],
    ],
  );
});
