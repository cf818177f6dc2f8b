/**
 * The task API under load (issue 13, benchmark b): `POST /task` and `GET /task/:id` driven
 * by autocannon 8 on loopback, against `taskhost serve` in its own process (the compiled
 * dist/; store: a database of the benchmark cluster).
 *
 *   ping           GET /unsecured/mon/ping: the HTTP stack and nothing else (the baseline)
 *   POST /task     a task of a 3-step echo template that is not auto_runnable: one
 *                  transaction writing the task, its resolution, its steps and its first
 *                  event, then the document read back (no step runs meanwhile)
 *   GET /task/:id  the document of a finished 3-step task (task, resolution, steps), the ids
 *                  taken in turn from 50 tasks run to DONE at setup
 *
 * How autocannon holds a rate: each connection sends its share of `overallRate` back to back
 * from the start of every second, then waits for the next second. 200 requests/s over its
 * default 10 connections is thus 10 requests at once, 20 times in a row, at the top of each
 * second: the server sees bursts as heavy as an unthrottled run, not one request every 5 ms.
 * So each route runs, per round:
 *   spread      200 requests/s as 10 autocannon instances of 1 connection at 20 requests/s,
 *               started 100 ms apart: one short burst every 100 ms, about one request in
 *               flight while the server keeps up (the target's measurement)
 *   bursts      200 requests/s as one autocannon with 10 connections (its usual use)
 *   unthrottled 10 connections, no rate: the throughput
 * Latency is autocannon's response time of every 2xx request (its `response` events, in
 * fractional ms, not its whole-ms histogram). Its coordinated-omission correction is off: it
 * would use an expected interval of ceil(1 / per-connection rate) = 1 ms, adding synthetic
 * samples to every response slower than 1 ms, while the requests it would stand for are sent
 * anyway (the bursts). The tasks a POST run created are deleted after it (untimed), so every
 * run starts from the same store. Routes interleave round by round (the order rotating)
 * after a warm-up round. Targets: p99 <= 25 ms at 200 requests/s (spread) for POST /task and
 * GET /task/:id; the bursts' p99 and the ping baseline are reported beside it.
 *
 *   node --import tsx test/bench/server-api-load.ts [--rounds N] [--seconds S]
 */
import autocannon, { type Result } from 'autocannon';
import type { Store } from '../../src/store/store.ts';
import {
  cpuMs,
  fmt,
  loadAverage,
  log,
  median,
  onCleanup,
  percentile,
  removeDir,
  rotation,
  runIfMain,
  sleep,
  startCluster,
  startServer,
  table,
  target,
  tempDir,
  type BenchResult,
  type ServerProcess,
} from './lib.ts';
import {
  createDatabase,
  createTasks,
  databaseUrl,
  describeStates,
  echoTemplate,
  templatesDir,
  waitTasksEnded,
} from './server-lib.ts';

const BENCHMARK = 'server-api-load';
const P99_LIMIT_MS = 25;
const RATE = 200;
const DONE_TASKS = 50;

export interface ServerApiLoadOptions {
  rounds?: number;
  warmup?: number;
  /** Seconds at the fixed rate, per route and round. */
  seconds?: number;
  /** Seconds unthrottled, per route and round. */
  burstSeconds?: number;
}

type Route = 'ping' | 'POST /task' | 'GET /task/:id';
const ROUTES: readonly Route[] = ['ping', 'POST /task', 'GET /task/:id'];

interface Load {
  /** Responses per second (2xx only count). */
  perSecond: number;
  latencies: number[];
  /** CPU the server used per request (ms). */
  serverCpuMs: number;
  failures: number;
}

const SHAPES = ['spread', 'bursts', 'unthrottled'] as const;

interface Shape {
  name: (typeof SHAPES)[number];
  /** autocannon instances, started `staggerMs` apart; each one's connections share its rate. */
  instances: number;
  connections: number;
  /** Requests per second of each instance; undefined: unthrottled. */
  rate: number | undefined;
  staggerMs: number;
}

interface RouteRequest {
  method: string;
  path: string;
  body?: string;
  /** Ids put in turn in place of `:id` in the path. */
  rotate?: readonly string[];
}

/** Runs the shape's autocannon instances together; resolves with every 2xx response's time. */
async function cannon(
  server: ServerProcess,
  request: RouteRequest,
  seconds: number,
  shape: Omit<Shape, 'name'>,
): Promise<Load> {
  const latencies: number[] = [];
  let next = 0;
  const rotate = request.rotate;
  const options: Parameters<typeof autocannon>[0] = {
    url: server.url,
    connections: shape.connections,
    duration: seconds,
    ...(shape.rate === undefined ? {} : { overallRate: shape.rate, ignoreCoordinatedOmission: true }),
    requests: [
      {
        method: request.method,
        path: request.path,
        ...(request.body === undefined
          ? {}
          : { body: request.body, headers: { 'content-type': 'application/json' } }),
        ...(rotate
          ? {
              setupRequest: (r) => {
                next = (next + 1) % rotate.length;
                return { ...r, path: request.path.replace(':id', rotate[next] as string) };
              },
            }
          : {}),
      },
    ],
  };
  const cpu0 = cpuMs(server.pid);
  const started = performance.now();
  const runs: Promise<Result>[] = [];
  for (let i = 0; i < shape.instances; i += 1) {
    if (i > 0) await sleep(shape.staggerMs);
    const instance = autocannon(options);
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime);
    });
    runs.push(Promise.resolve(instance));
  }
  const results = await Promise.all(runs);
  const elapsedS = (performance.now() - started) / 1000 - ((shape.instances - 1) * shape.staggerMs) / 1000;
  const cpu = cpuMs(server.pid) - cpu0;
  const total = results.reduce((sum, r) => sum + r.requests.total, 0);
  return {
    perSecond: latencies.length / elapsedS,
    latencies,
    serverCpuMs: cpu / Math.max(1, total),
    failures: results.reduce((sum, r) => sum + r.errors + r.timeouts + r.non2xx, 0),
  };
}

export async function runServerApiLoad(options: ServerApiLoadOptions = {}): Promise<BenchResult> {
  const rounds = options.rounds ?? 3;
  const warmup = options.warmup ?? 1;
  const seconds = options.seconds ?? 10;
  const burstSeconds = options.burstSeconds ?? 5;
  const shapes: Record<Shape['name'], Shape & { seconds: number }> = {
    spread: { name: 'spread', instances: 10, connections: 1, rate: RATE / 10, staggerMs: 100, seconds },
    bursts: { name: 'bursts', instances: 1, connections: 10, rate: RATE, staggerMs: 0, seconds },
    unthrottled: {
      name: 'unthrottled',
      instances: 1,
      connections: 10,
      rate: undefined,
      staggerMs: 0,
      seconds: burstSeconds,
    },
  };
  log(
    `== ${BENCHMARK}: autocannon at ${RATE} requests/s (spread over the second, and in bursts) ${seconds} s each, then ${burstSeconds} s unthrottled, per route (${ROUTES.join(', ')}); ${rounds} interleaved rounds, ${warmup} warm-up`,
  );
  log(`   load average before: ${loadAverage()}`);
  const result: BenchResult = {
    benchmark: BENCHMARK,
    metrics: { rounds, warmup, seconds, unthrottled_seconds: burstSeconds, rate: RATE },
    targets: [],
    notes: [],
  };
  const templates = templatesDir({ done3: echoTemplate('done3', true), wait3: echoTemplate('wait3', false) });
  const noPlugins = tempDir('no-plugins');
  const cluster = await startCluster();
  let store: Store | null = null;
  let server: ServerProcess | null = null;
  const release = async (): Promise<void> => {
    await server?.stop();
    await store?.close().catch(() => undefined);
  };
  const unregister = onCleanup(release);
  try {
    store = await createDatabase(cluster, 'api');
    const db = store;
    server = await startServer({
      tasksDir: noPlugins,
      templatesDir: templates,
      databaseUrl: databaseUrl(cluster, 'api'),
    });
    const srv = server;
    const doneIds = await createTasks([srv], 'done3', DONE_TASKS, 4);
    const end = await waitTasksEnded(db, doneIds, 120_000);
    if ((end.states.DONE ?? 0) !== DONE_TASKS) throw new Error(`setup tasks: ${describeStates(end.states)}`);

    const requests: Record<Route, RouteRequest> = {
      ping: { method: 'GET', path: '/unsecured/mon/ping' },
      'POST /task': {
        method: 'POST',
        path: '/task',
        body: JSON.stringify({ template_name: 'wait3', input: {} }),
      },
      'GET /task/:id': { method: 'GET', path: '/task/:id', rotate: doneIds },
    };
    const afterward: Partial<Record<Route, () => Promise<unknown>>> = {
      'POST /task': async () => {
        // A task's events are keyed by its id, without a foreign key: removed first.
        await db.query(
          `DELETE FROM event WHERE stream_id IN (SELECT id FROM task WHERE template_name = 'wait3')`,
        );
        await db.query(`DELETE FROM task WHERE template_name = 'wait3'`);
        await db.query('VACUUM');
      },
    };

    const samples = new Map<string, Load[]>();
    const key = (route: Route, shape: Shape['name']): string => `${route} ${shape}`;
    for (let round = 0; round < warmup + rounds; round += 1) {
      const measured = round >= warmup;
      for (const index of rotation(ROUTES.length, round)) {
        const route = ROUTES[index] as Route;
        const line: string[] = [];
        for (const shape of SHAPES) {
          const { seconds: s, ...how } = shapes[shape];
          const load = await cannon(srv, requests[route], measured ? s : 2, how);
          await afterward[route]?.();
          if (load.failures > 0) {
            throw new Error(
              `${route} (${shape}): ${load.failures} failed requests (errors, timeouts or non-2xx)`,
            );
          }
          line.push(
            `${shape} ${fmt(load.perSecond, 0)}/s p50 ${fmt(percentile(load.latencies, 50))} p99 ${fmt(percentile(load.latencies, 99))}`,
          );
          if (measured) samples.set(key(route, shape), [...(samples.get(key(route, shape)) ?? []), load]);
        }
        log(`   ${measured ? `round ${round - warmup + 1}` : 'warm-up'} ${route}: ${line.join('; ')} (ms)`);
      }
    }

    const rows: string[][] = [
      [
        'route',
        'load',
        'got /s',
        'p50 ms',
        'p90 ms',
        'p99 ms',
        'max ms',
        'p99 by round',
        'server CPU ms/req',
      ],
    ];
    for (const route of ROUTES) {
      for (const shape of SHAPES) {
        const loads = samples.get(key(route, shape)) ?? [];
        const mid = (pick: (load: Load) => number): number => median(loads.map(pick));
        const p99 = mid((l) => percentile(l.latencies, 99));
        rows.push([
          route,
          shape === 'unthrottled' ? shape : `${RATE}/s ${shape}`,
          fmt(
            mid((l) => l.perSecond),
            0,
          ),
          fmt(mid((l) => percentile(l.latencies, 50))),
          fmt(mid((l) => percentile(l.latencies, 90))),
          fmt(p99),
          fmt(mid((l) => Math.max(...l.latencies))),
          loads.map((l) => fmt(percentile(l.latencies, 99), 1)).join(' '),
          fmt(mid((l) => l.serverCpuMs)),
        ]);
        const name = `${route === 'ping' ? 'ping' : route === 'POST /task' ? 'post_task' : 'get_task'}.${shape}`;
        Object.assign(result.metrics, {
          [`${name}.per_s`]: mid((l) => l.perSecond),
          [`${name}.p50_ms`]: mid((l) => percentile(l.latencies, 50)),
          [`${name}.p90_ms`]: mid((l) => percentile(l.latencies, 90)),
          [`${name}.p99_ms`]: p99,
          [`${name}.p99_ms_by_round`]: loads.map((l) => fmt(percentile(l.latencies, 99))).join(' '),
          [`${name}.server_cpu_ms_per_request`]: mid((l) => l.serverCpuMs),
        });
        if (route !== 'ping' && shape !== 'unthrottled') {
          const ping = median(
            (samples.get(key('ping', shape)) ?? []).map((l) => percentile(l.latencies, 99)),
          );
          result.metrics[`${name}.p99_over_ping_p99`] = p99 / ping;
        }
        if (route !== 'ping' && shape === 'spread') {
          result.targets.push(
            target(
              BENCHMARK,
              `${route} p99 at ${RATE} requests/s (spread; median of ${loads.length} rounds)`,
              p99,
              P99_LIMIT_MS,
              'ms',
            ),
          );
        }
      }
    }
    log(table(rows));
    log(`   load average after: ${loadAverage()}`);
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
  runServerApiLoad({
    rounds: numberFromArgv('--rounds'),
    seconds: numberFromArgv('--seconds'),
  }),
);
