import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { groupAlive, signalGroup } from '../../../src/system/processes.ts';
import { cliEnv, startServe, type ServeProcess } from '../../helpers/cli.ts';
import { fixturePath, isAlive, tempDir, waitInDir } from '../../helpers/plugin-fixtures.ts';
import { createTestDatabase } from '../../helpers/store.ts';
import { parentOf, startedPids, until } from '../../helpers/processes.ts';

/**
 * One of two `serve` instances on one host stops heartbeating without dying (SIGSTOP while
 * its plugin step runs: its pid stays alive, so only the heartbeat tells). Past
 * instance_death_timeout the other one re-collects it: the hung instance's plugin group is
 * killed, its run failed, and its task taken over (the step re-run to DONE when idempotent,
 * else the task BLOCKED_TOCHECK with the side effect done once). When the hung instance
 * wakes up (SIGCONT) it finds its plugin gone; its late step result must not overwrite what
 * the new owner did.
 */

const database = await createTestDatabase();

function signal(pid: number | undefined, name: NodeJS.Signals): void {
  try {
    if (pid !== undefined) process.kill(pid, name);
  } catch {
    // already gone
  }
}

interface Hung {
  id: string;
  marks: string;
  /** The hung instance's plugin: its pid, which is also its process group. */
  plugin: number;
  owner: ServeProcess;
  survivor: ServeProcess;
  /** What the hung instance logged (its JSON log, on stdout). */
  ownerLog: () => string;
}

/** Two instances, a task whose plugin step hangs on one of them, and that instance SIGSTOPped. */
async function hangMidStep(t: TestContext, idempotent: boolean): Promise<Hung> {
  // First registered, so run first: everything is stopped before its directory goes.
  const servers: ServeProcess[] = [];
  const plugins: number[] = [];
  t.after(async () => {
    // A stopped process acts on no signal but SIGKILL until it is continued.
    for (const server of servers) {
      signal(server.child.pid, 'SIGCONT');
      server.child.kill('SIGTERM');
    }
    await Promise.all(servers.map((server) => server.child));
    for (const plugin of plugins) signalGroup(plugin, 'SIGKILL');
  });
  const cwd = tempDir(t);
  const marks = path.join(cwd, 'marks');
  fs.mkdirSync(marks);
  fs.mkdirSync(path.join(cwd, 'templates'));
  fs.mkdirSync(path.join(cwd, 'tasks'));
  fs.symlinkSync(fixturePath('mark-and-hang.sh'), path.join(cwd, 'tasks', 'mark-and-hang.sh'));
  fs.writeFileSync(
    path.join(cwd, 'taskhost.yaml'),
    'heartbeat_interval: 500ms\ninstance_death_timeout: 3s\n',
  );
  fs.writeFileSync(
    path.join(cwd, 'templates', 'hangs.yaml'),
    `name: hangs
description: a plugin step that hangs until released
auto_runnable: true
steps:
  hangs:
    idempotent: ${idempotent}
    action: {type: mark-and-hang, configuration: {dir: '${marks}'}}
`,
  );
  const env = cliEnv({ DATABASE_URL: database.url });
  servers.push(await startServe([], { cwd, env }), await startServe([], { cwd, env }));
  const logs = servers.map((server) => {
    let text = '';
    server.child.stdout?.on('data', (chunk: Buffer) => (text += chunk.toString()));
    return () => text;
  });
  const response = await fetch(`${servers[0]?.url}/task`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ template_name: 'hangs', input: {} }),
  });
  assert.equal(response.status, 201);
  const { id } = (await response.json()) as { id: string };
  const [plugin] = await waitInDir(
    marks,
    () => (startedPids(marks).length > 0 ? startedPids(marks) : undefined),
    {
      describe: () => 'no plugin started',
    },
  );
  plugins.push(plugin as number);
  const owner = servers.find((server) => server.child.pid === parentOf(plugin as number)) as ServeProcess;
  const survivor = servers.find((server) => server !== owner) as ServeProcess;
  // Stopped once it has stored all it had to (the plugin's group and its first line): a
  // process stopped between two statements of a transaction would hold its locks.
  const recorded = await until(async () => {
    const { rows } = await database.store.query<{ pgid: number | null; lines: number }>(
      `SELECT r.pgid, (SELECT count(*)::int FROM event e WHERE e.stream_id = r.task_id AND e.type = 'log') AS lines
         FROM run r WHERE r.task_id = $1`,
      [id],
    );
    return rows[0]?.pgid === plugin && (rows[0]?.lines ?? 0) > 0 ? true : undefined;
  }, 30_000);
  assert.equal(recorded, true, 'the plugin group and its line are stored');
  signal(owner.child.pid, 'SIGSTOP');
  const ownerLog = logs[servers.indexOf(owner)] as () => string;
  return { id, marks, plugin: plugin as number, owner, survivor, ownerLog };
}

interface Outcome {
  task: string;
  resolution: string;
  instance: string | null;
  steps: { state: string; output: unknown }[];
  runs: { attempt: number; state: string; kill_reason: string | null; ran_on: string }[];
  lastSeq: number;
  lastEvent: { type: string; state: string | null };
}

async function outcome(id: string): Promise<Outcome> {
  const { rows: tasks } = await database.store.query<{
    task: string;
    resolution: string;
    instance: string | null;
    last_seq: string;
  }>(
    `SELECT t.state AS task, r.state AS resolution, r.instance_id AS instance, t.last_seq
       FROM task t JOIN resolution r ON r.task_id = t.id WHERE t.id = $1`,
    [id],
  );
  const { rows: steps } = await database.store.query<{ state: string; output: unknown }>(
    `SELECT s.state, s.output FROM resolution_step s JOIN resolution r ON r.id = s.resolution_id
      WHERE r.task_id = $1`,
    [id],
  );
  const { rows: runs } = await database.store.query<Outcome['runs'][number]>(
    'SELECT attempt, state, kill_reason, ran_on FROM run WHERE task_id = $1 ORDER BY attempt',
    [id],
  );
  const { rows: events } = await database.store.query<{ seq: string; type: string; state: string | null }>(
    'SELECT seq, type, state FROM event WHERE stream_id = $1 ORDER BY seq DESC LIMIT 1',
    [id],
  );
  const task = tasks[0];
  assert.ok(task);
  return {
    task: task.task,
    resolution: task.resolution,
    instance: task.instance,
    steps: steps.map((step) => ({ ...step, output: database.store.codec.readJson(step.output) })),
    runs,
    lastSeq: Number(task.last_seq),
    lastEvent: { type: events[0]?.type ?? '', state: events[0]?.state ?? null },
  };
}

async function taskState(id: string, states: readonly string[]): Promise<string | undefined> {
  const { rows } = await database.store.query<{ state: string }>('SELECT state FROM task WHERE id = $1', [
    id,
  ]);
  const state = rows[0]?.state;
  return state && states.includes(state) ? state : undefined;
}

/** How the task stands, once the woken instance has dealt with its late step end (or changed the task). */
async function afterWakeUp(hung: Hung, before: Outcome): Promise<Outcome> {
  const length = hung.ownerLog().length;
  signal(hung.owner.child.pid, 'SIGCONT');
  // The woken instance sees its plugin gone and ends the step it thought it ran: it says it
  // lost the resolution, or (the bug) it writes over the task.
  const settled = await until(async () => {
    if (hung.ownerLog().slice(length).includes('TH_RESOLUTION_LOST')) return 'told';
    const now = await outcome(hung.id);
    return now.lastSeq !== before.lastSeq || now.runs[0]?.state !== before.runs[0]?.state
      ? 'wrote'
      : undefined;
  }, 30_000);
  assert.equal(
    settled,
    'told',
    `the woken instance gave the task up; it wrote: ${JSON.stringify(await outcome(hung.id))}\n${hung.ownerLog()}`,
  );
  return outcome(hung.id);
}

const HUNG_RUN = { attempt: 1, state: 'SERVER_ERROR', kill_reason: 'owner-died' };

test('serve hung (SIGSTOP) mid-step, idempotent step: re-collected by heartbeat, re-run to DONE elsewhere, untouched when the hung one wakes', async (t) => {
  const hung = await hangMidStep(t, true);
  // The re-run answers at once.
  fs.writeFileSync(path.join(hung.marks, 'release'), '');
  assert.equal(await until(() => taskState(hung.id, ['DONE', 'BLOCKED']), 60_000), 'DONE');
  assert.equal(isAlive(hung.owner.child.pid as number), true, 'the hung instance is still there');
  assert.equal(groupAlive(hung.plugin), false, "the hung instance's plugin group was killed");
  assert.equal(startedPids(hung.marks).length, 2, 'run again once, by the live instance');
  const host = os.hostname();
  const before = await outcome(hung.id);
  assert.deepEqual(before.runs, [
    { ...HUNG_RUN, ran_on: `${host}/${hung.owner.child.pid}` },
    { attempt: 2, state: 'DONE', kill_reason: null, ran_on: `${host}/${hung.survivor.child.pid}` },
  ]);
  const { rows: instances } = await database.store.query<{ pid: number }>('SELECT pid FROM instance');
  assert.deepEqual(
    instances.map((row) => row.pid),
    [hung.survivor.child.pid],
    'the hung instance was removed',
  );

  const after = await afterWakeUp(hung, before);
  assert.deepEqual(after, before, 'the task, its step, runs and log are as the live instance left them');
  assert.equal(after.task, 'DONE');
  assert.equal(after.resolution, 'DONE');
  assert.deepEqual(after.steps, [{ state: 'DONE', output: { released: true } }]);
  assert.deepEqual(after.lastEvent, { type: 'task', state: 'DONE' });
  assert.equal(startedPids(hung.marks).length, 2, 'no third run');
});

test('serve hung (SIGSTOP) mid-step, non-idempotent step: blocked for a person, the side effect done once, untouched when the hung one wakes', async (t) => {
  const hung = await hangMidStep(t, false);
  assert.equal(await until(() => taskState(hung.id, ['DONE', 'BLOCKED']), 60_000), 'BLOCKED');
  assert.equal(isAlive(hung.owner.child.pid as number), true, 'the hung instance is still there');
  assert.equal(groupAlive(hung.plugin), false, "the hung instance's plugin group was killed");
  const before = await outcome(hung.id);
  assert.equal(before.resolution, 'BLOCKED_TOCHECK');
  assert.deepEqual(
    before.steps.map((step) => step.state),
    ['CRASHED'],
  );
  assert.deepEqual(before.runs, [{ ...HUNG_RUN, ran_on: `${os.hostname()}/${hung.owner.child.pid}` }]);

  const after = await afterWakeUp(hung, before);
  assert.deepEqual(after, before, 'the task, its step, runs and log are as the live instance left them');
  assert.equal(startedPids(hung.marks).length, 1, 'never run a second time');
});
