import type { FastifyInstance } from 'fastify';
import { TaskhostError } from '../../errors.ts';
import {
  getPlugin,
  listPlugins,
  loadPlugin,
  registerPlugin,
  unregisterPlugin,
} from '../../plugins/registry.ts';
import type { RunnablePlugin } from '../../plugins/run-plugin.ts';
import { createBatch, resolveConcurrency, runBatch } from '../../runs/batch.ts';
import { resultEnvelope } from '../../runs/envelope.ts';
import { checkRunData, createRun, executeCreatedRun, type ExecuteRequest } from '../../runs/execute.ts';
import type { RunSupervisor } from '../../runs/supervisor.ts';
import type { PluginRow } from '../../store/queries/plugins.ts';
import { errorResponses } from '../error-schema.ts';
import { formatQuery, sendList, type ListFormat } from '../format.ts';
import { callerOf } from '../identity.ts';
import type { ServerDeps } from '../services.ts';
import { requireAdmin } from '../task-access.ts';
import { resultEnvelopeSchema } from './runs.ts';

/** A registry entry as the API shows it: metadata up front, the whole self-description in `schema`. */
export function pluginDocument(row: PluginRow): Record<string, unknown> {
  const d = row.description;
  return {
    name: row.name,
    title: d.title ?? null,
    description: d.description ?? '',
    category: d.category ?? null,
    tags: Array.isArray(d.tags) ? d.tags : [],
    dangerous: d.dangerous ?? null,
    expensive: d.expensive === true,
    idempotent: d.idempotent === true,
    timeout: typeof d.timeout === 'number' ? d.timeout : null,
    location: row.location,
    source: row.source,
    registered_at: row.registered_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
    inputs: d.inputs ?? {},
    outputs: d.outputs ?? null,
    schema: d,
  };
}

/** pluginDocument's shape; the self-description's own fields are the plugin's (free-form). */
const pluginDocumentSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    name: { type: 'string' },
    title: { type: 'string', nullable: true },
    description: { type: 'string' },
    category: { type: 'string', nullable: true },
    tags: { type: 'array', items: {} },
    dangerous: {},
    expensive: { type: 'boolean' },
    idempotent: { type: 'boolean' },
    timeout: { type: 'number', nullable: true },
    location: { type: 'string' },
    source: { type: 'string' },
    registered_at: { type: 'string', format: 'date-time' },
    updated_at: { type: 'string', format: 'date-time' },
    inputs: {},
    outputs: {},
    schema: { type: 'object', additionalProperties: true },
  },
} as const;

const runStartedSchema = {
  type: 'object',
  properties: { run_id: { type: 'string' }, stream: { type: 'string' } },
} as const;

const nameParams = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', minLength: 1, maxLength: 128 } },
} as const;

const asyncQuery = {
  type: 'object',
  properties: { async: { type: 'boolean', default: false } },
  additionalProperties: false,
} as const;

export function pluginRoutes(app: FastifyInstance, deps: ServerDeps & { supervisor: RunSupervisor }): void {
  const { store, hub, config, supervisor } = deps;
  // A run belongs to whoever started it (task-access.ts: they and the admins see it).
  const base = (plugin: RunnablePlugin, data: unknown, requester: string): ExecuteRequest => ({
    store,
    hub,
    plugin,
    data,
    origin: 'api',
    owner: deps.owner ?? null,
    requester,
    outputCapBytes: config.outputCapBytes,
    onStoreError: (error) => app.log.warn({ err: error }, 'store unavailable, retrying'),
  });

  app.get(
    '/plugin',
    {
      schema: {
        summary: 'List registered plugins',
        tags: ['plugins'],
        querystring: { type: 'object', properties: formatQuery },
        response: { 200: { type: 'array', items: pluginDocumentSchema }, ...errorResponses(400) },
      },
    },
    async (request, reply) => {
      const { format } = request.query as { format: ListFormat };
      return sendList(reply, format, (await listPlugins(store)).map(pluginDocument), 'plugin');
    },
  );

  app.get(
    '/plugin/:name',
    {
      schema: {
        summary: "A plugin's self-description and metadata",
        tags: ['plugins'],
        params: nameParams,
        response: { 200: pluginDocumentSchema, ...errorResponses(400, 404) },
      },
    },
    async (request) => {
      const { name } = request.params as { name: string };
      const row = await getPlugin(store, name);
      if (!row) throw new TaskhostError('TH_PLUGIN_NOT_FOUND', `no plugin named "${name}" is registered`);
      return pluginDocument(row);
    },
  );

  app.post(
    '/plugin',
    {
      schema: {
        summary: 'Register a plugin (runs "LOCATION schema"; admins)',
        tags: ['plugins'],
        body: {
          type: 'object',
          required: ['name', 'location'],
          additionalProperties: false,
          properties: { name: { type: 'string', minLength: 1 }, location: { type: 'string', minLength: 1 } },
        },
        response: { 201: pluginDocumentSchema, ...errorResponses(400, 403, 409) },
      },
    },
    async (request, reply) => {
      requireAdmin(callerOf(request), 'only admins register plugins');
      const body = request.body as { name: string; location: string };
      const row = await registerPlugin(store, { ...body, source: 'api' });
      return reply.status(201).send(pluginDocument(row));
    },
  );

  app.delete(
    '/plugin/:name',
    {
      schema: {
        summary: 'Unregister a plugin (admins)',
        tags: ['plugins'],
        params: nameParams,
        response: { 204: { type: 'null' }, ...errorResponses(400, 403, 404) },
      },
    },
    async (request, reply) => {
      requireAdmin(callerOf(request), 'only admins unregister plugins');
      await unregisterPlugin(store, (request.params as { name: string }).name);
      return reply.status(204).send();
    },
  );

  app.post(
    '/plugin/:name/run',
    {
      schema: {
        summary: 'Run a plugin: the result envelope, or with ?async=true a run id and its stream',
        tags: ['runs'],
        params: nameParams,
        querystring: asyncQuery,
        body: { type: 'object', required: ['data'], additionalProperties: false, properties: { data: {} } },
        response: { 200: resultEnvelopeSchema, 202: runStartedSchema, ...errorResponses(400, 404) },
      },
    },
    async (request, reply) => {
      const plugin = await loadPlugin(store, (request.params as { name: string }).name);
      const { data } = request.body as { data: unknown };
      await checkRunData(plugin, data, 'body/data');
      const { username } = callerOf(request);
      const runId = await createRun(base(plugin, data, username));
      const execute = (signal: AbortSignal) =>
        executeCreatedRun({ ...base(plugin, data, username), runId, signal });
      if ((request.query as { async: boolean }).async) {
        supervisor.background(execute);
        return reply.status(202).send({ run_id: runId, stream: `/run/${runId}/stream` });
      }
      const run = await supervisor.run(execute);
      return resultEnvelope(run.outcome, run.id);
    },
  );

  app.post(
    '/plugin/:name/batch',
    {
      schema: {
        summary: 'Run a plugin once per item, at most max_concurrent at once (0 = CPU count, -1 = 128)',
        tags: ['runs'],
        params: nameParams,
        querystring: asyncQuery,
        body: {
          type: 'object',
          required: ['items'],
          additionalProperties: false,
          properties: {
            items: { type: 'array', minItems: 1, maxItems: 10_000 },
            max_concurrent: { type: 'integer', minimum: -1, default: 0 },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              batch_id: { type: 'string' },
              max_concurrent: { type: 'integer' },
              results: { type: 'array', items: resultEnvelopeSchema },
            },
          },
          202: {
            type: 'object',
            properties: {
              batch_id: { type: 'string' },
              max_concurrent: { type: 'integer' },
              runs: { type: 'array', items: runStartedSchema },
            },
          },
          ...errorResponses(400, 404),
        },
      },
    },
    async (request, reply) => {
      const plugin = await loadPlugin(store, (request.params as { name: string }).name);
      const { items, max_concurrent } = request.body as { items: unknown[]; max_concurrent: number };
      for (const [index, data] of items.entries()) await checkRunData(plugin, data, `body/items/${index}`);
      const limit = resolveConcurrency(max_concurrent, 'max_concurrent');
      const { data: _data, onLine: _onLine, ...shared } = base(plugin, null, callerOf(request).username);
      const batchRequest = { ...shared, items, limit };
      const batch = await createBatch(batchRequest);
      const runAll = (signal: AbortSignal) => runBatch({ ...batchRequest, signal }, batch);
      if ((request.query as { async: boolean }).async) {
        supervisor.background(runAll);
        return reply.status(202).send({
          batch_id: batch.batchId,
          max_concurrent: limit,
          runs: batch.runIds.map((id) => ({ run_id: id, stream: `/run/${id}/stream` })),
        });
      }
      return { batch_id: batch.batchId, max_concurrent: limit, results: await supervisor.run(runAll) };
    },
  );
}
