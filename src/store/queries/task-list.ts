import type { Queryable } from '../store.ts';

/** A task as lists show it: the task and its resolution, no steps. */
export interface TaskListRow {
  id: string;
  template_name: string;
  title: string;
  state: string;
  requester_username: string;
  resolver_usernames: string[];
  resolver_groups: string[];
  watcher_usernames: string[];
  watcher_groups: string[];
  tags: Record<string, string>;
  batch_id: string | null;
  created_at: Date;
  last_activity: Date;
  resolution_id: string | null;
  resolution_state: string | null;
  run_count: number | null;
  next_retry: Date | null;
}

/**
 * Whose tasks a list shows (µTask's ListTasks filters), for a user and their groups:
 * - `requester`: tasks they requested or watch by name (µTask's type=own);
 * - `resolver`: tasks they may resolve: named or in a group among the task's resolvers, or
 *   owner of its template (`templates`: the templates whose allowed resolvers include them);
 * - `involved`: either of those, or watching through a group (µTask's type=all for a
 *   user who is not an admin).
 * No audience: every task.
 */
export interface TaskAudience {
  kind: 'requester' | 'resolver' | 'involved';
  username: string;
  groups: readonly string[];
  templates: readonly string[];
}

export interface TaskListFilter {
  state?: string;
  template?: string;
  batch?: string;
  /** Tags every listed task has, with these values. */
  tags?: Record<string, string>;
  audience?: TaskAudience;
  /** The id of the previous page's last task: this page starts after it. */
  last?: string;
  pageSize: number;
}

/**
 * One page of tasks, newest first (created, then id: a stable order for `last`), which
 * `task_created_idx` (migration 0005) serves without a sort, filters or not.
 */
export async function listTasks(db: Queryable, filter: TaskListFilter): Promise<TaskListRow[]> {
  const conditions: string[] = [];
  const values: unknown[] = [];
  const param = (value: unknown): string => {
    values.push(value);
    return `$${values.length}`;
  };
  if (filter.state) conditions.push(`t.state = ${param(filter.state)}`);
  if (filter.template) conditions.push(`t.template_name = ${param(filter.template.trim().toLowerCase())}`);
  if (filter.batch) conditions.push(`t.batch_id = ${param(filter.batch)}`);
  if (filter.tags && Object.keys(filter.tags).length > 0) {
    conditions.push(`t.tags @> ${param(JSON.stringify(filter.tags))}::jsonb`);
  }
  if (filter.audience) conditions.push(audienceCondition(filter.audience, param));
  if (filter.last) {
    conditions.push(
      `(t.created_at, t.id) < (SELECT created_at, id FROM task WHERE id = ${param(filter.last)})`,
    );
  }
  const limit = param(filter.pageSize);
  const { rows } = await db.query<TaskListRow>(
    `SELECT t.id, t.template_name, t.title, t.state, t.requester_username, t.resolver_usernames, t.resolver_groups,
            t.watcher_usernames, t.watcher_groups, t.tags, t.batch_id, t.created_at, t.last_activity,
            r.id AS resolution_id, r.state AS resolution_state, r.run_count, r.next_retry
       FROM task t LEFT JOIN resolution r ON r.task_id = t.id
      ${conditions.length ? `WHERE ${conditions.join(' AND ')}` : ''}
      ORDER BY t.created_at DESC, t.id DESC LIMIT ${limit}`,
    values,
  );
  // Titles are encrypted at rest; filters and order use columns kept in clear.
  return rows.map((row) => ({ ...row, title: db.codec.readText(row.title) }));
}

function audienceCondition(audience: TaskAudience, param: (value: unknown) => string): string {
  // Parameters are bound only when used: PostgreSQL cannot type one the query leaves out.
  const user = param(audience.username);
  const requester = (): string[] => [
    `t.requester_username = ${user}`,
    `t.watcher_usernames @> ARRAY[${user}]::text[]`,
  ];
  const resolver = (groups: string): string[] => [
    `t.resolver_usernames @> ARRAY[${user}]::text[]`,
    `t.resolver_groups && ${groups}`,
    `t.template_name = ANY(${param(audience.templates)}::text[])`,
  ];
  let any: string[];
  if (audience.kind === 'requester') any = requester();
  else {
    const groups = `${param(audience.groups)}::text[]`;
    any =
      audience.kind === 'resolver'
        ? resolver(groups)
        : [...requester(), `t.watcher_groups && ${groups}`, ...resolver(groups)];
  }
  return `(${any.join(' OR ')})`;
}

/** The seq of a task's last stored event (the task row numbers its events), or null for no task. */
export async function taskLastSeq(db: Queryable, taskId: string): Promise<number | null> {
  const { rows } = await db.query<{ last_seq: string }>('SELECT last_seq FROM task WHERE id = $1', [taskId]);
  return rows[0] ? Number(rows[0].last_seq) : null;
}
