import { formatGoDuration } from '../../expr/duration.ts';
import { ConfigProblem } from './config.ts';
import { ActionError } from './types.ts';

/**
 * One HTTP exchange for the `http` and `notify` builtins, through Node's fetch: the request
 * and the reading of the whole answer share one deadline (like a Go http.Client's Timeout)
 * and stop when the step is cancelled. Whatever keeps an answer from arriving is a
 * SERVER_ERROR, retried, as µTask's "can't do HTTP request".
 */

export interface HttpExchange {
  response: Response;
  body: Buffer;
}

/** An http(s) URL, or a problem naming `field`. */
export function parseHttpUrl(field: string, text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigProblem(field, `"${text}" is not an absolute URL (https://host/path)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigProblem(field, `"${text}" is not an http or https URL`);
  }
  return url;
}

/** `reason` of an abort as text: "taskhost received SIGTERM", or '' when it says nothing. */
function abortReason(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  if (typeof reason === 'string') return reason;
  if (reason instanceof Error && reason.name !== 'AbortError') return reason.message;
  return '';
}

/** The lowest cause of a fetch failure ("connect ECONNREFUSED 127.0.0.1:9"), not "fetch failed". */
function rootCause(error: unknown): string {
  let current = error as { message?: unknown; cause?: unknown } | undefined;
  while (current?.cause instanceof Error) current = current.cause as typeof current;
  return typeof current?.message === 'string' ? current.message : String(error);
}

/**
 * Sends the request and reads the whole answer within `timeoutMs`; `what` prefixes errors
 * ("http GET https://…"). Throws a server ActionError when no complete answer came.
 */
export async function exchange(
  url: URL,
  init: RequestInit,
  options: { timeoutMs: number; signal: AbortSignal; what: string },
): Promise<HttpExchange> {
  const deadline = AbortSignal.timeout(options.timeoutMs);
  const signal = AbortSignal.any([deadline, options.signal]);
  try {
    const response = await fetch(url, { ...init, signal });
    const body = Buffer.from(await response.arrayBuffer());
    return { response, body };
  } catch (error) {
    if (options.signal.aborted) {
      const reason = abortReason(options.signal);
      throw new ActionError('server', `${options.what}: cancelled${reason ? `: ${reason}` : ''}`);
    }
    if (deadline.aborted) {
      const timeout = formatGoDuration(BigInt(Math.round(options.timeoutMs * 1e6)));
      throw new ActionError(
        'server',
        `${options.what}: no complete answer within ${timeout} (configuration.timeout)`,
      );
    }
    throw new ActionError('server', `${options.what}: can't do HTTP request: ${rootCause(error)}`);
  }
}

/** An answer's body for an error message: one line, at most 300 characters. */
export function bodySnippet(body: Buffer): string {
  const text = body.toString('utf8').replace(/\s+/g, ' ').trim();
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}
