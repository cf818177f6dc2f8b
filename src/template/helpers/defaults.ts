/**
 * sprig's defaults.go: default, empty, coalesce, all, any, compact, ternary, the JSON
 * family (fromJson and mustFromJson as µTask overrides them: fromJson ignores a decoding
 * error and gives nil) and deepCopy. Emptiness is Go's: nil, false, 0, "", [] and {}.
 */
import { goJsonEncode } from './go-json.ts';
import { asList, goTypeOf, isEmpty } from './go-values.ts';
import { expectArgs, fixed, HelperError, str, type HelperTable } from './helper.ts';

function decodeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new HelperError(error instanceof Error ? error.message : String(error));
  }
}

function encodeJson(value: unknown, options: Parameters<typeof goJsonEncode>[1], must: boolean): string {
  try {
    return goJsonEncode(value, options);
  } catch (error) {
    if (must) throw new HelperError(error instanceof Error ? error.message : String(error));
    return '';
  }
}

function compact(name: string, list: unknown): unknown[] {
  const items = asList(list);
  if (items === undefined) throw new HelperError(`Cannot compact on type ${goTypeOf(list)}`);
  return items.filter((item) => !isEmpty(item));
}

function copy(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(copy);
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, copy(item)]));
  }
  return value;
}

export const defaultsHelpers: HelperTable = {
  default: (args, call) => {
    expectArgs(call.name, args, 1, Infinity);
    return args.length < 2 || isEmpty(args[1]) ? args[0] : args[1];
  },
  empty: fixed(1, (value) => isEmpty(value)),
  coalesce: (args) => args.find((value) => !isEmpty(value)) ?? null,
  all: (args) => args.every((value) => !isEmpty(value)),
  any: (args) => args.some((value) => !isEmpty(value)),
  compact: (args, call) => {
    expectArgs(call.name, args, 1);
    return compact(call.name, args[0]);
  },
  mustCompact: (args, call) => {
    expectArgs(call.name, args, 1);
    return compact(call.name, args[0]);
  },
  ternary: fixed(3, (whenTrue, whenFalse, condition) => (isEmpty(condition) ? whenFalse : whenTrue)),
  fromJson: fixed(1, (text) => {
    try {
      return JSON.parse(str(text)) as unknown;
    } catch {
      return null;
    }
  }),
  mustFromJson: fixed(1, (text) => decodeJson(str(text))),
  toJson: fixed(1, (value) => encodeJson(value, {}, false)),
  mustToJson: fixed(1, (value) => encodeJson(value, {}, true)),
  toPrettyJson: fixed(1, (value) => encodeJson(value, { indent: '  ' }, false)),
  mustToPrettyJson: fixed(1, (value) => encodeJson(value, { indent: '  ' }, true)),
  toRawJson: fixed(1, (value) => encodeJson(value, { raw: true }, true)),
  mustToRawJson: fixed(1, (value) => encodeJson(value, { raw: true }, true)),
  deepCopy: fixed(1, copy),
  mustDeepCopy: fixed(1, copy),
  fail: fixed(1, (message) => {
    throw new HelperError(str(message));
  }),
};
