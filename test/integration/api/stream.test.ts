import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import WebSocket from 'ws';
import type { RunDocument } from '../../../src/runs/document.ts';
import type { StreamEvent } from '../../../src/store/queries/events.ts';
import {
  followRun,
  range,
  seqs,
  startTestServer,
  waitForRun,
  type Envelope,
  type FollowResult,
  type TestServer,
} from '../../helpers/api-server.ts';
import { eventually, tempDir } from '../../helpers/plugin-fixtures.ts';
import { connectNeverReading } from '../../helpers/raw-websocket.ts';

/**
 * SPEC section 8, `GET /run/:id/stream`, over real WebSockets: a snapshot, then ordered
 * events with seq 1, 2, 3, …, live while the plugin runs, a full replay for a late subscriber,
 * `?since=` resumes without gap or duplicate, many subscribers at once, and a subscriber that
 * never reads is closed (4008) instead of slowing the run.
 */

const server: TestServer = await startTestServer({ wsPingIntervalMs: 60_000 });
/** A small send buffer per subscriber and a cap large enough that every line is delivered. */
const SLOW_BUFFER_BYTES = 64 * 1024;
const slowServer: TestServer = await startTestServer({
  wsMaxBufferedBytes: SLOW_BUFFER_BYTES,
  outputCapBytes: 64 * 1024 * 1024,
  wsPingIntervalMs: 60_000,
});

await server.register('ticker', 'ticker.sh');
await server.register('waiter', 'wait-for-file.sh');
await server.register('big-output', 'big-output.sh');
await slowServer.register('big-output', 'big-output.sh');

interface TickerData {
  count: number;
  interval_ms?: number;
  gate?: string;
  after?: number;
}

async function startAsync(target: TestServer, plugin: string, data: unknown): Promise<string> {
  const { status, body, text } = await target.request<{ run_id: string }>(
    'POST',
    `/plugin/${plugin}/run?async=true`,
    { data },
  );
  assert.equal(status, 202, text);
  return body.run_id;
}

function logLines(events: readonly StreamEvent[]): string[] {
  return events.filter((event) => event.type === 'log').map((event) => event.line as string);
}

/** The shape every streamed event has, whatever its type. */
function assertEventShape(event: StreamEvent): void {
  for (const key of ['seq', 'type', 'step', 'stream', 'line', 'state', 'ts']) {
    assert.ok(key in event, `event ${event.seq} has ${key}: ${JSON.stringify(event)}`);
  }
  assert.ok(['log', 'run'].includes(event.type), event.type);
  assert.ok(!Number.isNaN(Date.parse(event.ts)), event.ts);
  if (event.type === 'log') {
    assert.ok(['stdout', 'stderr', 'taskhost'].includes(event.stream as string), String(event.stream));
    assert.equal(typeof event.line, 'string');
  } else {
    assert.equal(typeof event.state, 'string');
  }
}

/** A whole stream: snapshot first, seq 1..N with no gap, the final run event last, close 1000. */
function assertCompleteStream(result: FollowResult, runId: string, finalState = 'DONE'): StreamEvent {
  assert.equal(result.messages[0]?.type, 'snapshot', 'the snapshot comes first');
  assert.equal(result.snapshot?.id, runId);
  assert.equal(result.messages.filter((message) => message.type === 'snapshot').length, 1);
  const last = result.events.at(-1);
  assert.ok(last, 'at least one event');
  assert.deepEqual(seqs(result.events), range(1, last.seq), 'seq 1, 2, 3, … with no gap and no duplicate');
  result.events.forEach(assertEventShape);
  assert.equal(result.events[0]?.type, 'run');
  assert.equal(result.events[0]?.state, 'RUNNING');
  assert.equal(last.type, 'run');
  assert.equal(last.state, finalState);
  assert.equal(
    result.events.filter((event) => event.type === 'run' && event.state !== 'RUNNING').length,
    1,
    'one final run event, and nothing after it',
  );
  assert.equal(result.code, 1000, `closed normally (${result.code} ${result.reason})`);
  return last;
}

test('a stream sends the snapshot, then events seq 1, 2, 3, … in order, and closes 1000 after the final one', async () => {
  const runId = await startAsync(server, 'ticker', { count: 20, interval_ms: 5 } satisfies TickerData);
  const result = await followRun(server, runId);
  const last = assertCompleteStream(result, runId);

  assert.deepEqual(
    result.events.filter((event) => event.stream === 'stdout').map((event) => event.line),
    [...range(1, 20).map((n) => `tick ${n}`), '{"status":1,"reason":"ok","payload":{"lines":20}}'],
  );
  assert.deepEqual(
    result.events.filter((event) => event.stream === 'stderr').map((event) => event.line),
    ['ticker: done'],
  );
  const data = last.data as { result: Record<string, unknown>; error: unknown; exit_code: number };
  assert.deepEqual(data.result, { status: 1, reason: 'ok', payload: { lines: 20 } });
  assert.equal(data.error, null);
  assert.equal(data.exit_code, 0);
  // Timestamps follow the order.
  const times = result.events.map((event) => Date.parse(event.ts));
  assert.deepEqual(
    times,
    [...times].sort((a, b) => a - b),
  );

  // The stored run agrees with its stream. (Polled: the final event goes out before the row
  // is updated; see the report on execute.ts.)
  const run = await waitForRun(server, runId);
  assert.equal(run.state, 'DONE');
  assert.equal(run.last_seq, last.seq);
  assert.deepEqual(run.result, data.result);
});

test('a log line reaches the subscriber while the plugin still runs', async (t) => {
  // The plugin prints a line, then waits (at most 5 s) for a file that this test creates only
  // once that line has arrived: it can only end DONE if the line was delivered live.
  const gate = path.join(tempDir(t), 'gate');
  const runId = await startAsync(server, 'waiter', { path: gate });
  let stateAtLine: Promise<string> | null = null;
  const result = await followRun(server, runId, {
    onMessage: (message) => {
      if (message.type === 'log' && message.line === `waiting for ${gate}`) {
        assert.equal(fs.existsSync(gate), false);
        stateAtLine = server.request<RunDocument>('GET', `/run/${runId}`).then(({ body }) => body.state);
        fs.writeFileSync(gate, '');
      }
    },
  });
  assert.ok(stateAtLine, 'the line arrived');
  assert.equal(await stateAtLine, 'RUNNING', 'the run was still running when the line arrived');
  const last = assertCompleteStream(result, runId);
  assert.deepEqual((last.data as { result: Envelope }).result.payload, { saw: 'the file' });
  assert.ok(!logLines(result.events).some((line) => line.includes('gave up')));
});

test('a late subscriber gets the full replay: every line, the final run event with its result, close 1000', async () => {
  // Followed live from the start, then replayed after the end: the same events, field for field.
  const runId = await startAsync(server, 'ticker', { count: 50, interval_ms: 2 } satisfies TickerData);
  const live = await followRun(server, runId);
  assertCompleteStream(live, runId);
  await waitForRun(server, runId);

  const late = await followRun(server, runId);
  const last = assertCompleteStream(late, runId);
  assert.equal(late.snapshot?.state, 'DONE');
  assert.equal(late.snapshot?.last_seq, last.seq);
  assert.deepEqual(late.events, live.events);
  assert.deepEqual(
    logLines(late.events).filter((line) => line.startsWith('tick ')),
    range(1, 50).map((n) => `tick ${n}`),
  );
  assert.deepEqual((last.data as { result: unknown }).result, {
    status: 1,
    reason: 'ok',
    payload: { lines: 50 },
  });

  // A run finished by a sync request, never followed live, replays the same way.
  const sync = await server.request<Envelope>('POST', '/plugin/ticker/run', { data: { count: 5 } });
  assert.equal(sync.body.status, 1);
  const replay = await followRun(server, sync.body.run_id);
  assertCompleteStream(replay, sync.body.run_id);
  assert.deepEqual(
    logLines(replay.events).filter((line) => line.startsWith('tick ')),
    range(1, 5).map((n) => `tick ${n}`),
  );
});

test('a late subscriber replays a run that filled the default output cap in full, then close 1000', async () => {
  // 2 MiB of 200-byte lines against the default 1 MiB cap: about 5,000 stored lines, more
  // than the default send buffer holds at once. A reader that keeps up must get them all.
  const sync = await server.request<Envelope>('POST', '/plugin/big-output/run', {
    data: { bytes: 2 * 1024 * 1024, line_bytes: 200 },
  });
  assert.equal(sync.body.state, 'DONE', sync.body.error ?? '');
  const run = await waitForRun(server, sync.body.run_id);
  assert.ok(run.output_dropped.lines > 0, 'the cap was reached');
  const replay = await followRun(server, run.id);
  assert.equal(
    replay.code,
    1000,
    `closed ${replay.code} ${replay.reason} after ${replay.events.length} of ${run.last_seq} events`,
  );
  const last = assertCompleteStream(replay, run.id);
  assert.equal(last.seq, run.last_seq);
});

test('?since=N resumes with exactly the events after N: no gap, no duplicate', async (t) => {
  // Live: a subscriber leaves after "tick 10", another resumes from the last seq it had
  // while the run still runs (it waits for a gate that opens only then).
  const gate = path.join(tempDir(t), 'gate');
  const runId = await startAsync(server, 'ticker', {
    count: 30,
    interval_ms: 5,
    gate,
    after: 30,
  } satisfies TickerData);
  const first = await followRun(server, runId, {
    onMessage: (message, socket) => {
      if (message.type === 'log' && message.line === 'tick 10') socket.close();
    },
  });
  assert.notEqual(first.code, 1000, 'the client left before the end');
  const resumeFrom = first.events.at(-1)?.seq;
  assert.ok(resumeFrom !== undefined && resumeFrom >= 11, `resume from ${resumeFrom}`);
  const second = await followRun(server, runId, {
    since: resumeFrom,
    onMessage: (message) => {
      if (message.type === 'snapshot') {
        assert.equal(message.run.state, 'RUNNING', 'resumed while the run runs');
        fs.writeFileSync(gate, '');
      }
    },
  });
  assert.equal(second.code, 1000);
  assert.equal(second.events[0]?.seq, resumeFrom + 1);

  const full = await followRun(server, runId);
  const last = assertCompleteStream(full, runId);
  assert.deepEqual(seqs([...first.events, ...second.events]), range(1, last.seq));
  assert.deepEqual([...first.events, ...second.events], full.events);
  assert.ok(logLines(full.events).includes('after 30'));

  // After the end: every N gives exactly full.events after N.
  for (const since of [0, 1, 2, Math.floor(last.seq / 2), last.seq - 1]) {
    const resumed = await followRun(server, runId, { since });
    assert.equal(resumed.messages[0]?.type, 'snapshot');
    assert.equal(resumed.code, 1000);
    assert.deepEqual(seqs(resumed.events), range(since + 1, last.seq), `since=${since}`);
    assert.deepEqual(resumed.events, full.events.slice(since), `since=${since}`);
  }
});

test('100 concurrent subscribers to one running run each receive every event exactly once, in order', async (t) => {
  const gate = path.join(tempDir(t), 'gate');
  const runId = await startAsync(server, 'ticker', {
    count: 40,
    interval_ms: 5,
    gate,
    after: 40,
  } satisfies TickerData);
  const subscribers = 100;
  let snapshots = 0;
  let snapshotsWhileRunning = 0;
  let allSubscribed!: () => void;
  const subscribed = new Promise<void>((resolve) => (allSubscribed = resolve));
  const results = Array.from({ length: subscribers }, () =>
    followRun(server, runId, {
      timeoutMs: 30_000,
      onMessage: (message) => {
        if (message.type !== 'snapshot') return;
        snapshots += 1;
        if (message.run.state === 'RUNNING' || message.run.state === 'TODO') snapshotsWhileRunning += 1;
        if (snapshots === subscribers) allSubscribed();
      },
    }),
  );
  await subscribed;
  // Every subscriber is in before the second half of the output is written.
  fs.writeFileSync(gate, '');
  const all = await Promise.all(results);
  assert.equal(snapshotsWhileRunning, subscribers, 'every subscriber joined a running run');

  const full = await followRun(server, runId);
  const last = assertCompleteStream(full, runId);
  assert.equal(logLines(full.events).filter((line) => /^(tick|after) \d+$/.test(line)).length, 80);
  all.forEach((result, index) => {
    assert.equal(result.code, 1000, `subscriber ${index}: ${result.code} ${result.reason}`);
    assert.equal(result.messages[0]?.type, 'snapshot', `subscriber ${index}`);
    assert.deepEqual(seqs(result.events), range(1, last.seq), `subscriber ${index}`);
    assert.deepEqual(result.events, full.events, `subscriber ${index}`);
  });
});

test('a WebSocket to an unknown run gets HTTP 404 (no upgrade); a malformed id gets 400', async () => {
  await assert.rejects(followRun(server, randomUUID()), /upgrade refused: HTTP 404/);
  await assert.rejects(followRun(server, 'not-a-run-id'), /upgrade refused: HTTP 400/);
  const plain = await server.request('GET', `/run/${randomUUID()}/stream`);
  assert.equal(plain.status, 404);
});

test('?since= at or beyond the end of a finished run: the snapshot, then close 1000', async () => {
  const sync = await server.request<Envelope>('POST', '/plugin/ticker/run', { data: { count: 3 } });
  assert.equal(sync.body.status, 1);
  const { body: run } = await server.request<RunDocument>('GET', `/run/${sync.body.run_id}`);
  assert.ok(run.last_seq > 0);
  for (const since of [run.last_seq, run.last_seq + 1, run.last_seq + 1000]) {
    const result = await followRun(server, run.id, { since });
    assert.equal(result.messages.length, 1, `since=${since}: ${JSON.stringify(result.messages.slice(1))}`);
    assert.equal(result.messages[0]?.type, 'snapshot');
    assert.equal(result.snapshot?.state, 'DONE');
    assert.equal(result.code, 1000, `since=${since}`);
  }
});

interface Frame {
  opcode: number;
  payload: Buffer;
}

/** Server frames (unmasked, unfragmented); a frame cut off at the end is left out. */
function parseFrames(bytes: Buffer): Frame[] {
  const frames: Frame[] = [];
  let at = 0;
  for (;;) {
    if (at + 2 > bytes.length) break;
    const opcode = (bytes[at] as number) & 0x0f;
    let length = (bytes[at + 1] as number) & 0x7f;
    let header = 2;
    if (length === 126) {
      if (at + 4 > bytes.length) break;
      length = bytes.readUInt16BE(at + 2);
      header = 4;
    } else if (length === 127) {
      if (at + 10 > bytes.length) break;
      length = Number(bytes.readBigUInt64BE(at + 2));
      header = 10;
    }
    if (at + header + length > bytes.length) break;
    frames.push({ opcode, payload: bytes.subarray(at + header, at + header + length) });
    at += header + length;
  }
  return frames;
}

/** Resumes reading a paused socket until the peer ends it; resolves with everything read. */
function readUntilEnd(socket: net.Socket, withinMs: number): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server did not close the connection within ${withinMs} ms`));
    }, withinMs);
    const done = (): void => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    };
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('end', done);
    socket.once('close', done);
    // A reset after the server gave up on us also ends the connection.
    socket.once('error', () => undefined);
    socket.resume();
  });
}

/**
 * A client that never reads (see connectNeverReading), and the server's side of its WebSocket,
 * caught by the server's 'connection' event for that run's stream.
 */
async function connectStalled(
  target: TestServer,
  runId: string,
): Promise<{ raw: { socket: net.Socket; early: Buffer }; serverSide: WebSocket }> {
  const accepted = new Promise<WebSocket>((resolve) => {
    const onConnection = (socket: WebSocket, request: IncomingMessage): void => {
      if (!request.url?.startsWith(`/run/${runId}/stream`)) return;
      target.app.websocketServer.off('connection', onConnection);
      resolve(socket);
    };
    target.app.websocketServer.on('connection', onConnection);
  });
  const raw = await connectNeverReading(target.port, `/run/${runId}/stream`);
  return { raw, serverSide: await accepted };
}

/**
 * Resolves once the server has decided to close `serverSide` (its state leaves OPEN). ws emits
 * no event for that decision, only 'close' once the connection is gone, and by then the close
 * frame of a peer that never reads may be lost (the server terminates it a second later): so
 * this polls the state, with a limit that is only a hang guard.
 */
async function serverGivesUp(serverSide: WebSocket): Promise<void> {
  assert.ok(await eventually(() => serverSide.readyState !== WebSocket.OPEN, 60_000), 'the server gave up');
}

/** The text frames (parsed) and the close frame a raw client received. */
function receivedFrames(bytes: Buffer): { events: StreamEvent[]; close: Frame | undefined } {
  const frames = parseFrames(bytes);
  const texts = frames
    .filter((frame) => frame.opcode === 0x1)
    .map((frame) => JSON.parse(frame.payload.toString('utf8')) as { type: string });
  assert.equal(texts[0]?.type, 'snapshot');
  return { events: texts.slice(1) as StreamEvent[], close: frames.find((frame) => frame.opcode === 0x8) };
}

/** Follows a run to its end as a real client would: after a 4008, it resumes from the last seq. */
async function followToEnd(
  target: TestServer,
  runId: string,
  since = 0,
): Promise<{ events: StreamEvent[]; resumes: number }> {
  const events: StreamEvent[] = [];
  let last = since;
  for (let resumes = 0; resumes < 100; resumes += 1) {
    const result = await followRun(target, runId, { since: last, timeoutMs: 20_000 });
    events.push(...result.events);
    last = result.events.at(-1)?.seq ?? last;
    if (result.code === 1000) return { events, resumes };
    assert.equal(result.code, 4008, `closed ${result.code} ${result.reason}`);
  }
  assert.fail('still not at the end after 100 resumes');
}

test('a subscriber that never reads is closed with 4008, and the run goes on to the end while it stays stalled', async () => {
  const data = { bytes: 24 * 1024 * 1024, line_bytes: 1024 };
  const lines = data.bytes / data.line_bytes;
  const runId = await startAsync(slowServer, 'big-output', data);
  // Two clients that stop reading after the upgrade: one reads again as soon as the server
  // gives up on it, to receive the close frame; the other reads nothing until the run is over.
  const watcher = await connectStalled(slowServer, runId);
  const staller = await connectStalled(slowServer, runId);

  await serverGivesUp(watcher.serverSide);
  const watched = receivedFrames(
    Buffer.concat([watcher.raw.early, await readUntilEnd(watcher.raw.socket, 60_000)]),
  );
  assert.ok(watched.close, 'a close frame');
  assert.equal(watched.close.payload.readUInt16BE(0), 4008, 'closed as a slow consumer');
  assert.deepEqual(seqs(watched.events), range(1, watched.events.length), 'what did arrive has no gap');

  // The run completes and stores every line, with the other client still not reading.
  const run = await waitForRun(slowServer, runId, 120_000);
  assert.equal(run.state, 'DONE', run.error ?? '');
  assert.deepEqual(run.output_dropped, { lines: 0, bytes: 0 }, 'every line was delivered and stored');
  assert.equal(run.last_seq, lines + 4, 'RUNNING, every line, the stderr line, the result line, the end');
  assert.notEqual(staller.serverSide.readyState, WebSocket.OPEN, 'the server closed the stalled connection');

  // Both got a prefix of the stream, never the end of it.
  const stalled = receivedFrames(
    Buffer.concat([staller.raw.early, await readUntilEnd(staller.raw.socket, 60_000)]),
  );
  for (const [who, events] of [
    ['watcher', watched.events],
    ['staller', stalled.events],
  ] as const) {
    assert.deepEqual(seqs(events), range(1, events.length), `${who}: what did arrive has no gap`);
    assert.ok(
      events.length < run.last_seq,
      `${who}: cut off, ${events.length} of ${run.last_seq} events arrived`,
    );
    assert.ok(
      !events.some((event) => event.type === 'run' && event.state === 'DONE'),
      `${who}: no final event`,
    );
  }
});

test('a subscriber that falls behind gets close 4008 naming the since= that resumes it with no gap', async () => {
  const data = { bytes: 8 * 1024 * 1024, line_bytes: 1024 };
  const runId = await startAsync(slowServer, 'big-output', data);
  const { raw, serverSide } = await connectStalled(slowServer, runId);
  // The server gives a closed peer a moment before it cuts the connection: read again as soon
  // as it has decided, and the close frame arrives behind everything sent before it.
  await serverGivesUp(serverSide);
  const { events, close } = receivedFrames(
    Buffer.concat([raw.early, await readUntilEnd(raw.socket, 60_000)]),
  );
  assert.ok(close, 'a close frame');
  assert.equal(close.payload.readUInt16BE(0), 4008);
  const reason = close.payload.subarray(2).toString('utf8');
  const since = Number(/since=(\d+)/.exec(reason)?.[1]);
  assert.ok(Number.isInteger(since), reason);
  assert.deepEqual(seqs(events), range(1, since), 'exactly the events up to the since= it names');

  const resumed = await followToEnd(slowServer, runId, since);
  const run = await waitForRun(slowServer, runId);
  assert.equal(run.state, 'DONE', run.error ?? '');
  assert.deepEqual(seqs([...events, ...resumed.events]), range(1, run.last_seq));
  assert.equal(resumed.events.at(-1)?.type, 'run');
  assert.equal(resumed.events.at(-1)?.state, 'DONE');
});
