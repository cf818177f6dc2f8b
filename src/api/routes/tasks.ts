import type { FastifyInstance } from 'fastify';
import { createTask, taskDocument, type TaskDocument } from '../../engine/engine.ts';
import { TaskState } from '../../engine/states.ts';
import { TaskhostError } from '../../errors.ts';
import { parseGoDurationMs } from '../../expr/duration.ts';
import { batchExists } from '../../store/queries/batches.ts';
import { listTasks, type TaskListRow } from '../../store/queries/task-list.ts';
import { getTask, type TaskRow } from '../../store/queries/tasks.ts';
import type { Queryable } from '../../store/store.ts';
import { formatQuery, sendList, type ListFormat } from '../format.ts';
import { callerOf } from '../identity.ts';
import type { ServerDeps } from '../services.ts';
import { errorResponses } from '../error-schema.ts';
import { checkComment, checkTags, commentText, names, tagsSchema } from '../task-fields.ts';
import { audienceOf, isTemplateOwner, requireRight, type ListType } from '../task-rights.ts';
import { taskWithRight } from '../task-access.ts';
import { TemplateCatalog } from '../template-catalog.ts';

export const taskIdParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', format: 'uuid' } },
} as const;

const timestamp = { type: 'string', format: 'date-time' } as const;
const stringList = { type: 'array', items: { type: 'string' } } as const;
const resolutionSchema = {
  type: 'object',
  nullable: true,
  properties: {
    id: { type: 'string' },
    state: { type: 'string' },
    run_count: { type: 'integer' },
    next_retry: { ...timestamp, nullable: true },
  },
} as const;

/** The task document of SPEC section 7. */
export const taskDocumentSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    template_name: { type: 'string' },
    title: { type: 'string' },
    state: { type: 'string' },
    requester: { type: 'string' },
    resolver_usernames: stringList,
    input: { type: 'object', additionalProperties: true },
    result: {},
    created: timestamp,
    last_activity: timestamp,
    resolution: resolutionSchema,
    steps: {
      type: 'object',
      additionalProperties: {
        type: 'object',
        properties: {
          state: { type: 'string' },
          output: {},
          metadata: {},
          children: {},
          error: { type: 'string', nullable: true },
          try_count: { type: 'integer' },
          last_run: { ...timestamp, nullable: true },
          instance: { type: 'string', nullable: true },
        },
      },
    },
  },
} as const;

/** A task in a list: the document without input, result and steps, with its watchers, tags and batch. */
const taskSummarySchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    template_name: { type: 'string' },
    title: { type: 'string' },
    state: { type: 'string' },
    requester: { type: 'string' },
    resolver_usernames: stringList,
    resolver_groups: stringList,
    watcher_usernames: stringList,
    watcher_groups: stringList,
    tags: { type: 'object', additionalProperties: { type: 'string' } },
    batch: { type: 'string', nullable: true },
    created: timestamp,
    last_activity: timestamp,
    resolution: resolutionSchema,
  },
} as const;

export async function loadTaskDocument(db: Queryable, id: string): Promise<TaskDocument> {
  const document = await taskDocument(db, id);
  if (!document) throw new TaskhostError('TH_TASK_NOT_FOUND', `no task ${id}`);
  return document;
}

/** A task row, or TH_TASK_NOT_FOUND. */
export async function loadTask(db: Queryable, id: string): Promise<TaskRow> {
  const task = await getTask(db, id);
  if (!task) throw new TaskhostError('TH_TASK_NOT_FOUND', `no task ${id}`);
  return task;
}

function summaryOf(row: TaskListRow): Record<string, unknown> {
  return {
    id: row.id,
    template_name: row.template_name,
    title: row.title,
    state: row.state,
    requester: row.requester_username,
    resolver_usernames: row.resolver_usernames,
    resolver_groups: row.resolver_groups,
    watcher_usernames: row.watcher_usernames,
    watcher_groups: row.watcher_groups,
    tags: row.tags,
    batch: row.batch_id,
    created: new Date(row.created_at).toISOString(),
    last_activity: new Date(row.last_activity).toISOString(),
    resolution: row.resolution_id
      ? {
          id: row.resolution_id,
          state: row.resolution_state,
          run_count: row.run_count,
          next_retry: row.next_retry ? new Date(row.next_retry).toISOString() : null,
        }
      : null,
  };
}

/** µTask's `delay` (a Go duration: "10m", "1h30m") in milliseconds, or 400 naming the field. */
function delayOf(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  try {
    return parseGoDurationMs(text);
  } catch (error) {
    throw new TaskhostError('TH_REQUEST_INVALID', `body/delay ${(error as Error).message}`);
  }
}

interface CreateTaskBody {
  template_name: string;
  input: Record<string, unknown>;
  comment?: string;
  watcher_usernames?: string[];
  watcher_groups?: string[];
  resolver_usernames?: string[];
  resolver_groups?: string[];
  delay?: string;
  tags?: Record<string, string>;
  batch?: string;
}

interface ListTasksQuery {
  format: ListFormat;
  type: ListType;
  state?: string;
  template?: string;
  batch?: string;
  tag?: string[];
  page_size: number;
  last?: string;
}

/**
 * µTask's task routes: `POST /task` creates a task (left TODO for the scheduler, never run in
 * the request), `GET /task` lists them newest first, `GET /task/:id` is the SPEC 7 document.
 */
export function taskRoutes(app: FastifyInstance, deps: ServerDeps): void {
  const catalog = deps.templates ?? TemplateCatalog.empty();

  app.post(
    '/task',
    {
      schema: {
        summary: 'Create a task from a template (its resolution waits for the scheduler)',
        tags: ['tasks'],
        body: {
          type: 'object',
          required: ['template_name'],
          additionalProperties: false,
          properties: {
            template_name: { type: 'string', minLength: 1 },
            input: { type: 'object', additionalProperties: true, default: {} },
            comment: { ...commentText, description: 'the first comment, 3 to 100,000 characters' },
            watcher_usernames: names,
            watcher_groups: names,
            resolver_usernames: { ...names, description: "admins and the template's owners only" },
            resolver_groups: { ...names, description: "admins and the template's owners only" },
            delay: {
              type: 'string',
              description:
                'a Go duration ("10m", "1h30m"): the task waits DELAYED, and starts then if auto_runnable',
            },
            tags: tagsSchema,
            batch: { type: 'string', format: 'uuid', description: 'an existing batch the task joins' },
          },
        },
        response: { 201: taskDocumentSchema, ...errorResponses(400, 403, 404, 413) },
      },
    },
    async (request, reply) => {
      const body = request.body as CreateTaskBody;
      const caller = callerOf(request);
      const loaded = catalog.get(body.template_name);
      const comment = checkComment('body/comment', body.comment);
      const delayMs = delayOf(body.delay);
      checkTags('body/tags', body.tags);
      if ((body.resolver_usernames?.length || body.resolver_groups?.length) && !caller.admin) {
        // µTask: the template's allowed resolvers may not be bypassed by a requester naming
        // themselves (or anybody) resolver.
        requireRight(
          isTemplateOwner(caller, loaded.template),
          "resolver_usernames and resolver_groups can be set by the template's owners and admins only",
        );
      }
      if (body.batch !== undefined && !(await batchExists(deps.store, body.batch))) {
        throw new TaskhostError('TH_BATCH_NOT_FOUND', `no batch ${body.batch}`);
      }
      const { document } = await createTask(deps.store, {
        snapshot: catalog.snapshot(body.template_name),
        input: body.input,
        requester: caller.username,
        requesterGroups: caller.groups,
        comment,
        watcherUsernames: body.watcher_usernames,
        watcherGroups: body.watcher_groups,
        resolverUsernames: body.resolver_usernames,
        resolverGroups: body.resolver_groups,
        delayMs,
        tags: body.tags,
        batchId: body.batch,
      });
      return reply.status(201).send(document);
    },
  );

  app.get(
    '/task',
    {
      schema: {
        summary: 'List tasks, newest first (input, result and steps left out)',
        tags: ['tasks'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            ...formatQuery,
            type: {
              type: 'string',
              enum: ['own', 'resolvable', 'all'],
              default: 'own',
              description: 'own: requested or watched by the caller; resolvable: the caller may resolve; all',
            },
            state: { type: 'string', enum: Object.values(TaskState) },
            template: { type: 'string' },
            batch: { type: 'string', format: 'uuid' },
            tag: {
              type: 'array',
              items: { type: 'string', pattern: '^[^=]+=[^=]+$' },
              description: 'key=value, repeatable: tasks with every one of these tags',
            },
            page_size: { type: 'integer', minimum: 1, maximum: 1000, default: 20 },
            last: { type: 'string', format: 'uuid', description: 'the last id of the previous page' },
          },
        },
        response: { 200: { type: 'array', items: taskSummarySchema }, ...errorResponses(400, 404) },
      },
    },
    async (request, reply) => {
      const query = request.query as ListTasksQuery;
      if (query.batch !== undefined && !(await batchExists(deps.store, query.batch))) {
        throw new TaskhostError('TH_BATCH_NOT_FOUND', `no batch ${query.batch}`);
      }
      const tags = Object.fromEntries((query.tag ?? []).map((pair) => pair.split('=') as [string, string]));
      const rows = await listTasks(deps.store, {
        state: query.state,
        template: query.template,
        batch: query.batch,
        tags,
        audience: audienceOf(callerOf(request), query.type, catalog),
        last: query.last,
        pageSize: query.page_size,
      });
      // µTask's paging headers: the page size, and the next page's link when this one is full.
      void reply.header('x-paging-pagesize', String(query.page_size));
      const lastRow = rows.at(-1);
      if (lastRow && rows.length === query.page_size) {
        void reply.header('link', `</task?${nextPageQuery(query, lastRow.id)}>; rel="next"`);
      }
      return sendList(reply, query.format, rows.map(summaryOf), 'task');
    },
  );

  app.get(
    '/task/:id',
    {
      schema: {
        summary: 'A task: the SPEC 7 document, its steps included',
        tags: ['tasks'],
        params: taskIdParams,
        response: { 200: taskDocumentSchema, ...errorResponses(400, 403, 404) },
      },
    },
    async (request) => {
      const { id } = request.params as { id: string };
      await taskWithRight(deps.store, catalog, callerOf(request), id, 'see', `can't display task ${id}`);
      return loadTaskDocument(deps.store, id);
    },
  );
}

/** The query of the page after `last`: the same filters (defaults left out). */
function nextPageQuery(query: ListTasksQuery, last: string): string {
  const next = new URLSearchParams();
  if (query.type !== 'own') next.set('type', query.type);
  for (const key of ['state', 'template', 'batch'] as const) {
    const value = query[key];
    if (value !== undefined) next.set(key, value);
  }
  for (const tag of query.tag ?? []) next.append('tag', tag);
  if (query.format !== 'json') next.set('format', query.format);
  next.set('page_size', String(query.page_size));
  next.set('last', last);
  return next.toString();
}
