import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { engineServices, resolveCallback } from '../../../src/engine/engine.ts';
import type { ResolutionOutcome } from '../../../src/engine/resolver.ts';
import { Scheduler } from '../../../src/engine/scheduler.ts';
import { Instance } from '../../../src/runs/instance.ts';
import { createFromYaml, documentOf, registerFixture, statesOf } from '../../helpers/engine.ts';
import { until } from '../../helpers/processes.ts';
import { createTestDatabase } from '../../helpers/store.ts';

/** The server's scheduler: due resolutions claimed from PostgreSQL by any instance. */

const { store } = await createTestDatabase();

interface Settled {
  resolutionId: string;
  outcome: ResolutionOutcome;
}

/** A scheduler on its own instance (a server), stopped when the test ends; `settled` yields each end. */
async function startScheduler(
  t: TestContext,
  options: { deathTimeoutMs?: number; maxConcurrent?: number } = {},
) {
  const owner = new Instance(store, 'server');
  await owner.start();
  const waiters = new Map<string, (settled: Settled) => void>();
  const ended: Settled[] = [];
  const scheduler = new Scheduler(
    engineServices({ store, owner, scriptsDir: path.join(os.tmpdir(), 'no-scripts') }),
    {
      pollIntervalMs: 60_000, // woken by NOTIFY in these tests, never by the poll
      deathTimeoutMs: options.deathTimeoutMs,
      maxConcurrent: options.maxConcurrent,
      onError: (error) => assert.fail(error as Error),
      onSettled: (resolutionId, outcome) => {
        ended.push({ resolutionId, outcome });
        waiters.get(resolutionId)?.({ resolutionId, outcome });
      },
    },
  );
  await scheduler.start();
  t.after(async () => {
    await scheduler.stop();
    await owner.stop();
  });
  const settledOf = (resolutionId: string): Promise<Settled> => {
    const done = ended.find((entry) => entry.resolutionId === resolutionId);
    if (done) return Promise.resolve(done);
    return new Promise((resolve) => waiters.set(resolutionId, resolve));
  };
  /** The next end of a resolution's run, from now on. */
  const nextSettle = (resolutionId: string): Promise<Settled> =>
    new Promise((resolve) => waiters.set(resolutionId, resolve));
  return { scheduler, owner, ended, settledOf, nextSettle };
}

const AUTO = `
name: auto
description: runs at creation
auto_runnable: true
steps:
  one:
    action: {type: echo, configuration: {output: {n: 1}}}
  two:
    dependencies: [one]
    action: {type: echo, configuration: {output: {n: '{{add step.one.output.n 1}}'}}}
`;

test('an auto_runnable task runs at creation on a scheduler; one that is not stays TODO', async (t) => {
  const { scheduler, settledOf } = await startScheduler(t);
  const manual = await createFromYaml(store, AUTO.replace('auto_runnable: true', 'auto_runnable: false'));
  const auto = await createFromYaml(store, AUTO);
  const settled = await settledOf(auto.resolutionId);
  assert.equal(settled.outcome.state, 'DONE');
  const document = await documentOf(store, auto.taskId);
  assert.deepEqual(statesOf(document), { one: 'DONE', two: 'DONE' });
  await scheduler.claimNow();
  assert.equal((await documentOf(store, manual.taskId)).state, 'TODO');
});

test(
  'a resolution frees its slot when its last statement goes out: the next is claimed while it is written',
  { timeout: 60_000 },
  async (t) => {
    const ONE_STEP = `
name: one-step
description: one echo step, its end written with the settle
auto_runnable: true
steps:
  only:
    action: {type: echo, configuration: {output: {n: 1}}}
`;
    const first = await createFromYaml(store, ONE_STEP);
    const second = await createFromYaml(store, ONE_STEP);
    // The first's step row is locked elsewhere: its claim goes through (it only reads the
    // row), its last statement (the step's end with the settle) waits for the lock.
    let release = (): void => undefined;
    let locked = (): void => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const lockTaken = new Promise<void>((resolve) => (locked = resolve));
    const holder = store.transaction(async (db) => {
      await db.query('SELECT 1 FROM resolution_step WHERE resolution_id = $1 FOR UPDATE', [
        first.resolutionId,
      ]);
      locked();
      await held;
    });
    t.after(() => release());
    await lockTaken;
    const { settledOf, ended } = await startScheduler(t, { maxConcurrent: 1 });
    const stateOf = async (id: string): Promise<string> =>
      (await store.query<{ state: string }>('SELECT state FROM resolution WHERE id = $1', [id])).rows[0]
        ?.state ?? '';
    // One at a time, yet the second is claimed while the first's settle waits.
    const claimed = await until(
      async () => ((await stateOf(second.resolutionId)) === 'RUNNING' ? true : undefined),
      30_000,
    );
    assert.equal(claimed, true, 'the second resolution was claimed while the first was settling');
    assert.equal(await stateOf(first.resolutionId), 'RUNNING');
    assert.equal(ended.length, 0);
    release();
    await holder;
    assert.equal((await settledOf(first.resolutionId)).outcome.state, 'DONE');
    assert.equal((await settledOf(second.resolutionId)).outcome.state, 'DONE');
  },
);

test('two instances share 30 tasks: every task DONE, every step run once, no resolution claimed twice', async (t) => {
  const first = await startScheduler(t);
  const second = await startScheduler(t);
  const created: { taskId: string; resolutionId: string }[] = [];
  for (let index = 0; index < 30; index += 1) created.push(await createFromYaml(store, AUTO));
  const outcomes = await Promise.all(
    created.map(({ resolutionId }) =>
      Promise.race([first.settledOf(resolutionId), second.settledOf(resolutionId)]),
    ),
  );
  assert.ok(outcomes.every((settled) => settled.outcome.state === 'DONE'));
  const claims = [...first.ended, ...second.ended].filter((entry) =>
    created.some((task) => task.resolutionId === entry.resolutionId),
  );
  assert.equal(claims.length, 30, 'each resolution was run by exactly one instance');
  // Echo steps have no runs: each step row counts the executions it started.
  const { rows } = await store.query<{ n: number; once: number }>(
    `SELECT count(*)::int AS n, (count(*) FILTER (WHERE executions = 1))::int AS once FROM resolution_step
      WHERE resolution_id = ANY($1::uuid[])`,
    [created.map((task) => task.resolutionId)],
  );
  assert.deepEqual(rows[0], { n: 60, once: 60 });
});

test('a callback call wakes a waiting resolution on whichever instance, which then ends DONE', async (t) => {
  const { settledOf, nextSettle } = await startScheduler(t);
  const { resolutionId, taskId } = await createFromYaml(
    store,
    `
name: waits
description: waits for a callback
auto_runnable: true
steps:
  create:
    action: {type: callback, configuration: {action: create}}
  wait:
    dependencies: [create]
    action: {type: callback, configuration: {action: wait, id: '{{step.create.output.id}}'}}
`,
  );
  assert.equal((await settledOf(resolutionId)).outcome.state, 'WAITING');
  const url = new URL(((await documentOf(store, taskId)).steps.create?.output as { url: string }).url);
  const id = url.pathname.split('/').pop() as string;
  const again = nextSettle(resolutionId);
  await resolveCallback(store, id, url.searchParams.get('t') as string, { ok: true });
  assert.equal((await again).outcome.state, 'DONE');
  assert.deepEqual((await documentOf(store, taskId)).steps.wait?.output, {
    id,
    body: { ok: true },
    date: ((await documentOf(store, taskId)).steps.wait?.output as { date: string }).date,
  });
});

test('a server instance that stopped heartbeating is re-collected: its idempotent step re-run, the other blocked', async (t) => {
  // A dead server: its row's heartbeat is old, and it held two RUNNING resolutions.
  const dead = new Instance(store, 'server');
  await store.query(
    `INSERT INTO instance (id, kind, hostname, pid, version, heartbeat_at)
     VALUES ($1, 'server', 'elsewhere', 1, 'x', now() - interval '10 minutes')`,
    [dead.id],
  );
  await registerFixture(store, 'ok', 'ok.sh');
  const held = async (idempotent: boolean) => {
    const task = await createFromYaml(
      store,
      `
name: held
description: was running on a dead instance
steps:
  work:
    idempotent: ${idempotent}
    action: {type: ok, configuration: {name: again}}
`,
    );
    await store.query(
      `UPDATE resolution SET state = 'RUNNING', instance_id = $2, run_count = 1 WHERE id = $1`,
      [task.resolutionId, dead.id],
    );
    await store.query(
      `UPDATE resolution_step SET state = 'RUNNING', executions = 1 WHERE resolution_id = $1`,
      [task.resolutionId],
    );
    await store.query(
      `INSERT INTO run (id, plugin_name, origin, state, task_id, step_name, attempt, resolution_id, instance_id)
       VALUES (gen_random_uuid(), 'ok', 'task', 'RUNNING', $1, 'work', 1, $2, $3)`,
      [task.taskId, task.resolutionId, dead.id],
    );
    return task;
  };
  const rerun = await held(true);
  const blocked = await held(false);
  const { settledOf } = await startScheduler(t, { deathTimeoutMs: 30_000 });
  assert.equal((await settledOf(rerun.resolutionId)).outcome.state, 'DONE');
  assert.equal((await settledOf(blocked.resolutionId)).outcome.state, 'BLOCKED_TOCHECK');
  assert.equal((await documentOf(store, blocked.taskId)).steps.work?.state, 'CRASHED');
  const { rows } = await store.query<{
    step_name: string;
    attempt: number;
    state: string;
    error: string | null;
  }>(`SELECT step_name, attempt, state, error FROM run WHERE resolution_id = $1 ORDER BY attempt`, [
    rerun.resolutionId,
  ]);
  assert.deepEqual(
    rows.map((row) => [row.attempt, row.state]),
    [
      [1, 'SERVER_ERROR'],
      [2, 'DONE'],
    ],
  );
  assert.match(store.codec.readText(rows[0]?.error ?? ''), /stopped heartbeating/);
  const gone = await store.query('SELECT 1 FROM instance WHERE id = $1', [dead.id]);
  assert.equal(gone.rows.length, 0);
});
