import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';

/** test/fixtures/plugins/: tiny real executables, one per protocol rule. */
export const PLUGIN_FIXTURES_DIR = fileURLToPath(new URL('../fixtures/plugins/', import.meta.url));

/** The absolute path of a plugin fixture. */
export function fixturePath(name: string): string {
  return path.join(PLUGIN_FIXTURES_DIR, name);
}

/** A fresh private directory for one test, removed when the test ends. */
export function tempDir(t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'taskhost-test-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export { isAlive } from '../../src/store/processes.ts';

/**
 * Polls `check` every 20 ms until it holds or `withinMs` passes; returns its last answer. Only
 * for a condition that has no event to wait for (the death of a process that is not our
 * child); `withinMs` is a hang guard, never a speed claim.
 */
export async function eventually(check: () => boolean, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    if (check()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export interface WaitOptions {
  /** A hang guard, not a speed claim: rejects when nothing happened for this long. */
  withinMs?: number;
  /** Gives up (rejecting) when aborted: a process that will never write the file has ended. */
  signal?: AbortSignal;
}

/**
 * Resolves with what `check` returns once it returns something other than undefined, checking
 * again at every change inside `dir` (fs.watch, inotify): woken by the writes of the fixtures
 * themselves, not by a sleep. `describe` says what was seen, for the error of a hang.
 */
export function waitInDir<T>(
  dir: string,
  check: () => T | undefined,
  options: WaitOptions & { describe?: () => string } = {},
): Promise<T> {
  const { withinMs = 30_000, signal, describe = () => '' } = options;
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const stop = (): void => {
      settled = true;
      watcher.close();
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    const attempt = (): void => {
      if (settled) return;
      const value = check();
      if (value === undefined) return;
      stop();
      resolve(value);
    };
    const fail = (why: string): void => {
      if (settled) return;
      stop();
      reject(new Error(`waiting in ${dir}: ${why}; ${describe()}`));
    };
    const onAbort = (): void => fail(`given up (${String(signal?.reason)})`);
    const watcher = fs.watch(dir, attempt);
    const timer = setTimeout(() => fail(`still waiting after ${withinMs} ms`), withinMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    // After the watcher is in place: a write between the two cannot be missed.
    attempt();
    if (signal?.aborted) onAbort();
  });
}

function readOrNull(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/** Resolves with the content of `file` once it exists and satisfies `ready` (see waitInDir). */
export function waitForFile(
  file: string,
  options: WaitOptions & { ready?: (content: string) => boolean } = {},
): Promise<string> {
  const { ready = () => true, ...rest } = options;
  return waitInDir(
    path.dirname(file),
    () => {
      const content = readOrNull(file);
      return content !== null && ready(content) ? content : undefined;
    },
    { ...rest, describe: () => `${file} holds ${JSON.stringify(readOrNull(file)?.slice(-2000) ?? null)}` },
  );
}

/**
 * The live processes that `parent` started from the fixture file `location` (its command line
 * names the file), zombies excluded: how many plugins run at this instant. Linux /proc.
 */
export function pluginProcesses(parent: number, location: string): number[] {
  return fs.readdirSync('/proc').flatMap((entry) => {
    if (!/^\d+$/.test(entry)) return [];
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      // After "pid (comm) ": the state, then the parent pid.
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(ppid) !== parent || state === 'Z') return [];
      const argv = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      return argv.includes(location) ? [Number(entry)] : [];
    } catch {
      return []; // gone meanwhile
    }
  });
}

/** Reads a pid a fixture writes to a file, waiting for the write. */
export async function readPid(file: string): Promise<number> {
  const text = await waitForFile(file, { ready: (content) => /^\d+\n/.test(content) });
  const pid = Number(text.trim());
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`no pid in ${file}`);
  return pid;
}

/**
 * A PATH like `base` without `programs` (to run a plugin on a machine that lacks jq, say): the
 * directory `dir` (empty, the caller's to remove) filled with links to every other file on
 * `base`, the first of each name as a shell would find it. Returns `dir`.
 */
export function pathWithout(dir: string, programs: readonly string[], base = process.env.PATH ?? ''): string {
  const seen = new Set(programs);
  for (const entry of base.split(path.delimiter)) {
    if (entry === '') continue;
    let names: string[];
    try {
      names = fs.readdirSync(entry);
    } catch {
      continue; // a PATH entry that does not exist
    }
    for (const name of names) {
      if (seen.has(name)) continue;
      seen.add(name);
      fs.symlinkSync(path.join(entry, name), path.join(dir, name));
    }
  }
  return dir;
}

/**
 * This process's PATH with the directory of the python3 interpreter itself first: where the
 * first python3 on PATH is a version manager's shim (pyenv's is a bash script that runs
 * `pyenv exec`, some 0.5 s a start), tests that start python many times run the interpreter
 * instead. Unchanged when python3 is not found.
 */
export function pythonFirstPath(): string {
  const base = process.env.PATH ?? '';
  try {
    const executable = execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], {
      encoding: 'utf8',
    }).trim();
    return [path.dirname(executable), base].join(path.delimiter);
  } catch {
    return base;
  }
}
