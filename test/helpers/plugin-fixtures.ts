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

/** Polls `check` every 20 ms until it holds or `withinMs` passes; returns its last answer. */
export async function eventually(check: () => boolean, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    if (check()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Reads a pid a fixture wrote to a file, waiting briefly for it to appear. */
export async function readPid(file: string): Promise<number> {
  await eventually(() => fs.existsSync(file) && fs.readFileSync(file, 'utf8').trim() !== '', 2000);
  const pid = Number(fs.readFileSync(file, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`no pid in ${file}`);
  return pid;
}

/**
 * Resolves once `file` exists (a fixture writes it when it reaches a point): woken by the
 * directory's change events, with a rare re-check in case an event was coalesced away.
 * Rejects after `withinMs`, a guard against a hang, not a speed claim.
 */
export function waitForFile(file: string, withinMs = 30_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const dir = path.dirname(file);
    let settled = false;
    const finish = (error?: Error): void => {
      if (settled) return;
      settled = true;
      watcher.close();
      clearInterval(recheck);
      clearTimeout(guard);
      if (error) reject(error);
      else resolve();
    };
    const check = (): void => {
      if (fs.existsSync(file)) finish();
    };
    const watcher = fs.watch(dir, check);
    const recheck = setInterval(check, 250);
    const guard = setTimeout(
      () => finish(new Error(`${file} did not appear within ${withinMs} ms`)),
      withinMs,
    );
    check();
  });
}
