import type { Queryable } from '../store.ts';

export type PluginSource = 'cli' | 'api' | 'tasks-dir';

export interface PluginRow {
  name: string;
  location: string;
  description: Record<string, unknown>;
  source: PluginSource;
  registered_at: Date;
  updated_at: Date;
}

const COLUMNS = 'name, location, description, source, registered_at, updated_at';

/** Inserts or replaces a registry entry in one statement: a failure leaves the old one. */
export async function upsertPlugin(
  db: Queryable,
  entry: { name: string; location: string; description: object; source: PluginSource },
): Promise<PluginRow> {
  const { rows } = await db.query<PluginRow>(
    `INSERT INTO plugin (name, location, description, source) VALUES ($1, $2, $3, $4)
     ON CONFLICT (name) DO UPDATE
       SET location = EXCLUDED.location, description = EXCLUDED.description,
           source = EXCLUDED.source, updated_at = now()
     RETURNING ${COLUMNS}`,
    [entry.name, entry.location, JSON.stringify(entry.description), entry.source],
  );
  return rows[0] as PluginRow;
}

export async function getPlugin(db: Queryable, name: string): Promise<PluginRow | null> {
  const { rows } = await db.query<PluginRow>(`SELECT ${COLUMNS} FROM plugin WHERE name = $1`, [name]);
  return rows[0] ?? null;
}

export async function listPlugins(db: Queryable): Promise<PluginRow[]> {
  const { rows } = await db.query<PluginRow>(`SELECT ${COLUMNS} FROM plugin ORDER BY name`);
  return rows;
}

export async function deletePlugin(db: Queryable, name: string): Promise<boolean> {
  const { rowCount } = await db.query('DELETE FROM plugin WHERE name = $1', [name]);
  return (rowCount ?? 0) > 0;
}
