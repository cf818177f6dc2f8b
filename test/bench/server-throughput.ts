/**
 * Server throughput (issue 13, benchmark a): tasks per second of a 3-step `echo` template
 * (auto_runnable) through `taskhost serve`, with 1 and with 3 instances on one PostgreSQL,
 * beside graphile-worker 0.17 running no-op jobs at concurrency 10 on the same cluster.
 *
 *   taskhost x1  one serve process (its own process, the compiled dist/, store: database
 *                `th1` of the benchmark cluster)
 *   taskhost x3  three serve processes sharing database `th3`
 *         each:  `tasks` tasks of a template whose three echo steps run one after the other,
 *                made with µTask's POST /batch: BATCHES requests of equal shares sent at once,
 *                round-robin over the instances (x3: one each; x1: all three), so that both
 *                variants serve the same client (`--post`: a POST /task a task instead, at
 *                most `inFlight` at once); each instance's scheduler claims what it can.
 *                Timed from just before the first POST to the last task's end, as
 *                PostgreSQL stamped it (the greatest `last_activity` of the round's tasks:
 *                their final transaction's now()), so the polling that waits for the end
 *                adds nothing. Every task must end DONE.
 *   graphile     graphile-worker 0.17 in this process (`run`, concurrency 10, database
 *                `graphile`), `jobs` no-op jobs added in one addJobs call; timed from just
 *                before the call to the last `job:complete` (the job's deletion committed).
 *
 * A batch is one HTTP request and one transaction writing its tasks, each with its
 * resolution and its 3 steps; each task then takes at least a claim and 3 step transitions,
 * each durable. A graphile job is one row added in bulk and one deleted. Target (issue 13):
 * taskhost tasks/s >= 0.5 x graphile jobs/s, reported as graphile jobs/s / taskhost
 * tasks/s <= 2. The variants run interleaved round by round (the order rotating), after
 * warm-up rounds (untimed) until each serve instance has run `warmupPerInstance` tasks (1,200:
 * 2 rounds with one instance, 6 with three) and graphile one round. What is measured is the
 * steady state of servers that have run a while. Why that many: a serve's JIT compilation
 * (V8's background threads) goes on for about a thousand tasks. Measured with three
 * instances, 200 tasks each a round: the CPU of one serve's other threads fell 20 -> 16 -> 9
 * -> 8 -> 2 -> 2 jiffies a round while its main thread stayed at 18 -> 12 (it stayed high
 * with V8's GC single-threaded, so it is compilation), and the three instances' tasks/s
 * rose 467 -> 634 -> 715 -> 774 -> 784 -> 923; with one warm-up round each, three instances
 * were measured on that slope. The ratio is of the medians, the per-round ratios are shown too.
 *
 *   node --import tsx test/bench/server-throughput.ts [--rounds N] [--tasks N] [--jobs N]
 */
import {
  Logger,
  makeWorkerUtils,
  run as runGraphileWorker,
  type Runner,
  type WorkerUtils,
} from 'graphile-worker';
import type { Store } from '../../src/store/store.ts';
import { writeMark, writesSince } from './engine-lib.ts';
import {
  cpuMs,
  fmt,
  loadAverage,
  log,
  median,
  onCleanup,
  removeDir,
  rotation,
  runIfMain,
  sleep,
  startCluster,
  startServer,
  summarize,
  table,
  target,
  tempDir,
  wallClockMs,
  type BenchResult,
  type ServerProcess,
} from './lib.ts';
import {
  createBatchTasks,
  createDatabase,
  createTasks,
  databaseUrl,
  describeStates,
  echoTemplate,
  fsyncLatencyMs,
  templatesDir,
  waitTasksEnded,
} from './server-lib.ts';

const BENCHMARK = 'server-throughput';
/** graphile jobs/s over taskhost tasks/s: at most 2 (taskhost at least half as fast). */
const RATIO_LIMIT = 2;
const TEMPLATE = 'echo3';
/** POST /batch requests a round (one for each of the three instances of x3). */
const BATCHES = 3;

export interface ServerThroughputOptions {
  rounds?: number;
  /** Tasks each serve instance runs before the measured rounds (in whole rounds). */
  warmupPerInstance?: number;
  /** Tasks per taskhost round. */
  tasks?: number;
  /** Jobs per graphile round. */
  jobs?: number;
  /** POST /task requests in flight at once (`create: 'post'`). */
  inFlight?: number;
  /** How the tasks are made: µTask's POST /batch, BATCHES requests (default), or a POST /task each. */
  create?: 'batch' | 'post';
}

type Variant = 'taskhost x1' | 'taskhost x3' | 'graphile';
const VARIANTS: readonly Variant[] = ['taskhost x1', 'taskhost x3', 'graphile'];

interface Sample {
  ms: number;
  perSecond: number;
  /** Taskhost: the POSTs alone (from the first sent to the last answered). */
  createMs: number;
  /** CPU used meanwhile by the serve processes (taskhost) or by this process (graphile). */
  cpuMs: number;
  /** Write transactions (xids assigned, whole cluster) and WAL bytes of the round. */
  xids: number;
  walBytes: number;
}

export async function runServerThroughput(options: ServerThroughputOptions = {}): Promise<BenchResult> {
  const rounds = options.rounds ?? 3;
  const warmupPerInstance = options.warmupPerInstance ?? 1200;
  const tasks = options.tasks ?? 600;
  const jobs = options.jobs ?? 5000;
  const inFlight = options.inFlight ?? 16;
  const create = options.create ?? 'batch';
  log(
    `== ${BENCHMARK}: ${tasks} tasks of 3 echo steps (made by ${create === 'batch' ? `${BATCHES} POST /batch` : 'POST /task'}) through 1 and 3 serve instances vs ${jobs} graphile-worker no-op jobs (concurrency 10); ${rounds} interleaved rounds after warm-up rounds (${warmupPerInstance} tasks a serve instance, graphile one round)`,
  );
  log(`   load average before: ${loadAverage()}`);
  const result: BenchResult = {
    benchmark: BENCHMARK,
    metrics: {
      rounds,
      warmup_tasks_per_instance: warmupPerInstance,
      tasks,
      jobs,
      in_flight: inFlight,
      create,
    },
    targets: [],
    notes: [],
  };

  const templates = templatesDir({ [TEMPLATE]: echoTemplate(TEMPLATE, true) });
  const noPlugins = tempDir('no-plugins');
  const cluster = await startCluster();
  const fsyncMs = fsyncLatencyMs(cluster.root);
  result.metrics.fsync_8k_median_ms = fsyncMs;
  log(`   an 8 KiB write + fdatasync on the cluster's disk: ${fmt(fsyncMs)} ms (median)`);
  const stores: Store[] = [];
  let runner: Runner | null = null;
  let utils: WorkerUtils | null = null;
  const servers: ServerProcess[] = [];
  const release = async (): Promise<void> => {
    await runner?.stop().catch(() => undefined);
    await Promise.resolve(utils?.release()).catch(() => undefined);
    for (const server of servers) await server.stop();
    for (const store of stores) await store.close().catch(() => undefined);
  };
  const unregister = onCleanup(release);
  try {
    const one = await createDatabase(cluster, 'th1');
    const three = await createDatabase(cluster, 'th3');
    stores.push(one, three);
    const serverOptions = { tasksDir: noPlugins, templatesDir: templates };
    const single = await startServer({ ...serverOptions, databaseUrl: databaseUrl(cluster, 'th1') });
    servers.push(single);
    const trio: ServerProcess[] = [];
    for (let i = 0; i < 3; i += 1) {
      trio.push(await startServer({ ...serverOptions, databaseUrl: databaseUrl(cluster, 'th3') }));
    }
    servers.push(...trio);

    const admin = await createDatabase(cluster, 'graphile');
    stores.push(admin);
    const graphileUrl = databaseUrl(cluster, 'graphile');
    let completed = 0;
    let failed = 0;
    let onComplete: (() => void) | null = null;
    // A runner a round (started and stopped untimed): its connections' plan caches start
    // afresh. Why: graphile's job fetch is a prepared statement, and a runner kept across
    // rounds (the queue emptied and vacuumed in between) may settle on a generic plan that
    // scans the whole table for each job: 3-4x slower rounds at random (measured: 17.8M
    // tuples read in one round of 5,000 jobs), a baseline that would flatter taskhost.
    const startRunner = async (): Promise<Runner> => {
      const started = await runGraphileWorker({
        connectionString: graphileUrl,
        concurrency: 10,
        noHandleSignals: true,
        logger: new Logger(() => () => undefined),
        taskList: { noop: async () => undefined },
      });
      started.events.on('job:complete', ({ error }) => {
        if (error) failed += 1;
        completed += 1;
        onComplete?.();
      });
      return started;
    };
    utils = await makeWorkerUtils({
      connectionString: graphileUrl,
      logger: new Logger(() => () => undefined),
    });
    const graphileUtils = utils;

    const runTaskhost = async (
      group: readonly ServerProcess[],
      store: Store,
      count: number,
    ): Promise<Sample> => {
      const cpu0 = group.map((server) => cpuMs(server.pid));
      const started = wallClockMs();
      const ids =
        create === 'batch'
          ? await createBatchTasks(group, store, TEMPLATE, count, BATCHES)
          : await createTasks(group, TEMPLATE, count, inFlight);
      const createMs = wallClockMs() - started;
      const end = await waitTasksEnded(store, ids, 600_000);
      const cpu = group.reduce((sum, server, i) => sum + cpuMs(server.pid) - (cpu0[i] ?? 0), 0);
      if ((end.states.DONE ?? 0) !== count) {
        throw new Error(`taskhost x${group.length}: ${describeStates(end.states)} (expected DONE ${count})`);
      }
      const ms = end.lastActivityMs - started;
      return { ms, perSecond: (count * 1000) / ms, createMs, cpuMs: cpu, xids: 0, walBytes: 0 };
    };
    const runGraphile = async (count: number): Promise<Sample> => {
      completed = 0;
      failed = 0;
      const all = new Promise<void>((resolve) => {
        onComplete = () => {
          if (completed >= count) resolve();
        };
      });
      const specs = Array.from({ length: count }, () => ({ identifier: 'noop', payload: {} }));
      runner = await startRunner();
      const cpu0 = process.cpuUsage();
      const started = performance.now();
      await graphileUtils.addJobs(specs);
      const createMs = performance.now() - started;
      await all;
      // job:complete can fire before the job's deletion is committed (completions are
      // written in batches): the round ends when the queue is empty.
      for (;;) {
        const { rows } = await admin.query('SELECT 1 FROM graphile_worker._private_jobs LIMIT 1');
        if (rows.length === 0) break;
        await sleep(1);
      }
      const ms = performance.now() - started;
      const { user, system } = process.cpuUsage(cpu0);
      onComplete = null;
      await runner.stop();
      runner = null;
      if (failed > 0) throw new Error(`graphile: ${failed} no-op jobs failed`);
      return {
        ms,
        perSecond: (count * 1000) / ms,
        createMs,
        cpuMs: (user + system) / 1000,
        xids: 0,
        walBytes: 0,
      };
    };
    const invoke: Record<Variant, () => Promise<Sample>> = {
      'taskhost x1': () => runTaskhost([single], one, tasks),
      'taskhost x3': () => runTaskhost(trio, three, tasks),
      graphile: () => runGraphile(jobs),
    };

    const vacuum: Record<Variant, () => Promise<unknown>> = {
      'taskhost x1': () => one.query('VACUUM'),
      'taskhost x3': () => three.query('VACUUM'),
      graphile: () => admin.query('VACUUM'),
    };

    const warmupRounds: Record<Variant, number> = {
      'taskhost x1': Math.ceil(warmupPerInstance / tasks),
      'taskhost x3': Math.ceil((warmupPerInstance * trio.length) / tasks),
      graphile: 1,
    };
    const warmup = Math.max(...Object.values(warmupRounds));
    const samples: Record<Variant, Sample[]> = { 'taskhost x1': [], 'taskhost x3': [], graphile: [] };
    for (let round = 0; round < warmup + rounds; round += 1) {
      const measured = round >= warmup;
      for (const index of rotation(VARIANTS.length, round)) {
        const variant = VARIANTS[index] as Variant;
        if (!measured && round >= warmupRounds[variant]) continue;
        const mark = await writeMark(admin);
        const sample = {
          ...(await invoke[variant]()),
          ...(await writesSince(admin, mark)),
        };
        // Untimed: the round's dead rows vacuumed now rather than by autovacuum in the next one.
        await vacuum[variant]();
        log(
          `   ${measured ? `round ${round - warmup + 1}` : 'warm-up'} ${variant}: ${fmt(sample.ms, 0)} ms, ${fmt(sample.perSecond, 1)}/s (creation ${fmt(sample.createMs, 0)} ms)`,
        );
        if (measured) samples[variant].push(sample);
      }
    }

    const rate = (variant: Variant): number => median(samples[variant].map((s) => s.perSecond));
    const units: Record<Variant, number> = { 'taskhost x1': tasks, 'taskhost x3': tasks, graphile: jobs };
    const rows: string[][] = [
      [
        'variant',
        'per s (median)',
        'p10..p90 per s',
        'total ms',
        'creation ms',
        'CPU ms / item',
        'write xacts / item',
        'WAL bytes / item',
        'by round /s',
      ],
    ];
    for (const variant of VARIANTS) {
      const perSecond = summarize(samples[variant].map((s) => s.perSecond));
      const label =
        variant === 'graphile' ? `graphile-worker 0.17 (${jobs} jobs, c=10)` : `${variant} (${tasks} tasks)`;
      rows.push([
        label,
        fmt(perSecond.median, 1),
        `${fmt(perSecond.p10, 1)}..${fmt(perSecond.p90, 1)}`,
        fmt(median(samples[variant].map((s) => s.ms)), 0),
        fmt(median(samples[variant].map((s) => s.createMs)), 0),
        fmt(median(samples[variant].map((s) => s.cpuMs / units[variant])), 2),
        fmt(median(samples[variant].map((s) => s.xids / units[variant])), 1),
        fmt(median(samples[variant].map((s) => s.walBytes / units[variant])), 0),
        samples[variant].map((s) => fmt(s.perSecond, 0)).join(' '),
      ]);
      const key = variant.replace(' ', '_');
      result.metrics[`${key}.per_second`] = perSecond.median;
      result.metrics[`${key}.total_median_ms`] = median(samples[variant].map((s) => s.ms));
      result.metrics[`${key}.creation_median_ms`] = median(samples[variant].map((s) => s.createMs));
      result.metrics[`${key}.cpu_ms_per_item`] = median(
        samples[variant].map((s) => s.cpuMs / units[variant]),
      );
      result.metrics[`${key}.write_xacts_per_item`] = median(
        samples[variant].map((s) => s.xids / units[variant]),
      );
      result.metrics[`${key}.wal_bytes_per_item`] = median(
        samples[variant].map((s) => s.walBytes / units[variant]),
      );
    }
    log(table(rows));
    const graphileRate = rate('graphile');
    for (const variant of ['taskhost x1', 'taskhost x3'] as const) {
      const ratio = graphileRate / rate(variant);
      const paired = median(
        samples[variant].map((s, i) => (samples.graphile[i]?.perSecond ?? Number.NaN) / s.perSecond),
      );
      log(
        `   graphile jobs/s / ${variant} tasks/s: ${fmt(ratio, 3)} (of the medians); median of the per-round ratios ${fmt(paired, 3)}`,
      );
      const key = variant.replace(' ', '_');
      result.metrics[`graphile_over_${key}`] = ratio;
      result.metrics[`graphile_over_${key}_paired`] = paired;
      result.targets.push(
        target(BENCHMARK, `graphile jobs/s / ${variant} tasks/s (3 echo steps)`, ratio, RATIO_LIMIT, 'x'),
      );
    }
    result.metrics['taskhost_x3_over_x1'] = rate('taskhost x3') / rate('taskhost x1');
    log(`   3 instances / 1 instance: ${fmt(rate('taskhost x3') / rate('taskhost x1'), 3)} (tasks/s)`);
    log(`   load average after: ${loadAverage()}`);
    result.notes.push(
      "taskhost CPU is the serve processes' only (PostgreSQL and this client excluded); graphile CPU is this process (worker in-process, PostgreSQL excluded)",
    );
    return result;
  } finally {
    unregister();
    await release();
    await cluster.stop();
    removeDir(templates);
    removeDir(noPlugins);
  }
}

function numberFromArgv(flag: string): number | undefined {
  const index = process.argv.indexOf(flag);
  return index > 0 ? Number(process.argv[index + 1]) : undefined;
}

runIfMain(import.meta.url, () =>
  runServerThroughput({
    rounds: numberFromArgv('--rounds'),
    tasks: numberFromArgv('--tasks'),
    jobs: numberFromArgv('--jobs'),
    create: process.argv.includes('--post') ? 'post' : 'batch',
  }),
);
