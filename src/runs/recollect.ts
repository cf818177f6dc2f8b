import os from 'node:os';
import { deleteInstances, instancesOnHost } from '../store/queries/instances.ts';
import { failLiveRuns, lockLiveRunsOf } from '../store/queries/runs.ts';
import type { Store } from '../store/store.ts';
import {
  groupsByEnvironment,
  isSameGroup,
  isSameProcessAlive,
  killGroupUntilGone,
} from '../system/processes.ts';

/** The error of a run whose owner died under it. */
export const OWNER_DIED = 'taskhost process died';

export interface Recollected {
  /** Dead owners found on this host (their rows are removed). */
  owners: number;
  /** Runs marked SERVER_ERROR. */
  runs: number;
  /** Plugin process groups found alive and killed. */
  groups: number;
}

/**
 * Re-collection of what a dead taskhost process left on this host, run at the start of
 * every command (and, later, by the server's collectors). A process that was SIGKILLed,
 * or whose machine lost power, ran plugins it can no longer supervise or time out, and
 * left their runs RUNNING for good. For each owner recorded on this host whose process is
 * gone (checked by pid and start time, so a reused pid is never mistaken for it):
 * - each plugin group of its unfinished runs that still exists, and is the same group
 *   (its leader's start time matches, or the leader is gone but members remain), is
 *   SIGKILLed until it is gone; a run whose group was never recorded (the owner died just
 *   after the spawn) has its processes found by TASKHOST_RUN_ID in their environment;
 * - those runs end as SERVER_ERROR "taskhost process died", with a final event so that
 *   every stream following them closes;
 * - the owner's row is removed.
 * Rows are locked (SKIP LOCKED), so processes starting together never do this twice.
 * Owners on other hosts are the server's heartbeat collector's business, not this one's.
 */
export async function recollectLocalRuns(store: Store, selfId: string | null = null): Promise<Recollected> {
  const found = await instancesOnHost(store, os.hostname(), selfId);
  const dead = found.filter((owner) => !isSameProcessAlive(owner.pid, owner.process_start));
  if (dead.length === 0) return { owners: 0, runs: 0, groups: 0 };
  const ids = dead.map((owner) => owner.id);
  return store.transaction(async (db) => {
    const runs = await lockLiveRunsOf(db, ids);
    const killed: string[] = [];
    const rest: string[] = [];
    // A run whose group was not recorded yet (its owner died right after the spawn) is
    // found by the run id in its processes' environment.
    const unrecorded = new Set(runs.filter((run) => run.pgid === null).map((run) => run.id));
    const byEnvironment = groupsByEnvironment('TASKHOST_RUN_ID', unrecorded);
    for (const run of runs) {
      const groups = new Set(byEnvironment.get(run.id) ?? []);
      if (run.pgid !== null && isSameGroup(run.pgid, run.pgid_start)) groups.add(run.pgid);
      for (const group of groups) await killGroupUntilGone(group, 10, 5000);
      (groups.size > 0 ? killed : rest).push(run.id);
    }
    const ended = [
      ...(await failLiveRuns(db, killed, {
        error: `${OWNER_DIED}; its plugin was still running, unsupervised, and has been killed`,
        killReason: 'owner-died',
      })),
      ...(await failLiveRuns(db, rest, { error: OWNER_DIED, killReason: 'owner-died' })),
    ];
    await deleteInstances(db, ids);
    return { owners: dead.length, runs: ended.length, groups: killed.length };
  });
}
