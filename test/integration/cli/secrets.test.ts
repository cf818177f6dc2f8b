import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import WebSocket from 'ws';
import { assertExit, cliEnv, startServe, taskhost } from '../../helpers/cli.ts';
import { fixturePath, tempDir } from '../../helpers/plugin-fixtures.ts';
import { until } from '../../helpers/processes.ts';
import { createTestDatabase } from '../../helpers/store.ts';

/**
 * A `config` item marked `secret` (SPEC section 8) reaches the steps that use it, and is
 * concealed as `***` wherever it leaves the engine: a step's output and metadata, a plugin's
 * log line and result, a step's error, the task's result; so in the API, the task stream,
 * the CLI, the server's log and every stored row.
 */

const database = await createTestDatabase();
const SECRET = 'tok-5ecret-9431';
const HANG_GUARD = 60_000;

const SETTINGS = `config:
  payments_token: {value: "${SECRET}", secret: true}
  payments_api: {value: {url: "https://pay.example/api"}}
`;

const LEAKY = `name: leaky
description: every step repeats the token
auto_runnable: true
result_format: {said: '{{step.out.output.token}}', direct: '{{config.payments_token}}'}
steps:
  out:
    action:
      type: echo
      configuration:
        output: {token: 'the token is {{config.payments_token}}', api: '{{config.payments_api.url}}'}
        metadata: {note: 'meta {{config.payments_token}}'}
  plug:
    dependencies: [out]
    action:
      type: reference-bash
      configuration: {user: u, cmd: 'pay --token {{config.payments_token}}', requestId: r1}
`;

const FAILING = `name: failing
description: fails naming the token
auto_runnable: true
steps:
  fail:
    action:
      type: echo
      configuration: {output: {}, error_message: 'refused {{config.payments_token}}', error_type: client}
`;

/** Every message of a task's stream, as text, until the server closes it. */
function streamText(url: string, id: string): Promise<string> {
  const socket = new WebSocket(`${url.replace('http', 'ws')}/task/${id}/stream`);
  const messages: string[] = [];
  return new Promise((resolve, reject) => {
    socket.on('message', (data: Buffer) => messages.push(data.toString('utf8')));
    socket.on('error', reject);
    socket.on('close', () => resolve(messages.join('\n')));
  });
}

async function create(url: string, template: string): Promise<string> {
  const response = await fetch(`${url}/task`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ template_name: template, input: {} }),
  });
  assert.equal(response.status, 201);
  return ((await response.json()) as { id: string }).id;
}

async function settledDocument(url: string, id: string, state: string): Promise<string> {
  const text = await until(async () => {
    const body = await (await fetch(`${url}/task/${id}`)).text();
    return (JSON.parse(body) as { state: string }).state === state ? body : undefined;
  }, HANG_GUARD);
  assert.ok(text, `task ${id} reached ${state}`);
  return text;
}

test('a secret config value is used by the steps and appears only as *** in the API, the stream, the CLI, the log and the store', async (t) => {
  const cwd = tempDir(t);
  fs.writeFileSync(path.join(cwd, 'taskhost.yaml'), SETTINGS);
  fs.mkdirSync(path.join(cwd, 'templates'));
  fs.writeFileSync(path.join(cwd, 'templates', 'leaky.yaml'), LEAKY);
  fs.writeFileSync(path.join(cwd, 'templates', 'failing.yaml'), FAILING);
  fs.mkdirSync(path.join(cwd, 'tasks'));
  fs.symlinkSync(fixturePath('reference-bash.sh'), path.join(cwd, 'tasks', 'reference-bash.sh'));
  const server = await startServe([], { cwd, env: cliEnv({ DATABASE_URL: database.url }) });
  t.after(async () => {
    server.child.kill('SIGTERM');
    await server.child;
  });

  const leaky = await create(server.url, 'leaky');
  const streamed = await streamText(server.url, leaky);
  const document = await settledDocument(server.url, leaky, 'DONE');
  const parsed = JSON.parse(document) as {
    result: unknown;
    steps: Record<string, { output: unknown; metadata: unknown }>;
  };
  // The steps had the real value: the mask replaced it where it was, nothing else.
  assert.deepEqual(parsed.steps.out?.output, {
    token: 'the token is ***',
    api: 'https://pay.example/api',
  });
  assert.deepEqual(parsed.steps.out?.metadata, { note: 'meta ***' });
  assert.deepEqual(parsed.result, { said: 'the token is ***', direct: '***' });
  assert.match(
    streamed,
    /"cmd": \\"pay --token \*\*\*\\"|pay --token \*\*\*/,
    'the plugin logged its data, masked',
  );

  const failing = await create(server.url, 'failing');
  const failed = JSON.parse(await settledDocument(server.url, failing, 'BLOCKED')) as {
    steps: Record<string, { error: string | null }>;
  };
  assert.equal(failed.steps.fail?.error, 'refused ***');

  const env = cliEnv({ TASKHOST_SERVER: server.url });
  // A task that did not end DONE: `task show` exits 1 (cli/commands/task.ts).
  const shown = await taskhost(['task', 'show', failing], { env, cwd });
  assertExit(shown, 1);
  assert.match(shown.stdout, /refused \*\*\*/);
  const json = await taskhost(['task', 'show', leaky, '--json'], { env, cwd });
  assertExit(json, 0);
  assert.match(json.stdout, /the token is \*\*\*/);
  const runs = await (await fetch(`${server.url}/run?page_size=100`)).text();

  const { rows } = await database.store.query<{ dump: string }>(
    `SELECT string_agg(row_text, E'\\n') AS dump FROM (
       SELECT t::text AS row_text FROM task t UNION ALL SELECT r::text FROM resolution_step r
       UNION ALL SELECT e::text FROM event e UNION ALL SELECT r::text FROM run r) AS rows`,
  );
  const seen = {
    document,
    streamed,
    failing: JSON.stringify(failed),
    cli: shown.stdout + shown.stderr + json.stdout + json.stderr,
    runs,
  };
  for (const [where, text] of Object.entries({ ...seen, log: server.stderr(), store: rows[0]?.dump ?? '' })) {
    assert.ok(!text.includes(SECRET), `the secret appears in ${where}`);
  }
});
