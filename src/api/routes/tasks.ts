import type { FastifyInstance } from 'fastify';
import { createTask, taskDocument, type TaskDocument } from '../../engine/engine.ts';
import { TaskhostError } from '../../errors.ts';
import { listTasks, type TaskListRow } from '../../store/queries/task-list.ts';
import type { Queryable } from '../../store/store.ts';
import { formatQuery, sendList, type ListFormat } from '../format.ts';
import { callerOf } from '../identity.ts';
import type { ServerDeps } from '../services.ts';
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

/** A task in a list: the document without input, result and steps, with its watchers and tags. */
const taskSummarySchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    template_name: { type: 'string' },
    title: { type: 'string' },
    state: { type: 'string' },
    requester: { type: 'string' },
    resolver_usernames: stringList,
    watcher_usernames: stringList,
    tags: { type: 'object', additionalProperties: { type: 'string' } },
    created: timestamp,
    last_activity: timestamp,
    resolution: resolutionSchema,
  },
} as const;

const errorSchema = {
  type: 'object',
  properties: { error: { type: 'string' }, code: { type: 'string' } },
} as const;

export async function loadTaskDocument(db: Queryable, id: string): Promise<TaskDocument> {
  const document = await taskDocument(db, id);
  if (!document) throw new TaskhostError('TH_TASK_NOT_FOUND', `no task ${id}`);
  return document;
}

function summaryOf(row: TaskListRow): Record<string, unknown> {
  return {
    id: row.id,
    template_name: row.template_name,
    title: row.title,
    state: row.state,
    requester: row.requester_username,
    resolver_usernames: row.resolver_usernames,
    watcher_usernames: row.watcher_usernames,
    tags: row.tags,
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

interface CreateTaskBody {
  template_name: string;
  input: Record<string, unknown>;
  watcher_usernames?: string[];
  tags?: Record<string, string>;
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
            watcher_usernames: { type: 'array', items: { type: 'string', minLength: 1 } },
            tags: { type: 'object', additionalProperties: { type: 'string' } },
          },
        },
        response: { 201: taskDocumentSchema, 400: errorSchema, 404: errorSchema },
      },
    },
    async (request, reply) => {
      const body = request.body as CreateTaskBody;
      const snapshot = catalog.snapshot(body.template_name);
      const { taskId } = await createTask(deps.store, {
        snapshot,
        input: body.input,
        requester: callerOf(request).username,
        watcherUsernames: body.watcher_usernames,
        tags: body.tags,
      });
      return reply.status(201).send(await loadTaskDocument(deps.store, taskId));
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
            state: { type: 'string' },
            template: { type: 'string' },
            page_size: { type: 'integer', minimum: 1, maximum: 1000, default: 20 },
            last: { type: 'string', format: 'uuid', description: 'the last id of the previous page' },
          },
        },
        response: { 200: { type: 'array', items: taskSummarySchema } },
      },
    },
    async (request, reply) => {
      const query = request.query as {
        format: ListFormat;
        state?: string;
        template?: string;
        page_size: number;
        last?: string;
      };
      const rows = await listTasks(deps.store, {
        state: query.state,
        template: query.template,
        last: query.last,
        pageSize: query.page_size,
      });
      // µTask's paging headers: the page size, and the next page's link when this one is full.
      void reply.header('x-paging-pagesize', String(query.page_size));
      const lastRow = rows.at(-1);
      if (lastRow && rows.length === query.page_size) {
        const next = new URLSearchParams();
        for (const key of ['state', 'template', 'format'] as const) {
          if (query[key] !== undefined && !(key === 'format' && query.format === 'json')) {
            next.set(key, query[key]);
          }
        }
        next.set('page_size', String(query.page_size));
        next.set('last', lastRow.id);
        void reply.header('link', `</task?${next.toString()}>; rel="next"`);
      }
      return sendList(reply, query.format, rows.map(summaryOf));
    },
  );

  app.get(
    '/task/:id',
    {
      schema: {
        summary: 'A task: the SPEC 7 document, its steps included',
        tags: ['tasks'],
        params: taskIdParams,
        response: { 200: taskDocumentSchema, 404: errorSchema },
      },
    },
    async (request) => loadTaskDocument(deps.store, (request.params as { id: string }).id),
  );
}
