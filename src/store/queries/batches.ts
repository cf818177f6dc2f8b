import type { Queryable } from '../store.ts';

/** A group of tasks created together (µTask's batch): only an id, which lists filter on. */
export async function insertBatch(db: Queryable, id: string): Promise<void> {
  await db.query('INSERT INTO batch (id) VALUES ($1)', [id]);
}

export async function batchExists(db: Queryable, id: string): Promise<boolean> {
  const { rows } = await db.query('SELECT 1 FROM batch WHERE id = $1', [id]);
  return rows.length > 0;
}
