import os from 'node:os';
import { TaskhostError } from '../errors.ts';

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

/** Calls `fn` on every item, at most `limit` at once; resolves when all are done. */
export async function forEachLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next;
      next += 1;
      await fn(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
