import { randomUUID } from 'node:crypto';
import { TaskhostError } from '../errors.ts';
import {
  appendTaskEvents,
  getTask,
  resolutionFromRow,
  saveSteps,
  type NewTaskEvent,
  type ResolutionRow,
  type TaskRow,
} from '../store/queries/tasks.ts';
import type { Queryable, Store } from '../store/store.ts';
import { PARENT_STEP_TAG } from './child-tasks.ts';
import { checkInputValues } from './inputs.ts';
import { newStepRow } from './live-step.ts';
import { snapshotOfRow } from './resolution-document.ts';
import { ResolutionState, TaskState } from './states.ts';

/**
 * µTask's resolution routes that change a resolution's state (api/handler/resolution.go):
 * create (here: start, as the resolution exists from the task's creation), pause, extend.
 * Each is one transaction that locks the resolution row first (the order every writer
 * takes: the scheduler's claim, cancel, the step edits), appends the task events that tell
 * live task streams, and leaves µTask's comment on the task.
 */

/** States from which µTask starts a task over (CreateResolution with start_over). */
const START_OVER_STATES: ReadonlySet<string> = new Set([
  ResolutionState.PAUSED,
  ResolutionState.BLOCKED_BADREQUEST,
  ResolutionState.CANCELLED,
]);

/** The resolution and its task, the resolution's row locked for the transaction; 404 when none. */
export async function lockResolutionForEdit(
  db: Queryable,
  where: { id: string } | { taskId: string },
): Promise<{ row: ResolutionRow; task: TaskRow }> {
  const { rows } = await db.query<ResolutionRow>(
    `SELECT * FROM resolution WHERE ${'id' in where ? 'id' : 'task_id'} = $1 FOR UPDATE`,
    ['id' in where ? where.id : where.taskId],
  );
  const row = rows[0] && resolutionFromRow(db.codec, rows[0]);
  const task = row ? await getTask(db, row.task_id) : null;
  if (!row || !task) {
    throw new TaskhostError(
      'TH_TASK_NOT_FOUND',
      'id' in where ? `no resolution ${where.id}` : `no task ${where.taskId}`,
    );
  }
  return { row, task };
}

/** Whether an instance runs the resolution right now (claimed, not yet settled). */
export function isRunningNow(row: ResolutionRow): boolean {
  return row.state === ResolutionState.RUNNING && row.instance_id !== null;
}

/** µTask's trail of manual actions: a comment on the task, by who did it. */
export async function addComment(
  db: Queryable,
  taskId: string,
  username: string,
  content: string,
): Promise<void> {
  await db.query('INSERT INTO comment (id, task_id, username, content) VALUES ($1, $2, $3, $4)', [
    randomUUID(),
    taskId,
    username,
    db.codec.text(content),
  ]);
}

/** A task event telling the resolution's new state (the task's own state unchanged or new). */
function resolutionEvent(taskState: string, resolutionState: string): NewTaskEvent {
  return { type: 'task', state: taskState, data: { resolution_state: resolutionState } };
}

async function notifyDue(db: Queryable, resolutionId: string): Promise<void> {
  await db.query(`SELECT pg_notify('taskhost_due', $1)`, [resolutionId]);
}

export interface StartRequest {
  taskId: string;
  /** Checked against the template's resolver_inputs; the stored ones when absent. */
  resolverInputs?: Record<string, unknown>;
  startOver: boolean;
  /** Who resolves: the caller. */
  resolver: string;
}

/**
 * µTask's `POST /resolution`: a task's resolution is given its resolver and resolver inputs
 * and made due now (TODO → TO_AUTORUN); whichever instance claims it runs it.
 *
 * µTask creates the resolution there; here it exists from the task's creation, so
 * "creating" one that already ran is refused (409) unless the task is started over:
 * `start_over: true`, a template with `allow_task_start_over`, and a resolution PAUSED,
 * BLOCKED_BADREQUEST or CANCELLED (µTask's states; pause it first otherwise). Starting over
 * makes it a fresh resolution (µTask deletes the old one and creates another): every step
 * TODO again with no output, foreach children gone, run_count 0, run_max the template's,
 * the task TODO. The id stays (the runs of the earlier tries keep pointing at it), and so
 * do the resolver inputs unless new ones are given. Returns the resolution's id.
 */
export async function startResolution(store: Store, request: StartRequest): Promise<string> {
  return store.transaction(async (db) => {
    const { row, task } = await lockResolutionForEdit(db, { taskId: request.taskId });
    const { template } = snapshotOfRow(row);
    if (task.state === TaskState.WONTFIX) {
      throw new TaskhostError('TH_RESOLUTION_STATE', `task ${task.id} is ${TaskState.WONTFIX}`);
    }
    const fresh = row.state === ResolutionState.TODO && row.run_count === 0;
    if (!fresh) {
      const what = `the resolution of task ${task.id} is ${row.state} after ${row.run_count} run(s)`;
      if (!request.startOver) {
        throw new TaskhostError('TH_RESOLUTION_STATE', `${what}: start it over with start_over: true`);
      }
      if (!template.allow_task_start_over) {
        throw new TaskhostError(
          'TH_RESOLUTION_STATE',
          `${what}, and template ${template.name} does not allow starting its tasks over (allow_task_start_over)`,
        );
      }
      if (!START_OVER_STATES.has(row.state)) {
        throw new TaskhostError(
          'TH_RESOLUTION_STATE',
          `${what}: only a PAUSED, BLOCKED_BADREQUEST or CANCELLED one starts over (pause it first)`,
        );
      }
    }
    let resolverInputs: Record<string, unknown>;
    try {
      resolverInputs = checkInputValues(
        template.resolver_inputs,
        request.resolverInputs ?? row.resolver_input,
        'resolver_inputs',
      );
    } catch (error) {
      throw new TaskhostError('TH_TASK_INPUT_INVALID', (error as Error).message);
    }
    await db.query(
      `UPDATE resolution SET state = 'TO_AUTORUN', next_retry = now(), resolver_username = $2, resolver_input = $3
        WHERE id = $1`,
      [row.id, request.resolver, db.codec.json(resolverInputs)],
    );
    // µTask adds whoever resolves to the task's resolvers, so the task lists as theirs to resolve.
    await db.query(
      `UPDATE task SET resolver_usernames = array_append(resolver_usernames, $2)
        WHERE id = $1 AND NOT ($2 = ANY(resolver_usernames))`,
      [task.id, request.resolver],
    );
    const events: NewTaskEvent[] = [];
    let taskState = task.state;
    if (!fresh) {
      events.push(...(await resetSteps(db, row)));
      await db.query(
        `UPDATE resolution SET run_count = 0, run_max = $2, last_start = NULL, last_stop = NULL, instance_id = NULL
          WHERE id = $1`,
        [row.id, template.retry_max],
      );
      await db.query(`UPDATE task SET state = 'TODO', result = NULL WHERE id = $1`, [task.id]);
      taskState = TaskState.TODO;
      await addComment(db, task.id, request.resolver, 'started the task over');
    }
    events.push(resolutionEvent(taskState, ResolutionState.TO_AUTORUN));
    await appendTaskEvents(db, task.id, events);
    await notifyDue(db, row.id);
    return row.id;
  });
}

/**
 * A resolution's steps as a fresh one has them: one TODO row per template step, foreach
 * children gone, subtasks detached. Each step keeps its count of executions, so that the
 * attempts of its next runs follow those already recorded ((resolution, step, attempt) is
 * unique). Returns the step events of those whose state changes.
 */
async function resetSteps(db: Queryable, row: ResolutionRow): Promise<NewTaskEvent[]> {
  const { template } = snapshotOfRow(row);
  const { rows: before } = await db.query<{ name: string; state: string; executions: number }>(
    'SELECT name, state, executions FROM resolution_step WHERE resolution_id = $1 AND parent IS NULL',
    [row.id],
  );
  const executions = new Map(before.map((step) => [step.name, step.executions]));
  await db.query('DELETE FROM resolution_step WHERE resolution_id = $1', [row.id]);
  const names = Object.keys(template.steps);
  await saveSteps(
    db,
    row.id,
    names.map((name) => ({ ...newStepRow(name), executions: executions.get(name) ?? 0 })),
  );
  // The tasks its subtask and batch steps made belong to the earlier tries: they stay the
  // task's children but leave their steps, so that the steps make new ones, as they would
  // in µTask's new resolution.
  await db.query(`UPDATE task SET tags = tags - $2::text WHERE parent_task_id = $1 AND tags ? $2::text`, [
    row.task_id,
    PARENT_STEP_TAG,
  ]);
  const stateBefore = new Map(before.map((step) => [step.name, step.state]));
  return names
    .filter((name) => stateBefore.get(name) !== 'TODO')
    .map((name): NewTaskEvent => ({ type: 'step', step: name, state: 'TODO' }));
}

/**
 * µTask's `POST /resolution/:id/pause`: the resolution goes PAUSED, where no scheduler
 * takes it, so that it can be edited safely; `POST /resolution/:id/run` resumes it. Refused
 * once DONE or CANCELLED, and while RUNNING, unless forced (an admin's way out of a
 * resolution left RUNNING by a run that will never end: its owner is cleared; a run that
 * does end still records its own end).
 */
export async function pauseResolution(
  store: Store,
  id: string,
  options: { force: boolean; by: string },
): Promise<void> {
  await store.transaction(async (db) => {
    const { row, task } = await lockResolutionForEdit(db, { id });
    const refused: readonly string[] = [
      ResolutionState.DONE,
      ResolutionState.CANCELLED,
      ResolutionState.RUNNING,
    ];
    if (!options.force && refused.includes(row.state)) {
      throw new TaskhostError(
        'TH_RESOLUTION_STATE',
        `can't pause resolution ${id} while it is ${row.state}${row.state === ResolutionState.RUNNING ? ' (?force=true to force it)' : ''}`,
      );
    }
    await db.query(
      `UPDATE resolution SET state = 'PAUSED', next_retry = NULL,
              instance_id = CASE WHEN $2::boolean THEN NULL ELSE instance_id END
        WHERE id = $1`,
      [id, options.force],
    );
    await appendTaskEvents(db, task.id, [resolutionEvent(task.state, ResolutionState.PAUSED)]);
    await addComment(db, task.id, options.by, 'manually paused resolution');
  });
}

/**
 * µTask's `POST /resolution/:id/extend`: a resolution BLOCKED_MAXRETRIES gets as many runs
 * again as its template allows (run_max += retry_max) and goes back to ERROR, due now, for
 * whichever instance claims it. Any other state is refused.
 */
export async function extendResolution(store: Store, id: string, options: { by: string }): Promise<void> {
  await store.transaction(async (db) => {
    const { row, task } = await lockResolutionForEdit(db, { id });
    if (row.state !== ResolutionState.BLOCKED_MAXRETRIES) {
      throw new TaskhostError(
        'TH_RESOLUTION_STATE',
        `can't extend resolution ${id}: it is ${row.state}, not ${ResolutionState.BLOCKED_MAXRETRIES}`,
      );
    }
    const { template } = snapshotOfRow(row);
    await db.query(
      `UPDATE resolution SET run_max = run_max + $2, state = 'ERROR', next_retry = now() WHERE id = $1`,
      [id, template.retry_max],
    );
    await appendTaskEvents(db, task.id, [resolutionEvent(task.state, ResolutionState.ERROR)]);
    await addComment(db, task.id, options.by, 'manually extended resolution');
    await notifyDue(db, id);
  });
}
