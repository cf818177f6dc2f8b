/**
 * plugin-check: the overhead of `taskhost plugin check` on a fast plugin (issue 16: under a
 * second), that is its wall time minus the plugin's own runs (`PLUGIN schema`, then one run).
 *
 * The plugin's time is taken two ways, in the same rounds:
 *   - from the check itself: its `--json` report gives the wall time of each of its two
 *     spawns (timings.schema_ms, timings.run_ms), so overhead = wall - both, per invocation;
 *   - by hand: `PLUGIN schema` and `PLUGIN` with the same envelope, spawned directly, as a
 *     cross-check (overhead = median wall - median of the two).
 * `node -e 0` is measured beside them as the floor of any CLI. All variants are interleaved
 * round by round (order rotating) after a warm-up. The check opens no store, so there is no
 * database here.
 *
 *   node --import tsx test/bench/plugin-check.ts [--reps N]
 */
import path from 'node:path';
import { pluginEnvironment } from '../../src/plugins/environment.ts';
import { buildInputEnvelope } from '../../src/protocol/envelope.ts';
import {
  cleanEnv,
  fixture,
  fmt,
  loadAverage,
  log,
  median,
  rotation,
  runIfMain,
  summarize,
  table,
  TASKHOST_BIN,
  target,
  timeProcess,
  type BenchResult,
  type Timed,
} from './lib.ts';

const BENCHMARK = 'plugin-check';
const PLUGIN = 'bench-bash';

export interface PluginCheckOptions {
  reps?: number;
  warmup?: number;
}

type Variant = 'check' | 'plugin' | 'node';
const VARIANTS: readonly Variant[] = ['check', 'plugin', 'node'];

interface CheckJson {
  ok: boolean;
  timings: { schema_ms: number | null; run_ms: number | null };
}

function describeFailure(what: string, result: Timed): string {
  return `${what}: exit ${result.code ?? result.signal}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`;
}

export async function runPluginCheck(options: PluginCheckOptions = {}): Promise<BenchResult> {
  const reps = options.reps ?? 20;
  const warmup = options.warmup ?? 2;
  log(
    `== ${BENCHMARK}: ${reps} interleaved rounds (plugin check --json, the plugin by hand, node -e 0), ${warmup} warm-up`,
  );
  log(`   load average before: ${loadAverage()}`);
  const result: BenchResult = { benchmark: BENCHMARK, metrics: { reps, warmup }, targets: [], notes: [] };

  const pluginFile = fixture('bench-bash.sh');
  const cwd = path.dirname(pluginFile);
  const env = cleanEnv();
  // What the check runs with: the data it builds from the schema (no examples: {}).
  const envelope = JSON.stringify(buildInputEnvelope({ taskName: PLUGIN }, {}));
  const pluginEnv = pluginEnvironment({ pluginName: PLUGIN, runId: null });

  const walls: Record<Variant, number[]> = { check: [], plugin: [], node: [] };
  const ownRuns: number[] = [];
  const overheads: number[] = [];
  const invoke: Record<Variant, (record: boolean) => Promise<number>> = {
    check: async (record) => {
      const r = await timeProcess(process.execPath, [TASKHOST_BIN, 'plugin', 'check', pluginFile, '--json'], {
        cwd,
        env,
      });
      if (r.code !== 0) throw new Error(describeFailure('plugin check', r));
      const report = JSON.parse(r.stdout) as CheckJson;
      const own = (report.timings.schema_ms ?? Number.NaN) + (report.timings.run_ms ?? Number.NaN);
      if (!report.ok || !Number.isFinite(own)) throw new Error(describeFailure('plugin check (report)', r));
      if (record) {
        ownRuns.push(own);
        overheads.push(r.ms - own);
      }
      return r.ms;
    },
    plugin: async () => {
      const schema = await timeProcess(pluginFile, ['schema'], { cwd, env: pluginEnv });
      if (schema.code !== 0) throw new Error(describeFailure('plugin schema', schema));
      const run = await timeProcess(pluginFile, [], { cwd, env: pluginEnv, input: envelope });
      if (run.code !== 0) throw new Error(describeFailure('plugin run', run));
      return schema.ms + run.ms;
    },
    node: async () => {
      const r = await timeProcess(process.execPath, ['-e', '0'], { cwd, env });
      if (r.code !== 0) throw new Error(describeFailure('node -e 0', r));
      return r.ms;
    },
  };

  for (let round = 0; round < warmup + reps; round += 1) {
    const record = round >= warmup;
    for (const index of rotation(VARIANTS.length, round)) {
      const variant = VARIANTS[index] as Variant;
      const ms = await invoke[variant](record);
      if (record) walls[variant].push(ms);
    }
  }

  const s = { check: summarize(walls.check), plugin: summarize(walls.plugin), node: summarize(walls.node) };
  const overhead = median(overheads);
  const byHand = s.check.median - s.plugin.median;
  log(
    table([
      ['variant', 'median ms', 'p10', 'p90', 'max'],
      [
        'plugin check --json (wall)',
        fmt(s.check.median),
        fmt(s.check.p10),
        fmt(s.check.p90),
        fmt(s.check.max),
      ],
      ["  the plugin's two runs, as the check timed them", fmt(median(ownRuns)), '', '', ''],
      ['  overhead: wall - its two runs', fmt(overhead), '', '', ''],
      [
        'the plugin by hand (schema + run)',
        fmt(s.plugin.median),
        fmt(s.plugin.p10),
        fmt(s.plugin.p90),
        fmt(s.plugin.max),
      ],
      ['  overhead: check - plugin by hand', fmt(byHand), '', '', ''],
      ['node -e 0 (baseline)', fmt(s.node.median), fmt(s.node.p10), fmt(s.node.p90), fmt(s.node.max)],
    ]),
  );
  log(`   load average after: ${loadAverage()}`);
  Object.assign(result.metrics, {
    'check.wall_median_ms': s.check.median,
    'check.wall_p90_ms': s.check.p90,
    'check.own_runs_median_ms': median(ownRuns),
    'check.overhead_median_ms': overhead,
    'plugin.by_hand_median_ms': s.plugin.median,
    'check.overhead_vs_by_hand_ms': byHand,
    'node_e0.wall_median_ms': s.node.median,
  });
  result.targets.push(target(BENCHMARK, 'plugin check overhead (wall - plugin runs)', overhead, 1000, 'ms'));
  return result;
}

function repsFromArgv(): number | undefined {
  const index = process.argv.indexOf('--reps');
  return index > 0 ? Number(process.argv[index + 1]) : undefined;
}

runIfMain(import.meta.url, () => runPluginCheck({ reps: repsFromArgv() }));
