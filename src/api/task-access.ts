import { TaskhostError } from '../errors.ts';
import { getRun, type RunRow } from '../store/queries/runs.ts';
import {
  getResolution,
  getResolutionOfTask,
  getTask,
  type ResolutionRow,
  type TaskRow,
} from '../store/queries/tasks.ts';
import type { Queryable } from '../store/store.ts';
import type { Caller } from './identity.ts';
import { canResolve, canSeeTask, requireRight, templateOf } from './task-rights.ts';
import type { TemplateCatalog } from './template-catalog.ts';

/**
 * The rights of task-rights.ts applied to stored tasks: loads what the rules read (the
 * task, its resolution, its template as served now) and refuses with 403 before a route
 * does anything, so a refusal never depends on the state the task is in.
 */

/** What a right is asked on: the right to see the document, or to act on its resolution. */
export type TaskRight = 'see' | 'resolve';

const RULES = { see: canSeeTask, resolve: canResolve } as const;

function check(
  catalog: TemplateCatalog,
  caller: Caller,
  task: TaskRow,
  resolution: ResolutionRow | null,
  right: TaskRight,
  refusal: string,
): void {
  if (caller.admin) return;
  requireRight(RULES[right](caller, task, templateOf(catalog, task), resolution), refusal);
}

/** The task `id` once the caller has `right` on it; TH_TASK_NOT_FOUND, TH_AUTH_FORBIDDEN. */
export async function taskWithRight(
  db: Queryable,
  catalog: TemplateCatalog,
  caller: Caller,
  id: string,
  right: TaskRight,
  refusal: string,
): Promise<TaskRow> {
  const task = await getTask(db, id);
  if (!task) throw new TaskhostError('TH_TASK_NOT_FOUND', `no task ${id}`);
  if (!caller.admin) check(catalog, caller, task, await getResolutionOfTask(db, id), right, refusal);
  return task;
}

/** The resolution `id` once the caller has `right` on its task; TH_TASK_NOT_FOUND, TH_AUTH_FORBIDDEN. */
export async function resolutionWithRight(
  db: Queryable,
  catalog: TemplateCatalog,
  caller: Caller,
  id: string,
  right: TaskRight,
  refusal: string,
): Promise<ResolutionRow> {
  const resolution = await getResolution(db, id);
  const task = resolution ? await getTask(db, resolution.task_id) : null;
  if (!resolution || !task) throw new TaskhostError('TH_TASK_NOT_FOUND', `no resolution ${id}`);
  check(catalog, caller, task, resolution, right, refusal);
  return resolution;
}

/** Refuses anyone but an admin. */
export function requireAdmin(caller: Caller, refusal: string): void {
  requireRight(caller.admin, refusal);
}

/**
 * The run `id` once the caller may see it (GET /run/:id and its stream): a step's run goes
 * with its task's document; a plugin run started through the API or the CLI belongs to
 * whoever started it, and to admins.
 */
export async function runWithRight(
  db: Queryable,
  catalog: TemplateCatalog,
  caller: Caller,
  id: string,
): Promise<RunRow> {
  const run = await getRun(db, id);
  if (!run) throw new TaskhostError('TH_RUN_NOT_FOUND', `no run ${id}`);
  if (caller.admin) return run;
  if (run.task_id !== null) {
    await taskWithRight(db, catalog, caller, run.task_id, 'see', `can't display run ${id}`);
  } else {
    requireRight(
      run.requester === caller.username,
      `can't display run ${id}: it was started by someone else`,
    );
  }
  return run;
}
