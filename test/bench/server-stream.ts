/**
 * Task-stream latency across instances (issue 13, benchmark d): from the moment a plugin
 * step running on instance A writes a log line to the moment a subscriber of
 * `/task/ID/stream` receives it, the subscriber connected to A itself or to instance B.
 *
 * Two `taskhost serve` processes (the compiled dist/) on one database of a benchmark
 * cluster, both with the bench-ticker plugin (fixtures/bench-ticker.py) and a template whose
 * one step runs it (auto_runnable). B is started with `max_concurrent_executions: 0` (its
 * scheduler claims nothing), so every task runs on A; each round checks it (the step's
 * run belongs to A while it waits for the gate). A round: POST /task to A; one subscriber connects to the stream on A
 * (same) or B (other); once it has its snapshot, a gate file lets the plugin print 200
 * lines 10-20 ms apart, each carrying its send time (time.time_ns() // 1000). Latency =
 * receive time (performance.timeOrigin + performance.now()) - send time, every line. On
 * A, an event reaches the subscriber from A's own hub; on B, through PostgreSQL (the row
 * stored, NOTIFY with a pointer, B reads it back).
 *
 * The baseline: the same plugin run outside any task (POST /plugin/bench-ticker/run?async=true
 * on A), its subscriber on A's `/run/ID/stream`, what ws-latency measures. Variants
 * interleave round by round (the order rotating) after a warm-up round; a round's p99 rests
 * on 2 of its 200 lines, so the p99 reported is the median of the rounds' p99s. Target: p99
 * <= 50 ms on B. The ratios B / A and B / run are the costs of crossing instances and of
 * the task stream.
 *
 *   node --import tsx test/bench/server-stream.ts [--rounds N] [--lines N]
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Store } from '../../src/store/store.ts';
import {
  api,
  fixture,
  fmt,
  loadAverage,
  log,
  median,
  onCleanup,
  percentile,
  preferRealPython,
  removeDir,
  rotation,
  runIfMain,
  sleep,
  startCluster,
  startServer,
  table,
  target,
  tempDir,
  wallClockMs,
  type BenchResult,
  type ServerProcess,
} from './lib.ts';
import { createDatabase, databaseUrl, settingsFile, templatesDir } from './server-lib.ts';
import { subscribe } from './ws-latency.ts';

const BENCHMARK = 'server-stream';
const P99_LIMIT_MS = 50;

export interface ServerStreamOptions {
  rounds?: number;
  warmup?: number;
  lines?: number;
}

type Variant = 'run' | 'same' | 'other';
const VARIANTS: readonly Variant[] = ['run', 'same', 'other'];
const LABELS: Record<Variant, string> = {
  run: 'run stream on A (the baseline)',
  same: 'task stream on A (runs the step)',
  other: 'task stream on B (another instance)',
};

interface Round {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  missing: number;
  gaps: number;
  badClose: boolean;
}

function tickerTemplate(lines: number): string {
  return [
    'name: ticker',
    'description: prints timestamped lines once a gate file exists',
    'auto_runnable: true',
    'inputs:',
    '  - name: gate',
    'steps:',
    '  tick:',
    '    action:',
    '      type: bench-ticker',
    `      configuration: {count: ${lines}, min_ms: 10, max_ms: 20, gate: '{{input.gate}}'}`,
    '',
  ].join('\n');
}

export async function runServerStream(options: ServerStreamOptions = {}): Promise<BenchResult> {
  const rounds = options.rounds ?? 5;
  const warmup = options.warmup ?? 1;
  const lines = options.lines ?? 200;
  log(
    `== ${BENCHMARK}: a plugin step on instance A prints ${lines} lines 10-20 ms apart; one subscriber on A (same) or on B (other); ${rounds} interleaved rounds, ${warmup} warm-up`,
  );
  log(`   load average before: ${loadAverage()}`);
  const result: BenchResult = {
    benchmark: BENCHMARK,
    metrics: { rounds, warmup, lines },
    targets: [],
    notes: [],
  };
  const python = preferRealPython();
  if (python) result.notes.push(python);
  const offset = wallClockMs() - Date.now();
  result.metrics.clock_offset_ms = offset;
  if (Math.abs(offset) > 2) {
    result.notes.push(`performance.timeOrigin + now() differs from Date.now() by ${fmt(offset)} ms`);
  }

  const plugins = tempDir('plugins');
  fs.symlinkSync(fixture('bench-ticker.py'), path.join(plugins, 'bench-ticker.py'));
  const templates = templatesDir({ ticker: tickerTemplate(lines) });
  const idle = settingsFile('max_concurrent_executions: 0\n');
  const gates = tempDir('stream-gates');
  const cluster = await startCluster();
  let store: Store | null = null;
  const servers: ServerProcess[] = [];
  const release = async (): Promise<void> => {
    for (const server of servers) await server.stop();
    await store?.close().catch(() => undefined);
  };
  const unregister = onCleanup(release);
  try {
    store = await createDatabase(cluster, 'stream');
    const db = store;
    const common = {
      tasksDir: plugins,
      templatesDir: templates,
      databaseUrl: databaseUrl(cluster, 'stream'),
    };
    const a = await startServer(common);
    servers.push(a);
    const b = await startServer({ ...common, configFile: idle });
    servers.push(b);

    /** The plugin run outside any task: POST /plugin/bench-ticker/run?async=true on A. */
    const startRun = async (gate: string): Promise<string> => {
      const run = await api<{ stream: string }>(
        a.url,
        'POST',
        '/plugin/bench-ticker/run?async=true',
        { data: { count: lines, min_ms: 10, max_ms: 20, gate } },
        [202],
      );
      return `ws://127.0.0.1:${a.port}${run.stream}`;
    };
    /** The task: POST /task on A; its stream on A or B. Returns the stream and the task id. */
    const startTask = async (gate: string, on: ServerProcess): Promise<{ url: string; id: string }> => {
      const task = await api<{ id: string }>(
        a.url,
        'POST',
        '/task',
        { template_name: 'ticker', input: { gate } },
        [201],
      );
      return { url: `ws://127.0.0.1:${on.port}/task/${task.id}/stream`, id: task.id };
    };
    /** Which instance runs a task's step, read while it waits for the gate (a run's owner is cleared at its end). */
    const checkRunsOnA = async (taskId: string): Promise<void> => {
      let owners: { pid: number }[] = [];
      for (let i = 0; i < 500 && owners.length === 0; i += 1) {
        ({ rows: owners } = await db.query<{ pid: number }>(
          `SELECT i.pid FROM run r JOIN instance i ON i.id = r.instance_id WHERE r.task_id = $1`,
          [taskId],
        ));
        if (owners.length === 0) await sleep(10);
      }
      if (owners.length !== 1 || owners[0]?.pid !== a.pid) {
        throw new Error(`the task's step does not run on A: ${JSON.stringify(owners)} (A is pid ${a.pid})`);
      }
    };

    let gateCount = 0;
    const runRound = async (variant: Variant): Promise<Round> => {
      gateCount += 1;
      const gate = path.join(gates, `gate-${gateCount}`);
      let subscriber: ReturnType<typeof subscribe>;
      if (variant === 'run') {
        subscriber = subscribe(await startRun(gate));
        await subscriber.ready;
      } else {
        const task = await startTask(gate, variant === 'same' ? a : b);
        subscriber = subscribe(task.url);
        await subscriber.ready;
        await checkRunsOnA(task.id);
      }
      fs.writeFileSync(gate, '');
      const got = await subscriber.done;
      return {
        p50: percentile(got.latencies, 50),
        p90: percentile(got.latencies, 90),
        p99: percentile(got.latencies, 99),
        max: got.latencies.length ? Math.max(...got.latencies) : Number.NaN,
        missing: lines - got.ticks,
        gaps: got.gaps,
        badClose: got.closeCode !== 1000,
      };
    };

    const samples: Record<Variant, Round[]> = { run: [], same: [], other: [] };
    for (let round = 0; round < warmup + rounds; round += 1) {
      const measured = round >= warmup;
      for (const index of rotation(VARIANTS.length, round)) {
        const variant = VARIANTS[index] as Variant;
        const r = await runRound(variant);
        log(
          `   ${measured ? `round ${round - warmup + 1}` : 'warm-up'} ${variant}: p50 ${fmt(r.p50)} ms, p99 ${fmt(r.p99)} ms, max ${fmt(r.max)} ms${r.missing || r.gaps || r.badClose ? ` (${r.missing} missing, ${r.gaps} gaps${r.badClose ? ', abnormal close' : ''})` : ''}`,
        );
        if (measured) samples[variant].push(r);
        if (r.missing > 0 || r.gaps > 0 || r.badClose) {
          result.notes.push(
            `${variant}, ${measured ? `round ${round - warmup + 1}` : 'warm-up'}: ${r.missing} lines missing, ${r.gaps} seq gaps${r.badClose ? ', abnormal close' : ''}`,
          );
        }
      }
    }

    const mid = (variant: Variant, pick: (r: Round) => number): number => median(samples[variant].map(pick));
    const rows: string[][] = [['subscriber', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'p99 by round']];
    for (const variant of VARIANTS) {
      rows.push([
        LABELS[variant],
        fmt(mid(variant, (r) => r.p50)),
        fmt(mid(variant, (r) => r.p90)),
        fmt(mid(variant, (r) => r.p99)),
        fmt(mid(variant, (r) => r.max)),
        samples[variant].map((r) => fmt(r.p99, 1)).join(' '),
      ]);
      Object.assign(result.metrics, {
        [`${variant}.p50_ms`]: mid(variant, (r) => r.p50),
        [`${variant}.p90_ms`]: mid(variant, (r) => r.p90),
        [`${variant}.p99_ms`]: mid(variant, (r) => r.p99),
        [`${variant}.max_ms`]: mid(variant, (r) => r.max),
        [`${variant}.p99_ms_by_round`]: samples[variant].map((r) => fmt(r.p99)).join(' '),
        [`${variant}.missing`]: samples[variant].reduce((sum, r) => sum + r.missing, 0),
      });
    }
    const p50Ratio = mid('other', (r) => r.p50) / mid('same', (r) => r.p50);
    const p99Ratio = mid('other', (r) => r.p99) / mid('same', (r) => r.p99);
    const baseP50 = mid('other', (r) => r.p50) / mid('run', (r) => r.p50);
    const baseP99 = mid('other', (r) => r.p99) / mid('run', (r) => r.p99);
    rows.push(['task on B / task on A', fmt(p50Ratio, 2), '', fmt(p99Ratio, 2), '', '']);
    rows.push(['task on B / run on A', fmt(baseP50, 2), '', fmt(baseP99, 2), '', '']);
    log(table(rows));
    result.metrics.other_over_same_p50 = p50Ratio;
    result.metrics.other_over_same_p99 = p99Ratio;
    result.metrics.other_over_run_p50 = baseP50;
    result.metrics.other_over_run_p99 = baseP99;
    result.targets.push(
      target(
        BENCHMARK,
        `p99 latency, subscriber on another instance (median of ${rounds} rounds)`,
        mid('other', (r) => r.p99),
        P99_LIMIT_MS,
        'ms',
      ),
    );
    log(`   load average after: ${loadAverage()}`);
    return result;
  } finally {
    unregister();
    await release();
    await cluster.stop();
    removeDir(plugins);
    removeDir(templates);
    removeDir(path.dirname(idle));
    removeDir(gates);
  }
}

function numberFromArgv(flag: string): number | undefined {
  const index = process.argv.indexOf(flag);
  return index > 0 ? Number(process.argv[index + 1]) : undefined;
}

runIfMain(import.meta.url, () =>
  runServerStream({ rounds: numberFromArgv('--rounds'), lines: numberFromArgv('--lines') }),
);
