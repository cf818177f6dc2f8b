import { socketUrl } from './api.ts';
import type { StreamEvent } from './types.ts';

/**
 * Follows a run's or a task's stream (`run/ID/stream`, `task/ID/stream`): the `snapshot`, then
 * ordered events. When the socket drops before the server ends the stream (a restart, a proxy
 * timeout, or 4008 "too slow"), it reconnects with `?since=` the last seq it got, so nothing is
 * missed or repeated; the server's normal close (1000) after the final event ends it.
 */

export const CLOSE_NORMAL = 1000;

export type StreamStatus = 'connecting' | 'live' | 'reconnecting' | 'ended' | 'failed';

export interface StreamHandlers<S> {
  onSnapshot(snapshot: S): void;
  onEvents(events: StreamEvent[]): void;
  onStatus(status: StreamStatus, detail?: string): void;
}

export interface StreamHandle {
  close(): void;
}

/** Attempts before giving up on a stream that keeps failing without delivering anything. */
const MAX_RETRIES = 8;

export function followStream<S>(
  path: string,
  pick: (message: Record<string, unknown>) => S,
  handlers: StreamHandlers<S>,
): StreamHandle {
  let lastSeq: number | null = null;
  let socket: WebSocket | null = null;
  let stopped = false;
  let failures = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  // Events of one animation frame are delivered together: a flood of log lines re-renders once.
  let pending: StreamEvent[] = [];
  let frame: number | null = null;
  const flush = (): void => {
    frame = null;
    const events = pending;
    pending = [];
    if (events.length > 0) handlers.onEvents(events);
  };

  const connect = (): void => {
    handlers.onStatus(lastSeq === null ? 'connecting' : 'reconnecting');
    const query = lastSeq === null ? undefined : { since: String(lastSeq) };
    const current = new WebSocket(socketUrl(path, query));
    socket = current;
    current.onmessage = (message: MessageEvent<string>) => {
      const parsed = JSON.parse(message.data) as Record<string, unknown>;
      failures = 0;
      if (parsed.type === 'snapshot') {
        handlers.onSnapshot(pick(parsed));
        handlers.onStatus('live');
        return;
      }
      const event = parsed as unknown as StreamEvent;
      if (lastSeq !== null && event.seq <= lastSeq) return;
      lastSeq = event.seq;
      pending.push(event);
      frame ??= requestAnimationFrame(flush);
    };
    current.onclose = (close: CloseEvent) => {
      if (socket !== current) return;
      socket = null;
      if (frame !== null) cancelAnimationFrame(frame);
      flush();
      if (stopped) return;
      if (close.code === CLOSE_NORMAL) {
        handlers.onStatus('ended');
        return;
      }
      failures += 1;
      if (failures > MAX_RETRIES) {
        handlers.onStatus('failed', close.reason || `connection lost (${close.code})`);
        return;
      }
      lastSeq ??= 0;
      handlers.onStatus('reconnecting', close.reason || undefined);
      timer = setTimeout(connect, Math.min(250 * 2 ** (failures - 1), 5000));
    };
  };
  connect();

  return {
    close(): void {
      stopped = true;
      clearTimeout(timer);
      // Closing a socket still connecting makes the browser log an error: close it once open.
      const current = socket;
      if (current?.readyState === WebSocket.CONNECTING) current.onopen = () => current.close();
      else current?.close();
    },
  };
}
