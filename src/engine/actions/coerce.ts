/**
 * Rendering makes text: `'{{input.amount}}'` is "120" even when the input is a number, as in
 * µTask. A plugin declares what it takes (its `inputs` JSON Schema), so before the data is
 * checked against it, each text where the schema asks for a number, an integer or a boolean
 * (and no string) is converted when it reads as one. Anything else is left as it is, for
 * the schema check to refuse with its own message.
 */

import { isRecord } from '../../template/data.ts';

type Schema = Record<string, unknown>;

function typesOf(schema: Schema): string[] {
  const { type } = schema;
  if (typeof type === 'string') return [type];
  return Array.isArray(type) ? type.filter((item): item is string => typeof item === 'string') : [];
}

const NUMBER = /^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$/;

function coerceScalar(value: string, types: readonly string[]): unknown {
  if (types.includes('string')) return value;
  if ((types.includes('number') || types.includes('integer')) && NUMBER.test(value)) {
    const number = Number(value);
    if (types.includes('number') || Number.isInteger(number)) return number;
  }
  if (types.includes('boolean') && (value === 'true' || value === 'false')) return value === 'true';
  if (types.includes('null') && value === '') return null;
  return value;
}

/** A copy of `value` with texts converted where `schema` asks for numbers or booleans. */
export function coerceToSchema(value: unknown, schema: unknown): unknown {
  if (!isRecord(schema)) return value;
  if (typeof value === 'string') return coerceScalar(value, typesOf(schema));
  if (Array.isArray(value)) {
    const items = schema.items;
    return isRecord(items) ? value.map((item) => coerceToSchema(item, items)) : value;
  }
  if (isRecord(value) && isRecord(schema.properties)) {
    const properties = schema.properties;
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [
        key,
        key in properties ? coerceToSchema(item, properties[key]) : item,
      ]),
    );
  }
  return value;
}
