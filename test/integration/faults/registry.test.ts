import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertExit, assertOneLineError, cliEnv, stdoutJson, taskhost } from '../../helpers/cli.ts';
import { startTestServer, type Envelope, type ErrorBody } from '../../helpers/api-server.ts';
import { fixturePath } from '../../helpers/plugin-fixtures.ts';

/**
 * Issue "plugin host under faults", items 10, 12 and 14: validators compiled from the stored
 * schema (never code read from the database), draft-04 schemas, and Unicode plugin names,
 * over the real API and the real CLI.
 */

const server = await startTestServer();
const env = cliEnv({ DATABASE_URL: server.db.url });

test('10: the registry holds no code; a run validates against the schema as stored, whoever stored it', async () => {
  const { rows: columns } = await server.db.store.query<{ column_name: string }>(
    `SELECT column_name FROM information_schema.columns WHERE table_name = 'plugin' ORDER BY ordinal_position`,
  );
  assert.deepEqual(
    columns.map((column) => column.column_name),
    ['name', 'location', 'description', 'source', 'registered_at', 'updated_at'],
  );
  await server.register('echo-data', 'echo-data.sh');
  const first = await server.request<Envelope>('POST', '/plugin/echo-data/run', { data: { anything: 1 } });
  assert.equal(first.status, 200);
  // Another instance stores a stricter schema: this one follows it at the next run.
  await server.db.store.query(
    `UPDATE plugin SET description = jsonb_set(description, '{inputs}', $1::jsonb) WHERE name = 'echo-data'`,
    [JSON.stringify({ type: 'object', required: ['who'], properties: { who: { type: 'string' } } })],
  );
  const refused = await server.request<ErrorBody>('POST', '/plugin/echo-data/run', { data: { anything: 1 } });
  assert.equal(refused.status, 400);
  assert.equal(refused.body.code, 'TH_PLUGIN_DATA_INVALID');
  assert.match(refused.body.error, /body\/data must have property "who"/);
});

test('12: a draft-04 plugin (boolean exclusiveMinimum, id) registers from the CLI and its inputs are enforced', async () => {
  const registered = await taskhost(
    ['register', '-name', 'payment', '-location', fixturePath('draft04-schema.sh')],
    { env },
  );
  assertExit(registered, 0);
  const refused = await taskhost(['execute', '-name', 'payment', '-taskArgs', '{"amount": 0}'], { env });
  assert.match(assertOneLineError(refused, 2), /\/amount must be > 0/);
  const ran = await taskhost(['execute', '-name', 'payment', '-taskArgs', '{"amount": 12.5}'], { env });
  assertExit(ran, 0);
  assert.deepEqual(stdoutJson<Envelope>(ran).payload, { amount: 12.5 });
});

test('14: a Unicode plugin name registers, is found percent-encoded in URLs, and runs from the CLI', async () => {
  const name = 'météo-天気';
  const created = await server.request<{ name: string }>('POST', '/plugin', {
    name,
    location: fixturePath('ok.sh'),
  });
  assert.equal(created.status, 201, created.text);
  assert.equal(created.body.name, name);
  const encoded = encodeURIComponent(name);
  assert.equal(encoded, 'm%C3%A9t%C3%A9o-%E5%A4%A9%E6%B0%97');
  const found = await server.request<{ name: string }>('GET', `/plugin/${encoded}`);
  assert.equal(found.status, 200);
  assert.equal(found.body.name, name);
  const ran = await server.request<Envelope>('POST', `/plugin/${encoded}/run`, { data: { name: 'ada' } });
  assert.equal(ran.body.state, 'DONE');
  // The same name written decomposed (e + combining acute) is the same plugin.
  const decomposed = name.normalize('NFD');
  assert.notEqual(decomposed, name);
  const cli = await taskhost(['execute', '-name', decomposed, '-taskArgs', '{"name": "ada"}'], { env });
  assertExit(cli, 0);
  const listed = await server.request<{ name: string }[]>('GET', '/plugin');
  assert.equal(listed.body.filter((plugin) => plugin.name.normalize('NFC') === name).length, 1);
});

test('14: names with "/", whitespace or control characters are refused, by the API and by the CLI', async () => {
  for (const name of ['a/b', 'two words', 'tab\there', 'bell\u0007', '-leading-dash', '']) {
    const response = await server.request<ErrorBody>('POST', '/plugin', {
      name,
      location: fixturePath('ok.sh'),
    });
    assert.equal(response.status, 400, `${JSON.stringify(name)}: ${response.text}`);
  }
  const refused = await taskhost(['register', '--name', 'two words', '--location', fixturePath('ok.sh')], {
    env,
  });
  assert.match(assertOneLineError(refused, 2), /invalid plugin name "two words"/);
});
