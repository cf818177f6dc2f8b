/**
 * The states of SPEC section 6 with µTask's classification of step states (engine/step):
 * - runnable: everything but RUNNING, DONE and PRUNE (and custom states): a step in one of
 *   them may be run again by a later resolution run (CLIENT_ERROR and FATAL_ERROR too, once
 *   a human fixed what was wrong);
 * - final: not RUNNING and not runnable: DONE, PRUNE and custom states;
 * - retriable: SERVER_ERROR, TO_RETRY, AFTERRUN_ERROR (the resolution comes back for them).
 */
import { StepState } from '../protocol/states.ts';

export { StepState };

export const TaskState = {
  TODO: 'TODO',
  BLOCKED: 'BLOCKED',
  RUNNING: 'RUNNING',
  WONTFIX: 'WONTFIX',
  DONE: 'DONE',
  CANCELLED: 'CANCELLED',
  WAITING: 'WAITING',
  DELAYED: 'DELAYED',
} as const;
export type TaskState = (typeof TaskState)[keyof typeof TaskState];

export const ResolutionState = {
  TODO: 'TODO',
  RUNNING: 'RUNNING',
  DONE: 'DONE',
  CANCELLED: 'CANCELLED',
  PAUSED: 'PAUSED',
  BLOCKED_TOCHECK: 'BLOCKED_TOCHECK',
  BLOCKED_BADREQUEST: 'BLOCKED_BADREQUEST',
  BLOCKED_DEADLOCK: 'BLOCKED_DEADLOCK',
  BLOCKED_MAXRETRIES: 'BLOCKED_MAXRETRIES',
  BLOCKED_FATAL: 'BLOCKED_FATAL',
  WAITING: 'WAITING',
  CRASHED: 'CRASHED',
  RETRY: 'RETRY',
  ERROR: 'ERROR',
  TO_AUTORUN: 'TO_AUTORUN',
  TO_AUTORUN_DELAYED: 'TO_AUTORUN_DELAYED',
  AUTORUNNING: 'AUTORUNNING',
} as const;
export type ResolutionState = (typeof ResolutionState)[keyof typeof ResolutionState];

/** µTask's StateAny: a dependency on any final state. */
export const ANY = 'ANY';

const RUNNABLE: ReadonlySet<string> = new Set([
  StepState.TODO,
  StepState.SERVER_ERROR,
  StepState.CLIENT_ERROR,
  StepState.FATAL_ERROR,
  StepState.CRASHED,
  StepState.TO_RETRY,
  StepState.RETRY_NOW,
  StepState.AFTERRUN_ERROR,
  StepState.EXPANDED,
  StepState.WAITING,
]);

const RETRIABLE: ReadonlySet<string> = new Set([
  StepState.SERVER_ERROR,
  StepState.TO_RETRY,
  StepState.AFTERRUN_ERROR,
]);

/** States after which check conditions are evaluated (µTask validAfterRunStates). */
export const AFTER_RUN_STATES: ReadonlySet<string> = new Set([
  StepState.DONE,
  StepState.CLIENT_ERROR,
  StepState.AFTERRUN_ERROR,
]);

export function isRunnable(state: string): boolean {
  return RUNNABLE.has(state);
}

export function isRetriable(state: string): boolean {
  return RETRIABLE.has(state);
}

export function isFinal(state: string): boolean {
  return state !== StepState.RUNNING && !RUNNABLE.has(state);
}
