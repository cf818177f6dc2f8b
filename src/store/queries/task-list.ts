import type { Queryable } from '../store.ts';

/** A task as lists show it: the task and its resolution, no steps. */
export interface TaskListRow {
  id: string;
  template_name: string;
  title: string;
  state: string;
  requester_username: string;
  resolver_usernames: string[];
  watcher_usernames: string[];
  tags: Record<string, string>;
  created_at: Date;
  last_activity: Date;
  resolution_id: string | null;
  resolution_state: string | null;
  run_count: number | null;
  next_retry: Date | null;
}

export interface TaskListFilter {
  state?: string;
  template?: string;
  /** The id of the previous page's last task: this page starts after it. */
  last?: string;
  pageSize: number;
}

/** One page of tasks, newest first (created, then id: a stable order for `last`). */
export async function listTasks(db: Queryable, filter: TaskListFilter): Promise<TaskListRow[]> {
  const conditions: string[] = [];
  const values: unknown[] = [];
  const where = (sql: string, value: unknown): void => {
    values.push(value);
    conditions.push(sql.replace('?', `$${values.length}`));
  };
  if (filter.state) where('t.state = ?', filter.state);
  if (filter.template) where('t.template_name = ?', filter.template.trim().toLowerCase());
  if (filter.last) {
    where('(t.created_at, t.id) < (SELECT created_at, id FROM task WHERE id = ?)', filter.last);
  }
  values.push(filter.pageSize);
  const { rows } = await db.query<TaskListRow>(
    `SELECT t.id, t.template_name, t.title, t.state, t.requester_username, t.resolver_usernames,
            t.watcher_usernames, t.tags, t.created_at, t.last_activity,
            r.id AS resolution_id, r.state AS resolution_state, r.run_count, r.next_retry
       FROM task t LEFT JOIN resolution r ON r.task_id = t.id
      ${conditions.length ? `WHERE ${conditions.join(' AND ')}` : ''}
      ORDER BY t.created_at DESC, t.id DESC LIMIT $${values.length}`,
    values,
  );
  return rows;
}

/** The seq of a task's last stored event (the task row numbers its events), or null for no task. */
export async function taskLastSeq(db: Queryable, taskId: string): Promise<number | null> {
  const { rows } = await db.query<{ last_seq: string }>('SELECT last_seq FROM task WHERE id = $1', [taskId]);
  return rows[0] ? Number(rows[0].last_seq) : null;
}
