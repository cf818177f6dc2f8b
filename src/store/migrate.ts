import fs from 'node:fs';
import path from 'node:path';
import { TaskhostError } from '../errors.ts';
import { MIGRATIONS_DIR } from '../paths.ts';
import type { Store } from './store.ts';

/**
 * Versioned, forward-only SQL migrations (`sql/NNNN_verb_noun.sql`), applied at start.
 * A fast path reads the current version without a lock; when something is missing, all of
 * it is applied in one transaction under an advisory lock, so processes starting together
 * wait for each other and then find the work done.
 */

const LOCK_KEY = 0x7461736b; // "task"
const UNDEFINED_TABLE = '42P01';

interface Migration {
  version: number;
  name: string;
  file: string;
}

export function listMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return fs
    .readdirSync(dir)
    .filter((file) => /^\d{4}_[a-z0-9_]+\.sql$/.test(file))
    .sort()
    .map((file) => ({
      version: Number.parseInt(file.slice(0, 4), 10),
      name: file.slice(5, -4),
      file: path.join(dir, file),
    }));
}

async function currentVersion(store: Store): Promise<number> {
  try {
    const { rows } = await store.query<{ version: number }>(
      'SELECT coalesce(max(version), 0)::int AS version FROM taskhost_migration',
    );
    return rows[0]?.version ?? 0;
  } catch (error) {
    if ((error as { code?: string }).code === UNDEFINED_TABLE) return 0;
    throw error;
  }
}

/** Applies what is missing; returns the versions it applied (none when up to date). */
export async function migrate(store: Store, dir = MIGRATIONS_DIR): Promise<number[]> {
  const migrations = listMigrations(dir);
  const latest = migrations.at(-1)?.version ?? 0;
  const version = await currentVersion(store);
  if (version > latest) {
    throw new TaskhostError(
      'TH_STORE_UNAVAILABLE',
      `the database schema is at version ${version}, newer than this taskhost knows (${latest}); upgrade taskhost`,
    );
  }
  if (version === latest) return [];

  return store.transaction(async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1)', [LOCK_KEY]);
    await client.query(`CREATE TABLE IF NOT EXISTS taskhost_migration (
      version integer PRIMARY KEY,
      name text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const { rows } = await client.query<{ version: number }>('SELECT version FROM taskhost_migration');
    const applied = new Set(rows.map((row) => row.version));
    const done: number[] = [];
    for (const migration of migrations) {
      if (applied.has(migration.version)) continue;
      await client.query('INSERT INTO taskhost_migration (version, name) VALUES ($1, $2)', [
        migration.version,
        migration.name,
      ]);
      await client.query(fs.readFileSync(migration.file, 'utf8'));
      done.push(migration.version);
    }
    return done;
  });
}
