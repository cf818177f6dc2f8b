import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import YAML from 'yaml';
import { assertExit, assertOneLineError, cliEnv, taskhost, type CliResult } from '../../helpers/cli.ts';
import { tempDir } from '../../helpers/plugin-fixtures.ts';

/**
 * `taskhost init [DIR]` through the real `bin/taskhost` (issue 17): what it writes, that it
 * never overwrites a file, and that its taskhost.yaml lists every setting of SPEC section 8
 * (plus the serve flags) with the defaults of schemas/config.schema.json. It needs no store,
 * so no database is given.
 */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const env = cliEnv();
const packageVersion = (
  JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }
).version;
const configSchema = JSON.parse(
  fs.readFileSync(path.join(ROOT, 'schemas', 'config.schema.json'), 'utf8'),
) as JsonSchema;

interface JsonSchema {
  properties?: Record<string, JsonSchema>;
  default?: unknown;
}

function init(args: readonly string[], cwd: string): Promise<CliResult> {
  return taskhost(['init', ...args], { cwd, env, timeoutMs: 30_000 });
}

/**
 * The file with every setting enabled. Its two kinds of lines: prose (`# ` then text, or a
 * bare `#`) and settings (`#` then the YAML line itself), whose `#` a user removes.
 */
function uncomment(text: string): string {
  return text
    .split('\n')
    .map((line) => {
      if (line === '' || line === '#' || /^# \S/.test(line)) return line;
      assert.match(
        line,
        /^#(?:[a-z_]+:| {2}[a-z_]+:)/,
        `neither prose nor a setting: ${JSON.stringify(line)}`,
      );
      return line.slice(1);
    })
    .join('\n');
}

/** The value each key defaults to, from the schema (nested objects from their properties). */
function schemaDefaults(schema: JsonSchema): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(schema.properties ?? {}).map(([key, property]) => [
      key,
      property.properties ? schemaDefaults(property) : property.default,
    ]),
  );
}

test('init creates a project in a new directory and names the next commands', async (t) => {
  const parent = tempDir(t);
  const result = await init(['my project'], parent);
  assertExit(result, 0);
  const dir = path.join(parent, 'my project');

  for (const file of ['taskhost.yaml', 'tasks/hello.sh', '.gitignore']) {
    assert.ok(fs.statSync(path.join(dir, file)).isFile(), `${file} created`);
    assert.match(result.stdout, new RegExp(`^  ${file.replace('.', '\\.')} `, 'm'), `${file} reported`);
  }
  for (const folder of ['tasks', 'templates', 'templates/functions']) {
    assert.ok(fs.statSync(path.join(dir, folder)).isDirectory(), `${folder}/ created`);
  }
  assert.equal(fs.statSync(path.join(dir, 'tasks/hello.sh')).mode & 0o777, 0o755);
  assert.match(fs.readFileSync(path.join(dir, '.gitignore'), 'utf8'), /^\.taskhost\/$/m);

  // The next three commands, starting from where the user is.
  const next = result.stdout.split('\nnext:\n')[1]?.trimEnd().split('\n') ?? [];
  assert.equal(next.length, 3, result.stdout);
  assert.match(next[0] ?? '', /^ {2}cd 'my project'$/);
  assert.match(next[1] ?? '', /^ {2}taskhost serve\b/);
  assert.match(next[2] ?? '', /^ {2}taskhost execute -name hello -taskArgs '\{"who": "Ada"\}'/);
});

test('the example plugin describes itself and answers with a JSON-encoded result', async (t) => {
  const dir = tempDir(t);
  assertExit(await init([], dir), 0);
  const plugin = path.join(dir, 'tasks', 'hello.sh');

  const description = JSON.parse(execFileSync(plugin, ['schema'], { encoding: 'utf8' })) as {
    name: string;
    inputs: { properties: Record<string, unknown>; $schema: string };
  };
  assert.equal(description.name, 'hello');
  assert.equal(
    description.inputs.$schema,
    'http://json-schema.org/draft-07/schema#',
    'the heredoc is quoted',
  );

  // A name that pasted into a JSON string would break it.
  const who = 'O\'Brien "the \\ one"';
  const stdout = execFileSync(plugin, [], {
    input: JSON.stringify({ meta: { protocol: 'v1', taskName: 'hello' }, data: { who } }),
    encoding: 'utf8',
    stdio: ['pipe', 'pipe', 'ignore'],
  });
  const last = stdout.trimEnd().split('\n').at(-1) ?? '';
  assert.deepEqual(JSON.parse(last), { status: 1, reason: 'ok', payload: { greeting: `hello ${who}` } });
});

test('taskhost.yaml is all comments, and uncommented it holds every setting at its schema default', async (t) => {
  const dir = tempDir(t);
  assertExit(await init([], dir), 0);
  const text = fs.readFileSync(path.join(dir, 'taskhost.yaml'), 'utf8');
  assert.match(text, /flags and TASKHOST_\* environment variables override this file/);
  assert.ok(text.includes(`taskhost ${packageVersion} reads this file from the working directory`));
  assert.equal(YAML.parse(text), null, 'every line is commented out');

  const settings = YAML.parse(uncomment(text)) as Record<string, unknown>;
  const validate = new Ajv({ strict: true, allErrors: true }).compile(configSchema);
  assert.ok(validate(settings), JSON.stringify(validate.errors));
  assert.deepEqual(settings, schemaDefaults(configSchema), 'each setting shows its default');

  // SPEC section 8 "Configuration", key by key, and the serve and store flags.
  const keys = Object.entries(settings).flatMap(([key, value]) =>
    value !== null && typeof value === 'object' && !Array.isArray(value) && key !== 'config'
      ? Object.keys(value).map((sub) => `${key}.${sub}`)
      : [key],
  );
  assert.deepEqual(keys.sort(), [
    'admins',
    'allowed_hosts',
    'auth.trusted_groups_header',
    'auth.trusted_header',
    'auth.trusted_proxies',
    'auth.users_file',
    'completed_task_expiration',
    'config',
    'data_dir',
    'database_url',
    'encryption.keys_file',
    'functions',
    'heartbeat_interval',
    'host',
    'instance_death_timeout',
    'maintenance_mode',
    'max_concurrent_executions',
    'output_cap',
    'port',
    'tasks',
    'templates',
  ]);
});

test('the config schema refuses unknown keys and bad values', () => {
  const validate = new Ajv({ strict: true }).compile(configSchema);
  assert.ok(validate(null), 'an empty file');
  assert.ok(
    validate({
      config: { api: { value: { url: 'https://x.example' } }, token: { value: 's3cr3t', secret: true } },
      completed_task_expiration: '1h30m',
      max_concurrent_executions: -1,
      auth: { trusted_header: 'x-remote-user', trusted_proxies: ['10.0.0.0/8', 'fd00::/8'] },
    }),
    JSON.stringify(validate.errors),
  );
  for (const bad of [
    { prot: 8081 },
    { auth: { users: 'x' } },
    { port: 70000 },
    { completed_task_expiration: '30 days' },
    { max_concurrent_executions: -2 },
    { config: { token: { value: 'x', hidden: true } } },
    { database_url: 'mysql://x' },
  ]) {
    assert.equal(validate(bad), false, JSON.stringify(bad));
  }
});

test('init refuses to overwrite a file and then writes nothing at all', async (t) => {
  const dir = tempDir(t);
  fs.mkdirSync(path.join(dir, 'tasks'));
  fs.writeFileSync(path.join(dir, 'tasks', 'hello.sh'), 'mine\n');

  const line = assertOneLineError(await init([dir], dir), 2);
  assert.ok(line.includes(path.join(dir, 'tasks', 'hello.sh')), line);
  assert.equal(fs.readFileSync(path.join(dir, 'tasks', 'hello.sh'), 'utf8'), 'mine\n');
  assert.deepEqual(fs.readdirSync(dir).sort(), ['tasks'], 'nothing else was written');

  fs.rmSync(path.join(dir, 'tasks', 'hello.sh'));
  assertExit(await init([], dir), 0);
  const again = assertOneLineError(await init([], dir), 2);
  assert.match(again, /taskhost\.yaml and .*hello\.sh already exist/);
});

test('init adds .taskhost/ to an existing .gitignore once, keeping what it holds', async (t) => {
  const dir = tempDir(t);
  fs.writeFileSync(path.join(dir, '.gitignore'), 'node_modules/');
  const result = await init([], dir);
  assertExit(result, 0);
  assert.equal(fs.readFileSync(path.join(dir, '.gitignore'), 'utf8'), 'node_modules/\n.taskhost/\n');
  assert.match(result.stdout, /\.gitignore .*now also ignores \.taskhost\//);
  // In the current directory, the next commands need no cd.
  assert.doesNotMatch(result.stdout, /^ {2}cd /m);

  const other = tempDir(t);
  fs.writeFileSync(path.join(other, '.gitignore'), '/.taskhost\n');
  const quiet = await init([], other);
  assertExit(quiet, 0);
  assert.equal(fs.readFileSync(path.join(other, '.gitignore'), 'utf8'), '/.taskhost\n');
  assert.doesNotMatch(quiet.stdout, /gitignore/);
});

test('--version is the package version', async () => {
  const result = await taskhost(['--version'], { env });
  assertExit(result, 0);
  assert.equal(result.stdout.trim(), packageVersion);
});
