import os from 'node:os';
import { deleteInstances, instancesOnHost } from '../store/queries/instances.ts';
import { failLiveRuns, lockLiveRunsOf } from '../store/queries/runs.ts';
import type { Queryable, Store } from '../store/store.ts';
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
 * every command and at every pass of a server's scheduler. A process that was SIGKILLed,
 * or whose machine lost power, ran plugins it can no longer supervise or time out, and
 * left their runs RUNNING for good. For each owner recorded on this host whose process is
 * gone (checked by pid and start time, so a reused pid is never mistaken for it):
 * - the plugin groups of its unfinished runs are killed, and those runs end as
 *   SERVER_ERROR "taskhost process died" (endRunsOf);
 * - the owner's row is removed.
 * Rows are locked (SKIP LOCKED), so processes starting together never do this twice.
 * Owners on other hosts are the heartbeat collector's business (recollectSilentInstances).
 */
export async function recollectLocalRuns(store: Store, selfId: string | null = null): Promise<Recollected> {
  const found = await instancesOnHost(store, os.hostname(), selfId);
  const dead = found.filter((owner) => !isSameProcessAlive(owner.pid, owner.process_start));
  if (dead.length === 0) return { owners: 0, runs: 0, groups: 0 };
  const ids = dead.map((owner) => owner.id);
  return store.transaction(async (db) => {
    const ended = await endRunsOf(db, ids, ids, OWNER_DIED);
    await deleteInstances(db, ids);
    return { owners: dead.length, ...ended };
  });
}

/** The error of a run whose owner, a server, stopped heartbeating. */
export const OWNER_SILENT = 'its taskhost instance stopped heartbeating';

/**
 * Re-collection of server instances whose heartbeat is older than `deathTimeoutMs`, on any
 * host (the scale-out collector). Such an instance may be dead on another machine, or alive
 * but hung (stopped, swapping, cut off from PostgreSQL): its pid cannot tell. Its unfinished
 * runs end as SERVER_ERROR and its row is removed, which clears the owner of its
 * resolutions, so a live instance takes them over as crashed.
 *
 * Its plugins must not survive it: one of an idempotent step would otherwise run on while
 * the new owner runs the step again (two attempts at once), one of any step would do its
 * side effect after the task was handed to a person. On this host its plugin groups are
 * killed as recollectLocalRuns does; on another host they cannot be reached from here, and
 * the instance, should it come back, finds it has lost its resolutions at its next write
 * (engine/resolver.ts) and stops their steps. The caller (`selfId`) is never taken for dead
 * by itself: a beat it missed (PostgreSQL away) says nothing of its own life.
 */
export async function recollectSilentInstances(
  store: Store,
  deathTimeoutMs: number,
  selfId: string | null = null,
): Promise<Recollected> {
  return store.transaction(async (db) => {
    const { rows } = await db.query<{ id: string; hostname: string }>(
      `SELECT id, hostname FROM instance WHERE kind = 'server' AND heartbeat_at < now() - make_interval(secs => $1)
          AND ($2::uuid IS NULL OR id <> $2::uuid)
        FOR UPDATE SKIP LOCKED`,
      [deathTimeoutMs / 1000, selfId],
    );
    if (rows.length === 0) return { owners: 0, runs: 0, groups: 0 };
    const ids = rows.map((row) => row.id);
    const here = rows.filter((row) => row.hostname === os.hostname()).map((row) => row.id);
    const ended = await endRunsOf(db, ids, here, OWNER_SILENT);
    await deleteInstances(db, ids);
    return { owners: rows.length, ...ended };
  });
}

/**
 * Ends the unfinished runs of `ownerIds` as SERVER_ERROR `error`, with a final event so that
 * every stream following them closes. The plugin groups of the runs of `localOwnerIds`
 * (owners of this host) that still exist, and are the same groups (their leader's start
 * time matches, or the leader is gone but members remain), are SIGKILLed until gone first;
 * a run whose group was never recorded (its owner stopped just after the spawn) has its
 * processes found by TASKHOST_RUN_ID in their environment.
 */
async function endRunsOf(
  db: Queryable,
  ownerIds: readonly string[],
  localOwnerIds: readonly string[],
  error: string,
): Promise<{ runs: number; groups: number }> {
  const runs = await lockLiveRunsOf(db, ownerIds);
  const local = new Set(localOwnerIds);
  const killed: string[] = [];
  const rest: string[] = [];
  const unrecorded = new Set(
    runs.filter((run) => run.pgid === null && local.has(run.instance_id)).map((run) => run.id),
  );
  const byEnvironment = groupsByEnvironment('TASKHOST_RUN_ID', unrecorded);
  for (const run of runs) {
    const groups = new Set(byEnvironment.get(run.id) ?? []);
    if (local.has(run.instance_id) && run.pgid !== null && isSameGroup(run.pgid, run.pgid_start)) {
      groups.add(run.pgid);
    }
    for (const group of groups) await killGroupUntilGone(group, 10, 5000);
    (groups.size > 0 ? killed : rest).push(run.id);
  }
  const ended = [
    ...(await failLiveRuns(db, killed, {
      error: `${error}; its plugin was still running, unsupervised, and has been killed`,
      killReason: 'owner-died',
    })),
    ...(await failLiveRuns(db, rest, { error, killReason: 'owner-died' })),
  ];
  return { runs: ended.length, groups: killed.length };
}
