import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { deleteExpiredTasks, GarbageCollector } from '../../../src/engine/garbage.ts';
import { createFromYaml, registerFixture, runOnce } from '../../helpers/engine.ts';
import { createTestDatabase } from '../../helpers/store.ts';

/** µTask's completed_task_expiration: finished tasks idle past it are deleted with all they hold. */

const { store } = await createTestDatabase();
await registerFixture(store, 'ok', 'ok.sh');

/** A plugin step: the task has a run, with events of its own (an echo step has none). */
const YAML = `
name: short
description: one plugin step
steps:
  say:
    action: {type: ok, configuration: {name: ada}}
`;

const DAY_MS = 86_400_000;

/** A task run to DONE, then given `state` and an idle time of `idleDays`. */
async function taskIn(state: string, idleDays: number): Promise<string> {
  const { taskId, resolutionId } = await createFromYaml(store, YAML);
  await runOnce(store, resolutionId);
  await store.query(
    `UPDATE task SET state = $2, last_activity = now() - make_interval(days => $3) WHERE id = $1`,
    [taskId, state, idleDays],
  );
  return taskId;
}

async function count(sql: string, values: unknown[]): Promise<number> {
  const { rows } = await store.query<{ n: string }>(sql, values);
  return Number(rows[0]?.n);
}

/** What is left of a task: its row, resolution, steps, runs, and the events of the task and its runs. */
async function leftOf(taskId: string): Promise<number[]> {
  return Promise.all([
    count('SELECT count(*) AS n FROM task WHERE id = $1', [taskId]),
    count('SELECT count(*) AS n FROM resolution WHERE task_id = $1', [taskId]),
    count(
      'SELECT count(*) AS n FROM resolution_step s JOIN resolution r ON r.id = s.resolution_id WHERE r.task_id = $1',
      [taskId],
    ),
    count('SELECT count(*) AS n FROM run WHERE task_id = $1', [taskId]),
    count(
      `SELECT count(*) AS n FROM event
        WHERE stream_id = $1 OR stream_id IN (SELECT id FROM run WHERE task_id = $1)`,
      [taskId],
    ),
  ]);
}

test('expired DONE, CANCELLED and WONTFIX tasks go with everything they hold; others stay, and so do batches in use', async () => {
  const expired = await Promise.all(['DONE', 'CANCELLED', 'WONTFIX'].map((state) => taskIn(state, 40)));
  const recent = await taskIn('DONE', 2);
  const blocked = await taskIn('BLOCKED', 40);
  await store.query(`INSERT INTO comment (id, task_id, username, content) VALUES ($1, $2, 'alice', 'seen')`, [
    randomUUID(),
    expired[0],
  ]);
  const [orphan, used] = [randomUUID(), randomUUID()];
  await store.query('INSERT INTO batch (id) VALUES ($1), ($2)', [orphan, used]);
  await store.query('UPDATE task SET batch_id = $2 WHERE id = $1', [recent, used]);
  const before = await leftOf(expired[0] as string);
  assert.ok(
    before.every((n) => n > 0),
    `a task holds rows everywhere before: ${before.join(',')}`,
  );

  assert.equal(await deleteExpiredTasks(store, 30 * DAY_MS), 3);

  for (const taskId of expired) assert.deepEqual(await leftOf(taskId), [0, 0, 0, 0, 0]);
  assert.equal(await count('SELECT count(*) AS n FROM comment WHERE task_id = $1', [expired[0]]), 0);
  for (const taskId of [recent, blocked]) assert.equal((await leftOf(taskId))[0], 1);
  assert.equal(await count('SELECT count(*) AS n FROM batch WHERE id = $1', [orphan]), 0);
  assert.equal(await count('SELECT count(*) AS n FROM batch WHERE id = $1', [used]), 1);
  // Nothing left to do: a second pass deletes nothing.
  assert.equal(await deleteExpiredTasks(store, 30 * DAY_MS), 0);
});

test('a zero expiration keeps every task; the collector deletes at start, once per pass', async () => {
  const old = await taskIn('DONE', 400);
  assert.equal(await deleteExpiredTasks(store, 0), 0);
  assert.equal((await leftOf(old))[0], 1);

  const errors: unknown[] = [];
  const collector = new GarbageCollector(store, 30 * DAY_MS, (error) => errors.push(error));
  collector.start();
  await collector.stop(); // waits for the pass started at start
  assert.deepEqual(errors, []);
  assert.equal((await leftOf(old))[0], 0);
});
