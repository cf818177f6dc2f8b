import fs from 'node:fs';
import path from 'node:path';

export { isAlive } from '../system/processes.ts';

/** The pid a PostgreSQL data directory's postmaster.pid names, if any. */
export function readPostmasterPid(dataDir: string): number | null {
  try {
    const first = fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0] ?? '';
    const pid = Number.parseInt(first, 10);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}
