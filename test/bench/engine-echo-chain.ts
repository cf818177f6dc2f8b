/**
 * Engine echo chain (issue 12): the engine's cost per step when a step does no work, beside
 * a job queue doing the same sequence of nothing, in the same process and database.
 *
 *   taskhost  a 1,000-step chain of `echo` steps (each depends on the previous), created
 *             and resolved in this process through the engine's API (createTask, then
 *             resolveUntilSettled: what `taskhost run` does after loading its template).
 *             The template is loaded and checked once, outside the timing.
 *   graphile  graphile-worker 0.17 (concurrency 1, in this process) running a chain of 1,000
 *             no-op jobs, each adding the next with helpers.addJob; timed from adding the
 *             first job until the last one's completion is committed (its row is gone).
 *
 * Both run against one benchmark cluster, one database (taskhost's tables in `public`,
 * graphile-worker's in `graphile_worker`), interleaved round by round with the order
 * alternating, after a warm-up round. In-process on both sides: a worker library has no CLI
 * start-up to pay, so neither side does. Target: taskhost/graphile median <= 1.0.
 *
 * Also reported, per step or job: write transactions (xids assigned, from the snapshot's
 * xmax) and WAL bytes, which say how much each side asks of PostgreSQL.
 *
 *   node --import tsx test/bench/engine-echo-chain.ts [--rounds N] [--steps N]
 */
import { Logger, run as runGraphileWorker, type Runner } from 'graphile-worker';
import {
  chainTemplate,
  loadSnapshot,
  openStore,
  runInProcess,
  stepsInState,
  writeMark,
  writesSince,
} from './engine-lib.ts';
import {
  fmt,
  loadAverage,
  log,
  median,
  onCleanup,
  rotation,
  runIfMain,
  sleep,
  spread,
  startCluster,
  summarize,
  table,
  target,
  type BenchResult,
} from './lib.ts';
import type { Store } from '../../src/store/store.ts';

const BENCHMARK = 'engine-echo-chain';
const RATIO_LIMIT = 1.0;

export interface EchoChainOptions {
  rounds?: number;
  warmup?: number;
  steps?: number;
}

type Variant = 'taskhost' | 'graphile';
const VARIANTS: readonly Variant[] = ['taskhost', 'graphile'];

interface Sample {
  ms: number;
  /** This process's CPU time (user + system) during the run. */
  cpuMs: number;
  xids: number;
  walBytes: number;
}

export async function runEngineEchoChain(options: EchoChainOptions = {}): Promise<BenchResult> {
  const rounds = options.rounds ?? 5;
  const warmup = options.warmup ?? 1;
  const steps = options.steps ?? 1000;
  log(
    `== ${BENCHMARK}: a ${steps}-step echo chain in-process (engine API) vs graphile-worker, ${rounds} interleaved rounds, ${warmup} warm-up`,
  );
  log(`   load average before: ${loadAverage()}`);
  const result: BenchResult = {
    benchmark: BENCHMARK,
    metrics: { rounds, warmup, steps, taskhost_mode: 'in-process (engine API)' },
    targets: [],
    notes: [],
  };

  const cluster = await startCluster();
  let store: Store | null = null;
  let runner: Runner | null = null;
  const unregister = onCleanup(async () => {
    await runner?.stop().catch(() => undefined);
    await store?.close().catch(() => undefined);
  });
  try {
    store = await openStore(cluster.connection, 'taskhost-bench/engine-echo-chain');
    const loadStarted = performance.now();
    const snapshot = await loadSnapshot(
      store,
      chainTemplate('echo-chain', steps, (index) => `{type: echo, configuration: {output: {n: ${index}}}}`),
      'echo-chain.yaml',
    );
    const loadMs = performance.now() - loadStarted;
    log(`   template of ${steps} steps loaded and checked in ${fmt(loadMs, 0)} ms (not timed below)`);

    // graphile-worker: one runner for the whole benchmark (its migrations run here, untimed).
    let lastJobStarted: (() => void) | null = null;
    runner = await runGraphileWorker({
      connectionString: cluster.url,
      concurrency: 1,
      noHandleSignals: true,
      logger: new Logger(() => () => undefined),
      taskList: {
        noop: async (payload, helpers) => {
          const n = (payload as { n: number }).n;
          if (n + 1 < steps) await helpers.addJob('noop', { n: n + 1 });
          else lastJobStarted?.();
        },
      },
    });
    const graphileRunner = runner;
    const activeStore = store;

    const invoke: Record<Variant, () => Promise<number>> = {
      taskhost: async () => {
        const run = await runInProcess(activeStore, snapshot);
        if (run.taskState !== 'DONE') throw new Error(`echo chain ended ${run.taskState}`);
        const done = await stepsInState(activeStore, run.resolutionId, 'DONE');
        if (done !== steps) throw new Error(`echo chain: ${done} of ${steps} steps DONE`);
        return run.ms;
      },
      graphile: async () => {
        const last = new Promise<void>((resolve) => (lastJobStarted = resolve));
        const started = performance.now();
        await graphileRunner.addJob('noop', { n: 0 });
        await last;
        // The last job's completion (its row deleted) is committed by the worker after the
        // handler returns: wait for it, as taskhost's time includes its last commit.
        for (;;) {
          const { rows } = await activeStore.query(`SELECT 1 FROM graphile_worker._private_jobs LIMIT 1`);
          if (rows.length === 0) break;
          await sleep(1);
        }
        return performance.now() - started;
      },
    };

    const samples: Record<Variant, Sample[]> = { taskhost: [], graphile: [] };
    for (let round = 0; round < warmup + rounds; round += 1) {
      for (const index of rotation(VARIANTS.length, round)) {
        const variant = VARIANTS[index] as Variant;
        const mark = await writeMark(activeStore);
        const cpu = process.cpuUsage();
        const ms = await invoke[variant]();
        const { user, system } = process.cpuUsage(cpu);
        const writes = await writesSince(activeStore, mark);
        const measured = round >= warmup;
        log(
          `   ${measured ? `round ${round - warmup + 1}` : 'warm-up'} ${variant}: ${fmt(ms, 0)} ms, ${fmt(ms / steps)} ms/step`,
        );
        if (measured) samples[variant].push({ ms, cpuMs: (user + system) / 1000, ...writes });
      }
    }

    const time = {
      taskhost: summarize(samples.taskhost.map((s) => s.ms)),
      graphile: summarize(samples.graphile.map((s) => s.ms)),
    };
    const perStep = (variant: Variant, field: 'cpuMs' | 'xids' | 'walBytes'): number =>
      summarize(samples[variant].map((s) => s[field] / steps)).median;
    const ratio = time.taskhost.median / time.graphile.median;
    const rows = [
      [
        'variant',
        'total ms',
        'ms/step',
        'p10 ms/step',
        'p90 ms/step',
        'spread',
        'node CPU ms/step',
        'write xacts/step',
        'WAL bytes/step',
      ],
      ...VARIANTS.map((variant) => [
        variant === 'taskhost' ? 'taskhost engine (in-process)' : 'graphile-worker 0.17 (in-process)',
        fmt(time[variant].median, 0),
        fmt(time[variant].median / steps),
        fmt(time[variant].p10 / steps),
        fmt(time[variant].p90 / steps),
        fmt(spread(time[variant])),
        fmt(perStep(variant, 'cpuMs')),
        fmt(perStep(variant, 'xids'), 1),
        fmt(perStep(variant, 'walBytes'), 0),
      ]),
    ];
    log(table(rows));
    // The same ratio round by round: drift in the machine's load hits both halves of a round.
    const paired = median(samples.taskhost.map((t, i) => t.ms / (samples.graphile[i]?.ms ?? Number.NaN)));
    log(
      `   taskhost/graphile: ${fmt(ratio, 3)} (medians of ${rounds} rounds); median of the per-round ratios ${fmt(paired, 3)}`,
    );
    log(`   load average after: ${loadAverage()}`);

    for (const variant of VARIANTS) {
      result.metrics[`${variant}.total_median_ms`] = time[variant].median;
      result.metrics[`${variant}.ms_per_step`] = time[variant].median / steps;
      result.metrics[`${variant}.p90_ms_per_step`] = time[variant].p90 / steps;
      result.metrics[`${variant}.node_cpu_ms_per_step`] = perStep(variant, 'cpuMs');
      result.metrics[`${variant}.write_xacts_per_step`] = perStep(variant, 'xids');
      result.metrics[`${variant}.wal_bytes_per_step`] = perStep(variant, 'walBytes');
    }
    result.metrics['taskhost.template_load_ms'] = loadMs;
    result.metrics.taskhost_over_graphile = ratio;
    result.metrics.taskhost_over_graphile_paired = paired;
    result.targets.push(target(BENCHMARK, 'echo chain taskhost/graphile median', ratio, RATIO_LIMIT, 'x'));
    return result;
  } finally {
    unregister();
    await runner?.stop().catch(() => undefined);
    await store?.close().catch(() => undefined);
    await cluster.stop();
  }
}

function numberFromArgv(flag: string): number | undefined {
  const index = process.argv.indexOf(flag);
  return index > 0 ? Number(process.argv[index + 1]) : undefined;
}

runIfMain(import.meta.url, () =>
  runEngineEchoChain({ rounds: numberFromArgv('--rounds'), steps: numberFromArgv('--steps') }),
);
