import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ResultPromise } from 'execa';
import {
  assertExit,
  assertOneLineError,
  cliEnv,
  cliResult,
  serveTemplates,
  startTaskhost,
  stdoutJson,
  taskhost,
} from '../../helpers/cli.ts';
import { createTestDatabase } from '../../helpers/store.ts';

/** `taskhost task create|list|show|watch` against a real `taskhost serve`. */

const database = await createTestDatabase();

const TEMPLATE = `name: greeter
description: greets, then fails when asked to
auto_runnable: true
inputs:
  - {name: who}
  - {name: fail, type: bool, optional: true, default: false}
steps:
  greet:
    action: {type: echo, configuration: {output: {text: 'hello {{input.who}}'}}}
  check:
    dependencies: [greet]
    action:
      type: echo
      configuration:
        output: {}
        error_message: '{{#if input.fail}}asked to fail{{/if}}'
        error_type: client
`;

test('task create --watch, list, show and watch against a server; errors are one line', async (t) => {
  const server = await serveTemplates(t, database.url, { 'greeter.yaml': TEMPLATE });
  const { cwd } = server;
  const env = cliEnv({ TASKHOST_SERVER: server.url });

  const watched = await taskhost(['task', 'create', 'greeter', '--input', 'who=ann', '--watch'], {
    env,
    cwd,
  });
  assertExit(watched, 0);
  assert.match(watched.stdout, /── step greet DONE/);
  assert.match(watched.stdout, /── task DONE/);
  const taskId = /task ([0-9a-f-]{36})/.exec(watched.stderr)?.[1] as string;

  const failing = await taskhost(
    ['task', 'create', 'greeter', '--input', 'who=bo', '--input', 'fail=true', '--watch'],
    {
      env,
      cwd,
    },
  );
  assertExit(failing, 1);
  assert.match(failing.stdout, /── step check CLIENT_ERROR: asked to fail/);

  const listed = stdoutJson<{ id: string; state: string }[]>(
    await taskhost(['task', 'list', '--json'], { env, cwd }),
  );
  assert.deepEqual(
    listed.map((task) => task.state),
    ['BLOCKED', 'DONE'],
  );
  const shown = await taskhost(['task', 'show', taskId], { env, cwd });
  assertExit(shown, 0);
  assert.match(shown.stdout, /greet +DONE/);
  assertExit(await taskhost(['task', 'watch', taskId], { env, cwd }), 0);

  const created = await taskhost(['task', 'create', 'greeter', '--input', 'who=cy'], { env, cwd });
  assertExit(created, 0);
  assert.match(created.stdout, /^[0-9a-f-]{36}\n$/);

  const unknown = assertOneLineError(
    await taskhost(['task', 'show', '00000000-0000-0000-0000-000000000000'], { env, cwd }),
    2,
  );
  assert.match(unknown, /no task/);
  const badInput = assertOneLineError(await taskhost(['task', 'create', 'greeter'], { env, cwd }), 2);
  assert.match(badInput, /input\.who: missing/);
  const down = assertOneLineError(
    await taskhost(['task', 'list'], { env: cliEnv({ TASKHOST_SERVER: 'http://127.0.0.1:9' }), cwd }),
    1,
  );
  assert.match(down, /cannot reach the taskhost server/);
});

/** Resolves with a running command's stdout once it matches `pattern`; rejects if it ends first. */
function printed(running: ResultPromise, pattern: RegExp): Promise<string> {
  let text = '';
  return new Promise((resolve, reject) => {
    running.stdout?.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (pattern.test(text)) resolve(text);
    });
    void running.then(
      () => reject(new Error(`ended before printing ${pattern}: ${text}`)),
      (error: unknown) => reject(error as Error),
    );
  });
}

test('task watch of a task whose template is not auto_runnable says what it waits for, then follows it once run', async (t) => {
  const server = await serveTemplates(t, database.url, {
    'manual.yaml': TEMPLATE.replace('name: greeter', 'name: manual').replace('auto_runnable: true\n', ''),
  });
  const { cwd } = server;
  const env = cliEnv({ TASKHOST_SERVER: server.url });
  const taskId = (
    await taskhost(['task', 'create', 'manual', '--input', 'who=di'], { env, cwd })
  ).stdout.trim();
  const document = stdoutJson<{ resolution: { id: string } }>(
    await taskhost(['task', 'show', taskId, '--json'], { env, cwd }),
  );

  const watching = startTaskhost(['task', 'watch', taskId], { env, cwd });
  await printed(watching, /· manual · TODO\n/);

  const run = await fetch(`${server.url}/resolution/${document.resolution.id}/run`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{}',
  });
  assert.equal(run.status, 204);
  const watched = await cliResult(watching);
  assertExit(watched, 0);
  // Said with the snapshot, before anything happened to the task.
  const [header, waiting, next] = watched.stdout.split('\n');
  assert.match(header ?? '', /· manual · TODO$/);
  assert.equal(
    waiting,
    `waiting: manual is not auto_runnable, so the task waits until its resolution is run (POST /resolution/${document.resolution.id}/run, or Run on its dashboard page)`,
  );
  assert.equal(next, '── task TODO');
  assert.match(watched.stdout, /── task DONE/);
});
