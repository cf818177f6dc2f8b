import type { FastifyInstance } from 'fastify';
import { TaskhostError } from '../../errors.ts';
import type { FunctionDef } from '../../template/types.ts';
import type { ServerDeps } from '../services.ts';
import { TemplateCatalog } from '../template-catalog.ts';
import { errorSchema } from '../error-schema.ts';

const anyObject = { type: 'object', additionalProperties: true } as const;

/** A function as µTask shows it: what it runs, its hook, conditions, states and arguments. */
const functionSchema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    description: { type: 'string' },
    action: anyObject,
    pre_hook: anyObject,
    conditions: { type: 'array', items: anyObject },
    custom_states: { type: 'array', items: { type: 'string' } },
    function_args: { type: 'array', items: { type: 'string' } },
  },
} as const;

/**
 * µTask's `GET /function` (the functions templates may use as action types, by name,
 * `page_size` and `last` as µTask pages them, with its paging headers) and `GET
 * /function/:name`. Functions are written as µTask's (exact names, not normalised).
 */
export function functionRoutes(app: FastifyInstance, deps: ServerDeps): void {
  const catalog = deps.templates ?? TemplateCatalog.empty();
  const sorted = (): FunctionDef[] =>
    [...catalog.functions.functions.values()]
      .map((loaded) => loaded.function)
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  app.get(
    '/function',
    {
      schema: {
        summary: 'List the functions templates may use as action types, by name',
        tags: ['templates'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            page_size: { type: 'integer', minimum: 1, maximum: 1000, default: 20 },
            last: { type: 'string', description: 'the last name of the previous page' },
          },
        },
        response: { 200: { type: 'array', items: functionSchema } },
      },
    },
    async (request, reply) => {
      const { page_size: pageSize, last } = request.query as { page_size: number; last?: string };
      const page = sorted()
        .filter((fn) => last === undefined || fn.name > last)
        .slice(0, pageSize);
      void reply.header('x-paging-pagesize', String(pageSize));
      const lastName = page.at(-1)?.name;
      if (lastName !== undefined && page.length === pageSize) {
        const next = new URLSearchParams({ page_size: String(pageSize), last: lastName });
        void reply.header('link', `</function?${next.toString()}>; rel="next"`);
      }
      return page;
    },
  );

  app.get(
    '/function/:name',
    {
      schema: {
        summary: 'A function',
        tags: ['templates'],
        params: {
          type: 'object',
          required: ['name'],
          properties: { name: { type: 'string', minLength: 1, maxLength: 256 } },
        },
        response: { 200: functionSchema, 404: errorSchema },
      },
    },
    async (request) => {
      const { name } = request.params as { name: string };
      const found = catalog.functions.functions.get(name);
      if (!found) throw new TaskhostError('TH_FUNCTION_NOT_FOUND', `no function named ${name}`);
      return found.function;
    },
  );
}
