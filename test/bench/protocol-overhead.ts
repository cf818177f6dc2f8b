/**
 * Protocol overhead: what the runner (runPlugin: data validation, stdin file, FIFOs, line
 * splitting, result scan, verdict) costs over spawning the same plugin by hand.
 *
 * For a bash and a python3 plugin, 300 sequential invocations each of
 *   runner  runPlugin({plugin, data}) from src/plugins/run-plugin.ts
 *   execa   execa(file, {input: envelopeJson}) with the same env and cwd
 *   spawn   child_process.spawn, envelope written to its stdin pipe, stdout/stderr collected
 * interleaved in rounds (the order rotates every round) after a warm-up, so drift in
 * machine load hits every variant alike. Reports per-invocation medians and the ratios
 * runner/execa (target <= 1.10) and runner/spawn.
 *
 *   node --import tsx test/bench/protocol-overhead.ts [--rounds N]
 */
import path from 'node:path';
import { execa } from 'execa';
import { describePlugin } from '../../src/plugins/description.ts';
import { pluginEnvironment } from '../../src/plugins/environment.ts';
import { runPlugin, type RunnablePlugin } from '../../src/plugins/run-plugin.ts';
import { buildInputEnvelope } from '../../src/protocol/envelope.ts';
import { StepState } from '../../src/protocol/states.ts';
import {
  fixture,
  fmt,
  loadAverage,
  log,
  preferRealPython,
  rotation,
  runIfMain,
  spread,
  summarize,
  table,
  target,
  timeProcess,
  type BenchResult,
  type Summary,
} from './lib.ts';

const BENCHMARK = 'protocol-overhead';
const RATIO_LIMIT = 1.1;

export interface ProtocolOptions {
  rounds?: number;
  warmup?: number;
}

type Variant = 'runner' | 'execa' | 'spawn';
const VARIANTS: readonly Variant[] = ['runner', 'execa', 'spawn'];

function lastLine(stdout: string): string {
  const lines = stdout.trimEnd().split('\n');
  return lines[lines.length - 1] ?? '';
}

async function measurePlugin(
  label: string,
  file: string,
  rounds: number,
  warmup: number,
): Promise<Record<Variant, Summary>> {
  const description = await describePlugin(file);
  const plugin: RunnablePlugin = { name: description.name, location: file, description };
  const data = { n: 1 };
  // The very envelope and environment the runner gives the plugin, for the raw variants too.
  const input = JSON.stringify(buildInputEnvelope({ taskName: plugin.name }, data));
  const env = pluginEnvironment({ pluginName: plugin.name, runId: null, taskId: null, stepName: null });
  const cwd = path.dirname(file);
  let failures = 0;

  const invoke: Record<Variant, () => Promise<number>> = {
    runner: async () => {
      const started = performance.now();
      const outcome = await runPlugin({ plugin, data });
      const ms = performance.now() - started;
      if (outcome.state !== StepState.DONE) failures += 1;
      return ms;
    },
    execa: async () => {
      const started = performance.now();
      const result = await execa(file, { input, env, extendEnv: false, cwd, reject: false });
      const ms = performance.now() - started;
      if (result.exitCode !== 0 || !lastLine(result.stdout).includes('"status": 1')) failures += 1;
      return ms;
    },
    spawn: async () => {
      const result = await timeProcess(file, [], { input, env, cwd });
      if (result.code !== 0 || !lastLine(result.stdout).includes('"status": 1')) failures += 1;
      return result.ms;
    },
  };

  const samples: Record<Variant, number[]> = { runner: [], execa: [], spawn: [] };
  for (let round = 0; round < warmup + rounds; round += 1) {
    for (const index of rotation(VARIANTS.length, round)) {
      const variant = VARIANTS[index] as Variant;
      const ms = await invoke[variant]();
      if (round >= warmup) samples[variant].push(ms);
    }
  }
  if (failures > 0) throw new Error(`${label}: ${failures} invocations did not answer status 1`);
  return {
    runner: summarize(samples.runner),
    execa: summarize(samples.execa),
    spawn: summarize(samples.spawn),
  };
}

export async function runProtocolOverhead(options: ProtocolOptions = {}): Promise<BenchResult> {
  const rounds = options.rounds ?? 300;
  const warmup = options.warmup ?? 20;
  log(
    `== ${BENCHMARK}: ${rounds} interleaved rounds (runner, execa, spawn) per plugin, ${warmup} warm-up rounds`,
  );
  log(`   load average before: ${loadAverage()}`);
  const result: BenchResult = { benchmark: BENCHMARK, metrics: { rounds, warmup }, targets: [], notes: [] };
  const python = preferRealPython();
  if (python) {
    log(`   ${python}`);
    result.notes.push(python);
  }
  const rows: string[][] = [
    [
      'plugin',
      'runner ms',
      'execa ms',
      'spawn ms',
      'runner/execa',
      'runner/spawn',
      'runner-spawn ms',
      'spread r/e/s',
    ],
  ];
  for (const [label, file] of [
    ['bash', fixture('bench-bash.sh')],
    ['python', fixture('bench-python.py')],
  ] as const) {
    const s = await measurePlugin(label, file, rounds, warmup);
    const vsExeca = s.runner.median / s.execa.median;
    const vsSpawn = s.runner.median / s.spawn.median;
    for (const variant of VARIANTS) {
      result.metrics[`${label}.${variant}.median_ms`] = s[variant].median;
      result.metrics[`${label}.${variant}.p90_ms`] = s[variant].p90;
    }
    result.metrics[`${label}.runner_over_execa`] = vsExeca;
    result.metrics[`${label}.runner_over_spawn`] = vsSpawn;
    result.metrics[`${label}.runner_minus_spawn_ms`] = s.runner.median - s.spawn.median;
    rows.push([
      label,
      fmt(s.runner.median),
      fmt(s.execa.median),
      fmt(s.spawn.median),
      fmt(vsExeca, 3),
      fmt(vsSpawn, 3),
      fmt(s.runner.median - s.spawn.median),
      VARIANTS.map((v) => fmt(spread(s[v]), 2)).join('/'),
    ]);
    result.targets.push(target(BENCHMARK, `${label} runner/execa median`, vsExeca, RATIO_LIMIT, 'x'));
  }
  log(table(rows));
  log('   (spread = (p90 - p10) / median of each variant: above ~0.3 the machine was noisy)');
  log(`   load average after: ${loadAverage()}`);
  return result;
}

function roundsFromArgv(): number | undefined {
  const index = process.argv.indexOf('--rounds');
  return index > 0 ? Number(process.argv[index + 1]) : undefined;
}

runIfMain(import.meta.url, () => runProtocolOverhead({ rounds: roundsFromArgv() }));
