import { StepState } from '../protocol/states.ts';
import type { IssueList } from './errors.ts';
import { ANY } from './graph.ts';
import { stringItems } from './data.ts';
import type { FieldPath } from './types.ts';

/**
 * Which states a template may name, and where (µTask engine/step).
 */

/** µTask's builtin states, ANY included: no custom state may take one of these names. */
export const BUILTIN_STATES: ReadonlySet<string> = new Set([...Object.values(StepState), ANY]);

/**
 * What a condition's `then` may set, besides the target step's custom states (µTask's
 * stepConditionValidStates).
 */
export const CONDITION_STATES: readonly string[] = [
  StepState.DONE,
  StepState.PRUNE,
  StepState.TO_RETRY,
  StepState.RETRY_NOW,
  StepState.FATAL_ERROR,
  StepState.CLIENT_ERROR,
];

/**
 * The builtin states a dependency may wait for, besides the step's custom states and ANY:
 * DONE only. Every other builtin is either not final (the engine still works on a step in
 * CLIENT_ERROR...) or PRUNE, which prunes the dependent step unless it waits with ANY.
 */
export const DEPENDENCY_STATES: readonly string[] = [StepState.DONE];

/** Custom states: no builtin name, no repetition (the pattern is the shape check's). */
export function checkCustomStates(states: unknown, path: FieldPath, issues: IssueList): void {
  const seen = new Set<string>();
  for (const [index, state] of stringItems(states)) {
    if (BUILTIN_STATES.has(state)) {
      issues.add([...path, index], `custom state "${state}" is a builtin state`);
    } else if (seen.has(state)) {
      issues.add([...path, index], `custom state "${state}" is declared twice`);
    }
    seen.add(state);
  }
}
