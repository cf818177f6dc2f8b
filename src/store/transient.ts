import { setTimeout as sleep } from 'node:timers/promises';
import { TaskhostError } from '../errors.ts';

/**
 * Errors that say "PostgreSQL is not there right now" (restarting, unreachable, out of
 * connections) rather than "this statement is wrong": worth trying again after a pause.
 */

// SQLSTATE classes and codes: 08 connection exceptions; 57P01-57P03 admin or crash
// shutdown, cannot connect now (starting up); 53300 too many connections; 40001/40P01
// serialization failure and deadlock, which a retry resolves.
const TRANSIENT_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300', '40001', '40P01']);
const TRANSIENT_ERRNOS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOENT', // the Unix socket is gone while the postmaster restarts
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);
// What pg says when a connection drops under a query or a pool client.
const TRANSIENT_MESSAGES = [
  /connection terminated/i,
  /connection (?:is )?closed/i,
  /not queryable/i,
  /timeout exceeded when trying to connect/i,
  /terminating connection/i,
  /the database system is (?:starting up|shutting down|in recovery mode)/i,
];

export function isTransientStoreError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (TRANSIENT_SQLSTATES.has(code) || code.startsWith('08') || TRANSIENT_ERRNOS.has(code)) return true;
  }
  if (TRANSIENT_MESSAGES.some((pattern) => pattern.test(error.message))) return true;
  const cause = (error as { cause?: unknown }).cause;
  return cause !== undefined && cause !== error && isTransientStoreError(cause);
}

export interface RetryOptions {
  /** Stops retrying (the last error is thrown) once this says so, e.g. when the store closes. */
  stopped?: () => boolean;
  /** Told about each failed attempt before the pause. */
  onRetry?: (error: unknown, attempt: number) => void;
  firstDelayMs?: number;
  maxDelayMs?: number;
}

/**
 * Runs `fn` until it succeeds or fails with a non-transient error; transient errors are
 * retried after 50 ms, doubling to at most 2 s between attempts, for as long as `stopped`
 * allows. `fn` must be safe to run twice (an insert that may have committed before its
 * answer was lost must not fail on the second try: ON CONFLICT DO NOTHING).
 */
export async function retryTransient<T>(fn: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  let delay = options.firstDelayMs ?? 50;
  const maxDelay = options.maxDelayMs ?? 2000;
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await fn();
    } catch (error) {
      if (!isTransientStoreError(error) || options.stopped?.()) throw error;
      options.onRetry?.(error, attempt);
      await sleep(delay);
      delay = Math.min(delay * 2, maxDelay);
      if (options.stopped?.()) {
        throw new TaskhostError('TH_STORE_UNAVAILABLE', `gave up on the store: ${(error as Error).message}`, {
          cause: error,
        });
      }
    }
  }
}
