import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { after } from 'node:test';

/**
 * A reverse proxy that serves an upstream under a path prefix and strips it, as nginx's
 * `location /ops/ { proxy_pass http://upstream/; }` does, WebSocket upgrades included. With
 * `forwardPrefix` it tells the upstream the prefix in X-Forwarded-Prefix. Anything outside the
 * prefix is a 404 here, so a link or a call that escapes the prefix fails in the browser.
 */
export interface PrefixProxy {
  url: string;
  /** Every path asked of the proxy, in order (prefix included). */
  paths: string[];
}

export async function startPrefixProxy(
  upstreamPort: number,
  prefix: string,
  options: { forwardPrefix: boolean },
): Promise<PrefixProxy> {
  const paths: string[] = [];
  /** The upstream path, or null when `url` is outside the prefix. */
  const strip = (url: string): string | null => {
    if (url !== prefix && !url.startsWith(`${prefix}/`) && !url.startsWith(`${prefix}?`)) return null;
    const rest = url.slice(prefix.length);
    return rest.startsWith('/') ? rest : `/${rest}`;
  };
  const headersFor = (request: http.IncomingMessage): http.OutgoingHttpHeaders => ({
    ...request.headers,
    host: `127.0.0.1:${upstreamPort}`,
    ...(options.forwardPrefix ? { 'x-forwarded-prefix': prefix } : {}),
  });

  const server = http.createServer((request, response) => {
    paths.push(request.url ?? '');
    const target = strip(request.url ?? '/');
    if (target === null) {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('outside the prefix\n');
      return;
    }
    const forwarded = http.request(
      {
        host: '127.0.0.1',
        port: upstreamPort,
        method: request.method,
        path: target,
        headers: headersFor(request),
      },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      },
    );
    forwarded.on('error', () => response.destroy());
    request.pipe(forwarded);
  });

  server.on('upgrade', (request: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    paths.push(request.url ?? '');
    const target = strip(request.url ?? '/');
    if (target === null) {
      client.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    const upstream = net.connect(upstreamPort, '127.0.0.1', () => {
      const headers = headersFor(request);
      const lines = [`${request.method} ${target} HTTP/1.1`];
      for (const [key, value] of Object.entries(headers)) {
        for (const one of Array.isArray(value) ? value : [value]) {
          if (one !== undefined) lines.push(`${key}: ${String(one)}`);
        }
      }
      upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    const end = (): void => {
      upstream.destroy();
      client.destroy();
    };
    upstream.on('error', end);
    client.on('error', end);
    upstream.on('close', end);
    client.on('close', end);
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  after(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, paths };
}
