import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import {
  assertExit,
  assertOneLineError,
  cliEnv,
  startServe,
  stdoutJson,
  taskhost,
  type ServeProcess,
} from '../../helpers/cli.ts';
import { defaultKeysFile, dumpAllRows, ringLabels, streamText } from '../../helpers/encryption.ts';
import { startOwnCluster } from '../../helpers/pg-cluster.ts';
import { fixturePath, tempDir } from '../../helpers/plugin-fixtures.ts';

/**
 * Encryption at rest, end to end (issue "security", acceptance "raw-database test"): a real
 * `taskhost serve` on an external PostgreSQL stores tasks, resolutions, steps, runs, log
 * lines and comments that carry a marker; no row of any table shows it, while the API
 * returns every value. Then a key is added, everything rotated under it, the old key
 * removed, and everything still reads back, after a restart too.
 */

const MARK = `MARK${randomBytes(6).toString('hex')}`;

const MARKED = `name: marked
description: echoes its input through a plugin
title_format: 'ticket {{input.secret}}'
auto_runnable: true
inputs: [{name: secret}]
steps:
  echo:
    action: {type: marker-echo, configuration: {marker: '{{input.secret}}-step'}}
result_format:
  echoed: '{{step.echo.output.echo}}'
`;

const FAILING = `name: failing
description: a step refused by its plugin
title_format: 'failing {{input.secret}}'
auto_runnable: true
inputs: [{name: secret}]
steps:
  refuse:
    action: {type: marker-echo, configuration: {marker: '{{input.secret}}-refused', fail: true}}
`;

const MANUAL = `name: manual
description: waits for a resolver's input
title_format: 'manual {{input.secret}}'
inputs: [{name: secret}]
resolver_inputs: [{name: note}]
steps:
  note:
    action: {type: echo, configuration: {output: {note: '{{resolver_input.note}}'}}}
`;

/** The strings every read must return, and no row may show. */
const EXPECTED = [
  `ticket ${MARK}-a`, // a title
  `${MARK}-a-step-output`, // a step output, a run result, the task result
  `${MARK}-a-step-metadata`, // step metadata
  `${MARK}-b-refused-error`, // a step and run error
  `${MARK}-c-resolver`, // a resolver input
  `${MARK}-run-output`, // a plugin run's result
  `${MARK}-comment`, // a comment
];
const LOGGED = [`${MARK}-a-step-log`, `${MARK}-run-log`];

async function json<T = Record<string, unknown>>(response: Promise<Response>, status = 200): Promise<T> {
  const answer = await response;
  const text = await answer.text();
  assert.equal(answer.status, status, text);
  return JSON.parse(text) as T;
}

function post(url: string, body: unknown): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

/** Polls GET /task/:id until its state is one of `states` (a hang guard bounds it). */
async function taskIn(url: string, id: string, states: readonly string[]): Promise<Record<string, unknown>> {
  for (let attempt = 0; attempt < 1500; attempt++) {
    const task = await json(fetch(`${url}/task/${id}`));
    if (states.includes(task.state as string)) return task;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.fail(`task ${id} never reached ${states.join('|')}`);
}

test('no marker in any row of any table, the API returns them all; key add, rotate, remove the old key, and all still reads back', async (t) => {
  const cluster = await startOwnCluster(t);
  const cwd = tempDir(t);
  fs.mkdirSync(path.join(cwd, 'templates'));
  fs.mkdirSync(path.join(cwd, 'tasks'));
  fs.writeFileSync(path.join(cwd, 'templates', 'marked.yaml'), MARKED);
  fs.writeFileSync(path.join(cwd, 'templates', 'failing.yaml'), FAILING);
  fs.writeFileSync(path.join(cwd, 'templates', 'manual.yaml'), MANUAL);
  fs.copyFileSync(fixturePath('marker-echo.sh'), path.join(cwd, 'tasks', 'marker-echo'));
  fs.chmodSync(path.join(cwd, 'tasks', 'marker-echo'), 0o755);
  const env = cliEnv({ DATABASE_URL: cluster.url, TASKHOST_KEYS_FILE: '' });
  const servers: ServeProcess[] = [];
  const serve = async (): Promise<ServeProcess> => {
    const server = await startServe([], { cwd, env });
    servers.push(server);
    return server;
  };
  t.after(async () => {
    for (const server of servers) {
      server.child.kill('SIGTERM');
      await server.child;
    }
  });
  let server = await serve();
  const keysFile = defaultKeysFile(cwd);
  const [first] = ringLabels(keysFile);
  assert.equal(fs.statSync(keysFile).mode & 0o777, 0o600, 'the ring created on first start is 0600');

  // A task run to DONE, one blocked by a plugin's error, one with a resolver input, a plugin
  // run through the API, and a comment.
  const a = await json<{ id: string }>(
    post(`${server.url}/task`, { template_name: 'marked', input: { secret: `${MARK}-a` } }),
    201,
  );
  const b = await json<{ id: string }>(
    post(`${server.url}/task`, { template_name: 'failing', input: { secret: `${MARK}-b` } }),
    201,
  );
  const c = await json<{ id: string; resolution_id?: string }>(
    post(`${server.url}/task`, { template_name: 'manual', input: { secret: `${MARK}-c` } }),
    201,
  );
  // Creating the resolution starts it (TO_AUTORUN).
  await json(
    post(`${server.url}/resolution`, { task_id: c.id, resolver_inputs: { note: `${MARK}-c-resolver` } }),
    201,
  );
  const run = await json<{ run_id: string }>(
    post(`${server.url}/plugin/marker-echo/run`, { data: { marker: `${MARK}-run` } }),
  );
  await json(post(`${server.url}/task/${a.id}/comment`, { content: `${MARK}-comment` }), 201);
  await taskIn(server.url, a.id, ['DONE']);
  await taskIn(server.url, b.id, ['BLOCKED']);
  await taskIn(server.url, c.id, ['DONE']);

  /** Everything the API answers about these documents, as one text. */
  const readBack = async (url: string): Promise<string> =>
    [
      ...(await Promise.all(
        [a.id, b.id, c.id].map((id) => fetch(`${url}/task/${id}`).then((r) => r.text())),
      )),
      await fetch(`${url}/task/${a.id}/comment`).then((r) => r.text()),
      await fetch(`${url}/run/${run.run_id}`).then((r) => r.text()),
      await fetch(`${url}/task?page_size=50`).then((r) => r.text()),
      await streamText(`${url}/task/${a.id}/stream`),
      await streamText(`${url}/run/${run.run_id}/stream`),
    ].join('\n');
  const assertReadsBack = async (url: string, when: string): Promise<void> => {
    const text = await readBack(url);
    for (const expected of [...EXPECTED, ...LOGGED]) {
      assert.ok(text.includes(expected), `${when}: the API returns ${expected}`);
    }
  };
  const assertNoMarkerInRows = async (when: string): Promise<string> => {
    const dump = await dumpAllRows(cluster.store());
    assert.ok(dump.includes('th1:'), `${when}: the dump holds ciphertexts`);
    const at = dump.indexOf(MARK);
    assert.equal(at, -1, `${when}: a marker in a row: ${dump.slice(Math.max(0, at - 200), at + 100)}`);
    return dump;
  };

  await assertReadsBack(server.url, 'encrypted under the first key');
  await assertNoMarkerInRows('encrypted under the first key');

  // A second key: the newest encrypts; the first cannot go while rows use it.
  const added = await taskhost(['key', 'add'], { cwd, env });
  assertExit(added, 0);
  const second = ringLabels(keysFile)[1] as string;
  assert.match(added.stdout, new RegExp(`added key ${second}`));
  const refused = assertOneLineError(await taskhost(['key', 'remove', first as string], { cwd, env }), 2);
  assert.match(refused, new RegExp(`key ${first} still encrypts stored values`));

  const rotated = await json<{ key: string; rows: number }>(post(`${server.url}/key-rotate`, {}));
  assert.equal(rotated.key, second);
  assert.ok(rotated.rows > 0, 'rows were re-encrypted');
  const listed = stdoutJson<{ label: string; rows: number; newest: boolean }[]>(
    await taskhost(['key', 'list', '--json'], { cwd, env }),
  );
  assert.deepEqual(
    listed.map((key) => [key.label, key.rows > 0, key.newest]),
    [
      [first, false, false],
      [second, true, true],
    ],
  );
  assertExit(await taskhost(['key', 'remove', first as string], { cwd, env }), 0);
  assert.deepEqual(ringLabels(keysFile), [second]);
  assert.equal(fs.statSync(keysFile).mode & 0o777, 0o600, 'the rewritten ring is 0600');

  await assertReadsBack(server.url, 'rotated, old key removed');
  const dump = await assertNoMarkerInRows('rotated, old key removed');
  assert.ok(!dump.includes(`th1:${first}:`), 'no value is left under the removed key');

  // A restarted server reads everything with the ring as it is now.
  server.child.kill('SIGTERM');
  await server.child;
  server = await serve();
  await assertReadsBack(server.url, 'after a restart');
});
