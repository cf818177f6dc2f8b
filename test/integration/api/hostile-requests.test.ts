import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_JSON_DEPTH } from '../../../src/api/auth/request-guard.ts';
import { basic, openStream, passwordOf, usersFileWith } from '../../helpers/auth.ts';
import { fixturePath } from '../../helpers/plugin-fixtures.ts';
import { rawRequest } from '../../helpers/raw-http.ts';
import { startTaskServer } from '../../helpers/task-server.ts';

/**
 * Bad input and hostile requests (SPEC section 8): DNS rebinding (a foreign Host, 421, HTTP
 * and WebSocket), cross-site bodies (text/plain and forms, 415; a foreign Origin, 403), a
 * 10 MB body (413), deeply nested JSON (400), `../` in plugin and template names, and a
 * burst of wrong passwords (429, per client). After each, the server still answers and the
 * stored task and plugin are as they were.
 */

const usersFile = await usersFileWith({ ada: [], bob: [] });
const LOGIN_LIMIT = 5;
const server = await startTaskServer(
  {
    'plain.yaml': `name: plain
description: a template to create tasks from
inputs:
  - name: note
    optional: true
steps:
  greet:
    action: {type: echo, configuration: {output: {}}}
`,
  },
  {
    usersFile,
    admins: ['ada'],
    allowedHosts: ['taskhost.example.com'],
    loginFailures: { max: LOGIN_LIMIT, windowMs: 60_000 },
  },
);
const ADA = basic('ada', passwordOf('ada'));
const JSON_TYPE = { 'content-type': 'application/json' };

assert.equal(
  (await server.request('POST', '/plugin', { name: 'echo-data', location: fixturePath('echo-data.sh') }, ADA))
    .status,
  201,
);
const sentinel = await server.request(
  'POST',
  '/task',
  { template_name: 'plain', input: { note: 'keep me' } },
  ADA,
);
assert.equal(sentinel.status, 201, sentinel.text);
const sentinelId = sentinel.body.id as string;
const sentinelDocument = (await server.request('GET', `/task/${sentinelId}`, undefined, ADA)).body;

async function taskCount(): Promise<number> {
  const { rows } = await server.db.store.query<{ n: string }>('SELECT count(*) AS n FROM task');
  return Number(rows[0]?.n);
}

/** The server answers, and what was stored before is intact: the task, the plugin, the number of tasks. */
async function assertIntact(tasks: number): Promise<void> {
  assert.equal((await server.request('GET', '/unsecured/mon/ping')).status, 200);
  assert.deepEqual(
    (await server.request('GET', `/task/${sentinelId}`, undefined, ADA)).body,
    sentinelDocument,
  );
  assert.equal((await server.request('GET', '/plugin/echo-data', undefined, ADA)).status, 200);
  assert.equal(await taskCount(), tasks);
}

/** An `{error, code}` answer with this status and code. */
function assertRefused(
  answer: { status: number; text: string; body?: unknown },
  status: number,
  code: string,
): void {
  assert.equal(answer.status, status, answer.text);
  assert.equal((answer.body as { code?: string } | undefined)?.code, code, answer.text);
}

test('DNS rebinding: a Host that is neither a loopback name nor allowed is refused 421, HTTP and WebSocket', async () => {
  const tasks = await taskCount();
  for (const host of [
    'evil.example.com',
    'evil.example.com:8081',
    '127.0.0.1.nip.io',
    'localhost.evil.com',
    '10.0.0.5',
  ]) {
    assertRefused(
      await rawRequest(server.port, { path: '/plugin', headers: { host, ...ADA } }),
      421,
      'TH_HOST_REFUSED',
    );
    assertRefused(
      await rawRequest(server.port, {
        method: 'POST',
        path: '/task',
        headers: { host, ...ADA, ...JSON_TYPE },
        body: JSON.stringify({ template_name: 'plain', input: {} }),
      }),
      421,
      'TH_HOST_REFUSED',
    );
    const upgrade = await openStream(`ws://127.0.0.1:${server.port}/task/${sentinelId}/stream`, {
      host,
      ...ADA,
    });
    assert.equal(upgrade.status, 421, host);
  }
  for (const host of [
    'localhost',
    `localhost:${server.port}`,
    '127.0.0.1',
    `[::1]:${server.port}`,
    'taskhost.example.com',
    'TaskHost.Example.com:443',
  ]) {
    const answer = await rawRequest(server.port, { path: '/plugin', headers: { host, ...ADA } });
    assert.equal(answer.status, 200, `${host}: ${answer.text}`);
  }
  assert.equal(
    (await openStream(`ws://127.0.0.1:${server.port}/task/${sentinelId}/stream`, ADA)).status,
    101,
  );
  await assertIntact(tasks);
});

test('a body that is not application/json is refused 415: text/plain, forms, none at all; a foreign Origin 403', async () => {
  const tasks = await taskCount();
  const bodies: [string, string][] = [
    ['text/plain', JSON.stringify({ template_name: 'plain', input: {} })],
    ['text/plain;charset=UTF-8', JSON.stringify({ template_name: 'plain', input: {} })],
    ['application/x-www-form-urlencoded', 'template_name=plain'],
    [
      'multipart/form-data; boundary=x',
      '--x\r\nContent-Disposition: form-data; name="template_name"\r\n\r\nplain\r\n--x--\r\n',
    ],
  ];
  for (const [type, body] of bodies) {
    const answer = await rawRequest(server.port, {
      method: 'POST',
      path: '/task',
      headers: { ...ADA, 'content-type': type },
      body,
    });
    assertRefused(answer, 415, 'TH_MEDIA_TYPE');
    assert.match(answer.body?.error as string, /request bodies must be application\/json \(got /);
  }
  const untyped = await rawRequest(server.port, {
    method: 'POST',
    path: '/task',
    headers: ADA,
    body: '{"template_name": "plain"}',
  });
  assertRefused(untyped, 415, 'TH_MEDIA_TYPE');
  // A body-less change (run, cancel) typed as a form, as a cross-site form sends it.
  const resolution = (sentinelDocument.resolution as { id: string }).id;
  assertRefused(
    await rawRequest(server.port, {
      method: 'POST',
      path: `/resolution/${resolution}/cancel`,
      headers: { ...ADA, 'content-type': 'application/x-www-form-urlencoded' },
    }),
    415,
    'TH_MEDIA_TYPE',
  );
  for (const origin of ['http://evil.example.com', 'null']) {
    assertRefused(
      await rawRequest(server.port, {
        method: 'POST',
        path: `/resolution/${resolution}/cancel`,
        headers: { ...ADA, origin },
      }),
      403,
      'TH_AUTH_FORBIDDEN',
    );
  }
  // The same origin is fine (the dashboard's own pages).
  const sameSite = await rawRequest(server.port, {
    method: 'POST',
    path: '/task',
    headers: { ...ADA, ...JSON_TYPE, origin: `http://127.0.0.1:${server.port}` },
    body: JSON.stringify({ template_name: 'plain', input: {} }),
  });
  assert.equal(sameSite.status, 201, sameSite.text);
  await assertIntact(tasks + 1);
});

test('a 10 MB body is refused 413, and the server goes on', async () => {
  const tasks = await taskCount();
  const answer = await rawRequest(server.port, {
    method: 'POST',
    path: '/task',
    headers: { ...ADA, ...JSON_TYPE },
    body: JSON.stringify({ template_name: 'plain', input: { note: 'x'.repeat(10 * 1024 * 1024) } }),
  });
  assertRefused(answer, 413, 'TH_REQUEST_TOO_LARGE');
  await assertIntact(tasks);
});

test('deeply nested JSON is a clean 400 naming the limit, in arrays and objects alike', async () => {
  const tasks = await taskCount();
  const depth = 100_000;
  const nestedObject = `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
  const bodies = [
    `{"template_name": "plain", "input": {"note": ${nestedObject}}}`,
    `${'['.repeat(depth)}${']'.repeat(depth)}`,
    JSON.stringify({
      template_name: 'plain',
      input: { note: JSON.parse(`${'['.repeat(MAX_JSON_DEPTH)}${']'.repeat(MAX_JSON_DEPTH)}`) as unknown },
    }),
  ];
  for (const body of bodies) {
    const answer = await rawRequest(server.port, {
      method: 'POST',
      path: '/task',
      headers: { ...ADA, ...JSON_TYPE },
      body,
    });
    assertRefused(answer, 400, 'TH_REQUEST_INVALID');
    assert.equal(answer.body?.error, `body: JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
  }
  // Within the limit, nesting is a value like any other.
  const within = JSON.parse(`${'['.repeat(MAX_JSON_DEPTH - 3)}${']'.repeat(MAX_JSON_DEPTH - 3)}`) as unknown;
  assert.equal(
    (await server.request('POST', '/plugin/echo-data/run', { data: { within } }, ADA)).status,
    200,
  );
  await assertIntact(tasks);
});

test('../ in plugin and template names: refused or not found, never a file outside, never a 500', async () => {
  const tasks = await taskCount();
  const attempts: [string, string, unknown?][] = [
    ['GET', '/template/..%2F..%2F..%2Fetc%2Fpasswd'],
    ['GET', '/template/..%2Fplain'],
    ['GET', '/function/..%2F..%2Fetc%2Fpasswd'],
    ['POST', '/task', { template_name: '../plain', input: {} }],
    ['POST', '/task', { template_name: '../../../../etc/passwd', input: {} }],
    ['POST', '/batch', { template_name: '../plain', inputs: [{}] }],
    ['GET', '/plugin/..%2Fecho-data'],
    ['POST', '/plugin/..%2F..%2F..%2Fbin%2Fsh/run', { data: {} }],
    ['POST', '/plugin', { name: '../evil', location: fixturePath('echo-data.sh') }],
    ['POST', '/plugin', { name: '..', location: fixturePath('echo-data.sh') }],
    ['DELETE', '/plugin/..%2Fecho-data'],
    ['DELETE', '/plugin/..'],
  ];
  for (const [method, path, body] of attempts) {
    const answer = await server.request(method, path, body, ADA);
    assert.ok([400, 404].includes(answer.status), `${method} ${path}: ${answer.status} ${answer.text}`);
    assert.match(String((answer.body as { code?: string } | undefined)?.code), /^TH_[A-Z_]+$/, answer.text);
  }
  // Unencoded, the client's own path resolution is bypassed: the server sees the dots.
  for (const path of ['/template/../../etc/passwd', '/plugin/../../etc/passwd', '/task/../../etc/passwd']) {
    const answer = await rawRequest(server.port, { path, headers: ADA });
    assert.ok([400, 404].includes(answer.status), `${path}: ${answer.status} ${answer.text}`);
    assert.ok(!answer.text.includes('root:'), path);
  }
  const plugins = (await server.request('GET', '/plugin', undefined, ADA)).body as unknown as {
    name: string;
  }[];
  assert.deepEqual(
    plugins.map((plugin) => plugin.name),
    ['echo-data'],
  );
  await assertIntact(tasks);
});

test('a burst of wrong passwords is answered 429 for that client, with Retry-After; other clients log in', async () => {
  const tasks = await taskCount();
  const burst = '127.0.0.3';
  const wrong = basic('bob', 'guess');
  for (let attempt = 0; attempt < LOGIN_LIMIT; attempt++) {
    const answer = await rawRequest(server.port, { path: '/plugin', headers: wrong, localAddress: burst });
    assertRefused(answer, 401, 'TH_AUTH_REQUIRED');
  }
  for (const headers of [
    wrong,
    basic('bob', passwordOf('bob')),
    basic('nobody', 'x'),
    { authorization: 'Basic !!!' },
  ]) {
    const limited = await rawRequest(server.port, { path: '/plugin', headers, localAddress: burst });
    assertRefused(limited, 429, 'TH_AUTH_RATE_LIMITED');
    assert.match(String(limited.headers['retry-after']), /^\d+$/);
  }
  // Per client: another address, and this one, log in as before.
  const other = await rawRequest(server.port, {
    path: '/plugin',
    headers: basic('bob', passwordOf('bob')),
    localAddress: '127.0.0.4',
  });
  assert.equal(other.status, 200, other.text);
  assert.equal(
    (await server.request('GET', '/plugin', undefined, basic('bob', passwordOf('bob')))).status,
    200,
  );
  await assertIntact(tasks);
});

test('security headers (helmet) come with every answer, refusals included', async () => {
  for (const answer of [
    await rawRequest(server.port, { path: '/unsecured/mon/ping' }),
    await rawRequest(server.port, { path: '/plugin' }),
    await rawRequest(server.port, { path: '/plugin', headers: { host: 'evil.example.com' } }),
    await rawRequest(server.port, { path: '/ui/', headers: ADA }),
  ]) {
    assert.equal(answer.headers['x-content-type-options'], 'nosniff');
    assert.equal(answer.headers['x-frame-options'], 'SAMEORIGIN');
    assert.match(String(answer.headers['content-security-policy']), /default-src 'self'/);
    assert.doesNotMatch(String(answer.headers['content-security-policy']), /upgrade-insecure-requests/);
  }
});
