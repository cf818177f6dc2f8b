import type { Store } from '../store/store.ts';

/**
 * The scheduler running in this process on a store, so that work made due here (a new
 * `auto_runnable` task) is handed to it directly, without a NOTIFY: a notifying commit holds
 * a cluster-wide lock until it is flushed, which would put every task creation in one line.
 * Other instances are notified only when this one has no room (or none runs here, as in
 * maintenance mode); they also poll, so nothing waits for good either way.
 */
export interface DueTaker {
  /** Whether it would claim one more resolution now. */
  hasRoom(): boolean;
  /** Looks for due work at once. */
  wake(): void;
}

const takers = new WeakMap<Store, DueTaker>();

export function registerDueTaker(store: Store, taker: DueTaker): () => void {
  takers.set(store, taker);
  return () => {
    if (takers.get(store) === taker) takers.delete(store);
  };
}

/** The scheduler of this process on `store`, if it has room for one more resolution. */
export function localDueTaker(store: Store): DueTaker | undefined {
  const taker = takers.get(store);
  return taker?.hasRoom() ? taker : undefined;
}
