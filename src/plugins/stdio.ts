import fs from 'node:fs';
import type { FifoPool } from './fifo-pool.ts';

/**
 * The descriptors a plugin run sets up before its child exists: its stdin as an unlinked
 * private file, its stdout and stderr as FIFOs (see fifo-pool.ts for why). Each opener
 * records what it opened in `opened`, so a failure half-way can close all of it.
 */

/** Opens a FIFO's read end (non-blocking) and its write end, then unlinks its path. */
export function openFifo(path: string, opened: number[]): { read: number; write: number } {
  const read = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  opened.push(read);
  const write = fs.openSync(path, fs.constants.O_WRONLY);
  opened.push(write);
  fs.unlinkSync(path);
  return { read, write };
}

/** Writes the stdin document to a 0600 file, opens it, and unlinks it: only the fd remains. */
export function openStdinFile(pool: FifoPool, content: string, opened: number[]): number {
  const path = pool.tempPath('stdin');
  try {
    fs.writeFileSync(path, content, { mode: 0o600 });
    const fd = fs.openSync(path, fs.constants.O_RDONLY);
    opened.push(fd);
    return fd;
  } finally {
    fs.rmSync(path, { force: true });
  }
}

export function closeAll(fds: readonly number[]): void {
  for (const fd of fds) {
    try {
      fs.closeSync(fd);
    } catch {
      // already closed
    }
  }
}
