/**
 * µTask's own template functions: `field` and `fieldFrom` (dot notation for keys with
 * characters a path cannot hold: `{{field "config" "foo.bar"}}`), `eval` and `evalCache`
 * (template variables), plus `jsonPath` (a JSONPath query, jsonpath-plus with its safe
 * evaluator for filters: no JavaScript of the host runs).
 */
import { JSONPath } from 'jsonpath-plus';
import { isDict, isNil } from './go-values.ts';
import { expectArgs, HelperError, str, type HelperTable } from './helper.ts';

/** Follows `keys` through nested dicts; undefined as soon as one is missing. */
function walk(start: unknown, keys: readonly unknown[]): unknown {
  let current = start;
  for (const key of keys) {
    if (!isDict(current)) return undefined;
    const k = str(key);
    if (!Object.hasOwn(current, k)) return undefined;
    current = current[k];
  }
  return current;
}

/**
 * A path is definite when it names one place (no wildcard, recursive descent, filter,
 * union or slice): then `jsonPath` gives that value, otherwise the list of all matches
 * (Jayway JsonPath's rule).
 */
function isDefinite(path: string): boolean {
  return JSONPath.toPathArray(path).every(
    (token) => token !== '*' && token !== '..' && !/^[?(]/.test(token) && !/[,:]/.test(token),
  );
}

export const valueHelpers: HelperTable = {
  field: (args, call) => walk(call.scope.root, args),
  fieldFrom: (args) => {
    if (args.length < 2) throw new HelperError('invalid number of parameters given');
    const data = args[args.length - 1];
    if (!isDict(data)) throw new HelperError('unable to cast given data to a map[string]');
    const keys = args.slice(0, -1);
    if (keys.some((key) => typeof key !== 'string')) throw new HelperError('fieldFrom keys must be strings');
    return walk(data, keys);
  },
  eval: (args, call) => {
    expectArgs(call.name, args, 1);
    return call.scope.evaluate(str(args[0]), false);
  },
  evalCache: (args, call) => {
    expectArgs(call.name, args, 1);
    return call.scope.evaluate(str(args[0]), true);
  },
  jsonPath: (args, call) => {
    expectArgs(call.name, args, 2);
    const path = str(args[0]);
    const json = args[1];
    if (isNil(json)) return undefined;
    let matches: unknown[];
    try {
      matches = JSONPath({ path, json: json as object, wrap: true, eval: 'safe' }) as unknown[];
    } catch (error) {
      throw new HelperError(
        `jsonPath ${JSON.stringify(path)}: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    return isDefinite(path) ? matches[0] : matches;
  },
};
