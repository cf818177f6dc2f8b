import type { ResultEnvelope } from './envelope.ts';
import { RETRIABLE_STATES, StepState } from './states.ts';

/** How a plugin process ended, as observed by plugins/spawn.ts. */
export interface ProcessEnd {
  exitCode: number | null;
  signal: string | null;
  killReason: 'timeout' | 'cancelled' | null;
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
 * - status 1: DONE, or the custom `state` the plugin gave;
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
  if (end.killReason === 'cancelled') return failure(StepState.SERVER_ERROR, 'run cancelled', result);
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
  if (result.status === 1) {
    const state = typeof result.state === 'string' && result.state !== '' ? result.state : StepState.DONE;
    if (state === StepState.CLIENT_ERROR || state === StepState.FATAL_ERROR) {
      return failure(state, reason ?? state, result);
    }
    return { state, result, error: null, retriable: false };
  }
  const state =
    result.state === StepState.CLIENT_ERROR || result.state === StepState.FATAL_ERROR
      ? result.state
      : StepState.SERVER_ERROR;
  return failure(state, reason ?? `plugin returned status ${result.status}`, result);
}
