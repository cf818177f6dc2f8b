/**
 * CLI overhead: the wall time of `taskhost execute -name X -taskArgs ...` minus the plugin's
 * own run time, in two store modes, and the wall time of `taskhost --help`.
 *
 *   embedded  a fresh project directory, prepared once with `taskhost register`; the
 *             cluster is NOT running between invocations, so every `execute` starts it and
 *             stops it (checked: no postmaster.pid left after each). Target <= 200 ms.
 *   external  a cluster this benchmark starts from the embedded binaries, reached through
 *             DATABASE_URL (Unix socket); the plugin is registered through it. Target <= 120 ms.
 *   --help    `taskhost --help`, target <= 150 ms, beside `node -e 0` as the baseline.
 *
 * Two floors, measured in the same rounds, show what no implementation on this machine goes
 * below (they are reported, not targets):
 *   floor     a bare CommonJS script: node, require('pg'), connect through DATABASE_URL, one
 *             INSERT, the plugin spawned with the envelope, one UPDATE with its answer, exit.
 *   cluster   the embedded cluster of the embedded project started and stopped by this
 *             process (EmbeddedCluster.acquire + release): no node start, no statement.
 *
 * The plugin's own time is the median of spawning the same executable by hand with the
 * same stdin, measured in the same rounds; as a cross-check the stored runs' durations
 * (finished_at - started_at) are read from the database afterwards. All variants are
 * interleaved round by round (order rotating) after a warm-up.
 *
 *   node --import tsx test/bench/cli-overhead.ts [--reps N]
 */
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { pluginEnvironment } from '../../src/plugins/environment.ts';
import { buildInputEnvelope } from '../../src/protocol/envelope.ts';
import { EmbeddedCluster, embeddedPaths } from '../../src/store/embedded.ts';
import { readPostmasterPid } from '../../src/store/processes.ts';
import {
  cleanEnv,
  fixture,
  fmt,
  loadAverage,
  log,
  median,
  onCleanup,
  preferRealPython,
  PROJECT_DIR,
  removeDir,
  rotation,
  runIfMain,
  sleep,
  startCluster,
  stopLeftoverPostmaster,
  summarize,
  table,
  type Summary,
  TASKHOST_BIN,
  target,
  tempDir,
  timeProcess,
  type BenchResult,
  type Timed,
} from './lib.ts';

const BENCHMARK = 'cli-overhead';
const PLUGIN = 'bench-bash';
const DATA = '{"n":1}';

export interface CliOptions {
  reps?: number;
  warmup?: number;
}

type Variant = 'embedded' | 'external' | 'help' | 'node' | 'plugin' | 'floor' | 'cluster';
const VARIANTS: readonly Variant[] = ['embedded', 'external', 'help', 'node', 'plugin', 'floor', 'cluster'];

/** The external floor: the least a stored run of a plugin does from a fresh node process. */
const FLOOR_SCRIPT = `
const pg = require(process.env.FLOOR_PG);
const { spawn } = require('node:child_process');
(async () => {
  const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await client.connect();
  const { rows } = await client.query('INSERT INTO floor_run (state) VALUES ($1) RETURNING id', ['RUNNING']);
  const child = spawn(process.argv[2], [], { stdio: ['pipe', 'pipe', 'inherit'] });
  let answer = '';
  child.stdout.on('data', (chunk) => (answer += chunk));
  child.stdin.end(process.argv[3]);
  await new Promise((resolve) => child.on('close', resolve));
  await client.query('UPDATE floor_run SET state = $2, answer = $3 WHERE id = $1', [rows[0].id, 'DONE', answer]);
  await client.end();
  process.stdout.write(answer);
})();
`;

function describeFailure(what: string, result: Timed): string {
  return `${what}: exit ${result.code ?? result.signal}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`;
}

/** The run_id of an `execute` that succeeded; throws otherwise. */
function checkExecute(what: string, result: Timed): string {
  if (result.code !== 0) throw new Error(describeFailure(what, result));
  const envelope = JSON.parse(result.stdout) as { status?: number; run_id?: string };
  if (envelope.status !== 1 || typeof envelope.run_id !== 'string') {
    throw new Error(describeFailure(what, result));
  }
  return envelope.run_id;
}

/** Stored run durations (finished_at - started_at, ms) by run id. */
async function storedDurations(
  connection: pg.ClientConfig,
  ids: readonly string[],
): Promise<Map<string, number>> {
  const client = new pg.Client({ ...connection, application_name: 'taskhost-bench' });
  await client.connect();
  try {
    const { rows } = await client.query<{ id: string; ms: number }>(
      `SELECT id, extract(epoch FROM finished_at - started_at) * 1000 AS ms FROM run WHERE id = ANY($1::uuid[])`,
      [ids],
    );
    return new Map(rows.map((row) => [row.id, Number(row.ms)]));
  } finally {
    await client.end();
  }
}

/** Median of (wall - stored run duration) over the runs found. */
function overheadFromStore(
  walls: readonly { ms: number; runId: string }[],
  durations: Map<string, number>,
): number {
  const values: number[] = [];
  for (const { ms, runId } of walls) {
    const stored = durations.get(runId);
    if (stored !== undefined) values.push(ms - stored);
  }
  return median(values);
}

export async function runCliOverhead(options: CliOptions = {}): Promise<BenchResult> {
  const reps = options.reps ?? 20;
  const warmup = options.warmup ?? 2;
  log(
    `== ${BENCHMARK}: ${reps} interleaved rounds (execute embedded, execute external, --help, node -e 0, plugin alone, two floors), ${warmup} warm-up`,
  );
  log(`   load average before: ${loadAverage()}`);
  const result: BenchResult = { benchmark: BENCHMARK, metrics: { reps, warmup }, targets: [], notes: [] };
  const python = preferRealPython();
  if (python) result.notes.push(python);

  const pluginFile = fixture('bench-bash.sh');
  const envelope = JSON.stringify(buildInputEnvelope({ taskName: PLUGIN }, JSON.parse(DATA)));
  const pluginEnv = pluginEnvironment({ pluginName: PLUGIN, runId: null });
  const embeddedProject = tempDir('cli-embedded');
  const externalProject = tempDir('cli-external');
  const dataDir = embeddedPaths(path.join(embeddedProject, '.taskhost')).dataDir;
  const unregister = onCleanup(async () => {
    await stopLeftoverPostmaster(dataDir);
    removeDir(embeddedProject);
    removeDir(externalProject);
  });
  const cluster = await startCluster();
  try {
    const embeddedEnv = cleanEnv();
    const externalEnv = cleanEnv({ DATABASE_URL: cluster.url });
    const register = ['register', '-name', PLUGIN, '-location', pluginFile];
    const execute = ['execute', '-name', PLUGIN, '-taskArgs', DATA, '--quiet'];

    // Every process here gets a clean environment. Variables that node reads at start
    // (NODE_OPTIONS, NODE_EXTRA_CA_CERTS: the CA file is parsed eagerly) slow every
    // `taskhost` a user starts; say by how much when this environment has them.
    const startupVars = ['NODE_OPTIONS', 'NODE_EXTRA_CA_CERTS'].filter((name) => process.env[name]);
    if (startupVars.length > 0) {
      const inherited: number[] = [];
      const clean: number[] = [];
      for (let i = 0; i < 7; i += 1) {
        inherited.push((await timeProcess(process.execPath, ['-e', '0'], { env: process.env })).ms);
        clean.push((await timeProcess(process.execPath, ['-e', '0'], { env: embeddedEnv })).ms);
      }
      const extra = median(inherited) - median(clean);
      result.metrics['node_e0.inherited_env_extra_ms'] = extra;
      const note = `this environment sets ${startupVars.join(', ')}: node -e 0 takes ${fmt(extra)} ms longer with it (timed here without it)`;
      log(`   ${note}`);
      result.notes.push(note);
    }

    const setupEmbedded = await timeProcess(TASKHOST_BIN, register, {
      cwd: embeddedProject,
      env: embeddedEnv,
    });
    if (setupEmbedded.code !== 0) throw new Error(describeFailure('register (embedded)', setupEmbedded));
    log(`   register (embedded, first use: initdb + start + migrate + stop): ${fmt(setupEmbedded.ms, 0)} ms`);
    const setupExternal = await timeProcess(TASKHOST_BIN, register, {
      cwd: externalProject,
      env: externalEnv,
    });
    if (setupExternal.code !== 0) throw new Error(describeFailure('register (external)', setupExternal));

    let leftovers = 0;
    const walls: Record<Variant, number[]> = {
      embedded: [],
      external: [],
      help: [],
      node: [],
      plugin: [],
      floor: [],
      cluster: [],
    };
    const floorScript = path.join(externalProject, 'floor.cjs');
    fs.writeFileSync(floorScript, FLOOR_SCRIPT);
    const admin = new pg.Client({ ...cluster.connection, application_name: 'taskhost-bench' });
    await admin.connect();
    await admin.query('CREATE TABLE floor_run (id serial PRIMARY KEY, state text, answer text)');
    await admin.end();
    const floorEnv = { ...externalEnv, FLOOR_PG: path.join(PROJECT_DIR, 'node_modules', 'pg') };
    const runs: Record<'embedded' | 'external', { ms: number; resultAt: number; runId: string }[]> = {
      embedded: [],
      external: [],
    };
    const invoke: Record<Variant, (record: boolean) => Promise<number>> = {
      embedded: async (record) => {
        if (readPostmasterPid(dataDir) !== null) {
          throw new Error(`a postmaster runs in ${dataDir} before execute`);
        }
        const r = await timeProcess(TASKHOST_BIN, execute, { cwd: embeddedProject, env: embeddedEnv });
        const runId = checkExecute('execute (embedded)', r);
        if (record) runs.embedded.push({ ms: r.ms, resultAt: r.firstStdoutMs, runId });
        // The cluster must be stopped again: no postmaster.pid once the CLI has exited.
        if (readPostmasterPid(dataDir) !== null) {
          leftovers += 1;
          for (let i = 0; i < 250 && readPostmasterPid(dataDir) !== null; i += 1) await sleep(20);
          if (readPostmasterPid(dataDir) !== null) {
            throw new Error(`execute left its postmaster running in ${dataDir}`);
          }
        }
        return r.ms;
      },
      external: async (record) => {
        const r = await timeProcess(TASKHOST_BIN, execute, { cwd: externalProject, env: externalEnv });
        const runId = checkExecute('execute (external)', r);
        if (record) runs.external.push({ ms: r.ms, resultAt: r.firstStdoutMs, runId });
        return r.ms;
      },
      help: async () => {
        const r = await timeProcess(TASKHOST_BIN, ['--help'], { cwd: externalProject, env: embeddedEnv });
        if (r.code !== 0 || !r.stdout.includes('execute')) throw new Error(describeFailure('--help', r));
        return r.ms;
      },
      node: async () => {
        const r = await timeProcess(process.execPath, ['-e', '0'], {
          cwd: externalProject,
          env: embeddedEnv,
        });
        if (r.code !== 0) throw new Error(describeFailure('node -e 0', r));
        return r.ms;
      },
      plugin: async () => {
        const r = await timeProcess(pluginFile, [], {
          cwd: path.dirname(pluginFile),
          env: pluginEnv,
          input: envelope,
        });
        if (r.code !== 0) throw new Error(describeFailure('plugin', r));
        return r.ms;
      },
      floor: async () => {
        const r = await timeProcess(process.execPath, [floorScript, pluginFile, envelope], {
          cwd: externalProject,
          env: floorEnv,
        });
        if (r.code !== 0 || !/"status": ?1/.test(r.stdout)) throw new Error(describeFailure('floor', r));
        return r.ms;
      },
      cluster: async () => {
        const started = performance.now();
        const embedded = await EmbeddedCluster.acquire(path.join(embeddedProject, '.taskhost'));
        await embedded.release();
        return performance.now() - started;
      },
    };

    for (let round = 0; round < warmup + reps; round += 1) {
      const record = round >= warmup;
      for (const index of rotation(VARIANTS.length, round)) {
        const variant = VARIANTS[index] as Variant;
        const ms = await invoke[variant](record);
        if (record) walls[variant].push(ms);
      }
    }

    // Cross-check: the stored runs' own durations. The embedded cluster is started once more
    // for this (by this process) and stopped again.
    const embeddedCluster = await EmbeddedCluster.acquire(path.join(embeddedProject, '.taskhost'));
    let embeddedDurations: Map<string, number>;
    try {
      embeddedDurations = await storedDurations(
        embeddedCluster.connection,
        runs.embedded.map((r) => r.runId),
      );
    } finally {
      await embeddedCluster.release();
    }
    const externalDurations = await storedDurations(
      cluster.connection,
      runs.external.map((r) => r.runId),
    );

    const s = {
      embedded: summarize(walls.embedded),
      external: summarize(walls.external),
      help: summarize(walls.help),
      node: summarize(walls.node),
      plugin: summarize(walls.plugin),
      floor: summarize(walls.floor),
      cluster: summarize(walls.cluster),
    };
    const plugin = s.plugin.median;
    const embeddedOverhead = s.embedded.median - plugin;
    const externalOverhead = s.external.median - plugin;
    const embeddedVsStore = overheadFromStore(runs.embedded, embeddedDurations);
    const externalVsStore = overheadFromStore(runs.external, externalDurations);
    const storedMedian = (m: Map<string, number>): number => median([...m.values()]);
    // When the result envelope reached stdout: what a user waits for (the embedded cluster is
    // stopped after that, before the process exits).
    const resultAt = {
      embedded: median(runs.embedded.map((r) => r.resultAt)),
      external: median(runs.external.map((r) => r.resultAt)),
    };

    /** A row: the variant's spread, then the columns that apply to it (blank otherwise). */
    const row = (label: string, spread: Summary, ...rest: string[]): string[] => [
      label,
      fmt(spread.median),
      fmt(spread.p10),
      fmt(spread.p90),
      fmt(spread.max),
      ...rest,
      ...Array<string>(4 - rest.length).fill(''),
    ];
    log(
      table([
        [
          'variant',
          'median ms',
          'p10',
          'p90',
          'max',
          'overhead ms (- plugin)',
          'wall - stored run ms',
          'stored run ms',
          'result on stdout at',
        ],
        row(
          'execute, embedded (cold cluster)',
          s.embedded,
          fmt(embeddedOverhead),
          fmt(embeddedVsStore),
          fmt(storedMedian(embeddedDurations)),
          fmt(resultAt.embedded),
        ),
        row(
          'execute, external (DATABASE_URL)',
          s.external,
          fmt(externalOverhead),
          fmt(externalVsStore),
          fmt(storedMedian(externalDurations)),
          fmt(resultAt.external),
        ),
        row('taskhost --help', s.help, fmt(s.help.median - s.node.median)),
        row('node -e 0 (baseline)', s.node),
        row('plugin alone (spawn)', s.plugin),
        row('floor: node + pg + 2 statements + plugin', s.floor, fmt(s.floor.median - plugin)),
        row('floor: embedded cluster start + stop', s.cluster),
      ]),
    );
    const floorNote = `floors on this machine: a bare node+pg stored run costs ${fmt(s.floor.median - plugin)} ms over its plugin (external target 120 ms); the embedded cluster's start and stop alone ${fmt(s.cluster.median)} ms (embedded target 200 ms)`;
    log(`   ${floorNote}`);
    result.notes.push(floorNote);
    log(
      '   (--help overhead column: --help minus node -e 0; "result on stdout at": median ms from spawn to the envelope on stdout)',
    );
    if (leftovers > 0) {
      const note = `${leftovers} embedded executes left postmaster.pid behind for a moment after exiting`;
      log(`   ${note}`);
      result.notes.push(note);
    }
    log(`   load average after: ${loadAverage()}`);

    Object.assign(result.metrics, {
      'embedded.wall_median_ms': s.embedded.median,
      'embedded.wall_p90_ms': s.embedded.p90,
      'embedded.overhead_ms': embeddedOverhead,
      'embedded.wall_minus_stored_run_ms': embeddedVsStore,
      'embedded.result_on_stdout_ms': resultAt.embedded,
      'external.result_on_stdout_ms': resultAt.external,
      'embedded.register_first_use_ms': setupEmbedded.ms,
      'external.wall_median_ms': s.external.median,
      'external.wall_p90_ms': s.external.p90,
      'external.overhead_ms': externalOverhead,
      'external.wall_minus_stored_run_ms': externalVsStore,
      'help.wall_median_ms': s.help.median,
      'help.wall_p90_ms': s.help.p90,
      'node_e0.wall_median_ms': s.node.median,
      'help.minus_node_ms': s.help.median - s.node.median,
      'plugin.spawn_median_ms': plugin,
      'floor.external_overhead_ms': s.floor.median - plugin,
      'floor.cluster_start_stop_ms': s.cluster.median,
      'embedded.postmaster_leftovers': leftovers,
    });
    result.targets.push(
      target(BENCHMARK, 'execute overhead, embedded cold', embeddedOverhead, 200, 'ms'),
      target(BENCHMARK, 'execute overhead, external', externalOverhead, 120, 'ms'),
      target(BENCHMARK, '--help wall time', s.help.median, 150, 'ms'),
    );
    return result;
  } finally {
    await cluster.stop();
    unregister();
    await stopLeftoverPostmaster(dataDir);
    removeDir(embeddedProject);
    removeDir(externalProject);
    if (fs.existsSync(dataDir)) log(`   warning: ${dataDir} still exists`);
  }
}

function repsFromArgv(): number | undefined {
  const index = process.argv.indexOf('--reps');
  return index > 0 ? Number(process.argv[index + 1]) : undefined;
}

runIfMain(import.meta.url, () => runCliOverhead({ reps: repsFromArgv() }));
