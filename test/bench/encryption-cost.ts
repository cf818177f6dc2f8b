/**
 * Encryption at rest (issue "security"): what it costs, and how fast keys rotate.
 *
 *   cost      two `taskhost serve` on one benchmark cluster, each with its own database,
 *             both from the sources through tsx (the same code but for one thing): `with`
 *             as taskhost runs, its key ring in a temporary data directory; `without` with
 *             a module hook of the benchmark's own (fixtures/no-encryption/) that keeps the
 *             store's plaintext codec. Nothing in taskhost can switch encryption off.
 *             Per round, interleaved (the order rotating), after a warm-up round:
 *               tasks/s    `tasks` tasks of a 3-step echo template (auto_runnable), POSTed
 *                          16 at a time; timed from the first POST to the last task's end
 *                          as PostgreSQL stamped it (as server-throughput does)
 *               POST /task `posts` requests, 2 at a time, of a 3-step template that is not
 *                          auto_runnable; each request's response time (p50, p99)
 *             Target: with encryption at most 10 % slower (tasks/s and POST /task p99, medians
 *             of the rounds).
 *   rotation  100,000 log lines (one run's event log, 1,000 lines a write) encrypted under
 *             one key; a key added; the rotation (store/crypto/rotate.ts, 1,000 rows a
 *             transaction) timed, in this process. Rows/s, median of `rotations` rotations,
 *             each under a newly added key.
 *
 *   node --import tsx test/bench/encryption-cost.ts [--rounds N] [--tasks N] [--posts N] [--lines N]
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { RingCodec } from '../../src/store/crypto/codec.ts';
import { addKey, prepareEncryption } from '../../src/store/crypto/encryption.ts';
import { rotateKeys } from '../../src/store/crypto/rotate.ts';
import { appendEvents, type StreamEvent } from '../../src/store/queries/events.ts';
import type { Store } from '../../src/store/store.ts';
import {
  api,
  fmt,
  FIXTURES_DIR,
  loadAverage,
  log,
  median,
  onCleanup,
  percentile,
  PROJECT_DIR,
  rotation,
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
import {
  createDatabase,
  createTasks,
  databaseUrl,
  describeStates,
  echoTemplate,
  templatesDir,
  waitTasksEnded,
} from './server-lib.ts';

const BENCHMARK = 'encryption-cost';
const SLOWER_LIMIT = 0.1;
const AUTO = 'echo3';
const MANUAL = 'echo3m';

export interface EncryptionCostOptions {
  rounds?: number;
  warmup?: number;
  tasks?: number;
  posts?: number;
  lines?: number;
  rotations?: number;
}

type Variant = 'with' | 'without';
const VARIANTS: readonly Variant[] = ['with', 'without'];

interface Sample {
  tasksPerSecond: number;
  latencies: number[];
}

/** `count` POST /task of `template`, `inFlight` at once; each response time in ms. */
async function postLatencies(
  server: ServerProcess,
  template: string,
  count: number,
  inFlight: number,
): Promise<number[]> {
  const latencies: number[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      next += 1;
      const started = performance.now();
      await api(server.url, 'POST', '/task', { template_name: template, input: {} }, [201]);
      latencies.push(performance.now() - started);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return latencies;
}

async function rotationSpeed(
  store: Store,
  keysFile: string,
  lines: number,
  rotations: number,
): Promise<number[]> {
  const codec = (await prepareEncryption(store, keysFile)) as RingCodec;
  store.codec = codec;
  const stream = randomUUID();
  for (let from = 1; from <= lines; from += 1000) {
    const batch: StreamEvent[] = Array.from({ length: Math.min(1000, lines - from + 1) }, (_, index) => ({
      seq: from + index,
      type: 'log',
      step: 'build',
      stream: 'stdout',
      line: `2026-01-01T00:00:00Z build step ${from + index}: compiling module ${from + index} of ${lines}, all fine so far`,
      state: null,
      ts: new Date().toISOString(),
    }));
    await appendEvents(store, stream, batch);
  }
  await store.query('VACUUM ANALYZE event');
  const rates: number[] = [];
  for (let round = 0; round < rotations; round += 1) {
    await addKey(store, codec);
    const started = performance.now();
    const result = await rotateKeys(store, codec);
    const ms = performance.now() - started;
    if (result.tables.event !== lines) {
      throw new Error(`rotation rewrote ${result.tables.event} lines of ${lines}`);
    }
    rates.push((lines * 1000) / ms);
    log(
      `   rotation ${round + 1}: ${lines} lines in ${fmt(ms, 0)} ms, ${fmt(rates.at(-1) as number, 0)} rows/s`,
    );
    await store.query('VACUUM event');
  }
  return rates;
}

export async function runEncryptionCost(options: EncryptionCostOptions = {}): Promise<BenchResult> {
  const rounds = options.rounds ?? 3;
  const warmup = options.warmup ?? 1;
  const tasks = options.tasks ?? 300;
  const posts = options.posts ?? 600;
  const lines = options.lines ?? 100_000;
  const rotations = options.rotations ?? 3;
  log(
    `== ${BENCHMARK}: ${tasks} tasks and ${posts} POST /task with and without encryption, ${rounds} interleaved rounds, ${warmup} warm-up; rotation of ${lines} log lines x${rotations}`,
  );
  log(`   load average before: ${loadAverage()}`);
  const result: BenchResult = {
    benchmark: BENCHMARK,
    metrics: { rounds, warmup, tasks, posts, lines },
    targets: [],
    notes: [],
  };
  const templates = templatesDir({ [AUTO]: echoTemplate(AUTO, true), [MANUAL]: echoTemplate(MANUAL, false) });
  const noPlugins = tempDir('no-plugins');
  const cluster = await startCluster();
  const stores: Store[] = [];
  const servers: ServerProcess[] = [];
  const unregister = onCleanup(async () => {
    for (const server of servers) await server.stop();
    for (const store of stores) await store.close().catch(() => undefined);
  });
  try {
    const tsx = pathToFileURL(path.join(PROJECT_DIR, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
    const hook = pathToFileURL(path.join(FIXTURES_DIR, 'no-encryption', 'register.mjs')).href;
    const script = path.join(PROJECT_DIR, 'src', 'cli', 'main.ts');
    const store: Record<Variant, Store> = {
      with: await createDatabase(cluster, 'with_encryption'),
      without: await createDatabase(cluster, 'without_encryption'),
    };
    stores.push(store.with, store.without);
    const server: Record<Variant, ServerProcess> = {
      with: await startServer({
        tasksDir: noPlugins,
        templatesDir: templates,
        cwd: tempDir('with-encryption'),
        databaseUrl: databaseUrl(cluster, 'with_encryption'),
        entry: { nodeArgs: ['--import', tsx], script },
      }),
      without: await startServer({
        tasksDir: noPlugins,
        templatesDir: templates,
        cwd: tempDir('without-encryption'),
        databaseUrl: databaseUrl(cluster, 'without_encryption'),
        entry: { nodeArgs: ['--import', tsx, '--import', hook], script },
      }),
    };
    servers.push(server.with, server.without);
    const { rows } = await store.without.query(
      "SELECT count(*)::int AS n FROM event WHERE line LIKE 'th1:%' OR data::text LIKE '\"th1:%'",
    );
    if ((rows[0] as { n: number }).n !== 0) throw new Error('the plaintext server encrypted');

    const samples: Record<Variant, Sample[]> = { with: [], without: [] };
    for (let round = 0; round < warmup + rounds; round += 1) {
      const measured = round >= warmup;
      const scale = measured ? 1 : 0.25;
      for (const index of rotation(VARIANTS.length, round)) {
        const variant = VARIANTS[index] as Variant;
        const count = Math.round(tasks * scale);
        const started = wallClockMs();
        const ids = await createTasks([server[variant]], AUTO, count, 16);
        const end = await waitTasksEnded(store[variant], ids, 600_000);
        if ((end.states.DONE ?? 0) !== count) {
          throw new Error(`${variant}: ${describeStates(end.states)} (expected DONE ${count})`);
        }
        const tasksPerSecond = (count * 1000) / (end.lastActivityMs - started);
        const latencies = await postLatencies(server[variant], MANUAL, Math.round(posts * scale), 2);
        await store[variant].query('VACUUM');
        log(
          `   ${measured ? `round ${round - warmup + 1}` : 'warm-up'} ${variant}: ${fmt(tasksPerSecond, 1)} tasks/s, POST /task p50 ${fmt(percentile(latencies, 50))} p99 ${fmt(percentile(latencies, 99))} ms`,
        );
        if (measured) samples[variant].push({ tasksPerSecond, latencies });
      }
    }
    const perSecond = (variant: Variant): number => median(samples[variant].map((s) => s.tasksPerSecond));
    const p99 = (variant: Variant): number =>
      median(samples[variant].map((s) => percentile(s.latencies, 99)));
    const p50 = (variant: Variant): number =>
      median(samples[variant].map((s) => percentile(s.latencies, 50)));
    log(
      table([
        [
          'encryption',
          'tasks/s (median)',
          'by round',
          'POST /task p50 ms',
          'POST /task p99 ms',
          'p99 by round',
        ],
        ...VARIANTS.map((variant) => [
          variant,
          fmt(perSecond(variant), 1),
          samples[variant].map((s) => fmt(s.tasksPerSecond, 0)).join(' '),
          fmt(p50(variant)),
          fmt(p99(variant)),
          samples[variant].map((s) => fmt(percentile(s.latencies, 99))).join(' '),
        ]),
      ]),
    );
    for (const variant of VARIANTS) {
      result.metrics[`${variant}.tasks_per_second`] = perSecond(variant);
      result.metrics[`${variant}.post_task_p50_ms`] = p50(variant);
      result.metrics[`${variant}.post_task_p99_ms`] = p99(variant);
    }
    const slowerTasks = 1 - perSecond('with') / perSecond('without');
    const slowerP99 = p99('with') / p99('without') - 1;
    result.metrics.tasks_per_second_slower = slowerTasks;
    result.metrics.post_task_p99_slower = slowerP99;
    result.targets.push(
      target(
        BENCHMARK,
        'tasks/s: how much slower with encryption (median of rounds)',
        slowerTasks,
        SLOWER_LIMIT,
        'fraction',
      ),
      target(
        BENCHMARK,
        'POST /task p99: how much slower with encryption (median of rounds)',
        slowerP99,
        SLOWER_LIMIT,
        'fraction',
      ),
    );

    for (const s of servers.splice(0)) await s.stop();
    const rotationStore = await createDatabase(cluster, 'rotation');
    stores.push(rotationStore);
    const rates = await rotationSpeed(
      rotationStore,
      path.join(tempDir('rotation-keys'), 'keys.json'),
      lines,
      rotations,
    );
    result.metrics.rotation_rows_per_second = median(rates);
    result.metrics.rotation_rows_per_second_by_round = rates.map((rate) => fmt(rate, 0)).join(' ');
    log(`   key rotation: ${fmt(median(rates), 0)} rows/s (median of ${rates.length})`);
    result.notes.push(
      `with/without: the sources through tsx for both; POST /task latencies are closed-loop, 2 in flight`,
    );
    return result;
  } finally {
    unregister();
    for (const s of servers) await s.stop();
    for (const s of stores) await s.close().catch(() => undefined);
    await cluster.stop();
  }
}

function numberFromArgv(flag: string): number | undefined {
  const index = process.argv.indexOf(flag);
  return index > 0 ? Number(process.argv[index + 1]) : undefined;
}

runIfMain(import.meta.url, () =>
  runEncryptionCost({
    rounds: numberFromArgv('--rounds'),
    tasks: numberFromArgv('--tasks'),
    posts: numberFromArgv('--posts'),
    lines: numberFromArgv('--lines'),
  }),
);
