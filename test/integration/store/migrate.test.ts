import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, test } from 'node:test';
import { listMigrations, migrate } from '../../../src/store/migrate.ts';
import { DUE_CONDITION } from '../../../src/store/queries/tasks.ts';
import { Store } from '../../../src/store/store.ts';
import { createTestDatabase, migrateBefore } from '../../helpers/store.ts';

const socket = (): string => process.env.TASKHOST_TEST_PG_SOCKET as string;

async function emptyDatabase(): Promise<{ connect: () => Store }> {
  const name = `m_${randomBytes(5).toString('hex')}`;
  const admin = new Store({ host: socket(), user: 'postgres', database: 'postgres' });
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.close();
  after(async () => {
    const cleanup = new Store({ host: socket(), user: 'postgres', database: 'postgres' });
    await cleanup.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await cleanup.close();
  });
  return { connect: () => new Store({ host: socket(), user: 'postgres', database: name }) };
}

test('migrating an up-to-date database again applies nothing and changes nothing', async () => {
  const { store } = await createTestDatabase();
  await store.query(
    `INSERT INTO plugin (name, location, description, source) VALUES ('kept', '/bin/true', '{}', 'cli')`,
  );
  const before = await store.query('SELECT version, applied_at FROM taskhost_migration ORDER BY version');
  assert.deepEqual(await migrate(store), []);
  assert.deepEqual(await migrate(store), []);
  const afterRows = await store.query('SELECT version, applied_at FROM taskhost_migration ORDER BY version');
  assert.deepEqual(afterRows.rows, before.rows);
  const kept = await store.query('SELECT name FROM plugin');
  assert.deepEqual(kept.rows, [{ name: 'kept' }]);
});

test('two processes migrating a fresh database at once: one applies, the other waits and finds it done', async () => {
  const database = await emptyDatabase();
  const first = database.connect();
  const second = database.connect();
  try {
    const [a, b] = await Promise.all([migrate(first), migrate(second)]);
    const all = listMigrations().map((m) => m.version);
    assert.deepEqual(
      [...a, ...b].sort((x, y) => x - y),
      all,
      'every migration applied exactly once',
    );
    const { rows } = await first.query<{ count: string }>('SELECT count(*) FROM taskhost_migration');
    assert.equal(Number(rows[0]?.count), all.length);
  } finally {
    await first.close();
    await second.close();
  }
});

test('a database newer than this taskhost is refused with a clear message', async () => {
  const database = await emptyDatabase();
  const store = database.connect();
  try {
    await migrate(store);
    await store.query(`INSERT INTO taskhost_migration (version, name) VALUES (9999, 'from_the_future')`);
    await assert.rejects(migrate(store), /schema is at version 9999, newer than this taskhost knows/);
  } finally {
    await store.close();
  }
});

test('migration 12 gives each step of an older database the instance of its latest run', async (t) => {
  const database = await emptyDatabase();
  const store = database.connect();
  t.after(() => store.close());
  await migrateBefore(store, 12);
  const [task, resolution] = [randomUUID(), randomUUID()];
  await store.query(
    `INSERT INTO task (id, template_name, title, state, requester_username) VALUES ($1, 't', 't', 'DONE', 'ann')`,
    [task],
  );
  await store.query(`INSERT INTO resolution (id, task_id, state) VALUES ($1, $2, 'DONE')`, [
    resolution,
    task,
  ]);
  await store.query(
    `INSERT INTO resolution_step (resolution_id, name, state) VALUES ($1, 'retried', 'DONE'), ($1, 'never', 'TODO')`,
    [resolution],
  );
  await store.query(
    `INSERT INTO run (id, plugin_name, origin, state, task_id, resolution_id, step_name, attempt, ran_on)
     VALUES (gen_random_uuid(), 'p', 'task', 'SERVER_ERROR', $1, $2, 'retried', 1, 'old-host/1'),
            (gen_random_uuid(), 'p', 'task', 'DONE', $1, $2, 'retried', 2, 'new-host/2')`,
    [task, resolution],
  );

  assert.ok((await migrate(store)).includes(12));
  const { rows } = await store.query('SELECT name, ran_on FROM resolution_step ORDER BY name');
  assert.deepEqual(rows, [
    { name: 'never', ran_on: null },
    { name: 'retried', ran_on: 'new-host/2' },
  ]);
});

test('migration 14 keeps due the TODO resolutions of auto_runnable templates, and only those', async (t) => {
  const database = await emptyDatabase();
  const store = database.connect();
  t.after(() => store.close());
  await migrateBefore(store, 14);
  const rows = [
    { name: 'auto', state: 'TODO', auto: true },
    { name: 'manual', state: 'TODO', auto: false },
    { name: 'auto-done', state: 'DONE', auto: true },
  ];
  const ids = new Map<string, string>();
  for (const row of rows) {
    const [task, resolution] = [randomUUID(), randomUUID()];
    ids.set(resolution, row.name);
    await store.query(
      `INSERT INTO task (id, template_name, title, state, requester_username) VALUES ($1, $2, 't', 'TODO', 'ann')`,
      [task, row.name],
    );
    await store.query(`INSERT INTO resolution (id, task_id, state, template) VALUES ($1, $2, $3, $4)`, [
      resolution,
      task,
      row.state,
      JSON.stringify({ template: { name: row.name, auto_runnable: row.auto } }),
    ]);
  }

  assert.ok((await migrate(store)).includes(14));
  const due = await store.query<{ id: string }>(`SELECT id FROM resolution WHERE ${DUE_CONDITION}`);
  assert.deepEqual(
    due.rows.map((row) => ids.get(row.id)),
    ['auto'],
  );
  const flagged = await store.query<{ id: string }>('SELECT id FROM resolution WHERE auto_run');
  assert.deepEqual(
    flagged.rows.map((row) => ids.get(row.id)),
    ['auto'],
  );
});
