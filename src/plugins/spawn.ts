import { spawn as spawnChild } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import type { ProcessEnd } from '../protocol/outcome.ts';
import { sharedFifoPool, type FifoPool } from './fifo-pool.ts';
import { LineSplitter, OutputLimiter, type DroppedOutput, type OutputLine } from './output.ts';

export interface SpawnRequest {
  file: string;
  args?: readonly string[];
  /** Written to a private file the child reads as stdin. */
  stdin: string;
  env: Record<string, string>;
  cwd?: string;
  timeoutMs: number;
  /** Bytes of output delivered through `onLine` (head and tail); the rest is dropped. */
  outputCapBytes: number;
  /** SIGTERM to SIGKILL, on timeout or cancel. */
  killGraceMs?: number;
  /** How long to wait for the pipes to close once the child has exited. */
  drainGraceMs?: number;
  /** Every delivered line, in order, as it is written (capped). */
  onLine?: (line: OutputLine) => void;
  /** Every stdout line, uncapped: the protocol's result scan sees all of them. */
  onStdoutLine?: (text: string) => void;
  signal?: AbortSignal;
  fifos?: FifoPool;
}

export interface SpawnResult extends ProcessEnd {
  pid: number | null;
  durationMs: number;
  dropped: DroppedOutput;
  /** The child exited but something it started still held its stdout or stderr. */
  lingered: boolean;
}

const STDERR_TAIL_LINES = 10;
const RESULT_LINE_MAX_BYTES = 16 * 1024 * 1024;
const STDERR_TAIL_CHARS = 300;

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the whole group is gone already.
  }
}

/** Opens a FIFO's read end (non-blocking) and its write end, then unlinks its path. */
function openFifo(path: string): { read: number; write: number } {
  const read = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  const write = fs.openSync(path, fs.constants.O_WRONLY);
  fs.unlinkSync(path);
  return { read, write };
}

/** Writes the stdin document to a 0600 file, opens it, and unlinks it: only the fd remains. */
function openStdinFile(pool: FifoPool, content: string): number {
  const path = pool.tempPath('stdin');
  fs.writeFileSync(path, content, { mode: 0o600 });
  try {
    return fs.openSync(path, fs.constants.O_RDONLY);
  } finally {
    fs.unlinkSync(path);
  }
}

/**
 * Owns one child process's whole life: spawns it without a shell in its own process group,
 * with a file as stdin and FIFOs as stdout and stderr (real pipes, see fifo-pool.ts);
 * delivers its output line by line; enforces the timeout (SIGTERM to the group, SIGKILL
 * after a grace) and the output cap; and resolves with how it ended, never rejecting.
 */
export async function spawnPlugin(request: SpawnRequest): Promise<SpawnResult> {
  const pool = request.fifos ?? sharedFifoPool();
  const killGraceMs = request.killGraceMs ?? 2000;
  const drainGraceMs = request.drainGraceMs ?? 200;
  const [outPath, errPath] = await Promise.all([pool.take(), pool.take()]);
  const started = performance.now();

  const stdinFd = openStdinFile(pool, request.stdin);
  const out = openFifo(outPath);
  const err = openFifo(errPath);

  const stderrTail: string[] = [];
  const limiter = new OutputLimiter(request.outputCapBytes, (line) => request.onLine?.(line));
  const maxLine = Math.max(1024, request.outputCapBytes);
  // A result line may be longer than the log cap (a large payload): stdout lines get room.
  const outLines = new LineSplitter(Math.max(maxLine, RESULT_LINE_MAX_BYTES), (text) => {
    request.onStdoutLine?.(text);
    limiter.push({ stream: 'stdout', text });
  });
  const errLines = new LineSplitter(maxLine, (text) => {
    stderrTail.push(text.length > STDERR_TAIL_CHARS ? `${text.slice(0, STDERR_TAIL_CHARS)}…` : text);
    if (stderrTail.length > STDERR_TAIL_LINES) stderrTail.shift();
    limiter.push({ stream: 'stderr', text });
  });

  let child: ReturnType<typeof spawnChild> | null = null;
  let spawnError: string | null = null;
  try {
    child = spawnChild(request.file, request.args ?? [], {
      stdio: [stdinFd, out.write, err.write],
      env: request.env,
      cwd: request.cwd,
      detached: true,
    });
  } catch (error) {
    spawnError = `cannot execute ${request.file}: ${(error as Error).message}`;
  } finally {
    // The child has its own copies; ours must go so that EOF comes when it is done.
    fs.closeSync(stdinFd);
    fs.closeSync(out.write);
    fs.closeSync(err.write);
  }

  return new Promise<SpawnResult>((resolve) => {
    const pid = child?.pid ?? null;
    let exitCode: number | null = null;
    let exitSignal: string | null = null;
    let killReason: ProcessEnd['killReason'] = null;
    let exited = child === null;
    let lingered = false;
    let openStreams = 2;
    let done = false;
    const timers: NodeJS.Timeout[] = [];

    const readers = [
      [out.read, outLines],
      [err.read, errLines],
    ].map(([fd, splitter]) => {
      const socket = new net.Socket({ fd: fd as number, readable: true, writable: false });
      const lines = splitter as LineSplitter;
      let closed = false;
      const close = (): void => {
        if (closed) return;
        closed = true;
        lines.end();
        openStreams -= 1;
        maybeFinish();
      };
      socket.on('data', (chunk: Buffer) => lines.push(chunk));
      socket.on('end', close);
      socket.on('close', close);
      socket.on('error', close);
      return { socket, close };
    });

    const terminate = (reason: NonNullable<ProcessEnd['killReason']>): void => {
      if (exited || pid === null || killReason) return;
      killReason = reason;
      killGroup(pid, 'SIGTERM');
      const hard = setTimeout(() => killGroup(pid, 'SIGKILL'), killGraceMs);
      hard.unref();
      timers.push(hard);
    };

    const onAbort = (): void => terminate('cancelled');
    if (request.signal) {
      if (request.signal.aborted) onAbort();
      else request.signal.addEventListener('abort', onAbort, { once: true });
    }
    if (pid !== null) {
      const timeout = setTimeout(() => terminate('timeout'), request.timeoutMs);
      timers.push(timeout);
    }

    function maybeFinish(): void {
      if (done || !exited || openStreams > 0) return;
      done = true;
      for (const timer of timers) clearTimeout(timer);
      request.signal?.removeEventListener('abort', onAbort);
      const dropped = limiter.finish();
      resolve({
        pid,
        exitCode,
        signal: exitSignal,
        killReason,
        timeoutMs: request.timeoutMs,
        spawnError,
        stderrTail,
        durationMs: performance.now() - started,
        dropped,
        lingered,
      });
    }

    function onExited(): void {
      exited = true;
      if (openStreams > 0 && pid !== null) {
        // Something the plugin started still holds a pipe: give it a moment, then stop
        // reading and kill what is left of the group, so a run never hangs on a grandchild.
        // The timer can fire before the loop has read what is already in the pipes (a busy
        // loop runs timers late); the check waits one poll phase, which reads them.
        const drain = setTimeout(() => {
          setImmediate(() => {
            if (openStreams === 0) return;
            lingered = true;
            killGroup(pid, 'SIGKILL');
            for (const reader of readers) {
              reader.socket.destroy();
              reader.close();
            }
          });
        }, drainGraceMs);
        timers.push(drain);
      }
      maybeFinish();
    }

    if (!child) {
      onExited();
      return;
    }
    child.once('error', (error: NodeJS.ErrnoException) => {
      spawnError = `cannot execute ${request.file}: ${error.code ?? error.message}`;
      if (child?.pid === undefined && !exited) onExited();
    });
    child.once('exit', (code, signal) => {
      exitCode = code;
      exitSignal = signal;
      onExited();
    });
  });
}
