/**
 * API timing, through a server process (`node bin/taskhost serve --output-cap 64 MiB`, store:
 * a cluster started here from the embedded binaries), with plugins of test/fixtures/plugins/
 * registered through POST /plugin. The tests assert what the API does (a 202 comes back while
 * the plugins wait for a gate file; a subscriber that never reads is closed with 4008 while the
 * run goes on); how fast is measured here, each against a baseline timed in the same run.
 *
 * Answer times, in interleaved rounds (the order rotates):
 *   sync   POST /plugin/ok/run: the whole run of ok.sh (the baseline)
 *   async  POST /plugin/waiter/run?async=true: wait-for-file.sh waits for a gate file that is
 *          created only after the answer
 *   batch  POST /plugin/slot/batch?async=true, 4 items waiting for a gate, max_concurrent -1
 * Targets: the async answers take at most what a sync run takes.
 *
 * A slow consumer: big-output.sh printing 24 MiB of 1 KiB lines (async runs), alone and with
 * one subscriber that completes the WebSocket upgrade and then never reads, alternately. The
 * stored run durations (started..finished) are compared. Target: with the stalled subscriber
 * at most 1.25 times the duration without.
 *
 *   node --import tsx test/bench/api-timing.ts [--rounds N] [--floods N]
 */
import fs from 'node:fs';
import type net from 'node:net';
import path from 'node:path';
import { connectNeverReading as connectRaw } from '../helpers/raw-websocket.ts';
import {
  api,
  fmt,
  loadAverage,
  log,
  PROJECT_DIR,
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
  type BenchResult,
  type ServerProcess,
} from './lib.ts';

const BENCHMARK = 'api-timing';
const PLUGINS_DIR = path.join(PROJECT_DIR, 'test', 'fixtures', 'plugins');
const OUTPUT_CAP = 64 * 1024 * 1024;
const FLOOD = { bytes: 24 * 1024 * 1024, line_bytes: 1024 };
const BATCH_ITEMS = 4;

export interface ApiTimingOptions {
  rounds?: number;
  warmup?: number;
  /** Runs of the 24 MiB plugin, with and without a stalled subscriber, each. */
  floods?: number;
}

type Variant = 'sync' | 'async' | 'batch';
const VARIANTS: readonly Variant[] = ['sync', 'async', 'batch'];

interface RunDoc {
  state: string;
  error: string | null;
  duration_ms: number | null;
  output_dropped: { lines: number; bytes: number };
}

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = performance.now();
  const value = await fn();
  return { ms: performance.now() - started, value };
}

/** Polls GET /run/ID until the run is final; throws unless it is DONE. */
async function finalRun(server: ServerProcess, id: string): Promise<RunDoc> {
  for (let i = 0; i < 6000; i += 1) {
    const run = await api<RunDoc>(server.url, 'GET', `/run/${id}`);
    if (run.state !== 'TODO' && run.state !== 'RUNNING') {
      if (run.state !== 'DONE') throw new Error(`run ${id} ended ${run.state}: ${run.error}`);
      return run;
    }
    await sleep(20);
  }
  throw new Error(`run ${id} not final after 2 minutes`);
}

/** Completes a WebSocket upgrade to the run's stream by hand, then never reads. */
async function connectNeverReading(server: ServerProcess, runId: string): Promise<net.Socket> {
  const { socket } = await connectRaw(server.port, `/run/${runId}/stream`);
  socket.on('error', () => undefined); // the server resets it once it gives up on us
  return socket;
}

export async function runApiTiming(options: ApiTimingOptions = {}): Promise<BenchResult> {
  const rounds = options.rounds ?? 30;
  const warmup = options.warmup ?? 3;
  const floods = options.floods ?? 5;
  log(
    `== ${BENCHMARK}: ${rounds} interleaved rounds (${VARIANTS.join(', ')}), ${warmup} warm-up; ${floods} runs of 24 MiB with and without a stalled subscriber; server in its own process`,
  );
  log(`   load average before: ${loadAverage()}`);
  const result: BenchResult = {
    benchmark: BENCHMARK,
    metrics: { rounds, warmup, floods },
    targets: [],
    notes: [],
  };
  const gates = tempDir('api-gates');
  const slots = tempDir('api-slots');
  const cluster = await startCluster();
  let server: ServerProcess | null = null;
  try {
    server = await startServer({ databaseUrl: cluster.url, outputCapBytes: OUTPUT_CAP });
    const srv = server;
    for (const [name, file] of [
      ['ok', 'ok.sh'],
      ['waiter', 'wait-for-file.sh'],
      ['slot', 'slot.sh'],
      ['big-output', 'big-output.sh'],
    ]) {
      await api(
        srv.url,
        'POST',
        '/plugin',
        { name, location: path.join(PLUGINS_DIR, file as string) },
        [201],
      );
    }

    let gateCount = 0;
    const newGate = (): string => path.join(gates, `gate-${(gateCount += 1)}`);
    const invoke: Record<Variant, () => Promise<number>> = {
      sync: async () => {
        const { ms, value } = await timed(() =>
          api<{ state: string }>(srv.url, 'POST', '/plugin/ok/run', { data: {} }),
        );
        if (value.state !== 'DONE') throw new Error(`sync run ended ${value.state}`);
        return ms;
      },
      async: async () => {
        const gate = newGate();
        const { ms, value } = await timed(() =>
          api<{ run_id: string }>(
            srv.url,
            'POST',
            '/plugin/waiter/run?async=true',
            { data: { path: gate } },
            [202],
          ),
        );
        fs.writeFileSync(gate, '');
        await finalRun(srv, value.run_id);
        return ms;
      },
      batch: async () => {
        const gate = newGate();
        const items = Array.from({ length: BATCH_ITEMS }, (_, i) => ({
          dir: slots,
          id: `${gateCount}-${i}`,
          gate,
        }));
        const { ms, value } = await timed(() =>
          api<{ runs: { run_id: string }[] }>(
            srv.url,
            'POST',
            '/plugin/slot/batch?async=true',
            { items, max_concurrent: -1 },
            [202],
          ),
        );
        fs.writeFileSync(gate, '');
        await Promise.all(value.runs.map((run) => finalRun(srv, run.run_id)));
        return ms;
      },
    };
    const samples: Record<Variant, number[]> = { sync: [], async: [], batch: [] };
    for (let round = 0; round < warmup + rounds; round += 1) {
      for (const index of rotation(VARIANTS.length, round)) {
        const variant = VARIANTS[index] as Variant;
        const ms = await invoke[variant]();
        if (round >= warmup) samples[variant].push(ms);
      }
    }
    const sync = summarize(samples.sync);
    const rows: string[][] = [['answer', 'median ms', 'p90 ms', 'max ms', 'median / sync run']];
    for (const variant of VARIANTS) {
      const s = summarize(samples[variant]);
      const ratio = s.median / sync.median;
      rows.push([variant, fmt(s.median), fmt(s.p90), fmt(s.max), fmt(ratio, 3)]);
      result.metrics[`${variant}.median_ms`] = s.median;
      result.metrics[`${variant}.p90_ms`] = s.p90;
      if (variant === 'sync') continue;
      result.metrics[`${variant}.over_sync`] = ratio;
      const label =
        variant === 'async'
          ? '202 of an async run (plugin waiting), median / sync run'
          : `202 of an async batch of ${BATCH_ITEMS} (plugins waiting), median / sync run`;
      result.targets.push(target(BENCHMARK, label, ratio, 1, 'x'));
    }
    log(table(rows));

    // A slow consumer: the same run alone, and with a subscriber that never reads.
    const alone: number[] = [];
    const stalled: number[] = [];
    const startFlood = async (): Promise<string> =>
      (
        await api<{ run_id: string }>(
          srv.url,
          'POST',
          '/plugin/big-output/run?async=true',
          { data: FLOOD },
          [202],
        )
      ).run_id;
    for (let i = 0; i < floods; i += 1) {
      const run = await finalRun(srv, await startFlood());
      alone.push(run.duration_ms ?? Number.NaN);

      const runId = await startFlood();
      const socket = await connectNeverReading(srv, runId);
      try {
        const slow = await finalRun(srv, runId);
        if (slow.output_dropped.lines > 0) throw new Error('the output cap was reached: raise OUTPUT_CAP');
        stalled.push(slow.duration_ms ?? Number.NaN);
      } finally {
        socket.destroy();
      }
    }
    const a = summarize(alone);
    const s = summarize(stalled);
    const ratio = s.median / a.median;
    log(
      table([
        ['24 MiB run (stored duration)', 'median ms', 'min ms', 'max ms'],
        ['alone', fmt(a.median), fmt(a.min), fmt(a.max)],
        ['with a subscriber that never reads', fmt(s.median), fmt(s.min), fmt(s.max)],
      ]),
    );
    Object.assign(result.metrics, {
      'flood_alone.median_ms': a.median,
      'flood_stalled_subscriber.median_ms': s.median,
      'flood_stalled_subscriber.over_alone': ratio,
    });
    result.targets.push(
      target(BENCHMARK, 'run with a stalled subscriber, median duration / alone', ratio, 1.25, 'x'),
    );
    log(`   load average after: ${loadAverage()}`);
    return result;
  } finally {
    await server?.stop();
    await cluster.stop();
    removeDir(gates);
    removeDir(slots);
  }
}

function numberFromArgv(flag: string): number | undefined {
  const index = process.argv.indexOf(flag);
  return index > 0 ? Number(process.argv[index + 1]) : undefined;
}

runIfMain(import.meta.url, () =>
  runApiTiming({ rounds: numberFromArgv('--rounds'), floods: numberFromArgv('--floods') }),
);
