import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CHALLENGE } from '../../../src/api/auth/authenticate.ts';
import { basic, openStream, passwordOf, usersFileWith } from '../../helpers/auth.ts';
import { rawRequest } from '../../helpers/raw-http.ts';
import { startTaskServer } from '../../helpers/task-server.ts';

/**
 * The identity a reverse proxy sets (SPEC section 8, `auth.trusted_header`): believed, with
 * its groups header, only from a peer in `trusted_proxies`. The test server listens on
 * 127.0.0.1, trusts 127.0.0.1/32, and is also called from 127.0.0.2, another loopback
 * address that is not trusted: there the header is ignored (401, or the basic-auth user).
 */

const TEMPLATE = {
  'owned.yaml': `name: owned
description: resolved by the ops group
allowed_resolver_groups: [ops]
steps:
  greet:
    action: {type: echo, configuration: {output: {}}}
`,
};
const security = {
  trustedHeader: 'x-remote-user',
  trustedGroupsHeader: 'x-remote-groups',
  trustedProxies: ['127.0.0.1/32'],
  admins: ['root'],
};
const server = await startTaskServer(TEMPLATE, security);
const UNTRUSTED = '127.0.0.2';

const from = (user: string, groups?: string) => ({
  'x-remote-user': user,
  ...(groups === undefined ? {} : { 'x-remote-groups': groups }),
});

test('from a trusted proxy the header is the caller, its groups header their groups, admins by name', async () => {
  const created = await server.request('POST', '/task', { template_name: 'owned', input: {} }, from('rex'));
  assert.equal(created.status, 201, created.text);
  assert.equal(created.body.requester, 'rex');
  const id = created.body.id as string;
  // rita resolves through her group, as the proxy says it; sam has no part in the task.
  assert.equal(
    (await server.request('GET', `/task/${id}`, undefined, from('rita', 'sales, ops'))).status,
    200,
  );
  assert.equal((await server.request('GET', `/task/${id}`, undefined, from('rita', 'sales'))).status, 403);
  assert.equal((await server.request('GET', `/task/${id}`, undefined, from('sam'))).status, 403);
  assert.equal((await server.request('DELETE', `/task/${id}`, undefined, from('sam'))).status, 403);
  assert.equal((await server.request('DELETE', `/task/${id}`, undefined, from('root'))).status, 204);
  // A trusted peer without the header has no identity.
  const none = await server.request('GET', '/plugin');
  assert.equal(none.status, 401);
  assert.equal(none.headers.get('www-authenticate'), CHALLENGE);
});

test('from an untrusted peer the header is ignored: 401 over HTTP and WebSocket, nothing changed', async () => {
  const created = await server.request('POST', '/task', { template_name: 'owned', input: {} }, from('rex'));
  const id = created.body.id as string;
  const answers = [
    await rawRequest(server.port, { path: '/plugin', headers: from('root'), localAddress: UNTRUSTED }),
    await rawRequest(server.port, {
      method: 'DELETE',
      path: `/task/${id}`,
      headers: from('root'),
      localAddress: UNTRUSTED,
    }),
  ];
  for (const answer of answers) {
    assert.equal(answer.status, 401, answer.text);
    assert.equal(answer.headers['www-authenticate'], CHALLENGE);
    assert.equal(answer.body?.code, 'TH_AUTH_REQUIRED');
  }
  const url = `ws://127.0.0.1:${server.port}/task/${id}/stream`;
  assert.equal((await openStream(url, from('root'))).status, 101, 'a trusted peer opens the stream');
  const refused = await openStream(url, from('root'), UNTRUSTED);
  assert.equal(refused.status, 401);
  assert.equal(refused.headers['www-authenticate'], CHALLENGE);
  assert.equal(
    (await server.request('GET', `/task/${id}`, undefined, from('root'))).status,
    200,
    'not deleted',
  );
});

test('with a users file as well, an untrusted peer is whoever its basic auth says, never its header', async () => {
  const usersFile = await usersFileWith({ sam: [] });
  const both = await startTaskServer(TEMPLATE, { ...security, usersFile });
  const created = await rawRequest(both.port, {
    method: 'POST',
    path: '/task',
    headers: { ...from('root'), ...basic('sam', passwordOf('sam')), 'content-type': 'application/json' },
    body: JSON.stringify({ template_name: 'owned', input: {} }),
    localAddress: UNTRUSTED,
  });
  assert.equal(created.status, 201, created.text);
  assert.equal(created.body?.requester, 'sam');
  // The trusted proxy's header still names the caller, without a password.
  const proxied = await both.request('POST', '/task', { template_name: 'owned', input: {} }, from('rex'));
  assert.equal(proxied.body.requester, 'rex');
});
