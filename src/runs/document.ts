import type { RunRow } from '../store/queries/runs.ts';

/** A run as the API and the stream's snapshot show it. */
export interface RunDocument {
  id: string;
  plugin: string;
  origin: string;
  state: string;
  requester: string | null;
  task_id: string | null;
  step_name: string | null;
  attempt: number;
  batch_id: string | null;
  data: unknown;
  result: Record<string, unknown> | null;
  error: string | null;
  exit_code: number | null;
  signal: string | null;
  kill_reason: string | null;
  /** Where it ran: `HOSTNAME/PID` of the taskhost process (null before it started). */
  instance: string | null;
  output_dropped: { lines: number; bytes: number };
  created: string;
  started: string | null;
  finished: string | null;
  duration_ms: number | null;
  last_seq: number;
}

export function runDocument(row: RunRow): RunDocument {
  const started = row.started_at ? row.started_at.toISOString() : null;
  const finished = row.finished_at ? row.finished_at.toISOString() : null;
  return {
    id: row.id,
    plugin: row.plugin_name,
    origin: row.origin,
    state: row.state,
    requester: row.requester,
    task_id: row.task_id,
    step_name: row.step_name,
    attempt: row.attempt,
    batch_id: row.batch_id,
    data: row.data,
    result: row.result,
    error: row.error,
    exit_code: row.exit_code,
    signal: row.signal,
    kill_reason: row.kill_reason,
    instance: row.ran_on,
    output_dropped: { lines: Number(row.dropped_lines), bytes: Number(row.dropped_bytes) },
    created: row.created_at.toISOString(),
    started,
    finished,
    duration_ms:
      row.started_at && row.finished_at ? row.finished_at.getTime() - row.started_at.getTime() : null,
    last_seq: Number(row.last_seq),
  };
}
