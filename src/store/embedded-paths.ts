import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TaskhostError } from '../errors.ts';

/**
 * Where an embedded cluster lives and whether that place is safe: its data directory, the
 * directory of its Unix socket (checked for owner and mode, since its name can be
 * predicted), its log and its lifecycle lock, and the platforms it runs on.
 */

/** The port in the socket's name (`.s.PGSQL.5432`): nothing listens on TCP. */
export const PORT = 5432;
const SOCKET_ADDRESS_LIMIT = 107;

export interface EmbeddedPaths {
  root: string;
  dataDir: string;
  socketDir: string;
  logFile: string;
  lockName: string;
}

/**
 * Where a socket goes when the project's own path is too long for a socket address: the
 * user's runtime directory ($XDG_RUNTIME_DIR, private to the user by design) when there is
 * one the postmaster can use, else the temp directory. The name is predictable there, so
 * the directory is checked before use (checkPrivateDirectory).
 */
function shortSocketParent(): string {
  const runtime = process.env.XDG_RUNTIME_DIR;
  // As root the postmaster runs as another user, who cannot enter root's runtime directory.
  if (runtime && path.isAbsolute(runtime) && process.getuid?.() !== 0 && fs.existsSync(runtime)) {
    return runtime;
  }
  return os.tmpdir();
}

/**
 * Refuses a socket directory that someone else could control: one not owned by this user
 * (or by the postmaster's user, when running as root), a symbolic link, or one others can
 * write to. Another local user could otherwise create it first and stand a fake server in it.
 */
export function checkPrivateDirectory(dir: string, owners: readonly number[]): void {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(dir);
  } catch {
    return; // not there yet: we create it 0700
  }
  const problem = stat.isSymbolicLink()
    ? 'is a symbolic link'
    : !stat.isDirectory()
      ? 'is not a directory'
      : !owners.includes(stat.uid)
        ? `belongs to uid ${stat.uid}, not to this user`
        : (stat.mode & 0o022) !== 0
          ? `can be written by others (mode ${(stat.mode & 0o777).toString(8)})`
          : null;
  if (problem) {
    throw new TaskhostError(
      'TH_STORE_UNAVAILABLE',
      `refusing the embedded PostgreSQL socket directory ${dir}: it ${problem}; remove it, or set DATABASE_URL`,
    );
  }
}

/**
 * Why the embedded store cannot run on `platform`, or null when it can. Its lifecycle lock
 * is a Linux abstract socket and its process checks read /proc: on other systems, say so
 * and point to DATABASE_URL rather than fail in some stranger way later.
 */
export function embeddedPlatformProblem(platform: string = os.platform()): string | null {
  if (platform === 'linux') return null;
  return `the embedded PostgreSQL runs on Linux only (this is ${platform}); set DATABASE_URL to a PostgreSQL 13 or newer`;
}

export function embeddedPaths(root: string): EmbeddedPaths {
  const absolute = path.resolve(root);
  const dataDir = path.join(absolute, 'pg');
  const digest = createHash('sha256').update(dataDir).digest('hex').slice(0, 16);
  let socketDir = path.join(absolute, 'run');
  if (Buffer.byteLength(path.join(socketDir, `.s.PGSQL.${PORT}.lock`)) > SOCKET_ADDRESS_LIMIT) {
    socketDir = path.join(shortSocketParent(), `taskhost-${digest}`);
  }
  return {
    root: absolute,
    dataDir,
    socketDir,
    logFile: path.join(absolute, 'pg.log'),
    lockName: `\0taskhost-lifecycle-${digest}`,
  };
}
