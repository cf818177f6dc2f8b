import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { runFromRow, type RunRow } from '../../../src/store/queries/runs.ts';
import { startTestServer } from '../../helpers/api-server.ts';
import { isAlive, tempDir, waitForFile } from '../../helpers/plugin-fixtures.ts';

/**
 * Issue "plugin host under faults", items 3 and 6 over the real API: a background run that
 * fails is logged, not swallowed; a server that closes during an async batch starts no new
 * item and records the rest as cancelled without spawning them.
 */

test('6: closing the server during an async batch cancels the running item and records the rest without spawning', async (t) => {
  const server = await startTestServer();
  await server.register('orphan', 'orphan-ignores-term.sh');
  const dir = tempDir(t);
  const pidfiles = Array.from({ length: 4 }, (_, index) => path.join(dir, `pids-${index}`));
  const started = await server.request<{ runs: { run_id: string }[] }>(
    'POST',
    '/plugin/orphan/batch?async=true',
    { items: pidfiles.map((pidfile) => ({ pidfile })), max_concurrent: 1 },
  );
  assert.equal(started.status, 202, started.text);
  await waitForFile(pidfiles[0] as string);
  const [plugin, grandchild] = fs
    .readFileSync(pidfiles[0] as string, 'utf8')
    .trim()
    .split(' ')
    .map(Number);
  await server.app.close();

  const ids = started.body.runs.map((run) => run.run_id);
  const { rows } = await server.db.store.query<RunRow>('SELECT * FROM run WHERE id = ANY($1::uuid[])', [ids]);
  const byId = new Map(rows.map((row) => [row.id, runFromRow(server.db.store.codec, row)]));
  const first = byId.get(ids[0] as string);
  assert.equal(first?.state, 'SERVER_ERROR');
  assert.equal(first?.error, 'run cancelled: the server is stopping');
  assert.equal(isAlive(plugin as number), false);
  assert.equal(isAlive(grandchild as number), false);
  for (const id of ids.slice(1)) {
    const run = byId.get(id);
    assert.equal(run?.state, 'SERVER_ERROR');
    assert.equal(run?.error, 'cancelled before it started: the server is stopping');
    assert.equal(run?.kill_reason, 'cancelled');
    assert.equal(run?.pgid, null);
  }
  for (const pidfile of pidfiles.slice(1)) assert.equal(fs.existsSync(pidfile), false, `${pidfile}: spawned`);
  const { rows: finals } = await server.db.store.query<{ n: string }>(
    `SELECT count(*) AS n FROM event WHERE stream_id = ANY($1::uuid[]) AND type = 'run' AND state = 'SERVER_ERROR'`,
    [ids],
  );
  assert.equal(Number(finals[0]?.n), ids.length, 'every run has its final event: its stream ends');
});

test('3: a background run that fails is logged with its error, not swallowed', async (t) => {
  const log = new PassThrough();
  let text = '';
  log.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const server = await startTestServer({ logLevel: 'error' }, { logStream: log });
  await server.register('gated-lines', 'gated-lines.sh');
  const dir = tempDir(t);
  const started = await server.request<{ run_id: string }>('POST', '/plugin/gated-lines/run?async=true', {
    data: { dir, count: 1 },
  });
  assert.equal(started.status, 202);
  await waitForFile(path.join(dir, 'pid'));
  // The store goes away under the run: its end cannot be stored.
  await server.db.store.close();
  fs.writeFileSync(path.join(dir, 'go-1'), '');
  const entry = await new Promise<Record<string, unknown>>((resolve) => {
    const scan = (): void => {
      for (const line of text.split('\n')) {
        if (!line.includes('"run failed"')) continue;
        resolve(JSON.parse(line) as Record<string, unknown>);
        return;
      }
      log.once('data', scan);
    };
    scan();
  });
  assert.equal(entry.level, 50, 'logged as an error');
  assert.match(JSON.stringify(entry.err), /pool|store|end/i, 'with the error that ended it');
});
