/**
 * sprig's dict.go. Dicts are JSON objects (Go's map[string]interface{}). One deliberate
 * difference: `set`, `unset`, `merge` and `mergeOverwrite` return a changed copy instead
 * of changing their argument in place, because the maps a template sees are the engine's
 * stored values (a step's output, the inputs), which a template must never alter.
 */
import { goKindOf, isDict, isEmpty, strval, type Dict } from './go-values.ts';
import { expectArgs, fixed, HelperError, str, type Helper, type HelperTable } from './helper.ts';

function dictOf(value: unknown, name: string): Dict {
  if (!isDict(value)) throw new HelperError(`${name}: expected a dict, got ${goKindOf(value)}`);
  return value;
}

/** mergo.Merge (overwrite false) and MergeWithOverwrite: nested dicts merge key by key. */
function mergeInto(target: Dict, source: Dict, overwrite: boolean): Dict {
  const out: Dict = { ...target };
  for (const [key, value] of Object.entries(source)) {
    const current = out[key];
    if (isDict(current) && isDict(value)) out[key] = mergeInto(current, value, overwrite);
    else if (!Object.hasOwn(out, key) || isEmpty(current)) out[key] = value;
    else if (overwrite && !isEmpty(value)) out[key] = value;
  }
  return out;
}

function merge(args: unknown[], name: string, overwrite: boolean): Dict {
  expectArgs(name, args, 1, Infinity);
  return args
    .slice(1)
    .reduce<Dict>((acc, source) => mergeInto(acc, dictOf(source, name), overwrite), dictOf(args[0], name));
}

function dig(args: unknown[], name: string): unknown {
  expectArgs(name, args, 3, Infinity);
  let current: unknown = args[args.length - 1];
  const fallback = args[args.length - 2];
  for (const key of args.slice(0, -2)) {
    const dict = dictOf(current, name);
    const k = str(key);
    if (!Object.hasOwn(dict, k)) return fallback;
    current = dict[k];
  }
  return current;
}

const mergeHelper =
  (overwrite: boolean): Helper =>
  (args, call) =>
    merge(args, call.name, overwrite);

export const dictHelpers: HelperTable = {
  dict: (args, call) => {
    const out: Dict = {};
    for (let i = 0; i < args.length; i += 2) out[strval(args[i])] = i + 1 < args.length ? args[i + 1] : '';
    return { ...out, ...call.hash };
  },
  get: fixed(2, (dict, key) => {
    const d = dictOf(dict, 'get');
    const k = str(key);
    return Object.hasOwn(d, k) ? d[k] : '';
  }),
  set: fixed(3, (dict, key, value) => ({ ...dictOf(dict, 'set'), [str(key)]: value })),
  unset: fixed(2, (dict, key) => {
    const copy = { ...dictOf(dict, 'unset') };
    delete copy[str(key)];
    return copy;
  }),
  hasKey: fixed(2, (dict, key) => Object.hasOwn(dictOf(dict, 'hasKey'), str(key))),
  pluck: (args, call) => {
    expectArgs(call.name, args, 1, Infinity);
    const key = str(args[0]);
    return args
      .slice(1)
      .map((dict) => dictOf(dict, call.name))
      .filter((dict) => Object.hasOwn(dict, key))
      .map((dict) => dict[key]);
  },
  keys: (args, call) => args.flatMap((dict) => Object.keys(dictOf(dict, call.name))),
  values: fixed(1, (dict) => Object.values(dictOf(dict, 'values'))),
  pick: (args, call) => {
    expectArgs(call.name, args, 1, Infinity);
    const dict = dictOf(args[0], call.name);
    return Object.fromEntries(
      args
        .slice(1)
        .map(str)
        .filter((key) => Object.hasOwn(dict, key))
        .map((key) => [key, dict[key]]),
    );
  },
  omit: (args, call) => {
    expectArgs(call.name, args, 1, Infinity);
    const omitted = new Set(args.slice(1).map(str));
    return Object.fromEntries(
      Object.entries(dictOf(args[0], call.name)).filter(([key]) => !omitted.has(key)),
    );
  },
  merge: mergeHelper(false),
  mustMerge: mergeHelper(false),
  mergeOverwrite: mergeHelper(true),
  mustMergeOverwrite: mergeHelper(true),
  dig: (args, call) => dig(args, call.name),
};
