import { ERROR_CODES, TaskhostError, type ErrorCode } from '../errors.ts';

/** A request to a taskhost server; its errors come back as the server's own codes. */
export async function requestJson(
  server: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const url = new URL(path, server);
  // Basic auth given in the URL (http://alice:PASSWORD@host:8081), which fetch refuses there.
  const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' };
  if (url.username || url.password) {
    const credentials = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
    headers.authorization = `Basic ${Buffer.from(credentials).toString('base64')}`;
    url.username = '';
    url.password = '';
  }
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new TaskhostError(
      'TH_SERVER_UNREACHABLE',
      `cannot reach the taskhost server at ${url.origin} (${cause?.code ?? cause?.message ?? (error as Error).message}); start one with "taskhost serve" or pass --server`,
    );
  }
  const text = await response.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    parsed = { error: text.slice(0, 200) };
  }
  if (!response.ok) {
    const code =
      typeof parsed.code === 'string' && parsed.code in ERROR_CODES
        ? (parsed.code as ErrorCode)
        : 'TH_SERVER_REFUSED';
    const message = typeof parsed.error === 'string' ? parsed.error : `HTTP ${response.status}`;
    throw new TaskhostError(code, `server: ${message}`);
  }
  return { status: response.status, body: parsed };
}
