import type { Store } from '../store/store.ts';
import { writeTransitions, type FencedTransition } from '../store/queries/transition-batch.ts';
import { writeTransition, type StoredTransition } from '../store/queries/tasks.ts';

/**
 * Statements of transitions in flight at once, a store: one, and a second only once
 * SECOND_AT transitions wait. Why, measured with 100 resolutions running (600 3-echo tasks,
 * one instance, pairs of rounds against the one-statement build on one cluster): with one
 * statement at a time, PostgreSQL and the engine take turns (a batch is written while the
 * engine waits, then the engine works through its answers while PostgreSQL waits), both
 * cores ~55% busy; a second statement as soon as anything waits made batches small and
 * concurrent batches contend for the same pages (PostgreSQL CPU +30%, no faster); a second
 * statement once enough transitions wait lets the first answers go back to PostgreSQL while
 * the engine is still on the rest: 1.12-1.20x the tasks/s at 48 in three such comparisons
 * (32: 1.13x, 16: 1.08x, 64: 1.05x). Since transitions go out at the end of the event loop's
 * turn (see write), 24: 1.03-1.04x over 48 with one instance, 1.03-1.06x with three; 12: as 24.
 * Several instances still write at once, a statement each.
 */
const IN_FLIGHT = 2;
const SECOND_AT = 24;

export interface TransitionBatcherOptions {
  /** Statements in flight at once (default IN_FLIGHT). */
  inFlight?: number;
  /** Transitions waiting before a statement goes out beside one under way (default SECOND_AT). */
  secondAt?: number;
}

/** Transitions a statement at most. */
const BATCH_MAX = 256;

interface Pending {
  transition: FencedTransition;
  resolve: (stored: StoredTransition) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit of the fenced transitions of every resolution this process runs.
 *
 * Why: a server runs many resolutions at once, and each step end is a transition that must be
 * committed before the next step starts. One statement a transition spends most of
 * PostgreSQL's time on what every statement costs (a round trip, an executor start, a
 * commit), not on the rows. Here the transitions of a turn of the event loop go out at its
 * end, together, when no statement is under way (no wait is added at low load); those that
 * come meanwhile wait for it to end and go out together, in one statement (writeTransitions),
 * or beside it once enough of them wait (SECOND_AT). Each is answered as if written alone:
 * what it stored, or its own error. Should a shared statement fail, each of its transitions is
 * written again alone, so one transition's failure (a constraint, a deadlock) is its own only.
 */
export class TransitionBatcher {
  private readonly store: Store;
  private readonly queue: Pending[] = [];
  private readonly maxInFlight: number;
  private readonly secondAt: number;
  private inFlight = 0;
  /** A pump is coming (write's setImmediate). */
  private pumping = false;
  /** Tasks with a transition in a statement under way: their next waits for it (their log stays in order). */
  private readonly busyTasks = new Set<string>();

  constructor(store: Store, options: TransitionBatcherOptions = {}) {
    this.store = store;
    this.maxInFlight = options.inFlight ?? IN_FLIGHT;
    this.secondAt = options.secondAt ?? SECOND_AT;
  }

  /**
   * Queues a transition; the queue goes out once the work under way in this turn of the event
   * loop is done. Why: a statement's answers let the resolutions it served go on all at once,
   * each to its next step and transition; sent as each came, the first went out alone and the
   * rest waited for it. Gathered, they go out in one statement (paired rounds, one instance:
   * PostgreSQL CPU a task -14%, the serve's -10%, 1.04-1.06x tasks/s).
   */
  write(transition: FencedTransition): Promise<StoredTransition> {
    return new Promise((resolve, reject) => {
      this.queue.push({ transition, resolve, reject });
      this.pumpSoon();
    });
  }

  /** Pumps once the turn of the event loop under way is done (its transitions all queued). */
  private pumpSoon(): void {
    if (this.pumping) return;
    this.pumping = true;
    setImmediate(() => {
      this.pumping = false;
      this.pump();
    });
  }

  private pump(): void {
    while (
      this.inFlight < this.maxInFlight &&
      this.queue.length > 0 &&
      (this.inFlight === 0 || this.queue.length >= this.secondAt)
    ) {
      const batch = this.take();
      if (batch.length === 0) return;
      this.inFlight += 1;
      for (const pending of batch) this.busyTasks.add(pending.transition.taskId);
      void this.send(batch).finally(() => {
        this.inFlight -= 1;
        for (const pending of batch) this.busyTasks.delete(pending.transition.taskId);
        this.pumpSoon();
      });
    }
  }

  /**
   * The next batch: queued transitions in order, one a task, none of a task whose transition
   * is under way (a task's log is written in order).
   */
  private take(): Pending[] {
    const tasks = new Set<string>(this.busyTasks);
    const batch: Pending[] = [];
    for (let i = 0; i < this.queue.length && batch.length < BATCH_MAX;) {
      const pending = this.queue[i] as Pending;
      if (tasks.has(pending.transition.taskId)) {
        i += 1;
        continue;
      }
      tasks.add(pending.transition.taskId);
      batch.push(pending);
      this.queue.splice(i, 1);
    }
    return batch;
  }

  private async send(batch: readonly Pending[]): Promise<void> {
    if (batch.length === 1) {
      await this.alone(batch[0] as Pending);
      return;
    }
    let answers: (StoredTransition | Error)[];
    try {
      answers = await writeTransitions(
        this.store,
        batch.map((pending) => pending.transition),
      );
    } catch {
      await Promise.all(batch.map((pending) => this.alone(pending)));
      return;
    }
    batch.forEach((pending, i) => {
      const answer = answers[i] as StoredTransition | Error;
      if (answer instanceof Error) pending.reject(answer);
      else pending.resolve(answer);
    });
  }

  private async alone({ transition, resolve, reject }: Pending): Promise<void> {
    const { taskId, events, write, fence } = transition;
    await writeTransition(this.store, taskId, events, write, fence).then(resolve, reject);
  }
}

const batchers = new WeakMap<Store, TransitionBatcher>();

/** The store's transition batcher (one a store, so a process's resolutions share it). */
export function transitionBatcher(store: Store): TransitionBatcher {
  let batcher = batchers.get(store);
  if (!batcher) {
    batcher = new TransitionBatcher(store);
    batchers.set(store, batcher);
  }
  return batcher;
}
