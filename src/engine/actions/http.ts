import { ConfigReader, parseRendered, problemIn, type ConfigStage } from './config.ts';
import { bodySnippet, exchange, parseHttpUrl } from './http-request.ts';
import { ActionError, type ActionResult, type ActionRunner } from './types.ts';

/**
 * µTask's `http` builtin: one HTTP request, its answer as the step's output.
 *
 *   url                   the whole target (scheme, host, path, query); or else
 *   host + path           the scheme and host, and the path (and query) to call on it
 *   method                GET, POST, PUT, DELETE or PATCH
 *   body                  text sent as the request's body; its Content-Type is guessed
 *                         (JSON, XML) unless a header sets one, as µTask does
 *   headers               [{name, value}]; a later one replaces an earlier one of the name
 *   query_parameters      [{name, value}], appended to the url's own (repeats allowed)
 *   auth                  {basic: {user, password}} or {bearer: TOKEN}
 *   timeout               a Go duration for the request and the whole answer, 30s default
 *   follow_redirect       true to follow redirects; by default a 3xx is the answer
 *   trim_prefix           removed from the start of the answer before it is decoded
 *
 * The output is the answer's body, decoded when its Content-Type is JSON (application/json
 * or a +json type), else its text. The metadata is µTask's: HTTPStatus, HTTPHeaders (under
 * Go's canonical names) and HTTPCookies. Status 2xx is DONE;
 * 4xx is CLIENT_ERROR (µTask's BadRequest: not retried); anything else (a 3xx not
 * followed, a 5xx) is SERVER_ERROR, retried, as is a request that got no answer in time.
 * Output and metadata are kept on errors.
 *
 * Not supported: µTask's TLS settings (insecure_skip_verify, root_ca, auth.mutual_tls) and
 * digest auth, which Node's fetch cannot take per request; they are refused by name rather
 * than ignored.
 */

const FIELDS = [
  'url',
  'host',
  'path',
  'method',
  'body',
  'headers',
  'timeout',
  'auth',
  'follow_redirect',
  'query_parameters',
  'trim_prefix',
  'insecure_skip_verify',
  'root_ca',
] as const;
const AUTH_FIELDS = ['basic', 'digest', 'bearer', 'mutual_tls'] as const;
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'];
const DEFAULT_TIMEOUT_MS = 30_000;
const UNSUPPORTED =
  "is not supported by taskhost's http action (Node's fetch takes no TLS settings per request)";

interface Pair {
  name: string;
  value: string;
}

interface HttpConfig {
  method: string;
  /** Unknown before rendering when it is a template. */
  url: URL | undefined;
  headers: Pair[];
  body: string;
  authorization: string | undefined;
  timeoutMs: number;
  followRedirect: boolean;
  trimPrefix: string | undefined;
}

/** µTask's list of {name, value}: a name is required, a missing value is empty. */
function readPairs(read: ConfigReader, field: string): Pair[] {
  return (read.list(field) ?? []).map((item, index) => {
    const pair = new ConfigReader(item, ['name', 'value'], read.stage, `${field}[${index}]`);
    return { name: pair.text('name', { required: true }) as string, value: pair.text('value') ?? '' };
  });
}

/** The Authorization header `auth` asks for, if any. */
function readAuth(read: ConfigReader): string | undefined {
  if (!read.has('auth')) return undefined;
  const auth = new ConfigReader(read.raw('auth'), AUTH_FIELDS, read.stage, 'auth');
  const given = AUTH_FIELDS.filter((name) => auth.has(name));
  if (given.length > 1) throw auth.problem(given.join(', '), 'are exclusive: keep one authentication');
  if (auth.has('digest')) throw auth.problem('digest', 'digest authentication is not supported by taskhost');
  if (auth.has('mutual_tls')) throw auth.problem('mutual_tls', UNSUPPORTED);
  if (auth.has('bearer')) return `Bearer ${auth.text('bearer', { required: true }) as string}`;
  if (!auth.has('basic')) return undefined;
  const basic = new ConfigReader(auth.raw('basic'), ['user', 'password'], read.stage, 'auth.basic');
  const user = basic.text('user', { required: true }) as string;
  const password = basic.text('password', { required: true }) as string;
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/**
 * The target: `url`, or `path` on the scheme and host of `host` (µTask keeps nothing else
 * of `host`). Undefined while a part is still a template.
 */
function readTarget(read: ConfigReader): URL | undefined {
  const url = read.text('url');
  const host = read.text('host');
  const path = read.text('path');
  if (url !== undefined && (host !== undefined || path !== undefined)) {
    throw read.problem('url', 'conflicts with host and path: give url, or host and path');
  }
  if (url === undefined && host === undefined) {
    throw read.problem('url', 'is missing (or give host and path)');
  }
  if (url !== undefined) return read.pending(url) ? undefined : parseHttpUrl('url', url);
  if (read.pending(host) || read.pending(path)) return undefined;
  const origin = parseHttpUrl('host', host as string).origin;
  const target = new URL((path ?? '').startsWith('/') ? (path as string) : `/${path ?? ''}`, origin);
  if (target.origin !== origin) throw read.problem('path', `"${path}" names another host than host`);
  return target;
}

function parseHttpConfig(configuration: unknown, stage: ConfigStage): HttpConfig {
  const read = new ConfigReader(configuration, FIELDS, stage);
  const method = read.text('method', { required: true }) as string;
  if (!read.pending(method) && !METHODS.includes(method)) {
    throw read.problem('method', `must be one of ${METHODS.join(', ')}, not "${method}"`);
  }
  const url = readTarget(read);
  for (const { name, value } of readPairs(read, 'query_parameters')) url?.searchParams.append(name, value);
  const body = read.text('body') ?? '';
  if (method === 'GET' && body !== '') throw read.problem('body', 'a GET request cannot carry a body here');
  if (read.bool('insecure_skip_verify')) throw read.problem('insecure_skip_verify', UNSUPPORTED);
  if (read.has('root_ca')) throw read.problem('root_ca', UNSUPPORTED);
  return {
    method,
    url,
    headers: readPairs(read, 'headers'),
    body,
    authorization: readAuth(read),
    timeoutMs: read.durationMs('timeout', DEFAULT_TIMEOUT_MS),
    followRedirect: read.bool('follow_redirect') ?? false,
    trimPrefix: read.text('trim_prefix'),
  };
}

/**
 * µTask's best guess at a body's type when no header gives one: JSON if it parses, XML if it
 * looks like an element, else none (fetch would otherwise say text/plain).
 */
function guessContentType(body: string): string | undefined {
  try {
    JSON.parse(body);
    return 'application/json';
  } catch {
    const trimmed = body.trim();
    return trimmed.startsWith('<') && trimmed.endsWith('>') ? 'application/xml' : undefined;
  }
}

function requestHeaders(config: HttpConfig): Headers {
  const headers = new Headers();
  // Authentication first, then the configured headers, which may replace it (as µTask).
  if (config.authorization) headers.set('Authorization', config.authorization);
  for (const { name, value } of config.headers) headers.set(name, value);
  const guessed = config.body === '' ? undefined : guessContentType(config.body);
  if (guessed && !headers.has('Content-Type')) headers.set('Content-Type', guessed);
  return headers;
}

/** Go's textproto.CanonicalMIMEHeaderKey: "content-type" → "Content-Type". */
function canonicalHeaderName(name: string): string {
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name)) return name;
  return name
    .toLowerCase()
    .replace(/(^|-)([a-z])/g, (_whole, dash: string, letter: string) => dash + letter.toUpperCase());
}

/**
 * µTask's HTTPStatus, HTTPHeaders and HTTPCookies (name → value). A header sent several
 * times reads as fetch joins it ("a, b") where µTask keeps the first; Set-Cookie, which
 * cannot be joined, is the first cookie, as in µTask.
 */
function responseMetadata(response: Response): Record<string, unknown> {
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    headers[canonicalHeaderName(name)] = value;
  });
  const cookies: Record<string, string> = {};
  for (const line of response.headers.getSetCookie()) {
    const pair = line.split(';')[0] ?? '';
    const equals = pair.indexOf('=');
    if (equals <= 0) continue;
    cookies[pair.slice(0, equals).trim()] = pair
      .slice(equals + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1');
  }
  const firstCookie = response.headers.getSetCookie()[0];
  if (firstCookie !== undefined) headers['Set-Cookie'] = firstCookie;
  return { HTTPStatus: response.status, HTTPHeaders: headers, HTTPCookies: cookies };
}

function isJsonType(contentType: string | null): boolean {
  const media = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  return media === 'application/json' || (media.startsWith('application/') && media.endsWith('+json'));
}

/** The step's result from an answer, or the ActionError its status calls for. */
function judgeAnswer(response: Response, raw: Buffer, trimPrefix: string | undefined): ActionResult {
  const metadata = responseMetadata(response);
  let text = raw.toString('utf8');
  if (trimPrefix !== undefined && text.startsWith(trimPrefix)) text = text.slice(trimPrefix.length);
  let output: unknown = text;
  if (isJsonType(response.headers.get('content-type')) && text !== '') {
    try {
      output = JSON.parse(text);
    } catch (error) {
      throw new ActionError('server', `can't unmarshal body: ${(error as Error).message}`, { metadata });
    }
  }
  const status = response.status;
  if (status >= 200 && status <= 299) return { output, metadata };
  const failure = `failed api request: ${status}: ${bodySnippet(Buffer.from(text))}`;
  if (status >= 400 && status <= 499) {
    throw new ActionError('client', `Client error: ${failure}`, { output, metadata });
  }
  throw new ActionError('server', failure, { output, metadata });
}

export const httpAction: ActionRunner = {
  type: 'http',

  validateConfig(configuration) {
    return problemIn(() => parseHttpConfig(configuration, 'unrendered'));
  },

  /** µTask's: `socket` (open connections) and `url:HOST` (one destination). */
  resources(configuration) {
    try {
      const url = parseHttpConfig(configuration, 'rendered').url;
      return url ? ['socket', `url:${url.host}`] : ['socket'];
    } catch {
      return ['socket'];
    }
  },

  async run(configuration, context) {
    const config = parseRendered(() => parseHttpConfig(configuration, 'rendered'));
    const url = config.url as URL;
    const { response, body } = await exchange(
      url,
      {
        method: config.method,
        headers: requestHeaders(config),
        // Bytes, not a string: fetch would label a string text/plain where µTask sends no type.
        body: config.body === '' ? undefined : Buffer.from(config.body),
        redirect: config.followRedirect ? 'follow' : 'manual',
      },
      {
        timeoutMs: config.timeoutMs,
        signal: context.signal,
        what: `http ${config.method} ${url.origin}${url.pathname}`,
      },
    );
    return judgeAnswer(response, body, config.trimPrefix);
  },
};
