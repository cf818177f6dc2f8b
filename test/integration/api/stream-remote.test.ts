import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { loadPlugin } from '../../../src/plugins/registry.ts';
import { createRun, executeCreatedRun } from '../../../src/runs/execute.ts';
import { eventsSince } from '../../../src/store/queries/events.ts';
import { Store } from '../../../src/store/store.ts';
import { followRun, range, seqs, startTestServer } from '../../helpers/api-server.ts';
import { tempDir } from '../../helpers/plugin-fixtures.ts';

/**
 * A run produced by another taskhost process (a CLI `execute` beside a server, or another
 * instance on the same PostgreSQL) reaches the server's stream subscribers through
 * LISTEN/NOTIFY pointers and the stored log: here the producer has its own Store and no
 * event hub, exactly like the CLI.
 */
test('a run executed by another process streams live to a subscriber of this server', async (t) => {
  const server = await startTestServer();
  await server.register('ticker', 'ticker.sh');
  const producer = new Store({ connectionString: server.db.url, application_name: 'taskhost/test-producer' });
  t.after(() => producer.close());

  const gate = path.join(tempDir(t), 'gate');
  const plugin = await loadPlugin(producer, 'ticker');
  const request = {
    store: producer,
    hub: null,
    plugin,
    data: { count: 3, gate, after: 2 },
    origin: 'cli' as const,
  };
  const runId = await createRun(request);

  let openedWhileRunning = false;
  const following = followRun(server, runId, {
    onMessage: (message) => {
      // The gate opens only once a line crossed from the producer to this subscriber.
      if (message.type === 'log' && message.line === 'waiting for gate' && !fs.existsSync(gate)) {
        openedWhileRunning = true;
        fs.writeFileSync(gate, '');
      }
    },
  });
  const produced = await executeCreatedRun({ ...request, runId });
  const followed = await following;

  assert.equal(produced.outcome.state, 'DONE', produced.outcome.error ?? '');
  assert.ok(openedWhileRunning, 'a line was delivered while the run was still running');
  assert.equal(followed.code, 1000);
  const stored = await eventsSince(producer, runId, 0);
  assert.deepEqual(seqs(followed.events), range(1, stored.length), 'every event once, in order');
  assert.deepEqual(followed.events, stored, 'the same events as stored');
  // In order within each stream: stdout and stderr are two pipes, and lines written to both
  // in one instant may be read in either order.
  assert.deepEqual(
    followed.events.filter((event) => event.stream === 'stdout').map((event) => event.line),
    [
      'tick 1',
      'tick 2',
      'tick 3',
      'waiting for gate',
      'after 1',
      'after 2',
      '{"status":1,"reason":"ok","payload":{"lines":5}}',
    ],
  );
  assert.deepEqual(
    followed.events.filter((event) => event.stream === 'stderr').map((event) => event.line),
    ['ticker: done'],
  );
});
