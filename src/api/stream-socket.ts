import type { FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { TaskhostError } from '../errors.ts';
import type { StreamEvent } from '../store/queries/events.ts';
import type { Subscription } from '../stream/hub.ts';
import type { ServerDeps } from './services.ts';

/**
 * What the run stream and the task stream share: a `snapshot`, then every stored event after
 * `since` in order, live, and a normal close after the final one. A subscriber that does not
 * keep up is closed with 4008 rather than buffered without bound, so it never slows the
 * producer. Only the snapshot and what counts as final differ between streams.
 */

export const CLOSE_NORMAL = 1000;
/** The subscriber fell too far behind: reconnect with `?since=` the last seq received. */
export const CLOSE_SLOW_CONSUMER = 4008;
export const CLOSE_SERVER_ERROR = 1011;

/** One stream's specifics: its id, its snapshot, and which event ends it. */
export interface StreamSource {
  /** The event log's stream id (a run id or a task id). */
  streamId: string;
  /**
   * Reads the document now: the snapshot message to send first, whether the document is
   * final, and the seq of its last stored event.
   */
  snapshot(): Promise<{ message: Record<string, unknown>; final: boolean; lastSeq: number }>;
  /** Whether an event ends the stream; `lastSeq` is the last stored seq when the snapshot was read. */
  isFinal(event: StreamEvent, lastSeq: number): boolean;
  /** The close reason after the final event (`run finished`). */
  endReason: string;
}

/** The `?since=` every stream route takes. */
export const sinceQuery = {
  type: 'object',
  properties: { since: { type: 'integer', minimum: 0, default: 0 } },
} as const;

type Snapshot = Awaited<ReturnType<StreamSource['snapshot']>>;

/** The snapshot read by the check, sent by serveStream: a large task's document is read once. */
const checkedSnapshots = new WeakMap<FastifyRequest, Snapshot>();

/**
 * Checks a stream request before the upgrade, so an unknown document is a plain 404 (thrown by
 * `snapshot`) and a `since` past the last event a 400, not a socket that closes or one that
 * would wait for events already sent. The snapshot it read is the one the socket gets first
 * (whatever is stored after it comes as events: the subscription starts at `since`).
 */
export async function checkStreamRequest(
  request: FastifyRequest,
  source: StreamSource,
  since: number,
  noun: string,
): Promise<void> {
  const snapshot = await source.snapshot();
  checkedSnapshots.set(request, snapshot);
  const { final, lastSeq } = snapshot;
  if (final) return; // the snapshot, then (the replay and) a normal close
  if (since > lastSeq) {
    throw new TaskhostError(
      'TH_REQUEST_INVALID',
      `querystring/since ${since} is past the ${noun}'s last event (${lastSeq})`,
    );
  }
}

// One event goes to every subscriber of its stream: serialise it once, not once per socket.
const serialised = new WeakMap<StreamEvent, string>();
function serialise(event: StreamEvent): string {
  let text = serialised.get(event);
  if (text === undefined) {
    text = JSON.stringify(event);
    serialised.set(event, text);
  }
  return text;
}

/** Serves one subscriber on an upgraded socket until the stream ends or either side closes. */
export async function serveStream(
  socket: WebSocket,
  request: FastifyRequest,
  deps: ServerDeps,
  source: StreamSource,
  since: number,
): Promise<void> {
  const { hub, config } = deps;
  let subscription: Subscription | null = null;
  let closed = false;
  let alive = true;

  const close = (code: number, reason: string): void => {
    if (closed) return;
    closed = true;
    subscription?.close();
    socket.close(code, reason);
    // A peer that never reads never answers the close either; one that reads slowly
    // gets time to receive what is queued before the close frame.
    setTimeout(() => socket.terminate(), code === CLOSE_SLOW_CONSUMER ? 1000 : 30_000).unref();
  };
  socket.on('close', () => {
    closed = true;
    subscription?.close();
    clearInterval(pinger);
  });
  socket.on('error', () => socket.terminate());
  socket.on('pong', () => (alive = true));
  const pinger = setInterval(() => {
    if (!alive) {
      socket.terminate();
      return;
    }
    alive = false;
    socket.ping();
  }, config.wsPingIntervalMs);
  pinger.unref();

  try {
    const { message, final, lastSeq } = checkedSnapshots.get(request) ?? (await source.snapshot());
    checkedSnapshots.delete(request);
    socket.send(JSON.stringify(message));
    if (final && since >= lastSeq) {
      close(CLOSE_NORMAL, source.endReason);
      return;
    }
    subscription = await hub.subscribe(source.streamId, since, {
      // A final document ends with its last stored event, whatever that event says.
      isFinal: (event) => (final && event.seq >= lastSeq) || source.isFinal(event, lastSeq),
      onEvent: (event) => {
        if (closed) return;
        if (socket.bufferedAmount > config.wsMaxBufferedBytes) {
          close(CLOSE_SLOW_CONSUMER, `too slow: resume with ?since=${event.seq - 1}`);
          return;
        }
        socket.send(serialise(event));
      },
      onEnd: () => close(CLOSE_NORMAL, source.endReason),
      onError: (error) => {
        request.log.error({ err: error }, 'stream failed');
        close(CLOSE_SERVER_ERROR, 'stream failed: resume with ?since');
      },
    });
    if (closed) subscription.close();
  } catch (error) {
    request.log.error({ err: error }, 'stream failed');
    close(CLOSE_SERVER_ERROR, 'stream failed');
  }
}
