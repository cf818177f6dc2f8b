import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { RingCodec } from '../../../src/store/crypto/codec.ts';
import { addKey, listKeys, prepareEncryption, removeKey } from '../../../src/store/crypto/encryption.ts';
import { rotateKeys } from '../../../src/store/crypto/rotate.ts';
import { freshRing, writeKeyRing } from '../../../src/store/crypto/key-ring.ts';
import { migrate } from '../../../src/store/migrate.ts';
import { openStore } from '../../../src/store/open.ts';
import { listComments, insertComment } from '../../../src/store/queries/comments.ts';
import { appendEvents, eventsSince, type StreamEvent } from '../../../src/store/queries/events.ts';
import { finishRun, getRun, insertRun } from '../../../src/store/queries/runs.ts';
import {
  getResolutionOfTask,
  getTask,
  insertNewTask,
  loadSteps,
  updateTask,
} from '../../../src/store/queries/tasks.ts';
import { Store } from '../../../src/store/store.ts';
import { assertExit, assertOneLineError, cliEnv, taskhost } from '../../helpers/cli.ts';
import { dumpAllRows, ringLabels } from '../../helpers/encryption.ts';
import { tempDir } from '../../helpers/plugin-fixtures.ts';
import { createTestDatabase, migrateBefore } from '../../helpers/store.ts';

/**
 * The key ring against the database: created on first start, a ring that lacks a label in
 * use refuses to start (naming it), `key remove` refused while the key is used, and a
 * plaintext database converted by the migration step.
 */

function logLine(seq: number, text: string): StreamEvent {
  return {
    seq,
    type: 'log',
    step: null,
    stream: 'stdout',
    line: text,
    state: null,
    ts: new Date().toISOString(),
  };
}

/** An empty database of the suite's cluster (no migration), dropped after the test. */
async function emptyDatabase(t: TestContext): Promise<{ store: Store; url: string }> {
  const socket = process.env.TASKHOST_TEST_PG_SOCKET as string;
  const name = `t_${randomBytes(6).toString('hex')}`;
  const admin = new Store({ host: socket, port: 5432, user: 'postgres', database: 'postgres', max: 1 });
  await admin.query(`CREATE DATABASE ${name}`);
  const store = new Store({ host: socket, port: 5432, user: 'postgres', database: name });
  t.after(async () => {
    await store.close();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.close();
  });
  return { store, url: `postgresql://postgres@localhost/${name}?host=${encodeURIComponent(socket)}` };
}

/** A TODO task of ann's with a resolution and no step, its values written with `store`'s codec. */
async function insertBareTask(
  store: Store,
  task: { id: string; templateName: string; title: string; input: Record<string, unknown> },
): Promise<void> {
  await insertNewTask(store, {
    task: { ...task, state: 'TODO', requester: 'ann' },
    resolution: {
      id: randomUUID(),
      taskId: task.id,
      state: 'TODO',
      resolver: 'ann',
      resolverInput: {},
      template: {},
      autoRun: false,
      runMax: 10,
    },
    steps: [],
    comment: null,
    notifyDue: false,
  });
}

test('the ring is created 0600 on first start; a ring that lacks a label in use, or none at all, refuses to start naming it', async (t) => {
  const database = await createTestDatabase();
  const cwd = tempDir(t);
  const env = cliEnv({ DATABASE_URL: database.url, TASKHOST_KEYS_FILE: '' });
  assertExit(await taskhost(['key', 'list'], { cwd, env }), 0);
  const keysFile = path.join(cwd, '.taskhost', 'keys.json');
  assert.equal(fs.statSync(keysFile).mode & 0o777, 0o600);
  const [label] = ringLabels(keysFile);

  const elsewhere = path.join(cwd, 'other-keys.json');
  const missing = assertOneLineError(
    await taskhost(['key', 'list'], { cwd, env: { ...env, TASKHOST_KEYS_FILE: elsewhere } }),
    2,
  );
  assert.match(
    missing,
    new RegExp(`${elsewhere} does not exist, but the database holds values encrypted under key ${label}`),
  );
  assert.equal(fs.existsSync(elsewhere), false, 'no ring is made up for a database that has one');

  writeKeyRing(freshRing(elsewhere));
  const lacking = assertOneLineError(
    await taskhost(['key', 'list'], { cwd, env: { ...env, TASKHOST_KEYS_FILE: elsewhere } }),
    2,
  );
  assert.match(lacking, new RegExp(`the key ring ${elsewhere} lacks key ${label}, which the database uses`));

  // taskhost.yaml's encryption.keys_file names the ring too.
  fs.writeFileSync(path.join(cwd, 'taskhost.yaml'), `encryption:\n  keys_file: ${elsewhere}\n`);
  assert.match(
    assertOneLineError(await taskhost(['key', 'list'], { cwd, env }), 2),
    new RegExp(`lacks key ${label}`),
  );
});

test('key remove: refused for the newest key and for a key still in use, unknown labels named', async (t) => {
  const database = await createTestDatabase();
  const cwd = tempDir(t);
  const env = cliEnv({ DATABASE_URL: database.url });
  const keysFile = path.join(cwd, 'keys.json');
  database.store.codec = await prepareEncryption(database.store, keysFile);
  await appendEvents(database.store, randomUUID(), [logLine(1, 'under the first key')]);
  const [first] = ringLabels(keysFile);
  const withKeys = { cwd, env: { ...env, TASKHOST_KEYS_FILE: keysFile } };

  assert.match(
    assertOneLineError(await taskhost(['key', 'remove', first as string], withKeys), 2),
    /is the newest/,
  );
  assertExit(await taskhost(['key', 'add'], withKeys), 0);
  assert.match(
    assertOneLineError(await taskhost(['key', 'remove', first as string], withKeys), 2),
    new RegExp(`key ${first} still encrypts stored values`),
  );
  assert.match(
    assertOneLineError(await taskhost(['key', 'remove', 'k9-nope'], withKeys), 2),
    /has no key k9-nope/,
  );
  assert.equal(ringLabels(keysFile).length, 2, 'the ring is unchanged');
});

test('a database filled in clear before encryption existed is converted at start, and reads back the same', async (t) => {
  const { store, url } = await emptyDatabase(t);
  // The schema as it was before migration 0009 (encryption), filled through the store's own writes in clear.
  await migrateBefore(store, 9);
  const mark = `MARK${randomBytes(6).toString('hex')}`;
  const taskId = randomUUID();
  const resolutionId = randomUUID();
  const runId = randomUUID();
  // Task, resolution and step rows as the store wrote them then, in SQL: today's task write
  // names columns added since.
  await store.query(
    `INSERT INTO task (id, template_name, title, state, requester_username, input, result)
     VALUES ($1, 'plain', $2, 'DONE', 'ann', $3, $4)`,
    [
      taskId,
      `title ${mark}`,
      JSON.stringify({ secret: `${mark}-input` }),
      JSON.stringify({ r: `${mark}-result` }),
    ],
  );
  await store.query(
    `INSERT INTO resolution (id, task_id, state, resolver_username, resolver_input, template, run_max)
     VALUES ($1, $2, 'DONE', 'ann', $3, '{}', 10)`,
    [resolutionId, taskId, JSON.stringify({ note: `${mark}-resolver` })],
  );
  await store.query(
    `INSERT INTO resolution_step (resolution_id, name, state, try_count, executions, output, metadata, error)
     VALUES ($1, 'one', 'DONE', 1, 1, $2, $3, $4)`,
    [
      resolutionId,
      JSON.stringify({ o: `${mark}-output` }),
      JSON.stringify({ m: `${mark}-metadata` }),
      `${mark}-step-error`,
    ],
  );
  await insertRun(store, {
    id: runId,
    pluginName: 'p',
    origin: 'cli',
    data: { d: `${mark}-data` },
    state: 'RUNNING',
  });
  await finishRun(store, runId, {
    state: 'DONE',
    result: { x: `${mark}-run-result` },
    error: `${mark}-run-error`,
    exitCode: 0,
    signal: null,
    killReason: null,
    droppedLines: 0,
    droppedBytes: 0,
    lastSeq: 2,
  });
  await appendEvents(store, runId, [
    logLine(1, `${mark}-log`),
    { ...logLine(2, ''), type: 'run', line: null, data: { error: `${mark}-event-data` } },
  ]);
  await insertComment(store, { id: randomUUID(), taskId, username: 'ann', content: `${mark}-comment` });
  assert.ok((await dumpAllRows(store)).includes(mark), 'the rows start in clear');

  const keysFile = path.join(tempDir(t), 'keys.json');
  const opened = await openStore({ databaseUrl: url, keysFile });
  t.after(() => opened.close());
  assert.ok(opened.codec instanceof RingCodec);
  const dump = await dumpAllRows(store);
  const at = dump.indexOf(mark);
  assert.equal(at, -1, `converted: ${dump.slice(Math.max(0, at - 200), at + 100)}`);

  const task = await getTask(opened, taskId);
  assert.equal(task?.title, `title ${mark}`);
  assert.deepEqual(task?.input, { secret: `${mark}-input` });
  assert.deepEqual(task?.result, { r: `${mark}-result` });
  assert.deepEqual((await getResolutionOfTask(opened, taskId))?.resolver_input, { note: `${mark}-resolver` });
  const [step] = await loadSteps(opened, resolutionId);
  assert.deepEqual(
    [step?.output, step?.metadata, step?.error],
    [{ o: `${mark}-output` }, { m: `${mark}-metadata` }, `${mark}-step-error`],
  );
  const run = await getRun(opened, runId);
  assert.deepEqual(
    [run?.data, run?.result, run?.error],
    [{ d: `${mark}-data` }, { x: `${mark}-run-result` }, `${mark}-run-error`],
  );
  const events = await eventsSince(opened, runId, 0);
  assert.deepEqual(
    events.map((event) => [event.line, event.data ?? null]),
    [
      [`${mark}-log`, null],
      [null, { error: `${mark}-event-data` }],
    ],
  );
  assert.deepEqual(
    (await listComments(opened, taskId)).map((comment) => comment.content),
    [`${mark}-comment`],
  );
  // A second start finds nothing left to convert and the same ring.
  const again = await openStore({ databaseUrl: url, keysFile });
  await again.close();
  assert.equal(ringLabels(keysFile).length, 1);
});

test('a database created with encryption in its schema is not scanned for values in clear at start', async (t) => {
  const { store, url } = await emptyDatabase(t);
  await migrate(store); // every migration in one transaction: encryption from the first row on
  // A title in clear, as only a writer outside the codec could leave (none does): found by the
  // scan that converts a database filled before migration 0009, which this start skips.
  const mark = `MARK${randomBytes(6).toString('hex')}`;
  const taskId = randomUUID();
  await insertBareTask(store, { id: taskId, templateName: 'plain', title: mark, input: {} });
  const keysFile = path.join(tempDir(t), 'keys.json');
  const opened = await openStore({ databaseUrl: url, keysFile });
  await opened.close();
  assert.ok((await dumpAllRows(store)).includes(mark), 'left as it was: no scan');
  // Upgraded from before 0009 (its migration 9 applied after migration 1): the scan runs.
  await store.query(
    `UPDATE taskhost_migration SET applied_at = applied_at + interval '1 day' WHERE version = 9`,
  );
  const reopened = await openStore({ databaseUrl: url, keysFile });
  await reopened.close();
  assert.equal((await dumpAllRows(store)).includes(mark), false, 'converted');
});

test('a row whose values are under two keys (one rewritten after key add) counts for both, keeps the old key, and is rotated', async (t) => {
  const database = await createTestDatabase();
  const store = database.store;
  const codec = await prepareEncryption(store, path.join(tempDir(t), 'keys.json'));
  store.codec = codec;
  const taskId = randomUUID();
  await insertBareTask(store, { id: taskId, templateName: 'mixed', title: 'a title', input: { a: 1 } });
  const first = codec.newestLabel;
  const second = await addKey(store, codec);
  await updateTask(store, taskId, { result: { done: true } });
  const label = async (): Promise<string> =>
    (await store.query<{ key_label: string }>('SELECT key_label FROM task WHERE id = $1', [taskId])).rows[0]
      ?.key_label as string;
  assert.equal(await label(), '*');
  const { keys } = await listKeys(store, codec);
  assert.deepEqual(
    keys.map((key) => [key.label, key.rows]),
    [
      [first, 2], // the task and its resolution (its resolver inputs)
      [second, 1],
    ],
  );
  await assert.rejects(removeKey(store, codec, first), { code: 'TH_KEY_IN_USE' });
  const rotated = await rotateKeys(store, codec);
  assert.equal(rotated.tables.task, 1);
  assert.equal(await label(), second);
  await removeKey(store, codec, first);
  const task = await getTask(store, taskId);
  assert.deepEqual([task?.title, task?.input, task?.result], ['a title', { a: 1 }, { done: true }]);
});
