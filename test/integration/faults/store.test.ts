import assert from 'node:assert/strict';
import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import fs from 'node:fs';
import { test } from 'node:test';
import { describePlugin } from '../../../src/plugins/description.ts';
import { createRun, executeCreatedRun } from '../../../src/runs/execute.ts';
import { appendEvents, eventsSince, type StreamEvent } from '../../../src/store/queries/events.ts';
import type { RunRow } from '../../../src/store/queries/runs.ts';
import { Store } from '../../../src/store/store.ts';
import { EventHub, type Subscription } from '../../../src/stream/hub.ts';
import { fixturePath, tempDir, waitForFile } from '../../helpers/plugin-fixtures.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/store.ts';

/**
 * Issue "plugin host under faults", items 2, 7 and 8, against a real PostgreSQL whose
 * connections the tests break on purpose: an event insert killed under a running plugin
 * (2), the LISTEN connection lost while no connection can be made (7), a live event that
 * arrives out of order or in a flood during a catch-up (7), and a ROLLBACK that fails (8).
 */

const database = await createTestDatabase();

function connection(db: TestDatabase, name = db.name): ConstructorParameters<typeof Store>[0] {
  const host = decodeURIComponent(new URL(db.url).searchParams.get('host') as string);
  return { host, port: 5432, user: 'postgres', database: name };
}

/** A session of its own on the test database (not from the store's pool). */
function session(): Store {
  return new Store({ ...connection(database), max: 2, application_name: 'taskhost-test/admin' });
}

/** Polls a query until it returns a row (a condition another session creates), or gives up. */
async function waitForRow<R extends Record<string, unknown>>(
  db: Store,
  sql: string,
  values: unknown[],
  withinMs = 30_000,
): Promise<R> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const { rows } = await db.query<R>(sql, values);
    if (rows[0]) return rows[0];
    if (Date.now() > deadline) throw new Error(`no row for ${sql} within ${withinMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A backend of the test database inserting events and waiting for a lock, but `except`. */
function waitingInsert(admin: Store, except: number | null = null): Promise<{ pid: number }> {
  return waitForRow<{ pid: number }>(
    admin,
    `SELECT pid FROM pg_stat_activity
      WHERE datname = $1 AND wait_event_type = 'Lock' AND query LIKE '%INSERT INTO event%'
        AND ($2::int IS NULL OR pid <> $2::int)`,
    [database.name, except],
  );
}

/** A subscriber that records what it receives and can be awaited for a condition on it. */
function collect(): {
  events: StreamEvent[];
  lines: () => string[];
  handlers: Parameters<EventHub['subscribe']>[2];
  ended: Promise<void>;
  until: (
    what: string,
    check: (events: readonly StreamEvent[]) => boolean,
    withinMs?: number,
  ) => Promise<void>;
} {
  const events: StreamEvent[] = [];
  const waiters = new Set<() => void>();
  let end: () => void = () => undefined;
  const ended = new Promise<void>((resolve) => (end = resolve));
  const until = (
    what: string,
    check: (seen: readonly StreamEvent[]) => boolean,
    withinMs = 30_000,
  ): Promise<void> =>
    new Promise((resolve, reject) => {
      const guard = setTimeout(() => {
        waiters.delete(attempt);
        reject(new Error(`${what}: not within ${withinMs} ms (${events.length} events)`));
      }, withinMs);
      const attempt = (): void => {
        if (!check(events)) return;
        waiters.delete(attempt);
        clearTimeout(guard);
        resolve();
      };
      waiters.add(attempt);
      attempt();
    });
  return {
    events,
    lines: () => events.filter((event) => event.type === 'log').map((event) => event.line ?? ''),
    ended,
    until,
    handlers: {
      onEvent: (event) => {
        events.push(event);
        for (const waiter of [...waiters]) waiter();
      },
      onEnd: () => end(),
      isFinal: (event) => event.type === 'run' && event.state !== 'RUNNING',
    },
  };
}

test('2: an event insert killed under a running plugin is retried; the run ends DONE with every line, and no subscriber saw a line before it was stored', async (t) => {
  const dir = tempDir(t);
  const location = fixturePath('gated-lines.sh');
  const plugin = { name: 'gated-lines', location, description: await describePlugin(location) };
  const hub = new EventHub(database.store);
  const request = { store: database.store, hub, plugin, data: { dir, count: 3 }, origin: 'api' as const };
  const runId = await createRun(request);
  const seen = collect();
  await hub.subscribe(runId, 0, seen.handlers);
  const running = executeCreatedRun({ ...request, runId });
  const open = (gate: number): void => fs.writeFileSync(path.join(dir, `go-${gate}`), '');
  const lineArrived = (text: string): Promise<void> =>
    seen.until(text, (events) => events.some((event) => event.line === text));

  await waitForFile(path.join(dir, 'pid'));
  open(1);
  await lineArrived('line 1');

  // Inserts into the event table now wait; reads do not.
  const admin = session();
  t.after(() => admin.close());
  const lock = await admin.pool.connect();
  await lock.query('BEGIN');
  await lock.query('LOCK TABLE event IN EXCLUSIVE MODE');
  open(2);
  const first = await waitingInsert(admin);
  assert.deepEqual(seen.lines(), ['line 1'], 'line 2 is not published while it is not stored');
  await admin.query('SELECT pg_terminate_backend($1)', [first.pid]);
  // The recorder tries again on a new connection, which waits for the lock in turn.
  await waitingInsert(admin, first.pid);
  assert.deepEqual(seen.lines(), ['line 1'], 'the failed insert was not published either');
  await lock.query('ROLLBACK');
  lock.release();
  await lineArrived('line 2');
  open(3);

  const run = await running;
  await seen.ended;
  assert.equal(run.outcome.state, 'DONE');
  const { rows } = await database.store.query<RunRow>('SELECT * FROM run WHERE id = $1', [runId]);
  assert.equal(rows[0]?.state, 'DONE', 'the final state was written');
  const stored = await eventsSince(database.store, runId, 0);
  assert.deepEqual(
    stored.map((event) => event.seq),
    stored.map((_, index) => index + 1),
    'the stored log has no gap',
  );
  assert.deepEqual(
    stored
      .filter((event) => event.type === 'log' && event.line?.startsWith('line '))
      .map((event) => event.line),
    ['line 1', 'line 2', 'line 3'],
  );
  assert.deepEqual(
    seen.events.map((event) => [event.seq, event.type, event.line, event.state]),
    stored.map((event) => [event.seq, event.type, event.line, event.state]),
    'the subscriber saw exactly the stored log, once, in order',
  );
});

test('7: the LISTEN connection comes back after a long outage and every subscriber reads what it missed', async (t) => {
  const consumerStore = new Store({ ...connection(database), application_name: 'taskhost-test/consumer' });
  consumerStore.codec = database.store.codec;
  t.after(() => consumerStore.close());
  const hub = new EventHub(consumerStore);
  const stream = randomUUID();
  const event = (seq: number): StreamEvent => ({
    seq,
    type: 'log',
    step: null,
    stream: 'stdout',
    line: `event ${seq}`,
    state: null,
    ts: new Date().toISOString(),
  });
  const seen = collect();
  await hub.subscribe(stream, 0, seen.handlers);
  const producer = Object.assign(await database.store.pool.connect(), { codec: database.store.codec });
  t.after(() => producer.release());
  await appendEvents(producer, stream, [event(1)]);
  await seen.until('event 1 through NOTIFY', (events) => events.length === 1);

  // No new connection to the database is possible: the LISTEN client cannot come back.
  const control = new Store({ ...connection(database, 'postgres'), max: 1 });
  t.after(async () => {
    await control.query(`ALTER DATABASE ${database.name} WITH ALLOW_CONNECTIONS true`).catch(() => undefined);
    await control.close();
  });
  await control.query(`ALTER DATABASE ${database.name} WITH ALLOW_CONNECTIONS false`);
  const { rows } = await control.query<{ pid: number }>(
    `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'LISTEN%'`,
    [database.name],
  );
  assert.ok(rows.length > 0, 'the consumer LISTENs');
  for (const row of rows) await control.query('SELECT pg_terminate_backend($1)', [row.pid]);
  // Its first reconnect attempts fail; meanwhile an event is stored, and its NOTIFY is lost.
  await waitForRow(
    control,
    `SELECT 1 AS gone WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'LISTEN%')`,
    [database.name],
  );
  await appendEvents(producer, stream, [event(2)]);
  await control.query(`ALTER DATABASE ${database.name} WITH ALLOW_CONNECTIONS true`);

  await seen.until('event 2 after the LISTEN connection came back', (events) => events.length === 2);
  assert.deepEqual(
    seen.events.map((received) => received.line),
    ['event 1', 'event 2'],
  );
});

test('7: live events that arrive out of order, or in a flood during a catch-up, are read from the store; the buffer stays bounded', async (t) => {
  const hub = new EventHub(database.store);
  const stream = randomUUID();
  const events = Array.from({ length: 1500 }, (_, index): StreamEvent => ({
    seq: index + 1,
    type: 'log',
    step: null,
    stream: 'stdout',
    line: `line ${index + 1}`,
    state: null,
    ts: new Date().toISOString(),
  }));
  const seen = collect();
  const subscription: Subscription = await hub.subscribe(stream, 0, seen.handlers);

  // Another session stores the events but holds a lock that stalls every read of the table
  // until it commits; the catch-up that the first live event starts waits on it.
  const admin = session();
  t.after(() => admin.close());
  const writer = Object.assign(await admin.pool.connect(), { codec: admin.codec });
  await writer.query('BEGIN');
  await writer.query('LOCK TABLE event IN ACCESS EXCLUSIVE MODE');
  await appendEvents(writer, stream, events);

  // Out of order: seq 2 before seq 1 has been seen.
  hub.publish(stream, events[1] as StreamEvent);
  const reader = database.store;
  await waitForRow(
    reader,
    `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock' AND query LIKE '%FROM event%'`,
    [database.name],
  );
  let largest = 0;
  for (const event of events) {
    hub.publish(stream, event);
    largest = Math.max(largest, subscription.bufferedCount);
  }
  assert.ok(largest <= 1000, `the catch-up buffer held ${largest} events`);
  assert.equal(seen.events.length, 0, 'nothing is delivered out of order');
  await writer.query('COMMIT');
  writer.release();

  await seen.until('every event', (received) => received.length === events.length);
  assert.deepEqual(
    seen.events.map((event) => event.seq),
    events.map((event) => event.seq),
    'each event once, in order',
  );
  subscription.close();
});

test('8: a client whose ROLLBACK failed is destroyed, not handed to the next caller', async (t) => {
  // A client-side query timeout leaves the connection busy: the ROLLBACK after it fails too.
  const store = new Store({ ...connection(database), max: 1, query_timeout: 300 });
  t.after(() => store.close());
  const removed = once(store.pool, 'remove');
  await assert.rejects(
    store.transaction((db) => db.query('SELECT pg_sleep(2)')),
    /timeout/i,
  );
  // With one connection in the pool, the next caller gets the old one back unless it was destroyed.
  const { rows } = await store.query<{ x: number }>('SELECT 1 AS x');
  assert.deepEqual(rows, [{ x: 1 }], 'the next caller gets a working connection');
  await removed;
});
