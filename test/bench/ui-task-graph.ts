/**
 * Dashboard task page (issue 15): a task of a 200-item foreach (201 steps: the foreach and its
 * children) opened in a browser with an empty cache, timed from the navigation until every
 * step is drawn in the graph with its state as text. Each child refuses its item (a client
 * error), so the task stops BLOCKED with its 200 children kept (a foreach that succeeds folds
 * them into its own output) and every round draws the same 201 steps. Median over the rounds,
 * a warm-up first. Target: <= 1 s.
 *
 *   node --import tsx test/bench/ui-task-graph.ts [--rounds N]
 */
import {
  api,
  fmt,
  log,
  median,
  runIfMain,
  sleep,
  startCluster,
  startServer,
  table,
  target,
  type BenchResult,
} from './lib.ts';
import { createDatabase, databaseUrl, templatesDir } from './server-lib.ts';
import { launchBenchBrowser } from './ui-lib.ts';

const BENCHMARK = 'ui-task-graph';
const ITEMS = 200;
const LIMIT_MS = 1000;
const FAN = `name: fan
description: one child per item, each refusing its item
auto_runnable: true
inputs:
  - name: items
    collection: true
steps:
  each:
    foreach: '{{toJson input.items}}'
    action:
      type: echo
      configuration: {error_message: 'refused {{iterator}}', error_type: client}
`;

export async function runUiTaskGraph(options: { rounds?: number } = {}): Promise<BenchResult> {
  const rounds = options.rounds ?? 7;
  log(`== ${BENCHMARK}: a ${ITEMS}-item foreach task, ${rounds} rounds`);
  const cluster = await startCluster();
  const store = await createDatabase(cluster, 'ui_task_graph');
  await store.close();
  const server = await startServer({
    databaseUrl: databaseUrl(cluster, 'ui_task_graph'),
    templatesDir: templatesDir({ 'fan.yaml': FAN }),
  });
  const items = Array.from({ length: ITEMS }, (_, index) => `item-${index}`);
  const task = await api<{ id: string }>(
    server.url,
    'POST',
    '/task',
    { template_name: 'fan', input: { items } },
    [201],
  );
  // Wait for the task to finish (a hang guard of 5 minutes, not a measure).
  for (let waited = 0; ; waited += 100) {
    const { state } = await api<{ state: string }>(server.url, 'GET', `/task/${task.id}`);
    if (state === 'BLOCKED') break;
    if (waited > 300_000) throw new Error(`the ${ITEMS}-item task is still ${state}`);
    await sleep(100);
  }
  const steps = ITEMS + 1;
  const browser = await launchBenchBrowser(BENCHMARK);
  const drawnMs: number[] = [];
  for (let round = 0; round <= rounds; round++) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const started = performance.now();
    await page.goto(`${server.url}/ui/tasks/${task.id}`);
    // A function, run in the page (the dashboard's content security policy refuses eval of an
    // expression string): every step drawn with its state as text.
    await page.waitForFunction(
      (count) =>
        (
          globalThis as unknown as {
            document: { querySelectorAll: (selector: string) => { length: number } };
          }
        ).document.querySelectorAll('.step-graph [data-step]:not([data-state=""]) .step-sub').length ===
        count,
      steps,
      { polling: 'raf', timeout: 60_000 },
    );
    const elapsed = performance.now() - started;
    await context.close();
    if (round > 0) drawnMs.push(elapsed);
  }
  await browser.close();
  await server.stop();
  await cluster.stop();
  const drawn = median(drawnMs);
  log(
    table([
      ['measure', 'median', 'min', 'max'],
      [`ms until ${steps} steps drawn`, fmt(drawn), fmt(Math.min(...drawnMs)), fmt(Math.max(...drawnMs))],
    ]),
  );
  return {
    benchmark: BENCHMARK,
    metrics: { rounds, steps, drawn_ms_median: drawn },
    targets: [target(BENCHMARK, `task page, ${steps} steps drawn`, drawn, LIMIT_MS, 'ms')],
    notes: [],
  };
}

const roundsArg = process.argv.indexOf('--rounds');
runIfMain(import.meta.url, () =>
  runUiTaskGraph(roundsArg > 0 ? { rounds: Number(process.argv[roundsArg + 1]) } : {}),
);
