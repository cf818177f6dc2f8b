import fs from 'node:fs';
import path from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { UI_ASSETS_DIR } from '../paths.ts';

/**
 * The web dashboard (SPEC section 9): a single-page app under `/ui/`, its assets served by
 * @fastify/static from dist/ui/, and `/` redirecting there. Every other `/ui/...` URL answers
 * the same index page, so a page of the app loads directly from a bookmark; the app reads its
 * route from the URL.
 *
 * Behind a reverse proxy that strips a path prefix, the browser's URLs carry the prefix and
 * ours do not. The index page therefore names its base (`<base href="PREFIX/ui/">`), computed
 * per request from `--base-path` or else the proxy's `X-Forwarded-Prefix`, and the app builds
 * every link and API call relative to that base. None of these routes is part of the API, so
 * they stay out of the OpenAPI document.
 */

/** A prefix we put in a page: absolute path segments of unreserved URL characters only, no trailing slash. */
const PREFIX = /^(\/[A-Za-z0-9._~-]+)*$/;

/** `/a/b/` → `/a/b`; `''` and `/` → `''`; anything that is not a plain path → null. */
export function normalisePrefix(value: string): string | null {
  const trimmed = value.trim().replace(/\/+$/, '');
  if (trimmed === '') return '';
  const prefixed = trimmed.startsWith('/') ? trimmed : `/${trimmed}`;
  return PREFIX.test(prefixed) && !prefixed.split('/').includes('..') ? prefixed : null;
}

export interface UiOptions {
  /** The prefix the dashboard is served under (`--base-path`), normalised; '' for none. */
  basePath: string;
  /** Where the built assets are (dist/ui/); tests may point elsewhere. */
  assetsDir?: string;
}

/** The prefix of one request: `--base-path`, else a well-formed `X-Forwarded-Prefix`, else none. */
function prefixOf(request: FastifyRequest, basePath: string): string {
  if (basePath !== '') return basePath;
  const header = request.headers['x-forwarded-prefix'];
  const value = Array.isArray(header) ? header[0] : header;
  return value === undefined ? '' : (normalisePrefix(value) ?? '');
}

const escapeAttribute = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The app's one page: its base, its stylesheet and its script, nothing inline (CSP-friendly). */
export function indexPage(prefix: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>taskhost</title>
<base href="${escapeAttribute(`${prefix}/ui/`)}">
<link rel="icon" href="data:,">
<link rel="stylesheet" href="assets/main.css">
<script type="module" src="assets/main.js"></script>
</head>
<body>
<div id="app"><noscript>The taskhost dashboard needs JavaScript; the API is at ${escapeAttribute(prefix)}/unsecured/spec.json.</noscript></div>
</body>
</html>
`;
}

export async function uiRoutes(app: FastifyInstance, options: UiOptions): Promise<void> {
  const assetsDir = options.assetsDir ?? UI_ASSETS_DIR;
  const built = fs.existsSync(path.join(assetsDir, 'main.js'));
  const hide = { hide: true } as const;

  if (built) {
    await app.register(fastifyStatic, {
      root: assetsDir,
      prefix: '/ui/assets/',
      index: false,
      // Scripts keep their names from one build to the next: revalidate them each load.
      cacheControl: true,
      maxAge: 0,
      schemaHide: true,
    });
  }

  const page = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    if (!built) {
      return reply
        .status(503)
        .type('text/plain; charset=utf-8')
        .send('the dashboard is not built: run `npm run build` in the taskhost package\n');
    }
    return reply
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-cache')
      .send(indexPage(prefixOf(request, options.basePath)));
  };

  app.get('/', { schema: hide }, async (request, reply) =>
    reply.redirect(`${prefixOf(request, options.basePath)}/ui/`, 302),
  );
  app.get('/ui', { schema: hide }, async (request, reply) =>
    reply.redirect(`${prefixOf(request, options.basePath)}/ui/`, 302),
  );
  app.get('/ui/', { schema: hide }, page);
  app.get('/ui/*', { schema: hide }, async (request, reply) => {
    // A missing asset is a 404, not the page (a browser would run HTML as a script).
    if (request.url.startsWith('/ui/assets/')) return reply.callNotFound();
    return page(request, reply);
  });
}
