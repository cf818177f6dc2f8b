import type { FastifyInstance } from 'fastify';
import { TaskhostError } from '../../errors.ts';
import { runDocument } from '../../runs/document.ts';
import { getRun, type RunRow } from '../../store/queries/runs.ts';
import { formatQuery, sendList, type ListFormat } from '../format.ts';
import type { ServerDeps } from '../services.ts';

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
  app.get(
    '/run',
    {
      schema: {
        summary: 'List runs, newest first',
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
          const { data: _data, ...summary } = runDocument(row);
          return summary as unknown as Record<string, unknown>;
        }),
        'run',
      );
    },
  );

  app.get(
    '/run/:id',
    { schema: { summary: 'A run: state, result, timings', tags: ['runs'], params: runIdParams } },
    async (request) => loadRunDocument(deps, (request.params as { id: string }).id),
  );
}
