import path from 'node:path';
import type { StoreOptions } from '../store/open.ts';
import type { Store } from '../store/store.ts';

/** Options every command that touches the store shares. */
export interface StoreFlags {
  dataDir?: string;
  databaseUrl?: string;
}

export function storeOptions(flags: StoreFlags): StoreOptions {
  return {
    databaseUrl: flags.databaseUrl || process.env.DATABASE_URL || undefined,
    dataRoot: path.resolve(flags.dataDir ?? '.taskhost'),
    notify: (message) => process.stderr.write(`taskhost: ${message}\n`),
  };
}

/**
 * Opens the store for one command and always closes it (which stops the embedded cluster
 * when this process was its last user). The first Ctrl-C aborts `signal`, so a running
 * plugin is killed and its run stored as cancelled; a second one leaves at once.
 */
export async function withStore<T>(
  flags: StoreFlags,
  fn: (store: Store, signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const { openStore } = await import('../store/open.ts');
  const store = await openStore(storeOptions(flags));
  const controller = new AbortController();
  let interrupted: NodeJS.Signals | null = null;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted) {
      void store.close().finally(() => process.exit(130));
      return;
    }
    interrupted = signal;
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await fn(store, controller.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await store.close();
    if (interrupted) process.exit(interrupted === 'SIGINT' ? 130 : 143);
  }
}
