import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { prepared, type Queryable } from '../../../src/store/store.ts';
import { createTestDatabase } from '../../helpers/store.ts';

const { store } = await createTestDatabase();

/** How the connection that runs `db`'s next statement planned `name` so far (one connection: queries run one at a time). */
async function plans(db: Queryable, name: string): Promise<{ generic: number; custom: number }> {
  const { rows } = await db.query<{ generic_plans: string; custom_plans: string }>(
    'SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name = $1',
    [name],
  );
  return { generic: Number(rows[0]?.generic_plans), custom: Number(rows[0]?.custom_plans) };
}

test("the engine's statements are planned once for any values; other queries get plans for their values", async () => {
  const statement = prepared('SELECT count(*)::int AS n FROM task WHERE id = $1 AND state = $2');
  for (const db of [store.engine, store]) {
    for (let i = 0; i < 3; i += 1) await db.query(statement, [randomUUID(), 'DONE']);
  }
  assert.deepEqual(await plans(store.engine, statement.name), { generic: 3, custom: 0 });
  assert.deepEqual(await plans(store, statement.name), { generic: 0, custom: 3 });
});

test("the engine's connections read and write the same database, with the store's codec", async () => {
  const id = randomUUID();
  await store.engine.query(
    `INSERT INTO task (id, title, state, template_name, requester_username) VALUES ($1, 'shared', 'TODO', 'x', 'me')`,
    [id],
  );
  const { rows } = await store.query<{ title: string }>('SELECT title FROM task WHERE id = $1', [id]);
  assert.equal(rows[0]?.title, 'shared');
  assert.equal(store.engine.codec, store.codec);
});

test('a closed store opens no connection for the engine: its statements are refused', async () => {
  const { store: closed } = await createTestDatabase();
  await closed.close();
  await assert.rejects(closed.engine.query('SELECT 1'), { code: 'TH_STORE_UNAVAILABLE' });
});
