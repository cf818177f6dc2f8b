/**
 * Log flood: a plugin writing 5,000 lines a second for 10 s (50,000 lines of ~80 bytes)
 * through a server process (`node bin/taskhost serve --output-cap 64 MiB`, store: a cluster
 * started here from the embedded binaries), followed by one WebSocket subscriber.
 *
 * Verifies that every line was delivered (the plugin's own line numbers 0..N-1 all arrive,
 * in order, and the events' seq has no gap) and stored (the `event` rows of type 'log' of
 * the run, counted through a pg connection), and reports the server's peak RSS (VmRSS
 * sampled every 50 ms; VmHWM at the end) and the run's duration against the 10 s the plugin
 * takes by itself. A subscriber closed as too slow (4008) resumes with ?since=, and that
 * is counted.
 *
 *   node --import tsx test/bench/flood.ts [--seconds S] [--rate R]
 */
import pg from 'pg';
import WebSocket from 'ws';
import {
  api,
  cpuMs,
  fmt,
  loadAverage,
  log,
  preferRealPython,
  procStatusKb,
  runIfMain,
  sleep,
  startCluster,
  startServer,
  table,
  target,
  type BenchResult,
  type ServerProcess,
} from './lib.ts';

const BENCHMARK = 'flood';
const OUTPUT_CAP = 64 * 1024 * 1024;
const FLOOD = /^flood (\d+) /;

export interface FloodOptions {
  rate?: number;
  seconds?: number;
  width?: number;
}

interface StreamEvent {
  type: string;
  seq: number;
  line?: string | null;
  state?: string | null;
  data?: { duration_ms?: number } | null;
}

interface Followed {
  floodLines: number;
  /** Flood line numbers out of order or missing on arrival. */
  numberBreaks: number;
  seqGaps: number;
  logEvents: number;
  reconnects: number;
  finalState: string | null;
  pluginDurationMs: number | null;
  firstLineAt: number | null;
  lastLineAt: number | null;
}

/** Follows a run's stream to its end, resuming with ?since= after a slow-consumer close. */
async function follow(server: ServerProcess, runId: string, timeoutMs: number): Promise<Followed> {
  const state: Followed = {
    floodLines: 0,
    numberBreaks: 0,
    seqGaps: 0,
    logEvents: 0,
    reconnects: 0,
    finalState: null,
    pluginDurationMs: null,
    firstLineAt: null,
    lastLineAt: null,
  };
  let lastSeq = 0;
  let nextNumber = 0;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const code = await new Promise<number>((resolve, reject) => {
      const socket = new WebSocket(`ws://127.0.0.1:${server.port}/run/${runId}/stream?since=${lastSeq}`);
      const timer = setTimeout(
        () => {
          socket.terminate();
          reject(new Error(`stream not finished after ${timeoutMs} ms (${state.floodLines} flood lines)`));
        },
        Math.max(1, deadline - Date.now()),
      );
      socket.on('message', (data: Buffer) => {
        const message = JSON.parse(data.toString('utf8')) as StreamEvent | { type: 'snapshot' };
        if (message.type === 'snapshot') return;
        const event = message as StreamEvent;
        if (event.seq !== lastSeq + 1) state.seqGaps += 1;
        lastSeq = event.seq;
        if (event.type === 'log') {
          state.logEvents += 1;
          const match = event.line ? FLOOD.exec(event.line) : null;
          if (match) {
            const now = performance.now();
            state.firstLineAt ??= now;
            state.lastLineAt = now;
            state.floodLines += 1;
            if (Number(match[1]) !== nextNumber) state.numberBreaks += 1;
            nextNumber = Number(match[1]) + 1;
          }
        } else if (event.type === 'run' && event.state && event.state !== 'RUNNING') {
          state.finalState = event.state;
          state.pluginDurationMs = event.data?.duration_ms ?? null;
        }
      });
      socket.on('unexpected-response', (_request, response) => {
        clearTimeout(timer);
        socket.terminate();
        reject(new Error(`upgrade refused: HTTP ${response.statusCode}`));
      });
      socket.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      socket.on('close', (closeCode) => {
        clearTimeout(timer);
        resolve(closeCode);
      });
    });
    if (code === 1000) return state;
    if (code !== 4008) throw new Error(`stream closed with code ${code}`);
    state.reconnects += 1;
  }
}

export async function runFlood(options: FloodOptions = {}): Promise<BenchResult> {
  const rate = options.rate ?? 5000;
  const seconds = options.seconds ?? 10;
  const width = options.width ?? 80;
  const expected = Math.floor(rate * seconds);
  log(
    `== ${BENCHMARK}: ${rate} lines/s for ${seconds} s (${expected} lines of ${width} bytes) through a server process, 1 subscriber`,
  );
  log(`   load average before: ${loadAverage()}`);
  const result: BenchResult = {
    benchmark: BENCHMARK,
    metrics: { rate, seconds, width, expected },
    targets: [],
    notes: [],
  };
  const python = preferRealPython();
  if (python) result.notes.push(python);

  const cluster = await startCluster();
  let server: ServerProcess | null = null;
  let sampler: NodeJS.Timeout | null = null;
  try {
    server = await startServer({ databaseUrl: cluster.url, outputCapBytes: OUTPUT_CAP });
    const pid = server.pid;
    const rssBefore = procStatusKb(pid, 'VmRSS');
    let peakRss = rssBefore;
    const rssSamples: number[] = [];
    sampler = setInterval(() => {
      const rss = procStatusKb(pid, 'VmRSS');
      if (Number.isFinite(rss)) {
        rssSamples.push(rss);
        peakRss = Math.max(peakRss, rss);
      }
    }, 50);
    const cpuBefore = cpuMs(pid);

    const t0 = performance.now();
    const started = await api<{ run_id: string }>(
      server.url,
      'POST',
      '/plugin/bench-flood/run?async=true',
      { data: { rate, seconds, width } },
      [202],
    );
    const followed = await follow(server, started.run_id, seconds * 1000 * 6 + 60_000);
    const wallMs = performance.now() - t0;
    // The run document (timings) and the stored events, once the run is final.
    let run = await api<{ state: string; duration_ms: number | null; output_dropped: { lines: number } }>(
      server.url,
      'GET',
      `/run/${started.run_id}`,
    );
    for (let i = 0; i < 100 && (run.state === 'RUNNING' || run.state === 'TODO'); i += 1) {
      await sleep(50);
      run = await api(server.url, 'GET', `/run/${started.run_id}`);
    }
    clearInterval(sampler);
    sampler = null;
    const hwm = procStatusKb(pid, 'VmHWM');
    const cpu = cpuMs(pid) - cpuBefore;

    const client = new pg.Client({ ...cluster.connection, application_name: 'taskhost-bench' });
    await client.connect();
    let stored: { logs: number; all: number };
    try {
      const { rows } = await client.query<{ logs: string; all: string }>(
        `SELECT count(*) FILTER (WHERE type = 'log') AS logs, count(*) AS all FROM event WHERE stream_id = $1`,
        [started.run_id],
      );
      stored = { logs: Number(rows[0]?.logs), all: Number(rows[0]?.all) };
    } finally {
      await client.end();
    }

    const delivered =
      followed.floodLines === expected && followed.numberBreaks === 0 && followed.seqGaps === 0;
    const complete = stored.logs === followed.logEvents && followed.floodLines === expected;
    const streamSpanMs =
      followed.firstLineAt !== null && followed.lastLineAt !== null
        ? followed.lastLineAt - followed.firstLineAt
        : Number.NaN;
    const runMs = run.duration_ms ?? Number.NaN;
    const pluginMs = followed.pluginDurationMs ?? Number.NaN;

    log(
      table([
        ['measure', 'value'],
        ['run final state', run.state],
        ['flood lines delivered / expected', `${followed.floodLines} / ${expected}`],
        [
          'line-number breaks, seq gaps, 4008 resumes',
          `${followed.numberBreaks}, ${followed.seqGaps}, ${followed.reconnects}`,
        ],
        [
          'log events delivered / stored (all events stored)',
          `${followed.logEvents} / ${stored.logs} (${stored.all})`,
        ],
        ['output dropped by the cap (lines)', String(run.output_dropped.lines)],
        ['every line delivered and stored', delivered && complete ? 'yes' : 'NO'],
        [
          'run duration (stored: started..finished)',
          `${fmt(runMs, 0)} ms = ${fmt(runMs / (seconds * 1000), 3)} x ${seconds} s`,
        ],
        ['plugin process duration (runner)', `${fmt(pluginMs, 0)} ms`],
        ['first..last flood line at the subscriber', `${fmt(streamSpanMs, 0)} ms`],
        ['POST .. stream closed (wall)', `${fmt(wallMs, 0)} ms`],
        [
          'server RSS before / peak sampled / VmHWM',
          `${fmt(rssBefore / 1024, 1)} / ${fmt(peakRss / 1024, 1)} / ${fmt(hwm / 1024, 1)} MiB`,
        ],
        ['server CPU during the run', `${fmt(cpu, 0)} ms (${fmt((cpu / wallMs) * 100, 0)} % of one core)`],
      ]),
    );
    log(`   load average after: ${loadAverage()}`);
    if (!delivered || !complete) {
      result.notes.push(
        `NOT every line delivered and stored: ${followed.floodLines}/${expected} flood lines, ${followed.numberBreaks} number breaks, ${followed.seqGaps} seq gaps, ${followed.logEvents} log events delivered vs ${stored.logs} stored`,
      );
    }
    const lost =
      Math.max(0, expected - followed.floodLines) +
      followed.numberBreaks +
      followed.seqGaps +
      Math.abs(followed.logEvents - stored.logs);
    result.targets.push(
      target(BENCHMARK, 'lines lost or out of order (delivered + stored)', lost, 0, 'lines'),
    );
    if (followed.reconnects > 0) {
      result.notes.push(`the subscriber was closed as too slow ${followed.reconnects} times and resumed`);
    }
    Object.assign(result.metrics, {
      final_state: run.state,
      flood_lines_delivered: followed.floodLines,
      line_number_breaks: followed.numberBreaks,
      seq_gaps: followed.seqGaps,
      slow_consumer_resumes: followed.reconnects,
      log_events_delivered: followed.logEvents,
      log_events_stored: stored.logs,
      events_stored: stored.all,
      output_dropped_lines: run.output_dropped.lines,
      all_delivered_and_stored: delivered && complete,
      run_duration_ms: runMs,
      run_duration_over_nominal: runMs / (seconds * 1000),
      plugin_duration_ms: pluginMs,
      stream_span_ms: streamSpanMs,
      wall_ms: wallMs,
      server_rss_before_mib: rssBefore / 1024,
      server_rss_peak_mib: peakRss / 1024,
      server_vmhwm_mib: hwm / 1024,
      server_cpu_ms: cpu,
      rss_samples: rssSamples.length,
    });
    return result;
  } finally {
    if (sampler) clearInterval(sampler);
    await server?.stop();
    await cluster.stop();
  }
}

function numberFromArgv(flag: string): number | undefined {
  const index = process.argv.indexOf(flag);
  return index > 0 ? Number(process.argv[index + 1]) : undefined;
}

runIfMain(import.meta.url, () =>
  runFlood({ seconds: numberFromArgv('--seconds'), rate: numberFromArgv('--rate') }),
);
