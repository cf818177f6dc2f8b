import fs from 'node:fs';
import os from 'node:os';

/**
 * Processes and process groups, as the supervisor of plugins sees them. A pid alone does not
 * name a process for long: once it exits its pid can be given to another. A process is
 * named here by its pid plus its start time (`/proc/PID/stat` field 22, clock ticks since
 * boot) and the boot it belongs to, so a reused pid is never taken for the process that
 * had it before. Off Linux there is no /proc: start times are unknown (null) and only the
 * pid is checked, which errs on the side of sparing a process.
 */

/**
 * True while `pid` runs. A zombie (exited, not yet reaped, as under a container's PID 1
 * that never reaps orphans) counts as gone.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const stat = readStat(pid);
  if (stat === null) return os.platform() !== 'linux';
  return stat.state !== 'Z' && stat.state !== 'X';
}

interface ProcStat {
  state: string;
  pgrp: number;
  startTicks: string;
}

/** The fields of /proc/PID/stat that matter here; null when there is no such process (or no /proc). */
function readStat(pid: number | 'self'): ProcStat | null {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may hold spaces: fields count from after it.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: rest[0] ?? '', pgrp: Number(rest[2]), startTicks: rest[19] ?? '' };
}

let cachedBootId: string | null | undefined;

/** This boot's id (Linux), so that start times of another boot never match. */
export function bootId(): string | null {
  if (cachedBootId === undefined) {
    try {
      cachedBootId = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      cachedBootId = null;
    }
  }
  return cachedBootId;
}

/** `BOOT:TICKS`, which names one process for as long as the machine runs; null off Linux. */
export function processStartOf(pid: number | 'self'): string | null {
  const stat = readStat(pid);
  const boot = bootId();
  if (!stat || !boot || stat.startTicks === '') return null;
  return `${boot}:${stat.startTicks}`;
}

/**
 * Whether the process recorded as `pid` started at `start` still runs. A different start
 * time means the pid now belongs to another process: the recorded one is gone.
 */
export function isSameProcessAlive(pid: number, start: string | null): boolean {
  if (!isAlive(pid)) return false;
  if (start === null) return true;
  const now = processStartOf(pid);
  return now === null ? true : now === start;
}

/** Sends `signal` to every process of group `pgid`; false when the group is gone. */
export function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * True while group `pgid` has a live member. `kill(-pgid, 0)` also succeeds for members
 * that are zombies waiting for a parent that never reaps them; on Linux those do not count.
 */
export function groupAlive(pgid: number): boolean {
  if (!signalGroup(pgid, 0)) return false;
  if (os.platform() !== 'linux') return true;
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return true;
  }
  for (const entry of entries) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const stat = readStat(pid);
    if (stat && stat.pgrp === pgid && stat.state !== 'Z' && stat.state !== 'X') return true;
  }
  return false;
}

/**
 * Whether group `pgid` is still the one whose leader started at `start`: its leader runs with
 * that start time, or the leader is gone but members remain (Linux keeps a pid from reuse
 * while a group holds it, so a surviving group with that id is the original one).
 */
export function isSameGroup(pgid: number, start: string | null): boolean {
  if (start !== null && start.split(':')[0] !== bootId()) return false;
  if (isAlive(pgid)) {
    const now = processStartOf(pgid);
    return start === null || now === null || now === start;
  }
  return groupAlive(pgid);
}

/**
 * The process groups of live processes whose environment holds `variable` set to one of
 * `values` (Linux: /proc/PID/environ, readable for our own processes), by value. It finds
 * what a dead taskhost started before it could record the group: each plugin and script
 * gets its run's id in its environment, and its children inherit it.
 */
export function groupsByEnvironment(variable: string, values: ReadonlySet<string>): Map<string, Set<number>> {
  const found = new Map<string, Set<number>>();
  if (values.size === 0 || os.platform() !== 'linux') return found;
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return found;
  }
  const prefix = `${variable}=`;
  for (const entry of entries) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    let environ: string;
    try {
      environ = fs.readFileSync(`/proc/${pid}/environ`, 'latin1');
    } catch {
      continue; // gone, or not ours
    }
    const start = environ.indexOf(prefix);
    if (start === -1 || (start > 0 && environ[start - 1] !== '\0')) continue;
    const end = environ.indexOf('\0', start);
    const value = environ.slice(start + prefix.length, end === -1 ? undefined : end);
    if (!values.has(value)) continue;
    const stat = readStat(pid);
    if (!stat || stat.state === 'Z' || stat.state === 'X') continue;
    const groups = found.get(value) ?? new Set<number>();
    groups.add(stat.pgrp);
    found.set(value, groups);
  }
  return found;
}

/**
 * SIGKILLs group `pgid` until it is gone: again every `intervalMs` while a live member is
 * found (a process forking as it dies), for at most `limitMs`. Resolves whether it went.
 */
export async function killGroupUntilGone(pgid: number, intervalMs = 20, limitMs = 10_000): Promise<boolean> {
  const deadline = performance.now() + limitMs;
  while (groupAlive(pgid)) {
    if (performance.now() >= deadline) return false;
    signalGroup(pgid, 'SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  return true;
}
