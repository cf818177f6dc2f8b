import path from 'node:path';
import { TaskhostError } from '../errors.ts';
import { EmbeddedCluster } from './embedded.ts';
import type { Store } from './store.ts';

export interface StoreOptions {
  /** An external PostgreSQL; when absent, the embedded cluster of `dataRoot`. */
  databaseUrl?: string | undefined;
  /** Where the embedded cluster lives (default `./.taskhost`). */
  dataRoot?: string;
  /** Told about slow first-use work (creating the embedded cluster). */
  notify?: (message: string) => void;
  /**
   * Told once PostgreSQL is on its way: the embedded postmaster spawned (or a running one
   * found), or at once for an external one. A command loads its own modules from then on,
   * while the cluster boots, rather than before (they would hold the start back).
   */
  started?: () => void;
  poolSize?: number;
  /**
   * The key ring values are encrypted under (SPEC section 8, `encryption.keys_file`);
   * default `keys.json` in `dataRoot`. Created on first start when the database holds no
   * encrypted values.
   */
  keysFile?: string;
}

/** Where the key ring is: `keysFile`, else `keys.json` beside the embedded cluster. */
export function keysFileOf(options: StoreOptions): string {
  return path.resolve(options.keysFile ?? path.join(options.dataRoot ?? '.taskhost', 'keys.json'));
}

/** A short description of where the store is, for logs and errors (never with a password). */
export function describeStore(options: StoreOptions): string {
  if (options.databaseUrl) {
    try {
      const url = new URL(options.databaseUrl);
      url.password = '';
      return `PostgreSQL at ${url.host || url.searchParams.get('host') || 'localhost'}${url.pathname}`;
    } catch {
      return 'PostgreSQL (DATABASE_URL)';
    }
  }
  return `embedded PostgreSQL in ${path.join(options.dataRoot ?? '.taskhost', 'pg')}`;
}

/**
 * Opens the store (starting or attaching the embedded cluster if needed), migrates it, and
 * sets its codec from the key ring (checked against the database, values still in clear
 * converted: store/crypto/encryption.ts).
 */
export async function openStore(options: StoreOptions): Promise<Store> {
  const applicationName = `taskhost/${process.pid}`;
  // The embedded cluster starts first; the driver and migrations load while it boots.
  const cluster = options.databaseUrl
    ? null
    : EmbeddedCluster.acquire(options.dataRoot ?? path.resolve('.taskhost'), options.notify, options.started);
  if (options.databaseUrl) options.started?.();
  // Handled at its await below; this only keeps an early failure from being "unhandled".
  cluster?.catch(() => undefined);
  const [{ Store }, { migrate }, { prepareEncryption }] = await Promise.all([
    import('./store.ts'),
    import('./migrate.ts'),
    import('./crypto/encryption.ts'),
  ]);
  let store: Store;
  if (options.databaseUrl) {
    store = new Store({
      connectionString: options.databaseUrl,
      application_name: applicationName,
      max: options.poolSize ?? 10,
    });
  } else {
    const embedded = await (cluster as Promise<EmbeddedCluster>);
    store = new Store(
      { ...embedded.connection, application_name: applicationName, max: options.poolSize ?? 10 },
      () => embedded.release(),
    );
  }
  try {
    await migrate(store);
    store.codec = await prepareEncryption(store, keysFileOf(options));
  } catch (error) {
    await store.close();
    if (error instanceof TaskhostError) throw error;
    const message = (error as Error).message;
    throw new TaskhostError('TH_STORE_UNAVAILABLE', `cannot use ${describeStore(options)}: ${message}`, {
      cause: error,
    });
  }
  return store;
}
