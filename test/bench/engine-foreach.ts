/**
 * Engine foreach (issue 12): a foreach over N items (N = 500, 1000, 2000) of `echo`
 * children must cost the same per item whatever N (linear, not quadratic), and say what it
 * costs in memory and in rows written.
 *
 * Each N runs in a child process of its own (`--child N`), so that its peak RSS (VmHWM of
 * /proc/self/status) is that run's alone. The child, in-process through the engine's API:
 *   1. loads and checks the template, runs a 50-item foreach as a warm-up (JIT, caches),
 *      and closes that store;
 *   2. reads pg_stat_user_tables once the warm-up's backends are gone (a backend's table
 *      counters reach the statistics when it exits);
 *   3. creates and resolves the task over N items, timed from createTask to the settled
 *      resolution, sampling process.memoryUsage().rss every 20 ms;
 *   4. closes the store, waits for its backends to be gone and the counters to settle,
 *      reads them again, and prints one JSON line.
 * Rows written per step transition = tuples inserted + updated + deleted (all of taskhost's
 * tables, and resolution_step alone) / the task's committed step state changes (its `step`
 * events: each child TODO→RUNNING→DONE, the parent's own).
 *
 * The Ns are interleaved round by round (order rotating). Target: ms/item at 2000 over
 * ms/item at 500 (medians) <= 1.5.
 *
 *   node --import tsx test/bench/engine-foreach.ts [--rounds N]
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { foreachTemplate, loadSnapshot, openStore, runInProcess, stepTransitions } from './engine-lib.ts';
import {
  cleanEnv,
  fmt,
  loadAverage,
  log,
  median,
  PROJECT_DIR,
  rotation,
  runIfMain,
  sleep,
  startCluster,
  table,
  target,
  timeProcess,
  type BenchCluster,
  type BenchResult,
} from './lib.ts';

const BENCHMARK = 'engine-foreach';
const SIZES = [500, 1000, 2000] as const;
const RATIO_LIMIT = 1.5;
const WARMUP_ITEMS = 50;
/** A child that takes longer than this is killed (and the benchmark crashes, naming N). */
const CHILD_TIMEOUT_MS = 150_000;
const THIS_FILE = fileURLToPath(import.meta.url);

export interface ForeachOptions {
  rounds?: number;
}

/** What a child prints. */
interface ChildReport {
  items: number;
  ms: number;
  state: string;
  transitions: number;
  rssBeforeKb: number;
  rssPeakSampledKb: number;
  vmHwmKb: number;
  /** Tuples inserted + updated + deleted during the measured run, by table. */
  writes: Record<string, { ins: number; upd: number; del: number }>;
}

type TableCounters = Map<string, { ins: number; upd: number; del: number }>;

async function readCounters(client: pg.Client): Promise<TableCounters> {
  await client.query('SELECT pg_stat_clear_snapshot()');
  const { rows } = await client.query<{ relname: string; ins: string; upd: string; del: string }>(
    `SELECT relname, n_tup_ins AS ins, n_tup_upd AS upd, n_tup_del AS del FROM pg_stat_user_tables`,
  );
  return new Map(
    rows.map((r) => [r.relname, { ins: Number(r.ins), upd: Number(r.upd), del: Number(r.del) }]),
  );
}

function sameCounters(a: TableCounters, b: TableCounters): boolean {
  if (a.size !== b.size) return false;
  for (const [name, x] of a) {
    const y = b.get(name);
    if (!y || x.ins !== y.ins || x.upd !== y.upd || x.del !== y.del) return false;
  }
  return true;
}

/**
 * The counters once every backend of `applicationName` has exited and they have stopped
 * moving (a backend leaves pg_stat_activity a moment before its counters are flushed).
 */
async function settledCounters(client: pg.Client, applicationName: string): Promise<TableCounters> {
  for (let i = 0; ; i += 1) {
    const { rows } = await client.query(`SELECT 1 FROM pg_stat_activity WHERE application_name = $1`, [
      applicationName,
    ]);
    if (rows.length === 0) break;
    if (i > 500) throw new Error(`backends of ${applicationName} still there after 10 s`);
    await sleep(20);
  }
  let previous = await readCounters(client);
  for (;;) {
    await sleep(100);
    const current = await readCounters(client);
    if (sameCounters(previous, current)) return current;
    previous = current;
  }
}

function statusKb(field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return match ? Number(match[1]) : Number.NaN;
}

const itemsOf = (n: number): string[] => Array.from({ length: n }, (_, index) => `item-${index}`);

/** The child: one N, measured as the header says; prints its report as one JSON line. */
async function child(items: number, connection: BenchCluster['connection']): Promise<void> {
  const warmName = `taskhost-bench/foreach-warmup-${process.pid}`;
  const runName = `taskhost-bench/foreach-${process.pid}`;
  const warm = await openStore(connection, warmName);
  const snapshot = await loadSnapshot(warm, foreachTemplate('foreach-echo'), 'foreach-echo.yaml');
  const warmRun = await runInProcess(warm, snapshot, { items: itemsOf(WARMUP_ITEMS) });
  if (warmRun.taskState !== 'DONE') throw new Error(`warm-up foreach ended ${warmRun.taskState}`);
  await warm.close();

  const observer = new pg.Client({
    ...connection,
    application_name: `taskhost-bench/observer-${process.pid}`,
  });
  await observer.connect();
  try {
    const before = await settledCounters(observer, warmName);
    const store = await openStore(connection, runName);
    const input = { items: itemsOf(items) };
    const rssBeforeKb = statusKb('VmRSS');
    let rssPeak = process.memoryUsage().rss;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 20);
    let run;
    try {
      run = await runInProcess(store, snapshot, input);
    } finally {
      clearInterval(sampler);
    }
    rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
    const transitions = await stepTransitions(store, run.taskId);
    await store.close();
    const after = await settledCounters(observer, runName);
    const writes: ChildReport['writes'] = {};
    for (const [name, a] of after) {
      const b = before.get(name) ?? { ins: 0, upd: 0, del: 0 };
      const delta = { ins: a.ins - b.ins, upd: a.upd - b.upd, del: a.del - b.del };
      if (delta.ins + delta.upd + delta.del > 0) writes[name] = delta;
    }
    const report: ChildReport = {
      items,
      ms: run.ms,
      state: run.taskState,
      transitions,
      rssBeforeKb,
      rssPeakSampledKb: Math.round(rssPeak / 1024),
      vmHwmKb: statusKb('VmHWM'),
      writes,
    };
    process.stdout.write(`${JSON.stringify(report)}\n`);
  } finally {
    await observer.end();
  }
}

async function runChild(items: number, cluster: BenchCluster): Promise<ChildReport> {
  const r = await timeProcess(
    process.execPath,
    ['--import', 'tsx', THIS_FILE, '--child', String(items), JSON.stringify(cluster.connection)],
    { cwd: PROJECT_DIR, env: cleanEnv(), timeout: CHILD_TIMEOUT_MS, killSignal: 'SIGKILL' },
  );
  const last = r.stdout.trimEnd().split('\n').at(-1) ?? '';
  if (r.code !== 0 || !last.startsWith('{')) {
    throw new Error(
      `foreach child (N=${items}): ${r.signal ? `killed by ${r.signal} (timeout ${CHILD_TIMEOUT_MS / 1000} s?)` : `exit ${r.code}`}\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-4000)}`,
    );
  }
  const report = JSON.parse(last) as ChildReport;
  if (report.state !== 'DONE') throw new Error(`foreach of ${items} items ended ${report.state}`);
  return report;
}

const sum = (writes: ChildReport['writes'], only?: string): number =>
  Object.entries(writes)
    .filter(([name]) => only === undefined || name === only)
    .reduce((total, [, w]) => total + w.ins + w.upd + w.del, 0);

export async function runEngineForeach(options: ForeachOptions = {}): Promise<BenchResult> {
  const rounds = options.rounds ?? 3;
  log(
    `== ${BENCHMARK}: foreach over N = ${SIZES.join(', ')} echo children, in-process (engine API), one child process per run, ${rounds} interleaved rounds`,
  );
  log(`   load average before: ${loadAverage()}`);
  const result: BenchResult = {
    benchmark: BENCHMARK,
    metrics: { rounds, warmup_items: WARMUP_ITEMS, taskhost_mode: 'in-process (engine API)' },
    targets: [],
    notes: [],
  };
  const cluster = await startCluster();
  try {
    // Migrate once here, so that no child pays for it.
    await (await openStore(cluster.connection, 'taskhost-bench/foreach-setup')).close();
    const reports = new Map<number, ChildReport[]>(SIZES.map((n) => [n, []]));
    for (let round = 0; round < rounds; round += 1) {
      for (const index of rotation(SIZES.length, round)) {
        const n = SIZES[index] as number;
        const report = await runChild(n, cluster);
        reports.get(n)?.push(report);
        log(
          `   round ${round + 1} N=${n}: ${fmt(report.ms, 0)} ms, ${fmt(report.ms / n)} ms/item, VmHWM ${fmt(report.vmHwmKb / 1024, 0)} MiB`,
        );
      }
    }

    const perItem = (n: number): number => median((reports.get(n) ?? []).map((r) => r.ms / n));
    const medianOf = (n: number, f: (r: ChildReport) => number): number =>
      median((reports.get(n) ?? []).map(f));
    const rows: string[][] = [
      [
        'N',
        'total ms',
        'ms/item',
        'min..max ms/item',
        'RSS before MiB',
        'peak RSS MiB (VmHWM)',
        'peak - before MiB',
        'transitions',
        'rows/transition',
        'resolution_step rows/transition',
      ],
    ];
    for (const n of SIZES) {
      const list = reports.get(n) ?? [];
      const each = list.map((r) => r.ms / n);
      const rowsPerTransition = medianOf(n, (r) => sum(r.writes) / r.transitions);
      const stepRowsPerTransition = medianOf(n, (r) => sum(r.writes, 'resolution_step') / r.transitions);
      rows.push([
        String(n),
        fmt(
          medianOf(n, (r) => r.ms),
          0,
        ),
        fmt(perItem(n)),
        `${fmt(Math.min(...each))}..${fmt(Math.max(...each))}`,
        fmt(medianOf(n, (r) => r.rssBeforeKb) / 1024, 0),
        fmt(medianOf(n, (r) => r.vmHwmKb) / 1024, 0),
        fmt(medianOf(n, (r) => r.vmHwmKb - r.rssBeforeKb) / 1024, 0),
        fmt(
          medianOf(n, (r) => r.transitions),
          0,
        ),
        fmt(rowsPerTransition),
        fmt(stepRowsPerTransition),
      ]);
      Object.assign(result.metrics, {
        [`n${n}.total_median_ms`]: medianOf(n, (r) => r.ms),
        [`n${n}.ms_per_item`]: perItem(n),
        [`n${n}.rss_before_kb`]: medianOf(n, (r) => r.rssBeforeKb),
        [`n${n}.vm_hwm_kb`]: medianOf(n, (r) => r.vmHwmKb),
        [`n${n}.rss_peak_sampled_kb`]: medianOf(n, (r) => r.rssPeakSampledKb),
        [`n${n}.step_transitions`]: medianOf(n, (r) => r.transitions),
        [`n${n}.rows_written_per_transition`]: rowsPerTransition,
        [`n${n}.resolution_step_rows_per_transition`]: stepRowsPerTransition,
      });
    }
    log(table(rows));
    // Where the rows go, for the largest N (its median run by time).
    const largest = SIZES[SIZES.length - 1] as number;
    const sample = [...(reports.get(largest) ?? [])].sort((a, b) => a.ms - b.ms)[Math.floor(rounds / 2)];
    if (sample) {
      const parts = Object.entries(sample.writes)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(
          ([name, w]) =>
            `${name} +${w.ins}/~${w.upd}/-${w.del} (${fmt((w.ins + w.upd + w.del) / sample.transitions)})`,
        );
      log(
        `   rows written at N=${largest} (inserted/updated/deleted, per transition), ${sample.transitions} transitions: ${parts.join(', ')}`,
      );
    }
    const ratio = perItem(2000) / perItem(500);
    log(`   ms/item(2000) / ms/item(500): ${fmt(ratio, 3)}`);
    log(`   load average after: ${loadAverage()}`);
    result.metrics.ms_per_item_2000_over_500 = ratio;
    result.targets.push(target(BENCHMARK, 'ms/item N=2000 over N=500', ratio, RATIO_LIMIT, 'x'));
    return result;
  } finally {
    await cluster.stop();
  }
}

function roundsFromArgv(): number | undefined {
  const index = process.argv.indexOf('--rounds');
  return index > 0 ? Number(process.argv[index + 1]) : undefined;
}

const childIndex = process.argv.indexOf('--child');
if (childIndex > 0 && path.resolve(process.argv[1] ?? '') === THIS_FILE) {
  const items = Number(process.argv[childIndex + 1]);
  const connection = JSON.parse(process.argv[childIndex + 2] ?? '{}') as BenchCluster['connection'];
  child(items, connection).catch((error: unknown) => {
    // Exit now: an open pool would keep this process alive.
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
} else {
  runIfMain(import.meta.url, () => runEngineForeach({ rounds: roundsFromArgv() }));
}
