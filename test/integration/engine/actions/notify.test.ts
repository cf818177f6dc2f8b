import assert from 'node:assert/strict';
import { test } from 'node:test';
import { notifyAction } from '../../../../src/engine/actions/notify.ts';
import {
  actionContext,
  actionFailure,
  closedPort,
  reply,
  startHttpServer,
} from '../../../helpers/actions.ts';

/**
 * The `notify` builtin: µTask's notify step sent through µTask's webhook backend, against a
 * real server on 127.0.0.1:0.
 */

const run = (configuration: unknown): Promise<{ output?: unknown; metadata?: unknown }> =>
  notifyAction.run(configuration, actionContext().context);

test('the message and its fields are POSTed as µTask`s webhook backend sends them', async (t) => {
  const s = await startHttpServer(t, (_request, response) => reply(response, 200, 'ok'));
  const result = await run({
    url: `${s.url}/hooks/deploy?channel=ops`,
    message: 'Hello World!',
    fields: { randomfield: 'urgent', language: 'english', count: 3 },
  });
  assert.deepEqual(result, { metadata: { HTTPStatus: 200 } });
  const [received] = s.requests;
  assert.equal(received?.method, 'POST');
  assert.equal(received?.url, '/hooks/deploy?channel=ops');
  assert.equal(received?.headers['content-type'], 'application/json');
  assert.equal(received?.headers.authorization, undefined);
  assert.deepEqual(JSON.parse(received?.body ?? ''), {
    message: 'Hello World!',
    notification_type: '',
    randomfield: 'urgent',
    language: 'english',
    count: '3',
  });
});

test('headers are sent, and username and password become basic auth, replacing an Authorization header', async (t) => {
  const s = await startHttpServer(t, (_request, response) => reply(response, 204, ''));
  await run({
    url: s.url,
    message: 'm',
    headers: {
      'X-Specific-Header': 'foobar',
      'content-type': 'application/vnd.hook+json',
      Authorization: 'x',
    },
    username: 'foo',
    password: 'very-secret',
  });
  const [received] = s.requests;
  assert.equal(received?.headers['x-specific-header'], 'foobar');
  assert.equal(
    received?.headers['content-type'],
    'application/vnd.hook+json',
    'a header replaces the JSON type',
  );
  assert.equal(received?.headers.authorization, `Basic ${Buffer.from('foo:very-secret').toString('base64')}`);
});

test('a field may replace the message, as in µTask', async (t) => {
  const s = await startHttpServer(t, (_request, response) => reply(response, 200, ''));
  await run({ url: s.url, message: 'original', fields: { message: 'replaced' } });
  assert.equal((JSON.parse(s.requests[0]?.body ?? '') as { message: string }).message, 'replaced');
});

test('any answer but 2xx is a SERVER_ERROR naming the status and the start of the body', async (t) => {
  const s = await startHttpServer(t, (request, response) => {
    const status = Number(request.url.slice(1));
    reply(response, status, status === 500 ? 'database\n  is down' : 'x'.repeat(400));
  });
  const down = await actionFailure(run({ url: `${s.url}/500`, message: 'm' }), 'server');
  assert.equal(down.message, 'notify: the webhook answered 500: database is down');
  assert.deepEqual(down.metadata, { HTTPStatus: 500 });
  const refused = await actionFailure(run({ url: `${s.url}/403`, message: 'm' }), 'server');
  assert.equal(refused.message, `notify: the webhook answered 403: ${'x'.repeat(300)}…`);
  await actionFailure(run({ url: `${s.url}/304`, message: 'm' }), 'server');
});

test('a redirect is followed to the webhook`s new address', async (t) => {
  const s = await startHttpServer(t, (request, response) => {
    if (request.url === '/old') reply(response, 307, '', { location: '/new' });
    else reply(response, 200, '');
  });
  assert.deepEqual(await run({ url: `${s.url}/old`, message: 'moved' }), { metadata: { HTTPStatus: 200 } });
  assert.deepEqual(
    s.requests.map((request) => `${request.method} ${request.url} ${request.body}`),
    [
      'POST /old {"message":"moved","notification_type":""}',
      'POST /new {"message":"moved","notification_type":""}',
    ],
  );
});

test(
  'no answer within timeout, a refused connection, or a cancelled step are SERVER_ERRORs',
  { timeout: 60_000 },
  async (t) => {
    const step = actionContext();
    const s = await startHttpServer(t, (request) => {
      if (request.url === '/cancel') step.controller.abort('taskhost received SIGTERM');
    });
    const late = await actionFailure(run({ url: `${s.url}/late`, message: 'm', timeout: '150ms' }), 'server');
    assert.equal(
      late.message,
      `notify ${s.url}/late: no complete answer within 150ms (configuration.timeout)`,
    );
    const cancelled = await actionFailure(
      notifyAction.run({ url: `${s.url}/cancel`, message: 'm', timeout: '10m' }, step.context),
      'server',
    );
    assert.equal(cancelled.message, `notify ${s.url}/cancel: cancelled: taskhost received SIGTERM`);
    const port = await closedPort();
    const refused = await actionFailure(run({ url: `http://127.0.0.1:${port}/`, message: 'm' }), 'server');
    assert.match(refused.message, /can't do HTTP request: connect ECONNREFUSED/);
  },
);

test('the configuration is checked, naming the field; µTask`s backends are refused with what to give', async () => {
  const check = (configuration: unknown): string | undefined => notifyAction.validateConfig?.(configuration);
  const url = 'https://hooks.example.org/x';
  assert.equal(
    check({ message: 'm', backends: ['slack'] }),
    "configuration.backends: taskhost has no named notifiers: give the webhook's url instead",
  );
  assert.equal(check({ message: 'm' }), 'configuration.url: is missing');
  assert.equal(
    check({ url: 'ftp://x/y', message: 'm' }),
    'configuration.url: "ftp://x/y" is not an http or https URL',
  );
  assert.equal(check({ url, username: 'u' }), 'configuration.password: is missing (basic auth needs both)');
  assert.equal(check({ url, fields: ['a'] }), 'configuration.fields: must be a map, not a list');
  assert.equal(
    check({ url, fields: { a: { b: 1 } } }),
    'configuration.fields.a: must be a string, not a map',
  );
  assert.equal(
    check({ url, headers: 'X: y' }),
    'configuration.headers: must be a map, not the string "X: y"',
  );
  assert.equal(check({ url, timeout: '0s' }), 'configuration.timeout: must be positive, not "0s"');
  assert.match(
    check({ url, mesage: 'm' }) ?? '',
    /^configuration\.mesage: unknown field \(did you mean "message"\?\)/,
  );
  assert.equal(
    check({ url: '{{.config.hook}}', message: '{{.input.text}}', timeout: '{{.input.t}}' }),
    undefined,
  );
  const failure = await actionFailure(run({ url: '{{.config.hook}}', message: 'm' }), 'fatal');
  assert.equal(
    failure.message,
    'configuration.url: "{{.config.hook}}" is not an absolute URL (https://host/path)',
  );
});
