import { randomUUID } from 'node:crypto';
import { TaskhostError } from '../errors.ts';
import { insertComment } from '../store/queries/comments.ts';
import {
  appendTaskEvents,
  resolutionFromRow,
  taskFromRow,
  type ResolutionRow,
  type TaskRow,
} from '../store/queries/tasks.ts';
import type { Queryable, Store } from '../store/store.ts';
import { PARENT_TASK_TAG, wakeParent } from './child-tasks.ts';
import { checkInputValues } from './inputs.ts';
import type { TemplateSnapshot } from './snapshot.ts';
import { ResolutionState, TaskState } from './states.ts';
import { renderTitle } from './tasks.ts';

/**
 * µTask's task edits: update (PUT /task/:id), wontfix and delete. Each locks the task, then
 * its resolution (the order in which a resolution run settles them), checks the state
 * under those locks and writes in the same transaction, so no edit slips in while a
 * scheduler claims the resolution.
 */

/** Checks the caller's right on the locked task (throws TH_AUTH_FORBIDDEN); nothing by default. */
export type TaskAuthorizer = (task: TaskRow, resolution: ResolutionRow) => void;

/**
 * Tags the engine sets and finds children by (a subtask's parent and step, a batch step's
 * batch): `_utask_parent_task_id` as in µTask, and every `_taskhost_` one. A request may
 * not set them, and an update must give them back as they are (µTask's read-only tag).
 */
export function isReservedTag(key: string): boolean {
  return key === PARENT_TASK_TAG || key.startsWith('_taskhost_');
}

/** The first reserved tag of a new task's tags, to refuse. */
export function reservedTagOf(tags: Record<string, string> | undefined): string | undefined {
  return Object.keys(tags ?? {}).find(isReservedTag);
}

async function lockTask(
  db: Queryable,
  taskId: string,
): Promise<{ task: TaskRow; resolution: ResolutionRow }> {
  const { rows } = await db.query<TaskRow>('SELECT * FROM task WHERE id = $1 FOR UPDATE', [taskId]);
  const task = rows[0] && taskFromRow(db.codec, rows[0]);
  if (!task) throw new TaskhostError('TH_TASK_NOT_FOUND', `no task ${taskId}`);
  const found = await db.query<ResolutionRow>('SELECT * FROM resolution WHERE task_id = $1 FOR UPDATE', [
    taskId,
  ]);
  const resolution = found.rows[0] && resolutionFromRow(db.codec, found.rows[0]);
  if (!resolution) throw new TaskhostError('TH_TASK_NOT_FOUND', `task ${taskId} has no resolution`);
  return { task, resolution };
}

/**
 * A task's resolution states that take an edit: not started yet (TODO; TO_AUTORUN_DELAYED,
 * a delayed task waiting for its time), where µTask has no resolution yet, or PAUSED, as
 * µTask requires of one that exists.
 */
const EDITABLE: ReadonlySet<string> = new Set([
  ResolutionState.TODO,
  ResolutionState.TO_AUTORUN_DELAYED,
  ResolutionState.PAUSED,
]);

/** What PUT /task/:id gives: µTask's UpdateTask replaces all of these. */
export interface TaskEdit {
  input: Record<string, unknown>;
  watcherUsernames: string[];
  watcherGroups: string[];
  tags: Record<string, string>;
  /** Who edits: the author of the "manually edited task" comment. */
  editor: string;
  /** The `config` root, for the title. */
  config?: Record<string, unknown>;
  authorize?: TaskAuthorizer;
}

/**
 * Updates a task's input, watchers and tags (µTask's UpdateTask): the input is checked
 * against the template the task was created with and the title rendered again; reserved
 * tags must be given back unchanged. Refused (TH_TASK_STATE) unless the resolution has not
 * started or is paused. Leaves a "manually edited task" comment, as µTask does.
 */
export async function editTask(store: Store, taskId: string, edit: TaskEdit): Promise<void> {
  await store.transaction(async (db) => {
    const { task, resolution } = await lockTask(db, taskId);
    edit.authorize?.(task, resolution);
    if (!EDITABLE.has(resolution.state)) {
      throw new TaskhostError(
        'TH_TASK_STATE',
        `can't update task ${taskId}: its resolution is ${resolution.state} (a task is updated before it starts, or while it is PAUSED)`,
      );
    }
    for (const key of new Set([...Object.keys(task.tags), ...Object.keys(edit.tags)])) {
      if (isReservedTag(key) && task.tags[key] !== edit.tags[key]) {
        throw new TaskhostError('TH_REQUEST_INVALID', `body/tags/${key}: read-only; give it back unchanged`);
      }
    }
    const snapshot = resolution.template as unknown as TemplateSnapshot;
    let input: Record<string, unknown>;
    try {
      input = checkInputValues(snapshot.template.inputs, edit.input);
    } catch (error) {
      throw new TaskhostError('TH_TASK_INPUT_INVALID', (error as Error).message);
    }
    const title = await renderTitle(snapshot, input, {
      taskId,
      requester: task.requester_username,
      config: edit.config,
    });
    await db.query(
      `UPDATE task SET input = $2, title = $3, watcher_usernames = $4, watcher_groups = $5, tags = $6,
              last_activity = now()
        WHERE id = $1`,
      [
        taskId,
        db.codec.json(input),
        db.codec.text(title),
        edit.watcherUsernames,
        edit.watcherGroups,
        JSON.stringify(edit.tags),
      ],
    );
    await insertComment(db, {
      id: randomUUID(),
      taskId,
      username: edit.editor,
      content: 'manually edited task',
    });
  });
}

/**
 * Sets a task WONTFIX (µTask's WontfixTask): only a TODO task whose resolution is not
 * running. Its resolution is cancelled so that no scheduler ever runs it, a "changed task
 * state to WONTFIX" comment is left, and a parent waiting on it is woken, all in one
 * transaction.
 */
export async function wontfixTask(
  store: Store,
  taskId: string,
  by: { username: string; authorize?: TaskAuthorizer },
): Promise<void> {
  await store.transaction(async (db) => {
    const { task, resolution } = await lockTask(db, taskId);
    by.authorize?.(task, resolution);
    if (task.state !== TaskState.TODO) {
      throw new TaskhostError(
        'TH_TASK_STATE',
        `can't set task ${taskId} to ${TaskState.WONTFIX}: it is ${task.state}`,
      );
    }
    if (resolution.state === ResolutionState.RUNNING || resolution.state === ResolutionState.AUTORUNNING) {
      throw new TaskhostError(
        'TH_TASK_STATE',
        `can't set task ${taskId} to ${TaskState.WONTFIX}: its resolution is running`,
      );
    }
    await db.query(
      "UPDATE resolution SET state = 'CANCELLED', next_retry = NULL, last_stop = now() WHERE id = $1",
      [resolution.id],
    );
    await db.query("UPDATE task SET state = 'WONTFIX', last_activity = now() WHERE id = $1", [taskId]);
    await appendTaskEvents(db, taskId, [{ type: 'task', state: TaskState.WONTFIX }]);
    await insertComment(db, {
      id: randomUUID(),
      taskId,
      username: by.username,
      content: `changed task state to ${TaskState.WONTFIX}`,
    });
    await wakeParent(db, task, TaskState.WONTFIX);
  });
}

/**
 * Deletes a task with its resolution, steps, runs, comments and events (µTask's
 * DeleteTask): refused while it is RUNNING or BLOCKED, as µTask refuses, or while an
 * instance holds its resolution.
 */
export async function deleteTask(store: Store, taskId: string, authorize?: TaskAuthorizer): Promise<void> {
  await store.transaction(async (db) => {
    const { task, resolution } = await lockTask(db, taskId);
    authorize?.(task, resolution);
    if (task.state === TaskState.RUNNING || task.state === TaskState.BLOCKED) {
      throw new TaskhostError('TH_TASK_STATE', `can't delete task ${taskId} while it is ${task.state}`);
    }
    if (resolution.state === ResolutionState.RUNNING && resolution.instance_id !== null) {
      throw new TaskhostError('TH_TASK_STATE', `can't delete task ${taskId} while it runs`);
    }
    // Events have no foreign key (a stream is a run's or a task's): they go by hand.
    await db.query(
      'DELETE FROM event WHERE stream_id = $1 OR stream_id IN (SELECT id FROM run WHERE task_id = $1)',
      [taskId],
    );
    await db.query('DELETE FROM task WHERE id = $1', [taskId]);
  });
}
