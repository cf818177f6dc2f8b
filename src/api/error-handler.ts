import type { FastifyError, FastifyInstance } from 'fastify';
import { httpStatusOf, isTaskhostError } from '../errors.ts';
import { formatSchemaErrors } from '../schema/schema-errors.ts';
import { isTransientStoreError } from '../store/transient.ts';

/**
 * Errors leave the API as µTask's body `{"error": message}` plus our `code`. Request
 * validation names the field (`body/data/x must be string`); an unknown error is logged
 * in full and answered with a generic message, so no internal detail leaks.
 */
export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (isTaskhostError(error)) {
      return reply.status(httpStatusOf(error.code)).send({ error: error.message, code: error.code });
    }
    if (error.validation) {
      const details = formatSchemaErrors(error.validation, error.validationContext ?? 'request');
      return reply.status(400).send({ error: details, code: 'TH_REQUEST_INVALID' });
    }
    if (isTransientStoreError(error)) {
      // PostgreSQL restarting or out of reach: the client may try again.
      request.log.warn({ err: error }, 'store unavailable');
      return reply
        .status(503)
        .header('retry-after', '1')
        .send({ error: 'the store is unavailable; try again', code: 'TH_STORE_UNAVAILABLE' });
    }
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      const limit = request.routeOptions.bodyLimit ?? request.server.initialConfig.bodyLimit;
      return reply
        .status(httpStatusOf('TH_REQUEST_TOO_LARGE'))
        .send({ error: `the request body is over ${limit} bytes`, code: 'TH_REQUEST_TOO_LARGE' });
    }
    if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
      return reply.status(error.statusCode).send({ error: error.message, code: 'TH_REQUEST_INVALID' });
    }
    request.log.error({ err: error }, 'internal error');
    return reply.status(500).send({ error: 'internal error', code: 'TH_INTERNAL' });
  });
  app.setNotFoundHandler((request, reply) => {
    void reply
      .status(404)
      .send({ error: `no route ${request.method} ${request.url.split('?')[0]}`, code: 'TH_REQUEST_INVALID' });
  });
}
