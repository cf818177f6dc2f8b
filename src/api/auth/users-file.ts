import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import fs from 'node:fs';
import { TaskhostError } from '../../errors.ts';
import { writePrivateJson } from '../../system/private-file.ts';

/**
 * The basic-auth users file (SPEC section 8, `auth.users_file`): JSON, mode 0600, each user
 * with a scrypt hash of their password (node:crypto, a random salt each) and their groups.
 * `taskhost user add|remove|list` write and read it; the server checks passwords against it.
 */

export interface UserEntry {
  /** `scrypt$N$r$p$SALT$HASH`, salt and hash in base64. */
  hash: string;
  groups: string[];
}

export interface UsersFile {
  version: 1;
  users: Record<string, UserEntry>;
}

/** scrypt's cost: node's defaults (N=2^14, r=8, p=1), 32 bytes of salt and of hash. */
const COST = { N: 16384, r: 8, p: 1 } as const;
const SALT_BYTES = 32;
const HASH_BYTES = 32;

function scryptAsync(
  password: string,
  salt: Buffer,
  length: number,
  options: ScryptOptions,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, length, options, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const hash = await scryptAsync(password, salt, HASH_BYTES, COST);
  return `scrypt$${COST.N}$${COST.r}$${COST.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/** Whether `password` matches a stored hash (compared in constant time); false for a malformed one. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const options = { N: Number(n), r: Number(r), p: Number(p), maxmem: 256 * 1024 * 1024 };
  if (![options.N, options.r, options.p].every(Number.isSafeInteger) || expected.length === 0) return false;
  const actual = await scryptAsync(password, Buffer.from(salt, 'base64'), expected.length, options);
  return timingSafeEqual(actual, expected);
}

/** A user name basic auth can carry: no colon, no control character or space, at most 128 characters. */
export function checkUsername(name: string): void {
  if (!/^[^\s:\p{Cc}]{1,128}$/u.test(name)) {
    throw new TaskhostError(
      'TH_CLI_USAGE',
      `user name ${JSON.stringify(name)} is not valid: 1 to 128 characters, no colon, space or control character`,
    );
  }
}

/** `--groups a,b` as a list: trimmed, no empty or duplicate names. */
export function parseGroups(text: string): string[] {
  const groups = text
    .split(',')
    .map((group) => group.trim())
    .filter((group) => group !== '');
  for (const group of groups) {
    if (!/^[^\s,\p{Cc}]{1,128}$/u.test(group)) {
      throw new TaskhostError(
        'TH_CLI_USAGE',
        `group ${JSON.stringify(group)} is not valid: no space or control character`,
      );
    }
  }
  return [...new Set(groups)];
}

function invalid(file: string, why: string): TaskhostError {
  return new TaskhostError('TH_CONFIG_INVALID', `${file}: ${why} (rewrite it with \`taskhost user add\`)`);
}

/** Reads the users file; null when there is none. A file that is not a users file is an error. */
export function readUsersFile(file: string): UsersFile | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new TaskhostError(
      'TH_CONFIG_INVALID',
      `${file}: cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    );
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw invalid(file, `not JSON (${(error as Error).message})`);
  }
  const users = (data as { users?: unknown } | null)?.users;
  if ((data as { version?: unknown } | null)?.version !== 1 || users === null || typeof users !== 'object') {
    throw invalid(file, 'not a taskhost users file (expected {"version": 1, "users": {...}})');
  }
  for (const [name, entry] of Object.entries(users as Record<string, unknown>)) {
    const { hash, groups } = (entry ?? {}) as Partial<UserEntry>;
    if (
      typeof hash !== 'string' ||
      !Array.isArray(groups) ||
      groups.some((group) => typeof group !== 'string')
    ) {
      throw invalid(file, `user ${JSON.stringify(name)} needs a "hash" string and a "groups" list`);
    }
  }
  return data as UsersFile;
}

/** Writes the users file whole (a temporary file renamed over it), mode 0600, its folder created. */
export function writeUsersFile(file: string, contents: UsersFile): void {
  writePrivateJson(file, contents);
}

/** Adds a user, or sets the password (and groups, when given) of one that exists. Returns whether it was new. */
export async function addUser(
  file: string,
  name: string,
  password: string,
  groups: string[] | undefined,
): Promise<boolean> {
  checkUsername(name);
  if (password === '') throw new TaskhostError('TH_CLI_USAGE', 'the password is empty: write it on stdin');
  const contents = readUsersFile(file) ?? { version: 1, users: {} };
  const existing = contents.users[name];
  contents.users[name] = { hash: await hashPassword(password), groups: groups ?? existing?.groups ?? [] };
  writeUsersFile(file, contents);
  return existing === undefined;
}

export function removeUser(file: string, name: string): void {
  const contents = readUsersFile(file);
  if (!contents?.users[name]) {
    throw new TaskhostError('TH_CLI_USAGE', `no user ${JSON.stringify(name)} in ${file}`);
  }
  delete contents.users[name];
  writeUsersFile(file, contents);
}
