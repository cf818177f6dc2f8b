import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { test } from 'node:test';
import { prepareEncryption } from '../../../src/store/crypto/encryption.ts';
import { appendEvents, eventsSince, type StreamEvent } from '../../../src/store/queries/events.ts';
import {
  assertExit,
  cliEnv,
  cliResult,
  startTaskhost,
  stdoutJson,
  taskhost,
  type CliResult,
} from '../../helpers/cli.ts';
import { ringLabels } from '../../helpers/encryption.ts';
import { tempDir } from '../../helpers/plugin-fixtures.ts';
import { createTestDatabase } from '../../helpers/store.ts';

/**
 * A key rotation is resumable: one SIGKILLed half-way through a large table leaves rows
 * under both keys (each batch committed or not at all); run again, it completes.
 */

function logLine(seq: number, text: string): StreamEvent {
  return {
    seq,
    type: 'log',
    step: null,
    stream: 'stdout',
    line: text,
    state: null,
    ts: new Date().toISOString(),
  };
}

test('a rotation SIGKILLed half-way over a large table leaves both keys in use; run again, it completes and all reads back', async (t) => {
  const database = await createTestDatabase();
  const cwd = tempDir(t);
  const keysFile = path.join(cwd, 'keys.json');
  const env = cliEnv({ DATABASE_URL: database.url, TASKHOST_KEYS_FILE: keysFile });
  const store = database.store;
  store.codec = await prepareEncryption(store, keysFile);
  const stream = randomUUID();
  const LINES = 20_000;
  for (let from = 1; from <= LINES; from += 2000) {
    await appendEvents(
      store,
      stream,
      Array.from({ length: 2000 }, (_, index) => logLine(from + index, `line ${from + index}`)),
    );
  }
  assertExit(await taskhost(['key', 'add'], { cwd, env }), 0);
  const [first, second] = ringLabels(keysFile);

  // The last line written is the last of the table: a transaction holding it stops the
  // rotation there, after the batches before it committed.
  const holder = await store.pool.connect();
  let killed: CliResult | undefined;
  try {
    await holder.query('BEGIN');
    await holder.query('SELECT 1 FROM event WHERE stream_id = $1 AND seq = $2 FOR UPDATE', [stream, LINES]);
    const rotating = startTaskhost(['key', 'rotate'], { cwd, env });
    const blocked = async (): Promise<boolean> => {
      const { rows } = await store.query(
        `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1
            AND wait_event_type = 'Lock'`,
        [`taskhost/${rotating.pid}`],
      );
      return rows.length > 0;
    };
    for (let attempt = 0; attempt < 3000 && !(await blocked()); attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.ok(await blocked(), 'the rotation waits for the held row');
    rotating.kill('SIGKILL');
    killed = await cliResult(rotating);
    await holder.query('ROLLBACK');
  } finally {
    holder.release();
  }
  assert.equal(killed?.signal, 'SIGKILL');

  const counts = async (): Promise<Record<string, number>> => {
    const { rows } = await store.query<{ label: string; n: string }>(
      `SELECT key_label AS label, count(*) AS n FROM event WHERE stream_id = $1 GROUP BY key_label`,
      [stream],
    );
    return Object.fromEntries(rows.map((row) => [row.label, Number(row.n)]));
  };
  const halfway = await counts();
  assert.ok((halfway[first as string] ?? 0) > 0, `lines still under ${first}: ${JSON.stringify(halfway)}`);
  assert.ok(
    (halfway[second as string] ?? 0) > 0,
    `lines already under ${second}: ${JSON.stringify(halfway)}`,
  );

  const resumed = await taskhost(['key', 'rotate'], { cwd, env });
  assertExit(resumed, 0);
  assert.deepEqual(await counts(), { [second as string]: LINES });
  const listed = stdoutJson<{ label: string; rows: number }[]>(
    await taskhost(['key', 'list', '--json'], { cwd, env }),
  );
  assert.equal(listed.find((key) => key.label === first)?.rows, 0);
  const lines: string[] = [];
  for (let since = 0; since < LINES; since = lines.length) {
    lines.push(...(await eventsSince(store, stream, since)).map((event) => event.line as string));
  }
  assert.deepEqual(
    lines,
    Array.from({ length: LINES }, (_, index) => `line ${index + 1}`),
  );
});
