import fs from 'node:fs';
import path from 'node:path';
import { TaskhostError } from '../errors.ts';
import {
  deletePlugin,
  getPlugin as getPluginRow,
  listPlugins,
  upsertPlugin,
  type PluginRow,
  type PluginSource,
} from '../store/queries/plugins.ts';
import type { Queryable } from '../store/store.ts';
import { BUILTIN_ACTIONS } from './builtins.ts';
import type { PluginDescription } from './description.ts';
import type { RunnablePlugin } from './run-plugin.ts';

/**
 * A plugin name: Unicode letters and digits (`météo-天気`), with combining marks, `.`, `_` and
 * `-`, starting with a letter or digit; at most 128 characters. Never `/`, whitespace or a
 * control character: a name is a path segment of the API (percent-encoded in URLs).
 */
const NAME_PATTERN = /^[\p{L}\p{N}][\p{L}\p{N}\p{M}_.-]{0,127}$/u;

export function checkPluginName(name: string): void {
  if (!NAME_PATTERN.test(name.normalize('NFC'))) {
    throw new TaskhostError(
      'TH_REQUEST_INVALID',
      `invalid plugin name ${JSON.stringify(name)}: use letters, digits, ".", "_" and "-" (no "/", spaces or control characters), starting with a letter or digit, at most 128 characters`,
    );
  }
  if (BUILTIN_ACTIONS.has(name)) {
    throw new TaskhostError(
      'TH_PLUGIN_NAME_TAKEN',
      `"${name}" is the name of a builtin action; choose another name`,
    );
  }
}

/** Resolves a plugin path and checks that it is an executable file. */
export function checkExecutable(location: string): string {
  const absolute = path.resolve(location);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(absolute);
  } catch {
    throw new TaskhostError('TH_PLUGIN_NOT_EXECUTABLE', `${absolute}: no such file`);
  }
  if (!stat.isFile()) throw new TaskhostError('TH_PLUGIN_NOT_EXECUTABLE', `${absolute}: not a regular file`);
  try {
    fs.accessSync(absolute, fs.constants.X_OK);
  } catch {
    throw new TaskhostError('TH_PLUGIN_NOT_EXECUTABLE', `${absolute}: not executable (chmod +x ${absolute})`);
  }
  return absolute;
}

/** A plugin checked and described, ready to be stored. */
export interface PreparedPlugin {
  name: string;
  location: string;
  description: PluginDescription;
}

/**
 * Everything registering needs but the store: checks the name and the file and runs
 * `PATH schema`. A command calls it before opening the store, so a mistake costs nothing.
 */
export async function preparePlugin(request: { name: string; location: string }): Promise<PreparedPlugin> {
  const name = request.name.normalize('NFC');
  checkPluginName(name);
  const location = checkExecutable(request.location);
  return { name, location, description: await describe(location) };
}

/** Stores (or replaces) a prepared plugin in one statement: a failure leaves the old entry. */
export function savePlugin(db: Queryable, plugin: PreparedPlugin, source: PluginSource): Promise<PluginRow> {
  return upsertPlugin(db, { ...plugin, source });
}

/**
 * Registers (or replaces) a plugin: checks the name and the file, runs `PATH schema`, and
 * stores the entry in one statement. Any failure leaves a previous entry of that name intact.
 */
export async function registerPlugin(
  db: Queryable,
  request: { name: string; location: string; source: PluginSource },
): Promise<PluginRow> {
  return savePlugin(db, await preparePlugin(request), request.source);
}

export async function unregisterPlugin(db: Queryable, name: string): Promise<void> {
  if (!(await deletePlugin(db, name.normalize('NFC')))) {
    throw new TaskhostError('TH_PLUGIN_NOT_FOUND', `no plugin named "${name}" is registered`);
  }
}

/** Runs `PATH schema` (loaded on demand: a run needs neither the describer nor ajv's meta-schemas). */
async function describe(location: string): Promise<PluginDescription> {
  const { describePlugin } = await import('./description.ts');
  return describePlugin(location);
}

export function toRunnable(row: PluginRow): RunnablePlugin {
  return {
    name: row.name,
    location: row.location,
    description: row.description as PluginDescription,
  };
}

export async function loadPlugin(db: Queryable, name: string): Promise<RunnablePlugin> {
  const row = await getPlugin(db, name);
  if (!row) {
    throw new TaskhostError(
      'TH_PLUGIN_NOT_FOUND',
      `no plugin named "${name}" is registered (see: taskhost list)`,
    );
  }
  return toRunnable(row);
}

/** The registry entry of `name` (compared in Unicode NFC, as names are stored), or null. */
export function getPlugin(db: Queryable, name: string): Promise<PluginRow | null> {
  return getPluginRow(db, name.normalize('NFC'));
}

export { listPlugins };

export interface DirectoryRegistration {
  registered: PluginRow[];
  failed: { file: string; error: string }[];
}

/**
 * Registers every executable file of a directory under the name its self-description
 * gives (the tasks/ directory at server start). A file that fails is reported, not fatal.
 */
export async function registerDirectory(db: Queryable, dir: string): Promise<DirectoryRegistration> {
  const result: DirectoryRegistration = { registered: [], failed: [] };
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return result;
  }
  const files = entries
    .filter((entry) => !entry.name.startsWith('.') && (entry.isFile() || entry.isSymbolicLink()))
    .map((entry) => path.resolve(dir, entry.name))
    .filter((file) => {
      try {
        fs.accessSync(file, fs.constants.X_OK);
        return fs.statSync(file).isFile();
      } catch {
        return false;
      }
    });
  await Promise.all(
    files.map(async (file) => {
      try {
        const description = await describe(file);
        const name = description.name.normalize('NFC');
        checkPluginName(name);
        result.registered.push(
          await upsertPlugin(db, {
            name,
            location: file,
            description,
            source: 'tasks-dir',
          }),
        );
      } catch (error) {
        result.failed.push({ file, error: (error as Error).message });
      }
    }),
  );
  result.registered.sort((a, b) => a.name.localeCompare(b.name));
  return result;
}
