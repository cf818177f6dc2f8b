import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  assertExit,
  assertOneLineError,
  cliEnv,
  stdoutJson,
  taskhost,
  type CliResult,
} from '../../helpers/cli.ts';
import { eventually, fixturePath, isAlive, pythonFirstPath, tempDir } from '../../helpers/plugin-fixtures.ts';

/**
 * Issue 16, `taskhost plugin check` through the real `bin/taskhost`: for each rule, a fixture
 * that breaks it (test/fixtures/plugins has one per protocol rule) gets the right verdict and
 * fix, and plugins that keep the protocol (the reference bash.sh and python.py among them)
 * pass. Exit codes: 0 when nothing fails, 1 when a rule fails, 2 for bad usage. It opens no
 * store: the environment names a database that does not exist, and nothing is created.
 */

// A DATABASE_URL nobody answers: any attempt to open a store would fail the command.
const env = cliEnv({
  DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none',
  PATH: pythonFirstPath(),
  API_TOKEN: 'set-in-the-callers-environment',
});

type Verdict = 'pass' | 'warn' | 'fail' | 'skip';

interface Rule {
  id: string;
  verdict: Verdict;
  message: string;
  fix: string | null;
}

interface Report {
  file: string;
  name: string | null;
  ok: boolean;
  counts: Record<Verdict, number>;
  rules: Rule[];
  data: unknown;
  timings: { schema_ms: number | null; run_ms: number | null };
}

const RULE_IDS = [
  'executable',
  'shebang',
  'schema-answers',
  'schema-json',
  'description',
  'schemas-compile',
  'name',
  'heredoc-key',
  'example-data',
  'result-line',
  'outputs',
  'exit-code',
  'final-state',
  'output-after-result',
  'json-logs',
  'timeout',
  'environment',
  'run-outcome',
];

async function check(
  file: string,
  args: readonly string[] = [],
  cwd?: string,
): Promise<{ result: CliResult; report: Report }> {
  const result = await taskhost(['plugin', 'check', file, '--json', ...args], {
    env,
    timeoutMs: 60_000,
    ...(cwd === undefined ? {} : { cwd }),
  });
  assert.ok(result.exitCode === 0 || result.exitCode === 1, `exit ${result.exitCode}: ${result.stderr}`);
  const report = stdoutJson<Report>(result);
  assert.deepEqual(
    report.rules.map((rule) => rule.id),
    RULE_IDS,
    'every rule, in order',
  );
  assert.equal(result.exitCode, report.ok ? 0 : 1, 'exit 1 exactly when a rule fails');
  assert.equal(
    report.ok,
    report.rules.every((rule) => rule.verdict !== 'fail'),
  );
  for (const rule of report.rules) {
    assert.equal(
      rule.fix !== null,
      rule.verdict === 'warn' || rule.verdict === 'fail',
      `${rule.id}: a fix when, and only when, it warns or fails`,
    );
    assert.doesNotMatch(rule.message, /\n/, `${rule.id}: one line`);
  }
  return { result, report };
}

function rule(report: Report, id: string): Rule {
  const found = report.rules.find((candidate) => candidate.id === id);
  assert.ok(found, `rule ${id}`);
  return found;
}

/** Asserts a rule's verdict, and that its message and fix match. */
function expectRule(report: Report, id: string, verdict: Verdict, message?: RegExp, fix?: RegExp): Rule {
  const found = rule(report, id);
  assert.equal(found.verdict, verdict, `${id}: ${JSON.stringify(found)}`);
  if (message) assert.match(found.message, message, id);
  if (fix) assert.match(found.fix ?? '', fix, `${id} fix`);
  return found;
}

/** The rules that failed, by id. */
function failures(report: Report): string[] {
  return report.rules.filter((candidate) => candidate.verdict === 'fail').map((candidate) => candidate.id);
}

const REFERENCE_DATA = '{"cmd": "hostname", "requestId": "214215161263", "user": "tester"}';

describe('plugin check', { concurrency: 3 }, () => {
  test('plugins that keep the protocol pass: ok.sh, and the reference bash.sh and python.py with the data of their doc', async () => {
    const ok = await check(fixturePath('ok.sh'));
    assert.deepEqual(failures(ok.report), []);
    assert.equal(ok.report.name, 'ok');
    expectRule(ok.report, 'example-data', 'pass', /built from the schema's examples and defaults/);
    expectRule(ok.report, 'schemas-compile', 'pass', /inputs as draft-07/);
    expectRule(ok.report, 'run-outcome', 'pass', /taskhost would record DONE/);
    expectRule(ok.report, 'outputs', 'skip', /no "outputs" schema declared/);
    for (const file of ['reference-bash.sh', 'reference-python.py']) {
      const { report } = await check(fixturePath(file), ['--data', REFERENCE_DATA]);
      assert.deepEqual(
        report.rules.filter((candidate) => candidate.verdict !== 'pass').map((candidate) => candidate.id),
        [],
        `${file}: ${JSON.stringify(report.rules)}`,
      );
      expectRule(report, 'outputs', 'pass');
      assert.deepEqual(report.data, JSON.parse(REFERENCE_DATA));
      assert.ok((report.timings.schema_ms ?? 0) > 0 && (report.timings.run_ms ?? 0) > 0, 'both runs timed');
    }
  });

  test('executable: a file without its execute bit fails with chmod +x, and nothing runs', async () => {
    const file = fixturePath('not-executable.sh');
    const { report } = await check(file);
    expectRule(report, 'executable', 'fail', /not executable/, new RegExp(`^chmod \\+x ${file}$`));
    expectRule(report, 'shebang', 'pass');
    for (const id of RULE_IDS.slice(2)) {
      expectRule(report, id, 'skip', /not checked: the file is not executable/);
    }
  });

  test('shebang: no #! line, and a #! line with Windows line endings', async () => {
    const none = await check(fixturePath('no-shebang.sh'));
    expectRule(none.report, 'shebang', 'fail', /no #! line/, /#!\/usr\/bin\/env bash/);
    // It still runs (through /bin/sh), and the rest is checked.
    expectRule(none.report, 'result-line', 'pass');
    const crlf = await check(fixturePath('crlf-shebang.sh'));
    expectRule(crlf.report, 'shebang', 'fail', /carriage return/, /sed -i 's\/\\r\$\/\/'/);
    expectRule(crlf.report, 'schema-answers', 'fail', /exited with code 127/);
  });

  test('schema-answers: `schema` exiting non-zero (its stderr shown), or not answering within 10 s', async () => {
    const failing = await check(fixturePath('failing-schema.sh'));
    expectRule(
      failing.report,
      'schema-answers',
      'fail',
      /exited with code 5 \(stderr: failing-schema: config file missing\)/,
      /exit 0/,
    );
    expectRule(failing.report, 'schema-json', 'skip', /not checked: `schema` did not answer/);
    const hanging = await check(fixturePath('hanging-schema.sh'));
    expectRule(
      hanging.report,
      'schema-answers',
      'fail',
      /did not answer within 10 s/,
      /answer `schema` first/,
    );
  });

  test('schema-json: invalid JSON, and JSON that is not an object', async () => {
    const bad = await check(fixturePath('bad-schema.sh'));
    expectRule(bad.report, 'schema-json', 'fail', /printed invalid JSON/, /heredoc|json\.dumps/);
    const array = await check(fixturePath('array-schema.sh'));
    expectRule(array.report, 'schema-json', 'fail', /printed an array, not a JSON object/);
  });

  test('description and schemas-compile: a missing inputs; inputs that do not compile; the draft read', async () => {
    const missing = await check(fixturePath('missing-inputs-schema.sh'));
    expectRule(
      missing.report,
      'description',
      'fail',
      /must have property "inputs"/,
      /"name", "description" and "inputs"/,
    );
    const bad = await check(fixturePath('uncompilable-inputs.sh'));
    expectRule(
      bad.report,
      'schemas-compile',
      'fail',
      /"inputs" is not a valid JSON Schema: .*\(read as draft-07\)/,
      /\$schema/,
    );
    expectRule(bad.report, 'example-data', 'skip', /not checked: the description is invalid/);
    const draft04 = await check(fixturePath('draft04-schema.sh'), ['--data', '{"amount": 12.5}']);
    expectRule(draft04.report, 'schemas-compile', 'pass', /inputs as draft-04/);
    assert.deepEqual(failures(draft04.report), []);
  });

  test('name: a name taskhost refuses (a builtin action, a slash)', async (t) => {
    const dir = tempDir(t);
    for (const name of ['echo', 'bad/name']) {
      const file = path.join(dir, 'named.sh');
      fs.writeFileSync(
        file,
        `#!/usr/bin/env bash\nif [[ "\${1:-}" == schema ]]; then echo '{"name": "${name}", "description": "d", "inputs": {"type": "object"}}'; exit 0; fi\necho '{"status": 1, "reason": "ok"}'\n`,
        { mode: 0o755 },
      );
      const { report } = await check(file);
      expectRule(
        report,
        'name',
        'fail',
        name === 'echo' ? /builtin action/ : /invalid plugin name/,
        /rename it/,
      );
    }
  });

  test('heredoc-key: an unquoted heredoc warns; its string-pasted result breaks on a quote', async () => {
    const plain = await check(fixturePath('heredoc-schema.sh'), ['--data', '{"name": "Ada"}']);
    expectRule(
      plain.report,
      'heredoc-key',
      'warn',
      /empty key "" \(at "\(top level\)", "inputs"\)/,
      /cat <<'EOF'/,
    );
    assert.deepEqual(failures(plain.report), [], 'a warning, not a failure: exit 0');
    assert.equal(plain.result.exitCode, 0);
    const quoted = await check(fixturePath('heredoc-schema.sh'), ['--data', '{"name": "O\\"Brien"}']);
    expectRule(
      quoted.report,
      'result-line',
      'fail',
      /looks like one, but it is not valid JSON/,
      /JSON encoder/,
    );
  });

  test('example-data: data that inputs refuses fails; no examples to build from warns and runs nothing', async () => {
    const refused = await check(fixturePath('touch-marker.sh'), [
      '--data',
      '{"marker": "/tmp/x", "count": 0}',
    ]);
    expectRule(
      refused.report,
      'example-data',
      'fail',
      /does not match inputs: \/count must be >= 1/,
      /--data/,
    );
    expectRule(refused.report, 'result-line', 'skip', /not checked: no data that inputs accepts/);
    const nothing = await check(fixturePath('rich-metadata.sh'));
    expectRule(nothing.report, 'example-data', 'warn', /no example or default for x/, /"examples"/);
    assert.equal(nothing.result.exitCode, 0);
  });

  test('result-line: a string status, an unquoted key, nothing at all, a result on stderr only', async (t) => {
    const noResult = await check(fixturePath('no-result.sh'));
    expectRule(
      noResult.report,
      'result-line',
      'fail',
      /line 3 looks like one, but its "status" is the string "1", not an integer/,
      /integer/,
    );
    const invalid = await check(fixturePath('invalid-json.sh'));
    expectRule(
      invalid.report,
      'result-line',
      'fail',
      /line 2 looks like one, but it is not valid JSON/,
      /JSON encoder/,
    );
    const crash = await check(fixturePath('crash.sh'));
    expectRule(
      crash.report,
      'result-line',
      'fail',
      /no stdout line is a JSON object with an integer "status" \(the plugin exited with code 2; last stderr: .*crash-stderr-15\)/,
      /last stdout line/,
    );
    const noNewline = await check(fixturePath('no-newline.sh'));
    expectRule(noNewline.report, 'result-line', 'pass', /line 2001 of 2001 on stdout/);

    const file = path.join(tempDir(t), 'stderr-result.sh');
    fs.writeFileSync(
      file,
      `#!/usr/bin/env bash\nif [[ "\${1:-}" == schema ]]; then echo '{"name": "stderr-result", "description": "d", "inputs": {"type": "object"}}'; exit 0; fi\necho '{"status": 1, "reason": "ok"}' >&2\n`,
      { mode: 0o755 },
    );
    const onStderr = await check(file);
    expectRule(onStderr.report, 'result-line', 'fail', /the result was printed on stderr/, /on stdout/);
  });

  test('outputs: a result its outputs schema refuses', async () => {
    const { report } = await check(fixturePath('outputs-mismatch.sh'));
    expectRule(report, 'outputs', 'fail', /\/payload\/count must be integer/, /"outputs"/);
    expectRule(report, 'run-outcome', 'fail', /SERVER_ERROR: result does not match/);
  });

  test('exit-code: non-zero after a result, killed by a signal', async () => {
    const after = await check(fixturePath('exit-after-result.sh'));
    expectRule(
      after.report,
      'exit-code',
      'fail',
      /exited with code 3 after its result line/,
      /exit 0 once the result is printed/,
    );
    expectRule(after.report, 'result-line', 'pass');
    assert.deepEqual(failures(after.report), ['exit-code', 'run-outcome']);
    const signal = await check(fixturePath('signal.sh'));
    expectRule(signal.report, 'exit-code', 'fail', /killed by SIGUSR1/);
  });

  test('final-state: a live state fails; a custom state passes', async () => {
    const live = await check(fixturePath('live-state.sh'));
    expectRule(live.report, 'final-state', 'fail', /"RUNNING" is not a final state/, /custom state/);
    const custom = await check(fixturePath('custom-state.sh'));
    expectRule(custom.report, 'final-state', 'pass', /ALREADY_DONE/);
    expectRule(custom.report, 'run-outcome', 'pass', /record ALREADY_DONE/);
  });

  test('output-after-result and json-logs: lines after the result, and log lines with a "status" key', async () => {
    const { report, result } = await check(fixturePath('output-after-result.sh'));
    expectRule(
      report,
      'output-after-result',
      'warn',
      /^3 stdout line\(s\) after the result line, the first: "cleaning up"/,
      /stderr/,
    );
    expectRule(report, 'json-logs', 'warn', /line 1: .*an earlier result is superseded/, /stderr/);
    expectRule(report, 'result-line', 'pass', /line 2 of 5 on stdout/);
    assert.equal(result.exitCode, 0, 'warnings only');
    const noResult = await check(fixturePath('no-result.sh'));
    expectRule(noResult.report, 'json-logs', 'warn', /line 3/);
    const stderrOnly = await check(fixturePath('stderr-only.sh'));
    expectRule(stderrOnly.report, 'json-logs', 'pass', /no other stdout line/);
  });

  test('timeout: a run killed at its timeout (here --timeout) fails, its process group gone', async (t) => {
    const pidfile = path.join(tempDir(t), 'pid');
    const { report } = await check(fixturePath('hang.sh'), [
      '--data',
      JSON.stringify({ pidfile }),
      '--timeout',
      '0.5',
    ]);
    expectRule(report, 'timeout', 'fail', /killed after the --timeout of 0\.50 s/, /"timeout"/);
    expectRule(report, 'exit-code', 'skip', /killed by its timeout/);
    const grandchild = Number(fs.readFileSync(pidfile, 'utf8'));
    // A hang guard, not a speed claim: the grandchild may stay a zombie a moment before init reaps it.
    assert.ok(
      await eventually(() => !isAlive(grandchild), 10_000),
      'the grandchild was killed with the group',
    );
    const declared = await check(fixturePath('rich-metadata.sh'), ['--data', '{"x": "y"}']);
    expectRule(declared.report, 'timeout', 'pass', /of its declared timeout of 30 s/);
  });

  test('environment: a plugin that fails without a variable taskhost does not pass is told so', async () => {
    // API_TOKEN is set in the environment of `taskhost plugin check`, as in a user's shell:
    // the plugin does not get it, as under taskhost.
    const { report } = await check(fixturePath('needs-env.sh'));
    expectRule(report, 'environment', 'warn', /reads API_TOKEN, which taskhost does not pass/, /as data/);
    expectRule(report, 'exit-code', 'fail', /API_TOKEN is not set/);
    const envDump = await check(fixturePath('env-dump.py'));
    expectRule(envDump.report, 'environment', 'pass', /minimal environment/);
  });

  test("run-outcome: a failure the plugin reports itself warns (exit 0), with taskhost's state", async () => {
    const { report, result } = await check(fixturePath('client-error.py'));
    expectRule(report, 'run-outcome', 'warn', /record CLIENT_ERROR: user bob does not exist/, /--data/);
    assert.equal(result.exitCode, 0);
  });

  test('the text report: a line per rule, the fix under a warning or failure, a summary', async () => {
    const result = await taskhost(['plugin', 'check', fixturePath('exit-after-result.sh')], {
      env,
      timeoutMs: 60_000,
    });
    assertExit(result, 1);
    const lines = result.stdout.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^plugin check .*exit-after-result\.sh \(exit-after-result\)$/);
    const failLine = lines.findIndex((line) => /^ {2}fail {2}exit-code +exited with code 3/.test(line));
    assert.ok(failLine > 0, result.stdout);
    assert.match(lines[failLine + 1] ?? '', /^ {8,}fix: exit 0 once the result is printed/);
    assert.match(lines.at(-1) ?? '', /^\d+ passed, 0 warnings, 2 failed, 1 skipped: FAILED$/);
    assert.equal(result.stderr, '');
  });

  test('bad usage exits 2 in one line; nothing is registered and no store is opened', async (t) => {
    const cwd = tempDir(t);
    const usage = async (args: string[], pattern: RegExp): Promise<void> => {
      const result = await taskhost(['plugin', 'check', ...args], { env, cwd, timeoutMs: 30_000 });
      assert.match(assertOneLineError(result, 2), pattern);
    };
    await usage([path.join(cwd, 'missing.sh')], /no such file/);
    await usage([cwd], /not a regular file/);
    await usage([fixturePath('ok.sh'), '--data', '{nope'], /--data: invalid JSON/);
    await usage(
      [fixturePath('ok.sh'), '--data', '{}', '--data-file', 'x.json'],
      /--data or --data-file, not both/,
    );
    await usage([fixturePath('ok.sh'), '--data-file', 'missing.json'], /--data-file missing\.json: ENOENT/);
    await usage([fixturePath('ok.sh'), '--timeout', '0'], /--timeout must be a positive number/);
    await usage([], /missing required argument 'path'/);
    fs.writeFileSync(path.join(cwd, 'data.json'), '{"name": "from a file"}');
    const fromFile = await check(fixturePath('ok.sh'), ['--data-file', 'data.json'], cwd);
    expectRule(fromFile.report, 'run-outcome', 'pass', /hello from a file/);
    assert.deepEqual(fs.readdirSync(cwd), ['data.json'], 'no .taskhost/ or anything else created');
  });
});
