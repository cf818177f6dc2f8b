import { randomUUID } from 'node:crypto';
import { TaskhostError } from '../errors.ts';
import {
  appendTaskEvents,
  getResolutionOfTask,
  getTask,
  insertNewTask,
  insertNewTasks,
  loadSteps,
  type NewTaskRecord,
  type StepRow,
  type StoredNewTask,
} from '../store/queries/tasks.ts';
import type { Queryable, Store } from '../store/store.ts';
import { renderString } from '../template/render.ts';
import { wakeParent } from './child-tasks.ts';
import { checkInputValues } from './inputs.ts';
import { localDueTaker } from './local-due.ts';
import { newStepRow } from './live-step.ts';
import type { TemplateSnapshot } from './snapshot.ts';
import { ResolutionState, TaskState } from './states.ts';

/** The resolver inputs' defaults, or none when a required one has no default. */
function resolverDefaults(inputs: TemplateSnapshot['template']['resolver_inputs']): Record<string, unknown> {
  try {
    return checkInputValues(inputs, {}, 'resolver_input');
  } catch {
    return {};
  }
}

/** What creating a task needs. */
export interface NewTaskRequest {
  snapshot: TemplateSnapshot;
  input: Record<string, unknown>;
  resolverInput?: Record<string, unknown>;
  requester: string;
  requesterGroups?: string[];
  resolver?: string | null;
  parentTaskId?: string | null;
  /** The `config` root, for the title. */
  config?: Record<string, unknown>;
  tags?: Record<string, string>;
  watcherUsernames?: string[];
  watcherGroups?: string[];
  resolverUsernames?: string[];
  resolverGroups?: string[];
  /** The task's first comment, by its requester (µTask's `comment`). */
  comment?: string;
  /**
   * µTask's `delay`, in milliseconds: the task waits DELAYED, and an `auto_runnable` one is
   * due that long after its creation (TO_AUTORUN_DELAYED at next_retry, which any instance's
   * scheduler claims). Absent: not delayed.
   */
  delayMs?: number | null;
  /** The batch the task belongs to (POST /batch, or an existing one). */
  batchId?: string | null;
}

export interface CreatedTask {
  taskId: string;
  resolutionId: string;
}

/** A task checked and ready to store: its ids, checked inputs and rendered title. */
export interface PreparedTask extends CreatedTask {
  request: NewTaskRequest;
  input: Record<string, unknown>;
  resolverInput: Record<string, unknown>;
  title: string;
}

/**
 * Checks a task before anything is stored: the template must not be blocked, the inputs
 * must pass (TH_TASK_INPUT_INVALID, naming the input under `root`), and the title is
 * rendered from them.
 */
export async function prepareTask(request: NewTaskRequest, root = 'input'): Promise<PreparedTask> {
  const { template } = request.snapshot;
  if (template.blocked) {
    throw new TaskhostError(
      'TH_TASK_INPUT_INVALID',
      `template ${template.name} is blocked: it accepts no new task`,
    );
  }
  let input: Record<string, unknown>;
  let resolverInput: Record<string, unknown>;
  try {
    input = checkInputValues(template.inputs, request.input, root);
    // µTask's resolver gives resolver inputs when the resolution starts (POST /resolution):
    // a task created without them stores their defaults if those suffice, else none yet.
    resolverInput =
      request.resolverInput === undefined
        ? resolverDefaults(template.resolver_inputs)
        : checkInputValues(template.resolver_inputs, request.resolverInput, 'resolver_input');
  } catch (error) {
    throw new TaskhostError('TH_TASK_INPUT_INVALID', (error as Error).message);
  }
  const taskId = randomUUID();
  const title = await renderTitle(request.snapshot, input, {
    taskId,
    requester: request.requester,
    config: request.config,
  });
  return { taskId, resolutionId: randomUUID(), request, input, resolverInput, title };
}

/** A task's title: the template's `title_format` rendered from its inputs, else the template's name. */
export async function renderTitle(
  snapshot: TemplateSnapshot,
  input: Record<string, unknown>,
  task: { taskId: string; requester: string; config?: Record<string, unknown> },
): Promise<string> {
  const { template } = snapshot;
  if (!template.title_format) return template.name;
  try {
    return await renderString(template.title_format, {
      input,
      config: task.config ?? {},
      task: { task_id: task.taskId, requester_username: task.requester },
    });
  } catch (error) {
    throw new TaskhostError('TH_TASK_INPUT_INVALID', `title_format: ${(error as Error).message}`);
  }
}

/**
 * Stores a prepared task (one statement: store/queries/tasks.ts insertNewTask): the task, its
 * resolution (with the template's snapshot), a TODO row per step, its first comment and its
 * first event. Returns its document as stored.
 */
export async function insertPreparedTask(
  db: Queryable,
  prepared: PreparedTask,
  notifyDue = true,
): Promise<TaskDocument> {
  const record = newTaskRecord(prepared, notifyDue);
  return createdDocument(prepared, record, await insertNewTask(db, record));
}

/**
 * Stores prepared tasks at once (one statement: store/queries/tasks.ts insertNewTasks), the
 * schedulers woken once if any is due now. Returns their documents as stored, in order.
 */
export async function insertPreparedTasks(
  db: Queryable,
  prepared: readonly PreparedTask[],
): Promise<TaskDocument[]> {
  const records = prepared.map((task) => newTaskRecord(task, true));
  const stored = await insertNewTasks(db, records);
  return prepared.map((task, i) =>
    createdDocument(task, records[i] as NewTaskRecord, stored[i] as StoredNewTask),
  );
}

/** What a prepared task stores: its task row, resolution, TODO steps, first comment. */
function newTaskRecord(prepared: PreparedTask, notifyDue: boolean): NewTaskRecord {
  const { request, taskId, resolutionId } = prepared;
  const { template } = request.snapshot;
  const delayed = request.delayMs !== undefined && request.delayMs !== null;
  // µTask's delayed autorun: a resolution due at next_retry. A delayed task whose template
  // is not auto_runnable waits TODO for a resolver, as any such task does.
  const autorunDelayed = delayed && template.auto_runnable;
  return {
    task: {
      id: taskId,
      templateName: template.name,
      title: prepared.title,
      state: delayed ? TaskState.DELAYED : TaskState.TODO,
      requester: request.requester,
      requesterGroups: request.requesterGroups,
      input: prepared.input,
      parentTaskId: request.parentTaskId ?? null,
      tags: request.tags,
      watcherUsernames: request.watcherUsernames,
      watcherGroups: request.watcherGroups,
      resolverUsernames: request.resolverUsernames,
      resolverGroups: request.resolverGroups,
      batchId: request.batchId,
    },
    resolution: {
      id: resolutionId,
      taskId,
      state: autorunDelayed ? ResolutionState.TO_AUTORUN_DELAYED : ResolutionState.TODO,
      resolver: request.resolver ?? request.requester,
      resolverInput: prepared.resolverInput,
      template: request.snapshot,
      autoRun: template.auto_runnable,
      runMax: template.retry_max,
      delayMs: autorunDelayed ? request.delayMs : null,
    },
    steps: Object.keys(template.steps).map(newStepRow),
    comment: request.comment ? { id: randomUUID(), content: request.comment } : null,
    // An auto_runnable task starts at once (a delayed one when due), on whichever instance
    // claims it; the caller may hand it to this process's scheduler instead (local-due.ts).
    notifyDue: notifyDue && template.auto_runnable && !delayed,
  };
}

/** A new task's document, from what it stored and what PostgreSQL stamped. */
function createdDocument(prepared: PreparedTask, record: NewTaskRecord, stored: StoredNewTask): TaskDocument {
  const { request } = prepared;
  const created = stored.created.toISOString();
  return {
    id: prepared.taskId,
    template_name: record.task.templateName,
    title: prepared.title,
    state: record.task.state,
    requester: request.requester,
    resolver_usernames: request.resolverUsernames ?? [],
    input: prepared.input,
    result: null,
    created,
    last_activity: created,
    resolution: {
      id: prepared.resolutionId,
      state: record.resolution.state,
      run_count: 0,
      next_retry: stored.nextRetry ? stored.nextRetry.toISOString() : null,
    },
    steps: Object.fromEntries(record.steps.map((step) => [step.name, stepEntry(step)])),
  };
}

/**
 * Creates a task, its resolution (with the template's snapshot) and a TODO row per step, at
 * once. Inputs are checked first: a bad input is refused (TH_TASK_INPUT_INVALID, naming the
 * input) and nothing is stored. Returns the ids and the document as created.
 */
export async function createTask(
  store: Store,
  request: NewTaskRequest,
): Promise<CreatedTask & { document: TaskDocument }> {
  const prepared = await prepareTask(request);
  const dueNow = request.snapshot.template.auto_runnable && (request.delayMs ?? null) === null;
  const local = dueNow ? localDueTaker(store) : undefined;
  const document = await insertPreparedTask(store, prepared, local === undefined);
  local?.wake();
  return { taskId: prepared.taskId, resolutionId: prepared.resolutionId, document };
}

/** A task as SPEC section 7 shows it (the API's and `run --json`'s document). */
export interface TaskDocument {
  id: string;
  template_name: string;
  title: string;
  state: string;
  requester: string;
  resolver_usernames: string[];
  input: Record<string, unknown>;
  result: unknown;
  created: string;
  last_activity: string;
  resolution: { id: string; state: string; run_count: number; next_retry: string | null } | null;
  steps: Record<
    string,
    {
      state: string;
      output: unknown;
      metadata: unknown;
      children: unknown;
      error: string | null;
      try_count: number;
      last_run: string | null;
      /** Where the step last ran: `HOSTNAME/PID` of the instance (null before it ran). */
      instance: string | null;
    }
  >;
}

/** A step as the task document shows it. */
function stepEntry(step: StepRow): TaskDocument['steps'][string] {
  return {
    state: step.state,
    output: step.output ?? null,
    metadata: step.metadata ?? null,
    children: step.children ?? null,
    error: step.error || null,
    try_count: step.try_count,
    last_run: step.last_run,
    instance: step.ran_on,
  };
}

export async function taskDocument(db: Queryable, taskId: string): Promise<TaskDocument | null> {
  const task = await getTask(db, taskId);
  if (!task) return null;
  const resolution = await getResolutionOfTask(db, taskId);
  const steps = resolution ? await loadSteps(db, resolution.id) : [];
  return {
    id: task.id,
    template_name: task.template_name,
    title: task.title,
    state: task.state,
    requester: task.requester_username,
    resolver_usernames: task.resolver_usernames,
    input: task.input,
    result: task.result ?? null,
    created: new Date(task.created_at).toISOString(),
    last_activity: new Date(task.last_activity).toISOString(),
    resolution: resolution
      ? {
          id: resolution.id,
          state: resolution.state,
          run_count: resolution.run_count,
          next_retry: resolution.next_retry ? new Date(resolution.next_retry).toISOString() : null,
        }
      : null,
    steps: Object.fromEntries(steps.map((step) => [step.name, stepEntry(step)])),
  };
}

/**
 * Cancels a task (µTask's POST /resolution/:id/cancel): its resolution and the task end
 * CANCELLED, and a parent waiting on it is woken, in one transaction. A DONE or already
 * cancelled task, and one whose resolution is running right now, are refused.
 */
export async function cancelTask(store: Store, taskId: string): Promise<void> {
  await store.transaction(async (db) => {
    const { rows } = await db.query<{ id: string; state: string; instance_id: string | null }>(
      'SELECT id, state, instance_id FROM resolution WHERE task_id = $1 FOR UPDATE',
      [taskId],
    );
    const resolution = rows[0];
    if (!resolution) throw new TaskhostError('TH_TASK_NOT_FOUND', `no task ${taskId}`);
    if (resolution.state === ResolutionState.DONE || resolution.state === ResolutionState.CANCELLED) {
      throw new TaskhostError(
        'TH_RESOLUTION_STATE',
        `can't cancel task ${taskId}: it is ${resolution.state}`,
      );
    }
    if (resolution.state === ResolutionState.RUNNING && resolution.instance_id !== null) {
      throw new TaskhostError('TH_RESOLUTION_STATE', `can't cancel task ${taskId} while it runs`);
    }
    await db.query(
      "UPDATE resolution SET state = 'CANCELLED', next_retry = NULL, last_stop = now() WHERE id = $1",
      [resolution.id],
    );
    await db.query("UPDATE task SET state = 'CANCELLED', last_activity = now() WHERE id = $1", [taskId]);
    await appendTaskEvents(db, taskId, [{ type: 'task', state: TaskState.CANCELLED }]);
    const task = await getTask(db, taskId);
    if (task) await wakeParent(db, task, TaskState.CANCELLED);
  });
}

/** States a scheduler takes once their next_retry is due (scheduler.ts), besides a crashed run's. */
const DUE_STATES = ['ERROR', 'WAITING', 'TO_AUTORUN_DELAYED', 'RETRY', 'TO_AUTORUN', 'CRASHED', 'RUNNING'];

/**
 * Asks for a resolution to run now (µTask's POST /resolution/:id/run): it becomes due at once
 * and the schedulers are woken; whichever instance claims it runs it. One in a state no
 * scheduler takes (TODO, PAUSED, BLOCKED_*) becomes TO_AUTORUN, so that a paused or blocked
 * task resumes as µTask's run does. A DONE or cancelled resolution, and one running right
 * now, are refused; so is a TODO one still missing a required resolver input (given with
 * POST /resolution).
 */
export async function requestRun(store: Store, resolutionId: string): Promise<void> {
  await store.transaction(async (db) => {
    const { rows } = await db.query<{
      task_id: string;
      state: string;
      instance_id: string | null;
      resolver_input: Record<string, unknown>;
      template: TemplateSnapshot;
    }>(
      'SELECT task_id, state, instance_id, resolver_input, template FROM resolution WHERE id = $1 FOR UPDATE',
      [resolutionId],
    );
    const resolution = rows[0] && {
      ...rows[0],
      resolver_input: db.codec.readJson<Record<string, unknown>>(rows[0].resolver_input),
    };
    if (!resolution) throw new TaskhostError('TH_TASK_NOT_FOUND', `no resolution ${resolutionId}`);
    const refused =
      resolution.state === ResolutionState.DONE ||
      resolution.state === ResolutionState.CANCELLED ||
      (resolution.state === ResolutionState.RUNNING && resolution.instance_id !== null);
    if (refused) {
      throw new TaskhostError(
        'TH_RESOLUTION_STATE',
        `can't run resolution ${resolutionId}: it is ${resolution.state}`,
      );
    }
    if (resolution.state === ResolutionState.TODO) {
      try {
        checkInputValues(
          resolution.template.template.resolver_inputs,
          resolution.resolver_input,
          'resolver_inputs',
        );
      } catch (error) {
        throw new TaskhostError(
          'TH_TASK_INPUT_INVALID',
          `${(error as Error).message}: give it with POST /resolution {"task_id", "resolver_inputs"}`,
        );
      }
    }
    await db.query(`UPDATE resolution SET next_retry = now() WHERE id = $1`, [resolutionId]);
    if (!DUE_STATES.includes(resolution.state)) {
      await db.query(`UPDATE resolution SET state = 'TO_AUTORUN' WHERE id = $1`, [resolutionId]);
      const task = await getTask(db, resolution.task_id);
      await appendTaskEvents(db, resolution.task_id, [
        {
          type: 'task',
          state: task?.state ?? TaskState.TODO,
          data: { resolution_state: ResolutionState.TO_AUTORUN },
        },
      ]);
    }
    await db.query(`SELECT pg_notify('taskhost_due', $1)`, [resolutionId]);
  });
}
