/**
 * The runs a process (a CLI command, a server) has under way. A shutdown cancels them all
 * through one signal: running plugins get their group terminated and their runs recorded
 * as cancelled, batches start no new item, and the shutdown waits for all of it to be
 * stored. Background work is logged when it fails, never swallowed.
 */
export class RunSupervisor {
  private readonly controller = new AbortController();
  private readonly pending = new Set<Promise<unknown>>();
  private readonly onError: (error: unknown) => void;

  constructor(onError: (error: unknown) => void) {
    this.onError = onError;
  }

  /** Aborted by cancelAll(), with its reason ("taskhost received SIGTERM"). */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get stopping(): boolean {
    return this.controller.signal.aborted;
  }

  get size(): number {
    return this.pending.size;
  }

  /** Runs `fn` under supervision (settle() waits for it) and returns its result. */
  run<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const promise = fn(this.controller.signal);
    const tracked = promise.then(
      () => undefined,
      () => undefined,
    );
    this.pending.add(tracked);
    void tracked.finally(() => this.pending.delete(tracked));
    return promise;
  }

  /** Starts `fn` in the background under supervision; a failure goes to the error log. */
  background(fn: (signal: AbortSignal) => Promise<unknown>): void {
    this.run(fn).catch((error: unknown) => this.onError(error));
  }

  /** Cancels every run: no new run starts, and running plugins are terminated. */
  cancelAll(reason: string): void {
    if (!this.controller.signal.aborted) this.controller.abort(reason);
  }

  /** Waits until every supervised run is over (and stored), for at most `limitMs`; true when all are. */
  async settle(limitMs = Number.POSITIVE_INFINITY): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<false>((resolve) => {
      if (Number.isFinite(limitMs)) timer = setTimeout(() => resolve(false), limitMs);
    });
    try {
      while (this.pending.size > 0) {
        const all = Promise.all([...this.pending]).then(() => true as const);
        if (!(await Promise.race([all, limit]))) return false;
      }
      return true;
    } finally {
      clearTimeout(timer);
    }
  }
}
