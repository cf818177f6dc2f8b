import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import type { TaskDocument } from '../../../src/engine/tasks.ts';
import { assertExit, assertOneLineError, cliEnv, stdoutJson, taskhost } from '../../helpers/cli.ts';
import { tempDir } from '../../helpers/plugin-fixtures.ts';
import { createTestDatabase } from '../../helpers/store.ts';

const database = await createTestDatabase();
const env = cliEnv({ DATABASE_URL: database.url, TASKHOST_USER: 'alice' });

const GREETING = `name: greeting
description: says hello
title_format: 'Greet {{input.who}}'
inputs:
  - name: who
    regex: '[a-z]+'
  - name: times
    type: number
    optional: true
result_format: {said: '{{step.say.output.text}}'}
steps:
  say:
    action: {type: echo, configuration: {output: {text: 'hello {{input.who}}'}}}
`;

function project(t: Parameters<typeof tempDir>[0]): string {
  const dir = tempDir(t);
  fs.mkdirSync(path.join(dir, 'templates'));
  fs.writeFileSync(path.join(dir, 'templates', 'greeting.yaml'), GREETING);
  return dir;
}

test('run NAME --json: the task document of SPEC section 7, exit 0 when DONE', async (t) => {
  const cwd = project(t);
  const result = await taskhost(['run', 'greeting', '--input', 'who=bob', '--json'], { env, cwd });
  assertExit(result, 0);
  const document = stdoutJson<TaskDocument>(result);
  assert.deepEqual(Object.keys(document).sort(), [
    'created',
    'id',
    'input',
    'last_activity',
    'requester',
    'resolution',
    'resolver_usernames',
    'result',
    'state',
    'steps',
    'template_name',
    'title',
  ]);
  assert.equal(document.state, 'DONE');
  assert.equal(document.title, 'Greet bob');
  assert.equal(document.requester, 'alice');
  assert.deepEqual(document.result, { said: 'hello bob' });
  assert.deepEqual(Object.keys(document.resolution ?? {}).sort(), ['id', 'next_retry', 'run_count', 'state']);
  assert.deepEqual(Object.keys(document.steps.say ?? {}).sort(), [
    'children',
    'error',
    'instance',
    'last_run',
    'metadata',
    'output',
    'state',
    'try_count',
  ]);
});

test('run FILE with --input-json, and without --json a summary line; a task not DONE exits 1', async (t) => {
  const cwd = project(t);
  const file = path.join(cwd, 'failing.yaml');
  fs.writeFileSync(
    file,
    `name: failing
description: fails for good
steps:
  boom:
    action: {type: echo, configuration: {output: {}, error_message: 'no way', error_type: client}}
`,
  );
  const result = await taskhost(['run', file], { env, cwd });
  assertExit(result, 1);
  assert.match(
    result.stdout,
    /^task [0-9a-f-]{36} BLOCKED \(resolution BLOCKED_BADREQUEST\)\n {2}boom CLIENT_ERROR: no way\n$/,
  );
  const json = await taskhost(['run', 'greeting', '--input-json', '{"who": "ann", "times": "3"}', '--json'], {
    env,
    cwd,
  });
  assertExit(json, 0);
  assert.deepEqual(stdoutJson<TaskDocument>(json).input, { who: 'ann', times: 3 });
});

test('run: bad input, an unknown template and an invalid template are one-line errors, exit 2, with nothing stored', async (t) => {
  const cwd = project(t);
  const before = await database.store.query('SELECT count(*)::int AS n FROM task');
  const badInput = assertOneLineError(
    await taskhost(['run', 'greeting', '--input', 'who=B0B'], { env, cwd }),
    2,
  );
  assert.match(badInput, /input\.who: "B0B" does not match the regular expression \[a-z\]\+/);
  const missing = assertOneLineError(await taskhost(['run', 'greeting'], { env, cwd }), 2);
  assert.match(missing, /input\.who: missing/);
  const unknown = assertOneLineError(await taskhost(['run', 'greting'], { env, cwd }), 2);
  assert.match(unknown, /no template named greting in templates \(known: greeting\)/);
  const file = path.join(cwd, 'broken.yaml');
  fs.writeFileSync(
    file,
    'name: broken\ndescription: a broken one\nsteps:\n  a:\n    action: {type: echo}\n    dependecies: [b]\n',
  );
  const invalid = assertOneLineError(await taskhost(['run', file], { env, cwd }), 2);
  assert.match(
    invalid,
    /broken\.yaml:6:5: steps\.a\.dependecies: unknown key "dependecies" \(did you mean "dependencies"\?\)/,
  );
  const usage = assertOneLineError(await taskhost(['run', 'greeting', '--input', 'who'], { env, cwd }), 2);
  assert.match(usage, /--input who: expected KEY=VALUE/);
  const after = await database.store.query('SELECT count(*)::int AS n FROM task');
  assert.equal(after.rows[0]?.n, before.rows[0]?.n);
});

test('run --resume: an unknown task is a one-line error; a DONE task is refused (exit 2)', async (t) => {
  const cwd = project(t);
  const unknown = assertOneLineError(
    await taskhost(['run', '--resume', '00000000-0000-0000-0000-000000000000'], { env, cwd }),
    2,
  );
  assert.match(unknown, /no task 00000000/);
  const done = stdoutJson<TaskDocument>(
    await taskhost(['run', 'greeting', '--input', 'who=x', '--json'], { env, cwd }),
  );
  const again = assertOneLineError(await taskhost(['run', '--resume', done.id], { env, cwd }), 2);
  assert.match(again, /already done/);
});
