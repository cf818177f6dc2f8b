/**
 * Example data for a check run, built from a plugin's `inputs` schema when none is given:
 * the schema's own `examples` (or `example`), else an object of its properties' values. A
 * required property takes its first example, else its `default`, `const` or first `enum`
 * value; an optional one only an example (its default is what the plugin does without it
 * anyway, and the defaults of several options may not go together). Pure: the data is then
 * checked against `inputs` (by ajv, in check-plugin.ts), which decides whether it is usable.
 */
import { fail, pass, shown, warn, type RuleResult } from './rules.ts';

type Schema = Record<string, unknown>;

export interface ExampleData {
  value: unknown;
  /** Required properties nothing could be found for ("a.b" when nested). */
  unresolved: string[];
}

function isSchema(value: unknown): value is Schema {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** A value the schema offers: examples[0] or example, then (when `required`) default, const, enum[0]. */
function offered(schema: Schema, required: boolean): { value: unknown } | null {
  if (Array.isArray(schema.examples) && schema.examples.length > 0) return { value: schema.examples[0] };
  if (schema.example !== undefined) return { value: schema.example };
  if (!required) return null;
  if (schema.default !== undefined) return { value: schema.default };
  if (schema.const !== undefined) return { value: schema.const };
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return { value: schema.enum[0] };
  return null;
}

function isObjectSchema(schema: Schema): boolean {
  return schema.type === 'object' || (schema.type === undefined && isSchema(schema.properties));
}

function build(
  schema: Schema,
  at: string,
  required: boolean,
  unresolved: string[],
): { value: unknown } | null {
  const own = offered(schema, required);
  if (own) return own;
  if (!required || !isObjectSchema(schema)) return null;
  const properties = isSchema(schema.properties) ? schema.properties : {};
  const needed = Array.isArray(schema.required)
    ? schema.required.filter((key) => typeof key === 'string')
    : [];
  const value: Record<string, unknown> = {};
  for (const [key, property] of Object.entries(properties)) {
    if (!isSchema(property)) continue;
    const where = at === '' ? key : `${at}.${key}`;
    const isNeeded = needed.includes(key);
    const found = build(property, where, isNeeded, isNeeded ? unresolved : []);
    if (found) value[key] = found.value;
  }
  for (const key of needed) {
    if (!(key in value)) unresolved.push(at === '' ? key : `${at}.${key}`);
  }
  return { value };
}

/** Example data for `inputs`; `{}` when the schema offers nothing (ajv then says if that will do). */
export function exampleFromSchema(inputs: unknown): ExampleData {
  const unresolved: string[] = [];
  if (inputs === true || !isSchema(inputs)) return { value: {}, unresolved };
  const built = build(inputs, '', true, unresolved);
  return { value: built ? built.value : {}, unresolved };
}

export interface DataFacts {
  source: 'given' | 'built';
  data: unknown;
  /** ajv's complaints against `inputs`; null when the data passes. */
  problems: string | null;
  unresolved: readonly string[];
}

export function decideExampleData(facts: DataFacts): RuleResult {
  if (facts.problems === null) {
    const from = facts.source === 'given' ? 'given' : "built from the schema's examples and defaults";
    return pass('example-data', `data ${from} passes inputs: ${shown(facts.data)}`);
  }
  if (facts.source === 'given') {
    return fail(
      'example-data',
      `the data does not match inputs: ${facts.problems}`,
      'give data that inputs accepts (--data or --data-file), or fix inputs',
    );
  }
  const missing =
    facts.unresolved.length > 0
      ? `no example or default for ${facts.unresolved.join(', ')}`
      : 'nothing to build it from';
  return warn(
    'example-data',
    `no example data, so no run: ${missing} (${shown(facts.data)} does not match inputs: ${facts.problems})`,
    'add "examples": [...] to those properties of inputs, or pass --data \'{...}\'',
  );
}
