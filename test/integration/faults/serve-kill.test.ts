import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { cliEnv, startServe, type ServeProcess } from '../../helpers/cli.ts';
import { fixturePath, isAlive, tempDir, waitInDir } from '../../helpers/plugin-fixtures.ts';
import { createTestDatabase } from '../../helpers/store.ts';
import { parentOf, startedPids, until } from '../../helpers/processes.ts';

/**
 * One of two `serve` instances SIGKILLed while its plugin step runs: the other kills the
 * orphaned plugin and takes the task over, re-running the step when it is idempotent, else
 * blocking the task (BLOCKED_TOCHECK) with the side effect done at most once.
 */

const database = await createTestDatabase();

async function killMidStep(t: TestContext, idempotent: boolean) {
  const cwd = tempDir(t);
  const marks = path.join(cwd, 'marks');
  fs.mkdirSync(marks);
  fs.mkdirSync(path.join(cwd, 'templates'));
  fs.mkdirSync(path.join(cwd, 'tasks'));
  fs.symlinkSync(fixturePath('mark-and-hang.sh'), path.join(cwd, 'tasks', 'mark-and-hang.sh'));
  fs.writeFileSync(
    path.join(cwd, 'templates', 'hangs.yaml'),
    `name: hangs
description: a plugin step that hangs until released
auto_runnable: true
steps:
  hangs:
    idempotent: ${idempotent}
    action: {type: mark-and-hang, configuration: {dir: '${marks}'}}
`,
  );
  const env = cliEnv({ DATABASE_URL: database.url });
  const servers = [await startServe([], { cwd, env }), await startServe([], { cwd, env })];
  t.after(async () => {
    for (const server of servers) server.child.kill('SIGTERM');
    await Promise.all(servers.map((server) => server.child));
  });
  const response = await fetch(`${servers[0]?.url}/task`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ template_name: 'hangs', input: {} }),
  });
  const { id } = (await response.json()) as { id: string };
  const [plugin] = await waitInDir(
    marks,
    () => (startedPids(marks).length > 0 ? startedPids(marks) : undefined),
    {
      describe: () => 'no plugin started',
    },
  );
  const owner = servers.find((server) => server.child.pid === parentOf(plugin as number)) as ServeProcess;
  const survivor = servers.find((server) => server !== owner) as ServeProcess;
  owner.child.kill('SIGKILL');
  await owner.child;
  return { id, marks, plugin: plugin as number, survivor };
}

async function taskState(id: string, states: readonly string[]): Promise<string | undefined> {
  const { rows } = await database.store.query<{ state: string }>('SELECT state FROM task WHERE id = $1', [
    id,
  ]);
  const state = rows[0]?.state;
  return state && states.includes(state) ? state : undefined;
}

test('serve SIGKILLed mid-step, idempotent step: the other instance kills the orphan and re-runs the step to DONE', async (t) => {
  const { id, marks, plugin } = await killMidStep(t, true);
  fs.writeFileSync(path.join(marks, 'release'), '');
  assert.equal(await until(() => taskState(id, ['DONE', 'BLOCKED']), 60_000), 'DONE');
  assert.equal(isAlive(plugin), false, 'the orphaned plugin was killed');
  assert.equal(startedPids(marks).length, 2, 'run again once, by the other instance');
});

test('serve SIGKILLed mid-step, non-idempotent step: the task is blocked for a person, the side effect done once', async (t) => {
  const { id, marks, plugin } = await killMidStep(t, false);
  assert.equal(await until(() => taskState(id, ['DONE', 'BLOCKED']), 60_000), 'BLOCKED');
  const { rows } = await database.store.query<{ state: string; step: string }>(
    `SELECT r.state, s.state AS step FROM resolution r JOIN resolution_step s ON s.resolution_id = r.id
      WHERE r.task_id = $1`,
    [id],
  );
  assert.deepEqual(rows, [{ state: 'BLOCKED_TOCHECK', step: 'CRASHED' }]);
  assert.equal(isAlive(plugin), false, 'the orphaned plugin was killed');
  assert.equal(startedPids(marks).length, 1, 'never run a second time');
});
