import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { startTestServer } from '../../helpers/api-server.ts';

/**
 * /unsecured/spec.json: a valid OpenAPI 3 document (checked against the OpenAPI 3.0 schema)
 * that lists every route the server answers, each with its answers' schemas: a JSON body for
 * each success (WebSocket streams and the spec itself aside) and the `{error, code}` body
 * for each error status it declares.
 */

const server = await startTestServer();

/**
 * Every route fastify answers, read from its route tree (`printRoutes`: one line a path
 * segment, nested four columns a level, methods in brackets); HEAD is fastify's own copy of
 * each GET.
 */
function registeredRoutes(): string[] {
  const prefixes: string[] = [];
  const routes: string[] = [];
  for (const line of server.app.printRoutes({ commonPrefix: false }).split('\n')) {
    const match = /^(.*?)[├└]── (\S+)(?: \(([^)]*)\))?$/.exec(line);
    if (!match) continue;
    const depth = (match[1] as string).length / 4;
    const path = (prefixes[depth - 1] ?? '') + (match[2] as string);
    prefixes[depth] = path;
    for (const method of (match[3] ?? '').split(', ').filter((name) => name && name !== 'HEAD')) {
      routes.push(`${method} ${path.replace(/:(\w+)/g, '{$1}')}`);
    }
  }
  return routes;
}

interface Operation {
  responses?: Record<string, { content?: Record<string, { schema?: { properties?: object } }> }>;
}

test('the OpenAPI document is valid OpenAPI 3', async () => {
  const spec = (await server.request<Record<string, unknown>>('GET', '/unsecured/spec.json')).body;
  const result = await new Validator().validate(spec);
  assert.equal(result.valid, true, JSON.stringify(result.errors));
});

test('every route is in the document, with a schema for each success and the error body for each error', async () => {
  const spec = (
    await server.request<{ paths: Record<string, Record<string, Operation>> }>('GET', '/unsecured/spec.json')
  ).body;
  const documented = new Set(
    Object.entries(spec.paths).flatMap(([path, operations]) =>
      Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`),
    ),
  );
  // The dashboard's pages and assets (src/api/ui.ts) are not API routes: they stay out of it.
  const routes = registeredRoutes().filter((route) => route !== 'GET /' && !/^GET \/ui(\/|$)/.test(route));
  assert.ok(routes.length >= 40, `routes read: ${routes.join(', ')}`);
  assert.deepEqual(
    routes.filter((route) => !documented.has(route)),
    [],
  );

  const unexplained: string[] = [];
  for (const [path, operations] of Object.entries(spec.paths)) {
    if (path.endsWith('/stream') || path === '/unsecured/spec.json') continue;
    for (const [method, operation] of Object.entries(operations)) {
      for (const [status, answer] of Object.entries(operation.responses ?? {})) {
        const schema = answer.content?.['application/json']?.schema;
        const fine =
          status === '204' ||
          (status.startsWith('2') && schema !== undefined) ||
          (!status.startsWith('2') && JSON.stringify(schema?.properties ?? {}).includes('"code"'));
        if (!fine) unexplained.push(`${method.toUpperCase()} ${path} ${status}`);
      }
      if (!Object.keys(operation.responses ?? {}).some((status) => status.startsWith('2'))) {
        unexplained.push(`${method.toUpperCase()} ${path}: no success answer`);
      }
    }
  }
  assert.deepEqual(unexplained, []);
});
