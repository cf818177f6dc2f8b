import { isRecord } from '../template/data.ts';
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { TaskhostError } from '../errors.ts';
import { checkAgainst, compileSchema } from '../schema/json-schema.ts';
import type { Queryable, Store } from '../store/store.ts';
import { ActionError, type ActionContext, type ActionResult, type ActionRunner } from './actions/types.ts';

/**
 * µTask's `callback` builtin, the engine's side: `action: create` makes a callback (an id
 * and a secret token, only its hash stored) and gives its URL; `action: wait` leaves the
 * step WAITING until the callback is called, then gives the body it was called with. The
 * HTTP endpoint (POST /unsecured/callback/:id?t=TOKEN) calls resolveCallback, which stores
 * the body and makes the resolution due in one transaction.
 */

export const CALLBACK_PATH = '/unsecured/callback/';

function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** A schema given as a JSON text (µTask's form) or an object. */
function schemaOf(value: unknown): Record<string, unknown> | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  let schema = value;
  if (typeof value === 'string') {
    try {
      schema = JSON.parse(value);
    } catch (error) {
      throw new ActionError('client', `configuration.schema: not JSON: ${(error as Error).message}`);
    }
  }
  if (!isRecord(schema)) {
    throw new ActionError('client', 'configuration.schema: a JSON Schema object is expected');
  }
  try {
    compileSchema(schema);
  } catch (error) {
    throw new ActionError('client', `configuration.schema: ${(error as Error).message}`);
  }
  return schema;
}

interface CallbackRow {
  id: string;
  token_hash: string;
  resolution_id: string;
  schema: Record<string, unknown> | null;
  body: unknown;
  called_at: Date | null;
}

export function callbackAction(store: Store, baseUrl: string): ActionRunner {
  return {
    type: 'callback',
    async run(configuration: unknown, context: ActionContext): Promise<ActionResult> {
      const config = isRecord(configuration) ? configuration : {};
      if (config.action === 'create') {
        const schema = schemaOf(config.schema);
        const id = randomUUID();
        const token = randomBytes(24).toString('base64url');
        await store.query(
          `INSERT INTO callback (id, token_hash, resolution_id, step_name, schema) VALUES ($1, $2, $3, $4, $5)`,
          [
            id,
            hashToken(token),
            context.resolutionId,
            context.stepName,
            schema ? JSON.stringify(schema) : null,
          ],
        );
        const url = `${baseUrl.replace(/\/+$/, '')}${CALLBACK_PATH}${id}?t=${token}`;
        return { output: { id, url, schema: schema ?? null } };
      }
      if (config.action === 'wait') {
        if (typeof config.id !== 'string' || config.id === '') {
          throw new ActionError('client', 'configuration.id: the id of the callback to wait for is required');
        }
        const { rows } = await store.query<CallbackRow>('SELECT * FROM callback WHERE id::text = $1', [
          config.id,
        ]);
        const callback = rows[0];
        if (!callback) throw new ActionError('client', `configuration.id: no callback ${config.id}`);
        if (!callback.called_at) {
          throw new ActionError('waiting', `waiting for callback ${callback.id} to be called`);
        }
        return {
          output: { id: callback.id, body: callback.body, date: new Date(callback.called_at).toISOString() },
        };
      }
      throw new ActionError(
        'client',
        `configuration.action: "create" or "wait" is expected, got ${JSON.stringify(config.action)}`,
      );
    },
  };
}

/**
 * Resolves a callback: checks its token (constant time) and the body against its schema,
 * stores the body and makes its resolution due now, in one transaction. A callback is
 * resolved once; calling it again is refused.
 */
export async function resolveCallback(db: Store, id: string, token: string, body: unknown): Promise<void> {
  await db.transaction(async (tx: Queryable) => {
    const { rows } = await tx.query<CallbackRow>('SELECT * FROM callback WHERE id::text = $1 FOR UPDATE', [
      id,
    ]);
    const callback = rows[0];
    const given = Buffer.from(hashToken(token));
    if (!callback || !timingSafeEqual(given, Buffer.from(callback.token_hash))) {
      throw new TaskhostError('TH_CALLBACK_NOT_FOUND', 'no callback with that id and token');
    }
    if (callback.called_at) {
      throw new TaskhostError('TH_CALLBACK_RESOLVED', `callback ${id} was already called`);
    }
    if (callback.schema) {
      const problems = checkAgainst(callback.schema, body, 'body');
      if (problems) {
        throw new TaskhostError('TH_REQUEST_INVALID', `the callback's schema refuses the body: ${problems}`);
      }
    }
    await tx.query('UPDATE callback SET body = $2, called_at = now() WHERE id = $1', [
      callback.id,
      JSON.stringify(body ?? null),
    ]);
    await tx.query(
      `WITH woken AS (
         UPDATE resolution SET next_retry = now() WHERE id = $1 AND state NOT IN ('DONE', 'CANCELLED') RETURNING id
       )
       SELECT pg_notify('taskhost_due', id::text) FROM woken`,
      [callback.resolution_id],
    );
  });
}
