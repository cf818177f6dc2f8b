import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { httpAction } from '../../../../src/engine/actions/http.ts';
import {
  actionContext,
  actionFailure,
  closedPort,
  reply,
  startHttpServer,
  type ReceivedRequest,
  type TestHttpServer,
} from '../../../helpers/actions.ts';

/** µTask's `http` builtin (pkg/plugins/builtin/http) against a real server on 127.0.0.1:0. */

/**
 * The routes the tests call: /json, /text, /status/CODE, /redirect (302 to /json), /hang
 * (never answers; `onHang` is told it arrived), /prefixed, /badjson; anything else echoes.
 */
async function server(
  t: TestContext,
  onHang: (request: ReceivedRequest) => void = () => {},
): Promise<TestHttpServer> {
  return startHttpServer(t, (request, response) => {
    const path = request.url.split('?')[0] ?? '';
    if (path === '/json') {
      response.setHeader('Set-Cookie', ['session=abc; Path=/; HttpOnly', 'theme="dark"']);
      reply(response, 200, '{"ok": true, "items": [1, 2]}', {
        'content-type': 'application/json; charset=utf-8',
        'x-request-id': 'r-1',
      });
    } else if (path === '/text') {
      reply(response, 200, 'plain words', { 'content-type': 'text/plain' });
    } else if (path.startsWith('/status/')) {
      reply(response, Number(path.slice('/status/'.length)), '{"error": "nope",\n "detail": "x"}', {
        'content-type': 'application/json',
      });
    } else if (path === '/redirect') {
      reply(response, 302, '', { location: '/json' });
    } else if (path === '/hang') {
      onHang(request);
    } else if (path === '/prefixed') {
      reply(response, 200, `)]}',\n{"a": 1}`, { 'content-type': 'application/json' });
    } else if (path === '/badjson') {
      reply(response, 200, '{"a": ', { 'content-type': 'application/json' });
    } else {
      reply(response, 200, JSON.stringify(request), { 'content-type': 'application/problem+json' });
    }
  });
}

const run = (configuration: unknown): Promise<{ output?: unknown; metadata?: unknown }> =>
  httpAction.run(configuration, actionContext().context);

test('a JSON answer is decoded; HTTPStatus, HTTPHeaders and HTTPCookies are µTask`s metadata', async (t) => {
  const s = await server(t);
  const result = await run({ url: `${s.url}/json`, method: 'GET' });
  assert.deepEqual(result.output, { ok: true, items: [1, 2] });
  const metadata = result.metadata as {
    HTTPStatus: number;
    HTTPHeaders: Record<string, string>;
    HTTPCookies: unknown;
  };
  assert.equal(metadata.HTTPStatus, 200);
  assert.equal(metadata.HTTPHeaders['Content-Type'], 'application/json; charset=utf-8');
  assert.equal(metadata.HTTPHeaders['X-Request-Id'], 'r-1', 'header names are Go`s canonical ones');
  assert.equal(
    metadata.HTTPHeaders['Set-Cookie'],
    'session=abc; Path=/; HttpOnly',
    'the first cookie, as Go`s Get',
  );
  assert.deepEqual(metadata.HTTPCookies, { session: 'abc', theme: 'dark' });
});

test('any other answer is its text, and a +json type is decoded too', async (t) => {
  const s = await server(t);
  assert.equal((await run({ url: `${s.url}/text`, method: 'GET' })).output, 'plain words');
  const echoed = (await run({ url: `${s.url}/echo`, method: 'DELETE' })).output as ReceivedRequest;
  assert.equal(echoed.method, 'DELETE');
});

test('query_parameters are appended to the url`s own, repeats kept; headers are set in order', async (t) => {
  const s = await server(t);
  await run({
    url: `${s.url}/echo?lang=en`,
    method: 'GET',
    query_parameters: [{ name: 'tag', value: 'a' }, { name: 'tag', value: 'b c' }, { name: 'empty' }],
    headers: [
      { name: 'X-Request-Id', value: 'first' },
      { name: 'x-request-id', value: 'second' },
      { name: 'X-Other', value: 42 },
    ],
  });
  const [received] = s.requests;
  assert.equal(received?.url, '/echo?lang=en&tag=a&tag=b+c&empty=');
  assert.equal(received?.headers['x-request-id'], 'second', 'a later header replaces an earlier one');
  assert.equal(received?.headers['x-other'], '42');
});

test('host and path build the target from the host`s scheme and authority', async (t) => {
  const s = await server(t);
  await run({ host: `${s.url}/ignored/base`, path: '/echo/v1?x=1', method: 'GET' });
  await run({ host: s.url, path: 'echo/v2', method: 'GET' });
  assert.deepEqual(
    s.requests.map((request) => request.url),
    ['/echo/v1?x=1', '/echo/v2'],
  );
  assert.equal(
    httpAction.validateConfig?.({ host: s.url, path: '//elsewhere.example/x', method: 'GET' }),
    'configuration.path: "//elsewhere.example/x" names another host than host',
  );
});

test('a body is sent as is, its Content-Type guessed as µTask guesses it unless a header sets it', async (t) => {
  const s = await server(t);
  const post = (body: string, headers: unknown[] = []): Promise<unknown> =>
    run({ url: `${s.url}/echo`, method: 'POST', body, headers });
  await post('{"name": "pablo"}');
  await post('<user><name>pablo</name></user>');
  await post('just text');
  await post('{"a": 1}', [{ name: 'Content-Type', value: 'application/vnd.custom+json' }]);
  assert.deepEqual(
    s.requests.map((request) => [request.method, request.body, request.headers['content-type']]),
    [
      ['POST', '{"name": "pablo"}', 'application/json'],
      ['POST', '<user><name>pablo</name></user>', 'application/xml'],
      ['POST', 'just text', undefined],
      ['POST', '{"a": 1}', 'application/vnd.custom+json'],
    ],
  );
});

test('PUT and PATCH reach the server with their body', async (t) => {
  const s = await server(t);
  await run({ url: `${s.url}/echo`, method: 'PUT', body: 'one' });
  await run({ url: `${s.url}/echo`, method: 'PATCH', body: 'two' });
  assert.deepEqual(
    s.requests.map((request) => `${request.method} ${request.body}`),
    ['PUT one', 'PATCH two'],
  );
});

test('auth.basic and auth.bearer set the Authorization header; a configured header replaces it', async (t) => {
  const s = await server(t);
  await run({ url: `${s.url}/echo`, method: 'GET', auth: { basic: { user: 'ada', password: 's3cr:t' } } });
  await run({ url: `${s.url}/echo`, method: 'GET', auth: { bearer: 'tok-123' } });
  await run({
    url: `${s.url}/echo`,
    method: 'GET',
    auth: { bearer: 'tok-123' },
    headers: [{ name: 'Authorization', value: 'Custom x' }],
  });
  assert.deepEqual(
    s.requests.map((request) => request.headers.authorization),
    [`Basic ${Buffer.from('ada:s3cr:t').toString('base64')}`, 'Bearer tok-123', 'Custom x'],
  );
});

test('4xx is a CLIENT_ERROR and 5xx a SERVER_ERROR, as µTask maps them, keeping output and metadata', async (t) => {
  const s = await server(t);
  const notFound = await actionFailure(run({ url: `${s.url}/status/404`, method: 'GET' }), 'client');
  assert.equal(notFound.message, 'Client error: failed api request: 404: {"error": "nope", "detail": "x"}');
  assert.deepEqual(notFound.output, { error: 'nope', detail: 'x' });
  assert.equal((notFound.metadata as { HTTPStatus: number }).HTTPStatus, 404);
  const teapot = await actionFailure(run({ url: `${s.url}/status/499`, method: 'GET' }), 'client');
  assert.match(teapot.message, /^Client error: failed api request: 499: /);
  const broken = await actionFailure(run({ url: `${s.url}/status/503`, method: 'GET' }), 'server');
  assert.equal(broken.message, 'failed api request: 503: {"error": "nope", "detail": "x"}');
  assert.equal((broken.metadata as { HTTPStatus: number }).HTTPStatus, 503);
  assert.deepEqual((await run({ url: `${s.url}/status/204`, method: 'GET' })).output, '');
});

test('a redirect is the answer (a SERVER_ERROR) unless follow_redirect is true', async (t) => {
  const s = await server(t);
  const stopped = await actionFailure(run({ url: `${s.url}/redirect`, method: 'GET' }), 'server');
  assert.equal(stopped.message, 'failed api request: 302: ');
  const metadata = stopped.metadata as { HTTPStatus: number; HTTPHeaders: Record<string, string> };
  assert.deepEqual([metadata.HTTPStatus, metadata.HTTPHeaders.Location], [302, '/json']);
  const followed = await run({ url: `${s.url}/redirect`, method: 'GET', follow_redirect: 'true' });
  assert.deepEqual(followed.output, { ok: true, items: [1, 2] });
  await actionFailure(run({ url: `${s.url}/redirect`, method: 'GET', follow_redirect: false }), 'server');
});

test('trim_prefix removes a magic prefix before the body is decoded', async (t) => {
  const s = await server(t);
  const result = await run({ url: `${s.url}/prefixed`, method: 'GET', trim_prefix: ")]}',\n" });
  assert.deepEqual(result.output, { a: 1 });
  await actionFailure(run({ url: `${s.url}/prefixed`, method: 'GET' }), 'server');
});

test('a JSON answer that does not decode is a SERVER_ERROR, with the metadata kept', async (t) => {
  const s = await server(t);
  const failure = await actionFailure(run({ url: `${s.url}/badjson`, method: 'GET' }), 'server');
  assert.match(failure.message, /^can't unmarshal body: /);
  assert.equal((failure.metadata as { HTTPStatus: number }).HTTPStatus, 200);
});

test('no answer within timeout is a SERVER_ERROR naming it', async (t) => {
  const s = await server(t);
  const failure = await actionFailure(
    run({ url: `${s.url}/hang`, method: 'GET', timeout: '200ms' }),
    'server',
  );
  assert.equal(
    failure.message,
    `http GET ${s.url}/hang: no complete answer within 200ms (configuration.timeout)`,
  );
  assert.equal(s.requests.length, 1, 'the request was sent');
});

test(
  'aborting the step`s signal stops the request: a SERVER_ERROR naming why',
  { timeout: 60_000 },
  async (t) => {
    const step = actionContext();
    const s = await server(t, () => step.controller.abort('the task was cancelled'));
    const failure = await actionFailure(
      httpAction.run({ url: `${s.url}/hang`, method: 'POST', body: 'x', timeout: '10m' }, step.context),
      'server',
    );
    assert.equal(failure.message, `http POST ${s.url}/hang: cancelled: the task was cancelled`);
  },
);

test('a refused connection is a SERVER_ERROR with its cause', async () => {
  const port = await closedPort();
  const failure = await actionFailure(run({ url: `http://127.0.0.1:${port}/x`, method: 'GET' }), 'server');
  assert.equal(
    failure.message,
    `http GET http://127.0.0.1:${port}/x: can't do HTTP request: connect ECONNREFUSED 127.0.0.1:${port}`,
  );
});

test('the configuration is checked as µTask checks it, naming the field', async () => {
  const check = (configuration: unknown): string | undefined => httpAction.validateConfig?.(configuration);
  const url = 'https://example.org/x';
  const cases: Array<[unknown, string]> = [
    [
      { url, method: 'FETCH' },
      'configuration.method: must be one of GET, POST, PUT, DELETE, PATCH, not "FETCH"',
    ],
    [{ url }, 'configuration.method: is missing'],
    [{ method: 'GET' }, 'configuration.url: is missing (or give host and path)'],
    [
      { url, host: 'https://a', method: 'GET' },
      'configuration.url: conflicts with host and path: give url, or host and path',
    ],
    [
      { url: 'example.org/x', method: 'GET' },
      'configuration.url: "example.org/x" is not an absolute URL (https://host/path)',
    ],
    [
      { url: 'file:///etc/passwd', method: 'GET' },
      'configuration.url: "file:///etc/passwd" is not an http or https URL',
    ],
    [{ url, method: 'GET', headers: [{ value: 'x' }] }, 'configuration.headers[0].name: is missing'],
    [
      { url, method: 'GET', query_parameters: [{ name: '' }] },
      'configuration.query_parameters[0].name: is empty',
    ],
    [{ url, method: 'GET', headers: { a: 'b' } }, 'configuration.headers: must be a list, not a map'],
    [{ url, method: 'GET', auth: { basic: { user: 'u' } } }, 'configuration.auth.basic.password: is missing'],
    [{ url, method: 'GET', auth: { bearer: '' } }, 'configuration.auth.bearer: is empty'],
    [
      { url, method: 'GET', auth: { basic: { user: 'u', password: 'p' }, bearer: 't' } },
      'configuration.auth.basic, bearer: are exclusive: keep one authentication',
    ],
    [
      { url, method: 'GET', auth: { digest: { user: 'u', password: 'p' } } },
      'configuration.auth.digest: digest authentication is not supported by taskhost',
    ],
    [
      { url, method: 'GET', auth: { mutual_tls: {} } },
      `configuration.auth.mutual_tls: is not supported by taskhost's http action (Node's fetch takes no TLS settings per request)`,
    ],
    [
      { url, method: 'GET', insecure_skip_verify: 'true' },
      `configuration.insecure_skip_verify: is not supported by taskhost's http action (Node's fetch takes no TLS settings per request)`,
    ],
    [
      { url, method: 'GET', root_ca: 'PEM' },
      `configuration.root_ca: is not supported by taskhost's http action (Node's fetch takes no TLS settings per request)`,
    ],
    [{ url, method: 'GET', body: 'x' }, 'configuration.body: a GET request cannot carry a body here'],
    [
      { url, method: 'GET', timeout: '5 s' },
      'configuration.timeout: unknown unit " s" in duration "5 s" (units: ns, us, ms, s, m, h)',
    ],
    [
      { url, method: 'GET', follow_redirect: 'yes' },
      'configuration.follow_redirect: must be true or false, not the string "yes"',
    ],
    [
      { url, method: 'GET', heders: [] },
      /^configuration\.heders: unknown field \(did you mean "headers"\?\)/.source,
    ],
  ];
  for (const [configuration, problem] of cases) {
    const found = check(configuration) ?? '';
    if (problem.startsWith('^')) assert.match(found, new RegExp(problem));
    else assert.equal(found, problem);
  }
  assert.equal(check({ url, method: 'GET', insecure_skip_verify: 'false', follow_redirect: 'T' }), undefined);
  const failure = await actionFailure(run({ url, method: 'FETCH' }), 'fatal');
  assert.equal(
    failure.message,
    'configuration.method: must be one of GET, POST, PUT, DELETE, PATCH, not "FETCH"',
  );
});

test('before rendering, templated values are not judged yet', () => {
  assert.equal(
    httpAction.validateConfig?.({
      url: '{{.config.api}}/users',
      method: '{{.input.method}}',
      timeout: '{{.input.timeout}}',
      follow_redirect: '{{.input.follow}}',
      headers: '{{.input.headers}}',
    }),
    undefined,
  );
});

test('the step holds µTask`s resources: socket, and url:HOST', () => {
  assert.deepEqual(httpAction.resources?.({ url: 'https://api.example.org:8443/x', method: 'GET' }), [
    'socket',
    'url:api.example.org:8443',
  ]);
  assert.deepEqual(httpAction.resources?.({ host: 'https://www.ovh.com', path: '/a', method: 'GET' }), [
    'socket',
    'url:www.ovh.com',
  ]);
  assert.deepEqual(httpAction.resources?.({ url: 'not a url', method: 'GET' }), ['socket']);
});
