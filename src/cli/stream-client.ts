import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { ERROR_CODES, TaskhostError, type ErrorCode } from '../errors.ts';
import type { StreamEvent } from '../store/queries/events.ts';

/** Close codes of the stream (see api/routes/stream.ts). */
export const CLOSE_NORMAL = 1000;
export const CLOSE_SLOW_CONSUMER = 4008;

export interface FollowHandlers {
  onSnapshot?: (document: Record<string, unknown>) => void;
  onEvent: (event: StreamEvent) => void;
}

export interface FollowResult {
  /** The last event received (null when the stream had nothing after `since`). */
  last: StreamEvent | null;
  /** The last snapshot received: the document as the server saw it at the last (re)connect. */
  snapshot: Record<string, unknown> | null;
}

const MAX_RECONNECTS = 10;

interface Attempt {
  code: number;
  error?: TaskhostError;
  /** A refusal worth another try (the server's store restarting, a connection lost). */
  retry?: boolean;
}

function isEvent(message: Record<string, unknown>): message is Record<string, unknown> & StreamEvent {
  return Number.isInteger(message.seq) && typeof message.type === 'string';
}

/**
 * Follows a stream (`/run/ID/stream`) to its end. A close that asks to resume (slow
 * consumer), a dropped connection, or a server answering 503 while its store restarts
 * reconnects with `?since=` the last event seen, so the caller sees every event once, in
 * order. A frame that is not a stream message is an error, in one line.
 */
export async function followStream(
  server: string,
  path: string,
  since: number,
  handlers: FollowHandlers,
): Promise<FollowResult> {
  let last = since;
  let lastEvent: StreamEvent | null = null;
  let snapshot: Record<string, unknown> | null = null;
  let attempts = 0;
  let reached = false;
  for (;;) {
    const url = new URL(path, server);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('since', String(last));
    const outcome = await new Promise<Attempt>((resolve) => {
      const socket = new WebSocket(url);
      const fail = (attempt: Attempt): void => {
        resolve(attempt);
        socket.terminate();
      };
      socket.on('open', () => (reached = true));
      socket.on('message', (raw) => {
        let message: Record<string, unknown>;
        try {
          const parsed: unknown = JSON.parse(String(raw));
          if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
            throw new Error('not an object');
          }
          message = parsed as Record<string, unknown>;
          if (message.type !== 'snapshot' && !isEvent(message)) throw new Error('no seq and type');
        } catch (error) {
          fail({
            code: -1,
            error: new TaskhostError(
              'TH_SERVER_REFUSED',
              `the server sent a malformed stream frame (${(error as Error).message}): ${String(raw).slice(0, 80)}`,
            ),
          });
          return;
        }
        attempts = 0;
        if (message.type === 'snapshot') {
          snapshot = (message.run ?? message.task ?? null) as Record<string, unknown> | null;
          handlers.onSnapshot?.(message);
          return;
        }
        const event = message as unknown as StreamEvent;
        if (event.seq <= last) return;
        last = event.seq;
        lastEvent = event;
        handlers.onEvent(event);
      });
      socket.on('unexpected-response', (_request, response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () => {
          let parsed: { error?: string; code?: string } = {};
          try {
            parsed = JSON.parse(body) as { error?: string; code?: string };
          } catch {
            // not JSON: the status line speaks
          }
          const code: ErrorCode =
            parsed.code && parsed.code in ERROR_CODES
              ? (parsed.code as ErrorCode)
              : response.statusCode === 404
                ? 'TH_RUN_NOT_FOUND'
                : 'TH_SERVER_REFUSED';
          fail({
            code: -1,
            retry: response.statusCode === 503,
            error: new TaskhostError(code, `server: ${parsed.error ?? `HTTP ${response.statusCode}`}`),
          });
        });
      });
      socket.on('error', (error: NodeJS.ErrnoException) => {
        if (!reached && attempts === 0 && error.code === 'ECONNREFUSED') {
          fail({
            code: -1,
            error: new TaskhostError(
              'TH_SERVER_UNREACHABLE',
              `cannot reach the taskhost server at ${url.origin} (ECONNREFUSED)`,
            ),
          });
        }
      });
      socket.on('close', (code) => resolve({ code }));
    });
    if (outcome.error && !outcome.retry) throw outcome.error;
    if (outcome.code === CLOSE_NORMAL) return { last: lastEvent, snapshot };
    attempts += 1;
    if (attempts > MAX_RECONNECTS) {
      throw (
        outcome.error ??
        new TaskhostError(
          'TH_SERVER_UNREACHABLE',
          `lost the stream ${path} (close code ${outcome.code}) after ${MAX_RECONNECTS} retries`,
        )
      );
    }
    if (outcome.code !== CLOSE_SLOW_CONSUMER) await sleep(Math.min(2000, 100 * 2 ** attempts));
  }
}
