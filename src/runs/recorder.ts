import { TaskhostError } from '../errors.ts';
import { appendEvents, type StreamEvent } from '../store/queries/events.ts';
import type { Queryable, Store } from '../store/store.ts';
import type { EventHub } from '../stream/hub.ts';

const FLUSH_BATCH = 1000;

export type NewEvent = Omit<StreamEvent, 'seq' | 'ts' | 'step' | 'stream' | 'line' | 'state'> &
  Partial<Pick<StreamEvent, 'step' | 'stream' | 'line' | 'state'>>;

export interface RecorderOptions {
  /** Told about each store error that is being retried (for the log). */
  onStoreError?: (error: unknown) => void;
}

/**
 * The single writer of one stream's events: numbers them, stores them, and hands each to
 * this process's subscribers once it is committed.
 *
 * Storing is a group commit: when no insert is under way, the events appended so far go
 * out at once (the lines of one read arrive together and share an insert); those appended
 * while an insert runs wait for the next one. A plugin writing thousands of lines a second
 * costs a few inserts a second, and a lone line costs one insert's latency.
 *
 * Why publish after commit: a subscriber must never see an event that the store then
 * loses (it would resume from a seq that does not exist). Why retry: PostgreSQL may restart
 * under a running plugin. A failed insert is retried with backoff (inserts are idempotent,
 * ON CONFLICT DO NOTHING) for as long as the store is open, and nothing after it is stored
 * or published before it, so the log stays gap-free. Only closing the store gives up: the
 * run then stays RUNNING under a dead owner, and the next taskhost start marks it failed
 * (runs/recollect.ts).
 */
export class EventRecorder {
  readonly streamId: string;
  private readonly store: Store;
  private readonly hub: EventHub | null;
  private readonly options: RecorderOptions;
  private seq: number;
  private queue: StreamEvent[] = [];
  /** Statements to commit with the next batch of events (in one transaction). */
  private along: ((db: Queryable) => Promise<void>)[] = [];
  private flushing: Promise<void> | null = null;
  private scheduled = false;
  private failure: Error | null = null;

  constructor(
    store: Store,
    hub: EventHub | null,
    streamId: string,
    startSeq = 0,
    options: RecorderOptions = {},
  ) {
    this.store = store;
    this.hub = hub;
    this.streamId = streamId;
    this.seq = startSeq;
    this.options = options;
  }

  get lastSeq(): number {
    return this.seq;
  }

  append(partial: NewEvent): StreamEvent {
    const event = this.next(partial);
    this.queue.push(event);
    this.schedule();
    return event;
  }

  private next(partial: NewEvent): StreamEvent {
    this.seq += 1;
    const event: StreamEvent = {
      seq: this.seq,
      type: partial.type,
      step: partial.step ?? null,
      stream: partial.stream ?? null,
      line: partial.line ?? null,
      state: partial.state ?? null,
      ts: new Date().toISOString(),
    };
    if (partial.data) event.data = partial.data;
    return event;
  }

  /**
   * Commits `write` (idempotent: it may run again on a retry) with the next batch of events,
   * in one transaction: the run's process group reaches its row with its first lines, for
   * no commit of its own.
   */
  withNextFlush(write: (db: Queryable) => Promise<void>): void {
    this.along.push(write);
    this.schedule();
  }

  private schedule(): void {
    if (this.flushing || this.scheduled || this.failure) return;
    // After the current callback: the other lines of the same read join this insert.
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flushNow();
    });
  }

  private flushNow(): Promise<void> {
    if (this.flushing) return this.flushing;
    this.flushing = (async () => {
      try {
        while (this.queue.length > 0 || this.along.length > 0) {
          const batch = this.queue.slice(0, FLUSH_BATCH);
          const along = this.along;
          const last = batch.at(-1);
          if (last) this.hub?.announce(this.streamId, last.seq);
          await this.store.retrying(
            (store) =>
              along.length === 0
                ? appendEvents(store, this.streamId, batch)
                : store.transaction(async (db) => {
                    await appendEvents(db, this.streamId, batch);
                    for (const write of along) await write(db);
                  }),
            { onRetry: this.options.onStoreError },
          );
          this.along = this.along.slice(along.length);
          this.queue.splice(0, batch.length);
          if (this.hub) for (const event of batch) this.hub.publish(this.streamId, event);
        }
      } catch (error) {
        // Only a closed store (or a statement PostgreSQL refuses outright) ends up here.
        this.failure = error as Error;
        this.hub?.announce(this.streamId, null);
      } finally {
        this.flushing = null;
      }
    })();
    return this.flushing;
  }

  /** Stores everything appended so far; throws if the store gave up. */
  async flush(): Promise<void> {
    while (this.queue.length > 0 || this.along.length > 0 || this.flushing) {
      if (this.failure) break;
      await this.flushNow();
    }
    if (this.failure) {
      throw new TaskhostError(
        'TH_STORE_UNAVAILABLE',
        `cannot store the events of ${this.streamId}: ${this.failure.message}`,
        {
          cause: this.failure,
        },
      );
    }
  }

  /**
   * Appends the stream's last event after everything before it is stored, committing it in
   * one transaction with `alongside` (e.g. the row's final state), retried like every
   * insert; it is published only once committed.
   */
  async finish(
    partial: NewEvent,
    alongside: (db: Queryable, lastSeq: number) => Promise<void>,
  ): Promise<StreamEvent> {
    await this.flush();
    const event = this.next(partial);
    this.hub?.announce(this.streamId, event.seq);
    try {
      await this.store.retrying(
        (store) =>
          store.transaction(async (db) => {
            await appendEvents(db, this.streamId, [event]);
            await alongside(db, event.seq);
          }),
        { onRetry: this.options.onStoreError },
      );
    } catch (error) {
      this.hub?.announce(this.streamId, null);
      throw error;
    }
    this.hub?.publish(this.streamId, event);
    return event;
  }
}
