import type { IssueList } from './errors.ts';
import { canImpactState, type DependencyGraph } from './graph.ts';
import { entriesOf, isRecord, itemsOf } from './data.ts';
import { compileGoRegex } from '../expr/go-regex.ts';
import { CONDITION_STATES } from './states.ts';
import { didYouMean } from './suggest.ts';
import type { FieldPath } from './types.ts';

/**
 * Checks of skip and check conditions (µTask engine/step ValidCondition), beyond their
 * shape: what `then` may name and set, foreach on conditions, and the assertions whose
 * expected value is a literal (regular expressions that must compile, integers for
 * GT/LT/GE/LE).
 */

export const THIS = 'this';

export interface ConditionScope {
  /** The step holding the conditions; absent for a function's (whose `then` names only `this`). */
  step?: string;
  /** Whether that step is a foreach step. */
  foreach: boolean;
  /** The template's steps and what each depends on. */
  graph: DependencyGraph;
  /**
   * The custom states a step can be set to (its own and its functions'; `this` in a
   * function), or undefined when they cannot be known (its action type is unknown).
   */
  customStates: (step: string) => readonly string[] | undefined;
}

const COMPARISONS = new Set(['GT', 'LT', 'GE', 'LE']);
const REGEXPS = new Set(['REGEXP', 'NOTREGEXP']);

export function checkConditions(
  conditions: unknown,
  path: FieldPath,
  scope: ConditionScope,
  issues: IssueList,
): void {
  itemsOf(conditions).forEach((condition, index) => {
    if (isRecord(condition)) checkCondition(condition, [...path, index], scope, issues);
  });
}

function checkCondition(
  condition: Record<string, unknown>,
  path: FieldPath,
  scope: ConditionScope,
  issues: IssueList,
): void {
  if (typeof condition.foreach === 'string') {
    if (!scope.foreach) {
      issues.add(
        [...path, 'foreach'],
        'foreach is for the conditions of a foreach step, and this step has no foreach',
      );
    } else if (condition.type === 'check') {
      issues.add(
        [...path, 'foreach'],
        'foreach applies to skip conditions only (check conditions run on each child)',
      );
    }
  }
  itemsOf(condition.if).forEach((assert, index) => {
    if (isRecord(assert)) checkAssert(assert, [...path, 'if', index], issues);
  });
  for (const [target, state] of entriesOf(condition.then)) {
    checkThen(target, state, [...path, 'then', target], scope, issues);
  }
}

function checkThen(
  target: string,
  state: unknown,
  path: FieldPath,
  scope: ConditionScope,
  issues: IssueList,
): void {
  if (scope.step === undefined) {
    if (target !== THIS) {
      issues.add(
        path,
        `a function's condition can only set "this" (the step calling it), not "${target}"`,
        'key',
      );
      return;
    }
  } else if (target === scope.step && !scope.foreach) {
    issues.add(path, `a step names itself "this" in its conditions, not "${target}"`, 'key');
    return;
  }
  const step = target === THIS ? scope.step : target;
  if (step !== undefined && target !== THIS) {
    if (!scope.graph.has(step)) {
      issues.add(path, `unknown step "${target}"${didYouMean(target, [THIS, ...scope.graph.keys()])}`, 'key');
      return;
    }
    if (scope.step !== undefined && !canImpactState(scope.graph, scope.step, step)) {
      issues.add(
        path,
        `a condition of "${scope.step}" cannot set the state of "${step}": only the step itself, the steps it depends on and the steps depending on it (directly or not)`,
        'key',
      );
      return;
    }
  }
  if (typeof state !== 'string') return;
  const custom = scope.customStates(step ?? THIS);
  if (custom === undefined) return;
  const allowed = [...CONDITION_STATES, ...custom];
  if (!allowed.includes(state)) {
    const customs = custom.length > 0 ? ` or a custom state of ${step ?? THIS} (${custom.join(', ')})` : '';
    issues.add(
      path,
      `a condition cannot set ${step ?? THIS} to "${state}": it sets ${CONDITION_STATES.join(', ')}${customs}${didYouMean(state, allowed)}`,
    );
  }
}

/** Assertions whose expected value is written as a literal, not rendered: checked now. */
function checkAssert(assert: Record<string, unknown>, path: FieldPath, issues: IssueList): void {
  if (typeof assert.operator !== 'string') return;
  const operator = assert.operator.toUpperCase();
  const literal = (value: unknown): string | undefined =>
    typeof value === 'number' || typeof value === 'boolean'
      ? String(value)
      : typeof value === 'string' && !value.includes('{{')
        ? value
        : undefined;
  const expected = literal(assert.expected);
  if (REGEXPS.has(operator) && expected !== undefined) {
    try {
      compileGoRegex(expected);
    } catch (error) {
      issues.add(
        [...path, 'expected'],
        `invalid regular expression ${JSON.stringify(expected)}: ${(error as Error).message}`,
      );
    }
  }
  if (COMPARISONS.has(operator)) {
    for (const field of ['value', 'expected'] as const) {
      const written = literal(assert[field]);
      if (written !== undefined && !/^[-+]?\d+$/.test(written)) {
        issues.add(
          [...path, field],
          `${operator} compares integers, and ${JSON.stringify(written)} is not one`,
        );
      }
    }
  }
}
