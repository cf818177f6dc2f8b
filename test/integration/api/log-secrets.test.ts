import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { startTestServer } from '../../helpers/api-server.ts';

/**
 * The server's log conceals the secret `config` values (SPEC section 8): whatever a line
 * carries (a message, an error's message and stack, a field, in its JSON-escaped form), the
 * secret is written as `***`.
 */

const SECRET = 'pa$$ "quoted" s3cr3t';
const lines: string[] = [];
const logStream = new PassThrough();
logStream.on('data', (chunk: Buffer) => lines.push(...chunk.toString('utf8').split('\n').filter(Boolean)));
const server = await startTestServer({ logLevel: 'info' }, { logStream, secrets: [SECRET] });

test('a log line naming a secret, in its message, an error and a field, shows *** instead', async () => {
  const error = new Error(`the payments API refused ${SECRET}`);
  server.app.log.error({ err: error, token: SECRET }, `calling with ${SECRET}`);
  // A request is logged too (level info): the line of this one proves the stream flushed.
  const ping = await server.request('GET', '/unsecured/mon/ping');
  assert.equal(ping.status, 200);
  const text = await new Promise<string>((resolve) => {
    const check = (): void => {
      const all = lines.join('\n');
      if (all.includes('/unsecured/mon/ping')) resolve(all);
      else logStream.once('data', () => setImmediate(check));
    };
    check();
  });
  const logged = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  const entry = logged.find((line) => String(line.msg).startsWith('calling with'));
  assert.ok(entry, 'the error was logged');
  assert.equal(entry.msg, 'calling with ***');
  assert.equal(entry.token, '***');
  assert.match(String((entry.err as { message: string }).message), /refused \*\*\*$/);
  assert.ok(!text.includes(SECRET) && !text.includes(JSON.stringify(SECRET).slice(1, -1)), text);
});
