import type { FastifyInstance } from 'fastify';
import { TaskhostError } from '../../errors.ts';
import { RingCodec } from '../../store/crypto/codec.ts';
import { rotateKeys } from '../../store/crypto/rotate.ts';
import { errorResponses } from '../error-schema.ts';
import { callerOf } from '../identity.ts';
import type { ServerDeps } from '../services.ts';
import { requireRight } from '../task-rights.ts';

/** The route maintenance mode lets through: rotating is what an operator holds it for. */
export const KEY_ROTATE_ROUTE = '/key-rotate';

/**
 * `POST /key-rotate` (µTask's; admins only): re-encrypts every stored value under the newest
 * key of the ring (read again from its file, so a key just added by `taskhost key add` is
 * used), in batches (store/crypto/rotate.ts). Meanwhile the server is in maintenance mode:
 * every other change answers 503, reads go on. Answers when the rotation is done; one that
 * fails half-way (the database lost) is resumed by calling again.
 */
export function keyRoutes(app: FastifyInstance, deps: ServerDeps): void {
  let rotating = false;
  app.post(
    KEY_ROTATE_ROUTE,
    {
      schema: {
        summary: 'Re-encrypt every stored value under the newest key (admin)',
        tags: ['keys'],
        response: {
          200: {
            type: 'object',
            properties: {
              key: { type: 'string', description: 'the label everything is now encrypted under' },
              rows: { type: 'integer', description: 'rows re-encrypted' },
              tables: { type: 'object', additionalProperties: { type: 'integer' } },
            },
          },
          ...errorResponses(403, 409, 500),
        },
      },
    },
    async (request) => {
      const caller = callerOf(request);
      requireRight(caller.admin, 'only admins rotate the encryption keys');
      const codec = deps.store.codec;
      if (!(codec instanceof RingCodec)) {
        throw new TaskhostError(
          'TH_CONFIG_INVALID',
          'this server stores values without a key ring: nothing to rotate',
        );
      }
      if (rotating) {
        throw new TaskhostError('TH_KEY_ROTATING', 'a key rotation is already under way on this server');
      }
      rotating = true;
      const maintenance = deps.config.maintenanceMode;
      deps.config.maintenanceMode = true;
      try {
        codec.reload();
        const result = await rotateKeys(deps.store, codec);
        app.log.info({ key: codec.newestLabel, rows: result.rows }, 'keys rotated');
        return { key: codec.newestLabel, rows: result.rows, tables: result.tables };
      } finally {
        deps.config.maintenanceMode = maintenance;
        rotating = false;
      }
    },
  );
}
