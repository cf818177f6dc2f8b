import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { TaskhostError } from '../errors.ts';
import { SCHEMAS_DIR } from '../paths.ts';
import { secretTexts } from '../engine/secrets.ts';

/**
 * taskhost.yaml (SPEC section 8): read once, before a command that holds settings runs
 * (every command with `--config`), and checked against schemas/config.schema.json. An
 * unknown key or a bad value stops the command with one line, `FILE:LINE:COLUMN: KEY: …`
 * (exit 2). A missing ./taskhost.yaml is fine; a missing `--config FILE` is not.
 *
 * Precedence: flags > TASKHOST_* environment > file > defaults. The settings that also have
 * a flag (port, data_dir…) are merged into the command's own option values with commander's
 * `config` source, which ranks above a default and below the environment and the command
 * line, so a command reads them from its flags exactly as before. The others come back
 * parsed from settingsOf(). Relative paths are relative to the working directory, as flags.
 */

/** The file read when neither `--config` nor TASKHOST_CONFIG names one. */
export const DEFAULT_CONFIG_FILE = 'taskhost.yaml';

/** File keys that are also a flag of some commands: key → the option's attribute name. */
const FLAG_KEYS = {
  port: 'port',
  host: 'host',
  tasks: 'tasks',
  templates: 'templates',
  functions: 'functions',
  output_cap: 'outputCap',
  data_dir: 'dataDir',
  database_url: 'databaseUrl',
} as const;

/** One item of the templates' `config` root. */
export interface ConfigItem {
  value: unknown;
  secret: boolean;
}

/** taskhost.yaml as the schema describes it, every default filled in. */
export interface ConfigFile {
  port: number;
  host: string;
  tasks: string;
  templates: string;
  functions: string;
  output_cap: number;
  data_dir: string;
  database_url: string | null;
  admins: string[];
  auth: {
    users_file: string;
    trusted_header: string | null;
    trusted_groups_header: string | null;
    trusted_proxies: string[];
  };
  allowed_hosts: string[];
  encryption: { keys_file: string };
  config: Record<string, ConfigItem>;
  completed_task_expiration: string;
  heartbeat_interval: string;
  instance_death_timeout: string;
  maintenance_mode: boolean;
  max_concurrent_executions: number;
  resource_limits: Record<string, number>;
}

/** The settings that have no flag, parsed (the others are in the command's options). */
export interface Settings {
  /** The file that was read; null when there was none (no ./taskhost.yaml). */
  file: string | null;
  /** TASKHOST_ADMINS (comma-separated) over `admins`. */
  admins: string[];
  auth: {
    /** TASKHOST_USERS_FILE over `auth.users_file`. */
    usersFile: string;
    trustedHeader: string | null;
    trustedGroupsHeader: string | null;
    trustedProxies: string[];
  };
  allowedHosts: string[];
  /** TASKHOST_KEYS_FILE over `encryption.keys_file`. */
  encryption: { keysFile: string };
  /** The templates' `config` root, as written: `{value, secret}` items. */
  config: Record<string, ConfigItem>;
  /** The same as the engine takes it (engine option `config`): name → value. */
  configValues: Record<string, unknown>;
  /** The texts of the items marked `secret` (engine option `secrets`: concealed as `***`). */
  secrets: string[];
  /** µTask's resource_limits (engine option `resourceLimits`): resource → executions at once. */
  resourceLimits: Record<string, number>;
  /** Tasks an instance runs at once; 0 stops processing, Infinity for the file's -1. */
  maxConcurrentExecutions: number;
  /** completed_task_expiration in milliseconds. */
  completedTaskExpirationMs: number;
  /** heartbeat_interval in milliseconds. */
  heartbeatIntervalMs: number;
  /** instance_death_timeout in milliseconds. */
  instanceDeathTimeoutMs: number;
  /** TASKHOST_MAINTENANCE_MODE (1/true) over `maintenance_mode`. */
  maintenanceMode: boolean;
}

/** Go's duration units (the schema's pattern), in milliseconds. */
const DURATION_UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** A Go duration (`720h`, `1h30m`, `1.5s`, `0`) in milliseconds; the schema has checked its form. */
export function parseDuration(text: string): number {
  let total = 0;
  for (const [, amount, unit] of text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) {
    total += Number(amount) * (DURATION_UNITS[unit as string] ?? 0);
  }
  return total;
}

export function configSchema(): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(path.join(SCHEMAS_DIR, 'config.schema.json'), 'utf8')) as Record<
    string,
    unknown
  >;
}

/** The defaults the schema gives an empty file, as ajv's useDefaults fills them in (nested ones too). */
function defaultsOf(schema: Record<string, unknown>): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  const properties = (schema.properties ?? {}) as Record<string, Record<string, unknown>>;
  for (const [key, property] of Object.entries(properties)) {
    if (!('default' in property)) continue;
    const value = structuredClone(property.default);
    values[key] =
      value !== null && typeof value === 'object' && !Array.isArray(value) && property.properties
        ? { ...defaultsOf(property), ...(value as Record<string, unknown>) }
        : value;
  }
  return values;
}

/**
 * Reads a config file: its settings with every default filled in. `file` undefined means
 * ./taskhost.yaml, which may be missing; a file that was named must exist (`named` says how
 * it was named, for the message).
 */
async function readConfigFile(
  file: string | undefined,
  named: string,
): Promise<{ file: string | null; values: ConfigFile; written: ReadonlySet<string> }> {
  const shown = file ?? DEFAULT_CONFIG_FILE;
  let text: string | null;
  try {
    text = fs.readFileSync(shown, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' || file !== undefined) {
      throw new TaskhostError(
        'TH_CONFIG_INVALID',
        `${file === undefined ? shown : named === 'TASKHOST_CONFIG' ? `TASKHOST_CONFIG=${file}` : `${named} ${file}`}: ${code === 'ENOENT' ? 'no such file' : `cannot be read (${code ?? (error as Error).message})`}`,
      );
    }
    text = null;
  }
  if (text === null) return { file: null, values: withDefaults(), written: new Set() };

  const { parseConfigFile } = await import('./config-file.ts');
  return { file: shown, ...parseConfigFile(shown, text) };
}

/** The settings of a project without a file: the schema's defaults, no validation needed. */
function withDefaults(): ConfigFile {
  return defaultsOf(configSchema()) as unknown as ConfigFile;
}

/** A comma-separated list from the environment; undefined when the variable is unset or empty. */
function envList(name: string): string[] | undefined {
  const value = process.env[name]?.trim();
  if (!value) return undefined;
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

/** A yes/no variable (`1`, `true`, `yes` / `0`, `false`, `no`); undefined when unset or empty. */
function envFlag(name: string): boolean | undefined {
  const value = process.env[name]?.trim().toLowerCase();
  if (!value) return undefined;
  if (['1', 'true', 'yes', 'on'].includes(value)) return true;
  if (['0', 'false', 'no', 'off'].includes(value)) return false;
  throw new TaskhostError('TH_CONFIG_INVALID', `${name}=${process.env[name]}: must be true or false`);
}

const resolved = new WeakMap<Command, Settings>();

/**
 * The settings of the command about to run: reads its config file (`--config`,
 * TASKHOST_CONFIG, or ./taskhost.yaml), merges the keys that are also its flags into its
 * option values (when neither the command line nor the environment set them), and returns
 * the others parsed. Done once per command; later calls return the same settings.
 */
export async function settingsOf(command: Command): Promise<Settings> {
  const known = resolved.get(command);
  if (known) return known;
  const options = command.opts<{ config?: string }>();
  const named = command.getOptionValueSource('config') === 'env' ? 'TASKHOST_CONFIG' : '--config';
  const { values, file, written } = await readConfigFile(options.config, named);

  for (const [key, attribute] of Object.entries(FLAG_KEYS)) {
    const value = values[key as keyof typeof FLAG_KEYS];
    if (!written.has(key) || value === null) continue;
    if (!command.options.some((option) => option.attributeName() === attribute)) continue;
    const source = command.getOptionValueSource(attribute);
    if (source !== undefined && source !== 'default') continue;
    // Flags hold strings (`--port 8081`); the command parses them as it always has.
    command.setOptionValueWithSource(attribute, String(value), 'config');
  }

  const settings: Settings = {
    file,
    admins: envList('TASKHOST_ADMINS') ?? values.admins,
    auth: {
      usersFile: process.env.TASKHOST_USERS_FILE?.trim() || values.auth.users_file,
      trustedHeader: values.auth.trusted_header,
      trustedGroupsHeader: values.auth.trusted_groups_header,
      trustedProxies: values.auth.trusted_proxies,
    },
    allowedHosts: values.allowed_hosts,
    encryption: { keysFile: process.env.TASKHOST_KEYS_FILE?.trim() || values.encryption.keys_file },
    config: values.config,
    configValues: Object.fromEntries(Object.entries(values.config).map(([name, item]) => [name, item.value])),
    secrets: Object.values(values.config).flatMap((item) => (item.secret ? secretTexts(item.value) : [])),
    resourceLimits: values.resource_limits,
    maxConcurrentExecutions:
      values.max_concurrent_executions === -1 ? Number.POSITIVE_INFINITY : values.max_concurrent_executions,
    completedTaskExpirationMs: parseDuration(values.completed_task_expiration),
    heartbeatIntervalMs: parseDuration(values.heartbeat_interval),
    instanceDeathTimeoutMs: parseDuration(values.instance_death_timeout),
    maintenanceMode: envFlag('TASKHOST_MAINTENANCE_MODE') ?? values.maintenance_mode,
  };
  // The store's commands take the key ring's place as one of their options (StoreFlags.keysFile);
  // unset, it is keys.json beside the embedded cluster (`--data-dir`), the file's default.
  const keysFile =
    process.env.TASKHOST_KEYS_FILE?.trim() || (written.has('encryption') ? values.encryption.keys_file : '');
  if (keysFile) command.setOptionValueWithSource('keysFile', keysFile, 'config');
  resolved.set(command, settings);
  return settings;
}
