import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { PLAINTEXT_CODEC, RingCodec, type ValueCodec } from '../../src/store/crypto/codec.ts';
import { createKeyRing } from '../../src/store/crypto/key-ring.ts';
import { listMigrations, migrate } from '../../src/store/migrate.ts';
import { Store } from '../../src/store/store.ts';

/** The migrated database every test database is cloned from (made by test/run.ts). */
export const TEMPLATE_DATABASE = 'taskhost_template';

function socketDir(): string {
  const dir = process.env.TASKHOST_TEST_PG_SOCKET;
  if (!dir) throw new Error('TASKHOST_TEST_PG_SOCKET is not set: run the tests with `npm test`');
  return dir;
}

export interface TestDatabase {
  store: Store;
  /** A DATABASE_URL for this database, for spawned `taskhost` processes. */
  url: string;
  name: string;
}

/**
 * The codec of the suite's key ring (test/run.ts), the one every spawned taskhost encrypts
 * with: a test store reads and writes values as `serve` and the CLI do (raw SQL reads of an
 * encrypted column decode with it: `store.codec.readText`, `readJson`).
 */
export function suiteCodec(): ValueCodec {
  const keysFile = process.env.TASKHOST_TEST_KEYS_FILE;
  return keysFile ? new RingCodec(createKeyRing(keysFile)) : PLAINTEXT_CODEC;
}

const admin = (): Store =>
  new Store({ host: socketDir(), port: 5432, user: 'postgres', database: 'postgres', max: 1 });

/**
 * A fresh, migrated database for this test file (a copy of the template), dropped when
 * the file's tests are done.
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `t_${randomBytes(6).toString('hex')}`;
  const control = admin();
  await control.query(`CREATE DATABASE ${name} TEMPLATE ${TEMPLATE_DATABASE}`);
  await control.close();
  const store = new Store({
    host: socketDir(),
    port: 5432,
    user: 'postgres',
    database: name,
    application_name: 'taskhost/test',
  });
  store.codec = suiteCodec();
  after(async () => {
    await store.close();
    const cleanup = admin();
    await cleanup.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await cleanup.close();
  });
  return {
    store,
    name,
    url: `postgresql://postgres@localhost/${name}?host=${encodeURIComponent(socketDir())}`,
  };
}

/**
 * Migrates `store` to the schema as it was before migration `version` (the migrations below
 * it alone, copied to a directory of their own): a database that an older taskhost made.
 * `migrate(store)` afterwards applies the rest, as an upgrade does.
 */
export async function migrateBefore(store: Store, version: number): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'taskhost-migrations-'));
  try {
    for (const migration of listMigrations().filter((m) => m.version < version)) {
      fs.copyFileSync(migration.file, path.join(dir, path.basename(migration.file)));
    }
    await migrate(store, dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
