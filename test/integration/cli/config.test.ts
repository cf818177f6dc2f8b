import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import type { TaskDocument } from '../../../src/engine/tasks.ts';
import {
  assertExit,
  assertOneLineError,
  cliEnv,
  startTaskhost,
  stdoutJson,
  taskhost,
} from '../../helpers/cli.ts';
import { tempDir } from '../../helpers/plugin-fixtures.ts';
import { createTestDatabase } from '../../helpers/store.ts';

/**
 * taskhost.yaml through the real `bin/taskhost` (SPEC section 8 "Configuration"): the file
 * is read by the commands that hold settings, flags beat TASKHOST_* variables, which beat
 * the file, which beats the defaults; a bad file stops the command with one line naming the
 * key, exit 2, before any store is opened.
 */

const database = await createTestDatabase();
const env = cliEnv({ DATABASE_URL: database.url, TASKHOST_USER: 'alice' });

/** A template that says which directory it came from, and reads the `config` root. */
function whichTemplate(dir: string): string {
  return `name: which
description: names its directory and reads config
result_format: {dir: '{{step.say.output.dir}}', who: '{{step.say.output.who}}'}
steps:
  say:
    action: {type: echo, configuration: {output: {dir: ${dir}, who: '{{config.greeting.who}}'}}}
`;
}

/** A project with `which` in templates/ (the default) and in a/, b/ and c/. */
function project(t: TestContext, config?: string): string {
  const dir = tempDir(t);
  for (const name of ['templates', 'a', 'b', 'c']) {
    fs.mkdirSync(path.join(dir, name));
    fs.writeFileSync(path.join(dir, name, 'which.yaml'), whichTemplate(name));
  }
  if (config !== undefined) fs.writeFileSync(path.join(dir, 'taskhost.yaml'), config);
  return dir;
}

async function which(
  cwd: string,
  args: readonly string[] = [],
  extra: Record<string, string> = {},
): Promise<Record<string, unknown>> {
  const result = await taskhost(['run', 'which', '--json', ...args], { cwd, env: { ...env, ...extra } });
  assertExit(result, 0);
  return stdoutJson<TaskDocument>(result).result as Record<string, unknown>;
}

const FILE = `templates: a
config:
  greeting: {value: {who: from the file}}
  token: {value: s3cr3t, secret: true}
`;

test('precedence: --templates beats TASKHOST_TEMPLATES beats taskhost.yaml beats the default', async (t) => {
  const cwd = project(t, FILE);
  assert.deepEqual(await which(cwd), { dir: 'a', who: 'from the file' }, 'the file');
  assert.equal((await which(cwd, [], { TASKHOST_TEMPLATES: 'b' })).dir, 'b', 'the variable over the file');
  assert.equal(
    (await which(cwd, ['--templates', 'c'], { TASKHOST_TEMPLATES: 'b' })).dir,
    'c',
    'the flag over the variable',
  );
  fs.rmSync(path.join(cwd, 'taskhost.yaml'));
  assert.deepEqual(await which(cwd), { dir: 'templates', who: '' }, 'no file: the defaults');
});

test('--config FILE and TASKHOST_CONFIG name another file; ./taskhost.yaml is then not read', async (t) => {
  const cwd = project(t, 'templates: a\n');
  fs.writeFileSync(path.join(cwd, 'other.yaml'), 'templates: b\nconfig: {greeting: {value: {who: other}}}\n');
  assert.deepEqual(await which(cwd, ['--config', 'other.yaml']), { dir: 'b', who: 'other' });
  assert.deepEqual(await which(cwd, [], { TASKHOST_CONFIG: path.join(cwd, 'other.yaml') }), {
    dir: 'b',
    who: 'other',
  });
  fs.writeFileSync(path.join(cwd, 'third.yaml'), 'templates: c\n');
  assert.equal(
    (await which(cwd, ['--config', 'third.yaml'], { TASKHOST_CONFIG: 'other.yaml' })).dir,
    'c',
    'the flag over the variable',
  );
});

test('an unknown key: one line with file:line:column naming it, exit 2', async (t) => {
  const cwd = project(t, 'templates: a\nprot: 8082\n');
  for (const command of [['run', 'which'], ['serve'], ['list'], ['template', 'list']]) {
    const line = assertOneLineError(await taskhost(command, { cwd, env }), 2);
    assert.equal(
      line,
      'taskhost: taskhost.yaml:2:1: unknown key "prot" (did you mean "port"?)',
      command.join(' '),
    );
  }
  fs.writeFileSync(path.join(cwd, 'taskhost.yaml'), 'auth:\n  trusted_heder: x-user\n');
  assert.equal(
    assertOneLineError(await taskhost(['run', 'which'], { cwd, env }), 2),
    'taskhost: taskhost.yaml:2:3: unknown key "auth.trusted_heder" (did you mean "trusted_header"?)',
  );
  fs.writeFileSync(path.join(cwd, 'taskhost.yaml'), 'config:\n  api: {valu: 1}\n');
  assert.match(
    assertOneLineError(await taskhost(['run', 'which'], { cwd, env }), 2),
    /^taskhost: taskhost\.yaml:2:9: unknown key "config\.api\.valu" \(did you mean "value"\?\)$/,
  );
});

test('a bad value: one line naming the key and what it must be, exit 2', async (t) => {
  const cwd = project(t);
  const cases: [string, string][] = [
    ['port: eighty\n', 'taskhost.yaml:1:7: port: must be integer (got "eighty")'],
    ['port: 70000\n', 'taskhost.yaml:1:7: port: must be <= 65535 (got 70000)'],
    [
      'max_concurrent_executions: -2\n',
      'taskhost.yaml:1:28: max_concurrent_executions: must be >= -1 (got -2)',
    ],
    [
      'completed_task_expiration: 30 days\n',
      'taskhost.yaml:1:28: completed_task_expiration: must be a duration such as 720h, 1h30m or 90s (got "30 days")',
    ],
    [
      'config:\n  token: {value: x, secret: "yes"}\n',
      'taskhost.yaml:2:29: config.token.secret: must be boolean (got "yes")',
    ],
    ['resource_limits: {openssl: 0}\n', 'taskhost.yaml:1:28: resource_limits.openssl: must be >= 1 (got 0)'],
    [
      'database_url: mysql://db\n',
      'taskhost.yaml:1:15: database_url: must be a postgres:// or postgresql:// URL (got "mysql://db")',
    ],
    [
      'port: [1\n',
      'taskhost.yaml:2:1: YAML: Flow sequence in block collection must be sufficiently indented and end with a ]',
    ],
    ['- port\n', 'taskhost.yaml:1:1: expected a map of settings (key: value)'],
  ];
  for (const [text, expected] of cases) {
    fs.writeFileSync(path.join(cwd, 'taskhost.yaml'), text);
    assert.equal(
      assertOneLineError(await taskhost(['run', 'which'], { cwd, env }), 2),
      `taskhost: ${expected}`,
    );
  }
});

test('a missing --config FILE (or TASKHOST_CONFIG) is one line, exit 2; a missing ./taskhost.yaml is fine', async (t) => {
  const cwd = project(t);
  assert.equal(
    assertOneLineError(await taskhost(['run', 'which', '--config', 'nope.yaml'], { cwd, env }), 2),
    'taskhost: --config nope.yaml: no such file',
  );
  assert.equal(
    assertOneLineError(await taskhost(['serve'], { cwd, env: { ...env, TASKHOST_CONFIG: 'nope.yaml' } }), 2),
    'taskhost: TASKHOST_CONFIG=nope.yaml: no such file',
  );
  assert.equal((await which(cwd)).dir, 'templates');
});

/** A port nothing listens on right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Starts `taskhost serve` as given (no --port of its own) and returns its banner once it listens. */
async function serveBanner(t: TestContext, cwd: string, extra: Record<string, string> = {}): Promise<string> {
  const child = startTaskhost(['serve'], { cwd, env: { ...env, ...extra }, timeoutMs: 120_000 });
  t.after(() => child.kill('SIGKILL'));
  let text = '';
  child.stderr?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stderr?.on('data', () => {
      if (/API spec/.test(text)) resolve();
    });
    void child.then((result) =>
      reject(new Error(`serve exited (${result.exitCode}) before listening: ${text}`)),
    );
  });
  process.kill(child.pid as number, 'SIGTERM');
  const ended = await child;
  assert.equal(ended.exitCode, 143, text);
  return text;
}

test('serve listens on the port of taskhost.yaml, and TASKHOST_PORT overrides it', async (t) => {
  const [filePort, envPort] = [await freePort(), await freePort()];
  const cwd = project(t, `port: ${filePort}\ntasks: mytasks\n`);
  fs.mkdirSync(path.join(cwd, 'mytasks'));
  const banner = await serveBanner(t, cwd);
  assert.match(banner, new RegExp(`taskhost listening on http://127\\.0\\.0\\.1:${filePort}\\n`));
  assert.match(banner, /\n {2}settings: taskhost\.yaml\n/);
  assert.match(banner, /\n {2}plugins from mytasks: none\n/);
  const overridden = await serveBanner(t, cwd, { TASKHOST_PORT: String(envPort) });
  assert.match(overridden, new RegExp(`taskhost listening on http://127\\.0\\.0\\.1:${envPort}\\n`));
});

test('the taskhost.yaml of `taskhost init`, as written and uncommented, is valid and changes nothing', async (t) => {
  const cwd = tempDir(t);
  assertExit(await taskhost(['init'], { cwd, env }), 0);
  fs.writeFileSync(path.join(cwd, 'templates', 'which.yaml'), whichTemplate('templates'));
  const file = path.join(cwd, 'taskhost.yaml');
  const written = fs.readFileSync(file, 'utf8');
  // Every setting enabled: the `#` of each setting line removed (prose stays `# …`).
  const uncommented = written
    .split('\n')
    .map((line) => (/^#(?:[a-z_]+:| {2}[a-z_]+:)/.test(line) ? line.slice(1) : line))
    .join('\n');
  assert.notEqual(uncommented, written);

  const list = async (): Promise<string> => {
    const result = await taskhost(['template', 'list', '--json'], { cwd, env });
    assertExit(result, 0);
    return result.stdout;
  };
  const asWritten = await list();
  assert.deepEqual(await which(cwd), { dir: 'templates', who: '' });
  fs.writeFileSync(file, uncommented);
  assert.equal(await list(), asWritten);
  assert.deepEqual(await which(cwd), { dir: 'templates', who: '' });
  fs.rmSync(file);
  assert.equal(await list(), asWritten);
});
