import { appendEvents, type StreamEvent } from '../store/queries/events.ts';
import type { Queryable, Store } from '../store/store.ts';
import type { EventHub, LocalSource } from '../stream/hub.ts';

const FLUSH_DELAY_MS = 5;
const FLUSH_BATCH = 1000;

export type NewEvent = Omit<StreamEvent, 'seq' | 'ts' | 'step' | 'stream' | 'line' | 'state'> &
  Partial<Pick<StreamEvent, 'step' | 'stream' | 'line' | 'state'>>;

/**
 * The single writer of one stream's events: numbers them, hands each to this process's
 * subscribers at once, and stores them in batches (a few ms apart, or as soon as a batch
 * fills), so a plugin writing thousands of lines a second costs a few inserts a second.
 */
export class EventRecorder implements LocalSource {
  readonly streamId: string;
  private readonly store: Store;
  private readonly hub: EventHub | null;
  private seq: number;
  private queue: StreamEvent[] = [];
  private flushing: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private failure: Error | null = null;

  constructor(store: Store, hub: EventHub | null, streamId: string, startSeq = 0) {
    this.store = store;
    this.hub = hub;
    this.streamId = streamId;
    this.seq = startSeq;
    hub?.attachSource(streamId, this);
  }

  get lastSeq(): number {
    return this.seq;
  }

  unflushed(): readonly StreamEvent[] {
    return this.queue.slice();
  }

  append(partial: NewEvent): StreamEvent {
    const event = this.next(partial);
    this.queue.push(event);
    this.hub?.publish(this.streamId, event);
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

  private schedule(): void {
    if (this.flushing || this.failure) return;
    if (this.queue.length >= FLUSH_BATCH) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      void this.flushNow();
    } else {
      this.timer ??= setTimeout(() => {
        this.timer = null;
        void this.flushNow();
      }, FLUSH_DELAY_MS);
    }
  }

  private flushNow(): Promise<void> {
    if (this.flushing) return this.flushing;
    this.flushing = (async () => {
      try {
        while (this.queue.length > 0 && !this.failure) {
          const batch = this.queue.slice(0, FLUSH_BATCH);
          await appendEvents(this.store, this.streamId, batch);
          this.queue.splice(0, batch.length);
        }
      } catch (error) {
        this.failure = error as Error;
      } finally {
        this.flushing = null;
      }
    })();
    return this.flushing;
  }

  /** Stores everything appended so far; throws if the store refused a batch. */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.flushNow();
    if (this.queue.length > 0 && !this.failure) await this.flushNow();
    if (this.failure) throw this.failure;
  }

  /**
   * Appends the stream's last event after everything before it is stored, committing it in
   * one transaction with `alongside` (e.g. the row's final state); it is published only
   * once committed. The recorder is closed afterwards.
   */
  async finish(
    partial: NewEvent,
    alongside: (db: Queryable, lastSeq: number) => Promise<void>,
  ): Promise<StreamEvent> {
    try {
      await this.flush();
      const event = this.next(partial);
      await this.store.transaction(async (db) => {
        await appendEvents(db, this.streamId, [event]);
        await alongside(db, event.seq);
      });
      this.hub?.publish(this.streamId, event);
      return event;
    } finally {
      this.hub?.detachSource(this.streamId);
    }
  }
}
