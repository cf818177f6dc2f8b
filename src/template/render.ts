/**
 * Rendering values: what the engine calls to turn a step's configuration, a condition's
 * value, a title or a result format into concrete values.
 *
 *   renderString(text, context, options)   one template text → string
 *   renderValue(value, context, options)   every string inside a configuration object or
 *                                          array rendered (µTask's resolveObject); keys and
 *                                          non-string values are kept as they are
 *
 *   renderJson(text, context, options)     a text that must render to JSON, decoded (µTask's
 *                                          `foreach: '{{.step.x.children | toJson}}'`)
 *
 * A rendered string stays a string, even when it holds JSON: µTask's `output` strategy
 * `template` renders each string of `format` (renderValue) and keeps strings; only
 * `foreach` decodes, which is what renderJson is for. Rendering never throws
 * anything but a `RenderError`, whose message names the path given by the caller, the
 * `{{…}}` expression and the reason, in one line without a stack trace.
 *
 * Variables (`{{eval "x"}}`): a `value` that is a string is itself rendered at each use;
 * an `expression` is rendered, then run in QuickJS (`src/expr/sandbox.ts`) with the roots
 * it names defined as globals; `evalCache` keeps the result in the caller's `EvalCache`.
 * QuickJS is loaded only when the context has an expression variable.
 */
import { parseGoDuration } from '../expr/duration.ts';
import {
  DEFAULT_EXPRESSION_LIMITS,
  loadExpressionEngine,
  MAX_EXPRESSION_TIMEOUT_MS,
  type ExpressionBatch,
  type ExpressionEngine,
  type ExpressionLimits,
} from '../expr/sandbox.ts';
import { compileTemplate, TemplateSyntaxError } from './compile.ts';
import {
  createEvalCache,
  ROOT_NAMES,
  valueRoot,
  type EvalCache,
  type ValueContext,
  type Variable,
} from './context.ts';
import { GO_JSON, isGoStruct } from './helpers/go-values.ts';
import { HelperError, type RenderScope } from './helpers/helper.ts';
import { HelperFailure, SCOPE_KEY } from './helpers/index.ts';

export interface RenderOptions {
  /** Where the text comes from, named in errors: `steps.fetch.action.configuration.url`. */
  path?: string;
  /** The step being rendered for: `step.this` is this step's values. */
  step?: string;
  /** `evalCache` results of this resolution run (one `createEvalCache()` per run). */
  evalCache?: EvalCache;
  /** Sandbox limits (the defaults of expr/sandbox.ts otherwise). */
  limits?: Partial<ExpressionLimits>;
}

const RENDER_ERROR = Symbol.for('taskhost.RenderError');

/**
 * A template that could not be rendered; `message` is one line for the step's error. It is
 * a step outcome (the engine fails the step with it), not a host error of src/errors.ts.
 */
export class RenderError extends Error {
  readonly [RENDER_ERROR] = true;
  readonly path: string | undefined;
  readonly expression: string | undefined;
  readonly reason: string;

  constructor(reason: string, path?: string, expression?: string) {
    super([path, expression, reason].filter((part) => part !== undefined && part !== '').join(': '));
    this.name = 'RenderError';
    this.path = path;
    this.expression = expression;
    this.reason = reason;
  }
}

/** True for a RenderError, checked by a brand so it holds across module copies. */
export function isRenderError(error: unknown): error is RenderError {
  return error instanceof Error && (error as { [RENDER_ERROR]?: unknown })[RENDER_ERROR] === true;
}

function hasExpressions(context: ValueContext): boolean {
  return (context.variables ?? []).some(
    (variable) => typeof variable.expression === 'string' && isNilValue(variable.value),
  );
}

function isNilValue(value: unknown): boolean {
  return value === undefined || value === null;
}

function jsonReplacer(_key: string, value: unknown): unknown {
  return isGoStruct(value) ? value[GO_JSON]() : value;
}

/** One render call: the root, the variables, and the sandbox runtime of its expressions. */
class RenderBatch implements RenderScope {
  readonly root: Record<string, unknown>;
  readonly #variables: Map<string, Variable>;
  readonly #cache: EvalCache;
  readonly #engine: ExpressionEngine | undefined;
  readonly #limits: ExpressionLimits;
  readonly #evaluating: string[] = [];
  readonly #json = new Map<string, string>();
  #batch: ExpressionBatch | undefined;

  constructor(context: ValueContext, options: RenderOptions, engine: ExpressionEngine | undefined) {
    this.root = valueRoot(context, options.step);
    this.#variables = new Map((context.variables ?? []).map((variable) => [variable.name, variable]));
    this.#cache = options.evalCache ?? createEvalCache();
    this.#engine = engine;
    this.#limits = { ...DEFAULT_EXPRESSION_LIMITS, ...options.limits };
  }

  render(text: string, path: string | undefined): string {
    if (!text.includes('{{')) return text;
    let template;
    try {
      template = compileTemplate(text);
    } catch (error) {
      if (error instanceof TemplateSyntaxError) throw new RenderError(error.message, path, error.expression);
      throw error;
    }
    try {
      return template.run(this.root, { [SCOPE_KEY]: this });
    } catch (error) {
      if (error instanceof HelperFailure) {
        throw new RenderError(error.message, path, template.statementAt(error.loc));
      }
      if (isRenderError(error)) throw new RenderError(error.reason, path, error.expression);
      const message = error instanceof Error ? error.message : String(error);
      throw new RenderError(message.replace(/\s*\n\s*/g, ' '), path);
    }
  }

  evaluate(name: string, cached: boolean): unknown {
    if (cached && this.#cache.has(name)) return this.#cache.get(name);
    const variable = this.#variables.get(name);
    if (!variable) throw new HelperError(`Var name not found in template: '${name}'`);
    if (this.#evaluating.includes(name)) {
      throw new HelperError(`variable ${name} refers to itself (${[...this.#evaluating, name].join(' → ')})`);
    }
    this.#evaluating.push(name);
    try {
      const result = this.#value(variable);
      if (cached) this.#cache.set(name, result);
      return result;
    } finally {
      this.#evaluating.pop();
    }
  }

  #value(variable: Variable): unknown {
    if (!isNilValue(variable.value)) {
      return typeof variable.value === 'string'
        ? this.#nested(variable.value, variable.name)
        : variable.value;
    }
    const source = this.#nested(variable.expression ?? '', variable.name);
    return this.#run(variable, source);
  }

  /** Renders a variable's own template text; an error names the variable. */
  #nested(text: string, name: string): string {
    try {
      return this.render(text, undefined);
    } catch (error) {
      if (isRenderError(error)) throw new HelperError(`variable ${name}: ${error.message}`);
      throw error;
    }
  }

  #timeout(variable: Variable): number {
    if (variable.expression_timeout === undefined || variable.expression_timeout === '') {
      return this.#limits.timeoutMs;
    }
    let nanos: bigint;
    try {
      nanos = parseGoDuration(variable.expression_timeout);
    } catch (error) {
      throw new HelperError(
        `variable ${variable.name}: invalid expression_timeout ${JSON.stringify(variable.expression_timeout)}: ${(error as Error).message}`,
      );
    }
    const ms = Number(nanos / 1_000_000n);
    if (ms <= 0) throw new HelperError(`variable ${variable.name}: expression_timeout must be positive`);
    return Math.min(ms, MAX_EXPRESSION_TIMEOUT_MS);
  }

  #run(variable: Variable, source: string): string {
    const timeoutMs = this.#timeout(variable);
    if (!this.#engine) throw new HelperError(`variable ${variable.name}: expression engine not loaded`);
    this.#batch ??= this.#engine.openBatch(this.#limits);
    const globals: Record<string, string> = {};
    for (const name of ROOT_NAMES) {
      if (this.root[name] === undefined || !new RegExp(`\\b${name}\\b`).test(source)) continue;
      let json = this.#json.get(name);
      if (json === undefined) {
        json = JSON.stringify(this.root[name], jsonReplacer) ?? 'null';
        this.#json.set(name, json);
      }
      globals[name] = json;
    }
    const outcome = this.#batch.evaluate(source, globals, timeoutMs);
    if (outcome.ok) return outcome.value;
    const subject = `variable ${variable.name}`;
    switch (outcome.reason) {
      case 'timeout':
        throw new HelperError(`${subject}: expression timed out after ${timeoutMs} ms`);
      case 'memory':
        throw new HelperError(
          `${subject}: expression exceeded its memory limit of ${Math.round(this.#limits.memoryBytes / 1024 / 1024)} MiB`,
        );
      case 'stack':
        throw new HelperError(`${subject}: expression exceeded its stack limit (too deep a recursion)`);
      default:
        throw new HelperError(`${subject}: expression failed: ${outcome.message}`);
    }
  }

  dispose(): void {
    this.#batch?.dispose();
    this.#batch = undefined;
  }
}

async function openBatch(context: ValueContext, options: RenderOptions): Promise<RenderBatch> {
  const engine = hasExpressions(context) ? await loadExpressionEngine() : undefined;
  return new RenderBatch(context, options, engine);
}

/** Renders one template text against the value context. Throws only RenderError. */
export async function renderString(
  text: string,
  context: ValueContext,
  options: RenderOptions = {},
): Promise<string> {
  if (!text.includes('{{')) return text;
  const batch = await openBatch(context, options);
  try {
    return batch.render(text, options.path);
  } finally {
    batch.dispose();
  }
}

function walk(batch: RenderBatch, value: unknown, path: string | undefined): unknown {
  if (typeof value === 'string') return batch.render(value, path);
  if (Array.isArray(value)) return value.map((item, index) => walk(batch, item, `${path ?? ''}[${index}]`));
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [
        key,
        walk(batch, item, path === undefined ? key : `${path}.${key}`),
      ]),
    );
  }
  return value;
}

/**
 * Renders every string inside `value` (objects and arrays walked, keys kept, other values
 * kept as they are), as µTask renders a step's configuration. The result is a new value;
 * `value` is not changed. Throws only RenderError, whose path names the failing string
 * (`options.path` + `.key` / `[index]`).
 */
export async function renderValue(
  value: unknown,
  context: ValueContext,
  options: RenderOptions = {},
): Promise<unknown> {
  const batch = await openBatch(context, options);
  try {
    return walk(batch, value, options.path);
  } finally {
    batch.dispose();
  }
}

/**
 * Renders a text that must give JSON and decodes it, as µTask does for `foreach`. Throws
 * only RenderError (also when the rendered text is not JSON).
 */
export async function renderJson(
  text: string,
  context: ValueContext,
  options: RenderOptions = {},
): Promise<unknown> {
  const rendered = await renderString(text, context, options);
  try {
    return JSON.parse(rendered) as unknown;
  } catch (error) {
    const shown = rendered.length > 80 ? `${rendered.slice(0, 77)}...` : rendered;
    const reason = error instanceof Error ? error.message : String(error);
    throw new RenderError(`rendered ${JSON.stringify(shown)}, which is not JSON: ${reason}`, options.path);
  }
}

/**
 * Checks a template text without rendering it (for template validation at load): a
 * syntax error or an unknown helper, as a one-line message; undefined when it compiles.
 */
export function checkTemplateText(text: string): string | undefined {
  if (!text.includes('{{')) return undefined;
  try {
    compileTemplate(text);
    return undefined;
  } catch (error) {
    if (error instanceof TemplateSyntaxError) {
      return error.expression === undefined ? error.message : `${error.expression}: ${error.message}`;
    }
    throw error;
  }
}

export { createEvalCache, type EvalCache, type ValueContext, type Variable } from './context.ts';
export { helperNames } from './compile.ts';
