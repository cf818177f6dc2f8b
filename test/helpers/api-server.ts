import type { FastifyInstance } from 'fastify';
import type { AddressInfo } from 'node:net';
import { after } from 'node:test';
import WebSocket from 'ws';
import { DEFAULT_SECURITY, type SecurityConfig } from '../../src/api/auth/security.ts';
import { buildServer } from '../../src/api/build-server.ts';
import type { ServerMetrics } from '../../src/api/routes/metrics.ts';
import { DEFAULT_SERVER_CONFIG, type ServerConfig } from '../../src/api/services.ts';
import type { TemplateCatalog } from '../../src/api/template-catalog.ts';
import type { RunDocument } from '../../src/runs/document.ts';
import type { StreamEvent } from '../../src/store/queries/events.ts';
import type { Store } from '../../src/store/store.ts';
import { EventHub } from '../../src/stream/hub.ts';
import { fixturePath } from './plugin-fixtures.ts';
import { createTestDatabase, type TestDatabase } from './store.ts';

/**
 * A real listening API server for one test file: its own database, its own EventHub, port 0
 * on 127.0.0.1. Driven over real HTTP (global fetch) and real WebSockets (ws).
 */
export interface TestServer {
  app: FastifyInstance;
  /** The server's config, read at each request: a test may switch maintenance mode in place. */
  config: ServerConfig;
  db: TestDatabase;
  /** The server's event hub (a producer in the test process may publish to it). */
  hub: EventHub;
  port: number;
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** A request; `headers` are added (an Authorization, a Host, a Content-Type of the test's). */
  request<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<ApiResponse<T>>;
  /** Registers a fixture of test/fixtures/plugins/ under `name`; throws unless 201. */
  register(name: string, fixture: string): Promise<Record<string, unknown>>;
}

export interface ApiResponse<T> {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed JSON body, or undefined when the body is not JSON. */
  body: T;
}

/** What `POST /plugin/:name/run` answers. */
export interface Envelope {
  status: number;
  reason: string;
  payload: unknown;
  state: string;
  error: string | null;
  run_id: string;
  metadata?: unknown;
}

export interface ErrorBody {
  error: string;
  code: string;
}

export async function startTestServer(
  overrides: Partial<ServerConfig> = {},
  extra: {
    logStream?: NodeJS.WritableStream;
    /** Secret config values the server's log conceals. */
    secrets?: string[];
    /** The templates the server offers, loaded once its database exists (plugins registered first). */
    templates?: (store: Store) => Promise<TemplateCatalog>;
    metrics?: ServerMetrics;
    /** Admins, authentication and allowed hosts (auth/security.ts); none when absent. */
    security?: Partial<SecurityConfig>;
  } = {},
): Promise<TestServer> {
  const started: { app?: FastifyInstance } = {};
  // Registered before the database's own `after` (hooks run in order), so the server and the
  // runs it has in flight stop before the store closes.
  after(async () => {
    await started.app?.close();
  });
  const db = await createTestDatabase();
  const hub = new EventHub(db.store);
  const config = { ...DEFAULT_SERVER_CONFIG, ...overrides };
  const app = await buildServer({
    store: db.store,
    hub,
    config,
    logStream: extra.logStream,
    secrets: extra.secrets,
    metrics: extra.metrics,
    templates: extra.templates ? await extra.templates(db.store) : undefined,
    security: extra.security ? { ...DEFAULT_SECURITY, ...extra.security } : undefined,
  });
  started.app = app;
  await app.listen({ port: 0, host: '127.0.0.1' });
  const port = (app.server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;

  const request = async <T>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<ApiResponse<T>> => {
    const init: RequestInit = { method, headers };
    if (body !== undefined) {
      init.body = typeof body === 'string' ? body : JSON.stringify(body);
      init.headers = { 'content-type': 'application/json', ...headers };
    }
    const response = await fetch(`${url}${path}`, init);
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return { status: response.status, headers: response.headers, text, body: parsed as T };
  };

  const register = async (name: string, fixture: string): Promise<Record<string, unknown>> => {
    const response = await request<Record<string, unknown>>('POST', '/plugin', {
      name,
      location: fixturePath(fixture),
    });
    if (response.status !== 201) {
      throw new Error(`registering ${fixture} as ${name}: ${response.status} ${response.text}`);
    }
    return response.body;
  };

  return { app, config, db, hub, port, url, request, register };
}

/**
 * Polls `GET /run/:id` until the run's row is in a final state (the stream's final event goes
 * out before the row is updated, so the row itself is what this waits for); `withinMs` is a
 * hang guard, not a speed claim.
 */
export async function waitForRun(server: TestServer, id: string, withinMs = 20_000): Promise<RunDocument> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const { status, body } = await server.request<RunDocument>('GET', `/run/${id}`);
    if (status !== 200) throw new Error(`GET /run/${id}: ${status}`);
    if (body.state !== 'TODO' && body.state !== 'RUNNING') return body;
    if (Date.now() > deadline) throw new Error(`run ${id} still ${body.state} after ${withinMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export type StreamMessage = { type: 'snapshot'; run: RunDocument } | StreamEvent;

export interface FollowResult {
  /** Everything received, in order, the snapshot included. */
  messages: StreamMessage[];
  snapshot: RunDocument | null;
  /** The events after the snapshot. */
  events: StreamEvent[];
  code: number;
  reason: string;
}

export interface FollowOptions {
  since?: number;
  /** Called with each message as it arrives (the socket, to close it early). */
  onMessage?: (message: StreamMessage, socket: WebSocket) => void;
  /** Called once the upgrade succeeded. */
  onOpen?: (socket: WebSocket) => void;
  timeoutMs?: number;
}

/**
 * Follows `/run/:id/stream` until the server (or `onMessage`) closes it. Rejects on a
 * refused upgrade, a socket error, or when nothing closes it within `timeoutMs`.
 */
export function followRun(
  server: TestServer,
  id: string,
  options: FollowOptions = {},
): Promise<FollowResult> {
  const query = options.since === undefined ? '' : `?since=${options.since}`;
  const socket = new WebSocket(`ws://127.0.0.1:${server.port}/run/${id}/stream${query}`);
  const messages: StreamMessage[] = [];
  return new Promise<FollowResult>((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.terminate();
      reject(
        new Error(
          `stream of ${id} not closed after ${options.timeoutMs ?? 20_000} ms (${messages.length} messages)`,
        ),
      );
    }, options.timeoutMs ?? 20_000);
    socket.on('open', () => options.onOpen?.(socket));
    socket.on('message', (data: Buffer) => {
      const message = JSON.parse(data.toString('utf8')) as StreamMessage;
      messages.push(message);
      options.onMessage?.(message, socket);
    });
    socket.on('unexpected-response', (_request, response) => {
      clearTimeout(timer);
      reject(new Error(`upgrade refused: HTTP ${response.statusCode}`));
      socket.terminate();
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('close', (code, reason) => {
      clearTimeout(timer);
      const first = messages[0];
      resolve({
        messages,
        snapshot: first && first.type === 'snapshot' ? first.run : null,
        events: messages.filter((message): message is StreamEvent => message.type !== 'snapshot'),
        code,
        reason: reason.toString('utf8'),
      });
    });
  });
}

/** The seq numbers of a list of events. */
export function seqs(events: readonly StreamEvent[]): number[] {
  return events.map((event) => event.seq);
}

/** [from, from + 1, …, to] */
export function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, index) => from + index);
}
