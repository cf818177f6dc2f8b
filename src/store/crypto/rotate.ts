import type { Queryable, Store } from '../store.ts';
import type { RingCodec } from './codec.ts';
import { ENCRYPTED_TABLES, type EncryptedTable } from './columns.ts';

/**
 * Re-encryption under the ring's newest key: every row whose `key_label` (migration 0009) is
 * one of `stale` (older labels; '' for values still in clear; '*' for a row under several
 * keys) is read, decrypted and written back encrypted with the newest key, `batchSize` rows
 * per transaction. Each batch commits on its own, and the next one is found again through
 * the `key_label` index: a rotation cut short
 * (a killed process, a lost connection) is resumed by running it again, and nothing is done
 * twice. Rows are locked FOR UPDATE while they are rewritten, so a concurrent writer (which
 * encrypts with the newest key anyway) never loses its change.
 */

export interface RotationProgress {
  table: string;
  rows: number;
}

export interface RotationOptions {
  /** Labels to re-encrypt; by default every label of the ring but the newest, and values in clear. */
  stale?: readonly string[];
  batchSize?: number;
  /** Told after each batch (the table and how many of its rows are done so far). */
  onBatch?: (progress: RotationProgress) => void;
}

export interface RotationResult {
  /** Rows rewritten, by table. */
  tables: Record<string, number>;
  rows: number;
}

const DEFAULT_BATCH = 1000;
/** The `key_label` of a row whose values are under different keys. */
const MIXED = '*';

/** The labels of a row's values, as an SQL array (NULL for a value that is NULL). */
function columnLabels({ columns }: EncryptedTable): string {
  return `ARRAY[${columns
    .map(
      (column) => `taskhost_key_label(${column.type === 'jsonb' ? `${column.name} #>> '{}'` : column.name})`,
    )
    .join(', ')}]`;
}

export async function rotateKeys(
  store: Store,
  codec: RingCodec,
  options: RotationOptions = {},
): Promise<RotationResult> {
  const newest = codec.newestLabel;
  const stale = options.stale ?? ['', MIXED, ...codec.keyRing.labels.filter((label) => label !== newest)];
  const result: RotationResult = { tables: {}, rows: 0 };
  for (const table of ENCRYPTED_TABLES) {
    let done = 0;
    for (;;) {
      const rows = await store.transaction((db) =>
        rotateBatch(db, codec, table, stale, options.batchSize ?? DEFAULT_BATCH),
      );
      if (rows === 0) break;
      done += rows;
      options.onBatch?.({ table: table.table, rows: done });
    }
    result.tables[table.table] = done;
    result.rows += done;
  }
  return result;
}

async function rotateBatch(
  db: Queryable,
  codec: RingCodec,
  { table, key, columns }: EncryptedTable,
  stale: readonly string[],
  limit: number,
): Promise<number> {
  const names = [...key.map((column) => column.name), ...columns.map((column) => column.name)];
  const { rows } = await db.query<Record<string, unknown>>(
    `SELECT ${names.join(', ')} FROM ${table} WHERE key_label = ANY($1::text[]) LIMIT $2 FOR UPDATE`,
    [stale, limit],
  );
  if (rows.length === 0) return 0;
  const values: unknown[][] = key.map((column) => rows.map((row) => row[column.name]));
  for (const column of columns) {
    values.push(
      rows.map((row) =>
        column.type === 'text'
          ? codec.text(codec.readText(row[column.name] as string | null))
          : codec.json(codec.readJson(row[column.name])),
      ),
    );
  }
  const types = [...key.map((column) => column.type), ...columns.map((column) => column.type)];
  await db.query(
    `UPDATE ${table} AS t SET ${columns.map((column) => `${column.name} = v.${column.name}`).join(', ')}
       FROM unnest(${types.map((type, index) => `$${index + 1}::${type}[]`).join(', ')}) AS v (${names.join(', ')})
      WHERE ${key.map((column) => `t.${column.name} = v.${column.name}`).join(' AND ')}`,
    values,
  );
  return rows.length;
}

/** How many rows each label encrypts (a row counts once per label it uses), '' for rows in clear. */
export async function countRowsByLabel(db: Queryable): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const table of ENCRYPTED_TABLES) {
    const { rows } = await db.query<{ label: string; n: string }>(
      `SELECT label, count(*) AS n
         FROM ${table.table}, LATERAL (SELECT DISTINCT label FROM unnest(${columnLabels(table)}) AS label
                                       WHERE label IS NOT NULL) AS l
        WHERE key_label IS NOT NULL GROUP BY label`,
    );
    for (const row of rows) counts.set(row.label, (counts.get(row.label) ?? 0) + Number(row.n));
  }
  return counts;
}

/** Whether any row holds a value under one of `labels` (index lookups per table, one statement). */
export async function labelsInUse(db: Queryable, labels: readonly string[]): Promise<boolean> {
  const probes = ENCRYPTED_TABLES.map(
    (table) => `EXISTS (SELECT 1 FROM ${table.table}
        WHERE key_label = ANY($1::text[]) OR (key_label = '${MIXED}' AND ${columnLabels(table)} && $1::text[]))`,
  );
  const { rows } = await db.query<{ used: boolean }>(`SELECT ${probes.join(' OR ')} AS used`, [labels]);
  return rows[0]?.used === true;
}
