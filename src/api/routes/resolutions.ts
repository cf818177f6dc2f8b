import type { FastifyInstance } from 'fastify';
import { cancelTask, requestRun } from '../../engine/engine.ts';
import { TaskhostError } from '../../errors.ts';
import { getResolution } from '../../store/queries/tasks.ts';
import type { ServerDeps } from '../services.ts';

const resolutionIdParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', format: 'uuid' } },
} as const;

const errorSchema = {
  type: 'object',
  properties: { error: { type: 'string' }, code: { type: 'string' } },
} as const;

/**
 * µTask's resolution routes. `POST /resolution/:id/cancel` ends the resolution and its task
 * CANCELLED (µTask refuses a DONE, cancelled or running one: 409 here). `POST
 * /resolution/:id/run` makes it due now: a server instance's scheduler runs it.
 */
export function resolutionRoutes(app: FastifyInstance, deps: ServerDeps): void {
  app.post(
    '/resolution/:id/run',
    {
      schema: {
        summary:
          'Run a resolution now (on whichever instance claims it); refused once done or cancelled, or while it runs',
        tags: ['resolutions'],
        params: resolutionIdParams,
        response: { 204: { type: 'null' }, 404: errorSchema, 409: errorSchema },
      },
    },
    async (request, reply) => {
      const { id } = request.params as { id: string };
      await requestRun(deps.store, id);
      return reply.status(204).send();
    },
  );
  app.post(
    '/resolution/:id/cancel',
    {
      schema: {
        summary: 'Cancel a resolution and its task (refused while it runs, or once it is done or cancelled)',
        tags: ['resolutions'],
        params: resolutionIdParams,
        response: { 204: { type: 'null' }, 404: errorSchema, 409: errorSchema },
      },
    },
    async (request, reply) => {
      const { id } = request.params as { id: string };
      const resolution = await getResolution(deps.store, id);
      if (!resolution) throw new TaskhostError('TH_TASK_NOT_FOUND', `no resolution ${id}`);
      await cancelTask(deps.store, resolution.task_id);
      return reply.status(204).send();
    },
  );
}
