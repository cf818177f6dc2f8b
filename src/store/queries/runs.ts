import type { ValueCodec } from '../crypto/codec.ts';
import type { Queryable } from '../store.ts';
import { EVENT_CHANNEL } from './events.ts';
import { insertInstanceSql, instanceParams, type InstanceRow } from './instances.ts';
import { watchedStreamSql } from './stream-watch.ts';

export type RunOrigin = 'cli' | 'api' | 'task';

export interface RunRow {
  id: string;
  plugin_name: string;
  task_id: string | null;
  step_name: string | null;
  attempt: number;
  batch_id: string | null;
  origin: RunOrigin;
  state: string;
  requester: string | null;
  data: unknown;
  result: Record<string, unknown> | null;
  error: string | null;
  exit_code: number | null;
  signal: string | null;
  kill_reason: string | null;
  dropped_lines: string;
  dropped_bytes: string;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  last_seq: string;
  instance_id: string | null;
  /** `HOSTNAME/PID` of the process that ran it (kept after the run and the process end). */
  ran_on: string | null;
  pgid: number | null;
  pgid_start: string | null;
}

export interface NewRun {
  id: string;
  pluginName: string;
  origin: RunOrigin;
  data: unknown;
  state: string;
  requester?: string | null;
  taskId?: string | null;
  stepName?: string | null;
  attempt?: number;
  batchId?: string | null;
}

/** The parameters of the bulk insert before the owner's: ten run columns and the owner id. */
const RUN_PARAMS = 11;

function runParams(codec: ValueCodec, run: NewRun): unknown[] {
  return [
    run.id,
    run.pluginName,
    run.origin,
    codec.encrypts ? codec.json(run.data) : JSON.stringify(run.data ?? null),
    run.state,
    run.requester ?? null,
    run.taskId ?? null,
    run.stepName ?? null,
    run.attempt ?? 1,
    run.batchId ?? null,
  ];
}

/**
 * Inserts a run owned by `owner` (the process that will run it), registering the owner in
 * the same statement when it is not yet (see queries/instances.ts).
 */
export async function insertRun(db: Queryable, run: NewRun, owner: InstanceRow | null = null): Promise<void> {
  await insertRuns(db, [run], owner);
}

/** Inserts many runs in one statement (a batch's), owned by `owner`. */
export async function insertRuns(
  db: Queryable,
  runs: readonly NewRun[],
  owner: InstanceRow | null = null,
): Promise<void> {
  if (runs.length === 0) return;
  const rows = runs.map((run) => runParams(db.codec, run));
  const values = [
    ...Array.from({ length: 10 }, (_, index) => rows.map((row) => row[index])),
    owner?.id ?? null,
  ];
  // The owner's hostname and pid are its instance parameters 3 and 4 (instanceParams).
  const ranOn = owner ? `$${RUN_PARAMS + 3} || '/' || $${RUN_PARAMS + 4}::int` : 'NULL';
  const insert = `INSERT INTO run (id, plugin_name, origin, data, state, requester, task_id, step_name, attempt, batch_id, instance_id, ran_on, started_at)
     SELECT id, plugin_name, origin, data, state, requester, task_id, step_name, attempt, batch_id, $11::uuid, ${ranOn},
            CASE WHEN state = 'RUNNING' THEN now() END
       FROM unnest($1::uuid[], $2::text[], $3::text[], $4::jsonb[], $5::text[], $6::text[], $7::uuid[], $8::text[], $9::int[], $10::uuid[])
         AS r (id, plugin_name, origin, data, state, requester, task_id, step_name, attempt, batch_id)`;
  if (!owner) {
    await db.query(insert, values);
    return;
  }
  await db.query(`WITH owner AS (${insertInstanceSql(RUN_PARAMS + 1)}) ${insert}`, [
    ...values,
    ...instanceParams(owner),
  ]);
}

/** Records the process group a run's plugin leads (and when its leader started), for recollect. */
export async function recordRunProcess(
  db: Queryable,
  id: string,
  pgid: number,
  start: string | null,
): Promise<void> {
  await db.query('UPDATE run SET pgid = $2, pgid_start = $3 WHERE id = $1', [id, pgid, start]);
}

/**
 * Ends runs that are still TODO or RUNNING as SERVER_ERROR with `error`, each with a final
 * `run` event after its last one (and its NOTIFY), in one statement: a batch's runs that
 * never started, or the runs of a process that died. Returns the ids it ended.
 */
export async function failLiveRuns(
  db: Queryable,
  ids: readonly string[],
  end: { error: string; killReason: string | null },
): Promise<string[]> {
  if (ids.length === 0) return [];
  const { rows } = await db.query<{ id: string }>(
    `WITH target AS (
       SELECT r.id, coalesce((SELECT max(e.seq) FROM event e WHERE e.stream_id = r.id), 0) + 1 AS seq
         FROM run r WHERE r.id = ANY($1::uuid[]) AND r.state IN ('TODO', 'RUNNING')
     ), ended AS (
       UPDATE run SET state = 'SERVER_ERROR', error = $2, kill_reason = $3, finished_at = now(),
              started_at = coalesce(run.started_at, now()), last_seq = target.seq
         FROM target WHERE run.id = target.id
       RETURNING run.id, target.seq
     ), events AS (
       INSERT INTO event (stream_id, seq, type, state, data, ts)
       SELECT id, seq, 'run', 'SERVER_ERROR', $5::jsonb, now()
         FROM ended
       ON CONFLICT (stream_id, seq) DO NOTHING
     )
     -- (a data-modifying CTE runs to completion whether or not it is read)
     SELECT ended.id, CASE WHEN ${watchedStreamSql('ended.id')} THEN pg_notify($4, ended.id || ':' || ended.seq) END
       FROM ended`,
    [
      ids,
      db.codec.text(end.error),
      end.killReason,
      EVENT_CHANNEL,
      // The run event's data, as run/recorder.ts writes it (encrypted at rest like every event's).
      db.codec.json({
        result: null,
        error: end.error,
        exit_code: null,
        signal: null,
        kill_reason: end.killReason,
        duration_ms: null,
      }),
    ],
  );
  return rows.map((row) => row.id);
}

/** An unfinished run of an owner, with its process group if recorded. */
export interface LiveRun {
  id: string;
  instance_id: string;
  pgid: number | null;
  pgid_start: string | null;
}

/** The runs of the given owners that are not over, locked for the caller's transaction. */
export async function lockLiveRunsOf(db: Queryable, ownerIds: readonly string[]): Promise<LiveRun[]> {
  const { rows } = await db.query<LiveRun>(
    `SELECT id, instance_id, pgid, pgid_start FROM run
      WHERE instance_id = ANY($1::uuid[]) AND state IN ('TODO', 'RUNNING')
      FOR UPDATE SKIP LOCKED`,
    [ownerIds],
  );
  return rows;
}

export interface RunEnd {
  state: string;
  result: unknown;
  error: string | null;
  exitCode: number | null;
  signal: string | null;
  killReason: string | null;
  droppedLines: number;
  droppedBytes: number;
  lastSeq: number;
}

export async function finishRun(db: Queryable, id: string, end: RunEnd): Promise<void> {
  await db.query(
    `UPDATE run SET state = $2, result = $3, error = $4, exit_code = $5, signal = $6, kill_reason = $7,
            dropped_lines = $8, dropped_bytes = $9, last_seq = $10, finished_at = now(),
            started_at = coalesce(started_at, now())
      WHERE id = $1`,
    [
      id,
      end.state,
      db.codec.json(end.result),
      db.codec.text(end.error),
      end.exitCode,
      end.signal,
      end.killReason,
      end.droppedLines,
      end.droppedBytes,
      end.lastSeq,
    ],
  );
}

export async function getRun(db: Queryable, id: string): Promise<RunRow | null> {
  const { rows } = await db.query<RunRow>('SELECT * FROM run WHERE id = $1', [id]);
  return rows[0] ? runFromRow(db.codec, rows[0]) : null;
}

/** A run row as read (`SELECT *`), its data, result and error decrypted. */
export function runFromRow(codec: ValueCodec, row: RunRow & { key_label?: unknown }): RunRow {
  const { key_label: _labels, ...run } = row;
  return {
    ...run,
    data: codec.readJson(run.data),
    result: codec.readJson(run.result),
    error: codec.readText(run.error),
  };
}
