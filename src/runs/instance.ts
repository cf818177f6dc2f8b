import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { VERSION } from '../version.ts';
import {
  deleteInstances,
  heartbeatInstance,
  insertInstance,
  type InstanceRow,
} from '../store/queries/instances.ts';
import type { Queryable, Store } from '../store/store.ts';
import { processStartOf } from '../system/processes.ts';

/** How often a server says it is alive (the scale-out collectors read `heartbeat_at`). */
export const HEARTBEAT_INTERVAL_MS = 10_000;

/**
 * This process as the owner of the runs it starts: an `instance` row naming its host, pid
 * and start time, so that if it dies (even by SIGKILL) the next taskhost start on this host
 * finds its runs and the plugins it left running (runs/recollect.ts).
 *
 * A CLI command registers its instance with its first run, in the same statement; a server
 * registers at start and heartbeats. Either removes its row when it stops cleanly.
 */
export class Instance {
  readonly row: InstanceRow;
  private readonly store: Store;
  private timer: NodeJS.Timeout | null = null;
  private used = false;
  private released = false;

  constructor(store: Store, kind: InstanceRow['kind']) {
    this.store = store;
    this.row = {
      id: randomUUID(),
      kind,
      hostname: os.hostname(),
      pid: process.pid,
      process_start: processStartOf('self'),
      version: VERSION,
    };
  }

  get id(): string {
    return this.row.id;
  }

  /** The row, for a statement that registers it along with a run it now owns. */
  claim(): InstanceRow {
    this.used = true;
    return this.row;
  }

  /** Registers now and heartbeats until stop() (a server). */
  async start(intervalMs = HEARTBEAT_INTERVAL_MS): Promise<void> {
    await insertInstance(this.store, this.claim());
    this.timer = setInterval(() => {
      // A missed beat while PostgreSQL restarts is made up by the next one.
      heartbeatInstance(this.store, this.row.id).catch(() => undefined);
    }, intervalMs);
    this.timer.unref();
  }

  /**
   * Removes the row inside the caller's transaction (the last run's end, for a CLI command),
   * so that stopping costs no statement of its own.
   */
  async releaseIn(db: Queryable): Promise<void> {
    if (!this.used) return;
    await deleteInstances(db, [this.row.id]);
    this.released = true;
  }

  /** Removes the row (its runs are over: their owner column goes back to null). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (!this.used || this.released || this.store.isClosed) return;
    await deleteInstances(this.store, [this.row.id]).catch(() => undefined);
  }
}
