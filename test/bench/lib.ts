/**
 * Shared machinery of the benchmarks: statistics, process timing, a throwaway PostgreSQL
 * cluster (from the embedded binaries), a `taskhost serve` child process, cleanup on Ctrl-C,
 * and the result records run.ts summarises. Nothing here asserts a speed: the benchmarks
 * report numbers and PASS/FAIL against their targets, and only a crash fails them.
 */
import { isAlive, readPostmasterPid } from '../../src/store/processes.ts';
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { EmbeddedCluster } from '../../src/store/embedded.ts';

export const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
export const FIXTURES_DIR = path.join(BENCH_DIR, 'fixtures');
export const PROJECT_DIR = path.resolve(BENCH_DIR, '..', '..');
export const TASKHOST_BIN = path.join(PROJECT_DIR, 'bin', 'taskhost');

export function fixture(name: string): string {
  return path.join(FIXTURES_DIR, name);
}

// ---------------------------------------------------------------------------------------
// Results

export interface TargetCheck {
  benchmark: string;
  /** What is measured, e.g. "bash runner/execa". */
  name: string;
  value: number;
  /** The value must be <= limit. */
  limit: number;
  unit: string;
  pass: boolean;
}

export interface BenchResult {
  benchmark: string;
  /** Flat numbers, as written to latest.json (ms unless the name says otherwise). */
  metrics: Record<string, number | string | boolean>;
  targets: TargetCheck[];
  /** Observations worth reading next to the numbers (noise, verification failures). */
  notes: string[];
}

export function target(
  benchmark: string,
  name: string,
  value: number,
  limit: number,
  unit: string,
): TargetCheck {
  return { benchmark, name, value, limit, unit, pass: Number.isFinite(value) && value <= limit };
}

// ---------------------------------------------------------------------------------------
// Statistics

export function sorted(values: readonly number[]): number[] {
  return [...values].sort((a, b) => a - b);
}

/** The p-th percentile (0..100), linear between closest ranks; NaN for no values. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const s = sorted(values);
  const rank = (p / 100) * (s.length - 1);
  const low = Math.floor(rank);
  const high = Math.ceil(rank);
  const a = s[low] as number;
  const b = s[high] as number;
  return a + (b - a) * (rank - low);
}

export const median = (values: readonly number[]): number => percentile(values, 50);

export interface Summary {
  n: number;
  median: number;
  p10: number;
  p90: number;
  p99: number;
  min: number;
  max: number;
}

export function summarize(values: readonly number[]): Summary {
  return {
    n: values.length,
    median: percentile(values, 50),
    p10: percentile(values, 10),
    p90: percentile(values, 90),
    p99: percentile(values, 99),
    min: values.length ? Math.min(...values) : Number.NaN,
    max: values.length ? Math.max(...values) : Number.NaN,
  };
}

/** Spread of a sample as (p90 - p10) / median: how noisy a median is. */
export function spread(s: Summary): number {
  return (s.p90 - s.p10) / s.median;
}

export function fmt(value: number, digits = 2): string {
  if (!Number.isFinite(value)) return String(value);
  return value.toFixed(digits);
}

/** A plain text table, first row the header. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  const line = (row: readonly string[]): string =>
    row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join('  ');
  const [head, ...body] = rows;
  if (!head) return '';
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(head), rule, ...body.map(line)].join('\n');
}

export function log(message: string): void {
  process.stdout.write(`${message}\n`);
}

export function printTargets(targets: readonly TargetCheck[]): void {
  if (targets.length === 0) return;
  log(
    table([
      ['target', 'measured', 'limit', 'verdict'],
      ...targets.map((t) => [
        `${t.benchmark}: ${t.name}`,
        `${fmt(t.value)} ${t.unit}`,
        `<= ${fmt(t.limit)} ${t.unit}`,
        t.pass ? 'PASS' : 'FAIL',
      ]),
    ]),
  );
}

/** Machine load, to judge how noisy the numbers are. */
export function loadAverage(): string {
  return os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

/** The machine's CPU time so far (all CPUs, in clock ticks), and the part the host stole. */
export interface CpuTimes {
  total: number;
  steal: number;
}

/** CpuTimes from /proc/stat (Linux), else null. */
export function cpuTimes(): CpuTimes | null {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    // cpu user nice system idle iowait irq softirq steal guest guest_nice
    const fields = line.trim().split(/\s+/).slice(1, 9).map(Number);
    if (fields.length < 8 || fields.some((n) => !Number.isFinite(n))) return null;
    return { total: fields.reduce((sum, n) => sum + n, 0), steal: fields[7] as number };
  } catch {
    return null;
  }
}

/**
 * The share of the machine's CPU time the hypervisor gave to other guests between two
 * readings (0..1), or null when unknown. On a shared virtual machine this is what makes the
 * same run fast one hour and slow the next: absolute times are to be read with it.
 */
export function stolenShare(before: CpuTimes | null, after: CpuTimes | null): number | null {
  if (!before || !after || after.total <= before.total) return null;
  return (after.steal - before.steal) / (after.total - before.total);
}

// ---------------------------------------------------------------------------------------
// Cleanup: every process and cluster a benchmark starts is registered here, so that Ctrl-C
// (or a crash) still stops them.

const cleanups = new Set<() => Promise<void>>();

export function onCleanup(fn: () => Promise<void>): () => void {
  cleanups.add(fn);
  return () => cleanups.delete(fn);
}

export async function cleanupAll(): Promise<void> {
  const all = [...cleanups].reverse();
  cleanups.clear();
  for (const fn of all) await fn().catch((error: unknown) => log(`cleanup failed: ${String(error)}`));
}

let signalsInstalled = false;
/** Set once Ctrl-C (or SIGTERM) started the cleanup: later failures are its consequence. */
export let interrupted = false;

/** On Ctrl-C or SIGTERM: stop everything registered with onCleanup, then exit 130. */
export function installSignalHandlers(): void {
  if (signalsInstalled) return;
  signalsInstalled = true;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      interrupted = true;
      log(`\n${signal}: stopping what the benchmarks started...`);
      void cleanupAll().finally(() => process.exit(130));
    });
  }
}

/** Runs a benchmark file's `main` when that file is the entry point. */
export function runIfMain(moduleUrl: string, main: () => Promise<BenchResult>): void {
  const entry = process.argv[1];
  if (!entry || pathToFileURL(path.resolve(entry)).href !== moduleUrl) return;
  installSignalHandlers();
  main()
    .then((result) => {
      log('');
      printTargets(result.targets);
      for (const note of result.notes) log(`note: ${note}`);
    })
    .catch((error: unknown) => {
      if (interrupted) return;
      log(`benchmark crashed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      process.exitCode = 1;
    })
    .finally(() => cleanupAll());
}

// ---------------------------------------------------------------------------------------
// Temporary directories

/**
 * A temporary directory, world-traversable (the embedded postmaster runs as `postgres` under
 * root), removed by the final cleanup (after what was started later, so a cluster stops first).
 */
export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `taskhost-bench-${prefix}-`));
  fs.chmodSync(dir, 0o755);
  onCleanup(async () => removeDir(dir));
  return dir;
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------
// Processes

/** The environment children get: the basics, nothing of ours (no DATABASE_URL, no TASKHOST_*). */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: process.env.HOME ?? '/',
    LANG: process.env.LANG ?? 'C.UTF-8',
    NO_COLOR: '1',
  };
  if (process.env.USER) env.USER = process.env.USER;
  return { ...env, ...extra };
}

/**
 * The variables a process needs to reach the network from this machine (proxies, extra CA
 * certificates), for the benchmarks' npm calls; the timed processes never get them.
 */
export function networkEnv(): Record<string, string> {
  const names = ['NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE', 'SSL_CERT_DIR'];
  const proxies = /^(https?_proxy|no_proxy|npm_config_(registry|cafile|proxy|https_proxy|strict_ssl))$/i;
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && (names.includes(name) || proxies.test(name))) env[name] = value;
  }
  return env;
}

export interface Timed {
  ms: number;
  /** When the first stdout byte arrived (ms after spawn), NaN if none. */
  firstStdoutMs: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Spawns a process (no shell), writes `input` to its stdin pipe (or closes it), and resolves
 * when it has exited and its pipes are closed, with its wall time from just before spawn.
 */
export function timeProcess(
  file: string,
  args: readonly string[],
  options: SpawnOptions & { input?: string } = {},
): Promise<Timed> {
  const { input, ...spawnOptions } = options;
  return new Promise<Timed>((resolve, reject) => {
    const started = performance.now();
    const child = spawn(file, args, { ...spawnOptions, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let firstStdoutMs = Number.NaN;
    child.stdout?.on('data', (chunk: Buffer) => {
      if (out.length === 0) firstStdoutMs = performance.now() - started;
      out.push(chunk);
    });
    child.stderr?.on('data', (chunk: Buffer) => err.push(chunk));
    child.stdin?.on('error', () => undefined); // a child that exits without reading
    child.once('error', reject);
    child.once('close', (code, signal) => {
      resolve({
        ms: performance.now() - started,
        firstStdoutMs,
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
    child.stdin?.end(input ?? '');
  });
}

let pythonChecked = false;

/**
 * `#!/usr/bin/env python3` finds the first python3 on PATH; where that is a version
 * manager's shim (pyenv's is a bash script that runs `pyenv exec`, ~100-300 ms), every
 * python plugin would mostly measure the shim. This puts the interpreter's own directory
 * first on PATH (of this process, hence of the plugins and the taskhost processes we start)
 * and says so. Returns a note, or null when nothing was changed.
 */
export function preferRealPython(): string | null {
  if (pythonChecked) return null;
  pythonChecked = true;
  let executable: string;
  try {
    executable = execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], {
      encoding: 'utf8',
    }).trim();
  } catch {
    return 'python3 not found: the python benchmarks will fail';
  }
  const dirs = (process.env.PATH ?? '').split(':');
  const first = dirs.find((dir) => dir !== '' && fs.existsSync(path.join(dir, 'python3')));
  const own = path.dirname(executable);
  if (!first || first === own) return null;
  process.env.PATH = [own, ...dirs].join(':');
  return `python3 on PATH was ${path.join(first, 'python3')} (a shim?); put ${own} first on PATH so plugins run ${executable} directly`;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function waitGone(pid: number, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}

/**
 * Last resort for a cluster a benchmark caused to start (through a CLI or server it ran):
 * if its postmaster still runs, a fast shutdown (SIGINT), then SIGKILL.
 */
export async function stopLeftoverPostmaster(dataDir: string): Promise<boolean> {
  const pid = readPostmasterPid(dataDir);
  if (pid === null || !isAlive(pid)) return false;
  try {
    if (!fs.readFileSync(`/proc/${pid}/comm`, 'utf8').startsWith('postgres')) return false;
  } catch {
    return false;
  }
  process.kill(pid, 'SIGINT');
  if (!(await waitGone(pid, 30_000))) process.kill(pid, 'SIGKILL');
  return true;
}

// ---------------------------------------------------------------------------------------
// A PostgreSQL of our own ("external" to the taskhost processes under test)

export interface BenchCluster {
  root: string;
  dataDir: string;
  socketDir: string;
  /** A DATABASE_URL for its `postgres` database. */
  url: string;
  connection: { host: string; port: number; user: string; database: string };
  stop(): Promise<void>;
}

/**
 * Starts a throwaway cluster from the embedded binaries (initdb in a temp directory), held by
 * this process until `stop()`, which stops it and removes its directory.
 */
export async function startCluster(): Promise<BenchCluster> {
  const root = tempDir('pg');
  let cluster: EmbeddedCluster;
  try {
    cluster = await EmbeddedCluster.acquire(root);
  } catch (error) {
    removeDir(root);
    throw error;
  }
  const { host, port } = cluster.connection as { host: string; port: number };
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    unregister();
    try {
      await cluster.release();
    } finally {
      await stopLeftoverPostmaster(cluster.paths.dataDir);
      removeDir(root);
      if (cluster.paths.socketDir !== path.join(root, 'run')) removeDir(cluster.paths.socketDir);
    }
  };
  const unregister = onCleanup(stop);
  return {
    root,
    dataDir: cluster.paths.dataDir,
    socketDir: host,
    url: `postgresql://postgres@localhost/postgres?host=${encodeURIComponent(host)}`,
    connection: { host, port, user: 'postgres', database: 'postgres' },
    stop,
  };
}

// ---------------------------------------------------------------------------------------
// `taskhost serve` in a child process

export interface ServerProcess {
  pid: number;
  port: number;
  url: string;
  child: ChildProcess;
  stderr(): string;
  stop(): Promise<void>;
}

export interface ServerOptions {
  /** Executables registered as plugins at start (default: the bench fixtures). */
  tasksDir?: string;
  /** An external PostgreSQL; without it, an embedded cluster in `dataDir`. */
  databaseUrl?: string;
  dataDir?: string;
  outputCapBytes?: number;
  cwd?: string;
  /** The templates tasks are created from (`--templates`; default: the project's templates/). */
  templatesDir?: string;
  /** A settings file (`--config`), for the settings that have no flag. */
  configFile?: string;
  /**
   * Runs this entry point with these node options instead of the compiled launcher (the
   * encryption benchmark runs the sources through tsx, with and without a module hook).
   */
  entry?: { nodeArgs: readonly string[]; script: string };
}

/**
 * Starts `node bin/taskhost serve --port 0 ...` and waits for its "listening on" line. The
 * server runs the compiled dist/ (built by `npm run bench`'s prebench).
 */
export async function startServer(options: ServerOptions = {}): Promise<ServerProcess> {
  const args = [
    ...(options.entry ? [...options.entry.nodeArgs, options.entry.script] : [TASKHOST_BIN]),
    'serve',
    '--port',
    '0',
    '--host',
    '127.0.0.1',
    '--tasks',
    options.tasksDir ?? FIXTURES_DIR,
  ];
  if (options.dataDir) args.push('--data-dir', options.dataDir);
  if (options.outputCapBytes !== undefined) args.push('--output-cap', String(options.outputCapBytes));
  if (options.templatesDir) args.push('--templates', options.templatesDir);
  if (options.configFile) args.push('--config', options.configFile);
  const env = cleanEnv(options.databaseUrl ? { DATABASE_URL: options.databaseUrl } : {});
  const child = spawn(process.execPath, args, {
    cwd: options.cwd ?? PROJECT_DIR,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let exited: string | null = null;
  child.stdout?.resume();
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
    if (stderr.length > 100_000) stderr = stderr.slice(-50_000);
  });
  child.once('exit', (code, signal) => (exited = signal ?? `exit code ${code}`));

  const stop = async (): Promise<void> => {
    unregister();
    if (exited === null && child.pid !== undefined) {
      child.kill('SIGTERM');
      const deadline = Date.now() + 30_000;
      while (exited === null && Date.now() < deadline) await sleep(20);
      if (exited === null) {
        child.kill('SIGKILL');
        while (exited === null) await sleep(20);
      }
    }
    if (options.dataDir && !options.databaseUrl) {
      if (
        await stopLeftoverPostmaster(
          path.join(path.resolve(options.cwd ?? PROJECT_DIR, options.dataDir), 'pg'),
        )
      ) {
        log('note: the server left its embedded PostgreSQL running; stopped it');
      }
    }
  };
  const unregister = onCleanup(stop);

  const deadline = Date.now() + 120_000;
  for (;;) {
    const match = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stderr);
    if (match && child.pid !== undefined) {
      const port = Number(match[1]);
      return { pid: child.pid, port, url: `http://127.0.0.1:${port}`, child, stderr: () => stderr, stop };
    }
    if (exited !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`taskhost serve did not start (${exited ?? 'timeout'}): ${stderr.trim().slice(-2000)}`);
    }
    await sleep(20);
  }
}

/** fetch + JSON, throwing on an unexpected status. */
export async function api<T>(
  base: string,
  method: string,
  route: string,
  body?: unknown,
  expect = [200],
): Promise<T> {
  const init: RequestInit = { method };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { 'content-type': 'application/json' };
  }
  const response = await fetch(`${base}${route}`, init);
  const text = await response.text();
  if (!expect.includes(response.status)) {
    throw new Error(`${method} ${route}: HTTP ${response.status} ${text}`);
  }
  return (text === '' ? undefined : JSON.parse(text)) as T;
}

/** Reads a field of /proc/PID/status in kB (VmRSS, VmHWM), or NaN. */
export function procStatusKb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(
      fs.readFileSync(`/proc/${pid}/status`, 'utf8'),
    );
    return match ? Number(match[1]) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** User + system CPU time a process has used so far (ms), from /proc/PID/stat; NaN if gone. */
export function cpuMs(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the state.
    const ticks = Number(fields[11]) + Number(fields[12]);
    return (ticks * 1000) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}

const CLOCK_TICKS = ((): number => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** The wall clock in milliseconds since the epoch, with sub-millisecond resolution. */
export function wallClockMs(): number {
  return performance.timeOrigin + performance.now();
}

/** [0, 1, ..., n-1] rotated by `by`: the order of the variants in round `by` (a Latin square). */
export function rotation(n: number, by: number): number[] {
  return Array.from({ length: n }, (_, i) => (i + by) % n);
}
