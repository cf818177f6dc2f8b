import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { cliEnv, startServe, type ServeProcess } from '../../helpers/cli.ts';
import { fixturePath, tempDir } from '../../helpers/plugin-fixtures.ts';
import { createTestDatabase } from '../../helpers/store.ts';

/**
 * Scale-out on one PostgreSQL: three `serve` processes share 500 tasks whose plugin step
 * appends the task id to a file. Every task ends DONE, every id is written exactly once (no
 * resolution claimed twice), and the work is spread over the instances.
 */

const database = await createTestDatabase();
const TASKS = 500;

/** Polls the store until `done` holds (other processes do the work: no event reaches here). */
async function until(done: () => Promise<boolean>, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    if (await done()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test('three instances share 500 tasks: all DONE, each side effect exactly once, work on every instance', async (t) => {
  const cwd = tempDir(t);
  const file = path.join(cwd, 'ids');
  fs.mkdirSync(path.join(cwd, 'templates'));
  fs.mkdirSync(path.join(cwd, 'tasks'));
  fs.symlinkSync(fixturePath('append-id.sh'), path.join(cwd, 'tasks', 'append-id.sh'));
  fs.writeFileSync(
    path.join(cwd, 'templates', 'append.yaml'),
    `name: append
description: appends the task id, once
auto_runnable: true
steps:
  append:
    action: {type: append-id, configuration: {file: '${file}', id: '{{task.task_id}}'}}
`,
  );
  const env = cliEnv({ DATABASE_URL: database.url });
  const servers: ServeProcess[] = [];
  t.after(async () => {
    for (const server of servers) server.child.kill('SIGTERM');
    await Promise.all(servers.map((server) => server.child));
  });
  for (let index = 0; index < 3; index += 1) servers.push(await startServe([], { cwd, env }));

  const ids: string[] = [];
  for (let index = 0; index < TASKS; index += 1) {
    const server = servers[index % servers.length] as ServeProcess;
    const response = await fetch(`${server.url}/task`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ template_name: 'append', input: {} }),
    });
    assert.equal(response.status, 201);
    ids.push(((await response.json()) as { id: string }).id);
  }
  const allDone = await until(async () => {
    const { rows } = await database.store.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM task WHERE id = ANY($1::uuid[]) AND state = 'DONE'`,
      [ids],
    );
    return rows[0]?.n === TASKS;
  }, 240_000);
  assert.ok(allDone, 'every task ended DONE');

  const lines = fs.readFileSync(file, 'utf8').trim().split('\n');
  const written = lines.map((line) => line.split(' ')[0] as string);
  assert.equal(written.length, TASKS, 'one side effect per task, none twice');
  assert.deepEqual([...new Set(written)].sort(), [...ids].sort());
  const instances = new Set(lines.map((line) => line.split(' ')[1]));
  const serverPids = new Set(servers.map((server) => String(server.child.pid)));
  assert.ok(
    [...instances].every((pid) => serverPids.has(pid as string)),
    'each run was spawned by a server',
  );
  assert.equal(instances.size, 3, 'every instance took work');
});
