import assert from 'node:assert/strict';
import { test } from 'node:test';
import type pg from '../../../src/store/driver.ts';
import { isTransientStoreError } from '../../../src/store/transient.ts';
import { createTestDatabase } from '../../helpers/store.ts';

/**
 * Store.transaction when PostgreSQL drops the connection between two of its statements, as
 * a restart does (`pg_ctl restart -m fast` tells every backend FATAL 57P01, idle ones too).
 * pg reports that as an 'error' event of the checked-out client, which no one heard: a
 * `serve` crashed on it under the reliability test of a restart (serve-pg-restart.test.ts).
 */

const database = await createTestDatabase();

test('a connection lost between two statements of a transaction fails it with a transient error, and the process lives on', async () => {
  const failure = await database.store
    .transaction(async (db) => {
      const { rows } = await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      await database.store.query('SELECT pg_terminate_backend($1)', [rows[0]?.pid]);
      // The connection's end comes after its FATAL message: the client has had its 'error'
      // event, while no statement of this transaction was running.
      // (Not events.once: it would listen to 'error' too.)
      await new Promise((resolve) => (db as unknown as pg.PoolClient).once('end', resolve));
      await db.query('SELECT 1');
      return 'committed';
    })
    .catch((error: unknown) => error);
  assert.ok(isTransientStoreError(failure), `a transient error: ${String(failure)}`);
  const { rows } = await database.store.transaction((db) => db.query<{ one: number }>('SELECT 1 AS one'));
  assert.deepEqual(rows, [{ one: 1 }], 'the store works on, with another connection');
});
