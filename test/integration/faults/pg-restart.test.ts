import assert from 'node:assert/strict';
import { test } from 'node:test';
import { followStream } from '../../../src/cli/stream-client.ts';
import type { StreamEvent } from '../../../src/store/queries/events.ts';
import { cliEnv, startServe, startTaskhost, type ServeProcess } from '../../helpers/cli.ts';
import { startOwnCluster } from '../../helpers/pg-cluster.ts';
import { fixturePath } from '../../helpers/plugin-fixtures.ts';

/**
 * Issue "plugin host under faults", item 9: a server on an external PostgreSQL (a cluster of
 * this test's own, reached by DATABASE_URL), a plugin writing a line every 100 ms for 10 s,
 * and `pg_ctl restart -m fast` in the middle. The server keeps answering, the run ends
 * DONE, every line is stored, and a subscriber of that server and one of a second server
 * process (fed by LISTEN/NOTIFY) each receive every line once, in order, resuming with
 * `since` if their stream was closed.
 */

const LINES = 100;

async function stop(server: ServeProcess): Promise<void> {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return;
  process.kill(server.child.pid as number, 'SIGTERM');
  await server.child;
}

test('9: PostgreSQL restarted under a running plugin: nothing is lost, nothing hangs', async (t) => {
  const cluster = await startOwnCluster(t);
  const env = cliEnv({ DATABASE_URL: cluster.url });
  const serverA = await startServe(['--tasks', fixturePath('no-such-dir')], { env });
  t.after(() => stop(serverA));
  const serverB = await startServe(['--tasks', fixturePath('no-such-dir')], { env });
  t.after(() => stop(serverB));

  const post = async (path: string, body: unknown): Promise<Record<string, unknown>> => {
    const response = await fetch(`${serverA.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await response.text();
    assert.ok(response.status < 300, `${path}: ${response.status} ${text}`);
    return JSON.parse(text) as Record<string, unknown>;
  };
  await post('/plugin', { name: 'ticker', location: fixturePath('ticker.sh') });
  const { run_id: runId } = await post('/plugin/ticker/run?async=true', {
    data: { count: LINES, interval_ms: 100 },
  });
  assert.equal(typeof runId, 'string');

  // Subscriber 1: on the server that runs the plugin (the CLI's resuming stream client).
  const seenA: StreamEvent[] = [];
  let reached30: () => void = () => undefined;
  const tick30 = new Promise<void>((resolve) => (reached30 = resolve));
  const followA = followStream(serverA.url, `/run/${String(runId)}/stream`, 0, {
    onEvent: (event) => {
      seenA.push(event);
      if (event.line === 'tick 30') reached30();
    },
  });
  // Subscriber 2: `taskhost run watch` in its own process, on the other server.
  const watchB = startTaskhost(['run', 'watch', String(runId), '--server', serverB.url], {
    env,
    timeoutMs: 120_000,
  });

  await tick30;
  await cluster.restart();
  for (const server of [serverA, serverB]) {
    const ping = await fetch(`${server.url}/unsecured/mon/ping`);
    assert.equal(ping.status, 200, 'the server kept answering');
  }

  const followed = await followA;
  assert.equal(followed.last?.state, 'DONE', 'the run ended DONE');
  const expected = Array.from({ length: LINES }, (_, index) => `tick ${index + 1}`);
  const ticks = (lines: readonly (string | null)[]): (string | null)[] =>
    lines.filter((line) => line?.startsWith('tick '));
  assert.deepEqual(
    ticks(seenA.map((event) => event.line)),
    expected,
    'subscriber 1: every line once, in order',
  );
  assert.deepEqual(
    seenA.map((event) => event.seq),
    seenA.map((_, index) => index + 1),
    'subscriber 1: no gap, no duplicate',
  );

  const watched = await watchB;
  assert.equal(watched.exitCode, 0, String(watched.stderr));
  assert.deepEqual(
    ticks(String(watched.stdout).split('\n')),
    expected,
    'subscriber 2: every line once, in order',
  );

  const store = cluster.store();
  const { rows: runs } = await store.query<{ state: string }>('SELECT state FROM run WHERE id = $1', [runId]);
  assert.equal(runs[0]?.state, 'DONE');
  const { rows: events } = await store.query<{ seq: string; line: string | null }>(
    'SELECT seq, line FROM event WHERE stream_id = $1 ORDER BY seq',
    [runId],
  );
  assert.deepEqual(
    ticks(events.map((event) => store.codec.readText(event.line))),
    expected,
    'every line is stored',
  );
  assert.deepEqual(
    events.map((event) => Number(event.seq)),
    events.map((_, index) => index + 1),
    'the stored log has no gap',
  );
  const { rows: run } = await store.query<{ last: string }>(
    'SELECT last_seq AS last FROM run WHERE id = $1',
    [runId],
  );
  assert.equal(Number(run[0]?.last), events.length);
});
