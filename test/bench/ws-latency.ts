/**
 * WebSocket latency: from the moment a plugin writes a log line to the moment a subscriber
 * of `/run/ID/stream` receives it, with 1 and with 100 subscribers.
 *
 * The server runs as its own process (`node bin/taskhost serve`, the compiled dist/), so
 * the subscribers (here) never share its event loop; its store is a cluster this benchmark
 * starts from the embedded binaries (DATABASE_URL). The plugin (fixtures/bench-ticker.py,
 * registered from the fixtures directory by `serve --tasks`) waits for a gate file, so every
 * subscriber is connected before the first line, then writes 200 lines 10-20 ms apart, each
 * carrying its send time (time.time_ns() // 1000). Latency = receive time
 * (performance.timeOrigin + performance.now()) - send time, for every line at every
 * subscriber. Target: p99 <= 25 ms with 100 subscribers.
 *
 * After a warm-up round, each size runs `repeats` rounds (default 3, interleaved 1, 100, 1, 100, ...); the p99 reported
 * is the median of the rounds' p99s, each round's being in the table.
 *
 *   node --import tsx test/bench/ws-latency.ts [--lines N] [--repeats R]
 */
import fs from 'node:fs';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import WebSocket from 'ws';
import {
  api,
  cpuMs,
  fmt,
  loadAverage,
  log,
  median,
  percentile,
  preferRealPython,
  removeDir,
  runIfMain,
  startCluster,
  startServer,
  table,
  target,
  tempDir,
  wallClockMs,
  type BenchResult,
  type ServerProcess,
} from './lib.ts';

const BENCHMARK = 'ws-latency';
const P99_LIMIT_MS = 25;
const TICK = /^tick (\d+) (\d+)$/;

export interface WsLatencyOptions {
  lines?: number;
  /** Subscriber counts, one round each per repeat. */
  rounds?: readonly number[];
  repeats?: number;
}

interface StreamEvent {
  type: string;
  seq?: number;
  line?: string | null;
}

export interface SubscriberResult {
  latencies: number[];
  /** Latency by tick number. */
  byTick: Map<number, number>;
  ticks: number;
  gaps: number;
  closeCode: number;
}

interface RoundResult {
  subscribers: number;
  samples: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  /** Per line, the first subscriber's latency (p50, p99) and the last one's: fan-out spread. */
  firstP50: number;
  firstP99: number;
  lastP50: number;
  lastP99: number;
  /** CPU the server process used during the round, and this process's event loop delay. */
  serverCpuMs: number;
  clientCpuMs: number;
  clientLoopDelayP99: number;
  /** Lines a subscriber did not get, over all subscribers. */
  missing: number;
  gaps: number;
  abnormalCloses: number;
  runMs: number;
}

/** Opens a subscriber; resolves `ready` on its snapshot, `done` on close. */
export function subscribe(url: string): { ready: Promise<void>; done: Promise<SubscriberResult> } {
  const socket = new WebSocket(url);
  const latencies: number[] = [];
  const byTick = new Map<number, number>();
  let ticks = 0;
  let gaps = 0;
  let lastSeq = -1;
  let readyResolve: () => void = () => undefined;
  let readyReject: (error: Error) => void = () => undefined;
  const ready = new Promise<void>((resolve, reject) => {
    readyResolve = resolve;
    readyReject = reject;
  });
  const done = new Promise<SubscriberResult>((resolve, reject) => {
    socket.on('message', (data: Buffer) => {
      const received = wallClockMs();
      const message = JSON.parse(data.toString('utf8')) as StreamEvent;
      if (message.type === 'snapshot') {
        readyResolve();
        return;
      }
      if (typeof message.seq === 'number') {
        if (lastSeq >= 0 && message.seq !== lastSeq + 1) gaps += 1;
        lastSeq = message.seq;
      }
      if (message.type !== 'log' || !message.line) return;
      const match = TICK.exec(message.line);
      if (!match) return;
      ticks += 1;
      const latency = received - Number(match[2]) / 1000;
      latencies.push(latency);
      byTick.set(Number(match[1]), latency);
    });
    socket.on('unexpected-response', (_request, response) => {
      const error = new Error(`upgrade refused: HTTP ${response.statusCode}`);
      readyReject(error);
      reject(error);
      socket.terminate();
    });
    socket.on('error', (error) => {
      readyReject(error);
      reject(error);
    });
    socket.on('close', (code) => {
      readyReject(new Error(`closed (${code}) before the snapshot`));
      resolve({ latencies, byTick, ticks, gaps, closeCode: code });
    });
  });
  // A rejected `ready` after a good start is expected (close without snapshot): not unhandled.
  ready.catch(() => undefined);
  return { ready, done };
}

async function runRound(
  server: ServerProcess,
  subscribers: number,
  lines: number,
  gateDir: string,
): Promise<RoundResult> {
  const gate = path.join(gateDir, `gate-${subscribers}-${Date.now()}`);
  const started = await api<{ run_id: string; stream: string }>(
    server.url,
    'POST',
    '/plugin/bench-ticker/run?async=true',
    { data: { count: lines, min_ms: 10, max_ms: 20, gate } },
    [202],
  );
  const url = `ws://127.0.0.1:${server.port}${started.stream}`;
  const subs = Array.from({ length: subscribers }, () => subscribe(url));
  await Promise.all(subs.map((s) => s.ready));
  const loopDelay = monitorEventLoopDelay({ resolution: 1 });
  loopDelay.enable();
  const serverCpu0 = cpuMs(server.pid);
  const clientCpu0 = process.cpuUsage();
  const t0 = performance.now();
  fs.writeFileSync(gate, '');
  const results = await Promise.all(subs.map((s) => s.done));
  const runMs = performance.now() - t0;
  const serverCpuMs = cpuMs(server.pid) - serverCpu0;
  const clientCpu = process.cpuUsage(clientCpu0);
  loopDelay.disable();
  const all = results.flatMap((r) => r.latencies);
  const first: number[] = [];
  const last: number[] = [];
  for (let tick = 0; tick < lines; tick += 1) {
    const at = results.map((r) => r.byTick.get(tick)).filter((v): v is number => v !== undefined);
    if (at.length === 0) continue;
    first.push(Math.min(...at));
    last.push(Math.max(...at));
  }
  return {
    firstP50: percentile(first, 50),
    firstP99: percentile(first, 99),
    lastP50: percentile(last, 50),
    lastP99: percentile(last, 99),
    serverCpuMs,
    clientCpuMs: (clientCpu.user + clientCpu.system) / 1000,
    clientLoopDelayP99: loopDelay.percentile(99) / 1e6,
    subscribers,
    samples: all.length,
    p50: percentile(all, 50),
    p90: percentile(all, 90),
    p99: percentile(all, 99),
    max: all.length ? Math.max(...all) : Number.NaN,
    missing: results.reduce((sum, r) => sum + (lines - r.ticks), 0),
    gaps: results.reduce((sum, r) => sum + r.gaps, 0),
    abnormalCloses: results.filter((r) => r.closeCode !== 1000).length,
    runMs,
  };
}

export async function runWsLatency(options: WsLatencyOptions = {}): Promise<BenchResult> {
  const lines = options.lines ?? 200;
  const sizes = options.rounds ?? [1, 100];
  const repeats = options.repeats ?? 3;
  log(
    `== ${BENCHMARK}: ${lines} lines 10-20 ms apart, ${sizes.join(' and ')} subscribers, ${repeats} rounds each (interleaved); server in its own process`,
  );
  log(`   load average before: ${loadAverage()}`);
  const result: BenchResult = { benchmark: BENCHMARK, metrics: { lines, repeats }, targets: [], notes: [] };
  const python = preferRealPython();
  if (python) result.notes.push(python);
  // The clocks: the plugin stamps time.time_ns(); here performance.timeOrigin + now(). Their
  // offset from Date.now() shows whether this process's origin has drifted from the wall clock.
  const offset = wallClockMs() - Date.now();
  result.metrics.clock_offset_ms = offset;
  if (Math.abs(offset) > 2) {
    result.notes.push(`performance.timeOrigin + now() differs from Date.now() by ${fmt(offset)} ms`);
  }

  const gateDir = tempDir('ws-gates');
  const cluster = await startCluster();
  let server: ServerProcess | null = null;
  try {
    server = await startServer({ databaseUrl: cluster.url });
    // Warm-up, not recorded: the server's first runs and first subscribers (JIT, pools).
    await runRound(server, Math.max(...sizes), Math.min(lines, 50), gateDir);
    const bySize = new Map<number, RoundResult[]>(sizes.map((size) => [size, []]));
    for (let repeat = 0; repeat < repeats; repeat += 1) {
      for (const subscribers of sizes) {
        bySize.get(subscribers)?.push(await runRound(server, subscribers, lines, gateDir));
      }
    }

    const rows: string[][] = [
      [
        'subscribers',
        'round',
        'samples',
        'p50 ms',
        'p90 ms',
        'p99 ms',
        'max ms',
        'missing',
        'seq gaps',
        'bad closes',
      ],
    ];
    const detail: string[][] = [
      [
        'subscribers',
        'round',
        'first p50',
        'first p99',
        'last p50',
        'last p99',
        'server cpu ms',
        'client cpu ms',
        'client loop delay p99',
      ],
    ];
    for (const [subscribers, rounds] of bySize) {
      rounds.forEach((r, index) => {
        rows.push([
          String(subscribers),
          String(index + 1),
          String(r.samples),
          fmt(r.p50),
          fmt(r.p90),
          fmt(r.p99),
          fmt(r.max),
          String(r.missing),
          String(r.gaps),
          String(r.abnormalCloses),
        ]);
        detail.push([
          String(subscribers),
          String(index + 1),
          fmt(r.firstP50),
          fmt(r.firstP99),
          fmt(r.lastP50),
          fmt(r.lastP99),
          fmt(r.serverCpuMs, 0),
          fmt(r.clientCpuMs, 0),
          fmt(r.clientLoopDelayP99),
        ]);
        if (r.missing > 0 || r.gaps > 0 || r.abnormalCloses > 0) {
          result.notes.push(
            `${subscribers} subscribers, round ${index + 1}: ${r.missing} lines missing, ${r.gaps} seq gaps, ${r.abnormalCloses} abnormal closes`,
          );
        }
      });
      // A round's p99 rests on 1% of its samples: one burst of load elsewhere on the machine
      // moves it. The median round is the reported value; every round is in the table.
      const mid = (pick: (r: RoundResult) => number): number => median(rounds.map(pick));
      const p99 = mid((r) => r.p99);
      rows.push([
        String(subscribers),
        'median',
        '',
        fmt(mid((r) => r.p50)),
        fmt(mid((r) => r.p90)),
        fmt(p99),
        fmt(mid((r) => r.max)),
        '',
        '',
        '',
      ]);
      const key = `subs_${subscribers}`;
      Object.assign(result.metrics, {
        [`${key}.p50_ms`]: mid((r) => r.p50),
        [`${key}.p90_ms`]: mid((r) => r.p90),
        [`${key}.p99_ms`]: p99,
        [`${key}.p99_ms_by_round`]: rounds.map((r) => fmt(r.p99)).join(' '),
        [`${key}.max_ms`]: Math.max(...rounds.map((r) => r.max)),
        [`${key}.samples`]: rounds.reduce((sum, r) => sum + r.samples, 0),
        [`${key}.missing`]: rounds.reduce((sum, r) => sum + r.missing, 0),
        [`${key}.seq_gaps`]: rounds.reduce((sum, r) => sum + r.gaps, 0),
        [`${key}.first_subscriber_p99_ms`]: mid((r) => r.firstP99),
        [`${key}.last_subscriber_p99_ms`]: mid((r) => r.lastP99),
        [`${key}.server_cpu_ms`]: mid((r) => r.serverCpuMs),
        [`${key}.client_cpu_ms`]: mid((r) => r.clientCpuMs),
        [`${key}.client_loop_delay_p99_ms`]: mid((r) => r.clientLoopDelayP99),
      });
      if (subscribers === 100) {
        result.targets.push(
          target(
            BENCHMARK,
            `p99 latency, 100 subscribers (median of ${rounds.length} rounds)`,
            p99,
            P99_LIMIT_MS,
            'ms',
          ),
        );
      }
    }
    log(table(rows));
    log('   per line, the first and the last subscriber to receive it (the fan-out spread), and CPU use:');
    log(table(detail));
    log(`   load average after: ${loadAverage()}`);
    return result;
  } finally {
    await server?.stop();
    await cluster.stop();
    removeDir(gateDir);
  }
}

function linesFromArgv(): number | undefined {
  const index = process.argv.indexOf('--lines');
  return index > 0 ? Number(process.argv[index + 1]) : undefined;
}

function repeatsFromArgv(): number | undefined {
  const index = process.argv.indexOf('--repeats');
  return index > 0 ? Number(process.argv[index + 1]) : undefined;
}

runIfMain(import.meta.url, () => runWsLatency({ lines: linesFromArgv(), repeats: repeatsFromArgv() }));
