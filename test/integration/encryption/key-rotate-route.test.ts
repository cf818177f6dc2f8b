import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { test } from 'node:test';
import type { RingCodec } from '../../../src/store/crypto/codec.ts';
import { addKey, prepareEncryption } from '../../../src/store/crypto/encryption.ts';
import { appendEvents, eventsSince } from '../../../src/store/queries/events.ts';
import { startTestServer, type ErrorBody } from '../../helpers/api-server.ts';
import { tempDir } from '../../helpers/plugin-fixtures.ts';

/**
 * `POST /key-rotate` holds the server in maintenance mode while it re-encrypts: a change
 * meanwhile answers 503 (reads go on), a second rotation 409; afterwards changes pass again.
 */

const server = await startTestServer();

test('during POST /key-rotate every change answers 503 and a second rotation 409; reads go on; then all is under the new key', async (t) => {
  const store = server.db.store;
  const codec = await prepareEncryption(store, path.join(tempDir(t), 'keys.json'));
  store.codec = codec;
  const stream = randomUUID();
  await appendEvents(
    store,
    stream,
    Array.from({ length: 50 }, (_, index) => ({
      seq: index + 1,
      type: 'log' as const,
      step: null,
      stream: 'stdout',
      line: `line ${index + 1}`,
      state: null,
      ts: new Date().toISOString(),
    })),
  );
  const second = await addKey(store, codec as RingCodec);

  // A transaction holding one of the rows keeps the rotation under way until it ends.
  const holder = await store.pool.connect();
  let rotation: Promise<Response> | undefined;
  try {
    await holder.query('BEGIN');
    await holder.query('SELECT 1 FROM event WHERE stream_id = $1 AND seq = 50 FOR UPDATE', [stream]);
    rotation = fetch(`${server.url}/key-rotate`, { method: 'POST' });
    const waiting = async (): Promise<boolean> => {
      const { rows } = await store.query(
        `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'
            AND query LIKE 'SELECT % FROM event WHERE key_label%'`,
      );
      return rows.length > 0;
    };
    for (let attempt = 0; attempt < 3000 && !(await waiting()); attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.ok(await waiting(), 'the rotation waits for the held row');

    const change = await server.request<ErrorBody>('POST', '/task', { template_name: 'nothing', input: {} });
    assert.equal(change.status, 503);
    assert.equal(change.body.code, 'TH_MAINTENANCE');
    const again = await server.request<ErrorBody>('POST', '/key-rotate');
    assert.equal(again.status, 409);
    assert.equal(again.body.code, 'TH_KEY_ROTATING');
    assert.equal((await server.request('GET', '/unsecured/mon/ping')).status, 200, 'reads go on');
    await holder.query('ROLLBACK');
  } finally {
    holder.release();
  }
  const done = await (rotation as Promise<Response>);
  const body = (await done.json()) as { key: string; rows: number; tables: Record<string, number> };
  assert.equal(done.status, 200);
  assert.equal(body.key, second);
  assert.equal(body.tables.event, 50);

  const after = await server.request<ErrorBody>('POST', '/task', { template_name: 'nothing', input: {} });
  assert.notEqual(after.status, 503, 'maintenance mode ends with the rotation');
  assert.equal(server.config.maintenanceMode, false);
  const { rows } = await store.query<{ label: string }>(
    'SELECT DISTINCT key_label AS label FROM event WHERE stream_id = $1',
    [stream],
  );
  assert.deepEqual(rows, [{ label: second }]);
  assert.deepEqual(
    (await eventsSince(store, stream, 0)).map((event) => event.line),
    Array.from({ length: 50 }, (_, index) => `line ${index + 1}`),
  );
});
