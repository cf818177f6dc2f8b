import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { describePlugin } from '../../../src/plugins/description.ts';
import { FifoPool } from '../../../src/plugins/fifo-pool.ts';
import { runPlugin, type PluginRunOutcome, type PluginRunRequest } from '../../../src/plugins/run-plugin.ts';
import { spawnPlugin } from '../../../src/plugins/spawn.ts';
import { fixturePath, isAlive, tempDir } from '../../helpers/plugin-fixtures.ts';

/**
 * Issue "plugin host under faults", items 3 and 4: a plugin's whole process group is
 * supervised to its end (no grandchild outlives a run, whatever it ignores and whatever it
 * holds), and setting a run up never leaks a descriptor, even when it fails half-way.
 */

async function runOrphan(
  mode: 'hang' | 'exit' | 'stubborn',
  dir: string,
  options: Omit<PluginRunRequest, 'plugin' | 'data'> = {},
): Promise<{ outcome: PluginRunOutcome; plugin: number; grandchild: number }> {
  const location = fixturePath('orphan-ignores-term.sh');
  const description = await describePlugin(location);
  const pidfile = path.join(dir, 'pids');
  const outcome = await runPlugin({
    plugin: { name: description.name, location, description },
    data: { pidfile, mode },
    ...options,
  });
  const [plugin, grandchild] = fs.readFileSync(pidfile, 'utf8').trim().split(' ').map(Number);
  return { outcome, plugin: plugin as number, grandchild: grandchild as number };
}

test('after a timeout, a grandchild that ignores SIGTERM and holds no pipe is SIGKILLed before the run ends', async (t) => {
  // The timeout leaves the fixture ample time to start its grandchild and write the pids.
  const { outcome, plugin, grandchild } = await runOrphan('hang', tempDir(t), {
    timeoutMs: 4000,
    killGraceMs: 300,
  });
  assert.equal(outcome.state, 'SERVER_ERROR');
  assert.equal(outcome.killReason, 'timeout');
  assert.equal(isAlive(plugin), false, `plugin ${plugin} survived`);
  assert.equal(isAlive(grandchild), false, `the SIGTERM-proof grandchild ${grandchild} survived the run`);
});

test('a run that ends normally kills what the plugin left in its group, even what ignores SIGTERM', async (t) => {
  const { outcome, grandchild } = await runOrphan('exit', tempDir(t));
  assert.equal(outcome.state, 'DONE');
  assert.deepEqual(outcome.result?.payload, { left: 'a SIGTERM-proof sleeper' });
  assert.equal(isAlive(grandchild), false, `grandchild ${grandchild} outlived its run`);
});

test('a cancelled run names why, and its whole group (SIGTERM-proof too) is gone when it ends', async (t) => {
  const dir = tempDir(t);
  const controller = new AbortController();
  const pidfile = path.join(dir, 'pids');
  const watcher = fs.watch(dir, () => {
    if (fs.existsSync(pidfile)) controller.abort('taskhost received SIGINT');
  });
  t.after(() => watcher.close());
  const { outcome, plugin, grandchild } = await runOrphan('stubborn', dir, {
    signal: controller.signal,
    killGraceMs: 300,
  });
  assert.equal(outcome.killReason, 'cancelled');
  assert.equal(outcome.error, 'run cancelled: taskhost received SIGINT');
  assert.equal(isAlive(plugin), false);
  assert.equal(isAlive(grandchild), false);
});

/** Descriptors this process has open. */
function openDescriptors(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

/**
 * A pool whose second FIFO is a directory: opening its read end works, its write end fails
 * (EISDIR), after the stdin file and the first FIFO are open.
 */
class HalfBrokenPool extends FifoPool {
  private taken = 0;
  readonly broken: string;

  constructor(dir: string) {
    super(2, dir);
    this.broken = path.join(dir, 'not-a-fifo');
    fs.mkdirSync(this.broken);
  }

  override async take(): Promise<string> {
    this.taken += 1;
    return this.taken === 2 ? this.broken : super.take();
  }
}

test('a spawn that fails after opening descriptors closes them all and resolves with the cause', async (t) => {
  const dir = tempDir(t);
  fs.chmodSync(dir, 0o700);
  const pool = new HalfBrokenPool(dir);
  // Warm up: the first take of a pool runs mkfifo, whose descriptors come and go.
  await pool.take().then((fifo) => fs.unlinkSync(fifo));
  await pool.settle();
  const before = openDescriptors();
  const result = await spawnPlugin({
    file: fixturePath('ok.sh'),
    stdin: '{}',
    env: { PATH: process.env.PATH ?? '' },
    timeoutMs: 10_000,
    outputCapBytes: 1024,
    fifos: pool,
  });
  assert.equal(result.pid, null, 'nothing was spawned');
  assert.match(result.spawnError ?? '', /cannot set up the plugin's input and output: .*EISDIR/);
  await pool.settle();
  assert.equal(openDescriptors(), before, 'every descriptor opened for the run was closed');
  const left = fs.readdirSync(dir).filter((name) => name.startsWith('fifo-') || name.startsWith('stdin-'));
  assert.deepEqual(left, [], 'the claimed FIFO and the stdin file are gone');
});
