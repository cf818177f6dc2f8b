import fs from 'node:fs';

/**
 * What the crash and take-over tests share: the pids a mark-and-hang plugin left as
 * `started-PID` files, a process's parent, and a bounded poll (a hang guard, not a speed claim).
 */

/** The pids of the plugins that started, from their `started-PID` marks in `dir`. */
export function startedPids(dir: string): number[] {
  return fs
    .readdirSync(dir)
    .filter((name) => /^started-\d+$/.test(name))
    .map((name) => Number(name.slice('started-'.length)));
}

/** The parent pid of a process (Linux /proc). */
export function parentOf(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

/** Reads until it gives a value, or `withinMs` passed (then the last reading, undefined). */
export async function until<T>(
  read: () => Promise<T | undefined> | T | undefined,
  withinMs: number,
): Promise<T | undefined> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const value = await read();
    if (value !== undefined || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
