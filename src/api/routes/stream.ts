import type { FastifyInstance } from 'fastify';
import type { WebSocket } from 'ws';
import { TaskhostError } from '../../errors.ts';
import { isFinalRunState } from '../../protocol/states.ts';
import type { StreamEvent } from '../../store/queries/events.ts';
import type { Subscription } from '../../stream/hub.ts';
import type { ServerDeps } from '../services.ts';
import { loadRunDocument, runIdParams } from './runs.ts';

export const CLOSE_NORMAL = 1000;
/** The subscriber fell too far behind: reconnect with `?since=` the last seq received. */
export const CLOSE_SLOW_CONSUMER = 4008;
export const CLOSE_SERVER_ERROR = 1011;

// One event goes to every subscriber of its run: serialise it once, not once per socket.
const serialised = new WeakMap<StreamEvent, string>();
function serialise(event: StreamEvent): string {
  let text = serialised.get(event);
  if (text === undefined) {
    text = JSON.stringify(event);
    serialised.set(event, text);
  }
  return text;
}

/** The newest stored event seq (events are published only once stored). */
async function lastStoredSeq(deps: ServerDeps, id: string): Promise<number> {
  const { rows } = await deps.store.query<{ last: string }>(
    'SELECT coalesce(max(seq), 0) AS last FROM event WHERE stream_id = $1',
    [id],
  );
  return Number(rows[0]?.last ?? 0);
}

export function isRunFinalEvent(event: StreamEvent): boolean {
  return event.type === 'run' && event.state !== null && isFinalRunState(event.state);
}

/**
 * `GET /run/:id/stream`: a `snapshot` (the run document), then every event after `since`
 * in order, live, and a normal close after the final one. A subscriber that does not keep
 * up is closed with 4008 rather than buffered without bound, so it never slows the run.
 */
export function streamRoutes(app: FastifyInstance, deps: ServerDeps): void {
  const { hub, config } = deps;
  app.get(
    '/run/:id/stream',
    {
      websocket: true,
      schema: {
        summary: "Follow a run's events over WebSocket (snapshot, then ordered events; ?since=SEQ resumes)",
        tags: ['runs'],
        params: runIdParams,
        querystring: { type: 'object', properties: { since: { type: 'integer', minimum: 0, default: 0 } } },
      },
      // Before the upgrade: an unknown run is a plain 404 and a `since` past the last event
      // a 400, not a socket that closes (or one that would wait for events already sent).
      preHandler: async (request) => {
        const { id } = request.params as { id: string };
        const document = await loadRunDocument(deps, id);
        const { since } = request.query as { since: number };
        if (isFinalRunState(document.state)) return; // the snapshot, then a normal close
        const last = await lastStoredSeq(deps, id);
        if (since > last) {
          throw new TaskhostError(
            'TH_REQUEST_INVALID',
            `querystring/since ${since} is past the run's last event (${last})`,
          );
        }
      },
    },
    async (socket: WebSocket, request) => {
      const { id } = request.params as { id: string };
      const { since } = request.query as { since: number };
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
        const document = await loadRunDocument(deps, id);
        socket.send(JSON.stringify({ type: 'snapshot', run: document }));
        if (isFinalRunState(document.state) && since >= document.last_seq) {
          close(CLOSE_NORMAL, 'run finished');
          return;
        }
        subscription = await hub.subscribe(id, since, {
          isFinal: isRunFinalEvent,
          onEvent: (event) => {
            if (closed) return;
            if (socket.bufferedAmount > config.wsMaxBufferedBytes) {
              close(CLOSE_SLOW_CONSUMER, `too slow: resume with ?since=${event.seq - 1}`);
              return;
            }
            socket.send(serialise(event));
          },
          onEnd: () => close(CLOSE_NORMAL, 'run finished'),
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
    },
  );
}
