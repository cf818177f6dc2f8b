import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { createTestDatabase } from '../../helpers/store.ts';
import { assertExit, cliEnv, startTaskhost, stdoutJson, taskhost } from '../../helpers/cli.ts';
import { fixturePath, isAlive, tempDir, waitInDir } from '../../helpers/plugin-fixtures.ts';
import type { TaskDocument } from '../../../src/engine/tasks.ts';
import { startedPids } from '../../helpers/processes.ts';

/**
 * Crash safety: `taskhost run` SIGKILLed while a plugin step runs. The next command kills
 * the plugin it left; `taskhost run --resume ID` never runs a DONE step again and handles
 * the RUNNING one per `idempotent`.
 */

const database = await createTestDatabase();

function template(dir: string, idempotent: boolean): string {
  return `
name: crashing
description: a plugin step under a crash
steps:
  before:
    action: {type: echo, configuration: {output: {ok: true}}}
  hangs:
    dependencies: [before]
    idempotent: ${idempotent}
    action: {type: mark-and-hang, configuration: {dir: '${dir}'}}
  after:
    dependencies: [hangs]
    action: {type: echo, configuration: {output: {released: '{{step.hangs.output.released}}'}}}
`;
}

async function crashMidStep(t: TestContext, idempotent: boolean) {
  const work = tempDir(t);
  const marks = path.join(work, 'marks');
  fs.mkdirSync(marks);
  const env = cliEnv({ DATABASE_URL: database.url });
  assertExit(
    await taskhost(['register', '--name', 'mark-and-hang', '--location', fixturePath('mark-and-hang.sh')], {
      env,
      cwd: work,
    }),
    0,
  );
  const file = path.join(work, 'crashing.yaml');
  fs.writeFileSync(file, template(marks, idempotent));
  const running = startTaskhost(['run', file, '--json'], { env, cwd: work });
  const pids = await waitInDir(
    marks,
    () => (startedPids(marks).length > 0 ? startedPids(marks) : undefined),
    {
      describe: () => 'no plugin started',
    },
  );
  const plugin = pids[0] as number;
  const { rows } = await database.store.query<{ task_id: string; id: string }>(
    `SELECT task_id, id FROM run WHERE step_name = 'hangs'`,
  );
  const taskId = rows.at(-1)?.task_id as string;
  // The plugin's group reaches its run row while it runs (written by the other process).
  assert.equal(await recordedGroup(rows.at(-1)?.id as string), plugin, 'the run recorded its process group');
  running.kill('SIGKILL');
  await running;
  assert.equal(isAlive(plugin), true, 'the plugin outlived the killed taskhost');
  return { work, marks, env, taskId, plugin };
}

/**
 * The process group a run row names, once the running `taskhost` wrote it: polled, as there
 * is no event to wait for in another process's transaction (a hang guard, not a speed claim).
 */
async function recordedGroup(runId: string, withinMs = 30_000): Promise<number | null> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const { rows } = await database.store.query<{ pgid: number | null }>(
      'SELECT pgid FROM run WHERE id = $1',
      [runId],
    );
    if (rows[0]?.pgid || Date.now() > deadline) return rows[0]?.pgid ?? null;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function runsOf(taskId: string): Promise<{ step_name: string; attempt: number; state: string }[]> {
  const { rows } = await database.store.query(
    'SELECT step_name, attempt, state FROM run WHERE task_id = $1 ORDER BY step_name, attempt',
    [taskId],
  );
  return rows as { step_name: string; attempt: number; state: string }[];
}

/** How many times each step started (echo steps execute nothing, so they have no runs to count). */
async function executionsOf(taskId: string): Promise<Record<string, number>> {
  const { rows } = await database.store.query<{ name: string; executions: number }>(
    `SELECT s.name, s.executions FROM resolution_step s JOIN resolution r ON r.id = s.resolution_id
      WHERE r.task_id = $1`,
    [taskId],
  );
  return Object.fromEntries(rows.map((row) => [row.name, row.executions]));
}

test('crash, idempotent step: --resume kills the orphaned plugin, re-runs the step, and never re-runs a DONE one', async (t) => {
  const { work, marks, env, taskId, plugin } = await crashMidStep(t, true);
  fs.writeFileSync(path.join(marks, 'release'), '');
  const resumed = await taskhost(['run', '--resume', taskId, '--json'], { env, cwd: work });
  assertExit(resumed, 0);
  assert.equal(isAlive(plugin), false, 'the orphaned plugin group was killed at start');
  const document = stdoutJson<TaskDocument>(resumed);
  assert.equal(document.state, 'DONE');
  assert.equal(
    document.steps.after?.output && (document.steps.after.output as { released: string }).released,
    'true',
  );
  assert.equal(startedPids(marks).length, 2, 'the interrupted step ran again, once');
  assert.deepEqual(await runsOf(taskId), [
    { step_name: 'hangs', attempt: 1, state: 'SERVER_ERROR' },
    { step_name: 'hangs', attempt: 2, state: 'DONE' },
  ]);
  assert.deepEqual(await executionsOf(taskId), { before: 1, hangs: 2, after: 1 });
});

test('crash, non-idempotent step: --resume marks it CRASHED and blocks the task for a human (BLOCKED_TOCHECK)', async (t) => {
  const { work, marks, env, taskId, plugin } = await crashMidStep(t, false);
  const resumed = await taskhost(['run', '--resume', taskId, '--json'], { env, cwd: work });
  assertExit(resumed, 1);
  assert.equal(isAlive(plugin), false, 'the orphaned plugin group was killed at start');
  const document = stdoutJson<TaskDocument>(resumed);
  assert.equal(document.state, 'BLOCKED');
  assert.equal(document.resolution?.state, 'BLOCKED_TOCHECK');
  assert.equal(document.steps.hangs?.state, 'CRASHED');
  assert.equal(document.steps.before?.state, 'DONE');
  assert.equal(document.steps.after?.state, 'TODO');
  assert.equal(startedPids(marks).length, 1, 'the interrupted step was not run again');
  assert.deepEqual(
    (await runsOf(taskId)).map((run) => `${run.step_name}#${run.attempt}`),
    ['hangs#1'],
  );
  assert.deepEqual(await executionsOf(taskId), { before: 1, hangs: 1, after: 0 });
});

test('crash before the plugin group was recorded: the next start finds the plugin by its run id and kills it', async (t) => {
  const { work, env, taskId, plugin } = await crashMidStep(t, false);
  // As if the owner had died in the moment between the spawn and the write of the group.
  await database.store.query(`UPDATE run SET pgid = NULL, pgid_start = NULL WHERE task_id = $1`, [taskId]);
  const resumed = await taskhost(['run', '--resume', taskId, '--json'], { env, cwd: work });
  assertExit(resumed, 1);
  assert.equal(isAlive(plugin), false, 'the unrecorded plugin was found and killed');
  const { rows } = await database.store.query<{ state: string; error: string; kill_reason: string }>(
    `SELECT state, error, kill_reason FROM run WHERE task_id = $1 AND step_name = 'hangs'`,
    [taskId],
  );
  assert.equal(rows[0]?.state, 'SERVER_ERROR');
  assert.match(
    database.store.codec.readText(rows[0]?.error ?? ''),
    /^taskhost process died; its plugin was still running/,
  );
});
