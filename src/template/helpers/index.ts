/**
 * Every template helper, by sprig's families, and their installation on a Handlebars
 * environment. Handlebars calls a helper as `fn(...args, options)`; the wrapper here takes
 * `options` off once for all, hands the helper its `HelperCall`, and turns whatever it
 * throws into a `HelperFailure` located at the expression (Handlebars gives `options.loc`).
 *
 * Handlebars' own helpers win where names collide: `if`, `unless`, `each`, `with`,
 * `lookup`, `log` keep their Handlebars meaning (`{{#if}}` is the block form of Go's
 * `{{if}}`; note that Handlebars' `if` counts an empty object as true, where Go's `if` does
 * not: write `{{#if (not (empty x))}}` for Go's truth).
 */
import type { HelperDelegate, HelperOptions } from 'handlebars';
import { builtinHelpers } from './builtins.ts';
import { dateHelpers } from './dates.ts';
import { defaultsHelpers } from './defaults.ts';
import { dictHelpers } from './dicts.ts';
import { encodingHelpers } from './encoding.ts';
import { HelperError, type HelperTable, type RenderScope } from './helper.ts';
import { listHelpers } from './lists.ts';
import { mathHelpers } from './math.ts';
import { miscHelpers } from './misc.ts';
import { regexHelpers } from './regex.ts';
import { semverHelpers } from './semver.ts';
import { stringHelpers } from './strings.ts';
import { valueHelpers } from './values.ts';

/** Names Handlebars defines itself; ours never replace them. */
export const HANDLEBARS_BUILTINS = [
  'if',
  'unless',
  'each',
  'with',
  'lookup',
  'log',
  'helperMissing',
  'blockHelperMissing',
];

export const HELPERS: HelperTable = {
  ...builtinHelpers,
  ...defaultsHelpers,
  ...stringHelpers,
  ...listHelpers,
  ...dictHelpers,
  ...mathHelpers,
  ...dateHelpers,
  ...encodingHelpers,
  ...regexHelpers,
  ...semverHelpers,
  ...miscHelpers,
  ...valueHelpers,
};

/** Source position Handlebars attaches to a helper call. */
export interface SourceLocation {
  start: { line: number; column: number };
  end: { line: number; column: number };
}

/** A helper's failure (or an unknown helper), with where it happened in the template. */
export class HelperFailure extends Error {
  readonly helper: string;
  readonly loc: SourceLocation | undefined;

  constructor(helper: string, message: string, loc: SourceLocation | undefined) {
    super(message);
    this.name = 'HelperFailure';
    this.helper = helper;
    this.loc = loc;
  }
}

/** The scope a render passes to its helpers through Handlebars' data frame. */
export const SCOPE_KEY = 'taskhost';

interface Options extends HelperOptions {
  name?: string;
  loc?: SourceLocation;
}

function scopeOf(options: Options): RenderScope {
  const scope = (options.data as Record<string, unknown> | undefined)?.[SCOPE_KEY];
  if (scope === undefined) throw new HelperError('helper called outside a render');
  return scope as RenderScope;
}

function describe(error: unknown): string {
  if (error instanceof HelperError || error instanceof HelperFailure) return error.message;
  // A bug in a helper: say what it was, never with a stack trace.
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

export function wrapHelper(name: string, helper: HelperTable[string]): HelperDelegate {
  return function (this: unknown, ...args: unknown[]): unknown {
    const options = args.pop() as Options;
    try {
      return helper(args, {
        name,
        scope: scopeOf(options),
        hash: (options.hash ?? {}) as Record<string, unknown>,
      });
    } catch (error) {
      if (error instanceof HelperFailure) throw error;
      throw new HelperFailure(name, `error calling ${name}: ${describe(error)}`, options.loc);
    }
  };
}

/** Replaces Handlebars' helperMissing so an unknown helper names itself and its place. */
export function helperMissing(...args: unknown[]): unknown {
  const options = args.pop() as Options;
  if (args.length === 0) return undefined;
  const name = options.name ?? '?';
  throw new HelperFailure(name, `unknown helper "${name}"`, options.loc);
}
