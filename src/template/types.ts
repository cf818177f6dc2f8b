/**
 * Templates and functions as the engine uses them: µTask's property names, exactly as
 * written in YAML (snake_case), with every default applied at load (see normalise.ts), so
 * the engine never has to know a default. The YAML shapes are in
 * schemas/template.schema.json and schemas/function.schema.json.
 */
import type { PositionMap } from './positions.ts';

/** µTask's defaults, applied at load. */
export const TEMPLATE_DEFAULTS = {
  /** Resolution runs before BLOCKED_MAXRETRIES (µTask's DefaultRetryMax). */
  retry_max: 100,
  /** Tries of a step before FATAL_ERROR; µTask reads 0 as this default too. */
  max_retries: 10000,
  retry_pattern: 'seconds',
  /** Set only on foreach steps (µTask refuses foreach_strategy without foreach). */
  foreach_strategy: 'parallel',
  /** The separator of IN / NOTIN lists. */
  list_separator: ',',
  /** The longest execution_delay µTask accepts. */
  max_execution_delay_ms: 20_000,
} as const;

export const RetryPattern = { seconds: 'seconds', minutes: 'minutes', hours: 'hours' } as const;
export type RetryPattern = (typeof RetryPattern)[keyof typeof RetryPattern];

export const ForeachStrategy = { parallel: 'parallel', sequence: 'sequence' } as const;
export type ForeachStrategy = (typeof ForeachStrategy)[keyof typeof ForeachStrategy];

export const ConditionType = { skip: 'skip', check: 'check' } as const;
export type ConditionType = (typeof ConditionType)[keyof typeof ConditionType];

/** Condition operators; YAML may spell them in any case, the loaded form is upper case. */
export const Operator = {
  EQ: 'EQ',
  NE: 'NE',
  GT: 'GT',
  LT: 'LT',
  GE: 'GE',
  LE: 'LE',
  REGEXP: 'REGEXP',
  NOTREGEXP: 'NOTREGEXP',
  IN: 'IN',
  NOTIN: 'NOTIN',
} as const;
export type Operator = (typeof Operator)[keyof typeof Operator];

export type InputType = 'string' | 'number' | 'bool' | 'password';

/** A requester or resolver input (µTask engine/input). */
export interface Input {
  name: string;
  description?: string;
  /** Go regular expression syntax; compile it with compileGoRegex (regex.ts). */
  regex?: string;
  legal_values?: (string | number | boolean)[];
  /** Default false. */
  collection: boolean;
  /** Default 'string'. */
  type: InputType;
  /** Default false. */
  optional: boolean;
  default?: unknown;
  /** Default false: the input is shown on the new-task form. */
  hidden: boolean;
}

/** `{name, value}` or `{name, expression, expression_timeout}` (exactly one of value, expression). */
export interface Variable {
  name: string;
  value?: unknown;
  expression?: string;
  /** A Go duration as written (`500ms`); only with expression. */
  expression_timeout?: string;
  /** expression_timeout in milliseconds, when given. */
  expression_timeout_ms?: number;
}

export interface ActionOutput {
  strategy: 'merge' | 'template';
  /** For merge, an object. */
  format: unknown;
}

/** A step's action or pre_hook (µTask executor.Executor). */
export interface Action {
  /** A builtin, a plugin, or a function name (see functions.ts for the chain it resolves to). */
  type: string;
  /** Default {} (YAML null or absent). */
  configuration: Record<string, unknown>;
  base_configuration?: string;
  /**
   * µTask's deprecated `base_output` is loaded as `output: {strategy: merge, format}` and is
   * never present in the loaded form.
   */
  output?: ActionOutput;
}

export interface Assert {
  /** Scalars are loaded as strings (`value: 1` is "1"), as µTask's loader does. */
  value: string;
  operator: Operator;
  expected: string;
  /** Default ",". */
  list_separator: string;
  message?: string;
}

export interface Condition {
  type: ConditionType;
  /** Default []: a condition without assertions always holds. */
  if: Assert[];
  /** Step name (or `this`) → state. */
  then: Record<string, string>;
  /** Default false. */
  final: boolean;
  /** On foreach steps only; skip conditions default to 'children' there (µTask), else absent. */
  foreach?: 'children' | 'parent';
  message?: string;
}

/** A step (µTask engine/step Step), as declared by a template. */
export interface Step {
  /** Default '' (µTask templates often leave it empty). */
  description: string;
  /** Default false. */
  idempotent: boolean;
  action: Action;
  pre_hook?: Action;
  /** Default []. Written `name`, `name:STATE,STATE` or `name:ANY`; parse with parseDependency (graph.ts). */
  dependencies: string[];
  /** Default []. */
  custom_states: string[];
  /** Default []. */
  conditions: Condition[];
  /** Default 'seconds'. */
  retry_pattern: RetryPattern;
  /** Default 10000 (also for 0, as µTask); negative: unbounded. */
  max_retries: number;
  foreach?: string;
  /** 'parallel' by default when foreach is set; absent otherwise. */
  foreach_strategy?: ForeachStrategy;
  /**
   * Milliseconds, 0 to 20000, when given: YAML says a Go duration (`5s`) or µTask's
   * integer nanoseconds, converted at load.
   */
  execution_delay?: number;
  /** The output's JSON Schema, µTask's `version` key normalised into `$schema`. */
  json_schema?: Record<string, unknown> | boolean;
  /** Default []. */
  resources: string[];
}

/** A task template (µTask models/tasktemplate TaskTemplate). */
export interface Template {
  /** Trimmed and lower-cased, as µTask's NormalizeName does. */
  name: string;
  description: string;
  long_description?: string;
  doc_link?: string;
  title_format?: string;
  result_format?: Record<string, unknown>;
  tags?: Record<string, string>;
  /** Default []. */
  allowed_resolver_usernames: string[];
  /** Default []. */
  allowed_resolver_groups: string[];
  /** Default false. */
  allow_all_resolver_usernames: boolean;
  /** Default false. */
  allow_task_start_over: boolean;
  /** Default false. */
  auto_runnable: boolean;
  /** Default false. */
  blocked: boolean;
  /** Default false. */
  hidden: boolean;
  /** Default 100. */
  retry_max: number;
  /** Default []. */
  inputs: Input[];
  /** Default []. */
  resolver_inputs: Input[];
  /** Default []. */
  variables: Variable[];
  /** Default {}. */
  base_configurations: Record<string, Record<string, unknown>>;
  /** Default {}. In file order. */
  steps: Record<string, Step>;
}

/** A function of templates/functions/ (µTask engine/functions Function). */
export interface FunctionDef {
  /** As written (µTask does not normalise function names): the action type that calls it. */
  name: string;
  description?: string;
  action: Action;
  pre_hook?: Action;
  /** Default []. `then` names only `this`. */
  conditions: Condition[];
  /** Default []. */
  custom_states: string[];
  /**
   * The `{{function_args.PATH}}` arguments its action's configuration reads as a whole
   * value, which a calling configuration must give (µTask's ValidConfig); dotted paths.
   */
  function_args: string[];
}

/** A template as loaded: what the engine runs and snapshots with each resolution. */
export interface LoadedTemplate {
  /** template.name (normalised). */
  name: string;
  /** The file it came from, as it was given (relative paths stay relative). */
  file: string;
  template: Template;
  /** Field path → file:line:column, to report render errors where the value was written. */
  positions: PositionMap;
}

export interface LoadedFunction {
  name: string;
  file: string;
  function: FunctionDef;
  positions: PositionMap;
}

/** The functions of a directory, as templates see them. */
export interface FunctionLibrary {
  /** The valid functions, by name. */
  functions: ReadonlyMap<string, LoadedFunction>;
  /**
   * Names of function files that did not validate: templates still accept them as action
   * types (their own errors are reported once, with the function's file), nothing more.
   */
  invalid: ReadonlySet<string>;
}

/** Field path segments: object keys and array indexes. */
export type FieldPath = readonly (string | number)[];
