import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import {
  assertExit,
  assertOneLineError,
  cliEnv,
  stdoutJson,
  taskhost,
  type CliResult,
} from '../../helpers/cli.ts';
import { pathWithout, pythonFirstPath, tempDir } from '../../helpers/plugin-fixtures.ts';
import { createTestDatabase } from '../../helpers/store.ts';

/**
 * Issue 16, `taskhost plugin new` and `taskhost plugin helper` through the real
 * `bin/taskhost`: a new plugin in either language passes `plugin check` as written (with jq
 * and, for bash, without it), registers and runs; `new` never overwrites a file; `helper`
 * prints the shipped helper.
 */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const database = await createTestDatabase();
const PATH = pythonFirstPath();
const env = cliEnv({ DATABASE_URL: database.url, PATH });

function cli(args: readonly string[], cwd: string, extra: Record<string, string> = {}): Promise<CliResult> {
  return taskhost(args, { env: { ...env, ...extra }, cwd, timeoutMs: 60_000 });
}

interface Report {
  ok: boolean;
  rules: { id: string; verdict: string; message: string }[];
}

/** The rules of a check that did not pass (a skipped `outputs` is expected: none is declared). */
function notPassed(report: Report): string[] {
  return report.rules
    .filter((rule) => rule.verdict !== 'pass' && rule.id !== 'outputs')
    .map((rule) => `${rule.id}: ${rule.verdict}: ${rule.message}`);
}

const LANGUAGES = [
  { lang: 'bash', file: 'greet-bash.sh', name: 'greet-bash', helper: 'taskhost.sh' },
  { lang: 'python', file: 'greet-python.py', name: 'greet-python', helper: 'taskhost_plugin.py' },
] as const;

for (const { lang, file, name, helper } of LANGUAGES) {
  test(`plugin new --lang ${lang}: a plugin that passes plugin check as written, registers and runs`, async (t) => {
    const cwd = tempDir(t);
    const created = await cli(['plugin', 'new', name, '--lang', lang, '--dir', 'tasks'], cwd);
    assertExit(created, 0);
    const dir = path.join(cwd, 'tasks');
    assert.deepEqual(fs.readdirSync(dir).sort(), [`${name}.data.json`, file, helper].sort());
    assert.equal(fs.statSync(path.join(dir, file)).mode & 0o777, 0o755, 'the plugin is executable');
    assert.equal(fs.statSync(path.join(dir, helper)).mode & 0o777, 0o644, 'the helper is not');
    assert.equal(
      fs.readFileSync(path.join(dir, helper), 'utf8'),
      fs.readFileSync(path.join(ROOT, 'src', 'plugins', 'helpers', helper), 'utf8'),
    );
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, `${name}.data.json`), 'utf8')), {
      who: 'Ada',
    });
    // The next commands, from where the user is.
    assert.match(
      created.stdout,
      new RegExp(`taskhost plugin check tasks/${file} --data-file tasks/${name}.data.json`),
    );
    assert.match(created.stdout, new RegExp(`taskhost register -name ${name} -location tasks/${file}`));

    // What the issue asks of it, in the source.
    const source = fs.readFileSync(path.join(dir, file), 'utf8');
    assert.match(source, /"additionalProperties": (false|False)/);
    assert.match(source, /"examples": \["Ada"\]/);
    assert.match(source, /"title": "Greet (bash|python)"/);

    // plugin check: from the schema's examples, and from the sample data file.
    for (const args of [[], ['--data-file', `tasks/${name}.data.json`]]) {
      const checked = await cli(['plugin', 'check', `tasks/${file}`, '--json', ...args], cwd);
      assertExit(checked, 0);
      assert.deepEqual(notPassed(stdoutJson<Report>(checked)), []);
    }

    // register and execute, then the handled failure and a name JSON pasting would break on.
    assertExit(await cli(['register', '-name', name, '-location', `tasks/${file}`], cwd), 0);
    const executed = await cli(['execute', '-name', name, '-args-file', `tasks/${name}.data.json`], cwd);
    assertExit(executed, 0);
    assert.deepEqual(stdoutJson<{ payload: unknown }>(executed).payload, { greeting: 'hello Ada' });
    assert.match(executed.stderr, new RegExp(`TASK::${name} greeting Ada`));
    const tricky = 'O\'Brien "the \\ one" é';
    const quoted = await cli(['execute', '-name', name, '-taskArgs', JSON.stringify({ who: tricky })], cwd);
    assertExit(quoted, 0);
    assert.deepEqual(stdoutJson<{ payload: unknown }>(quoted).payload, { greeting: `hello ${tricky}` });
    const refused = await cli(['execute', '-name', name, '-taskArgs', '{"who": "nobody"}'], cwd);
    assertExit(refused, 1);
    const envelope = stdoutJson<{ state: string; error: string; status: number }>(refused);
    assert.equal(envelope.state, 'CLIENT_ERROR');
    assert.equal(envelope.error, 'there is nobody to greet');
    const invalid = await cli(['execute', '-name', name, '-taskArgs', '{"who": "Ada", "extra": 1}'], cwd);
    assertOneLineError(invalid, 2); // additionalProperties: false, checked before any run
    assert.equal(fs.existsSync(path.join(dir, '__pycache__')), false, 'no bytecode next to the plugin');
  });
}

test('plugin new --lang bash: the plugin passes plugin check on a machine without jq (python3 does the JSON)', async (t) => {
  const cwd = tempDir(t);
  assertExit(await cli(['plugin', 'new', 'nojq', '--lang', 'bash'], cwd), 0);
  const checked = await cli(['plugin', 'check', './nojq.sh', '--json'], cwd, {
    PATH: pathWithout(tempDir(t), ['jq'], PATH),
  });
  assertExit(checked, 0);
  assert.deepEqual(notPassed(stdoutJson<Report>(checked)), []);
});

test('plugin new --lang python: the generated plugin is Python 3.8 syntax', async (t) => {
  const cwd = tempDir(t);
  assertExit(await cli(['plugin', 'new', 'py38', '--lang', 'python'], cwd), 0);
  const checked = await execa(
    'python3',
    [
      '-c',
      'import ast, sys; ast.parse(open(sys.argv[1]).read(), feature_version=(3, 8))',
      path.join(cwd, 'py38.py'),
    ],
    { reject: false, env: { PATH } },
  );
  assert.equal(checked.exitCode, 0, String(checked.stderr));
});

test('plugin new never overwrites: an existing plugin or data file stops it before it writes anything', async (t) => {
  const cwd = tempDir(t);
  assertExit(await cli(['plugin', 'new', 'twice', '--lang', 'bash'], cwd), 0);
  fs.writeFileSync(path.join(cwd, 'twice.sh'), '# edited by hand\n');
  const again = await cli(['plugin', 'new', 'twice', '--lang', 'bash'], cwd);
  assert.match(
    assertOneLineError(again, 2),
    /plugin new writes nothing: .*twice\.sh and .*twice\.data\.json already exist/,
  );
  assert.equal(fs.readFileSync(path.join(cwd, 'twice.sh'), 'utf8'), '# edited by hand\n');

  // Only the data file is in the way: the plugin file is not written either.
  fs.writeFileSync(path.join(cwd, 'other.data.json'), '{}\n');
  const blocked = await cli(['plugin', 'new', 'other', '--lang', 'python'], cwd);
  assert.match(assertOneLineError(blocked, 2), /other\.data\.json already exists/);
  assert.equal(fs.existsSync(path.join(cwd, 'other.py')), false);
  assert.equal(fs.existsSync(path.join(cwd, 'taskhost_plugin.py')), false);
});

test('a second plugin next to the first shares its helper; a helper edited by hand is kept and said to differ', async (t) => {
  const cwd = tempDir(t);
  assertExit(await cli(['plugin', 'new', 'first', '--lang', 'bash'], cwd), 0);
  const second = await cli(['plugin', 'new', 'second', '--lang', 'bash'], cwd);
  assertExit(second, 0);
  assert.match(second.stdout, /taskhost\.sh +the helper, already there/);
  fs.appendFileSync(path.join(cwd, 'taskhost.sh'), '# a local change\n');
  const third = await cli(['plugin', 'new', 'third', '--lang', 'bash'], cwd);
  assertExit(third, 0);
  assert.match(third.stdout, /taskhost\.sh +kept as it is, though it differs/);
  assert.match(fs.readFileSync(path.join(cwd, 'taskhost.sh'), 'utf8'), /# a local change\n$/);
});

test('plugin new refuses a bad name or language (exit 2, one line); plugin helper prints the shipped helpers', async (t) => {
  const cwd = tempDir(t);
  assert.match(
    assertOneLineError(await cli(['plugin', 'new', 'bad/name', '--lang', 'bash'], cwd), 2),
    /invalid plugin name/,
  );
  assert.match(
    assertOneLineError(await cli(['plugin', 'new', 'echo', '--lang', 'bash'], cwd), 2),
    /builtin action/,
  );
  assert.match(
    assertOneLineError(await cli(['plugin', 'new', 'x', '--lang', 'ruby'], cwd), 2),
    /Allowed choices are bash, python/,
  );
  assert.match(assertOneLineError(await cli(['plugin', 'new', 'x'], cwd), 2), /--lang/);
  assert.deepEqual(fs.readdirSync(cwd), []);
  for (const [lang, helper] of [
    ['bash', 'taskhost.sh'],
    ['python', 'taskhost_plugin.py'],
  ] as const) {
    const printed = await cli(['plugin', 'helper', '--lang', lang], cwd);
    assertExit(printed, 0);
    assert.equal(
      printed.stdout,
      fs.readFileSync(path.join(ROOT, 'src', 'plugins', 'helpers', helper), 'utf8'),
    );
  }
});
