import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from './driver.ts';
import { TaskhostError } from '../errors.ts';
import { PLAINTEXT_CODEC, type ValueCodec } from './crypto/codec.ts';
import { retryTransient, type RetryOptions } from './transient.ts';

/**
 * Anything that runs a query: the store's pool or a client inside a transaction, with the
 * codec its encrypted columns are written and read through (store/crypto/codec.ts).
 */
export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string | PreparedText,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>>;
  readonly codec: ValueCodec;
}

/** A statement text with a name: prepared once per connection (see `prepared`). */
export interface PreparedText {
  name: string;
  text: string;
  /** How the result's columns are parsed, when not as usual (pg's per-query type parsers). */
  types?: pg.CustomTypesConfig;
}

const preparedNames = new Map<string, PreparedText>();
const PREPARED_KEPT = 1000;

/**
 * The hot statements (a transition, a claim, a new task) as named prepared statements: each
 * connection parses and plans a statement shape once, not at every call (those statements
 * are long CTEs, and their planning cost PostgreSQL more than their writes). The name is the
 * text's hash, so one text always has one name.
 */
export function prepared(text: string): PreparedText {
  let found = preparedNames.get(text);
  if (!found) {
    if (preparedNames.size >= PREPARED_KEPT) preparedNames.clear();
    found = { name: `th_${createHash('sha256').update(text).digest('base64url').slice(0, 24)}`, text };
    preparedNames.set(text, found);
  }
  return found;
}

export type NotificationHandler = (payload: string) => void;

const CHANNEL_NAME = /^[a-z_][a-z0-9_]*$/;

/**
 * The one storage path: `pg` against PostgreSQL, embedded or external. A pool for queries,
 * and one dedicated client for LISTEN that reconnects for as long as the store is open.
 *
 * Why the LISTEN client is a loop and not a cached promise: PostgreSQL restarts (a failover,
 * `pg_ctl restart`) drop it, and a restart can last longer than any single retry. The loop
 * connects with backoff, LISTENs on every channel again, and then tells `onReconnect`
 * handlers, because notifications sent while it was away are lost: whoever relies on them
 * (the event hub) reads what it missed from the tables.
 */
export class Store implements Queryable {
  readonly pool: pg.Pool;
  /**
   * How encrypted columns are written and read: set by openStore() to the key ring's codec;
   * a store built directly (tests, benches) keeps values in clear until one is set.
   */
  codec: ValueCodec = PLAINTEXT_CODEC;
  private readonly config: pg.PoolConfig;
  private readonly onClose: () => Promise<void>;
  private readonly handlers = new Map<string, Set<NotificationHandler>>();
  private readonly reconnectHandlers = new Set<() => void>();
  private listener: pg.Client | null = null;
  /** Channels the current listener has LISTENed on. */
  private listened = new Set<string>();
  private loop: Promise<void> | null = null;
  private connections = 0;
  private waiters: { channel: string; resolve: () => void; reject: (error: Error) => void }[] = [];
  private closed = false;
  private readonly closing = new AbortController();

  constructor(config: pg.PoolConfig, onClose: () => Promise<void> = async () => undefined) {
    this.config = config;
    this.onClose = onClose;
    this.pool = new pg.Pool({ max: 10, connectionTimeoutMillis: 10_000, ...config });
    // An idle client's error (the server going away) must not crash the process; the pool
    // drops that client and opens a new one on the next query.
    this.pool.on('error', () => undefined);
  }

  /** True once close() was called: retries stop and background work winds down. */
  get isClosed(): boolean {
    return this.closed;
  }

  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string | PreparedText,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>> {
    return typeof text === 'string'
      ? this.pool.query<R>(text, values)
      : this.pool.query<R>({ ...text, values });
  }

  /** Runs `fn` in a transaction: committed when it resolves, rolled back when it throws. */
  async transaction<T>(fn: (client: Queryable) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    // A client whose ROLLBACK failed is in an unknown state (maybe still in the aborted
    // transaction): it is destroyed, never handed to the next caller.
    let broken: Error | undefined;
    // The pool hears a client's errors only while it is idle. Checked out, a connection lost
    // between two statements (PostgreSQL restarting: every backend is told FATAL 57P01,
    // idle ones too) comes as an 'error' event, not through a query; unheard, it would
    // crash the process. It is kept: the next statement fails (not queryable, a transient
    // error), the transaction is rolled back as far as it can be, and the client destroyed.
    const onError = (error: Error): void => {
      broken ??= error;
    };
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      // The client itself carries the codec (a test may wait on its events), this store's as it is now.
      const result = await fn(Object.assign(client, { codec: this.codec }));
      await client.query('COMMIT');
      return result;
    } catch (error) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackError) {
        broken = rollbackError as Error;
      }
      throw error;
    } finally {
      // A destroyed client keeps its listener: a late error of its socket must not crash either.
      if (!broken) client.removeListener('error', onError);
      client.release(broken);
    }
  }

  /** `fn` against this store, retried on transient errors until it succeeds or the store closes. */
  retrying<T>(fn: (db: Store) => Promise<T>, options: Omit<RetryOptions, 'stopped'> = {}): Promise<T> {
    return retryTransient(() => fn(this), { ...options, stopped: () => this.closed });
  }

  /**
   * Calls `handler` with each NOTIFY payload on `channel`; resolves once the LISTEN is in
   * effect (waiting through a PostgreSQL restart if need be) with the unsubscribe.
   */
  async listen(channel: string, handler: NotificationHandler): Promise<() => void> {
    if (!CHANNEL_NAME.test(channel)) throw new TaskhostError('TH_INTERNAL', `bad channel name ${channel}`);
    if (this.closed) throw new TaskhostError('TH_STORE_UNAVAILABLE', 'the store is closed');
    let set = this.handlers.get(channel);
    if (!set) {
      set = new Set();
      this.handlers.set(channel, set);
    }
    set.add(handler);
    const unsubscribe = (): void => {
      set.delete(handler);
    };
    if (this.listened.has(channel)) return unsubscribe;
    const ready = new Promise<void>((resolve, reject) => this.waiters.push({ channel, resolve, reject }));
    if (this.listener) void this.listenOn(this.listener, channel);
    this.loop ??= this.listenLoop();
    await ready;
    return unsubscribe;
  }

  /** The backend pid of the LISTEN connection in use (null while it is away): who follows a stream. */
  get listenerPid(): number | null {
    return (this.listener as { processID?: number } | null)?.processID ?? null;
  }

  /** Called after the LISTEN client came back from a lost connection (notifications were missed). */
  onReconnect(handler: () => void): () => void {
    this.reconnectHandlers.add(handler);
    return () => this.reconnectHandlers.delete(handler);
  }

  private async listenOn(client: pg.Client, channel: string): Promise<void> {
    try {
      await client.query(`LISTEN ${channel}`);
    } catch {
      return; // the connection is going: the loop LISTENs again on the next one
    }
    if (this.listener !== client) return;
    this.listened.add(channel);
    this.settleWaiters();
  }

  private settleWaiters(): void {
    const pending = this.waiters;
    this.waiters = [];
    for (const waiter of pending) {
      if (this.listened.has(waiter.channel)) waiter.resolve();
      else this.waiters.push(waiter);
    }
  }

  private async listenLoop(): Promise<void> {
    let delay = 50;
    while (!this.closed) {
      const client = new pg.Client({ ...this.config, keepAlive: true });
      const ended = new Promise<void>((resolve) => {
        client.on('error', () => resolve());
        client.on('end', () => resolve());
      });
      client.on('notification', (message) => {
        for (const handler of this.handlers.get(message.channel) ?? []) handler(message.payload ?? '');
      });
      const done = new Set<string>();
      try {
        await client.connect();
        for (const channel of [...this.handlers.keys()]) {
          await client.query(`LISTEN ${channel}`);
          done.add(channel);
        }
      } catch {
        await client.end().catch(() => undefined);
        if (this.closed) break;
        await sleep(delay, undefined, { signal: this.closing.signal }).catch(() => undefined);
        delay = Math.min(delay * 2, 2000);
        continue;
      }
      if (this.closed) {
        await client.end().catch(() => undefined);
        break;
      }
      delay = 50;
      this.listener = client;
      this.listened = done;
      this.connections += 1;
      this.settleWaiters();
      // Channels asked for while this connection was being set up.
      for (const channel of this.handlers.keys()) if (!done.has(channel)) void this.listenOn(client, channel);
      if (this.connections > 1) for (const handler of this.reconnectHandlers) handler();
      await ended;
      if (this.listener === client) {
        this.listener = null;
        this.listened = new Set();
      }
      await client.end().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closing.abort();
    for (const waiter of this.waiters) {
      waiter.reject(new TaskhostError('TH_STORE_UNAVAILABLE', 'the store is closed'));
    }
    this.waiters = [];
    await this.listener?.end().catch(() => undefined);
    await this.loop;
    await this.pool.end().catch(() => undefined);
    await this.onClose();
  }
}
