/**
 * What the engine benchmarks share: the templates they run (chains and a foreach, written
 * as YAML so that they go through the loader's checks like a user's), a migrated store on a
 * benchmark cluster, and one task run in this process through the engine's own API (what
 * `taskhost run` does after loading the template).
 */
import os from 'node:os';
import path from 'node:path';
import {
  createTask,
  engineServices,
  resolveUntilSettled,
  snapshotOf,
  type TemplateSnapshot,
} from '../../src/engine/engine.ts';
import { BUILTIN_ACTIONS } from '../../src/plugins/builtins.ts';
import { migrate } from '../../src/store/migrate.ts';
import { listPlugins } from '../../src/store/queries/plugins.ts';
import { Store } from '../../src/store/store.ts';
import { formatIssue } from '../../src/template/errors.ts';
import { NO_FUNCTIONS } from '../../src/template/functions.ts';
import { loadTemplateText } from '../../src/template/load.ts';
import type { BenchCluster } from './lib.ts';

/** Step names that sort in chain order: s0000, s0001, ... */
export function stepName(index: number): string {
  return `s${String(index).padStart(4, '0')}`;
}

/**
 * A template of `length` steps, each depending on the one before, every step running
 * `action` (a flow-style YAML mapping, e.g. `{type: echo, configuration: {output: {}}}`).
 */
export function chainTemplate(name: string, length: number, action: (index: number) => string): string {
  const lines = [
    `name: ${name}`,
    `description: a chain of ${length} steps, each after the previous`,
    'steps:',
  ];
  for (let index = 0; index < length; index += 1) {
    lines.push(`  ${stepName(index)}:`);
    if (index > 0) lines.push(`    dependencies: [${stepName(index - 1)}]`);
    lines.push(`    action: ${action(index)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** A template whose one step is a foreach over the `items` input, one echo child per item. */
export function foreachTemplate(name: string): string {
  return [
    `name: ${name}`,
    'description: one echo child per item of the input list',
    'inputs:',
    '  - name: items',
    '    collection: true',
    'steps:',
    '  each:',
    "    foreach: '{{toJson input.items}}'",
    '    action:',
    '      type: echo',
    '      configuration:',
    "        output: {item: '{{iterator}}'}",
    '',
  ].join('\n');
}

/** A store on the benchmark cluster's database, migrated (a no-op when it already is). */
export async function openStore(
  connection: BenchCluster['connection'],
  applicationName: string,
): Promise<Store> {
  const store = new Store({ ...connection, application_name: applicationName });
  await migrate(store);
  return store;
}

/** Loads a template from YAML text with the loader's every check; throws with its issues. */
export async function loadSnapshot(store: Store, yaml: string, file: string): Promise<TemplateSnapshot> {
  const names = new Set([...BUILTIN_ACTIONS, ...(await listPlugins(store)).map((row) => row.name)]);
  const { template: loaded, issues } = loadTemplateText(file, yaml, {
    functions: NO_FUNCTIONS,
    isKnownAction: (type) => names.has(type),
    actionNames: [...names],
  });
  if (!loaded) throw new Error(`${file} is invalid:\n${issues.map(formatIssue).join('\n')}`);
  return snapshotOf(loaded.file, loaded.template, NO_FUNCTIONS);
}

export interface InProcessRun {
  taskId: string;
  resolutionId: string;
  taskState: string;
  /** From just before createTask to the settled resolution (every transition committed). */
  ms: number;
}

/** Creates a task from `snapshot` and resolves it here until settled, as `taskhost run` does. */
export async function runInProcess(
  store: Store,
  snapshot: TemplateSnapshot,
  input: Record<string, unknown> = {},
): Promise<InProcessRun> {
  const started = performance.now();
  const { taskId, resolutionId } = await createTask(store, { snapshot, input, requester: 'bench' });
  const services = engineServices({ store, scriptsDir: path.join(os.tmpdir(), 'taskhost-bench-no-scripts') });
  const outcome = await resolveUntilSettled(services, resolutionId);
  return { taskId, resolutionId, taskState: outcome.taskState, ms: performance.now() - started };
}

/** How many step state changes a task committed (its `step` events). */
export async function stepTransitions(store: Store, taskId: string): Promise<number> {
  const { rows } = await store.query<{ n: string }>(
    `SELECT count(*) AS n FROM event WHERE stream_id = $1 AND type = 'step'`,
    [taskId],
  );
  return Number(rows[0]?.n ?? 0);
}

/** How many of a resolution's steps are in `state`. */
export async function stepsInState(store: Store, resolutionId: string, state: string): Promise<number> {
  const { rows } = await store.query<{ n: string }>(
    `SELECT count(*) AS n FROM resolution_step WHERE resolution_id = $1 AND state = $2`,
    [resolutionId, state],
  );
  return Number(rows[0]?.n ?? 0);
}

/** The database's write position: next xid to assign, and the WAL insert location. */
export async function writeMark(store: Store): Promise<{ xid: bigint; lsn: string }> {
  const { rows } = await store.query<{ xid: string; lsn: string }>(
    `SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS xid, pg_current_wal_insert_lsn()::text AS lsn`,
  );
  const row = rows[0] as { xid: string; lsn: string };
  return { xid: BigInt(row.xid), lsn: row.lsn };
}

export async function writesSince(
  store: Store,
  mark: { xid: bigint; lsn: string },
): Promise<{ xids: number; walBytes: number }> {
  const now = await writeMark(store);
  const { rows } = await store.query<{ bytes: string }>(`SELECT pg_wal_lsn_diff($1, $2)::text AS bytes`, [
    now.lsn,
    mark.lsn,
  ]);
  return { xids: Number(now.xid - mark.xid), walBytes: Number(rows[0]?.bytes ?? Number.NaN) };
}
