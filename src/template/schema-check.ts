import type { ErrorObject } from 'ajv';
import fs from 'node:fs';
import path from 'node:path';
import { SCHEMAS_DIR } from '../paths.ts';
import { standaloneValidatorCode } from '../schema/json-schema.ts';
import { validatorForSync } from '../schema/validator-cache.ts';
import type { IssueList } from './errors.ts';
import { didYouMean } from './suggest.ts';
import type { FieldPath } from './types.ts';

/**
 * The shape check: a file against schemas/template.schema.json or
 * schemas/function.schema.json (the schemas editors use), every violation turned into an
 * issue on its field: unknown keys with a "did you mean", wrong types, values outside an
 * enum. What a JSON Schema cannot say is checked afterwards (validate.ts).
 */

export type SchemaName = 'template' | 'function';

const schemas = new Map<SchemaName, Record<string, unknown>>();

function schemaOf(name: SchemaName): Record<string, unknown> {
  let schema = schemas.get(name);
  if (!schema) {
    const file = path.join(SCHEMAS_DIR, `${name}.schema.json`);
    schema = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
    schemas.set(name, schema);
  }
  return schema;
}

/** Checks `data` against a schema, adding one issue per violation; true when it conforms. */
export function checkShape(name: SchemaName, data: unknown, issues: IssueList): boolean {
  const schema = schemaOf(name);
  const validate = validatorForSync(schema, standaloneValidatorCode);
  if (validate(data)) return true;
  for (const error of validate.errors ?? []) report(schema, data, error, issues);
  return false;
}

function report(schema: Record<string, unknown>, data: unknown, error: ErrorObject, issues: IssueList): void {
  const at = pathOf(data, error.instancePath);
  const value = valueAt(data, at);
  const node = schemaAt(schema, at);
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'additionalProperties': {
      const key = String(params.additionalProperty);
      const known = Object.keys((node?.properties as Record<string, unknown> | undefined) ?? {});
      issues.add([...at, key], `unknown key "${key}"${didYouMean(key, known)}`, 'key');
      return;
    }
    case 'required':
      issues.add(at, `missing required key "${String(params.missingProperty)}"`);
      return;
    case 'enum': {
      const allowed = (params.allowedValues as unknown[]).map(String);
      issues.add(at, `must be ${either(allowed)}, not ${show(value)}${suggestion(value, allowed)}`);
      return;
    }
    case 'pattern': {
      const examples = Array.isArray(node?.examples) ? node.examples.map(String) : [];
      const why = typeof node?.patternErrorMessage === 'string' ? node.patternErrorMessage : '';
      issues.add(
        at,
        why
          ? `${show(value)}: ${why}${suggestion(value, examples)}`
          : `${show(value)} does not match ${String(params.pattern)}`,
      );
      return;
    }
    case 'type': {
      const expected = Array.isArray(params.type) ? params.type : String(params.type).split(',');
      issues.add(
        at,
        `must be ${either(expected.map((type) => TYPE_NAMES[String(type)] ?? String(type)))}, not ${kindOf(value)}`,
      );
      return;
    }
    case 'minLength':
      issues.add(at, `must be at least ${String(params.limit)} characters long`);
      return;
    case 'maxLength':
      issues.add(at, `must be at most ${String(params.limit)} characters long`);
      return;
    default:
      issues.add(at, error.message ?? 'is invalid');
  }
}

const TYPE_NAMES: Record<string, string> = {
  object: 'a map',
  array: 'a list',
  string: 'a string',
  number: 'a number',
  integer: 'an integer',
  boolean: 'true or false',
  null: 'empty',
};

function kindOf(value: unknown): string {
  if (value === null || value === undefined) return 'empty';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a map';
  if (typeof value === 'number') return `the number ${value}`;
  if (typeof value === 'boolean') return String(value);
  return `the string ${JSON.stringify(value)}`;
}

function show(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(JSON.stringify(value));
}

function suggestion(value: unknown, candidates: readonly string[]): string {
  return typeof value === 'string' ? didYouMean(value, candidates) : '';
}

/** `a`, `a or b`, `a, b or c`. */
function either(words: readonly string[]): string {
  if (words.length <= 1) return words[0] ?? '';
  return `${words.slice(0, -1).join(', ')} or ${words.at(-1) ?? ''}`;
}

/** A JSON pointer of the data as a field path (array indexes as numbers). */
function pathOf(data: unknown, pointer: string): (string | number)[] {
  const segments = pointer === '' ? [] : pointer.slice(1).split('/');
  const result: (string | number)[] = [];
  let current = data;
  for (const raw of segments) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(current)) {
      result.push(Number(key));
      current = current[Number(key)] as unknown;
    } else {
      result.push(key);
      current =
        current !== null && typeof current === 'object'
          ? (current as Record<string, unknown>)[key]
          : undefined;
    }
  }
  return result;
}

function valueAt(data: unknown, at: FieldPath): unknown {
  let current = data;
  for (const key of at) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string | number, unknown>)[key];
  }
  return current;
}

/**
 * The schema that describes the field at `at`, found by walking the schema along the data
 * path (properties, additionalProperties, items, local $refs). ajv's own schemaPath is
 * relative to whichever referenced schema it compiled apart, so it cannot be followed from
 * the root.
 */
function schemaAt(schema: Record<string, unknown>, at: FieldPath): Record<string, unknown> | undefined {
  const resolve = (node: unknown): Record<string, unknown> | undefined => {
    let current = node;
    for (let hops = 0; hops < 10 && current !== null && typeof current === 'object'; hops++) {
      const ref = (current as Record<string, unknown>).$ref;
      if (typeof ref !== 'string' || !ref.startsWith('#/')) break;
      current = ref
        .slice(2)
        .split('/')
        .reduce<unknown>((inner, key) => (inner as Record<string, unknown> | undefined)?.[key], schema);
    }
    return current !== null && typeof current === 'object' ? (current as Record<string, unknown>) : undefined;
  };
  let node = resolve(schema);
  for (const segment of at) {
    if (!node) return undefined;
    if (typeof segment === 'number') {
      node = resolve(node.items);
    } else {
      const properties = node.properties as Record<string, unknown> | undefined;
      node = resolve(properties?.[segment] ?? node.additionalProperties);
    }
  }
  return node;
}
