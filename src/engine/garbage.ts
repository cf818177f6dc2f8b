import type { Store } from '../store/store.ts';

/**
 * µTask's garbage collector (`completed_task_expiration`): a task that ended DONE, CANCELLED
 * or WONTFIX and saw no activity for that long is deleted with everything it holds (its
 * resolution and steps, comments, runs, callbacks, and the event logs of the task and of its
 * runs), then the batches left without a task. Every server instance collects: rows are taken
 * with SKIP LOCKED, a few hundred at a time, so instances share the work and no transaction
 * grows with the backlog. A zero expiration keeps tasks for good.
 */

/** Tasks deleted per statement. */
const BATCH = 500;

/** The longest wait between two collections (µTask waits a day; expiry is seen sooner here). */
const MAX_INTERVAL_MS = 3_600_000;

/** Deletes the tasks that expired; returns how many. */
export async function deleteExpiredTasks(store: Store, expirationMs: number): Promise<number> {
  if (expirationMs <= 0) return 0;
  let total = 0;
  for (;;) {
    const { rows } = await store.query<{ n: string }>(
      `WITH doomed AS (
         SELECT id FROM task
          WHERE state IN ('DONE', 'CANCELLED', 'WONTFIX')
            AND last_activity < now() - make_interval(secs => $1)
          LIMIT $2 FOR UPDATE SKIP LOCKED),
       logs AS (
         DELETE FROM event
          WHERE stream_id IN (SELECT id FROM doomed UNION ALL
                              SELECT run.id FROM run JOIN doomed ON run.task_id = doomed.id)),
       deleted AS (DELETE FROM task WHERE id IN (SELECT id FROM doomed) RETURNING 1)
       SELECT count(*) AS n FROM deleted`,
      [expirationMs / 1000, BATCH],
    );
    const deleted = Number(rows[0]?.n ?? 0);
    total += deleted;
    if (deleted < BATCH) break;
  }
  await store.query('DELETE FROM batch WHERE NOT EXISTS (SELECT 1 FROM task WHERE task.batch_id = batch.id)');
  return total;
}

/** Runs deleteExpiredTasks at start, then every `expiration` (at most an hour apart). */
export class GarbageCollector {
  private timer: NodeJS.Timeout | null = null;
  private pass: Promise<void> = Promise.resolve();
  private readonly store: Store;
  private readonly expirationMs: number;
  private readonly onError: (error: unknown) => void;

  constructor(store: Store, expirationMs: number, onError: (error: unknown) => void) {
    this.store = store;
    this.expirationMs = expirationMs;
    this.onError = onError;
  }

  start(): void {
    if (this.expirationMs <= 0 || this.timer) return;
    const collect = (): void => {
      this.pass = deleteExpiredTasks(this.store, this.expirationMs).then(() => undefined, this.onError);
    };
    collect();
    this.timer = setInterval(collect, Math.max(1000, Math.min(this.expirationMs, MAX_INTERVAL_MS)));
    this.timer.unref();
  }

  /** Stops collecting, once the pass under way (if any) is over. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.pass;
  }
}
