import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  assertExit,
  assertOneLineError,
  cliEnv,
  stdoutJson,
  taskhost,
  type CliResult,
} from '../../helpers/cli.ts';
import { fixturePath, tempDir } from '../../helpers/plugin-fixtures.ts';
import { createTestDatabase } from '../../helpers/store.ts';

/**
 * `taskhost template validate|list` through the real `bin/taskhost`. Neither needs a store
 * (none is given); each runs in the fixtures directory, so files are named as a user would
 * type them.
 */

const FIXTURES = fileURLToPath(new URL('../../fixtures/templates/', import.meta.url));
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const env = cliEnv();

function run(
  args: readonly string[],
  cwd = FIXTURES,
  extraEnv: Record<string, string> = {},
): Promise<CliResult> {
  return taskhost(['template', ...args], { cwd, env: { ...env, ...extraEnv }, timeoutMs: 30_000 });
}

test('validate: "FILE: ok" for each valid file, exit 0', async () => {
  const result = await run([
    'validate',
    '--functions',
    'functions',
    'valid/defaults.yaml',
    'valid/functions.yaml',
  ]);
  assertExit(result, 0);
  assert.equal(result.stdout, 'valid/defaults.yaml: ok\nvalid/functions.yaml: ok\n');
  assert.equal(result.stderr, '');
});

test('validate: the problem lines of invalid files, ok for the valid one, exit 2', async () => {
  const result = await run([
    'validate',
    '--functions',
    'functions',
    'invalid/unknown-key.yaml',
    'valid/defaults.yaml',
    'invalid/missing-key.yaml',
  ]);
  assertExit(result, 2);
  assert.equal(
    result.stdout,
    [
      'invalid/unknown-key.yaml:7:5: steps.greet.dependecies: unknown key "dependecies" (did you mean "dependencies"?)',
      'valid/defaults.yaml: ok',
      'invalid/missing-key.yaml:1:1: missing required key "description"',
      'invalid/missing-key.yaml:3:3: steps.greet: missing required key "action"',
      '',
    ].join('\n'),
  );
  assert.equal(result.stderr, '');
});

test('validate: a directory means its template files; functions come from --functions or TASKHOST_FUNCTIONS', async () => {
  const viaFlag = await run(['validate', '--functions', 'functions', 'valid']);
  assertExit(viaFlag, 0);
  assert.deepEqual(
    viaFlag.stdout.trim().split('\n'),
    ['conditions', 'defaults', 'dependencies', 'everything', 'foreach', 'functions'].map(
      (name) => `valid/${name}.yaml: ok`,
    ),
  );
  const viaEnv = await run(['validate', 'valid/functions.yaml'], FIXTURES, {
    TASKHOST_FUNCTIONS: 'functions',
  });
  assertExit(viaEnv, 0);
  // Without the functions, their names are unknown action types; a note says plugins were not checked.
  const without = await run(['validate', 'valid/functions.yaml']);
  assertExit(without, 2);
  assert.equal(
    without.stdout,
    [
      'valid/functions.yaml:9:13: steps.nested.action.type: unknown action type "echo::hello::nested1"',
      'valid/functions.yaml:24:13: steps.preHook.action.type: unknown action type "echo::preHook"',
      'valid/functions.yaml:28:13: steps.customState.action.type: unknown action type "echo::custom::state"',
      'valid/functions.yaml:33:13: steps.afterCustomState.action.type: unknown action type "echo::hello::world"',
      '',
    ].join('\n'),
    'the states of those steps are not reported again',
  );
  assert.equal(
    without.stderr,
    'taskhost: registered plugins were not checked as action types (add --plugins)\n',
  );
});

test('validate: broken functions are reported with the templates, exit 2', async () => {
  const result = await run(['validate', '--functions', 'functions-invalid', 'valid/defaults.yaml']);
  assertExit(result, 2);
  const lines = result.stdout.trim().split('\n');
  assert.equal(lines.at(-1), 'valid/defaults.yaml: ok');
  assert.ok(
    lines.includes(
      'functions-invalid/cycle-a.yaml:3:9: action.type: functions call each other in a cycle: cycle::a -> cycle::b -> cycle::a',
    ),
    result.stdout,
  );
});

test('validate: templates sharing a name are both refused, each naming the other file', async () => {
  const result = await run(['validate', 'duplicates']);
  assertExit(result, 2);
  assert.equal(
    result.stdout,
    [
      'duplicates/first.yaml:1:7: name: template name "greeting" is also used by duplicates/second.yml',
      'duplicates/other.yaml: ok',
      'duplicates/second.yml:1:7: name: template name "greeting" is also used by duplicates/first.yaml',
      '',
    ].join('\n'),
  );
});

test('validate: a missing file is a problem line; no file at all is a usage error', async () => {
  const missing = await run(['validate', 'nope.yaml']);
  assertExit(missing, 2);
  assert.equal(missing.stdout, 'nope.yaml:1:1: cannot read the file: no such file\n');
  const none = await run(['validate']);
  assert.match(assertOneLineError(none, 2), /missing required argument 'file'/);
});

// The shipped templates (some run plugins of tasks/, so they need --plugins) are checked by
// template-examples.test.ts.

function templatesDir(t: Parameters<typeof tempDir>[0]): string {
  const dir = tempDir(t);
  fs.mkdirSync(path.join(dir, 'templates', 'functions'), { recursive: true });
  fs.copyFileSync(path.join(ROOT, 'templates', 'hello.yaml'), path.join(dir, 'templates', 'hello.yaml'));
  fs.copyFileSync(path.join(FIXTURES, 'valid', 'functions.yaml'), path.join(dir, 'templates', 'calls.yaml'));
  fs.cpSync(path.join(FIXTURES, 'functions'), path.join(dir, 'templates', 'functions'), { recursive: true });
  return dir;
}

test('list: name, steps, description and file of each template, sorted by name; --json', async (t) => {
  const dir = templatesDir(t);
  const table = await run(['list'], dir);
  assertExit(table, 0);
  assert.equal(
    table.stdout,
    [
      'NAME            STEPS  DESCRIPTION                                  FILE',
      'functionnested  4      A template whose steps call functions        templates/calls.yaml',
      'hello           2      Greets someone, then announces the greeting  templates/hello.yaml',
      '',
    ].join('\n'),
  );
  const json = await run(['list', '--json', '--templates', path.join(dir, 'templates')], ROOT, {
    TASKHOST_FUNCTIONS: path.join(dir, 'templates', 'functions'),
  });
  assertExit(json, 0);
  assert.deepEqual(stdoutJson(json), [
    {
      name: 'functionnested',
      description: 'A template whose steps call functions',
      title_format: null,
      file: path.join(dir, 'templates', 'calls.yaml'),
      steps: 4,
      hidden: false,
      blocked: false,
    },
    {
      name: 'hello',
      description: 'Greets someone, then announces the greeting',
      title_format: 'Say hello to {{input.name}}',
      file: path.join(dir, 'templates', 'hello.yaml'),
      steps: 2,
      hidden: false,
      blocked: false,
    },
  ]);
});

test('list: invalid files are left out and reported on stderr, exit 2; a missing directory is one line', async (t) => {
  const dir = templatesDir(t);
  fs.copyFileSync(
    path.join(FIXTURES, 'invalid', 'dependency-self.yaml'),
    path.join(dir, 'templates', 'bad.yaml'),
  );
  const result = await run(['list'], dir);
  assertExit(result, 2);
  assert.match(result.stdout, /^hello {2}/m);
  assert.doesNotMatch(result.stdout, /dependency-self/);
  assert.equal(
    result.stderr,
    'templates/bad.yaml:5:20: steps.greet.dependencies[0]: step "greet" depends on itself\n',
  );
  const missing = await run(['list', '--templates', 'nowhere'], dir);
  assert.equal(assertOneLineError(missing, 2), 'taskhost: no such directory: nowhere');
});

test('validate --plugins: registered plugins are action types (read from the store)', async (t) => {
  const database = await createTestDatabase();
  const withStore = { DATABASE_URL: database.url };
  const registered = await taskhost(['register', '-name', 'fraud-check', '-location', fixturePath('ok.sh')], {
    env: { ...env, ...withStore },
    timeoutMs: 30_000,
  });
  assertExit(registered, 0);
  const dir = tempDir(t);
  const file = path.join(dir, 'uses-plugin.yaml');
  fs.writeFileSync(
    file,
    'name: uses-plugin\ndescription: A step running a plugin\nsteps:\n  check:\n    action: { type: fraud-check }\n',
  );
  const without = await run(['validate', file], dir, withStore);
  assertExit(without, 2);
  assert.equal(without.stdout, `${file}:5:21: steps.check.action.type: unknown action type "fraud-check"\n`);
  const withPlugins = await run(['validate', '--plugins', file], dir, withStore);
  assertExit(withPlugins, 0);
  assert.equal(withPlugins.stdout, `${file}: ok\n`);
});
