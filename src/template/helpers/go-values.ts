/**
 * Go's view of template values, for helpers that promise sprig's meaning.
 *
 * Values here are what JSON gives (string, number, boolean, null, arrays, plain objects)
 * plus a few Go structs that helpers create (a time, a semantic version), which carry a
 * `GO_STRING` method saying how Go prints them. A missing value (`undefined`) behaves like
 * Go's nil. µTask decodes JSON numbers as `json.Number`, which prints as written; a JS
 * number prints as JS writes it, the closest to that for what JSON carries.
 */

/** Implemented by helper-made Go structs (time.Time, *semver.Version): Go's `String()`. */
export const GO_STRING: unique symbol = Symbol('taskhost.goString');
/** Implemented by helper-made Go structs: their Go type, for `typeOf` and `%T`. */
export const GO_TYPE: unique symbol = Symbol('taskhost.goType');
/** Implemented by helper-made Go structs: the JSON Go's encoding/json writes for them. */
export const GO_JSON: unique symbol = Symbol('taskhost.goJson');

export interface GoStruct {
  [GO_STRING](): string;
  [GO_TYPE](): string;
  [GO_JSON](): unknown;
}

export type Dict = Record<string, unknown>;

export function isGoStruct(value: unknown): value is GoStruct {
  return typeof value === 'object' && value !== null && GO_STRING in value;
}

/** A plain JSON object (a Go map[string]interface{}), not an array nor a helper struct. */
export function isDict(value: unknown): value is Dict {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !isGoStruct(value);
}

export function isNil(value: unknown): value is null | undefined {
  return value === null || value === undefined;
}

/**
 * sprig's `empty` and text/template's falsiness: nil, false, 0, "", and an empty list or
 * map. Structs (a time, a version) are never empty.
 */
export function isEmpty(value: unknown): boolean {
  if (isNil(value)) return true;
  switch (typeof value) {
    case 'boolean':
      return !value;
    case 'number':
      return value === 0;
    case 'bigint':
      return value === 0n;
    case 'string':
      return value.length === 0;
    case 'object':
      if (Array.isArray(value)) return value.length === 0;
      if (value instanceof Uint8Array) return value.length === 0;
      if (isGoStruct(value)) return false;
      return Object.keys(value).length === 0;
    default:
      return false;
  }
}

/** Go's name for the value's type, as `%T` and sprig's `typeOf` print it. */
export function goTypeOf(value: unknown): string {
  if (isNil(value)) return '<nil>';
  switch (typeof value) {
    case 'string':
      return 'string';
    case 'boolean':
      return 'bool';
    case 'number':
      return Number.isInteger(value) ? 'int' : 'float64';
    case 'bigint':
      return 'int64';
    case 'object':
      if (Array.isArray(value)) return '[]interface {}';
      if (value instanceof Uint8Array) return '[]uint8';
      if (isGoStruct(value)) return value[GO_TYPE]();
      return 'map[string]interface {}';
    default:
      return typeof value;
  }
}

/** Go's reflect kind of the value, as sprig's `kindOf` prints it: a scalar's kind is its type. */
export function goKindOf(value: unknown): string {
  if (isNil(value)) return 'invalid';
  if (typeof value !== 'object') {
    const type = goTypeOf(value);
    return ['string', 'bool', 'int', 'float64', 'int64'].includes(type) ? type : 'invalid';
  }
  if (Array.isArray(value) || value instanceof Uint8Array) return 'slice';
  if (isGoStruct(value)) return value[GO_TYPE]().startsWith('*') ? 'ptr' : 'struct';
  return 'map';
}

/** A number as µTask prints a JSON number (json.Number keeps the literal). */
export function formatNumber(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

/**
 * Go's `%v` of a value: `map[a:1 b:2]` (keys sorted), `[1 2 3]`, `<nil>`, `true`. µTask's
 * own tests print structured values this way (`{{(fromJson x).c}}` gives `map[k:v]`).
 */
export function formatValue(value: unknown): string {
  if (isNil(value)) return '<nil>';
  switch (typeof value) {
    case 'string':
      return value;
    case 'number':
      return formatNumber(value);
    case 'bigint':
    case 'boolean':
      return String(value);
    case 'object':
      if (Array.isArray(value)) return `[${value.map(formatValue).join(' ')}]`;
      if (value instanceof Uint8Array) return `[${Array.from(value).join(' ')}]`;
      if (isGoStruct(value)) return value[GO_STRING]();
      return `map[${Object.keys(value)
        .sort()
        .map((key) => `${key}:${formatValue((value as Dict)[key])}`)
        .join(' ')}]`;
    default:
      return String(value);
  }
}

/** sprig's `strval`/`toString`: a string as is, anything else as Go's `%v`. */
export function strval(value: unknown): string {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
  return formatValue(value);
}

/** Go's `strconv.ParseInt(s, 0, 64)`: sign, then 0x/0o/0b/0 prefixes, underscores after a prefix. */
export function parseGoInt(text: string): number | undefined {
  const match = /^([+-]?)(0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|0[0-7_]*|[1-9][0-9]*)$/.exec(text);
  if (!match) return undefined;
  const sign = match[1] === '-' ? -1 : 1;
  let digits = match[2] ?? '';
  let radix = 10;
  if (/^0[xX]/.test(digits)) radix = 16;
  else if (/^0[oO]/.test(digits)) radix = 8;
  else if (/^0[bB]/.test(digits)) radix = 2;
  else if (digits.length > 1 && digits.startsWith('0')) radix = 8;
  digits = radix === 10 ? digits : digits.replace(/^0[xXoObB]?/, '');
  if (digits.includes('__') || digits.startsWith('_') || digits.endsWith('_')) return undefined;
  digits = digits.replace(/_/g, '');
  if (digits === '') return 0;
  const parsed = parseInt(digits, radix);
  return Number.isNaN(parsed) ? undefined : sign * parsed;
}

/** Go's `strconv.ParseFloat(s, 64)` for the decimal forms, plus Inf and NaN. */
export function parseGoFloat(text: string): number | undefined {
  if (/^[+-]?(inf|infinity)$/i.test(text)) return text.startsWith('-') ? -Infinity : Infinity;
  if (/^nan$/i.test(text)) return NaN;
  if (!/^[+-]?(\d[\d_]*\.?[\d_]*|\.\d[\d_]*)([eE][+-]?\d+)?$/.test(text)) return undefined;
  return Number(text.replace(/_/g, ''));
}

/**
 * spf13/cast's ToInt64, which sprig's arithmetic uses: numbers truncate, strings parse as
 * Go integers (a trailing `.0…` is dropped first), booleans are 1 or 0, anything else is 0.
 */
export function toInt64(value: unknown): number {
  switch (typeof value) {
    case 'number':
      return Number.isFinite(value) ? Math.trunc(value) : 0;
    case 'bigint':
      return Number(value);
    case 'boolean':
      return value ? 1 : 0;
    case 'string': {
      const trimmed = /^([+-]?\d+)\.0*$/.exec(value)?.[1] ?? value;
      return parseGoInt(trimmed) ?? 0;
    }
    default:
      return 0;
  }
}

/** spf13/cast's ToFloat64: numbers as they are, strings parsed, booleans 1 or 0, else 0. */
export function toFloat64(value: unknown): number {
  switch (typeof value) {
    case 'number':
      return value;
    case 'bigint':
      return Number(value);
    case 'boolean':
      return value ? 1 : 0;
    case 'string':
      return parseGoFloat(value) ?? 0;
    default:
      return 0;
  }
}

/** Go's reflect.DeepEqual over JSON values (numbers compare by value). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (isNil(a) || isNil(b)) return isNil(a) && isNil(b);
  if (typeof a !== typeof b || typeof a !== 'object') return false;
  if (isGoStruct(a) || isGoStruct(b)) {
    return (
      isGoStruct(a) && isGoStruct(b) && a[GO_STRING]() === b[GO_STRING]() && a[GO_TYPE]() === b[GO_TYPE]()
    );
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((item, index) => deepEqual(item, b[index]));
  }
  const left = a as Dict;
  const right = b as Dict;
  const keys = Object.keys(left);
  return (
    keys.length === Object.keys(right).length &&
    keys.every((key) => Object.hasOwn(right, key) && deepEqual(left[key], right[key]))
  );
}

/** A list's items (a Go slice), or undefined when the value is not a list. */
export function asList(value: unknown): unknown[] | undefined {
  if (Array.isArray(value)) return value;
  if (value instanceof Uint8Array) return Array.from(value);
  return undefined;
}
