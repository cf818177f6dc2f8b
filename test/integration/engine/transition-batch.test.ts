import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { newStepRow } from '../../../src/engine/live-step.ts';
import { TransitionBatcher } from '../../../src/engine/transition-batcher.ts';
import { Instance } from '../../../src/runs/instance.ts';
import { writeTransitions, type FencedTransition } from '../../../src/store/queries/transition-batch.ts';
import { claimResolution, type StoredTransition } from '../../../src/store/queries/tasks.ts';
import { isTaskhostError } from '../../../src/errors.ts';
import { createFromYaml, taskEvents } from '../../helpers/engine.ts';
import { createTestDatabase } from '../../helpers/store.ts';

const { store } = await createTestDatabase();
const owner = new Instance(store, 'server');

const TWO_STEPS = `
name: two-steps
description: two echo steps
steps:
  first:
    action: {type: echo, configuration: {output: {n: 1}}}
  second:
    dependencies: [first]
    action: {type: echo, configuration: {output: {n: 2}}}
`;

/** A task whose resolution this test's instance has claimed (its task RUNNING, seq 2). */
async function claimedTask(): Promise<{ taskId: string; resolutionId: string }> {
  const { taskId, resolutionId } = await createFromYaml(store, TWO_STEPS);
  const claim = await claimResolution(store, resolutionId, owner.claim());
  assert.equal(claim.busy, false);
  return { taskId, resolutionId };
}

/** The first step's end, as the engine writes it: its event, its row, a settle if asked. */
function firstDone(
  task: { taskId: string; resolutionId: string },
  options: { fenceOwner?: string; taskState?: string; settle?: boolean } = {},
): FencedTransition {
  return {
    taskId: task.taskId,
    events: [
      { type: 'step', step: 'first', state: 'DONE' },
      ...(options.taskState ? [{ type: 'task' as const, state: options.taskState }] : []),
    ],
    write: {
      resolutionId: task.resolutionId,
      steps: [
        {
          ...newStepRow('first'),
          state: 'DONE',
          try_count: 1,
          executions: 1,
          last_run: new Date().toISOString(),
          output: { n: 1 },
        },
      ],
      removed: [],
      runStarts: [],
      runEnds: [],
      runProcesses: [],
      task: options.taskState ? { state: options.taskState, result: { done: true } } : undefined,
      resolutionEnd: options.settle ? { state: 'DONE', nextRetry: null, lastStop: new Date() } : undefined,
    },
    fence: { resolutionId: task.resolutionId, ownerId: options.fenceOwner ?? owner.id },
  };
}

async function stateOf(task: { taskId: string; resolutionId: string }) {
  const { rows } = await store.query<{
    task: string;
    last_seq: string;
    result: unknown;
    resolution: string;
    instance_id: string | null;
    first: string;
  }>(
    `SELECT t.state AS task, t.last_seq::text, t.result, r.state AS resolution, r.instance_id,
            (SELECT state FROM resolution_step WHERE resolution_id = r.id AND name = 'first') AS first
       FROM task t JOIN resolution r ON r.task_id = t.id WHERE t.id = $1`,
    [task.taskId],
  );
  const row = rows[0];
  return row && { ...row, result: store.codec.readJson(row.result) };
}

/** A claimed task as no transition has touched it: its RUNNING event last, its first step TODO. */
function untouched() {
  return {
    task: 'RUNNING',
    last_seq: '2',
    result: null,
    resolution: 'RUNNING',
    instance_id: owner.id,
    first: 'TODO',
  };
}

/** The next turn of the event loop: what the batcher gathered in this one has gone out. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Which transaction wrote each of a task's events after its claim (the rows' xmin). */
async function writersOf(taskId: string): Promise<string[]> {
  const { rows } = await store.query<{ xmin: string }>(
    'SELECT xmin::text AS xmin FROM event WHERE stream_id = $1 AND seq > 2 ORDER BY seq',
    [taskId],
  );
  return rows.map((row) => row.xmin);
}

test('transitions of several resolutions in one statement: each numbered from its own task, settled as asked; one whose fence another owns writes nothing', async () => {
  const settled = await claimedTask();
  const stepOnly = await claimedTask();
  const lost = await claimedTask();
  const answers = await writeTransitions(store, [
    firstDone(settled, { taskState: 'DONE', settle: true }),
    firstDone(stepOnly),
    firstDone(lost, { fenceOwner: randomUUID() }),
  ]);

  const [first, second, third] = answers as [StoredTransition, StoredTransition, Error];
  assert.deepEqual(
    first.events.map((event) => [event.seq, event.type, event.step, event.state]),
    [
      [3, 'step', 'first', 'DONE'],
      [4, 'task', null, 'DONE'],
    ],
  );
  assert.deepEqual(
    second.events.map((event) => [event.seq, event.step, event.state]),
    [[3, 'first', 'DONE']],
  );
  assert.ok(isTaskhostError(third) && third.code === 'TH_RESOLUTION_LOST', String(third));

  assert.deepEqual(await stateOf(settled), {
    task: 'DONE',
    last_seq: '4',
    result: { done: true },
    resolution: 'DONE',
    instance_id: null,
    first: 'DONE',
  });
  assert.deepEqual(await stateOf(stepOnly), {
    task: 'RUNNING',
    last_seq: '3',
    result: null,
    resolution: 'RUNNING',
    instance_id: owner.id,
    first: 'DONE',
  });
  assert.deepEqual(await stateOf(lost), untouched());
  assert.deepEqual(
    (await taskEvents(store, settled.taskId)).map((event) => event.seq),
    [1, 2, 3, 4],
  );
  // One statement: the two written share their transaction.
  assert.deepEqual(await writersOf(stepOnly.taskId), (await writersOf(settled.taskId)).slice(0, 1));
});

test('the batcher: what is written in one turn of the event loop goes out in one statement, what queues while one is under way in the next; a shared statement that fails is written again one by one', async () => {
  const batcher = new TransitionBatcher(store, { inFlight: 1 });
  const together = [await claimedTask(), await claimedTask(), await claimedTask()];
  await Promise.all(together.map((task) => batcher.write(firstDone(task))));
  const togetherWriters = new Set((await Promise.all(together.map((task) => writersOf(task.taskId)))).flat());
  assert.equal(togetherWriters.size, 1, 'three transitions of one turn, one statement');

  const [alone, left, right] = [await claimedTask(), await claimedTask(), await claimedTask()];
  const aloneWritten = batcher.write(firstDone(alone));
  await nextTurn(); // its statement is under way
  await Promise.all([aloneWritten, ...[left, right].map((task) => batcher.write(firstDone(task)))]);
  const [aloneWriter, leftWriter, rightWriter] = [
    ...(await writersOf(alone.taskId)),
    ...(await writersOf(left.taskId)),
    ...(await writersOf(right.taskId)),
  ];
  assert.notEqual(aloneWriter, leftWriter);
  assert.equal(leftWriter, rightWriter);

  // A task state no task may take fails the shared statement: its neighbour is written alone.
  const [first, good, bad] = [await claimedTask(), await claimedTask(), await claimedTask()];
  const results = await Promise.allSettled([
    batcher.write(firstDone(first)),
    batcher.write(firstDone(good)),
    batcher.write(firstDone(bad, { taskState: 'NOT_A_STATE' })),
  ]);
  assert.deepEqual(
    results.map((result) => result.status),
    ['fulfilled', 'fulfilled', 'rejected'],
  );
  assert.match(String((results[2] as PromiseRejectedResult).reason), /task_state_check/);
  assert.equal((await stateOf(good))?.first, 'DONE');
  assert.deepEqual(await stateOf(bad), untouched());
});

test('the batcher sends a second statement beside one under way only once enough transitions wait, never one of a task whose transition is under way', async () => {
  const batcher = new TransitionBatcher(store, { inFlight: 2, secondAt: 3 });
  const [held, b, c] = [await claimedTask(), await claimedTask(), await claimedTask()];
  // A side transaction holds `held`'s task row: the statement with its transition waits for it.
  const side = await store.pool.connect();
  await side.query('BEGIN');
  await side.query('SELECT 1 FROM task WHERE id = $1 FOR UPDATE', [held.taskId]);
  let heldWritten = false;
  const first = batcher.write(firstDone(held)).then((stored) => {
    heldWritten = true;
    return stored;
  });
  await nextTurn(); // its statement is under way, waiting for the lock
  // A second transition of `held` waits, and may not go beside its first; `b` waits with it
  // (two waiting, fewer than secondAt); `c` makes three: `b` and `c` go out, `held` still waits.
  const again = batcher.write(firstDone(held));
  const bWritten = batcher.write(firstDone(b));
  await nextTurn();
  await Promise.all([bWritten, batcher.write(firstDone(c))]);
  assert.equal(heldWritten, false);
  await side.query('COMMIT');
  side.release();
  const [one, two] = await Promise.all([first, again]);
  assert.deepEqual(
    [one, two].map((stored) => stored.events.map((event) => event.seq)),
    [[3], [4]],
  );
  const [bWriter, cWriter] = [...(await writersOf(b.taskId)), ...(await writersOf(c.taskId))];
  assert.equal(bWriter, cWriter);
  const [heldFirst, heldAgain] = await writersOf(held.taskId);
  assert.notEqual(heldFirst, heldAgain);
  assert.notEqual(heldFirst, bWriter);
  assert.notEqual(heldAgain, bWriter);
});
