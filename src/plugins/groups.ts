import { signalGroup } from '../system/processes.ts';

/**
 * The process groups of the plugins this process runs, so that a shutdown (a second
 * Ctrl-C, a fatal error, `process.exit`) can kill them all at once: no plugin outlives its
 * supervisor on a clean or hurried exit. A SIGKILL of the supervisor itself is covered by
 * the next start (runs/recollect.ts), from what the run rows record.
 */
const liveGroups = new Set<number>();
let exitHookInstalled = false;

/** SIGKILLs every plugin group this process still runs (synchronous: safe in an exit hook). */
export function killAllPluginGroups(): number {
  for (const pgid of liveGroups) signalGroup(pgid, 'SIGKILL');
  return liveGroups.size;
}

/** A plugin group starts: killed by killAllPluginGroups() and on process exit until untracked. */
export function trackGroup(pgid: number): void {
  liveGroups.add(pgid);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', killAllPluginGroups);
  }
}

/** A plugin group is gone (or no longer ours to kill). */
export function untrackGroup(pgid: number): void {
  liveGroups.delete(pgid);
}
