import type { FastifyInstance } from 'fastify';
import { deleteTask, editTask, wontfixTask } from '../../engine/task-edits.ts';
import { callerOf } from '../identity.ts';
import type { ServerDeps } from '../services.ts';
import {
  isRequester,
  isResolutionManager,
  isTemplateOwner,
  requireRight,
  resolverOf,
  templateOf,
} from '../task-rights.ts';
import { TemplateCatalog } from '../template-catalog.ts';
import { errorResponses } from '../error-schema.ts';
import { names, tagsSchema } from '../task-fields.ts';
import { loadTaskDocument, taskDocumentSchema, taskIdParams } from './tasks.ts';

interface UpdateTaskBody {
  input: Record<string, unknown>;
  watcher_usernames?: string[];
  watcher_groups?: string[];
  tags?: Record<string, string>;
}

/**
 * µTask's task edits: `PUT /task/:id` (input, watchers and tags, before the task starts or
 * while it is paused), `POST /task/:id/wontfix` (a TODO task that will never be run) and
 * `DELETE /task/:id` (admins; not while it runs or is blocked). A refused state is 409.
 */
export function taskEditRoutes(app: FastifyInstance, deps: ServerDeps): void {
  const catalog = deps.templates ?? TemplateCatalog.empty();

  app.put(
    '/task/:id',
    {
      schema: {
        summary:
          'Update a task: input, watchers and tags, replaced as given (before it starts, or while it is paused)',
        tags: ['tasks'],
        params: taskIdParams,
        body: {
          type: 'object',
          required: ['input'],
          additionalProperties: false,
          properties: {
            input: { type: 'object', additionalProperties: true },
            watcher_usernames: names,
            watcher_groups: names,
            tags: {
              ...tagsSchema,
              description: 'reserved tags (_utask_parent_task_id, _taskhost_*) given back unchanged',
            },
          },
        },
        response: { 200: taskDocumentSchema, ...errorResponses(400, 403, 404, 409, 413) },
      },
    },
    async (request) => {
      const { id } = request.params as { id: string };
      const body = request.body as UpdateTaskBody;
      const caller = callerOf(request);
      await editTask(deps.store, id, {
        input: body.input,
        watcherUsernames: body.watcher_usernames ?? [],
        watcherGroups: body.watcher_groups ?? [],
        tags: body.tags ?? {},
        editor: caller.username,
        authorize: (task, resolution) =>
          // µTask: an admin, a template owner, or the requester of a task not started yet.
          requireRight(
            caller.admin ||
              isTemplateOwner(caller, templateOf(catalog, task)) ||
              (isRequester(caller, task) && resolution.run_count === 0),
            `can't update task ${id}`,
          ),
      });
      return loadTaskDocument(deps.store, id);
    },
  );

  app.post(
    '/task/:id/wontfix',
    {
      schema: {
        summary: 'Set a TODO task WONTFIX: it will never be run (its resolution is cancelled)',
        tags: ['tasks'],
        params: taskIdParams,
        response: { 204: { type: 'null' }, ...errorResponses(400, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const { id } = request.params as { id: string };
      const caller = callerOf(request);
      await wontfixTask(deps.store, id, {
        username: caller.username,
        authorize: (task, resolution) =>
          requireRight(
            caller.admin ||
              isRequester(caller, task) ||
              isResolutionManager(caller, task, templateOf(catalog, task), resolverOf(task, resolution)),
            `can't set task ${id} to WONTFIX`,
          ),
      });
      return reply.status(204).send();
    },
  );

  app.delete(
    '/task/:id',
    {
      schema: {
        summary:
          'Delete a task with its resolution, runs, comments and events (admins; not while RUNNING or BLOCKED)',
        tags: ['tasks'],
        params: taskIdParams,
        response: { 204: { type: 'null' }, ...errorResponses(400, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const { id } = request.params as { id: string };
      const caller = callerOf(request);
      await deleteTask(deps.store, id, () => requireRight(caller.admin, 'only admins delete tasks'));
      return reply.status(204).send();
    },
  );
}
