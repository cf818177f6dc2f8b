import fs from 'node:fs';
import path from 'node:path';
import { TaskhostError } from '../errors.ts';
import {
  deletePlugin,
  getPlugin,
  listPlugins,
  upsertPlugin,
  type PluginRow,
  type PluginSource,
} from '../store/queries/plugins.ts';
import type { Queryable } from '../store/store.ts';
import { BUILTIN_ACTIONS } from './builtins.ts';
import type { PluginDescription } from './description.ts';
import type { RunnablePlugin } from './run-plugin.ts';

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export function checkPluginName(name: string): void {
  if (!NAME_PATTERN.test(name)) {
    throw new TaskhostError(
      'TH_REQUEST_INVALID',
      `invalid plugin name "${name}": use letters, digits, ".", "_" and "-", starting with a letter or digit`,
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

/**
 * Registers (or replaces) a plugin: checks the name and the file, runs `PATH schema`, and
 * stores the entry in one statement. Any failure leaves a previous entry of that name intact.
 */
export async function registerPlugin(
  db: Queryable,
  request: { name: string; location: string; source: PluginSource },
): Promise<PluginRow> {
  checkPluginName(request.name);
  const location = checkExecutable(request.location);
  const { description, validators } = await describeAndCompile(location);
  return upsertPlugin(db, { name: request.name, location, description, source: request.source, validators });
}

export async function unregisterPlugin(db: Queryable, name: string): Promise<void> {
  if (!(await deletePlugin(db, name))) {
    throw new TaskhostError('TH_PLUGIN_NOT_FOUND', `no plugin named "${name}" is registered`);
  }
}

/**
 * Runs `PATH schema` and compiles the inputs and outputs schemas to standalone validators.
 * Loaded on demand: a run needs neither the describer nor ajv.
 */
async function describeAndCompile(
  location: string,
): Promise<{ description: PluginDescription; validators: NonNullable<RunnablePlugin['validators']> }> {
  const [{ describePlugin }, { standaloneValidator }] = await Promise.all([
    import('./description.ts'),
    import('./json-schema.ts'),
  ]);
  const description = await describePlugin(location);
  const validators: NonNullable<RunnablePlugin['validators']> = {
    inputs: standaloneValidator(description.inputs),
  };
  if (description.outputs !== undefined) validators.outputs = standaloneValidator(description.outputs);
  return { description, validators };
}

export function toRunnable(row: PluginRow): RunnablePlugin {
  return {
    name: row.name,
    location: row.location,
    description: row.description as PluginDescription,
    validators: row.validators,
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

export { listPlugins, getPlugin };

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
        const { description, validators } = await describeAndCompile(file);
        checkPluginName(description.name);
        result.registered.push(
          await upsertPlugin(db, {
            name: description.name,
            location: file,
            description,
            source: 'tasks-dir',
            validators,
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
