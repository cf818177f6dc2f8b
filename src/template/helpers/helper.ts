/**
 * The shape of a template helper. Handlebars calls a helper with its arguments followed by
 * an options hash; `helpers/index.ts` strips that hash once, so each helper here receives
 * only the arguments written in the template (sprig's argument order: the piped value of a
 * Go pipeline is the last argument) and a `HelperCall` for what few need more.
 */
import { isNil, strval, toInt64 } from './go-values.ts';

/** What a helper may read besides its arguments, for the render in progress. */
export interface RenderScope {
  /** The value root (`input`, `step`, `config`, …), as templates see it. */
  readonly root: Readonly<Record<string, unknown>>;
  /** Evaluates a template variable; `cached` reads it once per resolution run. */
  evaluate(name: string, cached: boolean): unknown;
}

export interface HelperCall {
  readonly name: string;
  readonly scope: RenderScope;
  /** Handlebars' hash arguments (`{{dict a=1}}`), empty for most calls. */
  readonly hash: Readonly<Record<string, unknown>>;
}

export type Helper = (args: unknown[], call: HelperCall) => unknown;
export type HelperTable = Readonly<Record<string, Helper>>;

/** A helper's failure: the renderer names the template expression around it. */
export class HelperError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HelperError';
  }
}

/** Go's "wrong number of args for NAME: want N got M". */
export function expectArgs(name: string, args: readonly unknown[], min: number, max = min): void {
  if (args.length >= min && args.length <= max) return;
  const want = max === Infinity ? `at least ${min}` : min === max ? String(min) : `${min} to ${max}`;
  throw new HelperError(`wrong number of args for ${name}: want ${want} got ${args.length}`);
}

/**
 * A string parameter. Go would refuse a number or a missing value for a string
 * parameter; µTask's JSON numbers were strings (json.Number), so any value is accepted
 * here, as `toString` prints it, and a missing one is "".
 */
export function str(value: unknown): string {
  return isNil(value) ? '' : strval(value);
}

/** An int parameter, converted as sprig's cast does ("12" → 12, a float truncated). */
export function int(value: unknown): number {
  return toInt64(value);
}

/** The argument at `index` (noUncheckedIndexedAccess: undefined when absent). */
export function arg(args: readonly unknown[], index: number): unknown {
  return args[index];
}

/** Builds a table of fixed-arity helpers: `fixed(2, (a, b) => …)` checks the count first. */
export function fixed(count: number, fn: (...args: unknown[]) => unknown): Helper {
  return (args, call) => {
    expectArgs(call.name, args, count);
    return fn(...args);
  };
}

/** A helper taking `min` to `max` arguments. */
export function ranged(min: number, max: number, fn: (...args: unknown[]) => unknown): Helper {
  return (args, call) => {
    expectArgs(call.name, args, min, max);
    return fn(...args);
  };
}
