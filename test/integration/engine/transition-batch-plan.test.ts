import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BATCH_SQL } from '../../../src/store/queries/transition-batch.ts';
import { createTestDatabase } from '../../helpers/store.ts';

const { store } = await createTestDatabase();

/** The plan PostgreSQL keeps for the prepared batch statement (a generic plan: no values). */
async function genericPlan(): Promise<string> {
  const { rows } = await store.query<{ 'QUERY PLAN': string }>(`EXPLAIN (GENERIC_PLAN) ${BATCH_SQL}`);
  return rows.map((row) => row['QUERY PLAN']).join('\n');
}

test('a batch of transitions finds its resolutions by id, not by reading the resolution table', async () => {
  // 3,000 finished tasks stored: the size at which the statement joined to its JSON list
  // alone still read every resolution for each batch (a sequential scan under a hash join).
  await store.query(
    `INSERT INTO task (id, title, state, template_name, requester_username)
     SELECT gen_random_uuid(), 'done', 'DONE', 'old', 'someone' FROM generate_series(1, 3000)`,
  );
  await store.query(
    `INSERT INTO resolution (id, task_id, state) SELECT gen_random_uuid(), id, 'DONE' FROM task`,
  );
  await store.query('ANALYZE task, resolution');
  const plan = await genericPlan();
  assert.doesNotMatch(plan, /Seq Scan on resolution\b/, plan);
  assert.match(
    plan,
    /Index Scan on resolution_pkey|Index Scan using resolution_pkey on resolution r\b/,
    plan,
  );
});
