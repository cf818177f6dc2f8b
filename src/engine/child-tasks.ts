import { isRecord } from '../template/data.ts';
import { randomUUID } from 'node:crypto';
import { getTask, type TaskRow } from '../store/queries/tasks.ts';
import type { Queryable, Store } from '../store/store.ts';
import { ActionError, type ActionContext, type ActionResult, type ActionRunner } from './actions/types.ts';
import type { TemplateSnapshot } from './snapshot.ts';
import { TaskState } from './states.ts';
import { createTask } from './tasks.ts';

/**
 * The builtins that create tasks: `subtask` (one task from a template, waited for) and
 * `batch` (many, waited for together), as µTask's subtask and batch plugins.
 *
 * A step's children are found again by their tags (parent task and step), so a step run
 * again after a crash or a retry looks at the tasks it already made instead of making new
 * ones. When this process runs children itself (`taskhost run`), the step runs them to
 * their end at once; otherwise (a server) the step waits, and the child's end wakes the
 * parent through stored state (resolver.ts settle: the parent's next_retry), never through
 * an event a restart would lose.
 */

export const PARENT_TASK_TAG = '_utask_parent_task_id';
export const PARENT_STEP_TAG = '_taskhost_parent_step';

export interface ChildTaskServices {
  store: Store;
  /** A template by name (the templates directory); undefined when there is none. */
  findTemplate: (name: string) => Promise<TemplateSnapshot | undefined>;
  /** Runs a child's resolution to its end in this process; absent when another process will. */
  runChild?: (resolutionId: string) => Promise<void>;
  config: Record<string, unknown>;
}

interface ChildRow {
  id: string;
  state: string;
  result: unknown;
  resolution_id: string;
  resolution_state: string;
  requester_username: string;
}

async function childrenOf(db: Queryable, taskId: string, stepName: string): Promise<ChildRow[]> {
  const { rows } = await db.query<ChildRow>(
    `SELECT t.id, t.state, t.result, t.requester_username, r.id AS resolution_id, r.state AS resolution_state
       FROM task t JOIN resolution r ON r.task_id = t.id
      WHERE t.parent_task_id = $1 AND t.tags ->> '${PARENT_STEP_TAG}' = $2
      ORDER BY (t.tags ->> '_taskhost_batch_index')::int NULLS FIRST, t.created_at`,
    [taskId, stepName],
  );
  return rows.map((row) => ({ ...row, result: db.codec.readJson(row.result) }));
}

/** µTask's "a JSON array in a string" fields (resolver_usernames: '["a"]'), or a list. */
function nameList(value: unknown, field: string): string[] {
  if (value === undefined || value === null || value === '') return [];
  let list = value;
  if (typeof value === 'string') {
    try {
      list = JSON.parse(value);
    } catch {
      throw new ActionError('client', `configuration.${field}: a JSON list of names is expected`);
    }
  }
  if (!Array.isArray(list) || !list.every((item) => typeof item === 'string')) {
    throw new ActionError('client', `configuration.${field}: a list of names is expected`);
  }
  return list;
}

async function templateNamed(
  services: ChildTaskServices,
  name: unknown,
  field: string,
): Promise<TemplateSnapshot> {
  if (typeof name !== 'string' || name === '') {
    throw new ActionError('client', `configuration.${field}: the name of a template is required`);
  }
  const snapshot = await services.findTemplate(name);
  if (!snapshot) throw new ActionError('client', `configuration.${field}: no template named ${name}`);
  return snapshot;
}

async function parentOf(store: Store, context: ActionContext): Promise<TaskRow> {
  const parent = await getTask(store, context.taskId);
  if (!parent) throw new ActionError('fatal', `task ${context.taskId} not found`);
  return parent;
}

/** Creates one child task, tagged with its parent and step. */
async function createChild(
  services: ChildTaskServices,
  parent: TaskRow,
  context: ActionContext,
  snapshot: TemplateSnapshot,
  input: Record<string, unknown>,
  extra: { tags?: Record<string, string>; index?: number; watchers?: string[]; resolvers?: string[] },
): Promise<string> {
  try {
    const { resolutionId } = await createTask(services.store, {
      snapshot,
      input,
      requester: parent.requester_username,
      parentTaskId: parent.id,
      config: services.config,
      tags: {
        ...(extra.tags ?? {}),
        [PARENT_TASK_TAG]: parent.id,
        [PARENT_STEP_TAG]: context.stepName,
        ...(extra.index !== undefined ? { _taskhost_batch_index: String(extra.index) } : {}),
      },
      watcherUsernames: extra.watchers,
      resolverUsernames: extra.resolvers,
    });
    return resolutionId;
  } catch (error) {
    throw new ActionError('client', `cannot create the subtask: ${(error as Error).message}`);
  }
}

/** Runs children that are still to run, when this process runs them. */
async function runPending(
  services: ChildTaskServices,
  children: readonly ChildRow[],
  limit: number,
): Promise<void> {
  if (!services.runChild) return;
  const pending = children.filter(
    (child) => child.state === TaskState.TODO || child.resolution_state === 'ERROR',
  );
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < pending.length) {
      const child = pending[next++] as ChildRow;
      await services.runChild?.(child.resolution_id);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, pending.length)) }, worker));
}

/** The step's verdict on one child, as µTask's subtask plugin gives it. */
function judgeChild(child: ChildRow): ActionResult {
  const output = {
    id: child.id,
    state: child.state,
    result: child.result ?? null,
    requester_username: child.requester_username,
  };
  switch (child.state) {
    case TaskState.DONE:
      return { output };
    case TaskState.CANCELLED:
    case TaskState.WONTFIX:
    case TaskState.BLOCKED:
      throw new ActionError('client', `Task '${child.id}' changed state: ${child.state.toLowerCase()}`, {
        output,
      });
    case TaskState.TODO:
      throw new ActionError('waiting', `Task '${child.id}' will start shortly`, { output });
    case TaskState.RUNNING:
      throw new ActionError('retry', `Task '${child.id}' is currently RUNNING`, { output });
    default:
      throw new ActionError('waiting', `Task '${child.id}' not done yet (current state is ${child.state})`, {
        output,
      });
  }
}

export function subtaskAction(services: ChildTaskServices): ActionRunner {
  return {
    type: 'subtask',
    async run(configuration: unknown, context: ActionContext): Promise<ActionResult> {
      const config = isRecord(configuration) ? configuration : {};
      let [child] = await childrenOf(services.store, context.taskId, context.stepName);
      if (!child) {
        const snapshot = await templateNamed(services, config.template, 'template');
        let input = isRecord(config.input) ? config.input : {};
        if (typeof config.json_input === 'string' && config.json_input !== '') {
          try {
            input = JSON.parse(config.json_input) as Record<string, unknown>;
          } catch (error) {
            throw new ActionError('client', `configuration.json_input: ${(error as Error).message}`);
          }
        }
        const parent = await parentOf(services.store, context);
        await createChild(services, parent, context, snapshot, input, {
          tags: isRecord(config.tags) ? (config.tags as Record<string, string>) : undefined,
          watchers: nameList(config.watcher_usernames, 'watcher_usernames'),
          resolvers: nameList(config.resolver_usernames, 'resolver_usernames'),
        });
        [child] = await childrenOf(services.store, context.taskId, context.stepName);
      }
      if (!child) throw new ActionError('server', 'the subtask vanished after its creation');
      if (services.runChild && child.state === TaskState.TODO) {
        await services.runChild(child.resolution_id);
        [child] = await childrenOf(services.store, context.taskId, context.stepName);
      }
      return judgeChild(child as ChildRow);
    },
  };
}

/** µTask's batch plugin: a task per input, `sub_batch_size` at once, waited for together. */
export function batchAction(services: ChildTaskServices): ActionRunner {
  return {
    type: 'batch',
    async run(configuration: unknown, context: ActionContext): Promise<ActionResult> {
      const config = isRecord(configuration) ? configuration : {};
      let children = await childrenOf(services.store, context.taskId, context.stepName);
      const batchId = randomUUID();
      if (children.length === 0) {
        const snapshot = await templateNamed(services, config.template_name, 'template_name');
        const parse = (value: unknown, field: string): unknown => {
          if (typeof value !== 'string' || value === '') return undefined;
          try {
            return JSON.parse(value);
          } catch (error) {
            throw new ActionError('client', `configuration.${field}: ${(error as Error).message}`);
          }
        };
        const inputs = (parse(config.json_inputs, 'json_inputs') ?? config.inputs ?? []) as unknown;
        const common = (parse(config.common_json_inputs, 'common_json_inputs') ??
          config.common_inputs ??
          {}) as unknown;
        if (!Array.isArray(inputs) || !inputs.every(isRecord)) {
          throw new ActionError('client', 'configuration.inputs: a list of input maps is expected');
        }
        if (!isRecord(common)) {
          throw new ActionError('client', 'configuration.common_inputs: a map is expected');
        }
        const parent = await parentOf(services.store, context);
        for (const [index, input] of inputs.entries()) {
          await createChild(
            services,
            parent,
            context,
            snapshot,
            { ...common, ...input },
            {
              index,
              tags: {
                ...(isRecord(config.tags) ? (config.tags as Record<string, string>) : {}),
                _taskhost_batch_id: batchId,
              },
              watchers: nameList(config.watcher_usernames, 'watcher_usernames'),
              resolvers: nameList(config.resolver_usernames, 'resolver_usernames'),
            },
          );
        }
        children = await childrenOf(services.store, context.taskId, context.stepName);
      }
      const size = Number.parseInt(String(config.sub_batch_size ?? '0'), 10);
      await runPending(services, children, size > 0 ? size : children.length);
      children = await childrenOf(services.store, context.taskId, context.stepName);
      const counts: Record<string, number> = {};
      for (const child of children) counts[child.state] = (counts[child.state] ?? 0) + 1;
      const output = { tasks: children.map((child) => child.id), states: counts };
      const blocked = children.filter((child) => child.state === TaskState.BLOCKED).length;
      const open = children.filter(
        (child) =>
          ![TaskState.DONE, TaskState.WONTFIX, TaskState.CANCELLED, TaskState.BLOCKED].includes(
            child.state as 'DONE',
          ),
      ).length;
      if (open > 0) {
        throw new ActionError(
          'waiting',
          `${open} of ${children.length} tasks of the batch are not done yet`,
          { output },
        );
      }
      if (blocked > 0) {
        throw new ActionError('client', `${blocked} of ${children.length} tasks of the batch are blocked`, {
          output,
        });
      }
      return { output };
    },
  };
}

/** Whether a child task's new state wakes its parent (ended, or blocked for a human). */
export function parentToWake(task: TaskRow, taskState: string): boolean {
  return (
    Boolean(task.parent_task_id) &&
    [TaskState.DONE, TaskState.BLOCKED, TaskState.CANCELLED, TaskState.WONTFIX].includes(taskState as 'DONE')
  );
}

/**
 * In the transaction that settles a task: when it has a parent and is over (or blocked),
 * the parent's resolution is due now (µTask's wakeParentTask, but stored with the child's
 * end, so that a crash between the two cannot leave the parent waiting for good).
 */
export async function wakeParent(db: Queryable, task: TaskRow, taskState: string): Promise<void> {
  if (!parentToWake(task, taskState)) return;
  // Whatever the parent's state, even RUNNING (its run then keeps the wake-up: resolver.ts
  // settle), unless it is over.
  await db.query(
    `WITH woken AS (
       UPDATE resolution SET next_retry = now() WHERE task_id = $1 AND state NOT IN ('DONE', 'CANCELLED') RETURNING id
     )
     SELECT pg_notify('taskhost_due', id::text) FROM woken`,
    [task.parent_task_id],
  );
}
