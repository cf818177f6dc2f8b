/**
 * Dashboard first load (issue 15): a browser with an empty cache opens `/ui/` of a server that
 * has the benchmark fixtures registered as plugins; measured are the bytes the page loads (response bodies: the
 * index, its script and style; the server sends them uncompressed) and the time from the
 * navigation to the plugin list being visible. Each round uses a fresh browser context (no
 * cache). Medians over the rounds; a warm-up round first.
 *
 *   node --import tsx test/bench/ui-first-load.ts [--rounds N]
 */
import {
  fmt,
  log,
  median,
  runIfMain,
  startCluster,
  startServer,
  table,
  target,
  type BenchResult,
} from './lib.ts';
import { createDatabase, databaseUrl } from './server-lib.ts';
import { launchBenchBrowser } from './ui-lib.ts';

const BENCHMARK = 'ui-first-load';
/** The first load's budget (bytes of the bodies), a guard against the page growing unnoticed. */
const BYTES_LIMIT = 150 * 1024;
const VISIBLE_LIMIT_MS = 1000;

export async function runUiFirstLoad(options: { rounds?: number } = {}): Promise<BenchResult> {
  const rounds = options.rounds ?? 9;
  log(`== ${BENCHMARK}: ${rounds} rounds, a fresh browser context each`);
  const cluster = await startCluster();
  const store = await createDatabase(cluster, 'ui_first_load');
  await store.close();
  const server = await startServer({ databaseUrl: databaseUrl(cluster, 'ui_first_load') });
  const browser = await launchBenchBrowser(BENCHMARK);
  const bytes: number[] = [];
  const visibleMs: number[] = [];
  let plugins = 0;
  for (let round = 0; round <= rounds; round++) {
    const context = await browser.newContext();
    const page = await context.newPage();
    let loaded = 0;
    const bodies: Promise<void>[] = [];
    page.on('response', (response) => {
      bodies.push(
        response.body().then(
          (body) => void (loaded += body.length),
          () => undefined,
        ),
      );
    });
    const started = performance.now();
    await page.goto(`${server.url}/ui/`);
    await page.waitForSelector('#plugin-list tbody tr', { state: 'visible' });
    const elapsed = performance.now() - started;
    plugins = await page.locator('#plugin-list tbody tr').count();
    await Promise.all(bodies);
    await context.close();
    if (round === 0) continue; // the warm-up: the server's first requests, the browser's start
    bytes.push(loaded);
    visibleMs.push(elapsed);
  }
  await browser.close();
  await server.stop();
  await cluster.stop();
  const bytesMedian = median(bytes);
  const visibleMedian = median(visibleMs);
  log(
    table([
      ['measure', 'median', 'min', 'max'],
      ['bytes loaded', fmt(bytesMedian, 0), fmt(Math.min(...bytes), 0), fmt(Math.max(...bytes), 0)],
      ['ms to plugin list', fmt(visibleMedian), fmt(Math.min(...visibleMs)), fmt(Math.max(...visibleMs))],
    ]),
  );
  return {
    benchmark: BENCHMARK,
    metrics: { rounds, plugins, bytes_median: bytesMedian, visible_ms_median: visibleMedian },
    targets: [
      target(BENCHMARK, 'first-load bytes (bodies)', bytesMedian / 1024, BYTES_LIMIT / 1024, 'KiB'),
      target(BENCHMARK, 'plugin list visible', visibleMedian, VISIBLE_LIMIT_MS, 'ms'),
    ],
    notes: [`${plugins} plugins listed; bodies counted uncompressed (the server does not compress)`],
  };
}

const roundsArg = process.argv.indexOf('--rounds');
runIfMain(import.meta.url, () =>
  runUiFirstLoad(roundsArg > 0 ? { rounds: Number(process.argv[roundsArg + 1]) } : {}),
);
