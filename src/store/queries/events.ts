import { prepared, type Queryable } from '../store.ts';
import type { EventType, StreamEvent } from '../../protocol/stream-event.ts';
import { watchedStreamSql } from './stream-watch.ts';

/** The channel whose payloads point at new events: `<stream_id>:<last seq>`. */
export const EVENT_CHANNEL = 'taskhost_event';

export type { EventType, StreamEvent } from '../../protocol/stream-event.ts';

/**
 * Appends events to a stream and notifies listeners in the same round trip: the NOTIFY
 * carries a pointer (stream and last seq), never the payload, and is delivered on commit;
 * it is sent only when the stream has a live follower (stream-watch.ts).
 * Idempotent: an event already stored (a retry after a commit whose answer was lost) is
 * left as it is.
 */
export async function appendEvents(
  db: Queryable,
  streamId: string,
  events: readonly StreamEvent[],
): Promise<void> {
  if (events.length === 0) return;
  const last = events[events.length - 1] as StreamEvent;
  await db.query(
    prepared(`WITH inserted AS (
       INSERT INTO event (stream_id, seq, type, step, stream, line, state, data, ts)
       SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::jsonb[], $9::timestamptz[])
       ON CONFLICT (stream_id, seq) DO NOTHING
       RETURNING 1
     )
     SELECT pg_notify($10, $11) FROM (SELECT count(*) FROM inserted) AS done WHERE ${watchedStreamSql('$1')}`),
    [
      streamId,
      events.map((e) => e.seq),
      events.map((e) => e.type),
      events.map((e) => e.step),
      events.map((e) => e.stream),
      events.map((e) => db.codec.text(e.line)),
      events.map((e) => e.state),
      events.map((e) => (e.data ? db.codec.json(e.data) : null)),
      events.map((e) => e.ts),
      EVENT_CHANNEL,
      `${streamId}:${last.seq}`,
    ],
  );
}

interface EventRow {
  seq: string;
  type: EventType;
  step: string | null;
  stream: string | null;
  line: string | null;
  state: string | null;
  data: Record<string, unknown> | null;
  ts: Date;
}

export function eventFromRow(row: EventRow): StreamEvent {
  const event: StreamEvent = {
    seq: Number(row.seq),
    type: row.type,
    step: row.step,
    stream: row.stream,
    line: row.line,
    state: row.state,
    ts: row.ts.toISOString(),
  };
  if (row.data) event.data = row.data;
  return event;
}

/** Events after `since`, in order, at most `limit`. */
export async function eventsSince(
  db: Queryable,
  streamId: string,
  since: number,
  limit = 5000,
): Promise<StreamEvent[]> {
  const { rows } = await db.query<EventRow>(
    `SELECT seq, type, step, stream, line, state, data, ts FROM event
      WHERE stream_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
    [streamId, since, limit],
  );
  // Log lines and state data are encrypted at rest (store/crypto/codec.ts).
  return rows.map((row) =>
    eventFromRow({ ...row, line: db.codec.readText(row.line), data: db.codec.readJson(row.data) }),
  );
}
