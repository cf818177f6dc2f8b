import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * A supply of named pipes (FIFOs) for plugins' stdout and stderr.
 *
 * Why FIFOs: Node's child_process gives children Unix socketpairs as stdio, and opening
 * /dev/stdin or /dev/stderr on a socket fails with ENXIO (nodejs/node#21941), which breaks
 * plugins written for the reference runner (`$(</dev/stdin)`, `echo x > /dev/stderr`).
 * A FIFO is a real pipe. Node cannot mkfifo(2) itself, so FIFOs are made in batches by
 * one `mkfifo` call and handed out one at a time; each is unlinked once both ends are
 * open, so a path is never reused while a grandchild may still hold the old pipe.
 *
 * The batch lives in a per-user 0700 directory that every taskhost process of that user
 * draws from: a process claims a FIFO by renaming it (atomic; a lost race is ENOENT), so a
 * short-lived CLI command usually finds FIFOs ready and spawns no `mkfifo` of its own.
 * Should that directory be unsafe (not ours, not 0700, a symlink), a private one is used.
 */
export class FifoPool {
  readonly dir: string;
  private refilling: Promise<void> | null = null;
  /** Names last seen ready in the directory (others may claim them first). */
  private known: string[] = [];
  private counter = 0;
  private readonly batch: number;

  constructor(batch = 32, dir = sharedDirectory()) {
    this.batch = batch;
    this.dir = dir;
  }

  /** A fresh path for a private file (the stdin document), in the pool's directory. */
  tempPath(prefix: string): string {
    this.counter += 1;
    return path.join(this.dir, `${prefix}-${process.pid}-${this.counter}-${randomBytes(4).toString('hex')}`);
  }

  private rescan(): void {
    try {
      this.known = fs.readdirSync(this.dir).filter((name) => name.startsWith('ready-'));
    } catch {
      this.known = [];
    }
  }

  /** Claims a ready FIFO for this process, or null when none is left. */
  private claim(): string | null {
    if (this.known.length === 0) this.rescan();
    for (let name = this.known.pop(); name !== undefined; name = this.known.pop()) {
      const claimed = this.tempPath('fifo');
      try {
        fs.renameSync(path.join(this.dir, name), claimed);
        return claimed;
      } catch {
        // another process claimed it first
      }
    }
    return null;
  }

  /** Makes FIFOs ahead of need, e.g. while a store opens, so the first run does not wait. */
  prefill(): void {
    if (this.known.length >= this.batch / 2) return;
    this.rescan();
    if (this.known.length < this.batch / 2) void this.refill().catch(() => undefined);
  }

  /** Resolves once no background refill is under way. */
  async settle(): Promise<void> {
    await this.refilling?.catch(() => undefined);
  }

  async take(): Promise<string> {
    for (;;) {
      const claimed = this.claim();
      if (claimed) {
        this.prefill();
        return claimed;
      }
      await this.refill();
    }
  }

  private refill(): Promise<void> {
    if (this.refilling) return this.refilling;
    const paths = Array.from({ length: this.batch }, () =>
      path.join(this.dir, `ready-${randomBytes(8).toString('hex')}`),
    );
    // No `-m`: mkfifo would chmod each FIFO after creating it, racing with a process that
    // claims it in between. The directory is 0700, so the default mode exposes nothing.
    this.refilling = new Promise<void>((resolve, reject) => {
      execFile('mkfifo', paths, (error) => {
        this.refilling = null;
        if (error) {
          this.rescan();
          if (this.known.length === 0) {
            reject(new Error(`cannot create FIFOs in ${this.dir}: ${error.message}`));
          } else resolve();
          return;
        }
        this.known.push(...paths.map((file) => path.basename(file)));
        resolve();
      });
    });
    // A background refill that fails is reported by the next take() that needs it.
    this.refilling.catch(() => undefined);
    return this.refilling;
  }
}

/** The per-user directory, if it is safe to share; else a private one for this process. */
function sharedDirectory(): string {
  const uid = process.getuid?.() ?? 0;
  const dir = path.join(os.tmpdir(), `taskhost-fifos-${uid}`);
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') return privateDirectory();
  }
  const stat = fs.lstatSync(dir);
  if (stat.isDirectory() && !stat.isSymbolicLink() && stat.uid === uid && (stat.mode & 0o077) === 0) {
    return dir;
  }
  return privateDirectory();
}

function privateDirectory(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'taskhost-io-'));
  fs.chmodSync(dir, 0o700);
  process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

let shared: FifoPool | null = null;

/** The process's pool, created on first use. */
export function sharedFifoPool(): FifoPool {
  shared ??= new FifoPool();
  return shared;
}
