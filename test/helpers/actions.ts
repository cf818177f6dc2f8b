import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';
import {
  isActionError,
  type ActionContext,
  type ActionError,
  type ActionErrorKind,
} from '../../src/engine/actions/types.ts';

/**
 * Driving one builtin action the way the engine does: a context with a real AbortSignal and
 * a log that keeps every line, and real HTTP servers on 127.0.0.1:0 to call.
 */

export interface LoggedLine {
  stream: Parameters<ActionContext['log']>[0];
  line: string;
}

export interface TestActionContext {
  context: ActionContext;
  lines: LoggedLine[];
  controller: AbortController;
}

/** A step's context; `onLog` sees each line as the action logs it. */
export function actionContext(
  overrides: Partial<Omit<ActionContext, 'log' | 'signal'>> = {},
  onLog?: (line: LoggedLine, controller: AbortController) => void,
): TestActionContext {
  const controller = new AbortController();
  const lines: LoggedLine[] = [];
  const context: ActionContext = {
    taskId: 'task-1',
    resolutionId: 'resolution-1',
    stepName: 'step-1',
    attempt: 1,
    signal: controller.signal,
    log: (stream, line) => {
      lines.push({ stream, line });
      onLog?.({ stream, line }, controller);
    },
    ...overrides,
  };
  return { context, lines, controller };
}

/** Asserts that `promise` rejects with an ActionError of `kind`, and returns that error. */
export async function actionFailure(promise: Promise<unknown>, kind: ActionErrorKind): Promise<ActionError> {
  let failure: unknown;
  try {
    await promise;
  } catch (error) {
    failure = error;
  }
  assert.ok(isActionError(failure), `expected an ActionError, got ${String(failure)}`);
  assert.equal(failure.kind, kind, `expected a ${kind} error, got ${failure.kind}: ${failure.message}`);
  return failure;
}

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export type TestHandler = (request: ReceivedRequest, response: http.ServerResponse) => void;

export interface TestHttpServer {
  /** `http://127.0.0.1:PORT` */
  url: string;
  port: number;
  /** Every request, in arrival order, with its whole body. */
  requests: ReceivedRequest[];
}

/**
 * A real HTTP server on 127.0.0.1:0 for one test, closed (with any connection it holds
 * open) when the test ends. `handler` answers each request once its body is read.
 */
export async function startHttpServer(t: TestContext, handler: TestHandler): Promise<TestHttpServer> {
  const requests: ReceivedRequest[] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const received: ReceivedRequest = {
        method: request.method ?? '',
        url: request.url ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(received);
      handler(received, response);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}`, port, requests };
}

/** A port on 127.0.0.1 that nothing listens on (it was just given up). */
export async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Answers with `status`, a body and headers. */
export function reply(
  response: http.ServerResponse,
  status: number,
  body: string,
  headers: http.OutgoingHttpHeaders = {},
): void {
  response.writeHead(status, headers);
  response.end(body);
}
