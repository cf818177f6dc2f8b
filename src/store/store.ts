import pg from './driver.ts';
import { TaskhostError } from '../errors.ts';

/** Anything that runs a query: the store's pool or a client inside a transaction. */
export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>>;
}

export type NotificationHandler = (payload: string) => void;

/**
 * The one storage path: `pg` against PostgreSQL, embedded or external. A pool for queries,
 * and one dedicated client for LISTEN, opened on first use and reconnected if it drops.
 */
export class Store implements Queryable {
  readonly pool: pg.Pool;
  private readonly config: pg.PoolConfig;
  private readonly onClose: () => Promise<void>;
  private listener: pg.Client | null = null;
  private listening: Promise<pg.Client> | null = null;
  private readonly handlers = new Map<string, Set<NotificationHandler>>();
  private closed = false;

  constructor(config: pg.PoolConfig, onClose: () => Promise<void> = async () => undefined) {
    this.config = config;
    this.onClose = onClose;
    this.pool = new pg.Pool({ max: 10, ...config });
    // An idle client's error (the server going away) must not crash the process.
    this.pool.on('error', () => undefined);
  }

  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>> {
    return this.pool.query<R>(text, values);
  }

  /** Runs `fn` in a transaction: committed when it resolves, rolled back when it throws. */
  async transaction<T>(fn: (client: Queryable) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  /** Calls `handler` with each NOTIFY payload on `channel`; returns the unsubscribe. */
  async listen(channel: string, handler: NotificationHandler): Promise<() => void> {
    if (!/^[a-z_][a-z0-9_]*$/.test(channel)) {
      throw new TaskhostError('TH_INTERNAL', `bad channel name ${channel}`);
    }
    let set = this.handlers.get(channel);
    const fresh = !set;
    if (!set) {
      set = new Set();
      this.handlers.set(channel, set);
    }
    set.add(handler);
    const client = await this.listenClient();
    if (fresh) await client.query(`LISTEN ${channel}`);
    return () => {
      set.delete(handler);
    };
  }

  private listenClient(): Promise<pg.Client> {
    if (this.listener) return Promise.resolve(this.listener);
    this.listening ??= (async () => {
      const client = new pg.Client(this.config);
      client.on('notification', (message) => {
        for (const handler of this.handlers.get(message.channel) ?? []) handler(message.payload ?? '');
      });
      client.on('error', () => {
        // Reconnect and re-LISTEN; notifications sent meanwhile are lost, which is why
        // subscribers read the stored log after a pointer rather than trusting payloads.
        if (this.listener === client) this.listener = null;
        this.listening = null;
        if (!this.closed) setTimeout(() => void this.relisten(), 100).unref();
      });
      await client.connect();
      this.listener = client;
      return client;
    })();
    return this.listening;
  }

  private async relisten(): Promise<void> {
    if (this.closed || this.handlers.size === 0) return;
    try {
      const client = await this.listenClient();
      for (const channel of this.handlers.keys()) await client.query(`LISTEN ${channel}`);
    } catch {
      if (!this.closed) setTimeout(() => void this.relisten(), 1000).unref();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const listener = this.listener ?? (this.listening ? await this.listening.catch(() => null) : null);
    await listener?.end().catch(() => undefined);
    await this.pool.end().catch(() => undefined);
    await this.onClose();
  }
}
