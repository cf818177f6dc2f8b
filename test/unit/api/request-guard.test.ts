import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPeerIn, trustedPeers } from '../../../src/api/auth/authenticate.ts';
import { exceedsDepth, hostName, isAllowedHost } from '../../../src/api/auth/request-guard.ts';

/** The Host rule (loopback names with any port, or allowed_hosts), the JSON depth walk, and trusted_proxies ranges. */

test('Host: the loopback names with any port, the allowed hosts by name or name:port, nothing else', () => {
  const allowed = ['taskhost.example.com', 'ops.example.com:8443'];
  const table = Object.fromEntries(
    [
      'localhost',
      'LOCALHOST:8081',
      '127.0.0.1:1',
      '[::1]',
      '[::1]:8081',
      'taskhost.example.com',
      'taskhost.example.com:80',
      'ops.example.com:8443',
      'ops.example.com',
      'ops.example.com:80',
      '127.0.0.2',
      '::1',
      'localhost.evil.com',
      'evil.com',
      '',
    ].map((host) => [host, isAllowedHost(host, allowed)]),
  );
  assert.deepEqual(table, {
    localhost: true,
    'LOCALHOST:8081': true,
    '127.0.0.1:1': true,
    '[::1]': true,
    '[::1]:8081': true,
    'taskhost.example.com': true,
    'taskhost.example.com:80': true,
    'ops.example.com:8443': true,
    'ops.example.com': false,
    'ops.example.com:80': false,
    '127.0.0.2': false,
    '::1': false,
    'localhost.evil.com': false,
    'evil.com': false,
    '': false,
  });
  assert.equal(isAllowedHost(undefined, allowed), false);
  assert.equal(hostName('[::1]:8081'), '[::1]');
});

test('exceedsDepth walks without recursion and stops at the limit', () => {
  assert.equal(exceedsDepth({ a: [1, { b: 2 }] }, 3), false);
  assert.equal(exceedsDepth({ a: [1, { b: {} }] }, 3), true);
  assert.equal(exceedsDepth('text', 0), false);
  let deep: unknown = 1;
  for (let level = 0; level < 200_000; level++) deep = [deep];
  assert.equal(exceedsDepth(deep, 64), true);
});

test('trusted_proxies: addresses and CIDR ranges, IPv4 peers seen as IPv4-mapped IPv6 included', () => {
  const peers = trustedPeers(['10.1.0.0/16', '192.0.2.7', '::1/128']);
  assert.equal(isPeerIn(peers, '10.1.200.3'), true);
  assert.equal(isPeerIn(peers, '::ffff:10.1.0.9'), true);
  assert.equal(isPeerIn(peers, '10.2.0.1'), false);
  assert.equal(isPeerIn(peers, '192.0.2.7'), true);
  assert.equal(isPeerIn(peers, '192.0.2.8'), false);
  assert.equal(isPeerIn(peers, '::1'), true);
  assert.equal(isPeerIn(peers, undefined), false);
  assert.throws(() => trustedPeers(['example.com']), { code: 'TH_CONFIG_INVALID' });
});
