import { createRequire } from 'node:module';
import type { Ajv, ErrorObject } from 'ajv';
import { LineCounter, parseDocument } from 'yaml';
import { TaskhostError } from '../errors.ts';
import { formatPath, PositionMap } from '../template/positions.ts';
import { closest } from '../template/suggest.ts';
import { configSchema, type ConfigFile } from './config.ts';

/**
 * A taskhost.yaml that exists: parsed, and checked against schemas/config.schema.json, each
 * problem as one line placed where it was written. Loaded only when there is a file (the
 * yaml parser and ajv cost every command ~40 ms at start otherwise; most projects have none).
 */

let validator: ReturnType<Ajv['compile']> | undefined;

/**
 * The schema's validator; it fills in every default (nested sections' included). ajv is
 * loaded only here, when a file is there to check: every command that holds settings starts
 * by reading them, and most projects have no taskhost.yaml.
 */
function validateConfig(data: unknown): ErrorObject[] {
  if (!validator) {
    const { Ajv: AjvClass } = createRequire(import.meta.url)('ajv') as { Ajv: new (options: object) => Ajv };
    validator = new AjvClass({ allErrors: true, useDefaults: true, strict: true, verbose: true }).compile(
      configSchema(),
    );
  }
  return validator(data) ? [] : [...(validator.errors ?? [])];
}

/** Messages for the schema's patterns, which ajv would show as regular expressions. */
const PATTERN_MESSAGES: Record<string, string> = {
  database_url: 'must be a postgres:// or postgresql:// URL',
  completed_task_expiration: 'must be a duration such as 720h, 1h30m or 90s',
  heartbeat_interval: 'must be a duration such as 10s or 1m',
  instance_death_timeout: 'must be a duration such as 30s or 2m',
  trusted_header: 'must be an HTTP header name',
  trusted_groups_header: 'must be an HTTP header name',
  trusted_proxies: 'must be an IP address or a CIDR range',
  allowed_hosts: 'must be a host name, without spaces',
};

function describeValue(value: unknown): string {
  if (value === null || typeof value !== 'object') return ` (got ${JSON.stringify(value) ?? 'nothing'})`;
  return Array.isArray(value) ? ' (got a list)' : ' (got a map)';
}

/** `/auth/trusted_proxies/0` → ['auth', 'trusted_proxies', 0]. */
function fieldPath(instancePath: string, data: unknown): (string | number)[] {
  const segments = instancePath === '' ? [] : instancePath.slice(1).split('/');
  const result: (string | number)[] = [];
  let node = data;
  for (const raw of segments) {
    const segment = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    const key = Array.isArray(node) ? Number(segment) : segment;
    result.push(key);
    node = (node as Record<string | number, unknown> | undefined)?.[key];
  }
  return result;
}

function valueAt(data: unknown, field: readonly (string | number)[]): unknown {
  let node = data;
  for (const key of field) node = (node as Record<string | number, unknown> | undefined)?.[key];
  return node;
}

function messageOf(error: ErrorObject, key: string): string {
  switch (error.keyword) {
    case 'pattern':
      return PATTERN_MESSAGES[key] ?? `must match ${String(error.params.pattern)}`;
    case 'required':
      return `needs "${String(error.params.missingProperty)}"`;
    case 'minLength':
      return 'must not be empty';
    case 'type':
      return `must be ${String(error.params.type).split(',').join(' or ')}`;
    default:
      return error.message ?? 'is invalid';
  }
}

/** One schema violation as one line, placed where it was written. */
function problem(error: ErrorObject, data: unknown, positions: PositionMap): { line: string; at: number[] } {
  const field = fieldPath(error.instancePath, data);
  if (error.keyword === 'additionalProperties') {
    const key = String(error.params.additionalProperty);
    const where = positions.keyAt([...field, key]);
    const known = Object.keys((error.parentSchema?.properties as object | undefined) ?? {});
    const suggestion = closest(key, known);
    return {
      line: `${where.file}:${where.line}:${where.column}: unknown key "${formatPath([...field, key])}"${suggestion ? ` (did you mean "${suggestion}"?)` : ''}`,
      at: [where.line, where.column],
    };
  }
  const where = positions.at(field);
  const last = [...field].reverse().find((segment) => typeof segment === 'string');
  const message = messageOf(error, last ?? '');
  const shown = error.keyword === 'required' ? '' : describeValue(valueAt(data, field));
  return {
    line: `${where.file}:${where.line}:${where.column}: ${formatPath(field) || '(the file)'}: ${message}${shown}`,
    at: [where.line, where.column],
  };
}

/**
 * The settings a file's text sets, every default filled in, and the keys it wrote itself.
 * `shown` is the file's name as messages give it.
 */
export function parseConfigFile(
  shown: string,
  text: string,
): { values: ConfigFile; written: ReadonlySet<string> } {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  const [syntax] = document.errors;
  if (syntax) {
    const [start] = syntax.linePos ?? [{ line: 1, col: 1 }];
    const message = (syntax.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
    throw new TaskhostError('TH_CONFIG_INVALID', `${shown}:${start.line}:${start.col}: YAML: ${message}`);
  }
  let data: unknown;
  try {
    data = document.toJS({ maxAliasCount: 1000 }) as unknown;
  } catch (error) {
    throw new TaskhostError('TH_CONFIG_INVALID', `${shown}: YAML: ${(error as Error).message}`);
  }
  // An empty file (or one of comments only, as `taskhost init` writes it) sets nothing.
  if (data === null || data === undefined) data = {};
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw new TaskhostError('TH_CONFIG_INVALID', `${shown}:1:1: expected a map of settings (key: value)`);
  }
  // The keys the file sets, before the schema's defaults join them.
  const written = new Set(Object.keys(data as object));
  const errors = validateConfig(data);
  if (errors.length > 0) {
    // The first problem in the file, as a reader goes through it.
    const positions = PositionMap.fromDocument(shown, document, lineCounter);
    // A map with an unknown key is said to have that key rather than to miss one
    // (`{valu: 1}`: "unknown key valu (did you mean value?)", not "needs value").
    const misspelt = new Set(
      errors.filter((error) => error.keyword === 'additionalProperties').map((error) => error.instancePath),
    );
    const [first] = errors
      .filter((error) => error.keyword !== 'required' || !misspelt.has(error.instancePath))
      .map((error) => problem(error, data, positions))
      .sort((a, b) => (a.at[0] ?? 0) - (b.at[0] ?? 0) || (a.at[1] ?? 0) - (b.at[1] ?? 0));
    throw new TaskhostError('TH_CONFIG_INVALID', (first as { line: string }).line, { details: errors });
  }
  return { values: data as ConfigFile, written };
}
