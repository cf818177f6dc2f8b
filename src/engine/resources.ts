/**
 * Named resource limits (µTask's `resources` and its `resource_limits` configuration): a
 * step holding resource `name` runs only while fewer than `limits[name]` executions hold
 * it. A resource without a limit is free. Resources are taken in sorted order, each once,
 * so two steps asking for the same set can never deadlock.
 */
export class ResourceLimiter {
  private readonly limits: ReadonlyMap<string, number>;
  private readonly held = new Map<string, number>();
  private readonly waiters = new Map<string, (() => void)[]>();

  constructor(limits: Record<string, number> = {}) {
    this.limits = new Map(Object.entries(limits));
  }

  /** Takes every resource (waiting for a free slot); resolves to the function that gives them back. */
  async acquire(resources: readonly string[], signal?: AbortSignal): Promise<() => void> {
    const names = [...new Set(resources)].filter((name) => this.limits.has(name)).sort();
    const taken: string[] = [];
    try {
      for (const name of names) {
        await this.take(name, signal);
        taken.push(name);
      }
    } catch (error) {
      for (const name of taken) this.give(name);
      throw error;
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const name of taken) this.give(name);
    };
  }

  private async take(name: string, signal?: AbortSignal): Promise<void> {
    const limit = this.limits.get(name) ?? Infinity;
    while ((this.held.get(name) ?? 0) >= limit) {
      signal?.throwIfAborted();
      await new Promise<void>((resolve) => {
        const queue = this.waiters.get(name) ?? [];
        queue.push(resolve);
        this.waiters.set(name, queue);
        signal?.addEventListener('abort', () => resolve(), { once: true });
      });
    }
    this.held.set(name, (this.held.get(name) ?? 0) + 1);
  }

  private give(name: string): void {
    this.held.set(name, Math.max(0, (this.held.get(name) ?? 0) - 1));
    this.waiters.get(name)?.shift()?.();
  }
}
