import type { Store } from '../store/store.ts';
import { recollectLocalRuns, recollectSilentInstances } from '../runs/recollect.ts';
import { isTaskhostError } from '../errors.ts';
import { dropStaleWatches } from '../store/queries/stream-watch.ts';
import { registerDueTaker } from './local-due.ts';
import { claimDueResolutions, DUE_CONDITION, type ClaimedResolution } from '../store/queries/tasks.ts';
import { runClaimed, type EngineServices, type ResolutionOutcome } from './resolver.ts';

/**
 * Scheduling on PostgreSQL, for a server: PostgreSQL is the queue (as for µTask and
 * graphile-worker), no second one. Any instance may run any due resolution:
 * - an `auto_runnable` task's TODO resolution, at once;
 * - a resolution in ERROR, WAITING (woken) or TO_AUTORUN_DELAYED, once its next_retry is due;
 * - a CRASHED one, or one RUNNING under an owner that is gone (re-collected).
 * Due resolutions are found and claimed in one statement with FOR UPDATE SKIP LOCKED
 * (claimDueResolutions), so no two instances run one at once. A NOTIFY on `taskhost_due`
 * wakes the loop at once; a poll is the fallback (a lost notification, a next_retry reached).
 *
 * Crash re-collection: a taskhost process of this host that died is found by its pid at
 * every pass (runs/recollect.ts: its plugin groups killed, its runs failed). On any host,
 * a server instance whose heartbeat is older than `deathTimeoutMs` is dead, or hung, which
 * is the same to the others: a live one kills its plugin groups if it is on this host,
 * marks its unfinished runs failed and removes its row (its resolutions' owner becomes
 * NULL: RUNNING and ownerless means crashed, recovered per `idempotent` when claimed).
 */

export const DUE_CHANNEL = 'taskhost_due';

export interface SchedulerOptions {
  /** Resolutions this instance runs at once (`max_concurrent_executions`; 0 = none, -1 = no limit). */
  maxConcurrent?: number;
  /** The fallback poll (default 1 s). */
  pollIntervalMs?: number;
  /** A server instance silent this long is dead (default 30 s: re-collected within 60 s). */
  deathTimeoutMs?: number;
  /** Told of a failure of the loop (logged; the loop goes on). */
  onError?: (error: unknown) => void;
  /**
   * Told when this instance lost a resolution it ran: it was taken for dead (its heartbeat
   * stopped) and another took the resolution over; its late results were refused.
   * Default: onError.
   */
  onLost?: (resolutionId: string, error: unknown) => void;
  /** Told when a resolution run this instance claimed has ended. */
  onSettled?: (resolutionId: string, outcome: ResolutionOutcome) => void;
}

/** The resolutions due now, oldest first (what claimDueResolutions claims, in one statement). */
export const DUE_QUERY = `
  SELECT id FROM resolution WHERE ${DUE_CONDITION}
   ORDER BY next_retry NULLS FIRST, created_at
   LIMIT $1
   FOR UPDATE SKIP LOCKED`;

/** Makes resolutions due for the schedulers of every instance (a NOTIFY, delivered on commit). */
export async function notifyDue(db: Pick<Store, 'query'>): Promise<void> {
  await db.query(`SELECT pg_notify('${DUE_CHANNEL}', '')`);
}

export class Scheduler {
  private readonly services: EngineServices;
  private readonly store: Store;
  private readonly maxConcurrent: number;
  private readonly pollIntervalMs: number;
  private readonly deathTimeoutMs: number;
  private readonly onError: (error: unknown) => void;
  private readonly onLost: NonNullable<SchedulerOptions['onLost']>;
  private readonly onSettled: NonNullable<SchedulerOptions['onSettled']>;
  private readonly running = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | null = null;
  private unlisten: (() => void) | null = null;
  private unregister: (() => void) | null = null;
  private pass: Promise<void> | null = null;
  private again = false;
  /** A wake-up is coming (wake's setImmediate). */
  private waking = false;
  /** Resolutions whose last statement (their settle) is under way: their slots are free. */
  private readonly settling = new Set<string>();
  /** Slots the claim pass under way may fill. */
  private reserved = 0;
  /** Dead instances are looked for on the next pass (at start, then once a poll). */
  private collectNext = true;
  private stopped = false;

  constructor(services: EngineServices, options: SchedulerOptions = {}) {
    this.services = services;
    this.store = services.store;
    const max = options.maxConcurrent ?? 100;
    this.maxConcurrent = max < 0 ? Number.POSITIVE_INFINITY : max;
    this.pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.deathTimeoutMs = options.deathTimeoutMs ?? 30_000;
    this.onError = options.onError ?? (() => undefined);
    this.onLost = options.onLost ?? ((_id, error) => this.onError(error));
    this.onSettled = options.onSettled ?? (() => undefined);
  }

  /** Resolutions this instance runs now. */
  get active(): number {
    return this.running.size;
  }

  async start(): Promise<void> {
    this.unlisten = await this.store.listen(DUE_CHANNEL, () => this.wake());
    this.unregister = registerDueTaker(this.store, {
      hasRoom: () => !this.stopped && this.room() > 0,
      wake: () => this.wake(),
    });
    this.timer = setInterval(() => {
      this.collectNext = true;
      this.wake();
    }, this.pollIntervalMs);
    this.timer.unref();
    this.wake();
  }

  /**
   * Looks for due work soon: once the work under way in this turn of the event loop is done
   * (a statement's answers end many resolutions at once: their wake-ups make one pass).
   */
  wake(): void {
    if (this.waking) return;
    this.waking = true;
    setImmediate(() => {
      this.waking = false;
      void this.claimNow();
    });
  }

  /** One claim pass (or the one under way); resolves when its claims are made, not run. */
  claimNow(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.pass) {
      this.again = true;
      return this.pass;
    }
    this.pass = this.claimPass()
      .catch((error: unknown) => this.onError(error))
      .finally(() => {
        this.pass = null;
        if (this.again) {
          this.again = false;
          this.wake();
        }
      });
    return this.pass;
  }

  /** Resolutions this instance may claim now. */
  private room(): number {
    return this.maxConcurrent - this.running.size + this.settling.size - this.reserved;
  }

  private async claimPass(): Promise<void> {
    // Once a poll (not on every wake-up: those come with each step's end), the dead are
    // looked for. A taskhost of this host that died (even SIGKILLed) is seen by its pid: its
    // plugins are killed and its runs failed; its resolutions, ownerless, are taken below.
    if (this.collectNext) {
      this.collectNext = false;
      await recollectLocalRuns(this.store, this.services.owner?.id ?? null);
      await recollectSilentInstances(this.store, this.deathTimeoutMs, this.services.owner?.id ?? null);
      await dropStaleWatches(this.store);
    }
    const room = this.room();
    if (room <= 0) return;
    const limit = Number.isFinite(room) ? room : 100;
    this.reserved += limit;
    let claims: ClaimedResolution[];
    try {
      // Claimed in the statement that finds them: instances polling together never race for
      // one resolution (rows another holds are skipped), and a claim costs no statement of its own.
      claims = await claimDueResolutions(this.store, limit, this.services.owner?.claim() ?? null);
    } finally {
      this.reserved -= limit;
    }
    for (const claim of claims) {
      const id = claim.row.id;
      // Its slot is free once its last statement goes out: the next resolution is claimed
      // while that statement is written, not after (a pass after each end left a third of
      // the slots empty with 100 at once, the claims' round trips in line with the runs').
      const settling = (): void => {
        this.settling.add(id);
        this.wake();
      };
      const work = runClaimed(this.services, claim, settling)
        .then((outcome) => this.onSettled(id, outcome))
        .catch((error: unknown) => {
          // Another instance took it first, or its state changed: not a failure.
          if (isTaskhostError(error) && /^TH_RESOLUTION_(BUSY|STATE)$/.test(error.code)) return;
          if (isTaskhostError(error) && error.code === 'TH_RESOLUTION_LOST') this.onLost(id, error);
          else this.onError(error);
        })
        .finally(() => {
          this.running.delete(id);
          this.settling.delete(id);
          this.wake();
        });
      this.running.set(id, work);
    }
  }

  /** Stops claiming, then waits for the resolutions under way (their steps are told by the services' signal). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.unlisten?.();
    this.unregister?.();
    await this.pass?.catch(() => undefined);
    await Promise.all(this.running.values());
    // Whatever is still held here (a run that could not write its own release) is released
    // as CRASHED now, while this instance's row still stands, so nothing stays RUNNING
    // under an instance that is going away; any other instance claims it at once.
    const owner = this.services.owner?.id;
    if (owner) {
      await this.store
        .query(
          `UPDATE resolution SET state = 'CRASHED', instance_id = NULL, last_stop = now()
            WHERE instance_id = $1 AND state = 'RUNNING'`,
          [owner],
        )
        .catch((error: unknown) => this.onError(error));
    }
  }
}
