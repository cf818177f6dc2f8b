import type { Queryable } from '../store.ts';

/**
 * The streams followed live (table stream_watch, migration 0008): producers of events
 * notify only those (`watchedStreamSql`), since each notifying commit holds a cluster-wide
 * lock until it is flushed.
 */

/** SQL true when stream `streamId` (an SQL expression) has a live follower somewhere. */
export function watchedStreamSql(streamId: string): string {
  return `EXISTS (SELECT 1 FROM stream_watch WHERE stream_id = ${streamId})`;
}

/**
 * Registers `listener` (the backend pid of a LISTEN connection) as following `streamIds`,
 * and drops the rows of connections that are gone for those streams.
 */
export async function watchStreams(
  db: Queryable,
  streamIds: readonly string[],
  listener: number,
): Promise<void> {
  if (streamIds.length === 0) return;
  await db.query(
    `WITH stale AS (
       DELETE FROM stream_watch w
        WHERE w.stream_id = ANY($1::uuid[]) AND w.listener <> $2
          AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = w.listener))
     INSERT INTO stream_watch (stream_id, listener) SELECT unnest($1::uuid[]), $2
     ON CONFLICT DO NOTHING`,
    [streamIds, listener],
  );
}

export async function unwatchStream(db: Queryable, streamId: string, listener: number): Promise<void> {
  await db.query('DELETE FROM stream_watch WHERE stream_id = $1 AND listener = $2', [streamId, listener]);
}

/** Removes the rows of every LISTEN connection that is gone (a process that died, a restart). */
export async function dropStaleWatches(db: Queryable): Promise<void> {
  await db.query(
    `DELETE FROM stream_watch w WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = w.listener)`,
  );
}
