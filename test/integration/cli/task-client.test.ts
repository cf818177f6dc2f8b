import assert from 'node:assert/strict';
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
} from '../../helpers/cli.ts';
import { tempDir } from '../../helpers/plugin-fixtures.ts';
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
  const cwd = tempDir(t);
  fs.mkdirSync(path.join(cwd, 'templates'));
  fs.writeFileSync(path.join(cwd, 'templates', 'greeter.yaml'), TEMPLATE);
  const server = await startServe([], { cwd, env: cliEnv({ DATABASE_URL: database.url }) });
  t.after(async () => {
    server.child.kill('SIGTERM');
    await server.child;
  });
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
