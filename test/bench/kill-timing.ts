/**
 * Kill timing: how soon the runner ends a run that would not end by itself, once its limit
 * is reached. The tests assert what happens (the kill reason, the signal, the dead
 * grandchild, the refusal); how soon it happens is measured here, against a plain run of a
 * plugin timed in the same rounds (what starting and ending a process costs on this machine).
 *
 * Each round (the order rotates), through runPlugin and describePlugin in this process, with
 * the plugins of test/fixtures/plugins/:
 *   plain     ok.sh, a plain run (the baseline)
 *   timeout   hang.sh (a grandchild shares its pipes), timeout 300 ms: end - 300 ms
 *   grace     ignores-term.sh (ignores SIGTERM), timeout 300 ms, kill grace 200 ms:
 *             end - 500 ms; a run ended before 500 ms would not have waited for the grace
 *   cancel    hang.sh aborted on its first line: end - abort
 *   linger    grandchild-holds-stdout.sh: it answers and exits, a grandchild keeps stdout; the
 *             run ends after the drain grace (200 ms): end - 200 ms, which includes the run
 *   describe  hanging-schema.sh with a 300 ms limit: end - 300 ms
 * Targets: every overshoot's median is at most the plain run's median (ending a process costs
 * less than running one; linger, which runs its plugin too, at most 1.5 times), and no
 * ignores-term run ends before timeout + grace.
 *
 *   node --import tsx test/bench/kill-timing.ts [--rounds N]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describePlugin } from '../../src/plugins/description.ts';
import { runPlugin, type PluginRunRequest, type RunnablePlugin } from '../../src/plugins/run-plugin.ts';
import { isAlive } from '../../src/store/processes.ts';
import {
  fmt,
  loadAverage,
  log,
  PROJECT_DIR,
  removeDir,
  rotation,
  runIfMain,
  sleep,
  summarize,
  table,
  target,
  type BenchResult,
} from './lib.ts';

const BENCHMARK = 'kill-timing';
const PLUGINS_DIR = path.join(PROJECT_DIR, 'test', 'fixtures', 'plugins');
const TIMEOUT_MS = 300;
const KILL_GRACE_MS = 200;
/** The runner's default: how long it waits for the pipes once the plugin has exited. */
const DRAIN_GRACE_MS = 200;

export interface KillTimingOptions {
  rounds?: number;
  warmup?: number;
}

type Variant = 'plain' | 'timeout' | 'grace' | 'cancel' | 'linger' | 'describe';
const VARIANTS: readonly Variant[] = ['plain', 'timeout', 'grace', 'cancel', 'linger', 'describe'];

async function plugin(file: string): Promise<RunnablePlugin> {
  const location = path.join(PLUGINS_DIR, file);
  const description = await describePlugin(location);
  return { name: description.name, location, description };
}

/** runPlugin, timed; throws when the run did not end as the variant expects. */
async function timedRun(
  what: string,
  request: PluginRunRequest,
  expect: (outcome: Awaited<ReturnType<typeof runPlugin>>) => boolean,
): Promise<{ ms: number; outcome: Awaited<ReturnType<typeof runPlugin>> }> {
  const started = performance.now();
  const outcome = await runPlugin(request);
  const ms = performance.now() - started;
  if (!expect(outcome)) throw new Error(`${what}: unexpected outcome ${JSON.stringify(outcome)}`);
  return { ms, outcome };
}

/**
 * Whether the grandchild whose pid a fixture wrote outlived its run: still alive 2 s after
 * the run ended (a SIGKILL sent as the run ends takes a moment to land). Kills it if so.
 */
async function outlived(pidfile: string): Promise<boolean> {
  if (!fs.existsSync(pidfile)) return false;
  const pid = Number(fs.readFileSync(pidfile, 'utf8').trim());
  fs.rmSync(pidfile);
  if (!(pid > 0)) return false;
  for (let i = 0; i < 100 && isAlive(pid); i += 1) await sleep(20);
  if (!isAlive(pid)) return false;
  process.kill(pid, 'SIGKILL');
  return true;
}

export async function runKillTiming(options: KillTimingOptions = {}): Promise<BenchResult> {
  const rounds = options.rounds ?? 20;
  const warmup = options.warmup ?? 2;
  log(
    `== ${BENCHMARK}: ${rounds} interleaved rounds (${VARIANTS.join(', ')}), ${warmup} warm-up; timeout ${TIMEOUT_MS} ms, kill grace ${KILL_GRACE_MS} ms`,
  );
  log(`   load average before: ${loadAverage()}`);
  const result: BenchResult = { benchmark: BENCHMARK, metrics: { rounds, warmup }, targets: [], notes: [] };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'taskhost-bench-kill-'));
  try {
    const ok = await plugin('ok.sh');
    const hang = await plugin('hang.sh');
    const ignoresTerm = await plugin('ignores-term.sh');
    const linger = await plugin('grandchild-holds-stdout.sh');
    const hangingSchema = path.join(PLUGINS_DIR, 'hanging-schema.sh');
    const pidfile = path.join(dir, 'grandchild.pid');
    let leftovers = 0;
    let notReady = 0;
    let beforeGrace = 0;

    /** Each variant: its overshoot past the nominal end (ms), or null for a sample to drop. */
    const invoke: Record<Variant, () => Promise<number | null>> = {
      plain: async () => (await timedRun('plain', { plugin: ok, data: {} }, (o) => o.state === 'DONE')).ms,
      timeout: async () => {
        const { ms } = await timedRun(
          'timeout',
          { plugin: hang, data: { pidfile }, timeoutMs: TIMEOUT_MS, killGraceMs: KILL_GRACE_MS },
          (o) => o.killReason === 'timeout',
        );
        if (await outlived(pidfile)) leftovers += 1;
        return ms - TIMEOUT_MS;
      },
      grace: async () => {
        const { ms, outcome } = await timedRun(
          'grace',
          { plugin: ignoresTerm, data: {}, timeoutMs: TIMEOUT_MS, killGraceMs: KILL_GRACE_MS },
          (o) => o.killReason === 'timeout',
        );
        // Killed before its trap was set, SIGTERM alone ended it: not a sample of the grace.
        if (outcome.signal !== 'SIGKILL') {
          notReady += 1;
          return null;
        }
        if (ms < TIMEOUT_MS + KILL_GRACE_MS) beforeGrace += 1;
        return ms - TIMEOUT_MS - KILL_GRACE_MS;
      },
      cancel: async () => {
        const controller = new AbortController();
        let abortedAt = Number.NaN;
        await timedRun(
          'cancel',
          {
            plugin: hang,
            data: { pidfile },
            timeoutMs: 600_000,
            killGraceMs: KILL_GRACE_MS,
            signal: controller.signal,
            onLine: (line) => {
              if (!controller.signal.aborted && line.text.startsWith('hang: waiting')) {
                abortedAt = performance.now();
                controller.abort();
              }
            },
          },
          (o) => o.killReason === 'cancelled',
        );
        const ms = performance.now() - abortedAt;
        if (await outlived(pidfile)) leftovers += 1;
        return ms;
      },
      linger: async () => {
        // The gate never opens: the runner must kill the grandchild.
        const { ms } = await timedRun(
          'linger',
          { plugin: linger, data: { pidfile, gate: path.join(dir, 'never') } },
          (o) => o.state === 'DONE',
        );
        if (await outlived(pidfile)) leftovers += 1;
        return ms - DRAIN_GRACE_MS;
      },
      describe: async () => {
        const started = performance.now();
        try {
          await describePlugin(hangingSchema, TIMEOUT_MS);
        } catch (error) {
          if (!/did not answer within/.test((error as Error).message)) throw error;
          return performance.now() - started - TIMEOUT_MS;
        }
        throw new Error('hanging-schema.sh answered');
      },
    };

    const samples: Record<Variant, number[]> = {
      plain: [],
      timeout: [],
      grace: [],
      cancel: [],
      linger: [],
      describe: [],
    };
    for (let round = 0; round < warmup + rounds; round += 1) {
      for (const index of rotation(VARIANTS.length, round)) {
        const variant = VARIANTS[index] as Variant;
        const value = await invoke[variant]();
        if (round >= warmup && value !== null) samples[variant].push(value);
      }
    }

    const plain = summarize(samples.plain);
    const rows: string[][] = [['variant', 'what', 'median ms', 'p90 ms', 'max ms', 'median / plain run']];
    const what: Record<Variant, string> = {
      plain: 'a plain run of ok.sh (baseline)',
      timeout: `end - ${TIMEOUT_MS} ms timeout`,
      grace: `end - (${TIMEOUT_MS} ms timeout + ${KILL_GRACE_MS} ms grace)`,
      cancel: 'end - abort',
      linger: `end - ${DRAIN_GRACE_MS} ms drain grace`,
      describe: `end - ${TIMEOUT_MS} ms describe limit`,
    };
    for (const variant of VARIANTS) {
      const s = summarize(samples[variant]);
      const ratio = s.median / plain.median;
      rows.push([variant, what[variant], fmt(s.median), fmt(s.p90), fmt(s.max), fmt(ratio, 3)]);
      result.metrics[`${variant}.median_ms`] = s.median;
      result.metrics[`${variant}.p90_ms`] = s.p90;
      result.metrics[`${variant}.samples`] = s.n;
      if (variant === 'plain') continue;
      result.metrics[`${variant}.over_plain`] = ratio;
      result.targets.push(
        target(
          BENCHMARK,
          `${variant}: ${what[variant]}, median / plain run`,
          ratio,
          variant === 'linger' ? 1.5 : 1,
          'x',
        ),
      );
    }
    result.targets.push(
      target(BENCHMARK, 'grace: runs ended before timeout + grace', beforeGrace, 0, 'runs'),
    );
    Object.assign(result.metrics, { leftover_grandchildren: leftovers, grace_not_ready: notReady });
    if (leftovers > 0) result.notes.push(`${leftovers} grandchildren outlived their run (killed here)`);
    if (notReady > 0) {
      result.notes.push(`${notReady} ignores-term runs were killed before their trap was set (dropped)`);
    }
    log(table(rows));
    log(`   load average after: ${loadAverage()}`);
    return result;
  } finally {
    removeDir(dir);
  }
}

function roundsFromArgv(): number | undefined {
  const index = process.argv.indexOf('--rounds');
  return index > 0 ? Number(process.argv[index + 1]) : undefined;
}

runIfMain(import.meta.url, () => runKillTiming({ rounds: roundsFromArgv() }));
