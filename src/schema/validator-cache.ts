import type { ErrorObject } from 'ajv';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

/**
 * Validators for a plugin's schemas, as a run needs them: compiled from the schema (never
 * read as code from the database, which other hosts and users may write), and cached so
 * that a one-shot CLI command does not pay ajv's load and compile (~35 ms) every time.
 *
 * Two levels: in memory by schema hash, and on disk as ajv's standalone code in the user's
 * own cache directory (`$XDG_CACHE_HOME/taskhost`, else `~/.cache/taskhost`), under a folder
 * named for the ajv version that wrote it, so a new ajv never loads an old one's code. The
 * directory must belong to this user and be closed to others (0700, not a link), and each
 * file too (0600): anyone able to write there could already run code as this user. Where
 * that does not hold, or nothing can be written, validators are compiled in memory only.
 */

export interface Validator {
  (data: unknown): boolean;
  errors?: ErrorObject[] | null;
}

const memory = new Map<string, Validator>();
const MEMORY_LIMIT = 512;
const requireForCode = createRequire(import.meta.url);

let directory: string | null | undefined;

/** This user's private cache directory for this ajv version, or null when there is none safe. */
function cacheDirectory(): string | null {
  if (directory !== undefined) return directory;
  directory = null;
  try {
    const version = (requireForCode('ajv/package.json') as { version: string }).version;
    const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
    const dir = path.join(base, 'taskhost', `validators-ajv-${version}`);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const level of [path.dirname(dir), dir]) {
      const stat = fs.lstatSync(level);
      const uid = process.getuid?.();
      const foreign = uid !== undefined && stat.uid !== uid;
      if (!stat.isDirectory() || foreign || (stat.mode & 0o077) !== 0) return null;
    }
    directory = dir;
  } catch {
    directory = null;
  }
  return directory;
}

function load(code: string): Validator {
  const module = { exports: {} as unknown };
  // ajv's own output for a schema this process hashed, from this user's private directory.
  new Function('require', 'module', 'exports', code)(requireForCode, module, module.exports);
  return module.exports as Validator;
}

/** The cached code of `key`, if it is there and safe to load. */
function readCached(file: string): string | null {
  try {
    const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    try {
      const stat = fs.fstatSync(fd);
      const uid = process.getuid?.();
      if ((uid !== undefined && stat.uid !== uid) || (stat.mode & 0o077) !== 0) return null;
      return fs.readFileSync(fd, 'utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return null;
  }
}

function writeCached(file: string, code: string): void {
  const temporary = `${file}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(temporary, code, { mode: 0o600, flag: 'wx' });
    fs.renameSync(temporary, file);
  } catch {
    fs.rmSync(temporary, { force: true });
  }
}

interface Lookup {
  key: string;
  /** Where this user's cache keeps its code; null without a safe cache directory. */
  file: string | null;
  validator: Validator | null;
}

/** The validator of `schema` from memory or from this user's cache, if either has it. */
function lookup(schema: unknown): Lookup {
  const key = createHash('sha256')
    .update(JSON.stringify(schema ?? null))
    .digest('base64url');
  const known = memory.get(key);
  if (known) return { key, file: null, validator: known };
  const dir = cacheDirectory();
  const file = dir ? path.join(dir, `${key}.cjs`) : null;
  const code = file ? readCached(file) : null;
  let validator: Validator | null = null;
  if (code !== null) {
    try {
      validator = load(code);
    } catch {
      validator = null; // a damaged file: compiled again by the caller, and replaced
    }
  }
  if (validator) remember(key, validator);
  return { key, file, validator };
}

function remember(key: string, validator: Validator): void {
  if (memory.size >= MEMORY_LIMIT) memory.delete(memory.keys().next().value as string);
  memory.set(key, validator);
}

/** Loads freshly compiled code, keeps it in memory and in this user's cache. */
function compiled({ key, file }: Lookup, code: string): Validator {
  const validator = load(code);
  if (file) writeCached(file, code);
  remember(key, validator);
  return validator;
}

/** The validator of `schema`: from memory, from this user's cache, or compiled by ajv (and cached). */
export async function validatorFor(schema: unknown): Promise<Validator> {
  const found = lookup(schema);
  if (found.validator) return found.validator;
  const { standaloneValidatorCode } = await import('./json-schema.ts');
  return compiled(found, standaloneValidatorCode(schema));
}

/**
 * validatorFor for a caller that cannot wait: `compile` (json-schema.ts's
 * standaloneValidatorCode, which the caller has loaded) runs only when neither memory nor
 * this user's cache has the code. The template checker uses it for schemas/*.schema.json:
 * compiling the template schema took ~75 ms of every `taskhost run`.
 */
export function validatorForSync(schema: unknown, compile: (schema: unknown) => string): Validator {
  const found = lookup(schema);
  return found.validator ?? compiled(found, compile(schema));
}
