import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { startTestServer, type ErrorBody } from '../../helpers/api-server.ts';
import { fixturePath } from '../../helpers/plugin-fixtures.ts';

/**
 * Operating a server: µTask's maintenance mode (changes refused with 503, reads served,
 * switchable while serving) and request ids (a caller's X-Request-Id kept, and carried by
 * every log line of its request).
 */

const lines: Record<string, unknown>[] = [];
const logStream = new Writable({
  write(chunk: Buffer, _encoding, done) {
    for (const line of chunk.toString().split('\n')) if (line.trim()) lines.push(JSON.parse(line));
    done();
  },
});
const server = await startTestServer({ maintenanceMode: true, logLevel: 'info' }, { logStream });

test('maintenance mode: every change answers 503 TH_MAINTENANCE, reads go on; switched off, changes pass again', async () => {
  const refused = await Promise.all([
    server.request<ErrorBody>('POST', '/task', { template_name: 'nope' }),
    server.request<ErrorBody>('POST', '/plugin', { name: 'x', location: '/bin/true' }),
    server.request<ErrorBody>('DELETE', '/plugin/x'),
    server.request<ErrorBody>('POST', '/resolution/00000000-0000-4000-8000-000000000000/run'),
  ]);
  assert.deepEqual(
    refused.map((response) => [response.status, response.body.code]),
    Array.from({ length: 4 }, () => [503, 'TH_MAINTENANCE']),
  );
  assert.match(refused[0]?.body.error ?? '', /maintenance mode/);
  const reads = await Promise.all(
    ['/task', '/plugin', '/template', '/unsecured/mon/ping'].map((path) => server.request('GET', path)),
  );
  assert.deepEqual(
    reads.map((response) => response.status),
    [200, 200, 200, 200],
  );
  const { rows } = await server.db.store.query<{ n: string }>('SELECT count(*) AS n FROM plugin');
  assert.equal(rows[0]?.n, '0');

  server.config.maintenanceMode = false;
  const registered = await server.request('POST', '/plugin', { name: 'ok', location: fixturePath('ok.sh') });
  assert.equal(registered.status, 201, registered.text);
});

test('a caller-given X-Request-Id comes back and tags the request log; without one, the server names it', async () => {
  const given = await fetch(`${server.url}/task`, { headers: { 'x-request-id': 'payments-7f3a' } });
  assert.equal(given.status, 200);
  assert.equal(given.headers.get('x-request-id'), 'payments-7f3a');
  const tagged = lines.filter((line) => line.reqId === 'payments-7f3a');
  assert.ok(
    tagged.some((line) => line.msg === 'incoming request') &&
      tagged.some((line) => line.msg === 'request completed'),
    JSON.stringify(tagged),
  );

  const named = await fetch(`${server.url}/task`);
  const id = named.headers.get('x-request-id');
  assert.ok(id && id !== 'payments-7f3a', `x-request-id ${id}`);
  assert.ok(lines.some((line) => line.reqId === id));
});
