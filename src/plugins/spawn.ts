import { spawn as spawnChild } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import type { ProcessEnd } from '../protocol/outcome.ts';
import { groupAlive, killGroupUntilGone, signalGroup } from '../system/processes.ts';
import { sharedFifoPool, type FifoPool } from './fifo-pool.ts';
import { trackGroup, untrackGroup } from './groups.ts';
import { LineSplitter, OutputLimiter, type DroppedOutput, type OutputLine } from './output.ts';
import { closeAll, openFifo, openStdinFile } from './stdio.ts';

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
  /** The child is running as the leader of process group `pid` (to be recorded). */
  onSpawn?: (pid: number) => void;
  /** Aborting cancels the run: the group is terminated like on a timeout. */
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

function failedSpawn(request: SpawnRequest, message: string, started: number): SpawnResult {
  return {
    pid: null,
    exitCode: null,
    signal: null,
    killReason: null,
    cancelReason: null,
    timeoutMs: request.timeoutMs,
    spawnError: message,
    stderrTail: [],
    durationMs: performance.now() - started,
    dropped: { lines: 0, bytes: 0 },
    lingered: false,
  };
}

/**
 * Owns one child process's whole life: spawns it without a shell in its own process group,
 * with a file as stdin and FIFOs as stdout and stderr (real pipes, see fifo-pool.ts);
 * delivers its output line by line; enforces the timeout and cancellation (SIGTERM to the
 * group, SIGKILL after a grace, repeated until the group is gone) and the output cap; kills
 * whatever the child left in its group once it exits; and resolves with how it ended,
 * never rejecting. Whatever it opened is closed, whatever happens.
 */
export async function spawnPlugin(request: SpawnRequest): Promise<SpawnResult> {
  const started = performance.now();
  const pool = request.fifos ?? sharedFifoPool();
  const killGraceMs = request.killGraceMs ?? 2000;
  const drainGraceMs = request.drainGraceMs ?? 200;

  // Every descriptor and path taken before the child runs: released on any failure.
  const opened: number[] = [];
  const claimed: string[] = [];
  let stdinFd: number;
  let out: { read: number; write: number };
  let err: { read: number; write: number };
  try {
    claimed.push(await pool.take(), await pool.take());
    stdinFd = openStdinFile(pool, request.stdin, opened);
    out = openFifo(claimed[0] as string, opened);
    err = openFifo(claimed[1] as string, opened);
  } catch (error) {
    closeAll(opened);
    for (const path of claimed) {
      try {
        fs.unlinkSync(path); // a FIFO renamed to us and not yet opened
      } catch {
        // already unlinked once opened, or not ours to remove
      }
    }
    return failedSpawn(
      request,
      `cannot set up the plugin's input and output: ${(error as Error).message}`,
      started,
    );
  }

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
    closeAll([stdinFd, out.write, err.write]);
  }
  const pid = child?.pid ?? null;
  if (pid !== null) {
    trackGroup(pid);
    request.onSpawn?.(pid);
  }

  const end = await new Promise<Omit<SpawnResult, 'durationMs' | 'dropped'>>((resolve) => {
    let exitCode: number | null = null;
    let exitSignal: string | null = null;
    let killReason: ProcessEnd['killReason'] = null;
    let cancelReason: string | null = null;
    // A child without a pid failed to start: its 'error' event says why, then it is over.
    let exited = child === null;
    let lingered = false;
    let openStreams = 2;
    let done = false;
    let killAt = 0;
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

    const terminate = (reason: NonNullable<ProcessEnd['killReason']>, why: string | null = null): void => {
      if (exited || pid === null || killReason) return;
      killReason = reason;
      cancelReason = why;
      killAt = performance.now() + killGraceMs;
      signalGroup(pid, 'SIGTERM');
      // Not cleared when the child exits: a grandchild that ignores SIGTERM and holds no
      // pipe must get its SIGKILL too (maybeFinish waits for the group to be gone).
      timers.push(setTimeout(() => signalGroup(pid, 'SIGKILL'), killGraceMs));
    };

    const onAbort = (): void => {
      const reason: unknown = request.signal?.reason;
      terminate(
        'cancelled',
        reason instanceof Error ? reason.message : typeof reason === 'string' ? reason : null,
      );
    };
    if (request.signal) {
      if (request.signal.aborted) onAbort();
      else request.signal.addEventListener('abort', onAbort, { once: true });
    }
    if (pid !== null) timers.push(setTimeout(() => terminate('timeout'), request.timeoutMs));

    function maybeFinish(): void {
      if (done || !exited || openStreams > 0) return;
      done = true;
      request.signal?.removeEventListener('abort', onAbort);
      const settle = (): void => {
        for (const timer of timers) clearTimeout(timer);
        if (pid !== null) untrackGroup(pid);
        resolve({
          pid,
          exitCode,
          signal: exitSignal,
          killReason,
          cancelReason,
          timeoutMs: request.timeoutMs,
          spawnError,
          stderrTail,
          lingered,
        });
      };
      if (pid === null || !groupAlive(pid)) {
        settle();
        return;
      }
      // Something the plugin started is still in its group. After a kill, it gets the rest
      // of its SIGTERM grace; otherwise (the plugin is done) it goes now. Either way the run
      // ends only once the group is gone.
      const grace = killReason ? Math.max(0, killAt - performance.now()) : 0;
      const reap = (): void => void killGroupUntilGone(pid).then(settle);
      if (grace > 0) timers.push(setTimeout(reap, grace));
      else reap();
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
            signalGroup(pid, 'SIGKILL');
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
      // No process: nothing will write, so the read ends are closed by the readers' EOF.
      onExited();
      return;
    }
    child.once('error', (error: NodeJS.ErrnoException) => {
      spawnError = `cannot execute ${request.file}: ${error.code ?? error.message}`;
      if (pid === null && !exited) onExited();
    });
    child.once('exit', (code, signal) => {
      exitCode = code;
      exitSignal = signal;
      onExited();
    });
  });
  const dropped = limiter.finish();
  return { ...end, durationMs: performance.now() - started, dropped };
}
