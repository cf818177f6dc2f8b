/**
 * Step states (µTask's names). A plugin run ends in one of the final ones, or in a
 * custom state a plugin names in its result.
 */
export const StepState = {
  TODO: 'TODO',
  RUNNING: 'RUNNING',
  DONE: 'DONE',
  CLIENT_ERROR: 'CLIENT_ERROR',
  SERVER_ERROR: 'SERVER_ERROR',
  FATAL_ERROR: 'FATAL_ERROR',
  CRASHED: 'CRASHED',
  PRUNE: 'PRUNE',
  TO_RETRY: 'TO_RETRY',
  RETRY_NOW: 'RETRY_NOW',
  AFTERRUN_ERROR: 'AFTERRUN_ERROR',
  EXPANDED: 'EXPANDED',
  WAITING: 'WAITING',
} as const;
export type StepState = (typeof StepState)[keyof typeof StepState];

/** States of a run that is not over yet; every other state is final. */
const LIVE_RUN_STATES: ReadonlySet<string> = new Set([StepState.TODO, StepState.RUNNING]);

export function isFinalRunState(state: string): boolean {
  return !LIVE_RUN_STATES.has(state);
}

/** States that µTask retries (a resolution comes back to them after a delay). */
export const RETRIABLE_STATES: ReadonlySet<string> = new Set([
  StepState.SERVER_ERROR,
  StepState.TO_RETRY,
  StepState.AFTERRUN_ERROR,
]);

/** Final states that mean the run failed; any other final state (DONE, custom) succeeded. */
const FAILED_STATES: ReadonlySet<string> = new Set([
  StepState.CLIENT_ERROR,
  StepState.SERVER_ERROR,
  StepState.FATAL_ERROR,
  StepState.CRASHED,
  StepState.AFTERRUN_ERROR,
]);

export function isFailedState(state: string): boolean {
  return FAILED_STATES.has(state);
}

const BUILTIN_STATES: ReadonlySet<string> = new Set(Object.values(StepState));

/** The builtin states a plugin's result may name; every other builtin is a live or engine state. */
const RESULT_STATES: ReadonlySet<string> = new Set([
  StepState.DONE,
  StepState.CLIENT_ERROR,
  StepState.FATAL_ERROR,
  StepState.SERVER_ERROR,
]);

/** A custom state: an upper-case word (letters, digits, `_`) that is not a builtin state. */
export function isCustomState(state: string): boolean {
  return /^[A-Z][A-Z0-9_]*$/.test(state) && !BUILTIN_STATES.has(state);
}

/**
 * Whether a plugin's result may end its run in `state`: a final builtin (DONE, CLIENT_ERROR,
 * FATAL_ERROR, SERVER_ERROR) or a custom state. RUNNING, TODO, WAITING and the engine's
 * own states (PRUNE, EXPANDED...) may not: a run that ended cannot be live.
 */
export function isResultState(state: string): boolean {
  return RESULT_STATES.has(state) || isCustomState(state);
}
