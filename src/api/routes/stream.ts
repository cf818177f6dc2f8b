import type { FastifyInstance } from 'fastify';
import type { WebSocket } from 'ws';
import { isFinalRunState } from '../../protocol/states.ts';
import type { StreamEvent } from '../../store/queries/events.ts';
import { callerOf } from '../identity.ts';
import type { ServerDeps } from '../services.ts';
import { runWithRight } from '../task-access.ts';
import { TemplateCatalog } from '../template-catalog.ts';
import { checkStreamRequest, serveStream, sinceQuery, type StreamSource } from '../stream-socket.ts';
import { loadRunDocument, runIdParams } from './runs.ts';

export { CLOSE_NORMAL, CLOSE_SERVER_ERROR, CLOSE_SLOW_CONSUMER } from '../stream-socket.ts';

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

function runSource(deps: ServerDeps, id: string): StreamSource {
  return {
    streamId: id,
    async snapshot() {
      const document = await loadRunDocument(deps, id);
      const final = isFinalRunState(document.state);
      // The run row's last_seq moves at its start and end only; while it runs, the log is
      // ahead of it.
      const lastSeq = final ? document.last_seq : await lastStoredSeq(deps, id);
      return { message: { type: 'snapshot', run: document }, final, lastSeq };
    },
    isFinal: isRunFinalEvent,
    endReason: 'run finished',
  };
}

/**
 * `GET /run/:id/stream` (the right of `GET /run/:id`): a `snapshot` (the run document), then every event after `since`
 * in order, live, and a normal close after the final one (see stream-socket.ts).
 */
export function streamRoutes(app: FastifyInstance, deps: ServerDeps): void {
  const catalog = deps.templates ?? TemplateCatalog.empty();
  app.get(
    '/run/:id/stream',
    {
      websocket: true,
      schema: {
        summary: "Follow a run's events over WebSocket (snapshot, then ordered events; ?since=SEQ resumes)",
        tags: ['runs'],
        params: runIdParams,
        querystring: sinceQuery,
      },
      preHandler: async (request) => {
        const { id } = request.params as { id: string };
        const { since } = request.query as { since: number };
        // The right of GET /run/:id, checked before the upgrade (a refusal is a plain 403).
        await runWithRight(deps.store, catalog, callerOf(request), id);
        await checkStreamRequest(request, runSource(deps, id), since, 'run');
      },
    },
    async (socket: WebSocket, request) => {
      const { id } = request.params as { id: string };
      const { since } = request.query as { since: number };
      await serveStream(socket, request, deps, runSource(deps, id), since);
    },
  );
}
