import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { TaskhostError } from '../errors.ts';
import type { OutputLine } from '../plugins/output.ts';
import { StepState } from '../protocol/states.ts';
import { failLiveRuns, insertRuns } from '../store/queries/runs.ts';
import { resultEnvelope } from './envelope.ts';
import { executeCreatedRun, newRun, type ExecuteRequest } from './execute.ts';

/** The task registry's RunAll rule: N at once, 0 = CPU count, -1 = 128. */
export function resolveConcurrency(value: number | string, field = 'concurrency'): number {
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(n) || n < -1) {
    throw new TaskhostError(
      'TH_REQUEST_INVALID',
      `${field} must be an integer: N > 0, 0 for the CPU count, -1 for 128`,
    );
  }
  if (n === 0) return os.availableParallelism();
  if (n === -1) return 128;
  return n;
}

/**
 * Calls `fn` on every item, at most `limit` at once; resolves when all are done. Once
 * `signal` is aborted no new item starts: the indexes never started are returned.
 */
export async function forEachLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<void>,
  signal?: AbortSignal,
): Promise<number[]> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length && !signal?.aborted) {
      const index = next;
      next += 1;
      await fn(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return Array.from({ length: items.length - next }, (_, offset) => next + offset);
}

/** The rows of a batch insert, at most this many per statement. */
const INSERT_CHUNK = 5000;

export interface BatchRequest extends Omit<ExecuteRequest, 'data' | 'runId' | 'batchId' | 'onLine'> {
  items: readonly unknown[];
  limit: number;
  /** Every line of item `index`'s plugin, as it is written. */
  onLine?: (index: number, line: OutputLine) => void;
  /** Item `index` starts. */
  onStart?: (index: number) => void;
  /** Item `index` ended (ran, or was cancelled before it started) with this envelope. */
  onResult?: (index: number, envelope: Record<string, unknown>) => void;
}

export interface CreatedBatch {
  batchId: string;
  runIds: string[];
}

/** Stores every run of a batch at once (TODO), so each can be read and followed at once. */
export async function createBatch(request: BatchRequest): Promise<CreatedBatch> {
  const batchId = randomUUID();
  const runs = request.items.map((data) => newRun({ ...request, data, batchId, onLine: undefined }));
  const owner = request.owner?.claim() ?? null;
  for (let start = 0; start < runs.length; start += INSERT_CHUNK) {
    await insertRuns(request.store, runs.slice(start, start + INSERT_CHUNK), owner);
  }
  return { batchId, runIds: runs.map((run) => run.id) };
}

/**
 * Runs a created batch, at most `limit` at once, and returns each item's envelope in order.
 * When `signal` aborts (Ctrl-C, a server stopping), running items are cancelled and the
 * items that never started are recorded as cancelled in one statement, without spawning.
 */
export async function runBatch(
  request: BatchRequest,
  batch: CreatedBatch,
): Promise<Record<string, unknown>[]> {
  const envelopes: Record<string, unknown>[] = new Array(request.items.length);
  const ended = (index: number, envelope: Record<string, unknown>): void => {
    envelopes[index] = envelope;
    request.onResult?.(index, envelope);
  };
  const skipped = await forEachLimit(
    request.items,
    request.limit,
    async (data, index) => {
      const runId = batch.runIds[index] as string;
      request.onStart?.(index);
      const run = await executeCreatedRun({
        ...request,
        data,
        batchId: batch.batchId,
        runId,
        onLine: request.onLine ? (line) => request.onLine?.(index, line) : undefined,
      });
      ended(index, resultEnvelope(run.outcome, run.id));
    },
    request.signal,
  );
  if (skipped.length > 0) {
    const reason: unknown = request.signal?.reason;
    const error = `cancelled before it started${typeof reason === 'string' ? `: ${reason}` : ''}`;
    const ids = skipped.map((index) => batch.runIds[index] as string);
    await request.store.retrying((db) => failLiveRuns(db, ids, { error, killReason: 'cancelled' }));
    for (const index of skipped) {
      ended(
        index,
        resultEnvelope({ state: StepState.SERVER_ERROR, result: null, error }, batch.runIds[index] as string),
      );
    }
  }
  return envelopes;
}
