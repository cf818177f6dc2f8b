import { TaskhostError } from '../../errors.ts';
import type { ValueCodec } from '../crypto/codec.ts';
import pg from '../driver.ts';
import { prepared, type Queryable } from '../store.ts';
import { appendEvents, EVENT_CHANNEL, type EventType, type StreamEvent } from './events.ts';
import type { InstanceRow } from './instances.ts';
import { watchedStreamSql } from './stream-watch.ts';

/**
 * Tasks, their resolution and its steps (one row per step: a transition writes the step it
 * changes and nothing else), and the task's event log, whose `seq` the task row hands out.
 * Titles, inputs, results, step values and errors go through the codec (encrypted at rest).
 */

export interface TaskRow {
  id: string;
  template_name: string;
  title: string;
  state: string;
  requester_username: string;
  requester_groups: string[];
  resolver_usernames: string[];
  resolver_groups: string[];
  watcher_usernames: string[];
  watcher_groups: string[];
  tags: Record<string, string>;
  input: Record<string, unknown>;
  result: unknown;
  parent_task_id: string | null;
  created_at: Date;
  last_activity: Date;
  last_seq: string;
}

export interface ResolutionRow {
  id: string;
  task_id: string;
  state: string;
  resolver_username: string | null;
  resolver_input: Record<string, unknown>;
  template: Record<string, unknown>;
  run_count: number;
  run_max: number;
  next_retry: Date | null;
  instance_id: string | null;
  created_at: Date;
  last_start: Date | null;
  last_stop: Date | null;
}

/** A step of a resolution as stored. */
export interface StepRow {
  name: string;
  parent: string | null;
  child_index: number | null;
  state: string;
  try_count: number;
  executions: number;
  last_run: string | null;
  output: unknown;
  metadata: unknown;
  children: unknown;
  error: string | null;
  item: unknown;
  has_item: boolean;
  extra_dependencies: string[];
  children_steps: string[] | null;
  /** The instance of its latest execution (`HOSTNAME/PID`; null before it ran, or run without a server). */
  ran_on: string | null;
}

export interface NewTask {
  id: string;
  templateName: string;
  title: string;
  state: string;
  requester: string;
  requesterGroups?: string[];
  input: Record<string, unknown>;
  tags?: Record<string, string>;
  parentTaskId?: string | null;
  watcherUsernames?: string[];
  watcherGroups?: string[];
  resolverUsernames?: string[];
  resolverGroups?: string[];
  batchId?: string | null;
}

export interface NewResolution {
  id: string;
  taskId: string;
  state: string;
  resolver: string | null;
  resolverInput: Record<string, unknown>;
  template: unknown;
  /** Its template is auto_runnable: a TODO resolution is due at once. */
  autoRun: boolean;
  runMax: number;
  /** Due this many milliseconds after the transaction's start (a delayed task); none when absent. */
  delayMs?: number | null;
}

/** A new task as one statement stores it: the task, its resolution, its steps, its first comment and event. */
export interface NewTaskRecord {
  task: NewTask;
  resolution: NewResolution;
  steps: readonly StepRow[];
  comment: { id: string; content: string } | null;
  /** Wake the schedulers of every instance (an auto_runnable task due now). */
  notifyDue: boolean;
}

/**
 * Stores a new task in one statement (insertNewTasks with one record): the task row with its
 * first event already numbered, its resolution, a row per step and its first comment.
 * Returns what PostgreSQL stamped: the creation time and when the resolution is due.
 */
export async function insertNewTask(db: Queryable, record: NewTaskRecord): Promise<StoredNewTask> {
  return (await insertNewTasks(db, [record]))[0] as StoredNewTask;
}

/** What PostgreSQL stamped on a new task: its creation time and when its resolution is due. */
export interface StoredNewTask {
  created: Date;
  nextRetry: Date | null;
}

/**
 * Stores new tasks in ONE statement (one round trip, atomic without a transaction of its
 * own; µTask's POST /batch is one): each task row with its first event already numbered, its
 * resolution, a row per step and its first comment. The schedulers are woken once if any is
 * due now, the notification naming the resolution when it is the only one. The template
 * snapshots are sent once each (a batch's tasks share theirs). Returns what PostgreSQL
 * stamped, in order.
 */
export async function insertNewTasks(
  db: Queryable,
  records: readonly NewTaskRecord[],
): Promise<StoredNewTask[]> {
  if (records.length === 0) return [];
  const templates: unknown[] = [];
  const templateIndex = new Map<unknown, number>();
  const indexOf = (template: unknown): number => {
    let index = templateIndex.get(template);
    if (index === undefined) {
      index = templates.push(template) - 1;
      templateIndex.set(template, index);
    }
    return index;
  };
  const rows = records.map(({ task, resolution, comment, notifyDue }) => ({
    id: task.id,
    template_name: task.templateName,
    title: db.codec.text(task.title),
    state: task.state,
    requester_username: task.requester,
    requester_groups: task.requesterGroups ?? [],
    input: db.codec.jsonField(task.input),
    tags: task.tags ?? {},
    parent_task_id: task.parentTaskId ?? undefined,
    watcher_usernames: task.watcherUsernames ?? [],
    resolver_usernames: task.resolverUsernames ?? [],
    watcher_groups: task.watcherGroups ?? [],
    resolver_groups: task.resolverGroups ?? [],
    batch_id: task.batchId ?? undefined,
    resolution_id: resolution.id,
    resolution_state: resolution.state,
    resolver_username: resolution.resolver,
    resolver_input: db.codec.jsonField(resolution.resolverInput),
    auto_run: resolution.autoRun,
    template_index: indexOf(resolution.template),
    run_max: resolution.runMax,
    delay_ms: resolution.delayMs ?? undefined,
    comment_id: comment?.id,
    comment: comment ? db.codec.text(comment.content) : undefined,
    notify: notifyDue,
  }));
  const steps = records.flatMap(({ resolution, steps: list }) =>
    encodeSteps(db.codec, list).map((step) => ({ resolution_id: resolution.id, ...step })),
  );
  const { rows: stored } = await db.query<{ id: string; created_at: Date; next_retry: Date | null }>(
    prepared(`WITH d AS (
       SELECT * FROM json_to_recordset($1::json) AS d (id uuid, template_name text, title text, state text,
         requester_username text, requester_groups text[], input jsonb, tags jsonb, parent_task_id uuid,
         watcher_usernames text[], resolver_usernames text[], watcher_groups text[], resolver_groups text[],
         batch_id uuid, resolution_id uuid, resolution_state text, resolver_username text, resolver_input jsonb,
         auto_run boolean, template_index integer, run_max integer, delay_ms float8, comment_id uuid, comment text, notify boolean)
     ), t AS (
       INSERT INTO task (id, template_name, title, state, requester_username, requester_groups, input, tags,
                         parent_task_id, watcher_usernames, resolver_usernames, watcher_groups, resolver_groups,
                         batch_id, last_seq)
       SELECT id, template_name, title, state, requester_username, requester_groups, input, tags,
              parent_task_id, watcher_usernames, resolver_usernames, watcher_groups, resolver_groups, batch_id, 1
         FROM d
       RETURNING id, created_at
     ), r AS (
       INSERT INTO resolution (id, task_id, state, resolver_username, resolver_input, auto_run, template, run_max,
                               next_retry)
       SELECT resolution_id, id, resolution_state, resolver_username, resolver_input, auto_run, $2::jsonb -> template_index,
              run_max, now() + delay_ms * interval '1 millisecond'
         FROM d
       RETURNING task_id, next_retry
     ), s AS (${upsertStepsSql(null, '$3')}
     ), c AS (
       INSERT INTO comment (id, task_id, username, content)
       SELECT comment_id, id, requester_username, comment FROM d WHERE comment_id IS NOT NULL
     ), e AS (
       INSERT INTO event (stream_id, seq, type, state, ts) SELECT id, 1, 'task', state, now() FROM d
     )
     SELECT t.id, t.created_at, r.next_retry,
            (SELECT pg_notify('taskhost_due', CASE WHEN count(*) = 1 THEN min(resolution_id::text) ELSE '' END)
               FROM d WHERE notify HAVING count(*) > 0) AS woken
       FROM t JOIN r ON r.task_id = t.id`),
    [JSON.stringify(rows), JSON.stringify(templates), JSON.stringify(steps)],
  );
  const byId = new Map(stored.map((row) => [row.id, row]));
  return records.map(({ task }) => {
    const row = byId.get(task.id) as { created_at: Date; next_retry: Date | null };
    return { created: row.created_at, nextRetry: row.next_retry };
  });
}

const STEP_SELECT = `name, parent, child_index, state, try_count, executions, last_run, output, metadata,
  children, error, item, has_item, extra_dependencies, children_steps, ran_on`;

const STEP_COLUMNS = `name text, parent text, child_index integer, state text, try_count integer,
  executions integer, last_run timestamptz, output jsonb, metadata jsonb, children jsonb, error text,
  item jsonb, has_item boolean, extra_dependencies text[], children_steps text[], ran_on text`;

/**
 * Writes steps (new or changed) in one statement. JSON null and absent are both stored as
 * SQL NULL: an output of `null` reads back as absent, as µTask's values do.
 */
export async function saveSteps(
  db: Queryable,
  resolutionId: string,
  steps: readonly StepRow[],
): Promise<void> {
  if (steps.length === 0) return;
  await db.query(upsertStepsSql('$1', '$2'), [resolutionId, JSON.stringify(encodeSteps(db.codec, steps))]);
}

/**
 * Steps with their values encrypted, as json_to_recordset takes them. A null field is left
 * out (the recordset reads a missing key as NULL): a new task's TODO steps are mostly nulls,
 * and the text PostgreSQL parses for a batch of 600 tasks was half keys with null values.
 */
export function encodeSteps(codec: ValueCodec, steps: readonly StepRow[]): Record<string, unknown>[] {
  return steps.map((step) => {
    const record: Record<string, unknown> = {
      name: step.name,
      state: step.state,
      try_count: step.try_count,
      executions: step.executions,
      has_item: step.has_item,
      extra_dependencies: step.extra_dependencies,
    };
    const put = (key: string, value: unknown): void => {
      if (value !== null && value !== undefined) record[key] = value;
    };
    put('parent', step.parent);
    put('child_index', step.child_index);
    put('last_run', step.last_run);
    put('children_steps', step.children_steps);
    put('ran_on', step.ran_on);
    put('output', codec.jsonField(step.output));
    put('metadata', codec.jsonField(step.metadata));
    put('children', codec.jsonField(step.children));
    put('item', codec.jsonField(step.item));
    put('error', codec.text(step.error));
    return record;
  });
}

/** A step row as read, its values decrypted. */
export function stepFromRow(codec: ValueCodec, row: StepRow): StepRow {
  return {
    ...row,
    output: codec.readJson(row.output),
    metadata: codec.readJson(row.metadata),
    children: codec.readJson(row.children),
    item: codec.readJson(row.item),
    error: codec.readText(row.error),
  };
}

/** A task row as read (`SELECT *`), its values decrypted. */
export function taskFromRow(codec: ValueCodec, row: TaskRow & { key_label?: unknown }): TaskRow {
  const { key_label: _labels, ...task } = row;
  return {
    ...task,
    title: codec.readText(task.title),
    input: codec.readJson(task.input),
    result: codec.readJson(task.result),
  };
}

/** A resolution row as read (`SELECT *`), its values decrypted. */
export function resolutionFromRow(
  codec: ValueCodec,
  row: ResolutionRow & { key_label?: unknown },
): ResolutionRow {
  const { key_label: _labels, ...resolution } = row;
  return { ...resolution, resolver_input: codec.readJson(resolution.resolver_input) };
}

/**
 * INSERT … ON CONFLICT DO UPDATE of step rows given as a JSON list (`rows`), for `resolution`
 * (null: each row names its own, `resolution_id`); only when `condition` holds.
 */
export function upsertStepsSql(resolution: string | null, rows: string, condition = 'true'): string {
  const selected = resolution === null ? 'r.*' : `${resolution}, r.*`;
  const columns = resolution === null ? `resolution_id uuid, ${STEP_COLUMNS}` : STEP_COLUMNS;
  return `INSERT INTO resolution_step (resolution_id, name, parent, child_index, state, try_count, executions,
            last_run, output, metadata, children, error, item, has_item, extra_dependencies, children_steps, ran_on)
     SELECT ${selected} FROM json_to_recordset(${rows}::json) AS r (${columns}) WHERE ${condition}
     ON CONFLICT (resolution_id, name) DO UPDATE SET
       parent = EXCLUDED.parent, child_index = EXCLUDED.child_index, state = EXCLUDED.state,
       try_count = EXCLUDED.try_count, executions = EXCLUDED.executions, last_run = EXCLUDED.last_run,
       output = EXCLUDED.output, metadata = EXCLUDED.metadata, children = EXCLUDED.children,
       error = EXCLUDED.error, item = EXCLUDED.item, has_item = EXCLUDED.has_item,
       extra_dependencies = EXCLUDED.extra_dependencies, children_steps = EXCLUDED.children_steps,
       ran_on = EXCLUDED.ran_on`;
}

export async function loadSteps(db: Queryable, resolutionId: string): Promise<StepRow[]> {
  const { rows } = await db.query<StepRow & { last_run: Date | null }>(
    `SELECT ${STEP_SELECT} FROM resolution_step WHERE resolution_id = $1
      ORDER BY parent NULLS FIRST, child_index, name`,
    [resolutionId],
  );
  return rows.map((row) => ({
    ...stepFromRow(db.codec, row),
    last_run: row.last_run ? new Date(row.last_run).toISOString() : null,
  }));
}

export interface ResolutionPatch {
  state?: string;
  runCount?: number;
  nextRetry?: Date | null;
  instanceId?: string | null;
  lastStart?: Date;
  lastStop?: Date;
  resolverInput?: Record<string, unknown>;
}

export async function updateResolution(db: Queryable, id: string, patch: ResolutionPatch): Promise<void> {
  const sets: string[] = [];
  const values: unknown[] = [id];
  const set = (column: string, value: unknown): void => {
    values.push(value);
    sets.push(`${column} = $${values.length}`);
  };
  if (patch.state !== undefined) set('state', patch.state);
  if (patch.runCount !== undefined) set('run_count', patch.runCount);
  if (patch.nextRetry !== undefined) set('next_retry', patch.nextRetry);
  if (patch.instanceId !== undefined) set('instance_id', patch.instanceId);
  if (patch.lastStart !== undefined) set('last_start', patch.lastStart);
  if (patch.lastStop !== undefined) set('last_stop', patch.lastStop);
  if (patch.resolverInput !== undefined) set('resolver_input', db.codec.json(patch.resolverInput));
  if (sets.length === 0) return;
  await db.query(`UPDATE resolution SET ${sets.join(', ')} WHERE id = $1`, values);
}

/**
 * Releases a resolution whose run broke off as CRASHED and ownerless, for any instance to
 * recover, unless it is no longer `ownerId`'s (taken over meanwhile: the new owner's).
 */
export async function crashResolution(db: Queryable, id: string, ownerId: string | null): Promise<void> {
  await db.query(
    `UPDATE resolution SET state = 'CRASHED', instance_id = NULL, last_stop = now()
      WHERE id = $1 AND instance_id IS NOT DISTINCT FROM $2::uuid`,
    [id, ownerId],
  );
}

export interface TaskPatch {
  state?: string;
  result?: unknown;
  tags?: Record<string, string>;
  title?: string;
}

export async function updateTask(db: Queryable, id: string, patch: TaskPatch): Promise<void> {
  const sets = ['last_activity = now()'];
  const values: unknown[] = [id];
  const set = (column: string, value: unknown): void => {
    values.push(value);
    sets.push(`${column} = $${values.length}`);
  };
  if (patch.state !== undefined) set('state', patch.state);
  if (patch.result !== undefined) set('result', db.codec.json(patch.result));
  if (patch.tags !== undefined) set('tags', JSON.stringify(patch.tags));
  if (patch.title !== undefined) set('title', db.codec.text(patch.title));
  await db.query(`UPDATE task SET ${sets.join(', ')} WHERE id = $1`, values);
}

export async function getTask(db: Queryable, id: string): Promise<TaskRow | null> {
  const { rows } = await db.query<TaskRow>('SELECT * FROM task WHERE id = $1', [id]);
  return rows[0] ? taskFromRow(db.codec, rows[0]) : null;
}

export async function getResolutionOfTask(db: Queryable, taskId: string): Promise<ResolutionRow | null> {
  const { rows } = await db.query<ResolutionRow>('SELECT * FROM resolution WHERE task_id = $1', [taskId]);
  return rows[0] ? resolutionFromRow(db.codec, rows[0]) : null;
}

export async function getResolution(db: Queryable, id: string): Promise<ResolutionRow | null> {
  const { rows } = await db.query<ResolutionRow>('SELECT * FROM resolution WHERE id = $1', [id]);
  return rows[0] ? resolutionFromRow(db.codec, rows[0]) : null;
}

/** A task event before the store numbers it. */
export interface NewTaskEvent {
  type: EventType;
  step?: string | null;
  stream?: string | null;
  line?: string | null;
  state?: string | null;
  data?: Record<string, unknown> | null;
  ts?: string;
}

/** The events as stored: numbered up to `last` (the task row's last_seq after the write). */
export function numberEvents(events: readonly NewTaskEvent[], last: number, now: string): StreamEvent[] {
  const first = last - events.length + 1;
  return events.map((event, index) => {
    const stored: StreamEvent = {
      seq: first + index,
      type: event.type,
      step: event.step ?? null,
      stream: event.stream ?? null,
      line: event.line ?? null,
      state: event.state ?? null,
      ts: event.ts ?? now,
    };
    if (event.data) stored.data = event.data;
    return stored;
  });
}

/**
 * Appends events to a task's log, numbered from the task row in this transaction: the row
 * lock orders writers (concurrent steps, other instances), so seqs commit in order, without
 * gaps. Returns the events as stored.
 */
export async function appendTaskEvents(
  db: Queryable,
  taskId: string,
  events: readonly NewTaskEvent[],
): Promise<StreamEvent[]> {
  if (events.length === 0) return [];
  const { rows } = await db.query<{ last_seq: string }>(
    'UPDATE task SET last_seq = last_seq + $2, last_activity = now() WHERE id = $1 RETURNING last_seq',
    [taskId, events.length],
  );
  const numbered = numberEvents(events, Number(rows[0]?.last_seq ?? events.length), new Date().toISOString());
  await appendEvents(db, taskId, numbered);
  return numbered;
}

export interface NewStepRun {
  id: string;
  taskId: string;
  resolutionId: string;
  stepName: string;
  attempt: number;
  actionType: string;
  data: unknown;
  requester: string | null;
}

/** A step run as it starts: its owner instance, and where it runs (`HOSTNAME/PID`). */
export type StepRunStart = NewStepRun & { ownerId: string | null; ranOn: string | null };

/** The end of a step run, for its row. */
export interface StepRunEnd {
  id: string;
  state: string;
  result: unknown;
  error: string | null;
  exit_code: number | null;
  signal: string | null;
  kill_reason: string | null;
  dropped_lines: number;
  dropped_bytes: number;
}

/** A run's end with its result and error encrypted, for json_to_recordset. */
export function encodeRunEnd<T extends StepRunEnd>(codec: ValueCodec, run: T): T {
  return codec.encrypts ? { ...run, result: codec.jsonField(run.result), error: codec.text(run.error) } : run;
}

/** The process group of a running step run. */
export interface StepRunProcess {
  id: string;
  pgid: number;
  pgid_start: string | null;
}

/**
 * Who may write a resolution's transitions: the instance that claimed it, for as long as it
 * is its owner (`resolution.instance_id`).
 */
export interface ResolutionFence {
  resolutionId: string;
  ownerId: string;
}

/** What one step transition writes, besides its events. */
export interface TransitionWrite {
  resolutionId: string;
  steps: readonly StepRow[];
  removed: readonly string[];
  runStarts: readonly StepRunStart[];
  runEnds: readonly StepRunEnd[];
  runProcesses: readonly StepRunProcess[];
  /** A settle: the task's new state (and result), set with its log position (needs events). */
  task?: TaskEnd;
  /** A settle: the resolution's run ended (its owner cleared). */
  resolutionEnd?: ResolutionEnd;
}

/** The task's end of a resolution run. */
export interface TaskEnd {
  state: string;
  result?: unknown;
}

/**
 * The end of a resolution run: its state, and its next_retry the earlier of the run's own (a
 * retry delay) and one stored meanwhile by a wake-up (a child task ended, a callback).
 */
export interface ResolutionEnd {
  state: string;
  nextRetry: Date | null;
  lastStop: Date;
}

/** A transition as stored: its events numbered, and the next_retry a settle kept. */
export interface StoredTransition {
  events: StreamEvent[];
  nextRetry: Date | null;
}

type Param = (value: unknown, cast?: string) => string;

/**
 * The CTEs that append `events` to the log of `task` (an SQL expression): `seq` (the task
 * row's last_seq moved on, with `sets` more of its columns), `ev` (the events numbered from
 * it) and `notified` (a pointer to followers, if any; a SELECT CTE runs only if the final
 * SELECT reads it). Written only when `condition` holds.
 */
function eventsSql(
  db: Queryable,
  events: readonly NewTaskEvent[],
  param: Param,
  condition: string,
  now: string,
  sets: readonly string[] = [],
  task = '$1::uuid',
): string[] {
  const n = param(events.length, '::bigint');
  const column = <T>(pick: (event: NewTaskEvent) => T, cast: string): string => param(events.map(pick), cast);
  return [
    `seq AS (UPDATE task SET last_seq = last_seq + ${n}, last_activity = now()${sets.map((set) => `, ${set}`).join('')}
       WHERE id = ${task} AND ${condition} RETURNING last_seq)`,
    `ev AS (INSERT INTO event (stream_id, seq, type, step, stream, line, state, data, ts)
       SELECT ${task}, seq.last_seq - ${n} + e.ord, e.type, e.step, e.stream, e.line, e.state, e.data, e.ts
         FROM seq, unnest(${column((e) => e.type, '::text[]')}, ${column((e) => e.step ?? null, '::text[]')},
              ${column((e) => e.stream ?? null, '::text[]')}, ${column((e) => db.codec.text(e.line), '::text[]')},
              ${column((e) => e.state ?? null, '::text[]')},
              ${column((e) => (e.data ? db.codec.json(e.data) : null), '::jsonb[]')},
              ${column((e) => e.ts ?? now, '::timestamptz[]')})
              WITH ORDINALITY AS e (type, step, stream, line, state, data, ts, ord)
       ON CONFLICT (stream_id, seq) DO NOTHING)`,
    `notified AS (SELECT pg_notify('${EVENT_CHANNEL}', ${task}::text || ':' || last_seq) AS sent FROM seq
       WHERE ${watchedStreamSql(task)})`,
  ];
}

/** The task columns a transition sets besides its log position (a settle: state, result). */
function taskSets(task: TaskEnd | undefined, db: Queryable, param: Param): string[] {
  if (!task) return [];
  const sets = [`state = ${param(task.state)}`];
  if (task.result !== undefined) sets.push(`result = ${param(db.codec.json(task.result))}`);
  return sets;
}

/** A resolution run's claim, as one statement returns it. */
export interface ClaimedResolution {
  /** The resolution as it was when locked (its run_count before this run). */
  row: ResolutionRow;
  /** It was CRASHED (or RUNNING without an owner): to recover, and the task's RUNNING not yet written. */
  crashed: boolean;
  task: TaskRow;
  steps: StepRow[];
  /** The task's RUNNING event as stored (none for a crashed one). */
  running: StreamEvent[];
}

/** Resolutions due now, for any instance to claim (see engine/scheduler.ts). */
export const DUE_CONDITION = `(state = 'TODO' AND auto_run)
      OR (state IN ('ERROR', 'WAITING', 'TO_AUTORUN_DELAYED', 'RETRY', 'TO_AUTORUN') AND next_retry <= now())
      OR state = 'CRASHED'
      OR (state = 'RUNNING' AND instance_id IS NULL)`;

/** What a claim statement returns for each resolution it locked, its JSON columns as text (RAW_JSON). */
type ClaimRow = Omit<ResolutionRow, 'template' | 'resolver_input'> & {
  template: string;
  resolver_input: string;
  crashed: boolean | null;
  claimed: boolean;
  running_seq: string | null;
  task_json: string;
  steps_json: string | null;
};

/**
 * Claims the resolutions `locked` selects (FOR UPDATE SKIP LOCKED) in ONE statement: each
 * one's state checked, the owner instance recorded, each RUNNING under it with one run more
 * and, unless it is a crash to recover first, its task RUNNING with that event (followers
 * notified); the tasks and their steps read back. Rows locked but not claimable come back
 * with `claimed` false.
 */
async function claimLocked(
  db: Queryable,
  locked: (param: Param) => string,
  firstValues: readonly unknown[],
  owner: InstanceRow | null,
): Promise<{ rows: ClaimRow[]; now: string }> {
  const values: unknown[] = [...firstValues];
  const param: Param = (value, cast = '') => {
    values.push(value);
    return `$${values.length}${cast}`;
  };
  const now = new Date().toISOString();
  const parts = [
    `locked AS (${locked(param)})`,
    `claimable AS (SELECT id, task_id, (state = 'CRASHED' OR (state = 'RUNNING' AND instance_id IS NULL)) AS crashed
       FROM locked WHERE state NOT IN ('RUNNING', 'DONE', 'CANCELLED') OR state = 'CRASHED'
                      OR (state = 'RUNNING' AND instance_id IS NULL))`,
    `claimed AS (UPDATE resolution r SET state = 'RUNNING', run_count = r.run_count + 1,
       instance_id = ${param(owner?.id ?? null, '::uuid')}, last_start = now(), next_retry = NULL
       FROM claimable c WHERE r.id = c.id RETURNING r.id)`,
    `running AS (UPDATE task t SET state = 'RUNNING', last_seq = t.last_seq + 1, last_activity = now()
       FROM claimable c WHERE t.id = c.task_id AND NOT c.crashed RETURNING t.id, t.last_seq)`,
    `running_event AS (INSERT INTO event (stream_id, seq, type, state, ts)
       SELECT id, last_seq, 'task', 'RUNNING', ${param(now, '::timestamptz')} FROM running
       ON CONFLICT (stream_id, seq) DO NOTHING)`,
    `notified AS (SELECT pg_notify('${EVENT_CHANNEL}', id::text || ':' || last_seq) AS sent FROM running
       WHERE ${watchedStreamSql('running.id')})`,
  ];
  if (owner) {
    parts.push(
      `registered AS (INSERT INTO instance (id, kind, hostname, pid, process_start, version)
         SELECT ${param(owner.id, '::uuid')}, ${param(owner.kind)}, ${param(owner.hostname)},
                ${param(owner.pid, '::int')}, ${param(owner.process_start)}, ${param(owner.version)}
          WHERE EXISTS (SELECT 1 FROM claimable)
         ON CONFLICT (id) DO NOTHING)`,
    );
  }
  // The task and its steps come back as json, not jsonb: the text is built as it is read, where
  // to_jsonb/jsonb_agg built a binary value (keys sorted) only to print it again. Paired rounds
  // (12, one instance): PostgreSQL CPU a task 1.017 -> 0.950 ms, 1.036x tasks/s.
  const sql = `WITH ${parts.join(',\n')}
    SELECT locked.*, c.crashed, EXISTS (SELECT 1 FROM claimed WHERE claimed.id = locked.id) AS claimed,
           run.last_seq AS running_seq, (SELECT count(*) FROM notified) AS sent,
           (SELECT row_to_json(t) FROM task t WHERE t.id = locked.task_id) AS task_json,
           (SELECT json_agg(s ORDER BY s.parent NULLS FIRST, s.child_index, s.name)
              FROM (SELECT ${STEP_SELECT} FROM resolution_step WHERE resolution_id = locked.id) s) AS steps_json
      FROM locked LEFT JOIN claimable c ON c.id = locked.id LEFT JOIN running run ON run.id = locked.task_id`;
  const { rows } = await db.query<ClaimRow>({ ...prepared(sql), types: RAW_JSON }, values);
  return { rows, now };
}

const JSONB_OID = 3802;
const JSON_OID = 114;

/** A claim's JSON columns as text: claimOf parses them, each template snapshot once (parsedSnapshot). */
const RAW_JSON: pg.CustomTypesConfig = {
  getTypeParser: (oid: number, format?: 'text' | 'binary') =>
    oid === JSONB_OID || oid === JSON_OID ? (text: string) => text : pg.types.getTypeParser(oid, format),
};

/**
 * A resolution's template snapshot as a claim reads it: parsed once for a given text, and
 * shared, frozen, by the resolutions that run it (the engine only reads it). Why: every claim
 * parsed its resolution's snapshot (the template and its functions, a kilobyte or more: a batch's
 * tasks all hold the same), and the parsed objects lived as long as the run, copied by each
 * young-generation collection meanwhile. Paired rounds: 1.035x tasks/s with one instance,
 * 1.062x with three.
 */
const snapshots = new Map<string, unknown>();
const SNAPSHOTS_KEPT = 32;

function parsedSnapshot(text: string): unknown {
  let found = snapshots.get(text);
  if (found === undefined) {
    found = deepFreeze(JSON.parse(text));
    if (snapshots.size >= SNAPSHOTS_KEPT) snapshots.delete(snapshots.keys().next().value as string);
    snapshots.set(text, found);
  }
  return found;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const item of Object.values(value)) deepFreeze(item);
  }
  return value;
}

/** A claimed row as the engine takes it: values decrypted, the RUNNING event numbered. */
function claimOf(codec: ValueCodec, row: ClaimRow, now: string): ClaimedResolution {
  const {
    crashed,
    claimed: _claimed,
    running_seq: runningSeq,
    task_json: taskText,
    steps_json: stepsText,
    template,
    resolver_input: resolverInput,
    ...locked
  } = row;
  const taskJson = JSON.parse(taskText) as Record<string, unknown>;
  taskJson.created_at = new Date(taskJson.created_at as string);
  taskJson.last_activity = new Date(taskJson.last_activity as string);
  taskJson.last_seq = String(taskJson.last_seq);
  const task = taskFromRow(codec, taskJson as unknown as TaskRow);
  const stepsJson =
    stepsText === null ? [] : (JSON.parse(stepsText) as (StepRow & { last_run: string | null })[]);
  const steps = stepsJson.map((step) => {
    const decoded = stepFromRow(codec, step);
    decoded.last_run = step.last_run ? new Date(step.last_run).toISOString() : null;
    return decoded;
  });
  const running: NewTaskEvent[] = [{ type: 'task', state: 'RUNNING' }];
  return {
    row: resolutionFromRow(codec, {
      ...locked,
      template: parsedSnapshot(template) as Record<string, unknown>,
      resolver_input: JSON.parse(resolverInput) as Record<string, unknown>,
    }),
    crashed: crashed === true,
    task,
    steps,
    running: runningSeq === null ? [] : numberEvents(running, Number(runningSeq), now),
  };
}

/**
 * Claims one resolution run in ONE statement (claimLocked): `busy` when another holds its
 * row, `refused` with its state when it can't run.
 */
export async function claimResolution(
  db: Queryable,
  id: string,
  owner: InstanceRow | null,
): Promise<
  { busy: true } | { busy: false; refused: string } | ({ busy: false; refused: null } & ClaimedResolution)
> {
  const { rows, now } = await claimLocked(
    db,
    () => 'SELECT * FROM resolution WHERE id = $1::uuid FOR UPDATE SKIP LOCKED',
    [id],
    owner,
  );
  const row = rows[0];
  if (!row) return { busy: true };
  if (!row.claimed) return { busy: false, refused: row.state };
  return { busy: false, refused: null, ...claimOf(db.codec, row, now) };
}

/**
 * Claims up to `limit` due resolutions in ONE statement (oldest due first; rows another
 * instance holds are skipped): several instances polling at once each get their own.
 */
export async function claimDueResolutions(
  db: Queryable,
  limit: number,
  owner: InstanceRow | null,
): Promise<ClaimedResolution[]> {
  const { rows, now } = await claimLocked(
    db,
    () => `SELECT * FROM resolution WHERE ${DUE_CONDITION}
            ORDER BY next_retry NULLS FIRST, created_at LIMIT $1 FOR UPDATE SKIP LOCKED`,
    [limit],
    owner,
  );
  return rows.filter((row) => row.claimed).map((row) => claimOf(db.codec, row, now));
}

/**
 * A transition in ONE statement (data-modifying CTEs: one round trip, atomic like a
 * transaction): the task's events numbered from its row and notified, the changed and
 * removed step rows, the runs that start and end. The engine writes every step transition
 * this way: a chain of steps costs one round trip per transition, not a dozen. Returns the
 * events as stored.
 *
 * With a `fence`, nothing is written unless the fence's owner still owns the resolution, and
 * TH_RESOLUTION_LOST is thrown. Why: an instance that stopped heartbeating without dying
 * (stopped, swapping, cut off) is taken for dead, and another takes its resolution over; when
 * it comes back, its in-flight steps end and it would write their late results over the new
 * owner's (a DONE task back to ERROR, to be run again). The owner row is locked FOR KEY SHARE
 * first, which a claim's FOR UPDATE waits for: the ownership checked holds until this write
 * commits, and a claim committed meanwhile is seen (the lock re-reads the newest row).
 */
export async function writeTransition(
  db: Queryable,
  taskId: string,
  events: readonly NewTaskEvent[],
  write: TransitionWrite | null,
  fence: ResolutionFence | null = null,
): Promise<StoredTransition> {
  const values: unknown[] = [taskId];
  const param = (value: unknown, cast = ''): string => {
    values.push(value);
    return `$${values.length}${cast}`;
  };
  const parts: string[] = [];
  const now = new Date().toISOString();
  // Every part is conditioned on the fence (a plain SELECT in WITH runs only if referenced).
  let owned = 'true';
  if (fence) {
    parts.push(
      `owner AS (SELECT 1 FROM resolution WHERE id = ${param(fence.resolutionId, '::uuid')}
         AND instance_id = ${param(fence.ownerId, '::uuid')} FOR KEY SHARE)`,
    );
    owned = 'EXISTS (SELECT 1 FROM owner)';
  }
  if (events.length > 0) {
    parts.push(...eventsSql(db, events, param, owned, now, taskSets(write?.task, db, param)));
  }
  if (write) {
    let resolutionParam: string | undefined;
    const resolution = (): string => (resolutionParam ??= param(write.resolutionId, '::uuid'));
    if (write.removed.length > 0) {
      parts.push(
        `removed AS (DELETE FROM resolution_step WHERE resolution_id = ${resolution()}
           AND name = ANY(${param(write.removed, '::text[]')}) AND ${owned})`,
      );
    }
    if (write.steps.length > 0) {
      parts.push(
        `saved AS (${upsertStepsSql(resolution(), param(JSON.stringify(encodeSteps(db.codec, write.steps))), owned)})`,
      );
    }
    if (write.runStarts.length > 0) {
      parts.push(
        `started AS (INSERT INTO run (id, plugin_name, origin, data, state, requester, task_id, step_name, attempt,
            resolution_id, instance_id, ran_on, started_at)
          SELECT r.id, r."actionType", 'task', r.data, 'RUNNING', r.requester, r."taskId", r."stepName", r.attempt,
                 r."resolutionId", r."ownerId", r."ranOn", now()
            FROM json_to_recordset(${param(JSON.stringify(write.runStarts.map((run) => ({ ...run, data: db.codec.jsonField(run.data) }))), '::json')})
              AS r (id uuid, "actionType" text, data jsonb, requester text, "taskId" uuid, "stepName" text,
                    attempt integer, "resolutionId" uuid, "ownerId" uuid, "ranOn" text)
           WHERE ${owned})`,
      );
    }
    if (write.runEnds.length > 0) {
      parts.push(
        `ended AS (UPDATE run SET state = r.state, result = r.result, error = r.error, exit_code = r.exit_code,
            signal = r.signal, kill_reason = r.kill_reason, dropped_lines = r.dropped_lines,
            dropped_bytes = r.dropped_bytes, finished_at = now(), instance_id = NULL, pgid = NULL
          FROM json_to_recordset(${param(JSON.stringify(write.runEnds.map((run) => encodeRunEnd(db.codec, run))), '::json')})
            AS r (id uuid, state text, result jsonb, error text, exit_code integer, signal text, kill_reason text,
                  dropped_lines bigint, dropped_bytes bigint)
          WHERE run.id = r.id AND ${owned})`,
      );
    }
    if (write.resolutionEnd) {
      const end = write.resolutionEnd;
      parts.push(
        `settled AS (UPDATE resolution SET state = ${param(end.state)},
            next_retry = LEAST(next_retry, ${param(end.nextRetry, '::timestamptz')}),
            last_stop = ${param(end.lastStop, '::timestamptz')}, instance_id = NULL
          WHERE id = ${resolution()} AND ${owned} RETURNING next_retry)`,
      );
    }
    if (write.runProcesses.length > 0) {
      parts.push(
        `grouped AS (UPDATE run SET pgid = r.pgid, pgid_start = r.pgid_start
          FROM json_to_recordset(${param(JSON.stringify(write.runProcesses), '::json')})
            AS r (id uuid, pgid integer, pgid_start text)
          WHERE run.id = r.id AND run.state = 'RUNNING' AND ${owned})`,
      );
    }
  }
  if (parts.length === (fence ? 1 : 0)) return { events: [], nextRetry: null };
  const settled = write?.resolutionEnd ? '(SELECT next_retry FROM settled)' : 'NULL::timestamptz';
  const select =
    events.length > 0
      ? `SELECT (SELECT last_seq FROM seq) AS last_seq, (SELECT count(*) FROM notified) AS sent, ${owned} AS owned, ${settled} AS next_retry`
      : `SELECT 0 AS last_seq, $1::uuid AS task_id, ${owned} AS owned, ${settled} AS next_retry`;
  const { rows } = await db.query<{ last_seq: string; owned: boolean; next_retry: Date | null }>(
    prepared(`WITH ${parts.join(',\n')}\n${select}`),
    values,
  );
  if (rows[0]?.owned === false) throw resolutionLost(fence?.resolutionId ?? '');
  return {
    events: numberEvents(events, Number(rows[0]?.last_seq ?? 0), now),
    nextRetry: rows[0]?.next_retry ?? null,
  };
}

/** The refusal of a fenced write whose resolution another instance took over. */
export function resolutionLost(resolutionId: string): TaskhostError {
  return new TaskhostError(
    'TH_RESOLUTION_LOST',
    `resolution ${resolutionId} is no longer this instance's: it was taken for dead and another took it over`,
  );
}
