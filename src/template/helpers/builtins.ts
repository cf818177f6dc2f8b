/**
 * Go text/template's own functions, which µTask templates use beside sprig's: and, or,
 * not, eq, ne, lt, le, gt, ge, len, index, print, printf, println, html, js, urlquery.
 * Truth is Go's (`isEmpty`); comparisons refuse what Go refuses (a string against a
 * number, an ordering of booleans), so a template mistake is an error, not a silent false.
 */
import { sprintf } from './go-fmt.ts';
import { formatValue, goTypeOf, isDict, isEmpty, isGoStruct, isNil } from './go-values.ts';
import { expectArgs, HelperError, str, type HelperTable } from './helper.ts';

type BasicKind = 'nil' | 'bool' | 'number' | 'string' | 'struct';

function basicKind(value: unknown): BasicKind | undefined {
  if (isNil(value)) return 'nil';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'number' || typeof value === 'bigint') return 'number';
  if (typeof value === 'string') return 'string';
  if (isGoStruct(value)) return 'struct';
  return undefined;
}

function equal(left: unknown, right: unknown): boolean {
  const a = basicKind(left);
  const b = basicKind(right);
  if (a === undefined) throw new HelperError(`non-comparable type ${goTypeOf(left)}: ${formatValue(left)}`);
  if (b === undefined) throw new HelperError(`non-comparable type ${goTypeOf(right)}: ${formatValue(right)}`);
  if (a === 'nil' || b === 'nil') return a === b;
  if (a !== b) throw new HelperError('incompatible types for comparison');
  if (a === 'struct') return formatValue(left) === formatValue(right);
  // eslint-disable-next-line eqeqeq -- a number and a bigint compare by value
  return left == right;
}

function less(left: unknown, right: unknown): boolean {
  const a = basicKind(left);
  const b = basicKind(right);
  if (a === undefined || a === 'nil' || a === 'bool' || a === 'struct') {
    throw new HelperError('invalid type for comparison');
  }
  if (a !== b) throw new HelperError('incompatible types for comparison');
  return (left as number | string) < (right as number | string);
}

function compare(name: string, args: unknown[], test: (a: unknown, b: unknown) => boolean): boolean {
  expectArgs(name, args, 2);
  return test(args[0], args[1]);
}

/** Go's Sprint: operands separated by a space when neither side is a string. */
function sprint(args: readonly unknown[]): string {
  let out = '';
  args.forEach((value, index) => {
    if (index > 0 && typeof value !== 'string' && typeof args[index - 1] !== 'string') out += ' ';
    out += formatValue(value);
  });
  return out;
}

/** Go's `index`: each key indexes the result of the previous one. */
function indexValue(item: unknown, keys: readonly unknown[]): unknown {
  let current = item;
  for (const key of keys) {
    if (isNil(current)) throw new HelperError('index of untyped nil');
    if (Array.isArray(current) || typeof current === 'string') {
      if (typeof key !== 'number' || !Number.isInteger(key)) {
        throw new HelperError(`cannot index slice/array with type ${goTypeOf(key)}`);
      }
      if (key < 0 || key >= current.length) throw new HelperError(`index out of range: ${key}`);
      current = typeof current === 'string' ? Buffer.from(current)[key] : current[key];
    } else if (isDict(current)) {
      if (typeof key !== 'string') throw new HelperError(`value has type ${goTypeOf(key)}; should be string`);
      current = Object.hasOwn(current, key) ? current[key] : undefined;
    } else {
      throw new HelperError(`can't index item of type ${goTypeOf(current)}`);
    }
  }
  return current;
}

function goLen(value: unknown): number {
  if (isNil(value)) throw new HelperError('len of nil pointer');
  if (typeof value === 'string') return Buffer.byteLength(value);
  if (Array.isArray(value) || value instanceof Uint8Array) return value.length;
  if (isDict(value)) return Object.keys(value).length;
  throw new HelperError(`len of type ${goTypeOf(value)}`);
}

function htmlEscape(text: string): string {
  return text.replace(/[<>&'"\0]/g, (char) =>
    char === '<'
      ? '&lt;'
      : char === '>'
        ? '&gt;'
        : char === '&'
          ? '&amp;'
          : char === "'"
            ? '&#39;'
            : char === '"'
              ? '&#34;'
              : '\uFFFD',
  );
}

function jsEscape(text: string): string {
  let out = '';
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0;
    if (char === '\\') out += '\\\\';
    else if (char === "'") out += "\\'";
    else if (char === '"') out += '\\"';
    else if ('<>&='.includes(char) || code < 0x20) {
      out += `\\u${code.toString(16).toUpperCase().padStart(4, '0')}`;
    } else out += char;
  }
  return out;
}

export const builtinHelpers: HelperTable = {
  and: (args, call) => {
    expectArgs(call.name, args, 1, Infinity);
    const index = args.findIndex((value) => isEmpty(value));
    return args[index < 0 ? args.length - 1 : index];
  },
  or: (args, call) => {
    expectArgs(call.name, args, 1, Infinity);
    const index = args.findIndex((value) => !isEmpty(value));
    return args[index < 0 ? args.length - 1 : index];
  },
  not: (args, call) => {
    expectArgs(call.name, args, 1);
    return isEmpty(args[0]);
  },
  eq: (args, call) => {
    expectArgs(call.name, args, 2, Infinity);
    return args.slice(1).some((other) => equal(args[0], other));
  },
  ne: (args, call) => compare(call.name, args, (a, b) => !equal(a, b)),
  lt: (args, call) => compare(call.name, args, less),
  le: (args, call) => compare(call.name, args, (a, b) => less(a, b) || equal(a, b)),
  gt: (args, call) => compare(call.name, args, (a, b) => !less(a, b) && !equal(a, b)),
  ge: (args, call) => compare(call.name, args, (a, b) => !less(a, b)),
  len: (args, call) => {
    expectArgs(call.name, args, 1);
    return goLen(args[0]);
  },
  index: (args, call) => {
    expectArgs(call.name, args, 1, Infinity);
    return indexValue(args[0], args.slice(1));
  },
  print: (args) => sprint(args),
  println: (args) => `${args.map((value) => formatValue(value)).join(' ')}\n`,
  printf: (args, call) => {
    expectArgs(call.name, args, 1, Infinity);
    return sprintf(str(args[0]), args.slice(1));
  },
  html: (args) => htmlEscape(sprint(args)),
  js: (args) => jsEscape(sprint(args)),
  urlquery: (args) =>
    encodeURIComponent(sprint(args))
      .replace(/%20/g, '+')
      .replace(/[!'()*]/g, escapeReserved),
};

function escapeReserved(char: string): string {
  return `%${char.charCodeAt(0).toString(16).toUpperCase()}`;
}
