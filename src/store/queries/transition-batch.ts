import { prepared, type Queryable } from '../store.ts';
import { EVENT_CHANNEL } from './events.ts';
import {
  encodeRunEnd,
  encodeSteps,
  numberEvents,
  resolutionLost,
  upsertStepsSql,
  type NewTaskEvent,
  type ResolutionFence,
  type StoredTransition,
  type TransitionWrite,
} from './tasks.ts';

/** One fenced transition of a batch: what writeTransition takes, for one task. */
export interface FencedTransition {
  taskId: string;
  events: readonly NewTaskEvent[];
  write: TransitionWrite | null;
  fence: ResolutionFence;
}

/**
 * The transitions of several resolutions in ONE statement, each as writeTransition writes it
 * alone: its task's events numbered from the task row and notified, its step rows, runs and
 * settle, each part written only if its resolution is still its fence owner's. The engine's
 * transitions of concurrent resolutions share a statement this way (engine/transition-batcher.ts):
 * one round trip, one executor start and one commit for all of them instead of one each.
 *
 * The text never changes (every part reads a JSON list, empty or not): one prepared statement.
 * The lists are read as json, not jsonb: json_to_recordset reads the text once, where a jsonb
 * parameter was first built into a binary value (keys sorted) only to be walked again. Paired
 * rounds (12, one instance): PostgreSQL CPU a task 0.825 -> 0.792 ms, 1.04x tasks/s.
 * Each transition's answer, in order: what it stored, or TH_RESOLUTION_LOST. The batch is
 * atomic: if the statement fails, nothing of it is written.
 */
export async function writeTransitions(
  db: Queryable,
  transitions: readonly FencedTransition[],
): Promise<(StoredTransition | Error)[]> {
  const now = new Date().toISOString();
  const codec = db.codec;
  // A field left undefined is left out of the JSON (and read back as NULL): most are, in
  // most transitions, and PostgreSQL parses less.
  const entries = transitions.map(({ taskId, events, write, fence }, i) => ({
    i,
    task_id: taskId,
    resolution_id: fence.resolutionId,
    owner_id: fence.ownerId,
    n: events.length,
    task_state: write?.task?.state,
    sets_result: write?.task?.result !== undefined,
    task_result: write?.task?.result === undefined ? undefined : codec.jsonField(write.task.result),
    end_state: write?.resolutionEnd?.state,
    end_next_retry: write?.resolutionEnd?.nextRetry ?? undefined,
    end_last_stop: write?.resolutionEnd?.lastStop,
  }));
  const events = transitions.flatMap(({ taskId, events: list }) =>
    list.map((event, index) => ({
      task_id: taskId,
      ord: index + 1,
      type: event.type,
      step: event.step ?? undefined,
      stream: event.stream ?? undefined,
      line: codec.text(event.line) ?? undefined,
      state: event.state ?? undefined,
      data: event.data ? codec.jsonField(event.data) : undefined,
      ts: event.ts ?? now,
    })),
  );
  const rows = <T>(pick: (write: TransitionWrite, resolutionId: string) => readonly T[]): T[] =>
    transitions.flatMap(({ write, fence }) => (write ? pick(write, fence.resolutionId) : []));
  const { rows: answers } = await db.query<{
    i: number;
    last_seq: string | null;
    owned: boolean;
    next_retry: Date | null;
  }>(prepared(BATCH_SQL), [
    JSON.stringify(entries),
    JSON.stringify(events),
    JSON.stringify(rows((write, id) => write.removed.map((name) => ({ resolution_id: id, name })))),
    JSON.stringify(
      rows((write, id) => encodeSteps(codec, write.steps).map((step) => ({ resolution_id: id, ...step }))),
    ),
    JSON.stringify(
      rows((write) => write.runStarts.map((run) => ({ ...run, data: codec.jsonField(run.data) }))),
    ),
    JSON.stringify(
      rows((write, id) => write.runEnds.map((run) => ({ ...encodeRunEnd(codec, run), resolutionId: id }))),
    ),
    JSON.stringify(rows((write, id) => write.runProcesses.map((run) => ({ ...run, resolutionId: id })))),
    transitions.map(({ fence }) => fence.resolutionId),
  ]);
  const byIndex = new Map(answers.map((answer) => [answer.i, answer]));
  return transitions.map(({ events: list, fence }, i) => {
    const answer = byIndex.get(i);
    if (!answer?.owned) return resolutionLost(fence.resolutionId);
    return {
      events: list.length > 0 ? numberEvents(list, Number(answer.last_seq ?? 0), now) : [],
      nextRetry: answer.next_retry ?? null,
    };
  });
}

/**
 * Ownership first (FOR KEY SHARE, as writeTransition's fence); every part reads `owner`. The
 * resolutions are also found by their ids ($8, an array): joined to the JSON list alone, the
 * plan PostgreSQL keeps for this prepared statement read the whole resolution table for
 * every batch (a hash join over a sequential scan) until several thousand resolutions were
 * stored (measured: 3,000 yes, 30,000 no), 5% of the tasks/s of one instance in paired rounds.
 */
export const BATCH_SQL = `WITH x AS (
  SELECT * FROM json_to_recordset($1::json) AS x (i integer, task_id uuid, resolution_id uuid, owner_id uuid,
    n bigint, task_state text, sets_result boolean, task_result jsonb, end_state text,
    end_next_retry timestamptz, end_last_stop timestamptz)),
owner AS (SELECT r.id FROM resolution r JOIN x ON r.id = x.resolution_id AND r.instance_id = x.owner_id
           WHERE r.id = ANY($8::uuid[]) FOR KEY SHARE OF r),
seq AS (UPDATE task t SET last_seq = t.last_seq + x.n, last_activity = now(),
          state = coalesce(x.task_state, t.state),
          result = CASE WHEN x.sets_result THEN x.task_result ELSE t.result END
          FROM x WHERE t.id = x.task_id AND x.n > 0 AND x.resolution_id IN (SELECT id FROM owner)
          RETURNING t.id, t.last_seq, x.n),
ev AS (INSERT INTO event (stream_id, seq, type, step, stream, line, state, data, ts)
       SELECT s.id, s.last_seq - s.n + e.ord, e.type, e.step, e.stream, e.line, e.state, e.data, e.ts
         FROM json_to_recordset($2::json) AS e (task_id uuid, ord bigint, type text, step text, stream text,
                line text, state text, data jsonb, ts timestamptz)
         JOIN seq s ON s.id = e.task_id
       ON CONFLICT (stream_id, seq) DO NOTHING),
notified AS (SELECT pg_notify('${EVENT_CHANNEL}', s.id::text || ':' || s.last_seq) AS sent FROM seq s
       WHERE EXISTS (SELECT 1 FROM stream_watch w WHERE w.stream_id = s.id)),
removed AS (DELETE FROM resolution_step rs USING json_to_recordset($3::json) AS d (resolution_id uuid, name text)
       WHERE rs.resolution_id = d.resolution_id AND rs.name = d.name AND d.resolution_id IN (SELECT id FROM owner)),
saved AS (${upsertStepsSql(null, '$4', 'r.resolution_id IN (SELECT id FROM owner)')}),
started AS (INSERT INTO run (id, plugin_name, origin, data, state, requester, task_id, step_name, attempt,
            resolution_id, instance_id, ran_on, started_at)
       SELECT r.id, r."actionType", 'task', r.data, 'RUNNING', r.requester, r."taskId", r."stepName", r.attempt,
              r."resolutionId", r."ownerId", r."ranOn", now()
         FROM json_to_recordset($5::json)
           AS r (id uuid, "actionType" text, data jsonb, requester text, "taskId" uuid, "stepName" text,
                 attempt integer, "resolutionId" uuid, "ownerId" uuid, "ranOn" text)
        WHERE r."resolutionId" IN (SELECT id FROM owner)),
ended AS (UPDATE run SET state = r.state, result = r.result, error = r.error, exit_code = r.exit_code,
            signal = r.signal, kill_reason = r.kill_reason, dropped_lines = r.dropped_lines,
            dropped_bytes = r.dropped_bytes, finished_at = now(), instance_id = NULL, pgid = NULL
         FROM json_to_recordset($6::json)
           AS r (id uuid, state text, result jsonb, error text, exit_code integer, signal text, kill_reason text,
                 dropped_lines bigint, dropped_bytes bigint, "resolutionId" uuid)
        WHERE run.id = r.id AND r."resolutionId" IN (SELECT id FROM owner)),
settled AS (UPDATE resolution r SET state = x.end_state, next_retry = LEAST(r.next_retry, x.end_next_retry),
            last_stop = x.end_last_stop, instance_id = NULL
         FROM x WHERE r.id = x.resolution_id AND x.end_state IS NOT NULL AND r.id IN (SELECT id FROM owner)
         RETURNING r.id, r.next_retry),
grouped AS (UPDATE run SET pgid = r.pgid, pgid_start = r.pgid_start
         FROM json_to_recordset($7::json) AS r (id uuid, pgid integer, pgid_start text, "resolutionId" uuid)
        WHERE run.id = r.id AND run.state = 'RUNNING' AND r."resolutionId" IN (SELECT id FROM owner))
SELECT x.i, s.last_seq, x.resolution_id IN (SELECT id FROM owner) AS owned, st.next_retry,
       (SELECT count(*) FROM notified) AS sent
  FROM x LEFT JOIN seq s ON s.id = x.task_id LEFT JOIN settled st ON st.id = x.resolution_id`;
