/**
 * Go's encoding/json, as sprig's toJson family writes: map keys sorted, `<`, `>` and `&`
 * escaped as \u003c \u003e \u0026 (unless raw), U+2028 and U+2029 escaped, a missing value
 * as null, a time as RFC 3339. NaN and infinities are errors, as in Go.
 */
import { GO_JSON, isDict, isGoStruct, isNil, type Dict } from './go-values.ts';

export interface GoJsonOptions {
  /** MarshalIndent's indent ("  " for toPrettyJson); compact when absent. */
  indent?: string;
  /** SetEscapeHTML(false), as toRawJson. */
  raw?: boolean;
}

export function goJsonEncode(value: unknown, options: GoJsonOptions = {}): string {
  return encode(value, options, '');
}

function encodeString(text: string, raw: boolean): string {
  let out = JSON.stringify(text).replace(
    /[\u2028\u2029]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16)}`,
  );
  if (!raw) out = out.replace(/[<>&]/g, (char) => `\\u00${char.charCodeAt(0).toString(16)}`);
  return out;
}

function encode(value: unknown, options: GoJsonOptions, depth: string): string {
  if (isNil(value)) return 'null';
  switch (typeof value) {
    case 'string':
      return encodeString(value, options.raw === true);
    case 'boolean':
      return String(value);
    case 'bigint':
      return String(value);
    case 'number':
      if (!Number.isFinite(value)) throw new Error(`json: unsupported value: ${value}`);
      return JSON.stringify(value);
    case 'object':
      break;
    default:
      throw new Error(`json: unsupported type: ${typeof value}`);
  }
  if (value instanceof Uint8Array) return JSON.stringify(Buffer.from(value).toString('base64'));
  if (isGoStruct(value)) return encode(value[GO_JSON](), options, depth);
  const inner = options.indent === undefined ? undefined : depth + options.indent;
  const open = (items: string[], left: string, right: string): string => {
    if (items.length === 0) return left + right;
    if (inner === undefined) return left + items.join(',') + right;
    return `${left}\n${inner}${items.join(`,\n${inner}`)}\n${depth}${right}`;
  };
  if (Array.isArray(value)) {
    return open(
      value.map((item) => encode(item, options, inner ?? '')),
      '[',
      ']',
    );
  }
  if (isDict(value)) {
    const separator = options.indent === undefined ? ':' : ': ';
    const items = Object.keys(value)
      .sort()
      .map(
        (key) =>
          `${encodeString(key, options.raw === true)}${separator}${encode((value as Dict)[key], options, inner ?? '')}`,
      );
    return open(items, '{', '}');
  }
  throw new Error('json: unsupported value');
}
