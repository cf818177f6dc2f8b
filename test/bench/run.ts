/**
 * `npm run bench`: runs the benchmarks one after the other (dist/ is rebuilt first by the
 * prebench script: the CLI and server benchmarks run the compiled launcher), prints a summary
 * with PASS/FAIL per target, and writes every number to test/bench/results/latest.json.
 *
 * Speed is reported, never asserted: the exit code is 0 whatever the verdicts, and 1 only
 * when a benchmark crashed (a wrong answer from a plugin, a server that did not start...).
 *
 *   npm run bench                          all of them
 *   npm run bench -- protocol ws           some (by name prefix: protocol, cli, ws, flood, kill, api, global, plugin, engine, server, ui)
 *   npm run bench -- --quick               fewer repetitions (a smoke run; numbers are rough)
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runApiTiming } from './api-timing.ts';
import { runCliOverhead } from './cli-overhead.ts';
import { runEncryptionCost } from './encryption-cost.ts';
import { runEngineEchoChain } from './engine-echo-chain.ts';
import { runEngineForeach } from './engine-foreach.ts';
import { runEngineOverhead } from './engine-overhead.ts';
import { runFlood } from './flood.ts';
import { runGlobalInstall } from './global-install.ts';
import { runKillTiming } from './kill-timing.ts';
import { runPluginCheck } from './plugin-check.ts';
import {
  BENCH_DIR,
  cleanupAll,
  cpuTimes,
  fmt,
  installSignalHandlers,
  interrupted,
  loadAverage,
  log,
  PROJECT_DIR,
  stolenShare,
  table,
  type BenchResult,
  type TargetCheck,
} from './lib.ts';
import { runProtocolOverhead } from './protocol-overhead.ts';
import { runServerApiLoad } from './server-api-load.ts';
import { runServerStream } from './server-stream.ts';
import { runServerTaskCount } from './server-task-count.ts';
import { runServerThroughput } from './server-throughput.ts';
import { runUiFirstLoad } from './ui-first-load.ts';
import { runUiTaskGraph } from './ui-task-graph.ts';
import { runWsLatency } from './ws-latency.ts';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const selected = args.filter((arg) => !arg.startsWith('--'));

const BENCHMARKS: { name: string; run: () => Promise<BenchResult> }[] = [
  {
    name: 'protocol-overhead',
    run: () => runProtocolOverhead(quick ? { rounds: 60, warmup: 10 } : {}),
  },
  { name: 'cli-overhead', run: () => runCliOverhead(quick ? { reps: 6, warmup: 1 } : {}) },
  { name: 'ws-latency', run: () => runWsLatency(quick ? { lines: 100, repeats: 1 } : {}) },
  { name: 'flood', run: () => runFlood(quick ? { seconds: 3 } : {}) },
  { name: 'kill-timing', run: () => runKillTiming(quick ? { rounds: 3, warmup: 1 } : {}) },
  { name: 'api-timing', run: () => runApiTiming(quick ? { rounds: 5, warmup: 1, floods: 1 } : {}) },
  { name: 'global-install', run: () => runGlobalInstall(quick ? { reps: 6, warmup: 1 } : {}) },
  { name: 'plugin-check', run: () => runPluginCheck(quick ? { reps: 6, warmup: 1 } : {}) },
  { name: 'engine-overhead', run: () => runEngineOverhead(quick ? { rounds: 1, steps: 50 } : {}) },
  { name: 'engine-echo-chain', run: () => runEngineEchoChain(quick ? { rounds: 1, steps: 200 } : {}) },
  { name: 'engine-foreach', run: () => runEngineForeach(quick ? { rounds: 1 } : {}) },
  {
    name: 'server-throughput',
    run: () =>
      runServerThroughput(quick ? { rounds: 1, tasks: 150, jobs: 1000, warmupPerInstance: 150 } : {}),
  },
  {
    name: 'server-api-load',
    run: () => runServerApiLoad(quick ? { rounds: 1, seconds: 3, burstSeconds: 2 } : {}),
  },
  {
    name: 'server-task-count',
    run: () => runServerTaskCount(quick ? { rounds: 1, large: 10_000, requests: 10, tasks: 2 } : {}),
  },
  { name: 'server-stream', run: () => runServerStream(quick ? { rounds: 1, lines: 100 } : {}) },
  { name: 'ui-first-load', run: () => runUiFirstLoad(quick ? { rounds: 3 } : {}) },
  { name: 'ui-task-graph', run: () => runUiTaskGraph(quick ? { rounds: 2 } : {}) },
  {
    name: 'encryption-cost',
    run: () =>
      runEncryptionCost(quick ? { rounds: 1, tasks: 100, posts: 200, lines: 10_000, rotations: 1 } : {}),
  },
];

function gitCommit(): string | null {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: PROJECT_DIR, encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
}

installSignalHandlers();
const chosen = BENCHMARKS.filter(
  (b) => selected.length === 0 || selected.some((prefix) => b.name.startsWith(prefix)),
);
if (chosen.length === 0) {
  log(`no benchmark matches ${selected.join(' ')}; known: ${BENCHMARKS.map((b) => b.name).join(', ')}`);
  process.exit(2);
}

const startedAt = new Date();
const loadBefore = loadAverage();
const results: BenchResult[] = [];
const crashes: { benchmark: string; error: string }[] = [];
const stolen: Record<string, number | null> = {};
for (const benchmark of chosen) {
  const t0 = performance.now();
  const cpu0 = cpuTimes();
  try {
    results.push(await benchmark.run());
  } catch (error) {
    if (interrupted) break;
    const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
    log(`!! ${benchmark.name} crashed: ${message}`);
    crashes.push({ benchmark: benchmark.name, error: message });
  } finally {
    await cleanupAll();
  }
  const share = stolenShare(cpu0, cpuTimes());
  stolen[benchmark.name] = share;
  const steal = share === null ? '' : `; CPU time stolen by the host meanwhile: ${fmt(share * 100, 1)}%`;
  log(`   (${benchmark.name} took ${fmt((performance.now() - t0) / 1000, 1)} s${steal})\n`);
}

const targets: TargetCheck[] = results.flatMap((r) => r.targets);
log('== summary');
log(
  table([
    ['benchmark', 'target', 'measured', 'limit', 'verdict'],
    ...targets.map((t) => [
      t.benchmark,
      t.name,
      `${fmt(t.value)} ${t.unit}`,
      `<= ${fmt(t.limit)} ${t.unit}`,
      t.pass ? 'PASS' : 'FAIL',
    ]),
    ...crashes.map((c) => [c.benchmark, '(crashed)', '', '', 'CRASH']),
  ]),
);
for (const r of results) for (const note of r.notes) log(`note (${r.benchmark}): ${note}`);
log(
  `load average: ${loadBefore} before, ${loadAverage()} after, on ${os.cpus().length} CPUs${quick ? ' (--quick run)' : ''}`,
);

const output = path.join(BENCH_DIR, 'results', 'latest.json');
fs.mkdirSync(path.dirname(output), { recursive: true });
fs.writeFileSync(
  output,
  `${JSON.stringify(
    {
      started_at: startedAt.toISOString(),
      finished_at: new Date().toISOString(),
      quick,
      commit: gitCommit(),
      node: process.version,
      platform: `${os.platform()} ${os.release()} ${os.arch()}`,
      cpus: os.cpus().length,
      cpu_model: os.cpus()[0]?.model ?? null,
      load_average: { before: loadBefore, after: loadAverage() },
      cpu_stolen_share: stolen,
      results,
      targets,
      passed: targets.filter((t) => t.pass).length,
      failed: targets.filter((t) => !t.pass).length,
      crashes,
    },
    (_key, value: unknown) => (typeof value === 'number' && !Number.isFinite(value) ? null : value),
    2,
  )}\n`,
);
log(`results: ${path.relative(process.cwd(), output)}`);
process.exitCode = crashes.length > 0 ? 1 : 0;
