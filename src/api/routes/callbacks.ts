import type { FastifyInstance } from 'fastify';
import { resolveCallback } from '../../engine/engine.ts';
import type { ServerDeps } from '../services.ts';
import { errorSchema } from '../error-schema.ts';

/**
 * The endpoint of µTask's `callback` action: `POST /unsecured/callback/:id?t=TOKEN` with a
 * JSON body. Unsecured because the caller is another system: the token is the credential.
 * An unknown id or a wrong token is 404, a callback already called 409, a body its schema
 * refuses 400. The waiting step's resolution becomes due at once, on whichever instance.
 */
export function callbackRoutes(app: FastifyInstance, deps: ServerDeps): void {
  app.post(
    '/unsecured/callback/:id',
    {
      schema: {
        summary: 'Call back a waiting `callback` step with a JSON body (validated against its schema)',
        tags: ['callbacks'],
        params: {
          type: 'object',
          required: ['id'],
          properties: { id: { type: 'string', minLength: 1, maxLength: 64 } },
        },
        querystring: {
          type: 'object',
          required: ['t'],
          properties: {
            t: { type: 'string', minLength: 1, maxLength: 256, description: 'the callback token' },
          },
        },
        body: { description: 'any JSON value' },
        response: {
          200: { type: 'object', properties: { id: { type: 'string' }, message: { type: 'string' } } },
          400: errorSchema,
          404: errorSchema,
          409: errorSchema,
        },
      },
    },
    async (request) => {
      const { id } = request.params as { id: string };
      const { t } = request.query as { t: string };
      await resolveCallback(deps.store, id, t, request.body ?? null);
      return { id, message: 'the callback was called' };
    },
  );
}
