import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * A supply of named pipes (FIFOs) in a private 0700 directory.
 *
 * Why FIFOs: Node's child_process gives children Unix socketpairs as stdio, and opening
 * /dev/stdin or /dev/stderr on a socket fails with ENXIO (nodejs/node#21941), which breaks
 * plugins written for the reference runner (`$(</dev/stdin)`, `echo x > /dev/stderr`).
 * A FIFO is a real pipe. Node cannot mkfifo(2) itself, so FIFOs are made in batches by
 * one `mkfifo` call and handed out one at a time; each is unlinked once both ends are
 * open, so a path is never reused while a grandchild may still hold the old pipe.
 */
export class FifoPool {
  readonly dir: string;
  private readonly ready: string[] = [];
  private refilling: Promise<void> | null = null;
  private counter = 0;
  private readonly batch: number;

  constructor(batch = 32) {
    this.batch = batch;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'taskhost-io-'));
    fs.chmodSync(this.dir, 0o700);
  }

  /** A fresh path for a private file (the stdin document), in the pool's directory. */
  tempPath(prefix: string): string {
    this.counter += 1;
    return path.join(this.dir, `${prefix}-${process.pid}-${this.counter}`);
  }

  /** Makes FIFOs ahead of need, e.g. while a store opens, so the first run does not wait. */
  prefill(): void {
    if (this.ready.length < this.batch / 2) void this.refill().catch(() => undefined);
  }

  async take(): Promise<string> {
    if (this.ready.length < this.batch / 2) void this.refill();
    while (this.ready.length === 0) await this.refill();
    return this.ready.pop() as string;
  }

  private refill(): Promise<void> {
    if (this.refilling) return this.refilling;
    const paths = Array.from({ length: this.batch }, () => this.tempPath('fifo'));
    this.refilling = new Promise<void>((resolve, reject) => {
      execFile('mkfifo', ['-m', '600', ...paths], (error) => {
        this.refilling = null;
        if (error) {
          reject(new Error(`cannot create FIFOs in ${this.dir}: ${error.message}`));
          return;
        }
        this.ready.push(...paths);
        resolve();
      });
    });
    // A background refill that fails is reported by the next take() that needs it.
    this.refilling.catch(() => undefined);
    return this.refilling;
  }

  dispose(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

let shared: FifoPool | null = null;

/** The process's pool, created on first use and removed when the process exits. */
export function sharedFifoPool(): FifoPool {
  if (!shared) {
    const pool = new FifoPool();
    shared = pool;
    process.once('exit', () => pool.dispose());
  }
  return shared;
}
