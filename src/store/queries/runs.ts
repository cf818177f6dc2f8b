import type { Queryable } from '../store.ts';

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

export async function insertRun(db: Queryable, run: NewRun): Promise<void> {
  await db.query(
    `INSERT INTO run (id, plugin_name, origin, data, state, requester, task_id, step_name, attempt, batch_id, started_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, CASE WHEN $5 = 'RUNNING' THEN now() END)`,
    [
      run.id,
      run.pluginName,
      run.origin,
      JSON.stringify(run.data ?? null),
      run.state,
      run.requester ?? null,
      run.taskId ?? null,
      run.stepName ?? null,
      run.attempt ?? 1,
      run.batchId ?? null,
    ],
  );
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
      end.result === null || end.result === undefined ? null : JSON.stringify(end.result),
      end.error,
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
  return rows[0] ?? null;
}
