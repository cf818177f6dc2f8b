import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { appendEvents, EVENT_CHANNEL, type StreamEvent } from '../../../src/store/queries/events.ts';
import { dropStaleWatches } from '../../../src/store/queries/stream-watch.ts';
import { Store } from '../../../src/store/store.ts';
import { EventHub } from '../../../src/stream/hub.ts';
import { until } from '../../helpers/processes.ts';
import { createTestDatabase } from '../../helpers/store.ts';

/**
 * Producers notify only the streams someone follows (stream_watch, migration 0008): a
 * notifying commit holds a cluster-wide lock until it is flushed, so the others must not pay
 * for it. Notifications arrive in commit order, so once a later commit's pointer is here, an
 * earlier commit's pointer would be too.
 */

const database = await createTestDatabase();
const { store } = database;

/** How long a wait may last before the test calls it hung. */
const HANG_GUARD = 20_000;

async function eventually(check: () => Promise<boolean> | boolean, what: string): Promise<void> {
  assert.ok(await until(async () => ((await check()) ? true : undefined), HANG_GUARD), what);
}

const logLine = (seq: number, line: string): StreamEvent => ({
  seq,
  type: 'log',
  step: null,
  stream: 'stdout',
  line,
  state: null,
  ts: new Date().toISOString(),
});

async function watchers(streamId: string): Promise<number[]> {
  const { rows } = await store.query<{ listener: number }>(
    'SELECT listener FROM stream_watch WHERE stream_id = $1',
    [streamId],
  );
  return rows.map((row) => row.listener);
}

test('events notify only a followed stream; the follower is registered under its LISTEN connection, then removed', async (t) => {
  const observer = new Store({ ...store.pool.options, application_name: 'taskhost/test-observer' });
  t.after(() => observer.close());
  const pointers: string[] = [];
  await observer.listen(EVENT_CHANNEL, (payload) => pointers.push(payload));

  const hub = new EventHub(store);
  const followed = randomUUID();
  const unfollowed = randomUUID();
  const seen: string[] = [];
  const subscription = await hub.subscribe(followed, 0, {
    onEvent: (event) => seen.push(event.line ?? ''),
    isFinal: () => false,
  });
  assert.deepEqual(await watchers(followed), [store.listenerPid]);

  await appendEvents(store, unfollowed, [logLine(1, 'nobody reads this live')]);
  await appendEvents(store, followed, [logLine(1, 'a follower reads this live')]);
  await eventually(async () => pointers.length > 0, 'the followed stream was notified');
  assert.deepEqual(pointers, [`${followed}:1`]);
  await eventually(async () => seen.length === 1, 'the subscriber got the event');
  assert.deepEqual(seen, ['a follower reads this live']);

  subscription.close();
  await eventually(
    async () => (await watchers(followed)).length === 0,
    'the last subscriber removed the row',
  );
  await appendEvents(store, followed, [logLine(2, 'followed no more')]);
  await appendEvents(store, unfollowed, [logLine(2, 'still nobody')]);
  await observer.query('SELECT pg_notify($1, $2)', [EVENT_CHANNEL, 'marker:0']);
  await eventually(async () => pointers.includes('marker:0'), 'the marker arrived');
  assert.deepEqual(pointers, [`${followed}:1`, 'marker:0']);
});

test('rows of a LISTEN connection that is gone are dropped; live ones stay', async () => {
  const live = randomUUID();
  const stale = randomUUID();
  const { rows } = await store.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  const livePid = rows[0]?.pid as number;
  // No backend has pid 2^31-1 (Linux pids stay below 2^22).
  await store.query('INSERT INTO stream_watch (stream_id, listener) VALUES ($1, $2), ($3, 2147483647)', [
    live,
    livePid,
    stale,
  ]);
  await dropStaleWatches(store);
  const { rows: left } = await store.query<{ stream_id: string }>(
    'SELECT stream_id FROM stream_watch WHERE stream_id = ANY($1::uuid[])',
    [[live, stale]],
  );
  assert.deepEqual(
    left.map((row) => row.stream_id),
    [live],
  );
});
