import { EVENT_CHANNEL, eventsSince, type StreamEvent } from '../store/queries/events.ts';
import type { Store } from '../store/store.ts';

/** A producer in this process whose newest events may not be stored yet. */
export interface LocalSource {
  /** Events appended but not yet committed, in order. */
  unflushed(): readonly StreamEvent[];
}

export interface SubscriberHandlers {
  onEvent: (event: StreamEvent) => void;
  /** The final event was delivered: nothing more will come. */
  onEnd?: () => void;
  onError?: (error: Error) => void;
  /** Whether an event ends the stream (a run's final state, a task's final state). */
  isFinal: (event: StreamEvent) => boolean;
}

interface Channel {
  source: LocalSource | null;
  subscriptions: Set<Subscription>;
}

/**
 * Delivers a stream's events to its subscribers in order, with no gap and no duplicate,
 * wherever the producer runs. Events made in this process arrive at once from their
 * producer; events made elsewhere are found through a NOTIFY pointer and read from the
 * store. A subscriber first replays what is stored after its `since`, then goes live.
 */
export class EventHub {
  readonly store: Store;
  private readonly channels = new Map<string, Channel>();
  private listening: Promise<void> | null = null;

  constructor(store: Store) {
    this.store = store;
  }

  private channel(streamId: string): Channel {
    let channel = this.channels.get(streamId);
    if (!channel) {
      channel = { source: null, subscriptions: new Set() };
      this.channels.set(streamId, channel);
    }
    return channel;
  }

  private forget(streamId: string): void {
    const channel = this.channels.get(streamId);
    if (channel && !channel.source && channel.subscriptions.size === 0) this.channels.delete(streamId);
  }

  /** A producer in this process announces itself, so subscribers see its unflushed events. */
  attachSource(streamId: string, source: LocalSource): void {
    this.channel(streamId).source = source;
  }

  detachSource(streamId: string): void {
    const channel = this.channels.get(streamId);
    if (channel) channel.source = null;
    this.forget(streamId);
  }

  /** A local producer's new event, delivered to this process's subscribers right away. */
  publish(streamId: string, event: StreamEvent): void {
    const channel = this.channels.get(streamId);
    if (!channel) return;
    for (const subscription of channel.subscriptions) subscription.offer(event);
  }

  unflushed(streamId: string): readonly StreamEvent[] {
    return this.channels.get(streamId)?.source?.unflushed() ?? [];
  }

  private ensureListening(): Promise<void> {
    this.listening ??= this.store
      .listen(EVENT_CHANNEL, (payload) => {
        const cut = payload.lastIndexOf(':');
        const streamId = payload.slice(0, cut);
        const seq = Number(payload.slice(cut + 1));
        for (const subscription of this.channels.get(streamId)?.subscriptions ?? []) {
          subscription.pointer(seq);
        }
      })
      .then(() => undefined);
    return this.listening;
  }

  /** Subscribes to a stream after `since`; events and the end come through `handlers`. */
  async subscribe(streamId: string, since: number, handlers: SubscriberHandlers): Promise<Subscription> {
    const subscription = new Subscription(this, streamId, since, handlers, () => {
      this.channels.get(streamId)?.subscriptions.delete(subscription);
      this.forget(streamId);
    });
    this.channel(streamId).subscriptions.add(subscription);
    try {
      await this.ensureListening();
    } catch (error) {
      this.listening = null;
      subscription.close();
      throw error;
    }
    await subscription.catchUp();
    return subscription;
  }
}

export class Subscription {
  private last: number;
  private catchingUp = false;
  private again = false;
  private buffer: StreamEvent[] = [];
  private closed = false;
  private ended = false;
  private readonly hub: EventHub;
  private readonly streamId: string;
  private readonly handlers: SubscriberHandlers;
  private readonly detach: () => void;

  constructor(
    hub: EventHub,
    streamId: string,
    since: number,
    handlers: SubscriberHandlers,
    detach: () => void,
  ) {
    this.hub = hub;
    this.streamId = streamId;
    this.last = since;
    this.handlers = handlers;
    this.detach = detach;
  }

  /** The seq of the last event delivered. */
  get lastSeq(): number {
    return this.last;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.buffer = [];
    this.detach();
  }

  private deliver(event: StreamEvent): void {
    if (this.closed || event.seq !== this.last + 1) return;
    this.last = event.seq;
    this.handlers.onEvent(event);
    if (this.handlers.isFinal(event)) this.end();
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    this.handlers.onEnd?.();
    this.close();
  }

  /** A live event from a producer in this process. */
  offer(event: StreamEvent): void {
    if (this.closed) return;
    if (event.seq <= this.last) {
      // A subscriber that started past the end still learns that the stream ended.
      if (this.handlers.isFinal(event)) this.end();
      return;
    }
    if (this.catchingUp) {
      this.buffer.push(event);
    } else if (event.seq === this.last + 1) {
      this.deliver(event);
    } else {
      void this.catchUp();
    }
  }

  /** A NOTIFY pointer: events up to `seq` are stored. */
  pointer(seq: number): void {
    if (this.closed || seq <= this.last) return;
    void this.catchUp();
  }

  /**
   * Reads what this subscriber has not seen: the producer's unflushed events are copied
   * before the stored ones are read, so an event flushed in between is in one or the other.
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
        const unflushed = this.hub.unflushed(this.streamId).filter((event) => event.seq > this.last);
        for (;;) {
          const stored = await eventsSince(this.hub.store, this.streamId, this.last);
          for (const event of stored) this.deliver(event);
          if (stored.length < 5000 || this.closed) break;
        }
        for (const event of unflushed) this.deliver(event);
        const buffered = this.buffer;
        this.buffer = [];
        for (const event of buffered) this.deliver(event);
        if (buffered.some((event) => event.seq > this.last)) this.again = true;
      } while (this.again && !this.closed);
    } catch (error) {
      this.handlers.onError?.(error as Error);
      this.close();
    } finally {
      this.catchingUp = false;
    }
  }
}
