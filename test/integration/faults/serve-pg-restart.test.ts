import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import type { StreamEvent } from '../../../src/store/queries/events.ts';
import { cliEnv, startServe, type ServeProcess } from '../../helpers/cli.ts';
import { startOwnCluster } from '../../helpers/pg-cluster.ts';
import { fixturePath, tempDir } from '../../helpers/plugin-fixtures.ts';

/**
 * Issue 13, reliability: PostgreSQL restarted (`pg_ctl restart -m fast`, a cluster of this
 * test's own so that no other test file sees it) while two `serve` instances run 20 tasks
 * whose plugin step prints a line every 500 ms until a gate file exists. The instances
 * reconnect and every task ends DONE, each step run once (no instance taken for dead, no
 * step re-run), with every line the plugin printed stored once, in order. A task-stream
 * subscriber on the instance that does NOT run its task (fed through LISTEN/NOTIFY)
 * receives every event of that task: seq 1..last without gap or duplicate across its
 * connections (it reconnects with `?since=` the last seq it got, should its socket be
 * closed), ending with the final task event and a normal close.
 */

const TASKS = 20;

interface Connection {
  events: StreamEvent[];
  snapshots: number;
  /** The close code, or the HTTP status of a refused upgrade. */
  end: { code: number } | { refused: number } | null;
}

/**
 * Follows `/task/ID/stream` to its normal close, keeping every message of every connection
 * as received (nothing deduplicated: a duplicate must show). A connection that ends
 * otherwise (closed, refused while the store is away) is followed by another with
 * `?since=` the seq of the last event received.
 */
async function followTask(
  server: ServeProcess,
  id: string,
  onEvent: (event: StreamEvent) => void,
): Promise<Connection[]> {
  const connections: Connection[] = [];
  let last = 0;
  const deadline = Date.now() + 240_000; // a hang guard
  for (;;) {
    const connection: Connection = { events: [], snapshots: 0, end: null };
    connections.push(connection);
    await new Promise<void>((resolve) => {
      const socket = new WebSocket(`ws://127.0.0.1:${server.port}/task/${id}/stream?since=${last}`);
      const end = (how: NonNullable<Connection['end']>): void => {
        connection.end ??= how;
        resolve();
      };
      socket.on('message', (data: Buffer) => {
        const message = JSON.parse(data.toString('utf8')) as StreamEvent | { type: 'snapshot' };
        if (message.type === 'snapshot') {
          connection.snapshots += 1;
          return;
        }
        connection.events.push(message);
        last = message.seq;
        onEvent(message);
      });
      socket.on('unexpected-response', (_request, response) => {
        end({ refused: response.statusCode ?? 0 });
        socket.terminate();
      });
      socket.on('error', () => undefined); // its close follows
      socket.on('close', (code) => end({ code }));
    });
    const { end } = connection;
    if (end && 'code' in end && end.code === 1000) return connections;
    if (Date.now() > deadline) {
      throw new Error(
        `the task stream never closed normally: ${JSON.stringify(connections.map((c) => c.end))}`,
      );
    }
    await sleep(200); // a pause before reconnecting, as a client would
  }
}

async function post(server: ServeProcess, route: string, body: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(`${server.url}${route}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  assert.ok(response.status < 300, `${route}: ${response.status} ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
}

test(
  'PostgreSQL restarted under 20 running tasks on two instances: all DONE, and a subscriber on the other instance gets every event once',
  { timeout: 300_000 },
  async (t) => {
    // First registered, so run first: the servers stop before their cluster and their directory go.
    const servers: ServeProcess[] = [];
    let gate: string | null = null;
    t.after(async () => {
      if (gate) fs.writeFileSync(gate, ''); // no plugin left ticking, whatever happened
      for (const server of servers) server.child.kill('SIGTERM');
      await Promise.all(servers.map((server) => server.child));
    });
    const cluster = await startOwnCluster(t);
    const store = cluster.store();
    const cwd = tempDir(t);
    gate = path.join(cwd, 'gate');
    fs.mkdirSync(path.join(cwd, 'templates'));
    fs.mkdirSync(path.join(cwd, 'tasks'));
    fs.symlinkSync(fixturePath('tick-until-gate.sh'), path.join(cwd, 'tasks', 'tick-until-gate.sh'));
    fs.writeFileSync(
      path.join(cwd, 'templates', 'ticks.yaml'),
      `name: ticks
description: ticks until a gate opens, then an echo
auto_runnable: true
steps:
  tick:
    action: {type: tick-until-gate, configuration: {gate: '${gate}', interval_ms: 500}}
  after:
    dependencies: [tick]
    action: {type: echo, configuration: {output: {done: true}}}
`,
    );
    const env = cliEnv({ DATABASE_URL: cluster.url });
    servers.push(await startServe([], { cwd, env }), await startServe([], { cwd, env }));

    const ids = await Promise.all(
      Array.from({ length: TASKS }, async (_, index) => {
        const created = await post(servers[index % 2] as ServeProcess, '/task', {
          template_name: 'ticks',
          input: {},
        });
        return created.id as string;
      }),
    );

    // Which instance runs which task: the subscriber goes to the other one.
    const runners = new Map<string, string>();
    const deadline = Date.now() + 60_000; // a hang guard
    while (runners.size < TASKS && Date.now() < deadline) {
      const { rows } = await store.query<{ task_id: string; ran_on: string }>(
        `SELECT task_id, ran_on FROM run WHERE state = 'RUNNING' AND step_name = 'tick'`,
      );
      for (const row of rows) runners.set(row.task_id, row.ran_on);
      if (runners.size < TASKS) await sleep(100);
    }
    assert.equal(runners.size, TASKS, 'every task runs its plugin step');
    const nameOf = (server: ServeProcess): string => `${os.hostname()}/${server.child.pid}`;
    const watched = ids[0] as string;
    const runner = servers.find((server) => nameOf(server) === runners.get(watched)) as ServeProcess;
    assert.ok(runner, `task ${watched} runs on ${runners.get(watched)}, not on a server of this test`);
    const other = servers.find((server) => server !== runner) as ServeProcess;
    t.diagnostic(
      `tasks per instance: ${servers.map((server) => [...runners.values()].filter((name) => name === nameOf(server)).length).join(', ')}`,
    );

    let ticks = 0;
    const waiters: { ticks: number; resolve: () => void }[] = [];
    /** Resolves once the subscriber has had `count` tick lines (rejects after 60 s: a hang guard). */
    const ticked = (count: number): Promise<void> =>
      new Promise((resolve, reject) => {
        if (ticks >= count) return resolve();
        const timer = setTimeout(
          () => reject(new Error(`the subscriber had ${ticks} of ${count} ticks`)),
          60_000,
        );
        waiters.push({
          ticks: count,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      });
    const following = followTask(other, watched, (event) => {
      if (event.type !== 'log' || !event.line?.startsWith('tick ')) return;
      ticks += 1;
      for (const waiter of waiters.filter((entry) => entry.ticks <= ticks)) waiter.resolve();
    });

    // Lines reach the subscriber from the other instance; then PostgreSQL goes away under them.
    await ticked(3);
    const before = ticks;
    await cluster.restart();
    for (const server of servers) {
      const ping = await fetch(`${server.url}/unsecured/mon/ping`).catch((error: unknown) =>
        assert.fail(`the server stopped answering (${String(error)}): ${server.stderr()}`),
      );
      assert.equal(ping.status, 200, 'the server kept answering');
    }
    // Lines printed after the restart reach the subscriber too; then the steps may end.
    await ticked(before + 3);
    fs.writeFileSync(gate, '');

    const connections = await following;
    const ended = Date.now() + 120_000; // a hang guard
    let states: Map<string, string> = new Map();
    for (;;) {
      const { rows } = await store.query<{ id: string; state: string }>(
        'SELECT id, state FROM task WHERE id = ANY($1::uuid[])',
        [ids],
      );
      states = new Map(rows.map((row) => [row.id, row.state]));
      if ([...states.values()].every((state) => state === 'DONE' || state === 'BLOCKED')) break;
      if (Date.now() > ended) break;
      await sleep(100);
    }
    assert.deepEqual(
      ids.map((id) => states.get(id)),
      ids.map(() => 'DONE'),
      'every task ended DONE',
    );
    t.diagnostic(
      `subscriber connections: ${connections.length} (${connections.map((c) => JSON.stringify(c.end)).join(', ')})`,
    );

    // The subscriber: every event once, in order, across its connections, then a normal close.
    const received = connections.flatMap((connection) => connection.events);
    assert.deepEqual(
      received.map((event) => event.seq),
      received.map((_, index) => index + 1),
      'seq 1..last: no gap, no duplicate',
    );
    assert.ok(
      connections.every((connection) => connection.snapshots <= 1),
      'at most one snapshot a connection',
    );
    const last = received.at(-1);
    assert.equal(last?.type, 'task');
    assert.equal(last?.state, 'DONE', 'the last event is the final task event');
    const { rows: stored } = await store.query<{
      seq: string;
      type: string;
      step: string | null;
      line: string | null;
      state: string | null;
    }>('SELECT seq, type, step, line, state FROM event WHERE stream_id = $1 ORDER BY seq', [watched]);
    assert.deepEqual(
      received.map((event) => [event.seq, event.type, event.step, event.line, event.state]),
      stored.map((event) => [
        Number(event.seq),
        event.type,
        event.step,
        store.codec.readText(event.line),
        event.state,
      ]),
      'the subscriber got the stored log of the task, all of it',
    );

    // Every task: its plugin step ran once, and every line it printed is stored once, in order.
    const { rows: runs } = await store.query<{ task_id: string; attempt: number; state: string }>(
      `SELECT task_id, attempt, state FROM run WHERE task_id = ANY($1::uuid[]) AND step_name = 'tick'`,
      [ids],
    );
    assert.deepEqual(
      runs.map((run) => [run.attempt, run.state]),
      ids.map(() => [1, 'DONE']),
      'each plugin step ran once, to DONE',
    );
    // Outputs and lines are encrypted at rest: read back through the codec, then grouped.
    const { rows: tickRows } = await store.query<{
      id: string;
      output: unknown;
      line: string | null;
      seq: string;
    }>(
      `SELECT t.id, s.output, e.line, e.seq
         FROM task t JOIN resolution r ON r.task_id = t.id
         JOIN resolution_step s ON s.resolution_id = r.id AND s.name = 'tick'
         JOIN event e ON e.stream_id = t.id
        WHERE t.id = ANY($1::uuid[]) ORDER BY t.id, e.seq`,
      [ids],
    );
    const byTask = new Map<string, { id: string; ticks: number; lines: string[]; seqs: string[] }>();
    for (const row of tickRows) {
      let log = byTask.get(row.id);
      if (!log) {
        const output = store.codec.readJson<{ ticks?: number } | null>(row.output);
        log = { id: row.id, ticks: Number(output?.ticks ?? 0), lines: [], seqs: [] };
        byTask.set(row.id, log);
      }
      const line = store.codec.readText(row.line);
      if (line?.startsWith('tick ')) log.lines.push(line);
      log.seqs.push(row.seq);
    }
    const logs = [...byTask.values()];
    assert.equal(logs.length, TASKS);
    for (const log of logs) {
      assert.ok(log.ticks > 0, `task ${log.id} ticked`);
      assert.deepEqual(
        log.lines,
        Array.from({ length: log.ticks }, (_, index) => `tick ${index + 1}`),
        `task ${log.id}: every line once, in order`,
      );
      assert.deepEqual(
        log.seqs.map(Number),
        log.seqs.map((_, index) => index + 1),
        `task ${log.id}: a log without gap`,
      );
    }
    const { rows: instances } = await store.query<{ pid: number }>('SELECT pid FROM instance ORDER BY pid');
    assert.deepEqual(
      instances.map((row) => row.pid),
      servers.map((server) => server.child.pid).sort((a, b) => (a ?? 0) - (b ?? 0)),
      'neither instance was taken for dead',
    );
  },
);
