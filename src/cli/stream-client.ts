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

const MAX_RECONNECTS = 10;

/**
 * Follows a stream (`/run/ID/stream`) to its end. A close that asks to resume (slow
 * consumer) or a dropped connection reconnects with `?since=` the last event seen, so the
 * caller sees every event once, in order. Resolves with the last event.
 */
export async function followStream(
  server: string,
  path: string,
  since: number,
  handlers: FollowHandlers,
): Promise<StreamEvent | null> {
  let last = since;
  let lastEvent: StreamEvent | null = null;
  let attempts = 0;
  for (;;) {
    const url = new URL(path, server);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('since', String(last));
    const outcome = await new Promise<{ code: number; error?: TaskhostError }>((resolve) => {
      const socket = new WebSocket(url);
      socket.on('message', (raw) => {
        attempts = 0;
        const message = JSON.parse(String(raw)) as Record<string, unknown>;
        if (message.type === 'snapshot') {
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
          resolve({
            code: -1,
            error: new TaskhostError(code, `server: ${parsed.error ?? `HTTP ${response.statusCode}`}`),
          });
        });
      });
      socket.on('error', (error: NodeJS.ErrnoException) => {
        if (error.code === 'ECONNREFUSED' && attempts === 0 && lastEvent === null) {
          resolve({
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
    if (outcome.error) throw outcome.error;
    if (outcome.code === CLOSE_NORMAL) return lastEvent;
    attempts += 1;
    if (attempts > MAX_RECONNECTS) {
      throw new TaskhostError(
        'TH_SERVER_UNREACHABLE',
        `lost the stream ${path} (close code ${outcome.code}) after ${MAX_RECONNECTS} retries`,
      );
    }
    if (outcome.code !== CLOSE_SLOW_CONSUMER) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(2000, 100 * 2 ** attempts)));
    }
  }
}
