import type { Queryable } from '../store.ts';

/** A taskhost process that owns runs (and, later, resolutions): see sql/0003_supervise_runs.sql. */
export interface InstanceRow {
  id: string;
  kind: 'cli' | 'server';
  hostname: string;
  pid: number;
  /** `BOOT:TICKS`, or null where the platform does not tell. */
  process_start: string | null;
  version: string;
}

/** How runs and steps name the instance that ran them: `HOSTNAME/PID`. */
export function instanceName(instance: Pick<InstanceRow, 'hostname' | 'pid'>): string {
  return `${instance.hostname}/${instance.pid}`;
}

/** The columns of an instance row, in the order of INSTANCE_VALUES' parameters. */
export function instanceParams(instance: InstanceRow): unknown[] {
  return [
    instance.id,
    instance.kind,
    instance.hostname,
    instance.pid,
    instance.process_start,
    instance.version,
  ];
}

/**
 * `INSERT INTO instance … ON CONFLICT DO NOTHING` with its parameters starting at `$first`:
 * idempotent, so it can ride along with the first statement that needs the row (a run's
 * insert) instead of costing a round trip and a commit of its own.
 */
export function insertInstanceSql(first: number): string {
  const p = (i: number): string => `$${first + i}`;
  return `INSERT INTO instance (id, kind, hostname, pid, process_start, version)
          VALUES (${p(0)}::uuid, ${p(1)}, ${p(2)}, ${p(3)}::int, ${p(4)}, ${p(5)})
          ON CONFLICT (id) DO NOTHING`;
}

export async function insertInstance(db: Queryable, instance: InstanceRow): Promise<void> {
  await db.query(insertInstanceSql(1), instanceParams(instance));
}

export async function heartbeatInstance(db: Queryable, id: string): Promise<void> {
  await db.query('UPDATE instance SET heartbeat_at = now() WHERE id = $1', [id]);
}

export async function deleteInstances(db: Queryable, ids: readonly string[]): Promise<void> {
  if (ids.length > 0) await db.query('DELETE FROM instance WHERE id = ANY($1::uuid[])', [ids]);
}

/** The instances recorded on `hostname`, but `exceptId` (the caller's own). */
export async function instancesOnHost(
  db: Queryable,
  hostname: string,
  exceptId: string | null,
): Promise<InstanceRow[]> {
  const { rows } = await db.query<InstanceRow>(
    `SELECT id, kind, hostname, pid, process_start, version FROM instance
      WHERE hostname = $1 AND ($2::uuid IS NULL OR id <> $2::uuid)`,
    [hostname, exceptId],
  );
  return rows;
}
