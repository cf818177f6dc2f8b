import type { FastifyInstance } from 'fastify';
import { TaskhostError } from '../../errors.ts';
import { runDocument } from '../../runs/document.ts';
import { getRun, runFromRow, type RunRow } from '../../store/queries/runs.ts';
import { errorResponses } from '../error-schema.ts';
import { formatQuery, sendList, type ListFormat } from '../format.ts';
import { callerOf } from '../identity.ts';
import type { ServerDeps } from '../services.ts';
import { runWithRight } from '../task-access.ts';
import { TemplateCatalog } from '../template-catalog.ts';

const nullableString = { type: 'string', nullable: true } as const;
const nullableTimestamp = { type: 'string', format: 'date-time', nullable: true } as const;

/** A run as GET /run/:id shows it (runs/document.ts); the plugin's own values are free-form. */
export const runDocumentSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    id: { type: 'string' },
    plugin: { type: 'string' },
    origin: { type: 'string', enum: ['cli', 'api', 'task'] },
    state: { type: 'string' },
    requester: nullableString,
    task_id: nullableString,
    step_name: nullableString,
    attempt: { type: 'integer' },
    batch_id: nullableString,
    data: {},
    result: { type: 'object', nullable: true, additionalProperties: true },
    error: nullableString,
    exit_code: { type: 'integer', nullable: true },
    signal: nullableString,
    kill_reason: nullableString,
    instance: nullableString,
    output_dropped: {
      type: 'object',
      properties: { lines: { type: 'integer' }, bytes: { type: 'integer' } },
    },
    created: { type: 'string', format: 'date-time' },
    started: nullableTimestamp,
    finished: nullableTimestamp,
    duration_ms: { type: 'integer', nullable: true },
    last_seq: { type: 'integer' },
  },
} as const;

/** The result envelope: what the plugin printed, with the run's state, error and id. */
export const resultEnvelopeSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    status: { type: 'integer' },
    reason: { type: 'string' },
    payload: {},
    metadata: {},
    state: { type: 'string' },
    error: nullableString,
    run_id: { type: 'string' },
  },
} as const;

export const runIdParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', format: 'uuid' } },
} as const;

export async function loadRunDocument(deps: ServerDeps, id: string): Promise<ReturnType<typeof runDocument>> {
  const row = await getRun(deps.store, id);
  if (!row) throw new TaskhostError('TH_RUN_NOT_FOUND', `no run ${id}`);
  return runDocument(row);
}

export function runRoutes(app: FastifyInstance, deps: ServerDeps): void {
  const catalog = deps.templates ?? TemplateCatalog.empty();
  app.get(
    '/run',
    {
      schema: {
        summary: 'List runs, newest first (an admin sees every run, a user the plugin runs they started)',
        tags: ['runs'],
        querystring: {
          type: 'object',
          properties: {
            ...formatQuery,
            plugin: { type: 'string' },
            state: { type: 'string' },
            batch: { type: 'string', format: 'uuid' },
            page_size: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
            last: { type: 'string', format: 'uuid', description: 'the last id of the previous page' },
          },
        },
        response: { 200: { type: 'array', items: runDocumentSchema }, ...errorResponses(400) },
      },
    },
    async (request, reply) => {
      const query = request.query as {
        format: ListFormat;
        plugin?: string;
        state?: string;
        batch?: string;
        page_size: number;
        last?: string;
      };
      const conditions: string[] = [];
      const values: unknown[] = [];
      const where = (sql: string, value: unknown): void => {
        values.push(value);
        conditions.push(sql.replace('?', `$${values.length}`));
      };
      const caller = callerOf(request);
      if (!caller.admin) where('requester = ?', caller.username);
      if (query.plugin) where('plugin_name = ?', query.plugin);
      if (query.state) where('state = ?', query.state);
      if (query.batch) where('batch_id = ?', query.batch);
      if (query.last) where('(created_at, id) < (SELECT created_at, id FROM run WHERE id = ?)', query.last);
      values.push(query.page_size);
      const { rows } = await deps.store.query<RunRow>(
        `SELECT * FROM run ${conditions.length ? `WHERE ${conditions.join(' AND ')}` : ''}
          ORDER BY created_at DESC, id DESC LIMIT $${values.length}`,
        values,
      );
      return sendList(
        reply,
        query.format,
        rows.map((row) => {
          const { data: _data, ...summary } = runDocument(runFromRow(deps.store.codec, row));
          return summary as unknown as Record<string, unknown>;
        }),
        'run',
      );
    },
  );

  app.get(
    '/run/:id',
    {
      schema: {
        summary: 'A run: state, result, timings, and the instance that ran it',
        tags: ['runs'],
        params: runIdParams,
        response: { 200: runDocumentSchema, ...errorResponses(400, 403, 404) },
      },
    },
    async (request) => {
      const { id } = request.params as { id: string };
      await runWithRight(deps.store, catalog, callerOf(request), id);
      return loadRunDocument(deps, id);
    },
  );
}
