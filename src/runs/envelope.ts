import { isFailedState } from '../protocol/states.ts';

export interface RunVerdictFields {
  state: string;
  result: Record<string, unknown> | null;
  error: string | null;
}

/**
 * The result envelope callers get back (CLI `execute`, `POST /plugin/:name/run`): what the
 * plugin printed, plus the run's `state`, `error` and `run_id`. `status` is 1 only when the
 * run succeeded: a status-1 line followed by a non-zero exit is a failure, and says so.
 */
export function resultEnvelope(run: RunVerdictFields, runId: string): Record<string, unknown> {
  const failed = isFailedState(run.state);
  const printed = run.result ?? { status: 0, reason: run.error ?? run.state, payload: null };
  return {
    ...printed,
    status: failed ? (printed.status === 1 ? 0 : printed.status) : printed.status,
    state: run.state,
    error: run.error,
    run_id: runId,
  };
}
