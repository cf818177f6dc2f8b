import { parseGoDurationMs } from '../expr/duration.ts';
import { functionArguments } from './functions.ts';
import { entriesOf, isRecord, itemsOf, type Data } from './data.ts';
import {
  TEMPLATE_DEFAULTS,
  type Action,
  type Assert,
  type Condition,
  type FunctionDef,
  type Input,
  type Operator,
  type Step,
  type Template,
  type Variable,
} from './types.ts';

/**
 * From checked YAML data to the loaded form of types.ts: defaults applied, µTask's
 * deprecated and loose forms turned into the one the engine reads (base_output → output
 * merge, `value: 1` → "1", `version: 4` → `$schema`, execution_delay → milliseconds).
 * Only called on data that passed every check.
 */

/** µTask's NormalizeName: a template's name is trimmed and lower-cased. */
export function normaliseTemplateName(name: string): string {
  return name.trim().toLowerCase();
}

const DRAFTS: Record<string, string> = {
  '4': 'http://json-schema.org/draft-04/schema#',
  '6': 'http://json-schema.org/draft-06/schema#',
  '7': 'http://json-schema.org/draft-07/schema#',
};

/**
 * µTask's computeVersion: a json_schema without `$schema` gets one from its `version` key
 * (4, 6 or 7; anything else, or none, is draft-07), and `version` is removed.
 */
export function normaliseJsonSchema(schema: unknown): unknown {
  if (!isRecord(schema) || '$schema' in schema) return schema;
  const { version, ...rest } = schema;
  return { $schema: DRAFTS[String(version)] ?? DRAFTS['7'], ...rest };
}

/** execution_delay in milliseconds: a Go duration string, or µTask's integer nanoseconds. */
export function executionDelayMs(value: string | number): number {
  return typeof value === 'number' ? value / 1e6 : parseGoDurationMs(value);
}

/** Drops undefined properties, so the loaded form holds only what is set. */
function compact<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, item]) => item !== undefined)) as T;
}

const asString = (value: unknown): string | undefined =>
  value === undefined || value === null ? undefined : String(value);

export function normaliseAction(raw: Data): Action {
  const output = isRecord(raw.output)
    ? { strategy: raw.output.strategy as 'merge' | 'template', format: raw.output.format }
    : isRecord(raw.base_output)
      ? { strategy: 'merge' as const, format: raw.base_output }
      : undefined;
  return compact({
    type: raw.type as string,
    configuration: isRecord(raw.configuration) ? raw.configuration : {},
    base_configuration: raw.base_configuration as string | undefined,
    output,
  });
}

function normaliseAssert(raw: Data): Assert {
  return compact({
    value: asString(raw.value) ?? '',
    operator: String(raw.operator).toUpperCase() as Operator,
    expected: asString(raw.expected) ?? '',
    list_separator: (raw.list_separator as string | undefined) ?? TEMPLATE_DEFAULTS.list_separator,
    message: raw.message as string | undefined,
  });
}

/** On a foreach step, a skip condition without foreach runs on the children (µTask). */
export function normaliseCondition(raw: Data, foreachStep: boolean): Condition {
  const foreach =
    (raw.foreach as Condition['foreach']) ?? (foreachStep && raw.type === 'skip' ? 'children' : undefined);
  return compact({
    type: raw.type as Condition['type'],
    if: itemsOf(raw.if).filter(isRecord).map(normaliseAssert),
    then: Object.fromEntries(entriesOf(raw.then)) as Record<string, string>,
    final: raw.final === true,
    foreach,
    message: raw.message as string | undefined,
  });
}

export function normaliseStep(raw: Data): Step {
  const foreach = raw.foreach as string | undefined;
  const maxRetries =
    typeof raw.max_retries === 'number' && raw.max_retries !== 0 ? raw.max_retries : undefined;
  return compact({
    description: (raw.description as string | null | undefined) ?? '',
    idempotent: raw.idempotent === true,
    action: normaliseAction(raw.action as Data),
    pre_hook: isRecord(raw.pre_hook) ? normaliseAction(raw.pre_hook) : undefined,
    dependencies: itemsOf(raw.dependencies) as string[],
    custom_states: itemsOf(raw.custom_states) as string[],
    conditions: itemsOf(raw.conditions)
      .filter(isRecord)
      .map((condition) => normaliseCondition(condition, foreach !== undefined)),
    retry_pattern:
      (raw.retry_pattern as Step['retry_pattern'] | undefined) ?? TEMPLATE_DEFAULTS.retry_pattern,
    max_retries: maxRetries ?? TEMPLATE_DEFAULTS.max_retries,
    foreach,
    foreach_strategy:
      foreach === undefined
        ? undefined
        : ((raw.foreach_strategy as Step['foreach_strategy']) ?? TEMPLATE_DEFAULTS.foreach_strategy),
    execution_delay:
      raw.execution_delay === undefined
        ? undefined
        : executionDelayMs(raw.execution_delay as string | number),
    json_schema: normaliseJsonSchema(raw.json_schema) as Step['json_schema'],
    resources: itemsOf(raw.resources) as string[],
  });
}

function normaliseInput(raw: Data): Input {
  return compact({
    name: raw.name as string,
    description: raw.description as string | undefined,
    regex: raw.regex as string | undefined,
    legal_values: raw.legal_values as Input['legal_values'],
    collection: raw.collection === true,
    type: (raw.type as Input['type'] | undefined) ?? 'string',
    optional: raw.optional === true,
    default: raw.default,
    hidden: raw.hidden === true,
  });
}

function normaliseVariable(raw: Data): Variable {
  const timeout = raw.expression_timeout as string | undefined;
  return compact({
    name: raw.name as string,
    value: raw.value,
    expression: raw.expression as string | undefined,
    expression_timeout: timeout,
    expression_timeout_ms: timeout === undefined ? undefined : parseGoDurationMs(timeout),
  });
}

const strings = (value: unknown): string[] => itemsOf(value) as string[];

export function normaliseTemplate(raw: Data): Template {
  return compact({
    name: normaliseTemplateName(raw.name as string),
    description: raw.description as string,
    long_description: raw.long_description as string | undefined,
    doc_link: raw.doc_link as string | undefined,
    title_format: raw.title_format as string | undefined,
    result_format: raw.result_format as Record<string, unknown> | undefined,
    tags: raw.tags as Record<string, string> | undefined,
    allowed_resolver_usernames: strings(raw.allowed_resolver_usernames),
    allowed_resolver_groups: strings(raw.allowed_resolver_groups),
    allow_all_resolver_usernames: raw.allow_all_resolver_usernames === true,
    allow_task_start_over: raw.allow_task_start_over === true,
    auto_runnable: raw.auto_runnable === true,
    blocked: raw.blocked === true,
    hidden: raw.hidden === true,
    retry_max: (raw.retry_max as number | undefined) ?? TEMPLATE_DEFAULTS.retry_max,
    inputs: itemsOf(raw.inputs).filter(isRecord).map(normaliseInput),
    resolver_inputs: itemsOf(raw.resolver_inputs).filter(isRecord).map(normaliseInput),
    variables: itemsOf(raw.variables).filter(isRecord).map(normaliseVariable),
    base_configurations: (raw.base_configurations as Template['base_configurations'] | undefined) ?? {},
    steps: Object.fromEntries(
      entriesOf(raw.steps).map(([name, step]) => [name, normaliseStep(step as Data)]),
    ),
  });
}

export function normaliseFunction(raw: Data): FunctionDef {
  const action = normaliseAction(raw.action as Data);
  return compact({
    name: raw.name as string,
    description: raw.description as string | undefined,
    action,
    pre_hook: isRecord(raw.pre_hook) ? normaliseAction(raw.pre_hook) : undefined,
    conditions: itemsOf(raw.conditions)
      .filter(isRecord)
      .map((condition) => normaliseCondition(condition, false)),
    custom_states: strings(raw.custom_states),
    function_args: functionArguments(action.configuration),
  });
}
