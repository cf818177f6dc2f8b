/**
 * Step conditions as µTask evaluates them (engine/step/condition), on values already
 * rendered: pure, no templating here. A condition's `if` is a list of assertions that must
 * all hold; when they do, its `then` sets states (on this step or others). A `skip`
 * condition is checked before a step runs, a `check` condition after.
 *
 * An assertion that does not hold is not an error: the condition just does not apply. An
 * assertion that cannot be evaluated (GT on a word, a broken regex) is an error: µTask then
 * puts the step in SERVER_ERROR (skip) or AFTERRUN_ERROR (check) with its message.
 */
import { compileGoRegex } from '../expr/go-regex.ts';
import { Operator } from '../template/types.ts';

const OPERATORS: ReadonlySet<string> = new Set(Object.values(Operator));
const DEFAULT_SEPARATOR = ',';

/** The operator in upper case, or null when it is not one (operators are case-insensitive). */
export function normaliseOperator(operator: string): Operator | null {
  const upper = operator.toUpperCase();
  return OPERATORS.has(upper) ? (upper as Operator) : null;
}

/** One assertion, its `value` and `expected` already rendered to text. */
export interface RenderedAssert {
  value: string;
  operator: string;
  expected: string;
  list_separator?: string;
  message?: string;
}

export type AssertOutcome = { met: true } | { met: false; why: string };

/** An assertion that cannot be evaluated: the message says why, naming the values. */
export class ConditionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConditionError';
  }
}

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

function toNumber(text: string, operator: string, side: string): number {
  const trimmed = text.trim();
  if (!NUMBER.test(trimmed)) {
    throw new ConditionError(`${operator} compares numbers: the ${side} "${text}" is not a number`);
  }
  return Number(trimmed);
}

function toRegExp(pattern: string): RegExp {
  // Go's syntax, compiled as template validation compiled it (expr/go-regex.ts).
  try {
    return compileGoRegex(pattern);
  } catch (error) {
    throw new ConditionError(
      `invalid regular expression ${JSON.stringify(pattern)}: ${(error as Error).message}`,
    );
  }
}

/** For IN and NOTIN: `value` is a list (split on the separator, items trimmed) and `expected` one item. */
function inList(value: string, expected: string, separator: string | undefined): boolean {
  return value.split(separator || DEFAULT_SEPARATOR).some((item) => item.trim() === expected);
}

function notMet(why: string, message: string | undefined): AssertOutcome {
  return { met: false, why: message ? `${why}: ${message}` : why };
}

/**
 * Whether one assertion holds. µTask's wording for why not; a missing value is empty text.
 * Throws a ConditionError for an unknown operator, non-numbers under GT/LT/GE/LE, or a
 * broken regular expression.
 */
export function evaluateAssert(assert: RenderedAssert): AssertOutcome {
  const operator = normaliseOperator(assert.operator);
  const { value, expected, message } = assert;
  switch (operator) {
    case Operator.EQ:
      return value === expected ? { met: true } : notMet(`expected '${expected}', got '${value}'`, message);
    case Operator.NE:
      return value !== expected
        ? { met: true }
        : notMet(`expected a value different from '${expected}'`, message);
    case Operator.GT:
    case Operator.LT:
    case Operator.GE:
    case Operator.LE: {
      const left = toNumber(value, operator, 'value');
      const right = toNumber(expected, operator, 'expected value');
      const holds =
        operator === Operator.GT
          ? left > right
          : operator === Operator.LT
            ? left < right
            : operator === Operator.GE
              ? left >= right
              : left <= right;
      const sign = { GT: '>', LT: '<', GE: '>=', LE: '<=' }[operator];
      return holds ? { met: true } : notMet(`expected ${left} ${sign} ${right}`, message);
    }
    case Operator.REGEXP:
      return toRegExp(expected).test(value)
        ? { met: true }
        : notMet(`${value} does not match regular expression ${expected}`, message);
    case Operator.NOTREGEXP:
      return !toRegExp(expected).test(value)
        ? { met: true }
        : notMet(`${value} matches regular expression ${expected} and should not`, message);
    case Operator.IN:
      return inList(value, expected, assert.list_separator)
        ? { met: true }
        : notMet(`expected ${expected} to be found in the list ${value}`, message);
    case Operator.NOTIN:
      return !inList(value, expected, assert.list_separator)
        ? { met: true }
        : notMet(`expected ${expected} not to be found in the list ${value}`, message);
    default:
      throw new ConditionError(`unknown condition operator ${JSON.stringify(assert.operator)}`);
  }
}

/** Whether every assertion holds (an empty list holds); the first that does not says why. */
export function evaluateAll(asserts: readonly RenderedAssert[]): AssertOutcome {
  for (const assert of asserts) {
    const outcome = evaluateAssert(assert);
    if (!outcome.met) return outcome;
  }
  return { met: true };
}
