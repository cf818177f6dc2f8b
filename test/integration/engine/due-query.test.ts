import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DUE_QUERY } from '../../../src/engine/scheduler.ts';
import { createTestDatabase } from '../../helpers/store.ts';

/**
 * The schedulers' due query, run on every pass of every instance, reads only due rows: tasks
 * waiting TODO for their resolver (not auto_runnable) are never read, however many there are.
 */

const { store } = await createTestDatabase();

test('the due query finds the due resolutions through indexes, never scanning the TODO ones that wait for a resolver', async () => {
  await store.query(
    `INSERT INTO task (id, title, state, requester_username)
     SELECT gen_random_uuid(), 'waiting', 'TODO', 'alice' FROM generate_series(1, 20000)`,
  );
  await store.query(
    `INSERT INTO resolution (id, task_id, state, template)
     SELECT gen_random_uuid(), id, 'TODO',
            jsonb_build_object('template', jsonb_build_object('auto_runnable', false, 'description', repeat('x', 2000)))
       FROM task`,
  );
  const due = await store.query<{ id: string }>(
    `INSERT INTO task (id, title, state, requester_username) VALUES (gen_random_uuid(), 'due', 'TODO', 'bob') RETURNING id`,
  );
  await store.query(
    `INSERT INTO resolution (id, task_id, state, auto_run, template)
     VALUES (gen_random_uuid(), $1, 'TODO', true, '{"template": {"auto_runnable": true}}')`,
    [due.rows[0]?.id],
  );
  await store.query('ANALYZE task, resolution');

  const plan = await store.transaction(async (db) => {
    const { rows } = await db.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${DUE_QUERY}`, [10]);
    return rows.map((row) => row['QUERY PLAN']).join('\n');
  });
  assert.match(plan, /resolution_todo_auto_idx/, plan);
  assert.doesNotMatch(plan, /Seq Scan/, plan);
  const found = await store.transaction((db) => db.query<{ id: string }>(DUE_QUERY, [10]));
  assert.equal(found.rows.length, 1);
});
