import type { FastifyInstance } from 'fastify';
import { TaskhostError } from '../../errors.ts';
import type { LoadedTemplate } from '../../template/types.ts';
import { formatQuery, sendList, type ListFormat } from '../format.ts';
import { callerOf } from '../identity.ts';
import type { ServerDeps } from '../services.ts';
import { TemplateCatalog } from '../template-catalog.ts';

const anyObject = { type: 'object', additionalProperties: true } as const;
const stringList = { type: 'array', items: { type: 'string' } } as const;
const inputSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    name: { type: 'string' },
    description: { type: 'string' },
    type: { type: 'string' },
    optional: { type: 'boolean' },
    collection: { type: 'boolean' },
    regex: { type: 'string' },
    legal_values: { type: 'array', items: {} },
    default: {},
    hidden: { type: 'boolean' },
  },
} as const;

/** µTask's template fields a list shows (everything but how it runs). */
const summaryProperties = {
  name: { type: 'string' },
  description: { type: 'string' },
  long_description: { type: 'string' },
  doc_link: { type: 'string' },
  title_format: { type: 'string' },
  tags: { type: 'object', additionalProperties: { type: 'string' } },
  inputs: { type: 'array', items: inputSchema },
  resolver_inputs: { type: 'array', items: inputSchema },
  allowed_resolver_usernames: stringList,
  allowed_resolver_groups: stringList,
  allow_all_resolver_usernames: { type: 'boolean' },
  allow_task_start_over: { type: 'boolean' },
  auto_runnable: { type: 'boolean' },
  blocked: { type: 'boolean' },
  hidden: { type: 'boolean' },
  retry_max: { type: 'integer' },
} as const;

const templateSummarySchema = { type: 'object', properties: summaryProperties } as const;
const templateSchema = {
  type: 'object',
  properties: {
    ...summaryProperties,
    result_format: anyObject,
    variables: { type: 'array', items: anyObject },
    base_configurations: { type: 'object', additionalProperties: anyObject },
    steps: { type: 'object', additionalProperties: anyObject },
  },
} as const;

function summaryOf({ template }: LoadedTemplate): Record<string, unknown> {
  const {
    steps: _steps,
    variables: _variables,
    base_configurations: _bases,
    result_format: _result,
    ...summary
  } = template;
  return summary;
}

const nameParams = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', minLength: 1, maxLength: 256 } },
} as const;

/**
 * µTask's `GET /template` (the templates without their steps, by name, `page_size` and
 * `last` as µTask pages them) and `GET /template/:name` (the whole template, as loaded:
 * defaults applied). Hidden templates are shown to admins only.
 */
export function templateRoutes(app: FastifyInstance, deps: ServerDeps): void {
  const catalog = deps.templates ?? TemplateCatalog.empty();

  app.get(
    '/template',
    {
      schema: {
        summary: 'List templates by name (steps left out)',
        tags: ['templates'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            page_size: { type: 'integer', minimum: 1, maximum: 1000, default: 20 },
            last: { type: 'string', description: 'the last name of the previous page' },
            ...formatQuery,
          },
        },
        response: { 200: { type: 'array', items: templateSummarySchema } },
      },
    },
    async (request, reply) => {
      const {
        page_size: pageSize,
        last,
        format,
      } = request.query as { page_size: number; last?: string; format: ListFormat };
      const { admin } = callerOf(request);
      const page = catalog
        .list()
        .filter((loaded) => admin || !loaded.template.hidden)
        .filter((loaded) => last === undefined || loaded.name > last.trim().toLowerCase())
        .slice(0, pageSize)
        .map(summaryOf);
      return sendList(reply, format, page, 'template');
    },
  );

  app.get(
    '/template/:name',
    {
      schema: {
        summary: 'A template, steps included',
        tags: ['templates'],
        params: nameParams,
        response: { 200: templateSchema },
      },
    },
    async (request) => {
      const { name } = request.params as { name: string };
      const loaded = catalog.get(name);
      if (loaded.template.hidden && !callerOf(request).admin) {
        throw new TaskhostError('TH_TEMPLATE_NOT_FOUND', `no template named ${name}`);
      }
      return loaded.template;
    },
  );
}
