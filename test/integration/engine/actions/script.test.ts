import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { createScriptAction } from '../../../../src/engine/actions/script.ts';
import type { ActionRunner } from '../../../../src/engine/actions/types.ts';
import { groupAlive, isAlive } from '../../../../src/system/processes.ts';
import { actionContext, actionFailure, type TestActionContext } from '../../../helpers/actions.ts';
import { tempDir } from '../../../helpers/plugin-fixtures.ts';

/**
 * µTask's `script` builtin (pkg/plugins/builtin/script) on real bash and python3 scripts
 * written to a fresh scripts directory for each test.
 */

interface Scripts {
  /** The scripts directory. */
  dir: string;
  /** Its parent, outside it (for escape attempts). */
  outside: string;
  action: ActionRunner;
  /** Writes an executable (unless `mode` says otherwise) script into the directory. */
  write(name: string, body: string, mode?: number): string;
}

function scripts(t: TestContext): Scripts {
  const outside = tempDir(t);
  const dir = path.join(outside, 'scripts');
  fs.mkdirSync(dir);
  return {
    dir,
    outside,
    action: createScriptAction({ scriptsDir: dir }),
    write(name, body, mode = 0o755) {
      const file = path.join(dir, name);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, body, { mode });
      return file;
    },
  };
}

/** A hang guard, not a speed claim: a broken kill or stream must fail, not hang the suite. */
const HANG_GUARD = { timeout: 60_000 };

const bash = (body: string): string => `#!/bin/bash\n${body}\n`;
const python = (body: string): string => `#!/usr/bin/env python3\nimport json, os, sys\n${body}\n`;

/** The number after `label ` in the logged lines ("pgid 1234"). */
function loggedNumber(run: TestActionContext, label: string): number {
  const line = run.lines.find((entry) => entry.line.startsWith(`${label} `));
  assert.ok(line, `the script never logged "${label}": ${JSON.stringify(run.lines)}`);
  return Number(line.line.slice(label.length + 1));
}

test('the last line of stdout is the output, with µTask metadata, and argv reaches it untouched by any shell', async (t) => {
  const s = scripts(t);
  s.write(
    'hello.py',
    python(`print("Hello world script")\nprint(json.dumps({"argv": sys.argv[1:]}, separators=(",", ":")))`),
  );
  const argv = ['world', 'two words', '$(touch pwned)', '; rm -rf x', '*', ''];
  const result = await s.action.run({ file_path: 'hello.py', argv }, actionContext().context);
  assert.deepEqual(result.output, { argv });
  const metadata = result.metadata as Record<string, string>;
  assert.deepEqual(
    { ...metadata, execution_time: '' },
    {
      exit_code: '0',
      process_state: 'exit status 0',
      output: `Hello world script\n${JSON.stringify({ argv })}\n`,
      execution_time: '',
      error: '',
    },
  );
  assert.match(metadata.execution_time as string, /^\d+(\.\d+)?(ns|µs|ms|s)$|^\d+m[\d.]+s$/);
  assert.equal(fs.existsSync(path.join(s.dir, 'pwned')), false, 'a shell ran $(touch pwned)');
});

test('stdin is written to the script, which runs in the scripts directory', async (t) => {
  const s = scripts(t);
  s.write('stdin.py', python('print(json.dumps({"stdin": sys.stdin.read(), "cwd": os.getcwd()}))'));
  const stdin = 'line one\n{"json": true}\n';
  const fed = await s.action.run({ file_path: 'stdin.py', stdin }, actionContext().context);
  assert.deepEqual(fed.output, { stdin, cwd: fs.realpathSync(s.dir) });
  const empty = await s.action.run({ file_path: 'stdin.py' }, actionContext().context);
  assert.equal((empty.output as { stdin: string }).stdin, '');
});

test('the environment is PATH, HOME, LANG, µTask`s UTASK_* and `environment`: never the server`s own', async (t) => {
  const s = scripts(t);
  process.env.TASKHOST_TEST_SECRET = 'must-not-leak';
  t.after(() => delete process.env.TASKHOST_TEST_SECRET);
  // The interpreter itself, not a launcher (a pyenv shim) that adds variables of its own.
  const interpreter = execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], {
    encoding: 'utf8',
  }).trim();
  s.write('env.py', `#!${interpreter}\nimport json, os\nprint(json.dumps(dict(os.environ)))\n`);
  s.write('env.sh', bash('env'));
  const context = actionContext({ taskId: 't-42', resolutionId: 'r-7', stepName: 'deploy-3' }).context;
  const configuration = { file_path: 'env.py', environment: { FOO: 'bar baz', COUNT: 3, EMPTY: null } };
  const seen = (await s.action.run(configuration, context)).output as Record<string, string>;
  assert.deepEqual(Object.keys(seen).sort(), [
    'COUNT',
    'EMPTY',
    'FOO',
    'HOME',
    'LANG',
    'PATH',
    'UTASK_RESOLUTION_ID',
    'UTASK_STEP_NAME',
    'UTASK_TASK_ID',
  ]);
  assert.deepEqual(
    [seen.UTASK_TASK_ID, seen.UTASK_RESOLUTION_ID, seen.UTASK_STEP_NAME, seen.FOO, seen.COUNT, seen.EMPTY],
    ['t-42', 'r-7', 'deploy-3', 'bar baz', '3', ''],
  );
  const run = actionContext();
  await s.action.run({ file_path: 'env.sh', output_mode: 'disabled' }, run.context);
  const printed = run.lines.map((entry) => entry.line);
  assert.ok(printed.includes('UTASK_TASK_ID=task-1'), printed.join('\n'));
  assert.equal(
    printed.some((line) => line.includes('must-not-leak') || line.startsWith('TASKHOST_')),
    false,
    `the script saw the server's environment:\n${printed.join('\n')}`,
  );
});

test('`environment` may override the UTASK_* variables, as in µTask, and refuses names that cannot be', async (t) => {
  const s = scripts(t);
  s.write('env.py', python('print(json.dumps({"step": os.environ["UTASK_STEP_NAME"]}))'));
  const result = await s.action.run(
    { file_path: 'env.py', environment: { UTASK_STEP_NAME: 'mine' } },
    actionContext().context,
  );
  assert.deepEqual(result.output, { step: 'mine' });
  assert.equal(
    s.action.validateConfig?.({ file_path: 'env.py', environment: { 'A=B': 'x' } }),
    'configuration.environment: "A=B" is not a variable name',
  );
  assert.equal(
    s.action.validateConfig?.({ file_path: 'env.py', environment: { A: ['x'] } }),
    'configuration.environment.A: must be a string, not a list',
  );
});

test(
  'each stdout and stderr line reaches the log as it is printed, /dev/stderr included',
  HANG_GUARD,
  async (t) => {
    const s = scripts(t);
    const gate = path.join(s.outside, 'gate');
    const stderrSeen = path.join(s.outside, 'stderr-seen');
    // The script waits for a file the test creates only when it has seen the first line logged:
    // if lines were delivered at exit, the script would run into its timeout. Then it waits
    // again until its stderr lines are logged before its last stdout line: stdout and stderr
    // are two pipes, whose lines written in the same instant may be read in either order.
    s.write(
      'stream.sh',
      bash(
        `echo ready\nwhile [ ! -e "$1" ]; do sleep 0.02; done\necho "to stderr" >&2\necho "via dev" > /dev/stderr\nwhile [ ! -e "$2" ]; do sleep 0.02; done\necho '{"done": true}'`,
      ),
    );
    const run = actionContext({}, (line) => {
      if (line.line === 'ready') fs.writeFileSync(gate, '');
      if (line.line === 'via dev') fs.writeFileSync(stderrSeen, '');
    });
    const result = await s.action.run(
      { file_path: 'stream.sh', argv: [gate, stderrSeen], timeout: '30s' },
      run.context,
    );
    assert.deepEqual(result.output, { done: true });
    assert.deepEqual(run.lines, [
      { stream: 'stdout', line: 'ready' },
      { stream: 'stderr', line: 'to stderr' },
      { stream: 'stderr', line: 'via dev' },
      { stream: 'stdout', line: '{"done": true}' },
    ]);
    assert.equal(
      (result.metadata as { output: string }).output,
      'ready\nto stderr\nvia dev\n{"done": true}\n',
      'metadata.output mixes both streams as µTask`s CombinedOutput does',
    );
  },
);

test('the output is read from stdout alone: stderr printed after it does not break it', async (t) => {
  const s = scripts(t);
  s.write('warn.sh', bash(`echo '{"a": 1}'\necho "warning: late" >&2`));
  const result = await s.action.run({ file_path: 'warn.sh' }, actionContext().context);
  assert.deepEqual(result.output, { a: 1 });
});

test('trailing blank lines are skipped, no output gives {}, and JSON null gives {}', async (t) => {
  const s = scripts(t);
  s.write('blank.sh', bash(`echo '{"a": 1}'\necho\necho "   "`));
  s.write('silent.sh', bash('true'));
  s.write('null.sh', bash('echo null'));
  s.write('nonewline.sh', bash(`printf 'x\\n{"b": 2}'`));
  const context = actionContext().context;
  assert.deepEqual((await s.action.run({ file_path: 'blank.sh' }, context)).output, { a: 1 });
  assert.deepEqual((await s.action.run({ file_path: 'silent.sh' }, context)).output, {});
  assert.deepEqual((await s.action.run({ file_path: 'null.sh' }, context)).output, {});
  assert.deepEqual((await s.action.run({ file_path: 'nonewline.sh' }, context)).output, { b: 2 });
});

test('a successful script whose last line is not a JSON object is a SERVER_ERROR, as in µTask', async (t) => {
  const s = scripts(t);
  s.write('text.sh', bash(`echo '{"a": 1}'\necho done`));
  s.write('list.sh', bash(`echo '[1, 2]'`));
  const text = await actionFailure(s.action.run({ file_path: 'text.sh' }, actionContext().context), 'server');
  assert.match(text.message, /^script text\.sh: its output is not a JSON object: /);
  assert.equal((text.metadata as { exit_code: string }).exit_code, '0');
  const list = await actionFailure(s.action.run({ file_path: 'list.sh' }, actionContext().context), 'server');
  assert.equal(list.message, 'script list.sh: its output is not a JSON object: a list is not a JSON object');
});

test('a non-zero exit code is a SERVER_ERROR "exit code: N", keeping the output and metadata', async (t) => {
  const s = scripts(t);
  s.write('fail.sh', bash(`echo '{"why": "disk full"}'\nexit 3`));
  s.write('failtext.sh', bash(`echo 'not json'\nexit 4`));
  const failure = await actionFailure(
    s.action.run({ file_path: 'fail.sh' }, actionContext().context),
    'server',
  );
  assert.equal(failure.message, 'exit code: 3');
  assert.deepEqual(failure.output, { why: 'disk full' });
  const metadata = failure.metadata as Record<string, string>;
  assert.deepEqual(
    [metadata.exit_code, metadata.process_state, metadata.error],
    ['3', 'exit status 3', 'exit status 3'],
  );
  const text = await actionFailure(
    s.action.run({ file_path: 'failtext.sh' }, actionContext().context),
    'server',
  );
  assert.equal(
    text.message,
    'exit code: 4',
    'an undecodable output is ignored when the exit code already failed',
  );
  assert.deepEqual(text.output, {});
});

test('exit_codes_unrecoverable turns listed codes and ranges into CLIENT_ERRORs', async (t) => {
  const s = scripts(t);
  s.write('exit.sh', bash('exit "$1"'));
  const exit = (code: number, unrecoverable: unknown[]): Promise<unknown> =>
    s.action.run(
      { file_path: 'exit.sh', argv: [String(code)], exit_codes_unrecoverable: unrecoverable },
      actionContext().context,
    );
  assert.equal(
    (await actionFailure(exit(12, ['3', '10-20']), 'client')).message,
    'Client error: exit code: 12',
  );
  assert.equal(
    (await actionFailure(exit(3, ['3', '10-20']), 'client')).message,
    'Client error: exit code: 3',
  );
  assert.equal(
    (await actionFailure(exit(20, [5, '10-20']), 'client')).message,
    'Client error: exit code: 20',
  );
  assert.equal((await actionFailure(exit(21, ['3', '10-20']), 'server')).message, 'exit code: 21');
  assert.deepEqual(await exit(0, ['1-255']).then((result) => (result as { output: unknown }).output), {});
});

test('exit_codes_unrecoverable entries are checked as µTask checks them', (t) => {
  const s = scripts(t);
  s.write('exit.sh', bash('exit 0'));
  const check = (entries: unknown): string | undefined =>
    s.action.validateConfig?.({ file_path: 'exit.sh', exit_codes_unrecoverable: entries });
  assert.equal(
    check(['3', 'x']),
    'configuration.exit_codes_unrecoverable[1]: "x" is neither an exit code (12) nor a range (120-130)',
  );
  assert.equal(
    check(['20-10']),
    'configuration.exit_codes_unrecoverable[0]: in "20-10", the end of the range must be above its start',
  );
  assert.equal(
    check(['0-5']),
    'configuration.exit_codes_unrecoverable[0]: "0-5" includes exit code 0, which is a success',
  );
  assert.equal(check('3'), 'configuration.exit_codes_unrecoverable: must be a list, not the string "3"');
  assert.equal(check(['1-10', 100, '{{.input.code}}']), undefined);
});

test('a script killed by a signal has exit code -1 and Go`s process state', async (t) => {
  const s = scripts(t);
  s.write('suicide.sh', bash('kill -KILL $$'));
  const failure = await actionFailure(
    s.action.run({ file_path: 'suicide.sh' }, actionContext().context),
    'server',
  );
  assert.equal(failure.message, 'exit code: -1');
  const metadata = failure.metadata as Record<string, string>;
  assert.deepEqual([metadata.exit_code, metadata.process_state], ['-1', 'signal: killed']);
});

test('output_mode disabled gives {} whatever is printed; manual-delimiters reads between them', async (t) => {
  const s = scripts(t);
  s.write('noisy.sh', bash(`echo '{"ignored": true}'`));
  s.write(
    'delimited.sh',
    bash(`echo noise\necho 'JSON_START{"a":'\necho ' [1, 2]}JSON_END'\necho '{"last": "line"}'`),
  );
  const context = actionContext().context;
  const disabled = await s.action.run({ file_path: 'noisy.sh', output_mode: 'disabled' }, context);
  assert.deepEqual(disabled.output, {});
  const delimited = await s.action.run(
    {
      file_path: 'delimited.sh',
      output_mode: 'manual-delimiters',
      output_manual_delimiters: ['JSON_START', 'JSON_END'],
    },
    context,
  );
  assert.deepEqual(delimited.output, { a: [1, 2] });
  const lastLine = await s.action.run({ file_path: 'delimited.sh', output_mode: 'manual-lastline' }, context);
  assert.deepEqual(lastLine.output, { last: 'line' });
});

test('output_mode and its delimiters are checked as µTask checks them', (t) => {
  const s = scripts(t);
  s.write('x.sh', bash('true'));
  const check = (fields: Record<string, unknown>): string | undefined =>
    s.action.validateConfig?.({ file_path: 'x.sh', ...fields });
  assert.equal(
    check({ output_mode: 'auto' }),
    'configuration.output_mode: must be one of manual-lastline, manual-delimiters, disabled, not "auto"',
  );
  assert.equal(
    check({ output_mode: 'manual-delimiters' }),
    'configuration.output_manual_delimiters: is missing (output_mode is manual-delimiters)',
  );
  assert.equal(
    check({ output_manual_delimiters: ['A', 'B'] }),
    'configuration.output_manual_delimiters: is read only when output_mode is manual-delimiters',
  );
  assert.equal(
    check({ output_mode: 'manual-delimiters', output_manual_delimiters: ['A'] }),
    'configuration.output_manual_delimiters: needs 2 expressions [START, END], not 1',
  );
  assert.equal(
    check({ output_mode: 'manual-delimiters', output_manual_delimiters: ['(', 'B'] }),
    'configuration.output_manual_delimiters: Unterminated group',
  );
  assert.equal(check({ output_mode: '{{.input.mode}}', output_manual_delimiters: ['A', 'B'] }), undefined);
});

test(
  'a script that hangs is killed with its whole process group at the timeout: SERVER_ERROR',
  HANG_GUARD,
  async (t) => {
    const s = scripts(t);
    s.write('hang.sh', bash('echo "pgid $$"\nsleep 600 &\necho "child $!"\nwait'));
    const run = actionContext();
    const failure = await actionFailure(
      s.action.run({ file_path: 'hang.sh', timeout: '1s' }, run.context),
      'server',
    );
    assert.equal(failure.message, 'script hang.sh: killed after the 1s timeout (configuration.timeout)');
    const metadata = failure.metadata as Record<string, string>;
    assert.deepEqual([metadata.exit_code, metadata.process_state], ['-1', 'signal: terminated']);
    assert.equal(metadata.error, 'killed after the 1s timeout (configuration.timeout)');
    const pgid = loggedNumber(run, 'pgid');
    const child = loggedNumber(run, 'child');
    assert.equal(groupAlive(pgid), false, `process group ${pgid} outlived the run`);
    assert.equal(isAlive(child), false, `the script's child ${child} outlived the run`);
  },
);

test(
  'aborting the step`s signal kills the script`s whole group and names why: SERVER_ERROR',
  HANG_GUARD,
  async (t) => {
    const s = scripts(t);
    s.write('hang.sh', bash('sleep 600 &\necho "child $!"\necho "pgid $$"\nwait'));
    const run = actionContext({}, (line, controller) => {
      if (line.line.startsWith('pgid ')) controller.abort('the task was cancelled');
    });
    const failure = await actionFailure(
      s.action.run({ file_path: 'hang.sh', timeout: '10m' }, run.context),
      'server',
    );
    assert.equal(failure.message, 'script hang.sh: cancelled: the task was cancelled');
    const pgid = loggedNumber(run, 'pgid');
    assert.equal(groupAlive(pgid), false, `process group ${pgid} outlived the cancelled run`);
    assert.equal(isAlive(loggedNumber(run, 'child')), false);
  },
);

test('a file outside the scripts directory is refused, by .., absolute path or symlink, and never runs', async (t) => {
  const s = scripts(t);
  const marker = path.join(s.outside, 'ran');
  fs.writeFileSync(path.join(s.outside, 'outside.sh'), bash(`touch ${marker}`), { mode: 0o755 });
  fs.symlinkSync(path.join(s.outside, 'outside.sh'), path.join(s.dir, 'link.sh'));
  fs.symlinkSync(s.outside, path.join(s.dir, 'up'));
  fs.mkdirSync(path.join(s.dir, 'sub'));
  const refusals: Array<[string, string]> = [
    [
      '../outside.sh',
      'configuration.file_path: "../outside.sh" must name a file inside the scripts directory',
    ],
    [
      'sub/../../outside.sh',
      'configuration.file_path: "sub/../../outside.sh" must name a file inside the scripts directory',
    ],
    [
      path.join(s.outside, 'outside.sh'),
      `configuration.file_path: "${path.join(s.outside, 'outside.sh')}" must name a file inside the scripts directory`,
    ],
    ['link.sh', 'configuration.file_path: "link.sh" leads outside the scripts directory (through a symlink)'],
    [
      'up/outside.sh',
      'configuration.file_path: "up/outside.sh" leads outside the scripts directory (through a symlink)',
    ],
  ];
  for (const [file, problem] of refusals) {
    assert.equal(s.action.validateConfig?.({ file_path: file }), problem);
    const failure = await actionFailure(s.action.run({ file_path: file }, actionContext().context), 'fatal');
    assert.equal(failure.message, problem);
  }
  assert.equal(fs.existsSync(marker), false, 'a refused script ran');
});

test('a symlink that stays inside the directory runs, and subdirectories are allowed', async (t) => {
  const s = scripts(t);
  s.write('lib/real.sh', bash(`echo '{"ok": true}'`));
  fs.symlinkSync('lib/real.sh', path.join(s.dir, 'alias.sh'));
  assert.deepEqual((await s.action.run({ file_path: 'alias.sh' }, actionContext().context)).output, {
    ok: true,
  });
  assert.deepEqual((await s.action.run({ file_path: 'lib/real.sh' }, actionContext().context)).output, {
    ok: true,
  });
});

test('a missing, non-executable or directory file is refused, as µTask refuses it', (t) => {
  const s = scripts(t);
  s.write('plain.sh', bash('true'), 0o644);
  fs.mkdirSync(path.join(s.dir, 'folder'));
  assert.equal(
    s.action.validateConfig?.({ file_path: 'plain.sh' }),
    'configuration.file_path: "plain.sh" is not executable (chmod +x)',
  );
  assert.equal(
    s.action.validateConfig?.({ file_path: 'nope.sh' }),
    `configuration.file_path: "nope.sh" is not in the scripts directory ${s.dir} (ENOENT)`,
  );
  assert.equal(
    s.action.validateConfig?.({ file_path: 'folder' }),
    'configuration.file_path: "folder" is not a file',
  );
  assert.equal(s.action.validateConfig?.({ file_path: '.' }), 'configuration.file_path: "." is not a file');
  assert.equal(s.action.validateConfig?.({}), 'configuration.file_path: is missing (the script to run)');
  assert.equal(s.action.validateConfig?.({ file_path: '{{.input.script}}' }), undefined);
});

test('µTask`s first name for the field, `file`, is read too, but not with file_path', async (t) => {
  const s = scripts(t);
  s.write('old.sh', bash(`echo '{"old": true}'`));
  assert.deepEqual((await s.action.run({ file: 'old.sh' }, actionContext().context)).output, { old: true });
  assert.equal(
    s.action.validateConfig?.({ file: 'old.sh', file_path: 'old.sh' }),
    'configuration.file: file and file_path name the same thing: keep file_path',
  );
});

test('a script its interpreter cannot start is a SERVER_ERROR saying so', async (t) => {
  const s = scripts(t);
  s.write('broken.sh', '#!/nonexistent/interpreter\necho hi\n');
  const failure = await actionFailure(
    s.action.run({ file_path: 'broken.sh' }, actionContext().context),
    'server',
  );
  assert.match(failure.message, /^script broken\.sh: cannot execute .*broken\.sh: ENOENT$/);
  assert.equal((failure.metadata as { exit_code: string }).exit_code, '1');
});

test('timeout is a positive Go duration, checked once rendered', async (t) => {
  const s = scripts(t);
  s.write('x.sh', bash('true'));
  // The field's problems, as validation names them (a duration's text, not a measured time).
  const field = 'timeout';
  const problemOf = (value: unknown): string | undefined =>
    s.action.validateConfig?.({ file_path: 'x.sh', [field]: value });
  const templated = '{{.input.limit}}';
  assert.deepEqual(['10 parsecs', '-1s', '1000h', templated].map(problemOf), [
    `configuration.${field}: unknown unit " parsecs" in duration "10 parsecs" (units: ns, us, ms, s, m, h)`,
    `configuration.${field}: must be positive, not "-1s"`,
    `configuration.${field}: "1000h" is too long (at most 596h)`,
    undefined,
  ]);
  const failure = await actionFailure(
    s.action.run({ file_path: 'x.sh', [field]: templated }, actionContext().context),
    'fatal',
  );
  const refused = `configuration.${field}: invalid duration "${templated}"`;
  assert.deepEqual([failure.message], [refused]);
});

test('argv must be a list of strings; a misspelt field is named', (t) => {
  const s = scripts(t);
  s.write('x.sh', bash('true'));
  assert.equal(
    s.action.validateConfig?.({ file_path: 'x.sh', argv: 'a b' }),
    'configuration.argv: must be a list, not the string "a b"',
  );
  assert.equal(
    s.action.validateConfig?.({ file_path: 'x.sh', argv: [{ a: 1 }] }),
    'configuration.argv[0]: must be a string, not a map',
  );
  assert.match(
    s.action.validateConfig?.({ file_path: 'x.sh', timout: '1s' }) ?? '',
    /^configuration\.timout: unknown field \(did you mean "timeout"\?\)/,
  );
});

test('the step holds µTask`s resources: fork, and script:FILE', (t) => {
  const s = scripts(t);
  assert.deepEqual(s.action.resources?.({ file_path: 'deploy.sh' }), ['fork', 'script:deploy.sh']);
  assert.deepEqual(s.action.resources?.({ file: 'old.sh' }), ['fork', 'script:old.sh']);
  assert.deepEqual(s.action.resources?.(null), ['fork']);
});
