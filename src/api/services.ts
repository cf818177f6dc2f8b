import type { Store } from '../store/store.ts';
import type { EventHub } from '../stream/hub.ts';

export interface ServerConfig {
  /** Output a run delivers and stores (head and tail); the rest is dropped, and counted. */
  outputCapBytes: number;
  /** A stream subscriber with more than this unsent is closed with the resume code. */
  wsMaxBufferedBytes: number;
  wsPingIntervalMs: number;
  logLevel: string;
}

export const DEFAULT_SERVER_CONFIG: ServerConfig = {
  outputCapBytes: 1024 * 1024,
  wsMaxBufferedBytes: 1024 * 1024,
  wsPingIntervalMs: 30_000,
  logLevel: 'warn',
};

/**
 * What the routes share: the store, the event hub, the config, and the runs this server
 * has in flight (aborted and awaited when it closes, so each ends stored).
 */
export interface ServerDeps {
  store: Store;
  hub: EventHub;
  config: ServerConfig;
}

export class InflightRuns {
  private readonly runs = new Map<Promise<unknown>, AbortController>();

  /** Starts background work that is aborted when the server closes. */
  track(start: (signal: AbortSignal) => Promise<unknown>): void {
    const controller = new AbortController();
    const promise = start(controller.signal).catch(() => undefined);
    this.runs.set(promise, controller);
    void promise.finally(() => this.runs.delete(promise));
  }

  async abortAll(): Promise<void> {
    for (const controller of this.runs.values()) controller.abort();
    await Promise.all(this.runs.keys());
  }
}
