/**
 * The server with many tasks stored (issue 13, benchmark c): does anything slow down as the
 * task history grows from 1,000 to 100,000?
 *
 * Two databases of one benchmark cluster, each with its own `taskhost serve` process (the
 * compiled dist/): one holding 1,000 tasks, one 100,000. Each is filled with copies of a
 * task the server itself ran to DONE (a 3-step echo task: its task, resolution, step and
 * event rows, copied with new ids by INSERT ... SELECT over generate_series, one second
 * apart in created_at), then VACUUM ANALYZE. Measured, per round and size (the sizes
 * interleaved, their order rotating, after a warm-up round):
 *
 *   list        GET /task, the first page (page_size 20, newest first), timed by the client
 *   document    GET /task/:id of stored tasks (a lookup by key: the baseline whose cost
 *               should not depend on the count)
 *   transition  a 50-step echo chain run in this process through the engine's API
 *               (createTask, then resolveUntilSettled: every step's transitions written
 *               through the store), per step
 *   end to end  POST /task of the 3-step echo template (auto_runnable), from its creation
 *               to DONE as PostgreSQL stamped them (created_at, last_activity): claim by
 *               the scheduler and three steps, on the server
 *
 * Targets: the first page at 100,000 tasks <= 50 ms (median); a step transition at
 * 100,000 tasks / at 1,000 <= 1.25 (flat: the ratio of the medians over rounds; the median
 * of the per-round ratios is shown beside it). The other ratios are reported too.
 *
 *   node --import tsx test/bench/server-task-count.ts [--rounds N] [--large N]
 */
import type { TemplateSnapshot } from '../../src/engine/engine.ts';
import type { Store } from '../../src/store/store.ts';
import { chainTemplate, loadSnapshot, runInProcess } from './engine-lib.ts';
import {
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
  analyze,
  cloneTask,
  createDatabase,
  createTasks,
  databaseUrl,
  describeStates,
  echoTemplate,
  templatesDir,
  waitTasksEnded,
} from './server-lib.ts';

const BENCHMARK = 'server-task-count';
const LIST_LIMIT_MS = 50;
const FLAT_LIMIT = 1.25;
const TEMPLATE = 'echo3';
const CHAIN_STEPS = 50;

export interface ServerTaskCountOptions {
  rounds?: number;
  warmup?: number;
  small?: number;
  large?: number;
  /** GET requests per route, size and round. */
  requests?: number;
  /** End-to-end tasks per size and round. */
  tasks?: number;
}

interface Size {
  count: number;
  label: string;
  store: Store;
  server: ServerProcess;
  /** Ids of stored tasks, for GET /task/:id. */
  sample: string[];
  snapshot: TemplateSnapshot;
}

interface Sample {
  listMs: number[];
  documentMs: number[];
  stepMs: number;
  endToEndMs: number[];
}

async function timeGet(url: string): Promise<number> {
  const started = performance.now();
  const response = await fetch(url);
  await response.arrayBuffer();
  const ms = performance.now() - started;
  if (response.status !== 200) throw new Error(`GET ${url}: HTTP ${response.status}`);
  return ms;
}

/** Creates `count` tasks one after the other; each one's creation-to-DONE from its row. */
async function endToEnd(size: Size, count: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < count; i += 1) {
    const [id] = await createTasks([size.server], TEMPLATE, 1, 1);
    for (;;) {
      const { rows } = await size.store.query<{ state: string; created_at: Date; last_activity: Date }>(
        'SELECT state, created_at, last_activity FROM task WHERE id = $1',
        [id],
      );
      const row = rows[0];
      if (row && row.state !== 'TODO' && row.state !== 'RUNNING') {
        if (row.state !== 'DONE') throw new Error(`${size.label}: a task ended ${row.state}`);
        times.push(row.last_activity.getTime() - row.created_at.getTime());
        break;
      }
      await sleep(5);
    }
  }
  return times;
}

export async function runServerTaskCount(options: ServerTaskCountOptions = {}): Promise<BenchResult> {
  const rounds = options.rounds ?? 7;
  const warmup = options.warmup ?? 1;
  const counts = [options.small ?? 1000, options.large ?? 100_000];
  const requests = options.requests ?? 30;
  const tasks = options.tasks ?? 5;
  log(
    `== ${BENCHMARK}: ${counts.join(' vs ')} tasks stored; GET /task, GET /task/:id (${requests} each), a ${CHAIN_STEPS}-step chain, ${tasks} tasks end to end; ${rounds} interleaved rounds, ${warmup} warm-up`,
  );
  log(`   load average before: ${loadAverage()}`);
  const result: BenchResult = {
    benchmark: BENCHMARK,
    metrics: { rounds, warmup, small: counts[0] as number, large: counts[1] as number, requests, tasks },
    targets: [],
    notes: [],
  };
  const templates = templatesDir({ [TEMPLATE]: echoTemplate(TEMPLATE, true) });
  const noPlugins = tempDir('no-plugins');
  const cluster = await startCluster();
  const sizes: Size[] = [];
  const stores: Store[] = [];
  const servers: ServerProcess[] = [];
  const release = async (): Promise<void> => {
    for (const server of servers) await server.stop();
    for (const store of stores) await store.close().catch(() => undefined);
  };
  const unregister = onCleanup(release);
  try {
    for (const count of counts) {
      const name = `tasks_${count}`;
      const store = await createDatabase(cluster, name);
      stores.push(store);
      const server = await startServer({
        tasksDir: noPlugins,
        templatesDir: templates,
        databaseUrl: databaseUrl(cluster, name),
      });
      servers.push(server);
      const [seed] = await createTasks([server], TEMPLATE, 1, 1);
      const seedEnd = await waitTasksEnded(store, [seed as string], 60_000, 20);
      if (seedEnd.states.DONE !== 1) throw new Error(`the seed task ended ${describeStates(seedEnd.states)}`);
      const started = performance.now();
      const copies = await cloneTask(store, seed as string, count - 1);
      await analyze(store);
      const fillMs = performance.now() - started;
      const { rows } = await store.query<{ n: number; bytes: string }>(
        `SELECT (SELECT count(*)::int FROM task) AS n, pg_database_size(current_database())::text AS bytes`,
      );
      const label = count >= 1000 ? `${count / 1000}k` : String(count);
      log(
        `   ${label}: ${rows[0]?.n} tasks stored (${copies.steps + 3} steps, ${copies.events} events copied) in ${fmt(fillMs / 1000, 1)} s; database ${fmt(Number(rows[0]?.bytes) / 1e6, 0)} MB`,
      );
      result.metrics[`${label}.fill_s`] = fillMs / 1000;
      result.metrics[`${label}.database_mb`] = Number(rows[0]?.bytes) / 1e6;
      const { rows: picked } = await store.query<{ id: string }>(
        'SELECT id FROM task ORDER BY random() LIMIT $1',
        [requests],
      );
      const snapshot = await loadSnapshot(
        store,
        chainTemplate(
          'chain',
          CHAIN_STEPS,
          (index) => `{type: echo, configuration: {output: {n: ${index}}}}`,
        ),
        'chain.yaml',
      );
      sizes.push({ count, label, store, server, sample: picked.map((row) => row.id), snapshot });
    }

    const measure = async (size: Size, scale: number): Promise<Sample> => {
      const n = Math.max(1, Math.round(requests * scale));
      const listMs: number[] = [];
      for (let i = 0; i < n; i += 1) listMs.push(await timeGet(`${size.server.url}/task`));
      const documentMs: number[] = [];
      for (let i = 0; i < n; i += 1) {
        documentMs.push(await timeGet(`${size.server.url}/task/${size.sample[i % size.sample.length]}`));
      }
      const run = await runInProcess(size.store, size.snapshot);
      if (run.taskState !== 'DONE') throw new Error(`${size.label}: the chain ended ${run.taskState}`);
      const endToEndMs = await endToEnd(size, Math.max(1, Math.round(tasks * scale)));
      return { listMs, documentMs, stepMs: run.ms / CHAIN_STEPS, endToEndMs };
    };

    const samples = new Map<number, Sample[]>(counts.map((count) => [count, []]));
    for (let round = 0; round < warmup + rounds; round += 1) {
      const measured = round >= warmup;
      for (const index of rotation(sizes.length, round)) {
        const size = sizes[index] as Size;
        const sample = await measure(size, measured ? 1 : 0.3);
        log(
          `   ${measured ? `round ${round - warmup + 1}` : 'warm-up'} ${size.label}: list ${fmt(median(sample.listMs))} ms, document ${fmt(median(sample.documentMs))} ms, ${fmt(sample.stepMs)} ms/step, end to end ${fmt(median(sample.endToEndMs), 0)} ms`,
        );
        if (measured) samples.get(size.count)?.push(sample);
      }
    }

    // Per size: the median over rounds of each round's median (list, document, end to end).
    const stat = (count: number, pick: (s: Sample) => number): number =>
      median((samples.get(count) ?? []).map(pick));
    const figures = {
      list: (count: number) => stat(count, (s) => median(s.listMs)),
      listP90: (count: number) => stat(count, (s) => percentile(s.listMs, 90)),
      document: (count: number) => stat(count, (s) => median(s.documentMs)),
      step: (count: number) => stat(count, (s) => s.stepMs),
      endToEnd: (count: number) => stat(count, (s) => median(s.endToEndMs)),
    };
    const [small, large] = sizes as [Size, Size];
    const ratio = (figure: (count: number) => number): number => figure(large.count) / figure(small.count);
    // The same ratio round by round (the sizes ran next to each other): drift in the
    // machine's load hits both halves of a round.
    const pairs = (pick: (s: Sample) => number): number => {
      const smallSamples = samples.get(small.count) ?? [];
      return median(
        (samples.get(large.count) ?? []).map((s, i) => pick(s) / pick(smallSamples[i] as Sample)),
      );
    };
    const paired = {
      list: pairs((s) => median(s.listMs)),
      listP90: pairs((s) => percentile(s.listMs, 90)),
      document: pairs((s) => median(s.documentMs)),
      step: pairs((s) => s.stepMs),
      endToEnd: pairs((s) => median(s.endToEndMs)),
    };
    log(
      table([
        [
          'tasks stored',
          'GET /task ms',
          'p90',
          'GET /task/:id ms',
          'ms per step (engine)',
          'end to end ms (3 steps)',
        ],
        ...sizes.map((size) => [
          size.label,
          fmt(figures.list(size.count)),
          fmt(figures.listP90(size.count)),
          fmt(figures.document(size.count)),
          fmt(figures.step(size.count)),
          fmt(figures.endToEnd(size.count), 0),
        ]),
        [
          `${large.label} / ${small.label}`,
          fmt(ratio(figures.list), 2),
          fmt(ratio(figures.listP90), 2),
          fmt(ratio(figures.document), 2),
          fmt(ratio(figures.step), 2),
          fmt(ratio(figures.endToEnd), 2),
        ],
        [
          '  paired by round',
          fmt(paired.list, 2),
          fmt(paired.listP90, 2),
          fmt(paired.document, 2),
          fmt(paired.step, 2),
          fmt(paired.endToEnd, 2),
        ],
      ]),
    );
    for (const size of sizes) {
      Object.assign(result.metrics, {
        [`${size.label}.list_median_ms`]: figures.list(size.count),
        [`${size.label}.list_p90_ms`]: figures.listP90(size.count),
        [`${size.label}.document_median_ms`]: figures.document(size.count),
        [`${size.label}.ms_per_step`]: figures.step(size.count),
        [`${size.label}.end_to_end_median_ms`]: figures.endToEnd(size.count),
      });
    }
    const ratioKey = `${large.label}_over_${small.label}`;
    Object.assign(result.metrics, {
      [`list.${ratioKey}`]: ratio(figures.list),
      [`document.${ratioKey}`]: ratio(figures.document),
      [`step.${ratioKey}`]: ratio(figures.step),
      [`end_to_end.${ratioKey}`]: ratio(figures.endToEnd),
      [`list.${ratioKey}_paired`]: paired.list,
      [`document.${ratioKey}_paired`]: paired.document,
      [`step.${ratioKey}_paired`]: paired.step,
      [`end_to_end.${ratioKey}_paired`]: paired.endToEnd,
    });
    result.targets.push(
      target(
        BENCHMARK,
        `GET /task first page, ${large.label} tasks stored (median)`,
        figures.list(large.count),
        LIST_LIMIT_MS,
        'ms',
      ),
      target(
        BENCHMARK,
        `step transition, ${large.label} / ${small.label} tasks stored`,
        ratio(figures.step),
        FLAT_LIMIT,
        'x',
      ),
    );
    const { rows: plan } = await large.store.query<{ 'QUERY PLAN': string }>(
      `EXPLAIN SELECT t.id FROM task t LEFT JOIN resolution r ON r.task_id = t.id
        ORDER BY t.created_at DESC, t.id DESC LIMIT 20`,
    );
    const planText = plan.map((row) => row['QUERY PLAN']).join(' / ');
    result.metrics['list.plan'] = planText;
    if (/Seq Scan on task/.test(planText)) {
      result.notes.push(
        `GET /task sorts the whole task table for its first page (no index on task (created_at DESC, id DESC)): ${planText}`,
      );
    }
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
  runServerTaskCount({ rounds: numberFromArgv('--rounds'), large: numberFromArgv('--large') }),
);
