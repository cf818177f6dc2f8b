import { EVENT_CHANNEL, eventsSince, type StreamEvent } from '../store/queries/events.ts';
import { unwatchStream, watchStreams } from '../store/queries/stream-watch.ts';
import type { Store } from '../store/store.ts';

export interface SubscriberHandlers {
  onEvent: (event: StreamEvent) => void;
  /** The final event was delivered: nothing more will come. */
  onEnd?: () => void;
  onError?: (error: Error) => void;
  /** Whether an event ends the stream (a run's final state, a task's final state). */
  isFinal: (event: StreamEvent) => boolean;
}

/** Live events held while a subscriber reads the store; past this, they are read again instead. */
const CATCH_UP_BUFFER = 1000;
const PAGE = 5000;
/**
 * After a subscriber registered its stream, the store is read again at these delays. A
 * producer elsewhere whose statement began before the registration was committed did not
 * see it, so sent no pointer; its commit may come after the first catch-up read. Such a
 * statement is a single write in flight: these re-reads find what it stored.
 */
const RECHECK_MS = [500, 3000];

/**
 * Delivers a stream's events to its subscribers in order, with no gap and no duplicate,
 * wherever the producer runs. Producers publish an event only once it is committed
 * (runs/recorder.ts), so whatever a subscriber was given is in the store: a subscriber can
 * always fill a gap by reading the store, and never sees an event the store then lost.
 *
 * Events made in this process arrive at once through `publish`; events made elsewhere are
 * found through a NOTIFY pointer (`stream:seq`) and read from the store. A subscriber first
 * replays what is stored after its `since`, then goes live. When the LISTEN connection
 * comes back after a PostgreSQL restart, every subscriber reads what it missed.
 */
export class EventHub {
  readonly store: Store;
  private readonly channels = new Map<string, Set<Subscription>>();
  /** Per stream, the last seq a producer in this process is committing and will publish. */
  private readonly committing = new Map<string, number>();
  private listening: Promise<void> | null = null;
  /** Per stream followed here, its registration in stream_watch (producers elsewhere notify only those). */
  private readonly watching = new Map<string, Promise<void>>();

  constructor(store: Store) {
    this.store = store;
    store.onReconnect(() => {
      // A new LISTEN connection: the streams are registered under its pid, then read again.
      const streams = [...this.channels.keys()];
      void this.register(streams)
        .catch(() => undefined)
        .then(() => {
          for (const subscriptions of this.channels.values()) {
            for (const subscription of subscriptions) void subscription.catchUp();
          }
        });
    });
  }

  /** Registers streams as followed by this process's LISTEN connection (retried through restarts). */
  private async register(streamIds: readonly string[]): Promise<void> {
    await this.store.retrying(async (db) => {
      const pid = db.listenerPid;
      if (pid === null) throw Object.assign(new Error('the LISTEN connection is away'), { code: '57P01' });
      await watchStreams(db, streamIds, pid);
    });
  }

  /**
   * A producer in this process is committing a stream's events up to `seq` and will publish
   * them once committed: the NOTIFY of that commit, which may arrive first, is not a gap to
   * read from the store (with many subscribers, reading would cost a query each). `null`
   * withdraws it (the commit failed for good): pointers are followed again.
   */
  announce(streamId: string, seq: number | null): void {
    if (seq === null) this.committing.delete(streamId);
    else this.committing.set(streamId, seq);
  }

  /** A committed event of a producer in this process, delivered to this process's subscribers. */
  publish(streamId: string, event: StreamEvent): void {
    const announced = this.committing.get(streamId);
    if (announced !== undefined && event.seq >= announced) this.committing.delete(streamId);
    for (const subscription of this.channels.get(streamId) ?? []) subscription.offer(event);
  }

  private ensureListening(): Promise<void> {
    this.listening ??= this.store
      .listen(EVENT_CHANNEL, (payload) => {
        const cut = payload.lastIndexOf(':');
        const streamId = payload.slice(0, cut);
        const seq = Number(payload.slice(cut + 1));
        if (seq <= (this.committing.get(streamId) ?? 0)) return;
        for (const subscription of this.channels.get(streamId) ?? []) subscription.pointer(seq);
      })
      .then(() => undefined);
    // A failed attempt is not kept: the next subscriber tries again.
    this.listening.catch(() => (this.listening = null));
    return this.listening;
  }

  /** Subscribes to a stream after `since`; events and the end come through `handlers`. */
  async subscribe(streamId: string, since: number, handlers: SubscriberHandlers): Promise<Subscription> {
    const subscription = new Subscription(this.store, since, streamId, handlers, () => {
      const set = this.channels.get(streamId);
      set?.delete(subscription);
      if (set?.size === 0) {
        this.channels.delete(streamId);
        this.watching.delete(streamId);
        const pid = this.store.listenerPid;
        if (pid !== null && !this.store.isClosed) {
          void unwatchStream(this.store, streamId, pid).catch(() => undefined);
        }
      }
    });
    let set = this.channels.get(streamId);
    if (!set) {
      set = new Set();
      this.channels.set(streamId, set);
    }
    set.add(subscription);
    try {
      await this.ensureListening();
      let watched = this.watching.get(streamId);
      if (!watched) {
        watched = this.register([streamId]);
        this.watching.set(streamId, watched);
        watched.catch(() => this.watching.delete(streamId));
      }
      await watched;
    } catch (error) {
      subscription.close();
      throw error;
    }
    await subscription.catchUp();
    subscription.recheck(RECHECK_MS);
    return subscription;
  }

  /** How many subscriptions are open (for tests and metrics). */
  get subscriptionCount(): number {
    let count = 0;
    for (const set of this.channels.values()) count += set.size;
    return count;
  }
}

export class Subscription {
  private last: number;
  private catchingUp = false;
  private again = false;
  private buffer: StreamEvent[] = [];
  private overflowed = false;
  private closed = false;
  private ended = false;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly store: Store;
  private readonly streamId: string;
  private readonly handlers: SubscriberHandlers;
  private readonly detach: () => void;

  constructor(
    store: Store,
    since: number,
    streamId: string,
    handlers: SubscriberHandlers,
    detach: () => void,
  ) {
    this.store = store;
    this.last = since;
    this.streamId = streamId;
    this.handlers = handlers;
    this.detach = detach;
  }

  /** The seq of the last event delivered. */
  get lastSeq(): number {
    return this.last;
  }

  /** Live events held while a catch-up reads the store (at most CATCH_UP_BUFFER). */
  get bufferedCount(): number {
    return this.buffer.length;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.buffer = [];
    for (const timer of this.timers) clearTimeout(timer);
    this.detach();
  }

  /** Reads the store again at each of `delays` while open (see RECHECK_MS). */
  recheck(delays: readonly number[]): void {
    for (const delay of delays) {
      if (this.closed) return;
      const timer = setTimeout(() => void this.catchUp(), delay);
      timer.unref();
      this.timers.push(timer);
    }
  }

  /** Delivers the next event in order; false for anything else (a gap or a duplicate). */
  private deliver(event: StreamEvent): boolean {
    if (this.closed || event.seq !== this.last + 1) return false;
    this.last = event.seq;
    this.handlers.onEvent(event);
    if (this.handlers.isFinal(event)) this.end();
    return true;
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    this.handlers.onEnd?.();
    this.close();
  }

  /** A live, committed event from a producer in this process. */
  offer(event: StreamEvent): void {
    if (this.closed) return;
    if (event.seq <= this.last) {
      // A subscriber that started past the end still learns that the stream ended.
      if (this.handlers.isFinal(event)) this.end();
      return;
    }
    if (this.catchingUp) {
      if (this.buffer.length < CATCH_UP_BUFFER) this.buffer.push(event);
      else this.overflowed = true;
      return;
    }
    // Out of order (an event this subscriber has not seen came before it): read the gap.
    if (!this.deliver(event)) void this.catchUp();
  }

  /** A NOTIFY pointer: events up to `seq` are stored. */
  pointer(seq: number): void {
    if (this.closed || seq <= this.last) return;
    void this.catchUp();
  }

  /**
   * Reads from the store what this subscriber has not seen, then what arrived live
   * meanwhile. Runs one at a time; a request during a read makes it read again. Transient
   * store errors (PostgreSQL restarting) are retried for as long as the subscription is open.
   */
  async catchUp(): Promise<void> {
    if (this.catchingUp) {
      this.again = true;
      return;
    }
    this.catchingUp = true;
    try {
      do {
        this.again = false;
        for (;;) {
          const stored = await this.store.retrying(() =>
            eventsSince(this.store, this.streamId, this.last, PAGE),
          );
          for (const event of stored) this.deliver(event);
          if (stored.length < PAGE || this.closed) break;
        }
        const buffered = this.buffer;
        this.buffer = [];
        if (this.overflowed) {
          // Some live events were not kept: they are committed, so read them again.
          this.overflowed = false;
          this.again = true;
        }
        for (const event of buffered) {
          if (event.seq > this.last && !this.deliver(event)) this.again = true;
        }
      } while (this.again && !this.closed);
    } catch (error) {
      if (!this.closed) {
        this.handlers.onError?.(error as Error);
        this.close();
      }
    } finally {
      this.catchingUp = false;
    }
  }
}
