import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import { tempDir } from './plugin-fixtures.ts';

/** The real launcher, as a user runs it (it loads the compiled dist/, built by `npm test`). */
export const TASKHOST_BIN = fileURLToPath(new URL('../../bin/taskhost', import.meta.url));

export interface CliResult {
  exitCode: number | undefined;
  signal: string | undefined;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface CliOptions {
  cwd?: string;
  /** The whole environment of the child (nothing is inherited beyond it). */
  env: NodeJS.ProcessEnv;
  /** Written to stdin, which is then closed; without it stdin is empty. */
  input?: string;
  timeoutMs?: number;
}

/**
 * The environment a spawned `taskhost` gets: this process's, minus every store setting and
 * TASKHOST_* flag (so nothing leaks in from the test runner), plus the suite's key ring
 * (TASKHOST_KEYS_FILE, made by test/run.ts; `TASKHOST_KEYS_FILE: ''` in `extra` for the
 * project's own), plus `extra`.
 */
export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key === 'DATABASE_URL' || key.startsWith('TASKHOST_') || key.startsWith('NODE_TEST')) continue;
    env[key] = value;
  }
  const keys = process.env.TASKHOST_TEST_KEYS_FILE;
  return { ...env, NO_COLOR: '1', ...(keys ? { TASKHOST_KEYS_FILE: keys } : {}), ...extra };
}

/** Starts `taskhost ARGS...` without waiting for it (for `serve` and other long runs). */
export function startTaskhost(args: readonly string[], options: CliOptions): ResultPromise {
  return execa(process.execPath, [TASKHOST_BIN, ...args], {
    cwd: options.cwd,
    env: options.env,
    extendEnv: false,
    reject: false,
    stripFinalNewline: false,
    ...(options.input === undefined ? { stdin: 'ignore' as const } : { input: options.input }),
    timeout: options.timeoutMs ?? 60_000,
    forceKillAfterDelay: 2_000,
  });
}

/** Runs `taskhost ARGS...` to its end. */
export function taskhost(args: readonly string[], options: CliOptions): Promise<CliResult> {
  return cliResult(startTaskhost(args, options));
}

/** How a `taskhost` started by startTaskhost ended. */
export async function cliResult(running: ResultPromise): Promise<CliResult> {
  const result = await running;
  return {
    exitCode: result.exitCode,
    signal: result.signal,
    stdout: String(result.stdout),
    stderr: String(result.stderr),
    timedOut: result.timedOut,
  };
}

function describe(result: CliResult): string {
  return `exit ${result.exitCode} signal ${result.signal}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`;
}

/** Asserts the exit code, showing the whole output when it differs. */
export function assertExit(result: CliResult, code: number): void {
  assert.equal(result.timedOut, false, `taskhost timed out\n${describe(result)}`);
  assert.equal(result.exitCode, code, describe(result));
}

/**
 * Asserts a clean failure: exit `code`, and stderr is ONE line `taskhost: ...` without a
 * stack trace. Returns that line.
 */
export function assertOneLineError(result: CliResult, code: number): string {
  assertExit(result, code);
  const lines = result.stderr.split('\n').filter((line) => line.trim() !== '');
  assert.equal(lines.length, 1, `expected one stderr line\n${describe(result)}`);
  const line = lines[0] as string;
  assert.match(line, /^taskhost: \S/, describe(result));
  assert.ok(!result.stderr.includes('    at '), `stack trace on stderr\n${describe(result)}`);
  return line;
}

/** The parsed stdout of a command that prints JSON (`list --json`, `execute`). */
export function stdoutJson<T = unknown>(result: CliResult): T {
  try {
    return JSON.parse(result.stdout) as T;
  } catch (error) {
    assert.fail(`stdout is not JSON (${(error as Error).message})\n${describe(result)}`);
  }
}

/** One entry of `taskhost list --json`. */
export interface ListedPlugin {
  name: string;
  location: string;
  source: string;
  description: { name?: string; description?: string; [key: string]: unknown };
  registered_at: string;
  updated_at: string;
}

export interface ServeProcess {
  child: ResultPromise;
  url: string;
  port: number;
  stderr: () => string;
}

/**
 * `taskhost serve` on `databaseUrl` in a fresh directory of the test whose templates/ holds
 * `templates` (file name → YAML); stopped (SIGTERM, awaited) after the test.
 */
export async function serveTemplates(
  t: TestContext,
  databaseUrl: string,
  templates: Record<string, string>,
): Promise<ServeProcess & { cwd: string }> {
  const cwd = tempDir(t);
  fs.mkdirSync(path.join(cwd, 'templates'));
  for (const [file, yaml] of Object.entries(templates)) {
    fs.writeFileSync(path.join(cwd, 'templates', file), yaml);
  }
  const server = await startServe([], { cwd, env: cliEnv({ DATABASE_URL: databaseUrl }) });
  t.after(async () => {
    server.child.kill('SIGTERM');
    await server.child;
  });
  return { ...server, cwd };
}

/**
 * Starts `taskhost serve --port 0 ARGS...` and resolves once it listens (its stderr names the
 * port). Rejects if it exits first, or after `withinMs` (a hang guard).
 */
export async function startServe(
  args: readonly string[],
  options: CliOptions & { withinMs?: number },
): Promise<ServeProcess> {
  const child = startTaskhost(['serve', '--port', '0', ...args], { timeoutMs: 300_000, ...options });
  let text = '';
  child.stderr?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`serve did not listen within ${options.withinMs ?? 60_000} ms: ${text}`));
    }, options.withinMs ?? 60_000);
    const check = (): void => {
      const match = /taskhost listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(text);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    };
    child.stderr?.on('data', check);
    void child.then((result) => {
      clearTimeout(timer);
      reject(new Error(`serve exited (${result.exitCode ?? result.signal}) before listening: ${text}`));
    });
  });
  return { child, url: `http://127.0.0.1:${port}`, port, stderr: () => text };
}
