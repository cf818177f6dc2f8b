import type { FastifyInstance } from 'fastify';
import { getResolutionOfTask } from '../../store/queries/tasks.ts';
import { errorResponses } from '../error-schema.ts';
import { callerOf } from '../identity.ts';
import type { ServerDeps } from '../services.ts';
import { isRequester, isResolutionManager, isTemplateOwner, isWatcher, templateOf } from '../task-rights.ts';
import { TemplateCatalog } from '../template-catalog.ts';
import { loadTask, taskIdParams } from './tasks.ts';

const stringList = { type: 'array', items: { type: 'string' } } as const;

const callerSchema = {
  type: 'object',
  properties: { username: { type: 'string' }, admin: { type: 'boolean' }, groups: stringList },
} as const;

const taskRightsSchema = {
  type: 'object',
  properties: {
    username: { type: 'string' },
    admin: { type: 'boolean' },
    requester: { type: 'boolean' },
    watcher: { type: 'boolean' },
    resolver: { type: 'boolean' },
    resolution_id: { type: 'string', nullable: true, description: "the task's resolution" },
    can: {
      type: 'object',
      description: 'the actions the caller may take on this task',
      properties: {
        comment: { type: 'boolean' },
        resolve: { type: 'boolean', description: 'start, run, pause, extend and cancel its resolution' },
        wontfix: { type: 'boolean' },
        edit: { type: 'boolean' },
        delete: { type: 'boolean' },
      },
    },
  },
} as const;

/**
 * Read-only answers about the caller, for the dashboard to show only the buttons that would
 * work: `GET /me` (who the server takes the caller for) and `GET /me/task/:id` (what they may
 * do to one task). Both read callerOf and the rules of task-rights.ts, the same the routes
 * enforce, so the dashboard never keeps a second copy of µTask's rights.
 */
export function meRoutes(app: FastifyInstance, deps: ServerDeps): void {
  const catalog = deps.templates ?? TemplateCatalog.empty();

  app.get(
    '/me',
    {
      schema: {
        summary: 'The caller: user name, groups, and whether they are an admin',
        tags: ['auth'],
        response: { 200: callerSchema },
      },
    },
    async (request) => {
      const { username, admin, groups } = callerOf(request);
      return { username, admin, groups };
    },
  );

  app.get(
    '/me/task/:id',
    {
      schema: {
        summary: 'What the caller may do to a task (the rights its routes check)',
        tags: ['auth'],
        params: taskIdParams,
        response: { 200: taskRightsSchema, ...errorResponses(400, 404) },
      },
    },
    async (request) => {
      const caller = callerOf(request);
      const task = await loadTask(deps.store, (request.params as { id: string }).id);
      const resolution = await getResolutionOfTask(deps.store, task.id);
      const template = templateOf(catalog, task);
      const requester = isRequester(caller, task);
      const resolver = isResolutionManager(caller, task, template, resolution?.resolver_username ?? null);
      return {
        username: caller.username,
        admin: caller.admin,
        requester,
        watcher: isWatcher(caller, task),
        resolver,
        resolution_id: resolution?.id ?? null,
        can: {
          comment: caller.admin || requester || resolver,
          resolve: caller.admin || resolver,
          wontfix: caller.admin || requester || resolver,
          edit: caller.admin || isTemplateOwner(caller, template) || requester,
          delete: caller.admin,
        },
      };
    },
  );
}
