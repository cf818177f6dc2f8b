/**
 * The one way the dashboard talks to the API: same-origin requests, relative to the page's
 * `<base href>` (so a proxy's path prefix is kept), the browser's credentials sent along (basic
 * auth), and JSON bodies only for state-changing calls.
 */

/** The API's root: the folder above the dashboard's base (`/ops/ui/` → `/ops/`). */
export function apiRoot(): URL {
  return new URL('../', document.baseURI);
}

/** An API path (`plugin/x`, no leading slash) as a URL under the API's root. */
export function apiUrl(path: string, query?: Record<string, string | undefined>): URL {
  const url = new URL(path.replace(/^\//, ''), apiRoot());
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== '') url.searchParams.set(key, value);
  }
  return url;
}

/** An answer that is not 2xx, with the API's `{error, code}` when it sent one. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string | null;
  constructor(status: number, message: string, code: string | null) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function send(method: string, url: URL, body?: unknown): Promise<Response> {
  const init: RequestInit = { method, credentials: 'same-origin', headers: { accept: 'application/json' } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { accept: 'application/json', 'content-type': 'application/json' };
  }
  const response = await fetch(url, init);
  if (!response.ok) {
    let message = `${method} ${url.pathname}: HTTP ${response.status}`;
    let code: string | null = null;
    try {
      const parsed = (await response.json()) as { error?: string; code?: string };
      if (parsed.error) message = parsed.error;
      code = parsed.code ?? null;
    } catch {
      // not JSON: keep the status line
    }
    throw new ApiError(response.status, message, code);
  }
  return response;
}

export async function getJson<T>(path: string, query?: Record<string, string | undefined>): Promise<T> {
  return (await (await send('GET', apiUrl(path, query))).json()) as T;
}

/** A GET with its response headers (paging links). */
export async function getPage<T>(
  path: string,
  query?: Record<string, string | undefined>,
): Promise<{ items: T; headers: Headers }> {
  const response = await send('GET', apiUrl(path, query));
  return { items: (await response.json()) as T, headers: response.headers };
}

/** A state-changing call with a JSON body (`{}` when it takes none): its JSON answer, or null. */
export async function postJson<T = unknown>(
  path: string,
  body: unknown = {},
  query?: Record<string, string | undefined>,
): Promise<T | null> {
  const response = await send('POST', apiUrl(path, query), body);
  const text = await response.text();
  return text === '' ? null : (JSON.parse(text) as T);
}

/** A WebSocket URL for an API path (ws: or wss: as the page). */
export function socketUrl(path: string, query?: Record<string, string | undefined>): string {
  const url = apiUrl(path, query);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.toString();
}
