import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createTestDatabase } from '../../helpers/store.ts';

const { store } = await createTestDatabase();

test("a transition's update of its task row (event counter, last activity) is mostly a HOT update", async () => {
  // 400 tasks written together fill their pages as far as the table lets them.
  await store.query(
    `INSERT INTO task (id, title, state, template_name, requester_username)
     SELECT gen_random_uuid(), 'task ' || i, 'RUNNING', 'chain', 'someone' FROM generate_series(1, 400) AS i`,
  );
  // Each then gets what every transition writes into it (store/queries/transition-batch.ts, `seq`),
  // and the transaction's own counters tell how many of those updates were HOT (no index entry written).
  const hot = await store.transaction(async (tx) => {
    const { rowCount } = await tx.query('UPDATE task SET last_seq = last_seq + 2, last_activity = now()');
    assert.equal(rowCount, 400);
    const { rows } = await tx.query<{ hot: string }>(
      "SELECT pg_stat_get_xact_tuples_hot_updated('task'::regclass) AS hot",
    );
    return Number(rows[0]?.hot);
  });
  // Full pages leave room for none (the last page's few); pages 60% full, for about two in three.
  assert.ok(hot >= 200, `${hot} of 400 updates were HOT`);
});

test("a run's changes of its task's state (claimed RUNNING, then DONE) are mostly HOT updates too", async () => {
  await store.query(
    `INSERT INTO task (id, title, state, template_name, requester_username)
     SELECT gen_random_uuid(), 'claimed ' || i, 'TODO', 'chain', 'someone' FROM generate_series(1, 400) AS i`,
  );
  // As the claim and the settle write them (store/queries/tasks.ts claimLocked, transition-batch.ts `seq`).
  const hot = await store.transaction(async (tx) => {
    await tx.query(
      `UPDATE task SET state = 'RUNNING', last_seq = last_seq + 1, last_activity = now() WHERE title LIKE 'claimed %'`,
    );
    await tx.query(
      `UPDATE task SET state = 'DONE', last_seq = last_seq + 2, last_activity = now() WHERE title LIKE 'claimed %'`,
    );
    const { rows } = await tx.query<{ hot: string }>(
      "SELECT pg_stat_get_xact_tuples_hot_updated('task'::regclass) AS hot",
    );
    return Number(rows[0]?.hot);
  });
  // No index of the task table names `state` (migration 0013): with one, these changes wrote a
  // new entry into each of the table's indexes (measured: 288 of the 800 HOT, against 661).
  assert.ok(hot >= 480, `${hot} of 800 updates were HOT`);
});
