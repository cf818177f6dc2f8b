import type { FastifyInstance } from 'fastify';
import type { WebSocket } from 'ws';
import { TaskState } from '../../engine/states.ts';
import { TaskhostError } from '../../errors.ts';
import type { StreamEvent } from '../../store/queries/events.ts';
import { taskLastSeq } from '../../store/queries/task-list.ts';
import { callerOf } from '../identity.ts';
import type { ServerDeps } from '../services.ts';
import { taskWithRight } from '../task-access.ts';
import { TemplateCatalog } from '../template-catalog.ts';
import { checkStreamRequest, serveStream, sinceQuery, type StreamSource } from '../stream-socket.ts';
import { loadTaskDocument, taskIdParams } from './tasks.ts';

/** Task states after which a task's stream ends (BLOCKED waits for a human: a new stream then). */
const FINAL_TASK_STATES: ReadonlySet<string> = new Set([
  TaskState.DONE,
  TaskState.CANCELLED,
  TaskState.WONTFIX,
  TaskState.BLOCKED,
]);

export function isFinalTaskState(state: string): boolean {
  return FINAL_TASK_STATES.has(state);
}

/**
 * A task event ends the stream when it is in a final state and nothing was stored after it
 * when the subscriber came: a task BLOCKED, then resumed by a human, has a BLOCKED event in
 * the middle of its log, which a replay passes.
 */
export function isTaskFinalEvent(event: StreamEvent, lastSeq: number): boolean {
  return (
    event.type === 'task' && event.state !== null && isFinalTaskState(event.state) && event.seq >= lastSeq
  );
}

function taskSource(deps: ServerDeps, id: string): StreamSource {
  return {
    streamId: id,
    async snapshot() {
      const document = await loadTaskDocument(deps.store, id);
      // Read after the document: every event up to the state it shows is at or before it.
      const lastSeq = await taskLastSeq(deps.store, id);
      if (lastSeq === null) throw new TaskhostError('TH_TASK_NOT_FOUND', `no task ${id}`);
      return {
        message: { type: 'snapshot', task: document },
        final: isFinalTaskState(document.state),
        lastSeq,
      };
    },
    isFinal: isTaskFinalEvent,
    endReason: 'task finished',
  };
}

/**
 * `GET /task/:id/stream` (the right of `GET /task/:id`): a `snapshot` (the SPEC 7 task document), then the task's events
 * (its steps, its steps' runs' lines, its own states) in their one per-task seq order, live
 * from whichever instance runs them, and a normal close after the final task event. Resume
 * with `?since=`; a subscriber that falls behind is closed 4008 (see stream-socket.ts).
 */
export function taskStreamRoutes(app: FastifyInstance, deps: ServerDeps): void {
  const catalog = deps.templates ?? TemplateCatalog.empty();
  app.get(
    '/task/:id/stream',
    {
      websocket: true,
      schema: {
        summary: "Follow a task's events over WebSocket (snapshot, then ordered events; ?since=SEQ resumes)",
        tags: ['tasks'],
        params: taskIdParams,
        querystring: sinceQuery,
      },
      preHandler: async (request) => {
        const { id } = request.params as { id: string };
        const { since } = request.query as { since: number };
        // The right of GET /task/:id, checked before the upgrade (a refusal is a plain 403).
        await taskWithRight(deps.store, catalog, callerOf(request), id, 'see', `can't display task ${id}`);
        await checkStreamRequest(request, taskSource(deps, id), since, 'task');
      },
    },
    async (socket: WebSocket, request) => {
      const { id } = request.params as { id: string };
      const { since } = request.query as { since: number };
      await serveStream(socket, request, deps, taskSource(deps, id), since);
    },
  );
}
