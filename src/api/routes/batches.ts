import type { FastifyInstance } from 'fastify';
import { createBatch } from '../../engine/batches.ts';
import { callerOf } from '../identity.ts';
import type { ServerDeps } from '../services.ts';
import { TemplateCatalog } from '../template-catalog.ts';
import { errorResponses } from '../error-schema.ts';
import { checkComment, checkTags, commentText, names, tagsSchema } from '../task-fields.ts';

interface CreateBatchBody {
  template_name: string;
  inputs: Record<string, unknown>[];
  common_input?: Record<string, unknown>;
  comment?: string;
  watcher_usernames?: string[];
  watcher_groups?: string[];
  tags?: Record<string, string>;
}

/**
 * µTask's `POST /batch`: a task per input, all of one template, in one batch whose id
 * `GET /task?batch=` filters on. All or nothing: one refused input (named `inputs[i]`)
 * creates no task.
 */
export function batchRoutes(app: FastifyInstance, deps: ServerDeps): void {
  const catalog = deps.templates ?? TemplateCatalog.empty();

  app.post(
    '/batch',
    {
      schema: {
        summary: 'Create a batch of tasks from one template, one per input',
        tags: ['tasks'],
        body: {
          type: 'object',
          required: ['template_name', 'inputs'],
          additionalProperties: false,
          properties: {
            template_name: { type: 'string', minLength: 1 },
            inputs: { type: 'array', minItems: 1, items: { type: 'object', additionalProperties: true } },
            common_input: {
              type: 'object',
              additionalProperties: true,
              description: 'merged into every input (a key in both is refused)',
            },
            comment: { ...commentText, description: "each task's first comment" },
            watcher_usernames: names,
            watcher_groups: names,
            tags: tagsSchema,
          },
        },
        response: {
          201: { type: 'object', properties: { id: { type: 'string' } } },
          ...errorResponses(400, 404, 413),
        },
      },
    },
    async (request, reply) => {
      const body = request.body as CreateBatchBody;
      const caller = callerOf(request);
      const snapshot = catalog.snapshot(body.template_name);
      checkTags('body/tags', body.tags);
      const { batchId } = await createBatch(deps.store, {
        snapshot,
        inputs: body.inputs,
        commonInput: body.common_input,
        requester: caller.username,
        requesterGroups: caller.groups,
        comment: checkComment('body/comment', body.comment),
        watcherUsernames: body.watcher_usernames,
        watcherGroups: body.watcher_groups,
        tags: body.tags,
      });
      return reply.status(201).send({ id: batchId });
    },
  );
}
