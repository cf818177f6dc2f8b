import { isRecord } from '../../template/data.ts';
import { parseGoDurationMs } from '../../expr/duration.ts';
import { didYouMean } from '../../template/suggest.ts';
import { ActionError } from './types.ts';

/**
 * Reading a builtin action's `configuration`, for the two moments the engine asks for it:
 *
 * - at template validation (`validateConfig`), before rendering: a string that still holds
 *   `{{` is unknown until the step runs, so checks of its form (a duration, a method, a
 *   boolean) are skipped, as µTask's validConfig skips `{{…}}` methods;
 * - at run time, after rendering: everything is checked, and a problem fails the step with
 *   FATAL_ERROR, as µTask does when the rendered configuration of an execution is invalid
 *   (engine/step generateExecution).
 *
 * Problems are one line naming the field: `configuration.timeout: …`. Unknown fields are
 * refused with a "did you mean", where µTask's JSON decoding would silently ignore a typo.
 */

/** What is wrong with one field of a configuration. */
export class ConfigProblem extends Error {
  constructor(field: string, problem: string) {
    super(`configuration${field === '' ? '' : `.${field}`}: ${problem}`);
    this.name = 'ConfigProblem';
  }
}

/** Before rendering (template validation) or after (the step runs). */
export type ConfigStage = 'unrendered' | 'rendered';

/**
 * The largest delay a Node timer honours (2^31 - 1 ms, about 24.8 days): a longer one would
 * fire at once, so longer timeouts are refused rather than silently shortened.
 */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** One scalar as the text Go's `%s`/`%v` would give for it, or undefined for anything else. */
function scalarText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

/** Go's strconv.ParseBool, which µTask uses for its string booleans ("true", "1", "F"...). */
const GO_BOOLEANS: Readonly<Record<string, boolean>> = {
  '1': true,
  t: true,
  T: true,
  true: true,
  TRUE: true,
  True: true,
  '0': false,
  f: false,
  F: false,
  false: false,
  FALSE: false,
  False: false,
};

/** Typed access to the fields of one configuration; every reader throws ConfigProblem. */
export class ConfigReader {
  readonly stage: ConfigStage;
  private readonly values: Record<string, unknown>;
  /** Where this map sits in the configuration ("auth.basic."), for the names in problems. */
  private readonly prefix: string;

  /**
   * `fields` are the names the action knows; any other key is refused. An absent (null)
   * configuration reads as an empty one, as µTask decodes it into a zero-valued struct.
   * `at` names a nested map ("auth") read with its own reader.
   */
  constructor(configuration: unknown, fields: readonly string[], stage: ConfigStage, at = '') {
    this.stage = stage;
    this.prefix = at === '' ? '' : `${at}.`;
    if (configuration === undefined || configuration === null) {
      this.values = {};
    } else if (isRecord(configuration)) {
      this.values = configuration;
    } else {
      throw new ConfigProblem(at, `must be a map of fields, not ${describe(configuration)}`);
    }
    for (const key of Object.keys(this.values)) {
      if (!fields.includes(key)) {
        throw this.problem(key, `unknown field${didYouMean(key, fields)} (known: ${fields.join(', ')})`);
      }
    }
  }

  /** A problem with `field` of this map, named from the configuration's root. */
  problem(field: string, problem: string): ConfigProblem {
    return new ConfigProblem(this.prefix + field, problem);
  }

  /** True for a string that is still a template (only before rendering). */
  pending(value: unknown): boolean {
    return this.stage === 'unrendered' && typeof value === 'string' && value.includes('{{');
  }

  has(field: string): boolean {
    return this.values[field] !== undefined && this.values[field] !== null;
  }

  raw(field: string): unknown {
    return this.values[field] ?? undefined;
  }

  /**
   * A text field; numbers and booleans are taken as their text (YAML makes `42` a number
   * where the template meant a string). Empty counts as absent, as Go's zero value does.
   */
  text(field: string, options: { required?: boolean } = {}): string | undefined {
    const value = this.raw(field);
    if (value === undefined) {
      if (options.required) throw this.problem(field, 'is missing');
      return undefined;
    }
    const text = scalarText(value);
    if (text === undefined) throw this.problem(field, `must be a string, not ${describe(value)}`);
    if (text === '' && options.required) throw this.problem(field, 'is empty');
    return text === '' ? undefined : text;
  }

  /** A list of scalars as strings; a whole-list template reads as undefined before rendering. */
  texts(field: string): string[] | undefined {
    const value = this.raw(field);
    if (value === undefined || this.pending(value)) return undefined;
    if (!Array.isArray(value)) throw this.problem(field, `must be a list, not ${describe(value)}`);
    return value.map((item, index) => {
      const text = scalarText(item);
      if (text === undefined) {
        throw this.problem(`${field}[${index}]`, `must be a string, not ${describe(item)}`);
      }
      return text;
    });
  }

  /** A map of scalars as strings; a whole-map template reads as undefined before rendering. */
  textMap(field: string): Record<string, string> | undefined {
    const value = this.raw(field);
    if (value === undefined || this.pending(value)) return undefined;
    if (!isRecord(value)) throw this.problem(field, `must be a map, not ${describe(value)}`);
    const out: Record<string, string> = {};
    for (const [key, item] of Object.entries(value)) {
      const text = item === null ? '' : scalarText(item);
      if (text === undefined) {
        throw this.problem(`${field}.${key}`, `must be a string, not ${describe(item)}`);
      }
      out[key] = text;
    }
    return out;
  }

  /** A list field kept as it is; a whole-list template reads as undefined before rendering. */
  list(field: string): unknown[] | undefined {
    const value = this.raw(field);
    if (value === undefined || this.pending(value)) return undefined;
    if (!Array.isArray(value)) throw this.problem(field, `must be a list, not ${describe(value)}`);
    return value as unknown[];
  }

  /** A map field kept as it is (an object of any values). */
  map(field: string): Record<string, unknown> | undefined {
    const value = this.raw(field);
    if (value === undefined || this.pending(value)) return undefined;
    if (!isRecord(value)) throw this.problem(field, `must be a map, not ${describe(value)}`);
    return value;
  }

  /** A boolean, or a string Go's strconv.ParseBool accepts; undefined when absent or pending. */
  bool(field: string): boolean | undefined {
    const value = this.raw(field);
    if (value === undefined || value === '' || this.pending(value)) return undefined;
    if (typeof value === 'boolean') return value;
    const parsed = typeof value === 'string' ? GO_BOOLEANS[value] : undefined;
    if (parsed === undefined) throw this.problem(field, `must be true or false, not ${describe(value)}`);
    return parsed;
  }

  /**
   * A positive Go duration ("25s", "1m30s") in milliseconds, `fallback` when absent. Before
   * rendering, a template reads as the fallback (its value is not known yet).
   */
  durationMs(field: string, fallback: number): number {
    const text = this.text(field);
    if (text === undefined || this.pending(text)) return fallback;
    let ms: number;
    try {
      ms = parseGoDurationMs(text);
    } catch (error) {
      throw this.problem(field, (error as Error).message);
    }
    if (ms <= 0) throw this.problem(field, `must be positive, not "${text}"`);
    if (ms > MAX_TIMER_MS) throw this.problem(field, `"${text}" is too long (at most 596h)`);
    return ms;
  }
}

/** A short description of a value's type for a problem: `a list`, `the number 3`. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a map';
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  return `the ${typeof value} ${String(value)}`;
}

/** `validateConfig`'s answer: the problem `check` throws, or undefined when there is none. */
export function problemIn(check: () => unknown): string | undefined {
  try {
    check();
    return undefined;
  } catch (error) {
    if (error instanceof ConfigProblem) return error.message;
    throw error;
  }
}

/** Runs a rendered configuration's parser; a problem fails the step FATAL_ERROR (µTask's kind). */
export function parseRendered<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof ConfigProblem) throw new ActionError('fatal', error.message);
    throw error;
  }
}
