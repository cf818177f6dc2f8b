import type { ResultEnvelope } from './envelope.ts';
import { isFailedState, isResultState, RETRIABLE_STATES, StepState } from './states.ts';

/** How a plugin process ended, as observed by plugins/spawn.ts. */
export interface ProcessEnd {
  exitCode: number | null;
  signal: string | null;
  killReason: 'timeout' | 'cancelled' | null;
  /** Why a cancelled run was cancelled ("taskhost received SIGTERM"), when known. */
  cancelReason?: string | null;
  timeoutMs: number;
  spawnError: string | null;
  stderrTail: readonly string[];
}

/** The verdict on one run, as a step would take it. */
export interface RunVerdict {
  state: string;
  /** The plugin's result envelope, when it printed one (even if the run failed later). */
  result: ResultEnvelope | null;
  error: string | null;
  retriable: boolean;
}

function tail(stderrTail: readonly string[]): string {
  const lines = stderrTail.filter((line) => line.trim() !== '');
  return lines.length === 0 ? '' : `; last stderr: ${lines.join(' | ')}`;
}

function describeEnd(end: ProcessEnd): string {
  if (end.signal) return `was killed by ${end.signal}`;
  return `exited with code ${end.exitCode ?? 'unknown'}`;
}

function failure(state: string, error: string, result: ResultEnvelope | null = null): RunVerdict {
  return { state, result, error, retriable: RETRIABLE_STATES.has(state) };
}

/**
 * Maps a process end and the last result line to a step state (SPEC section 3):
 * - spawn failure, kill, signal, non-zero exit, or no result line: SERVER_ERROR naming why;
 * - a `state` that is not a final state a result may name (RUNNING, TODO, WAITING, a
 *   lower-case word...): SERVER_ERROR naming it, so a run can never end in a live state;
 * - status 1: DONE, or the `state` the plugin gave (a failure state fails the run, with
 *   its retriability: SERVER_ERROR is retried, CLIENT_ERROR and FATAL_ERROR are not);
 * - any other status: SERVER_ERROR with the reason, unless `state` is CLIENT_ERROR or
 *   FATAL_ERROR;
 * - a result that breaks the plugin's `outputs` schema: SERVER_ERROR naming the mismatch.
 */
export function judgeRun(
  end: ProcessEnd,
  result: ResultEnvelope | null,
  outputErrors: string | null,
): RunVerdict {
  if (end.spawnError) return failure(StepState.SERVER_ERROR, end.spawnError);
  if (end.killReason === 'timeout') {
    return failure(
      StepState.SERVER_ERROR,
      `killed after the ${end.timeoutMs / 1000} s timeout${tail(end.stderrTail)}`,
      result,
    );
  }
  if (end.killReason === 'cancelled') {
    return failure(
      StepState.SERVER_ERROR,
      `run cancelled${end.cancelReason ? `: ${end.cancelReason}` : ''}`,
      result,
    );
  }
  if (end.signal || end.exitCode !== 0) {
    return failure(StepState.SERVER_ERROR, `plugin ${describeEnd(end)}${tail(end.stderrTail)}`, result);
  }
  if (!result) {
    return failure(
      StepState.SERVER_ERROR,
      `no result line: the plugin printed no JSON object with an integer "status" on stdout (it ${describeEnd(end)})${tail(end.stderrTail)}`,
    );
  }
  if (outputErrors) {
    return failure(
      StepState.SERVER_ERROR,
      `result does not match the plugin's outputs schema: ${outputErrors}`,
      result,
    );
  }

  const reason = typeof result.reason === 'string' ? result.reason : null;
  const declared = typeof result.state === 'string' && result.state !== '' ? result.state : null;
  if (declared !== null && !isResultState(declared)) {
    return failure(
      StepState.SERVER_ERROR,
      `the plugin's result names state "${declared}", which is not a final state: use DONE, CLIENT_ERROR, FATAL_ERROR, SERVER_ERROR or a custom state (an upper-case word that is not a builtin state)`,
      result,
    );
  }
  if (result.status === 1) {
    const state = declared ?? StepState.DONE;
    if (isFailedState(state)) return failure(state, reason ?? state, result);
    return { state, result, error: null, retriable: false };
  }
  const state =
    declared === StepState.CLIENT_ERROR || declared === StepState.FATAL_ERROR
      ? declared
      : StepState.SERVER_ERROR;
  return failure(state, reason ?? `plugin returned status ${result.status}`, result);
}
