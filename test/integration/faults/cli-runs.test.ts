import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { before, test } from 'node:test';
import { getRun, runFromRow, type RunRow } from '../../../src/store/queries/runs.ts';
import {
  assertExit,
  assertOneLineError,
  cliEnv,
  startServe,
  startTaskhost,
  stdoutJson,
  taskhost,
  type CliResult,
} from '../../helpers/cli.ts';
import { fixturePath, isAlive, tempDir, waitForFile } from '../../helpers/plugin-fixtures.ts';
import { createTestDatabase } from '../../helpers/store.ts';

/**
 * Issue "plugin host under faults", through the real `bin/taskhost` against a real
 * PostgreSQL: results that name a live state (1), data checked before a run is stored (3),
 * Ctrl-C and SIGTERM killing plugin groups and recording cancelled runs (4), a SIGKILLed
 * taskhost re-collected by the next command (5), and batches cut short (6).
 */

const database = await createTestDatabase();
const env = cliEnv({ DATABASE_URL: database.url });

function cli(args: readonly string[]): Promise<CliResult> {
  return taskhost(args, { env, timeoutMs: 60_000 });
}

before(async () => {
  for (const [name, file] of [
    ['live-state', 'live-state.sh'],
    ['orphan', 'orphan-ignores-term.sh'],
    ['touch-marker', 'touch-marker.sh'],
  ]) {
    assertExit(await cli(['register', '-name', name as string, '-location', fixturePath(file as string)]), 0);
  }
});

async function runsOf(plugin: string): Promise<RunRow[]> {
  const { rows } = await database.store.query<RunRow>(
    'SELECT * FROM run WHERE plugin_name = $1 ORDER BY created_at, id',
    [plugin],
  );
  return rows;
}

async function runById(id: string): Promise<RunRow> {
  const run = await getRun(database.store, id);
  assert.ok(run, `run ${id} is stored`);
  return run;
}

/** The run of an orphan plugin given `pidfile` (its data is encrypted at rest: matched once read back). */
async function runOfPidfile(pidfile: string): Promise<RunRow | undefined> {
  const { rows } = await database.store.query<RunRow>(`SELECT * FROM run WHERE plugin_name = 'orphan'`);
  return rows
    .map((row) => runFromRow(database.store.codec, row))
    .find((row) => (row.data as { pidfile?: string } | null)?.pidfile === pidfile);
}

/** The pids ("<plugin> <grandchild>") an orphan-ignores-term run wrote. */
function readPids(file: string): [number, number] {
  const [plugin, grandchild] = fs.readFileSync(file, 'utf8').trim().split(' ').map(Number);
  return [plugin as number, grandchild as number];
}

/** The final `run` event stored for a run. */
async function finalEvent(id: string): Promise<{ state: string; data: Record<string, unknown> }> {
  const { rows } = await database.store.query<{ state: string; data: Record<string, unknown> }>(
    `SELECT state, data FROM event WHERE stream_id = $1 AND type = 'run' ORDER BY seq DESC LIMIT 1`,
    [id],
  );
  assert.ok(rows[0], `run ${id} has a final event`);
  return rows[0];
}

/**
 * Starts `taskhost execute` of the orphan-ignores-term plugin and resolves once it runs:
 * the CLI, and the pids of the plugin and of the grandchild it left.
 */
async function startOrphan(
  pidfile: string,
  mode: 'hang' | 'stubborn' = 'hang',
): Promise<{ child: ReturnType<typeof startTaskhost>; plugin: number; grandchild: number }> {
  const child = startTaskhost(['execute', '--name', 'orphan', '--args', JSON.stringify({ pidfile, mode })], {
    env,
    timeoutMs: 60_000,
  });
  await waitForFile(pidfile);
  const [plugin, grandchild] = readPids(pidfile);
  return { child, plugin, grandchild };
}

test('1: a plugin answering status 1 with state RUNNING fails the run as SERVER_ERROR naming the state', async () => {
  const result = await cli(['execute', '-name', 'live-state', '-taskArgs', '{"state": "RUNNING"}']);
  assertExit(result, 1);
  const envelope = stdoutJson<{ state: string; error: string; run_id: string }>(result);
  assert.equal(envelope.state, 'SERVER_ERROR');
  assert.match(envelope.error, /"RUNNING", which is not a final state/);
  const stored = await runById(envelope.run_id);
  assert.equal(stored.state, 'SERVER_ERROR', 'the stored run is final, so every watcher ends');
  assert.equal((await finalEvent(envelope.run_id)).state, 'SERVER_ERROR');
  assert.ok(stored.instance_id === null, 'its owner left with the run: the instance row went with its end');
  const { rows } = await database.store.query('SELECT id FROM instance');
  assert.deepEqual(rows, [], 'a finished command leaves no instance behind');
});

test('3: data the plugin refuses is a one-line usage error (exit 2) and no run is stored', async (t) => {
  const marker = path.join(tempDir(t), 'marker');
  const result = await cli([
    'execute',
    '-name',
    'touch-marker',
    '-taskArgs',
    JSON.stringify({ marker, count: 0 }),
  ]);
  const line = assertOneLineError(result, 2);
  assert.match(line, /invalid data for plugin touch-marker: \/count must be >= 1/);
  assert.deepEqual(await runsOf('touch-marker'), [], 'nothing was written as RUNNING first');
  assert.equal(fs.existsSync(marker), false);
});

test('4: the first Ctrl-C kills the plugin group, records the run as cancelled, and exits 130', async (t) => {
  const pidfile = path.join(tempDir(t), 'pids');
  const { child, plugin, grandchild } = await startOrphan(pidfile);
  process.kill(child.pid as number, 'SIGINT');
  const result = await child;
  assert.equal(result.exitCode, 130, String(result.stderr));
  const envelope = JSON.parse(String(result.stdout)) as { run_id: string; state: string; error: string };
  assert.equal(envelope.error, 'run cancelled: taskhost received SIGINT');
  const stored = await runById(envelope.run_id);
  assert.equal(stored.state, 'SERVER_ERROR');
  assert.equal(stored.kill_reason, 'cancelled');
  assert.equal(isAlive(plugin), false, 'the plugin is dead');
  assert.equal(isAlive(grandchild), false, 'its SIGTERM-proof grandchild is dead');
});

test('4: a second Ctrl-C SIGKILLs a plugin that ignores SIGTERM, records the run, and exits 130', async (t) => {
  const pidfile = path.join(tempDir(t), 'pids');
  const { child, plugin, grandchild } = await startOrphan(pidfile, 'stubborn');
  process.kill(child.pid as number, 'SIGINT');
  process.kill(child.pid as number, 'SIGINT');
  const result = await child;
  assert.equal(result.exitCode, 130, String(result.stderr));
  assert.equal(isAlive(plugin), false, 'the SIGTERM-proof plugin was killed before taskhost left');
  assert.equal(isAlive(grandchild), false, 'and its grandchild');
  const run = await runOfPidfile(pidfile);
  assert.ok(run);
  assert.equal(run.state, 'SERVER_ERROR');
  assert.equal(run.kill_reason, 'cancelled');
});

test('4: SIGTERM to the server kills its running plugins and records their runs as cancelled', async (t) => {
  const dir = tempDir(t);
  const server = await startServe(['--tasks', path.join(dir, 'none')], { env });
  t.after(() => server.child.kill('SIGKILL'));
  const pidfile = path.join(dir, 'pids');
  const started = await fetch(`${server.url}/plugin/orphan/run?async=true`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ data: { pidfile } }),
  });
  assert.equal(started.status, 202);
  const { run_id: runId } = (await started.json()) as { run_id: string };
  await waitForFile(pidfile);
  const [plugin, grandchild] = readPids(pidfile);
  // Sent directly: execa's own kill() would SIGKILL it 2 s later.
  process.kill(server.child.pid as number, 'SIGTERM');
  const ended = await server.child;
  const stored = await runById(runId);
  assert.equal(stored.state, 'SERVER_ERROR', `server exit ${ended.exitCode}: ${server.stderr()}`);
  assert.equal(stored.kill_reason, 'cancelled');
  assert.equal(stored.error, 'run cancelled: taskhost received SIGTERM');
  assert.equal(isAlive(plugin), false);
  assert.equal(isAlive(grandchild), false);
});

test('5: after a SIGKILLed taskhost, the next command kills the plugin it left and marks the run failed', async (t) => {
  const pidfile = path.join(tempDir(t), 'pids');
  const { child, plugin, grandchild } = await startOrphan(pidfile);
  const running = await runOfPidfile(pidfile);
  assert.ok(running);
  // The run's process group reaches the row while the plugin runs.
  await waitForRow(running.id, (row) => row.pgid === plugin);
  child.kill('SIGKILL');
  await child;
  assert.equal(isAlive(plugin), true, 'the plugin outlived its supervisor, unsupervised');

  assertExit(await cli(['list']), 0);
  assert.equal(isAlive(plugin), false, 'the next command killed it');
  assert.equal(isAlive(grandchild), false, 'and everything in its group');
  const stored = await runById(running.id);
  assert.equal(stored.state, 'SERVER_ERROR');
  assert.match(stored.error ?? '', /^taskhost process died/);
  assert.equal((await finalEvent(running.id)).state, 'SERVER_ERROR', 'streams of the run end');
  assert.ok(running.instance_id, 'the run named its owner while it ran');
  const { rows } = await database.store.query('SELECT 1 FROM instance WHERE id = $1', [running.instance_id]);
  assert.equal(rows.length, 0, 'the dead owner is forgotten');
});

/** Polls a run row until `ready` holds (the row is written by another process). */
async function waitForRow(id: string, ready: (row: RunRow) => boolean, withinMs = 30_000): Promise<RunRow> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const row = await runById(id);
    if (ready(row)) return row;
    if (Date.now() > deadline) {
      throw new Error(`run ${id} never reached the expected state: ${JSON.stringify(row)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('5: a reused pid is never hit: an owner or a plugin group whose start time differs is not the recorded one', async (t) => {
  // A live process in a group of its own, standing for "a process that got a dead plugin's pid".
  const bystander = spawn('sleep', ['1000'], { detached: true, stdio: 'ignore' });
  t.after(() => bystander.kill('SIGKILL'));
  const bystanderPid = bystander.pid as number;
  const deadOwner = '00000000-0000-4000-8000-000000000001';
  const impostor = '00000000-0000-4000-8000-000000000002';
  const hostname = (await import('node:os')).hostname();
  // Owner 1: a pid that runs, but with another start time (the pid was reused): it is dead.
  // Owner 2: the same bystander pid as a recorded owner: dead for the same reason.
  await database.store.query(
    `INSERT INTO instance (id, kind, hostname, pid, process_start, version) VALUES
       ($1, 'cli', $3, $4, 'another-boot:1', 'test'), ($2, 'cli', $3, $4, 'another-boot:2', 'test')`,
    [deadOwner, impostor, hostname, bystanderPid],
  );
  const runId = '00000000-0000-4000-8000-0000000000a1';
  await database.store.query(
    `INSERT INTO run (id, plugin_name, origin, state, instance_id, pgid, pgid_start, started_at)
     VALUES ($1, 'orphan', 'cli', 'RUNNING', $2, $3, 'another-boot:99', now())`,
    [runId, deadOwner, bystanderPid],
  );
  assertExit(await cli(['list']), 0);
  assert.equal(isAlive(bystanderPid), true, 'a group whose leader started at another time is left alone');
  const stored = await runById(runId);
  assert.equal(stored.state, 'SERVER_ERROR');
  assert.equal(stored.error, 'taskhost process died');
  const { rows } = await database.store.query('SELECT id FROM instance WHERE id = ANY($1::uuid[])', [
    [deadOwner, impostor],
  ]);
  assert.equal(rows.length, 0);
});

test('6: Ctrl-C during a --batch starts no new item: the rest are recorded as cancelled without spawning', async (t) => {
  const dir = tempDir(t);
  const pidfiles = Array.from({ length: 5 }, (_, index) => path.join(dir, `pids-${index}`));
  const batchFile = path.join(dir, 'batch.jsonl');
  fs.writeFileSync(batchFile, `${pidfiles.map((pidfile) => JSON.stringify({ pidfile })).join('\n')}\n`);
  const child = startTaskhost(['execute', '-name', 'orphan', '-batch', batchFile, '-concurrency', '1'], {
    env,
    timeoutMs: 60_000,
  });
  await waitForFile(pidfiles[0] as string);
  process.kill(child.pid as number, 'SIGINT');
  const result = await child;
  assert.equal(result.exitCode, 130, String(result.stderr));
  const lines = String(result.stdout)
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { line: number; state: string; error: string; run_id: string });
  assert.deepEqual(
    lines.map((line) => line.line),
    [1, 2, 3, 4, 5],
    'every item has its result line, in order',
  );
  assert.equal(lines[0]?.error, 'run cancelled: taskhost received SIGINT');
  for (const line of lines.slice(1)) {
    assert.equal(line.state, 'SERVER_ERROR');
    assert.equal(line.error, 'cancelled before it started: taskhost received SIGINT');
    const stored = await runById(line.run_id);
    assert.equal(stored.state, 'SERVER_ERROR');
    assert.equal(stored.kill_reason, 'cancelled');
    assert.equal(stored.pgid, null, 'never spawned');
  }
  for (const pidfile of pidfiles.slice(1)) assert.equal(fs.existsSync(pidfile), false, `${pidfile}: spawned`);
});
