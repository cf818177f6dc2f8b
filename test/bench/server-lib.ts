/**
 * What the server benchmarks share: databases of their own on a benchmark cluster (one per
 * variant, so that variants never see each other's tasks), template directories written
 * for them, settings files, task creation over HTTP, waiting for tasks to end, and stored
 * tasks cloned in bulk with SQL (rows shaped by the app itself).
 */
import fs from 'node:fs';
import path from 'node:path';
import { Store, type Queryable } from '../../src/store/store.ts';
import { openStore } from './engine-lib.ts';
import { api, median, sleep, tempDir, type BenchCluster, type ServerProcess } from './lib.ts';

/** A 3-step chain of `echo` steps, started at creation (`auto_runnable`) or not. */
export function echoTemplate(name: string, autoRunnable: boolean): string {
  return [
    `name: ${name}`,
    'description: three echo steps, each after the previous',
    `auto_runnable: ${autoRunnable}`,
    'steps:',
    '  first:',
    '    action: {type: echo, configuration: {output: {n: 1}}}',
    '  second:',
    '    dependencies: [first]',
    '    action: {type: echo, configuration: {output: {n: 2}}}',
    '  third:',
    '    dependencies: [second]',
    '    action: {type: echo, configuration: {output: {n: 3}}}',
    '',
  ].join('\n');
}

/** A directory holding `templates` (file name without .yaml → YAML text). */
export function templatesDir(templates: Record<string, string>): string {
  const dir = tempDir('templates');
  for (const [name, text] of Object.entries(templates)) {
    fs.writeFileSync(path.join(dir, `${name}.yaml`), text);
  }
  return dir;
}

/** A taskhost.yaml with `lines` (YAML text) in a directory of its own. */
export function settingsFile(lines: string): string {
  const file = path.join(tempDir('settings'), 'taskhost.yaml');
  fs.writeFileSync(file, lines);
  return file;
}

/** A DATABASE_URL for database `name` of the cluster. */
export function databaseUrl(cluster: BenchCluster, name: string): string {
  const { host, port } = cluster.connection;
  return `postgresql://postgres@localhost:${port}/${name}?host=${encodeURIComponent(host)}`;
}

/** Creates database `name` on the cluster, migrated, and a store on it (the caller closes it). */
export async function createDatabase(cluster: BenchCluster, name: string): Promise<Store> {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bad database name ${name}`);
  const admin = new Store({ ...cluster.connection, application_name: 'taskhost-bench/admin' });
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.close();
  }
  return openStore({ ...cluster.connection, database: name }, `taskhost-bench/${name}`);
}

interface CreatedTaskDoc {
  id: string;
  resolution: { id: string } | null;
}

/**
 * Creates `count` tasks of `template` with POST /task, at most `inFlight` requests at once,
 * spread round-robin over `servers`. Returns their ids in creation order.
 */
export async function createTasks(
  servers: readonly ServerProcess[],
  template: string,
  count: number,
  inFlight: number,
  input: Record<string, unknown> = {},
): Promise<string[]> {
  const ids: string[] = new Array<string>(count);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const index = next;
      next += 1;
      if (index >= count) return;
      const server = servers[index % servers.length] as ServerProcess;
      const task = await api<CreatedTaskDoc>(
        server.url,
        'POST',
        '/task',
        { template_name: template, input },
        [201],
      );
      ids[index] = task.id;
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, count) }, worker));
  return ids;
}

/**
 * Creates `count` tasks of `template` with µTask's `POST /batch` (the counterpart of
 * graphile-worker's addJobs): `batches` requests (default: one a server) of equal shares, sent
 * at once, round-robin over the servers; returns the ids.
 */
export async function createBatchTasks(
  servers: readonly ServerProcess[],
  store: Store,
  template: string,
  count: number,
  batches = servers.length,
): Promise<string[]> {
  const ids = await Promise.all(
    Array.from({ length: batches }, async (_, index) => {
      const server = servers[index % servers.length] as ServerProcess;
      const share = Math.floor(count / batches) + (index < count % batches ? 1 : 0);
      const inputs = Array.from({ length: share }, () => ({}));
      return (
        await api<{ id: string }>(server.url, 'POST', '/batch', { template_name: template, inputs }, [201])
      ).id;
    }),
  );
  const { rows } = await store.query<{ id: string }>('SELECT id FROM task WHERE batch_id = ANY($1::uuid[])', [
    ids,
  ]);
  if (rows.length !== count) throw new Error(`POST /batch made ${rows.length} tasks, not ${count}`);
  return rows.map((row) => row.id);
}

export interface TasksEnd {
  /** Tasks of `ids` by state when all were final (or the time ran out). */
  states: Record<string, number>;
  /** The last task's end as PostgreSQL stamped it (its final transaction's now()), ms since the epoch. */
  lastActivityMs: number;
}

/**
 * Waits until no task of `ids` is TODO or RUNNING (polling every `pollMs`), then reads when
 * the last one ended from the rows themselves (`last_activity`), so that the polling period
 * does not add to the time measured.
 */
export async function waitTasksEnded(
  store: Store,
  ids: readonly string[],
  withinMs: number,
  pollMs = 100,
): Promise<TasksEnd> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const { rows } = await store.query<{ state: string; n: number; last: Date }>(
      `SELECT state, count(*)::int AS n, max(last_activity) AS last FROM task WHERE id = ANY($1::uuid[]) GROUP BY state`,
      [ids],
    );
    const states = Object.fromEntries(rows.map((row) => [row.state, row.n]));
    const live = (states.TODO ?? 0) + (states.RUNNING ?? 0);
    if (live === 0 || Date.now() > deadline) {
      const lastActivityMs = Math.max(...rows.map((row) => new Date(row.last).getTime()));
      return { states, lastActivityMs };
    }
    await sleep(pollMs);
  }
}

/** `states` as "DONE 1000, BLOCKED 2". */
export function describeStates(states: Record<string, number>): string {
  return Object.entries(states)
    .map(([state, n]) => `${state} ${n}`)
    .join(', ');
}

/**
 * A table's columns in order (so the clone below follows whatever the migrations made), but
 * the generated ones (`key_label`), which PostgreSQL computes.
 */
async function columnsOf(store: Queryable, table: string): Promise<string[]> {
  const { rows } = await store.query<{ column_name: string }>(
    `SELECT column_name FROM information_schema.columns
      WHERE table_schema = 'public' AND table_name = $1 AND is_generated = 'NEVER' ORDER BY ordinal_position`,
    [table],
  );
  if (rows.length === 0) throw new Error(`no table ${table}`);
  return rows.map((row) => row.column_name);
}

/**
 * Copies the rows of `table` that belong to the source task (`where`, on alias `s`) once per
 * row of the `clone_ids` table (alias `c`: n, task_id, resolution_id), with `overrides`
 * (column → SQL expression) for the columns that must differ.
 */
async function cloneRows(
  store: Queryable,
  table: string,
  where: string,
  overrides: Record<string, string>,
  values: unknown[],
): Promise<number> {
  const columns = await columnsOf(store, table);
  const select = columns.map((column) => overrides[column] ?? `s.${column}`);
  const result = await store.query(
    `INSERT INTO ${table} (${columns.join(', ')})
     SELECT ${select.join(', ')} FROM clone_ids c CROSS JOIN ${table} s WHERE ${where}`,
    values,
  );
  return result.rowCount ?? 0;
}

export interface CloneCounts {
  tasks: number;
  resolutions: number;
  steps: number;
  events: number;
  runs: number;
}

/**
 * Stores `count` copies of a finished task (its task, resolution, step, event and run rows:
 * whatever the app wrote for it), each with new ids, created one second before the previous
 * (so the source stays the newest). In one transaction per table kind, then ANALYZEd.
 */
export async function cloneTask(store: Store, sourceTaskId: string, count: number): Promise<CloneCounts> {
  return store.transaction(async (db) => {
    await db.query(
      `CREATE TEMP TABLE clone_ids ON COMMIT DROP AS
         SELECT g AS n, gen_random_uuid() AS task_id, gen_random_uuid() AS resolution_id
           FROM generate_series(1, $1::int) AS g`,
      [count],
    );
    const shifted = (column: string): string => `s.${column} - make_interval(secs => c.n)`;
    const tasks = await cloneRows(
      db,
      'task',
      's.id = $1',
      {
        id: 'c.task_id',
        created_at: shifted('created_at'),
        last_activity: shifted('last_activity'),
      },
      [sourceTaskId],
    );
    const resolutions = await cloneRows(
      db,
      'resolution',
      's.task_id = $1',
      {
        id: 'c.resolution_id',
        task_id: 'c.task_id',
        created_at: shifted('created_at'),
        last_start: shifted('last_start'),
        last_stop: shifted('last_stop'),
      },
      [sourceTaskId],
    );
    const steps = await cloneRows(
      db,
      'resolution_step',
      's.resolution_id = (SELECT id FROM resolution WHERE task_id = $1)',
      { resolution_id: 'c.resolution_id', last_run: shifted('last_run') },
      [sourceTaskId],
    );
    const events = await cloneRows(
      db,
      'event',
      's.stream_id = $1',
      { stream_id: 'c.task_id', ts: shifted('ts') },
      [sourceTaskId],
    );
    const runs = await cloneRows(
      db,
      'run',
      's.task_id = $1',
      {
        id: 'gen_random_uuid()',
        task_id: 'c.task_id',
        resolution_id: 'c.resolution_id',
        created_at: shifted('created_at'),
      },
      [sourceTaskId],
    );
    return { tasks, resolutions, steps, events, runs };
  });
}

/** VACUUM ANALYZE, so that the planner knows the tables' new sizes (autovacuum would, later). */
export async function analyze(store: Store): Promise<void> {
  await store.query('VACUUM ANALYZE');
}

/**
 * The median time of an 8 KiB write + fdatasync in `dir` (ms): what each durable commit
 * waits for on this machine's disk, to read the throughputs against.
 */
export function fsyncLatencyMs(dir: string, times = 200): number {
  const file = path.join(dir, 'fsync-probe');
  const fd = fs.openSync(file, 'w');
  const block = Buffer.alloc(8192, 1);
  const samples: number[] = [];
  try {
    for (let i = 0; i < times; i += 1) {
      const started = performance.now();
      fs.writeSync(fd, block, 0, block.length, 0);
      fs.fdatasyncSync(fd);
      samples.push(performance.now() - started);
    }
  } finally {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
  }
  return median(samples);
}
