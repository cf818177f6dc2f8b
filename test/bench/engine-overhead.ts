/**
 * Engine overhead (issue 12): what `taskhost run` costs per step of a plugin chain over the
 * work such a chain cannot avoid, in the same run and the same database.
 *
 *   engine    `taskhost run chain-200.yaml --json` (the compiled CLI, as a user runs it) on a
 *             200-step chain of the bench-ok plugin (a bash v1 plugin: reads stdin, prints
 *             {"status":1,"reason":"ok","payload":{}}), each step depending on the previous;
 *             DATABASE_URL points at a cluster this benchmark starts once.
 *   baseline  in this process: 200 sequential child_process spawns of the same executable
 *             (same stdin envelope, environment and cwd the engine gives it), each between
 *             two single-row INSERTs committed on their own (autocommit) in the same
 *             database: 200 spawns + 400 commits, the least a durable chain does.
 *   engine-1  `taskhost run chain-1.yaml --json`: one step, so that the CLI's fixed cost
 *             (node start, template load, store) can be told from the cost per step:
 *             marginal ms/step = (engine - engine-1) / 199.
 *
 * The variants are interleaved round by round (order rotating) after a short warm-up (the
 * 1-step run and 10 baseline steps).
 * Target: engine/baseline median <= 1.25 (whole run, CLI start-up included).
 *
 *   node --import tsx test/bench/engine-overhead.ts [--rounds N]
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { pluginEnvironment } from '../../src/plugins/environment.ts';
import { buildInputEnvelope } from '../../src/protocol/envelope.ts';
import { chainTemplate } from './engine-lib.ts';
import {
  cleanEnv,
  fixture,
  fmt,
  loadAverage,
  log,
  median,
  onCleanup,
  removeDir,
  rotation,
  runIfMain,
  spread,
  startCluster,
  summarize,
  table,
  TASKHOST_BIN,
  target,
  tempDir,
  timeProcess,
  type BenchResult,
  type Timed,
} from './lib.ts';

const BENCHMARK = 'engine-overhead';
const PLUGIN = 'bench-ok';
const RATIO_LIMIT = 1.25;

export interface EngineOverheadOptions {
  rounds?: number;
  warmup?: number;
  steps?: number;
}

type Variant = 'engine' | 'baseline' | 'engine1';
const VARIANTS: readonly Variant[] = ['engine', 'baseline', 'engine1'];

interface TaskDocumentJson {
  state?: string;
  steps?: Record<string, { state?: string }>;
}

function describeFailure(what: string, result: Timed): string {
  return `${what}: exit ${result.code ?? result.signal}\n--- stdout\n${result.stdout.slice(-4000)}\n--- stderr\n${result.stderr.slice(-4000)}`;
}

/** Throws unless `taskhost run --json` ended DONE with `steps` steps, all DONE. */
function checkRun(what: string, result: Timed, steps: number): void {
  if (result.code !== 0) throw new Error(describeFailure(what, result));
  const document = JSON.parse(result.stdout) as TaskDocumentJson;
  const states = Object.values(document.steps ?? {}).map((step) => step.state);
  if (document.state !== 'DONE' || states.length !== steps || states.some((state) => state !== 'DONE')) {
    throw new Error(describeFailure(`${what}: not ${steps} steps DONE`, result));
  }
}

export async function runEngineOverhead(options: EngineOverheadOptions = {}): Promise<BenchResult> {
  const rounds = options.rounds ?? 3;
  const warmup = options.warmup ?? 1;
  const steps = options.steps ?? 200;
  log(
    `== ${BENCHMARK}: \`taskhost run\` of a ${steps}-step plugin chain vs ${steps} spawns + ${2 * steps} commits, ${rounds} interleaved rounds, ${warmup} warm-up`,
  );
  log(`   load average before: ${loadAverage()}`);
  const result: BenchResult = {
    benchmark: BENCHMARK,
    metrics: { rounds, warmup, steps },
    targets: [],
    notes: [],
  };

  const pluginFile = fixture('bench-ok.sh');
  const project = tempDir('engine-overhead');
  const unregisterProject = onCleanup(async () => removeDir(project));
  const cluster = await startCluster();
  const client = new pg.Client({ ...cluster.connection, application_name: 'taskhost-bench/baseline' });
  try {
    const env = cleanEnv({ DATABASE_URL: cluster.url });
    const chainFile = path.join(project, `chain-${steps}.yaml`);
    const oneFile = path.join(project, 'chain-1.yaml');
    const action = (index: number): string => `{type: ${PLUGIN}, configuration: {n: ${index}}}`;
    fs.writeFileSync(chainFile, chainTemplate(`plugin-chain-${steps}`, steps, action));
    fs.writeFileSync(oneFile, chainTemplate('plugin-chain-1', 1, action));

    const register = await timeProcess(
      TASKHOST_BIN,
      ['register', '--name', PLUGIN, '--location', pluginFile],
      { cwd: project, env },
    );
    if (register.code !== 0) throw new Error(describeFailure('register', register));

    await client.connect();
    await client.query(
      `CREATE TABLE bench_commit (id bigserial PRIMARY KEY, step text NOT NULL, state text NOT NULL, at timestamptz NOT NULL DEFAULT now())`,
    );

    // The baseline's plugin runs get what the engine's get: the envelope (with a task, a run
    // and a step named), the environment and the plugin's directory as cwd.
    const taskId = randomUUID();
    const spawnMs: number[] = [];
    const commitMs: number[] = [];
    const commit = async (step: string, state: string): Promise<void> => {
      const started = performance.now();
      await client.query('INSERT INTO bench_commit (step, state) VALUES ($1, $2)', [step, state]);
      commitMs.push(performance.now() - started);
    };

    const run = async (file: string, count: number, what: string): Promise<number> => {
      const r = await timeProcess(TASKHOST_BIN, ['run', file, '--json'], { cwd: project, env });
      checkRun(what, r, count);
      return r.ms;
    };
    const baseline = async (count: number): Promise<number> => {
      const started = performance.now();
      for (let index = 0; index < count; index += 1) {
        const stepName = `s${index}`;
        const runId = randomUUID();
        await commit(stepName, 'RUNNING');
        const input = JSON.stringify(
          buildInputEnvelope({ taskName: PLUGIN, taskId, runId, stepName, attempt: 1 }, { n: index }),
        );
        const r = await timeProcess(pluginFile, [], {
          input,
          cwd: path.dirname(pluginFile),
          env: pluginEnvironment({ pluginName: PLUGIN, runId, taskId, stepName }),
        });
        if (r.code !== 0 || !r.stdout.includes('"status":1')) throw new Error(describeFailure('plugin', r));
        spawnMs.push(r.ms);
        await commit(stepName, 'DONE');
      }
      return performance.now() - started;
    };
    const invoke: Record<Variant, () => Promise<number>> = {
      engine: () => run(chainFile, steps, `taskhost run (${steps} steps)`),
      engine1: () => run(oneFile, 1, 'taskhost run (1 step)'),
      baseline: () => baseline(steps),
    };

    // Warm-up (short: a full round costs ~40 s on a loaded 2-core machine): the CLI's
    // caches, the cluster's buffers, bash in the page cache.
    for (let round = 0; round < warmup; round += 1) {
      log(
        `   warm-up: engine1 ${fmt(await invoke.engine1(), 0)} ms, 10-step baseline ${fmt(await baseline(10), 0)} ms`,
      );
    }
    spawnMs.length = 0;
    commitMs.length = 0;
    const walls: Record<Variant, number[]> = { engine: [], baseline: [], engine1: [] };
    for (let round = 0; round < rounds; round += 1) {
      for (const index of rotation(VARIANTS.length, round)) {
        const variant = VARIANTS[index] as Variant;
        const ms = await invoke[variant]();
        walls[variant].push(ms);
        log(`   round ${round + 1} ${variant}: ${fmt(ms, 0)} ms`);
      }
    }

    const s = {
      engine: summarize(walls.engine),
      baseline: summarize(walls.baseline),
      engine1: summarize(walls.engine1),
    };
    const ratio = s.engine.median / s.baseline.median;
    const marginal = (s.engine.median - s.engine1.median) / (steps - 1);
    const baselinePerStep = s.baseline.median / steps;
    const spawnMedian = summarize(spawnMs).median;
    const commitMedian = summarize(commitMs).median;
    log(
      table([
        ['variant', 'total ms', 'ms/step', 'p10 total', 'p90 total', 'spread'],
        [
          `taskhost run, ${steps} steps (CLI)`,
          fmt(s.engine.median, 0),
          fmt(s.engine.median / steps),
          fmt(s.engine.p10, 0),
          fmt(s.engine.p90, 0),
          fmt(spread(s.engine)),
        ],
        [
          `baseline: ${steps} spawns + ${2 * steps} commits`,
          fmt(s.baseline.median, 0),
          fmt(baselinePerStep),
          fmt(s.baseline.p10, 0),
          fmt(s.baseline.p90, 0),
          fmt(spread(s.baseline)),
        ],
        [
          'taskhost run, 1 step (CLI fixed cost)',
          fmt(s.engine1.median, 0),
          '',
          fmt(s.engine1.p10, 0),
          fmt(s.engine1.p90, 0),
          fmt(spread(s.engine1)),
        ],
      ]),
    );
    // The same ratio round by round: drift in the machine's load hits a whole round alike.
    const paired = median(walls.engine.map((ms, i) => ms / (walls.baseline[i] ?? Number.NaN)));
    log(
      `   engine/baseline: ${fmt(ratio, 3)} (medians); median of the per-round ratios ${fmt(paired, 3)}; engine marginal ${fmt(marginal)} ms/step (excluding the CLI's fixed cost) = ${fmt(marginal / baselinePerStep, 3)} x baseline per step`,
    );
    log(
      `   inside the baseline: plugin spawn median ${fmt(spawnMedian)} ms, single-row commit median ${fmt(commitMedian)} ms`,
    );
    log(`   load average after: ${loadAverage()}`);

    Object.assign(result.metrics, {
      'engine.total_median_ms': s.engine.median,
      'engine.ms_per_step': s.engine.median / steps,
      'engine.marginal_ms_per_step': marginal,
      'engine1.total_median_ms': s.engine1.median,
      'baseline.total_median_ms': s.baseline.median,
      'baseline.ms_per_step': baselinePerStep,
      'baseline.spawn_median_ms': spawnMedian,
      'baseline.commit_median_ms': commitMedian,
      engine_over_baseline: ratio,
      engine_over_baseline_paired: paired,
      engine_marginal_over_baseline: marginal / baselinePerStep,
    });
    result.targets.push(
      target(BENCHMARK, `taskhost run ${steps}-step chain/baseline median`, ratio, RATIO_LIMIT, 'x'),
    );
    return result;
  } finally {
    await client.end().catch(() => undefined);
    await cluster.stop();
    unregisterProject();
    removeDir(project);
  }
}

function roundsFromArgv(): number | undefined {
  const index = process.argv.indexOf('--rounds');
  return index > 0 ? Number(process.argv[index + 1]) : undefined;
}

runIfMain(import.meta.url, () => runEngineOverhead({ rounds: roundsFromArgv() }));
