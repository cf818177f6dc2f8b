import {
  writeTransition,
  type NewTaskEvent,
  type ResolutionFence,
  type StepRunProcess,
  type StoredTransition,
  type TransitionWrite,
} from '../store/queries/tasks.ts';
import type { Queryable, Store } from '../store/store.ts';
import type { EventHub } from '../stream/hub.ts';
import { transitionBatcher } from './transition-batcher.ts';

const FLUSH_BATCH = 1000;

/** What a transition writes besides its events (process groups are the log's own). */
export type TransitionRows = Omit<TransitionWrite, 'runProcesses'>;
/** How long lines wait for more lines (or their step's end) before they are written. */
const LINE_DELAY_MS = 15;
/** The longest a running plugin's process group waits for a write to ride along with. */
const PROCESS_DELAY_MS = 100;

/**
 * The writer of one task's event log in this process: the lines its steps' actions print,
 * and its step and task state changes, in one order.
 *
 * Why the store numbers events, not this writer: several writers share a task's log (the
 * steps running at once here, other instances later). Each commit takes its seqs from the
 * task row (appendTaskEvents), whose lock orders the commits, so the log is gap-free and
 * strictly increasing whoever writes.
 *
 * Lines are group-committed: written LINE_DELAY_MS after the first of a burst, with those
 * printed meanwhile. A transition stores the lines before it with its own events and row
 * changes in one statement (`transition`; `commit` for the rarer ones, in a transaction):
 * the engine awaits it before starting the next step, so a crash loses nothing done. Events are published to this process's subscribers only once
 * committed; a failed insert is retried for as long as the store is open.
 */
export class TaskLog {
  readonly taskId: string;
  private readonly store: Store;
  private readonly hub: EventHub | null;
  private lines: NewTaskEvent[] = [];
  private processes: StepRunProcess[] = [];
  private processTimer: NodeJS.Timeout | null = null;
  private chain: Promise<void> = Promise.resolve();
  /** The write of the lines waiting (LINE_DELAY_MS after the first), if one is due. */
  private lineTimer: NodeJS.Timeout | null = null;
  private failure: Error | null = null;
  private readonly fence: ResolutionFence | null;

  /**
   * With a `fence`, every write (lines too) is refused once the resolution is no longer the
   * fence owner's, with TH_RESOLUTION_LOST (writeTransition), and so is every later one.
   */
  constructor(store: Store, hub: EventHub | null, taskId: string, fence: ResolutionFence | null = null) {
    this.store = store;
    this.hub = hub;
    this.taskId = taskId;
    this.fence = fence;
  }

  /** A line an action printed (`step` names the step). */
  line(step: string, stream: string, text: string): void {
    this.lines.push({ type: 'log', step, stream, line: text, ts: new Date().toISOString() });
    if (this.lineTimer) return;
    // A short wait gathers a burst of lines into one write, and a step that ends meanwhile
    // takes its last lines with its end (one statement instead of two).
    this.lineTimer = setTimeout(() => {
      this.lineTimer = null;
      this.enqueue(async () => {
        while (this.lines.length > 0) await this.write(this.lines.splice(0, FLUSH_BATCH), null);
        return null;
      }).catch(() => undefined);
    }, LINE_DELAY_MS);
  }

  /**
   * Records a step run's process group. It rides along with the next write (the plugin's
   * first lines, or its end: a short plugin costs no write of its own), or goes alone after
   * PROCESS_DELAY_MS, so a plugin that prints nothing is recorded while it runs. Should this
   * process die before, the next start finds the group by the run id in its environment
   * (runs/recollect.ts).
   */
  recordProcess(process: StepRunProcess): void {
    this.processes.push(process);
    this.processTimer ??= setTimeout(() => {
      this.processTimer = null;
      if (this.processes.length > 0) this.enqueue(() => this.write([], null)).catch(() => undefined);
    }, PROCESS_DELAY_MS);
  }

  /**
   * Commits a transition: the lines appended before it, its events, its step rows and runs
   * (writeTransition, one statement; a settle too). With `alongside` (the rarer transitions:
   * crash recovery, a parent to wake), in one transaction with those statements. Resolves
   * once committed, with the next_retry a settle kept (else null).
   */
  commit(
    events: readonly NewTaskEvent[],
    write: TransitionRows | null,
    alongside?: (db: Queryable) => Promise<void>,
  ): Promise<Date | null> {
    return this.enqueue(async () => {
      const pending = this.lines.splice(0, this.lines.length);
      // Those lines go now: their timer would only hold the process (a CLI's exit) for nothing.
      if (this.lineTimer) clearTimeout(this.lineTimer);
      this.lineTimer = null;
      return this.write([...pending, ...events], write, alongside);
    });
  }

  private enqueue<T>(work: () => Promise<T>): Promise<T> {
    const next = this.chain.then(() => {
      if (this.failure) throw this.failure;
      return work();
    });
    this.chain = next.then(
      () => undefined,
      (error: unknown) => {
        this.failure ??= error as Error;
      },
    );
    return next;
  }

  /** One statement (or transaction, with `alongside`): events, rows, and the process groups waiting. */
  private async write(
    events: readonly NewTaskEvent[],
    write: TransitionRows | null,
    alongside?: (db: Queryable) => Promise<void>,
  ): Promise<Date | null> {
    // A run that ends in this write needs no process group any more.
    const ending = new Set((write?.runEnds ?? []).map((end) => end.id));
    const processes = this.processes
      .splice(0, this.processes.length)
      .filter((entry) => !ending.has(entry.id));
    // Taken here: their own write is not needed, and its timer would hold a CLI's exit for
    // up to PROCESS_DELAY_MS (measured: `taskhost run` of one step ended ~95 ms after its work).
    if (this.processTimer) clearTimeout(this.processTimer);
    this.processTimer = null;
    if (events.length === 0 && !write && !alongside && processes.length === 0) return null;
    const rows: TransitionWrite | null =
      write || processes.length > 0
        ? {
            resolutionId: write?.resolutionId ?? '00000000-0000-0000-0000-000000000000',
            steps: write?.steps ?? [],
            removed: write?.removed ?? [],
            runStarts: write?.runStarts ?? [],
            runEnds: write?.runEnds ?? [],
            runProcesses: processes,
            task: write?.task,
            resolutionEnd: write?.resolutionEnd,
          }
        : null;
    let stored: StoredTransition;
    try {
      stored = await this.store.retrying((store) =>
        alongside
          ? store.transaction(async (db) => {
              const numbered = await writeTransition(db, this.taskId, events, rows, this.fence);
              await alongside(db);
              return numbered;
            })
          : this.fence
            ? transitionBatcher(store).write({ taskId: this.taskId, events, write: rows, fence: this.fence })
            : writeTransition(store, this.taskId, events, rows, this.fence),
      );
    } catch (error) {
      this.processes.unshift(...processes);
      throw error;
    }
    if (this.hub) for (const event of stored.events) this.hub.publish(this.taskId, event);
    return stored.nextRetry;
  }
}
