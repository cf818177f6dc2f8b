import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { loadTemplateCatalog } from '../../../src/api/template-catalog.ts';
import type { TaskDocument } from '../../../src/engine/engine.ts';
import { BUILTIN_ACTIONS } from '../../../src/plugins/builtins.ts';
import type { StreamEvent } from '../../../src/store/queries/events.ts';
import { listPlugins } from '../../../src/store/queries/plugins.ts';
import { range, seqs, startTestServer, type TestServer } from '../../helpers/api-server.ts';
import { registerFixture, runOnce, taskEvents } from '../../helpers/engine.ts';

/**
 * SPEC section 8, `GET /task/:id/stream`, over real WebSockets: the task document as the
 * snapshot, then the task's own, its steps' and its plugin's lines in one seq order, live
 * while the engine (here, in the test process, reaching the server through LISTEN/NOTIFY as
 * another instance would) resolves it; a normal close after the final task event, a full
 * replay for a late subscriber, and `?since=` resuming without gap or duplicate.
 */

const templatesDir = fs.mkdtempSync(path.join(os.tmpdir(), 'taskhost-api-task-stream-'));
after(() => fs.rmSync(templatesDir, { recursive: true, force: true }));
fs.writeFileSync(
  path.join(templatesDir, 'gated.yaml'),
  `name: gated
description: a plugin step that waits for a file, then an echo
inputs:
  - name: gate
steps:
  wait:
    action:
      type: waiter
      configuration: {path: '{{input.gate}}'}
  done:
    dependencies: [wait]
    action: {type: echo, configuration: {output: {ok: 'yes'}}}
`,
);

const server: TestServer = await startTestServer(
  { wsPingIntervalMs: 60_000 },
  {
    templates: async (store) => {
      await registerFixture(store, 'waiter', 'wait-for-file.sh');
      const names = new Set([...BUILTIN_ACTIONS, ...(await listPlugins(store)).map((row) => row.name)]);
      const { catalog, issues } = await loadTemplateCatalog(
        templatesDir,
        path.join(templatesDir, 'none'),
        names,
      );
      assert.deepEqual(issues, []);
      return catalog;
    },
  },
);

type Message = { type: 'snapshot'; task: TaskDocument } | StreamEvent;

interface Followed {
  snapshot: TaskDocument | null;
  events: StreamEvent[];
  code: number;
  reason: string;
}

/** Follows `/task/:id/stream` until it closes; `onEvent` may close it early. */
function followTask(
  id: string,
  options: { since?: number; onEvent?: (event: StreamEvent, socket: WebSocket) => void } = {},
): Promise<Followed> {
  const query = options.since === undefined ? '' : `?since=${options.since}`;
  const socket = new WebSocket(`ws://127.0.0.1:${server.port}/task/${id}/stream${query}`);
  const messages: Message[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.terminate();
      reject(new Error(`task stream ${id} not closed after 20 s (${messages.length} messages)`));
    }, 20_000);
    socket.on('message', (data: Buffer) => {
      const message = JSON.parse(data.toString('utf8')) as Message;
      messages.push(message);
      if (message.type !== 'snapshot') options.onEvent?.(message, socket);
    });
    let refused = false;
    socket.on('unexpected-response', (_request, response) => {
      refused = true;
      clearTimeout(timer);
      socket.terminate();
      reject(new Error(`upgrade refused: HTTP ${response.statusCode}`));
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('close', (code, reason) => {
      clearTimeout(timer);
      if (refused) return;
      const first = messages[0];
      assert.equal(messages.filter((message) => message.type === 'snapshot').length, 1, 'one snapshot');
      resolve({
        snapshot: first?.type === 'snapshot' ? first.task : null,
        events: messages.filter((message): message is StreamEvent => message.type !== 'snapshot'),
        code,
        reason: reason.toString('utf8'),
      });
    });
  });
}

async function createGated(gate: string): Promise<TaskDocument> {
  const response = await server.request<TaskDocument>('POST', '/task', {
    template_name: 'gated',
    input: { gate },
  });
  assert.equal(response.status, 201, response.text);
  return response.body;
}

function gatePath(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'taskhost-gate-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'gate');
}

/** The events' shape is the run stream's: {seq, type, step, stream, line, state, ts}. */
function assertShape(event: StreamEvent): void {
  for (const key of ['seq', 'type', 'step', 'stream', 'line', 'state', 'ts']) {
    assert.ok(key in event, `event ${event.seq} has ${key}: ${JSON.stringify(event)}`);
  }
  assert.ok(['log', 'run', 'step', 'task'].includes(event.type), event.type);
}

test('a task stream sends the document, then live step, log and task events in seq order, and closes 1000 after DONE', async () => {
  const gate = gatePath();
  const task = await createGated(gate);
  let sawLineWhileRunning = false;
  // The engine resolves the task in this process, as another instance would: its events reach
  // the server's subscribers through the store's NOTIFY pointers.
  let resolving: Promise<unknown> | null = null;
  const followed = followTask(task.id, {
    onEvent: (event) => {
      if (event.type === 'task' && event.state === 'TODO' && !resolving) {
        resolving = runOnce(server.db.store, task.resolution?.id as string);
      }
      if (event.type === 'log' && event.line === `waiting for ${gate}`) {
        // The plugin waits for this file: it ends only because the line arrived live.
        sawLineWhileRunning = true;
        fs.writeFileSync(gate, '');
      }
    },
  });
  const result = await followed;
  const outcome = (await resolving) as { state: string } | null;
  assert.equal(outcome?.state, 'DONE');
  assert.ok(sawLineWhileRunning, 'the plugin line arrived while the step ran');

  assert.equal(result.snapshot?.id, task.id);
  assert.equal(result.snapshot?.state, 'TODO');
  assert.equal(result.code, 1000, `${result.code} ${result.reason}`);
  result.events.forEach(assertShape);
  const last = result.events.at(-1) as StreamEvent;
  assert.deepEqual(seqs(result.events), range(1, last.seq), 'seq 1, 2, 3, … with no gap or duplicate');
  assert.deepEqual(
    result.events.filter((event) => event.type === 'task').map((event) => event.state),
    ['TODO', 'RUNNING', 'DONE'],
  );
  assert.equal(last.type, 'task');
  assert.equal(last.state, 'DONE');
  const steps = result.events
    .filter((event) => event.type === 'step')
    .map((event) => `${event.step} ${event.state}`);
  assert.ok(
    steps.includes('wait RUNNING') && steps.includes('wait DONE') && steps.includes('done DONE'),
    steps.join(', '),
  );
  assert.ok(
    result.events.some((event) => event.type === 'log' && event.step === 'wait' && event.stream === 'stdout'),
    'the plugin line names its step and stream',
  );
  // What was streamed is what the task's log stores.
  assert.deepEqual(
    result.events.map((event) => [event.seq, event.type, event.state, event.line]),
    (await taskEvents(server.db.store, task.id)).map((event) => [
      event.seq,
      event.type,
      event.state,
      event.line,
    ]),
  );

  // A late subscriber: the DONE document, the full replay, then a normal close.
  const late = await followTask(task.id);
  assert.equal(late.snapshot?.state, 'DONE');
  assert.equal(late.snapshot?.steps.done?.state, 'DONE');
  assert.deepEqual(late.events, result.events);
  assert.equal(late.code, 1000);

  // Resuming after any seq gives exactly the rest; at the end, the snapshot and a close.
  const middle = Math.floor(last.seq / 2);
  const rest = await followTask(task.id, { since: middle });
  assert.deepEqual(seqs(rest.events), range(middle + 1, last.seq));
  const atEnd = await followTask(task.id, { since: last.seq });
  assert.deepEqual(atEnd.events, []);
  assert.equal(atEnd.code, 1000);
});

test('?since= resumes a task stream cut mid-run with no gap and no duplicate', async () => {
  const gate = gatePath();
  const task = await createGated(gate);
  const resolving = runOnce(server.db.store, task.resolution?.id as string);
  // The first subscriber leaves as soon as the plugin's line arrives (the step still waits).
  const first = await followTask(task.id, {
    onEvent: (event, socket) => {
      if (event.type === 'log' && event.line === `waiting for ${gate}`) socket.close();
    },
  });
  assert.notEqual(first.code, 1000 + 1, 'closed by the client');
  const lastSeen = (first.events.at(-1) as StreamEvent).seq;
  const second = followTask(task.id, {
    since: lastSeen,
    onEvent: () => {
      if (!fs.existsSync(gate)) fs.writeFileSync(gate, '');
    },
  });
  // Nothing new may come before the gate opens: open it once the resumed stream is up.
  setTimeout(() => {
    if (!fs.existsSync(gate)) fs.writeFileSync(gate, '');
  }, 300);
  const resumed = await second;
  assert.equal(((await resolving) as { state: string }).state, 'DONE');
  assert.equal(resumed.code, 1000);
  const all = [...first.events, ...resumed.events];
  assert.deepEqual(seqs(all), range(1, (all.at(-1) as StreamEvent).seq));
  assert.equal(all.at(-1)?.state, 'DONE');
});

test('a cancelled task: the stream replays to CANCELLED and closes 1000', async () => {
  const task = await createGated(gatePath());
  const cancelled = await server.request('POST', `/resolution/${task.resolution?.id}/cancel`);
  assert.equal(cancelled.status, 204);
  const result = await followTask(task.id);
  assert.equal(result.snapshot?.state, 'CANCELLED');
  assert.deepEqual(
    result.events.map((event) => [event.seq, event.type, event.state]),
    [
      [1, 'task', 'TODO'],
      [2, 'task', 'CANCELLED'],
    ],
  );
  assert.equal(result.code, 1000);
});

test('a subscriber of a TODO task waits, and gets the CANCELLED event live, then a normal close', async () => {
  const task = await createGated(gatePath());
  const result = await followTask(task.id, {
    onEvent: (event) => {
      if (event.seq === 1) void server.request('POST', `/resolution/${task.resolution?.id}/cancel`);
    },
  });
  assert.deepEqual(
    result.events.map((event) => event.state),
    ['TODO', 'CANCELLED'],
  );
  assert.equal(result.code, 1000);
});

test('an unknown task is 404 and a since past the last event 400, before any upgrade', async () => {
  const unknown = await server.request('GET', `/task/${randomUUID()}/stream`);
  assert.equal(unknown.status, 404);
  await assert.rejects(followTask(randomUUID()), /HTTP 404/);
  const task = await createGated(gatePath());
  await assert.rejects(followTask(task.id, { since: 5 }), /HTTP 400/);
  const bad = await server.request<{ error: string; code: string }>('GET', `/task/${task.id}/stream?since=5`);
  assert.equal(bad.status, 400);
  assert.equal(bad.body.code, 'TH_REQUEST_INVALID');
  assert.match(bad.body.error, /since 5 is past the task's last event \(1\)/);
  await assert.rejects(followTask('nope'), /HTTP 400/);
});
