import type { FastifyInstance, FastifyRequest } from 'fastify';
import { TaskhostError } from '../../errors.ts';

/**
 * What keeps a browser page from driving the server (SPEC section 8): a Host header that
 * is neither a loopback name nor in `allowed_hosts` is refused (421; DNS rebinding points
 * a foreign name at 127.0.0.1), HTTP and WebSocket alike; a state-changing request from
 * another site (its Origin) is refused; bodies must be application/json (a page cannot
 * send that cross-site without CORS, while a form or a text/plain fetch needs none); and a
 * JSON body may not nest deeper than MAX_JSON_DEPTH.
 */

/** Deeper JSON is refused before anything recursive (ajv, JSON.stringify, jsonb) meets it. */
export const MAX_JSON_DEPTH = 64;

const LOOPBACK_NAMES: ReadonlySet<string> = new Set(['localhost', '127.0.0.1', '[::1]']);
const CHANGING_METHODS: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** `Host: name[:port]` → the lower-cased name (an IPv6 literal keeps its brackets). */
export function hostName(host: string): string {
  const value = host.trim().toLowerCase();
  if (value.startsWith('[')) return value.slice(0, value.indexOf(']') + 1);
  const colon = value.lastIndexOf(':');
  return colon === -1 ? value : value.slice(0, colon);
}

/** Whether a Host value is accepted: a loopback name, or an allowed host (name, or name:port as written). */
export function isAllowedHost(host: string | undefined, allowedHosts: readonly string[]): boolean {
  if (!host) return false;
  const name = hostName(host);
  if (LOOPBACK_NAMES.has(name)) return true;
  const value = host.trim().toLowerCase();
  return allowedHosts.some((allowed) => {
    const entry = allowed.toLowerCase();
    return entry === value || entry === name;
  });
}

/** Whether a request carries a body (a length above zero, or chunks). */
function hasBody(request: FastifyRequest): boolean {
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** How deep a parsed JSON value nests, counted without recursion, stopping past `limit`. */
export function exceedsDepth(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop() as [unknown, number];
    if (node === null || typeof node !== 'object') continue;
    if (depth >= limit) return true;
    for (const child of Object.values(node)) stack.push([child, depth + 1]);
  }
  return false;
}

/** The Host check, first of all hooks (before authentication: a rebound name learns nothing). */
export function installHostCheck(app: FastifyInstance, allowedHosts: readonly string[]): void {
  app.addHook('onRequest', async (request) => {
    const { host } = request.headers;
    if (!isAllowedHost(host, allowedHosts)) {
      throw new TaskhostError(
        'TH_HOST_REFUSED',
        `Host ${JSON.stringify(host ?? '')} is not served here: use a loopback name (localhost, 127.0.0.1, [::1]) or add it to allowed_hosts`,
      );
    }
  });
}

/** The Origin and Content-Type rules, and the JSON parser; installed after authentication. */
export function installBodyRules(app: FastifyInstance, allowedHosts: readonly string[]): void {
  app.addHook('onRequest', async (request) => {
    if (!CHANGING_METHODS.has(request.method)) return;
    const { origin } = request.headers;
    if (origin !== undefined && origin !== 'null') {
      let originHost: string;
      try {
        originHost = new URL(origin).host;
      } catch {
        originHost = '';
      }
      if (
        originHost.toLowerCase() !== request.headers.host?.toLowerCase() &&
        !isAllowedHost(originHost, allowedHosts)
      ) {
        throw new TaskhostError(
          'TH_AUTH_FORBIDDEN',
          `a change requested by another site (Origin ${origin}) is refused`,
        );
      }
    } else if (origin === 'null') {
      throw new TaskhostError(
        'TH_AUTH_FORBIDDEN',
        'a change requested from an opaque origin (Origin null) is refused',
      );
    }
    const type = request.headers['content-type'];
    if (type === undefined && !hasBody(request)) return;
    const media = (type ?? '').split(';')[0]?.trim().toLowerCase();
    if (media !== 'application/json') {
      throw new TaskhostError(
        'TH_MEDIA_TYPE',
        `request bodies must be application/json${type === undefined ? ' (no Content-Type was given)' : ` (got ${media})`}`,
      );
    }
  });

  // fastify's JSON parser (prototype poisoning refused), then the depth limit.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    void parseJson(request, body as string, (error, value) => {
      if (error) return done(error);
      if (exceedsDepth(value, MAX_JSON_DEPTH)) {
        return done(
          new TaskhostError('TH_REQUEST_INVALID', `body: JSON nested deeper than ${MAX_JSON_DEPTH} levels`),
        );
      }
      done(null, value);
    });
  });
}
