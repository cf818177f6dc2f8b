import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { describePlugin, type PluginDescription } from '../../../src/plugins/description.ts';
import type { OutputLine } from '../../../src/plugins/output.ts';
import {
  DEFAULT_OUTPUT_CAP_BYTES,
  runPlugin,
  type PluginRunOutcome,
  type PluginRunRequest,
} from '../../../src/plugins/run-plugin.ts';
import type { FloodMemoryReport } from '../../helpers/flood-memory.ts';
import { eventually, fixturePath, isAlive, readPid, tempDir } from '../../helpers/plugin-fixtures.ts';

const PROJECT_DIR = fileURLToPath(new URL('../../../', import.meta.url));
const FLOOD_MEMORY = fileURLToPath(new URL('../../helpers/flood-memory.ts', import.meta.url));

/**
 * SPEC section 3, rule by rule: each test runs one real executable from
 * test/fixtures/plugins/ through runPlugin and asserts the exact state and that the error
 * names the cause.
 */

interface Run {
  outcome: PluginRunOutcome;
  lines: OutputLine[];
}

type RunOptions = Omit<PluginRunRequest, 'plugin' | 'data'> & { description?: PluginDescription };

async function runFixture(name: string, data: unknown = {}, options: RunOptions = {}): Promise<Run> {
  const location = fixturePath(name);
  const description = options.description ?? (await describePlugin(location));
  const lines: OutputLine[] = [];
  const { onLine } = options;
  const outcome = await runPlugin({
    killGraceMs: 100,
    ...options,
    plugin: { name: description.name, location, description },
    data,
    onLine: (line) => {
      lines.push(line);
      onLine?.(line);
    },
  });
  return { outcome, lines };
}

function texts(lines: readonly OutputLine[], stream: OutputLine['stream']): string[] {
  return lines.filter((line) => line.stream === stream).map((line) => line.text);
}

test('ok.sh: a status-1 result line ends DONE with its payload, metadata and the meta it was sent', async () => {
  const { outcome, lines } = await runFixture(
    'ok.sh',
    { name: 'ada' },
    { meta: { taskId: 'task-1', stepName: 'greet', attempt: 2, requester: 'bob' } },
  );
  assert.equal(outcome.state, 'DONE');
  assert.equal(outcome.error, null);
  assert.equal(outcome.retriable, false);
  assert.equal(outcome.spawned, true);
  assert.equal(outcome.exitCode, 0);
  assert.equal(outcome.signal, null);
  assert.equal(outcome.killReason, null);
  assert.deepEqual(outcome.result?.payload, {
    greeting: 'hello ada',
    meta: {
      protocol: 'v1',
      caller: 'taskhost',
      taskName: 'ok',
      taskId: 'task-1',
      runId: null,
      stepName: 'greet',
      attempt: 2,
      requester: 'bob',
      resolver: null,
    },
  });
  assert.deepEqual(outcome.result?.metadata, { fixture: 'ok' });
  assert.deepEqual(texts(lines, 'stdout')[0], 'greeting ada');
  assert.deepEqual(outcome.dropped, { lines: 0, bytes: 0 });
});

test('no-result.sh: exit 0 without a result line is SERVER_ERROR naming the exit code and stderr', async () => {
  const { outcome, lines } = await runFixture('no-result.sh');
  assert.equal(outcome.state, 'SERVER_ERROR');
  assert.equal(outcome.retriable, true);
  assert.equal(outcome.result, null);
  assert.equal(outcome.exitCode, 0);
  assert.match(outcome.error ?? '', /no result line/);
  assert.match(outcome.error ?? '', /exited with code 0/);
  assert.match(outcome.error ?? '', /no-result: could not reach the backend/);
  // The JSON lines that are not results are still log lines.
  assert.ok(texts(lines, 'stdout').includes('{"note": "an object without status is not a result"}'));
});

test('crash.sh: a non-zero exit without a result is SERVER_ERROR naming the code and the LAST stderr lines', async () => {
  const { outcome } = await runFixture('crash.sh');
  assert.equal(outcome.state, 'SERVER_ERROR');
  assert.equal(outcome.exitCode, 2);
  assert.equal(outcome.retriable, true);
  const error = outcome.error ?? '';
  assert.match(error, /exited with code 2/);
  assert.match(error, /crash-stderr-15/);
  assert.match(error, /crash-stderr-14/);
  assert.doesNotMatch(error, /crash-stderr-01/, 'only the tail of stderr is named');
  assert.equal(outcome.stderrTail.at(-1), 'crash-stderr-15');
  assert.ok(outcome.stderrTail.length <= 10, `stderr tail has ${outcome.stderrTail.length} lines`);
});

test('signal.sh: a plugin killed by a signal is SERVER_ERROR naming the signal and stderr', async () => {
  const { outcome } = await runFixture('signal.sh');
  assert.equal(outcome.state, 'SERVER_ERROR');
  assert.equal(outcome.signal, 'SIGUSR1');
  assert.equal(outcome.exitCode, null);
  assert.equal(outcome.killReason, null);
  assert.match(outcome.error ?? '', /SIGUSR1/);
  assert.match(outcome.error ?? '', /signal: about to die/);
});

test('invalid-json.sh: a last line that looks like JSON but does not parse is no result', async () => {
  const { outcome, lines } = await runFixture('invalid-json.sh');
  assert.equal(outcome.state, 'SERVER_ERROR');
  assert.equal(outcome.result, null);
  assert.equal(outcome.exitCode, 0);
  assert.match(outcome.error ?? '', /no result line/);
  assert.ok(texts(lines, 'stdout').some((text) => text.startsWith('{"status": 1, "reason": "ok", payload:')));
});

test('status-zero.sh: status 0 fails as SERVER_ERROR (retried) with error = reason', async () => {
  const { outcome } = await runFixture('status-zero.sh');
  assert.equal(outcome.state, 'SERVER_ERROR');
  assert.equal(outcome.error, 'upstream answered 503');
  assert.equal(outcome.retriable, true);
  assert.equal(outcome.result?.status, 0);
  assert.equal(outcome.exitCode, 0);
});

test('client-error.py: state CLIENT_ERROR fails the step as CLIENT_ERROR, not retried', async () => {
  const { outcome, lines } = await runFixture('client-error.py');
  assert.equal(outcome.state, 'CLIENT_ERROR');
  assert.equal(outcome.error, 'user bob does not exist');
  assert.equal(outcome.retriable, false);
  assert.equal(outcome.spawned, true);
  assert.deepEqual(texts(lines, 'stdout')[0], 'checking the request');
});

test('fatal-error.sh: state FATAL_ERROR fails the step as FATAL_ERROR, not retried', async () => {
  const { outcome } = await runFixture('fatal-error.sh');
  assert.equal(outcome.state, 'FATAL_ERROR');
  assert.equal(outcome.error, 'the account was deleted');
  assert.equal(outcome.retriable, false);
});

test('custom-state.sh: status 1 with state ALREADY_DONE ends in that state with its payload', async () => {
  const { outcome } = await runFixture('custom-state.sh');
  assert.equal(outcome.state, 'ALREADY_DONE');
  assert.equal(outcome.error, null);
  assert.deepEqual(outcome.result?.payload, { changed: false });
});

test('no-newline.sh: a result without a trailing newline after 2000 log lines is found', async () => {
  const { outcome, lines } = await runFixture('no-newline.sh');
  assert.equal(outcome.state, 'DONE');
  assert.deepEqual(outcome.result?.payload, { lines: 2000 });
  const stdout = texts(lines, 'stdout');
  assert.equal(stdout.length, 2001);
  assert.equal(stdout[1999], 'log line 2000');
  assert.equal(stdout[2000], '{"status": 1, "reason": "ok", "payload": {"lines": 2000}}');
});

test('output-after-result.sh: log lines after the result do not hide it; the last result wins', async () => {
  const { outcome, lines } = await runFixture('output-after-result.sh');
  assert.equal(outcome.state, 'DONE');
  assert.deepEqual(outcome.result?.payload, { which: 'last' });
  assert.deepEqual(texts(lines, 'stdout').slice(-2), [
    '{"note": "an object without status is a log line"}',
    'bye',
  ]);
});

test('exit-after-result.sh: exit 3 after a status-1 line is SERVER_ERROR naming exit code 3', async () => {
  const { outcome } = await runFixture('exit-after-result.sh');
  assert.equal(outcome.state, 'SERVER_ERROR');
  assert.equal(outcome.exitCode, 3);
  assert.equal(outcome.retriable, true);
  assert.match(outcome.error ?? '', /exited with code 3/);
  assert.match(outcome.error ?? '', /cleanup failed/);
  // The result line it printed is kept for the record.
  assert.equal(outcome.result?.status, 1);
});

test('dev-stdin.sh: $(</dev/stdin), > /dev/stdout and > /dev/stderr work as under the reference runner', async () => {
  const { outcome, lines } = await runFixture('dev-stdin.sh', { user: 'tester' });
  assert.equal(outcome.error, null);
  assert.equal(outcome.state, 'DONE');
  assert.deepEqual(outcome.result?.payload, { user: 'tester', task: 'dev-stdin' });
  const stderr = texts(lines, 'stderr');
  assert.equal(stderr.length, 1);
  assert.match(stderr[0] ?? '', /^stdin parsed \{.*"user":"tester"/);
  assert.ok(texts(lines, 'stdout').includes('dev-stdin: user=tester task=dev-stdin'));
});

test('reference-bash.sh: a protocol v1 reference-style bash plugin runs unmodified', async () => {
  const { outcome, lines } = await runFixture('reference-bash.sh', {
    user: 'tester',
    cmd: 'hostname',
    requestId: '214215161263',
  });
  assert.equal(outcome.state, 'DONE');
  assert.deepEqual(outcome.result, { status: 1, reason: 'ok', payload: { foo: 'bar' } });
  assert.ok(texts(lines, 'stdout').includes('hello'));
  assert.ok(texts(lines, 'stderr').some((text) => text.includes('"requestId": "214215161263"')));
});

test('reference-python.py: a protocol v1 reference-style python plugin runs unmodified', async () => {
  const { outcome, lines } = await runFixture('reference-python.py', {
    user: 'tester',
    cmd: 'hostname',
    requestId: '214215161263',
  });
  assert.equal(outcome.state, 'DONE');
  assert.deepEqual(outcome.result, { status: 1, reason: 'ok', payload: { foo: 'bar' } });
  const stdout = texts(lines, 'stdout');
  assert.equal(stdout[0], 'stdin parsed {');
  assert.ok(stdout.includes('hello'));
});

test('stderr-only.sh: stderr lines are logs, and a result-looking stderr line is not the result', async () => {
  const { outcome, lines } = await runFixture('stderr-only.sh');
  assert.equal(outcome.state, 'DONE');
  assert.equal(outcome.result?.payload, 'from stdout');
  assert.deepEqual(texts(lines, 'stderr'), [
    'stderr-only: step one',
    'stderr-only: step two',
    '{"status": 0, "reason": "a result on stderr is only a log line"}',
  ]);
});

test('ignores-stdin.sh: a plugin that never reads stdin completes', async () => {
  const { outcome } = await runFixture('ignores-stdin.sh', { big: 'x'.repeat(200_000) });
  assert.equal(outcome.state, 'DONE');
  assert.equal(outcome.result?.payload, 'did not read');
});

test('outputs-mismatch.sh: a result breaking the outputs schema is SERVER_ERROR naming the mismatch', async () => {
  const { outcome } = await runFixture('outputs-mismatch.sh');
  assert.equal(outcome.state, 'SERVER_ERROR');
  assert.equal(outcome.exitCode, 0);
  assert.match(outcome.error ?? '', /outputs schema/);
  assert.match(outcome.error ?? '', /\/payload\/count must be integer/);
});

test('touch-marker.sh: data failing `inputs` is CLIENT_ERROR with the ajv messages, never spawned', async (t) => {
  const dir = tempDir(t);
  const allowed = path.join(dir, 'allowed');
  const refused = path.join(dir, 'refused');

  // Control: valid data does spawn it, and it creates its marker.
  const control = await runFixture('touch-marker.sh', { marker: allowed, count: 1 });
  assert.equal(control.outcome.state, 'DONE');
  assert.ok(fs.existsSync(allowed), 'the fixture creates its marker when it runs');

  const { outcome, lines } = await runFixture('touch-marker.sh', {
    marker: refused,
    count: 'three',
    extra: true,
  });
  assert.equal(outcome.state, 'CLIENT_ERROR');
  assert.equal(outcome.spawned, false);
  assert.equal(outcome.retriable, false);
  assert.equal(outcome.exitCode, null);
  assert.deepEqual(lines, []);
  assert.match(outcome.error ?? '', /touch-marker/);
  assert.match(outcome.error ?? '', /\/count must be integer/);
  assert.match(outcome.error ?? '', /unknown property "extra"/);
  // No wait needed: runPlugin resolves only once a process it spawned has exited, and the
  // control above shows that such a process creates its marker.
  assert.equal(fs.existsSync(refused), false, 'the plugin was spawned despite invalid data');
});

test('env-dump.py: the environment is minimal and carries none of the parent secrets', async (t) => {
  const planted = {
    TASKHOST_DATABASE_URL: 'postgres://admin:hunter2@db/taskhost',
    AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    DATABASE_URL: 'postgres://admin:hunter2@db/other',
    GITHUB_TOKEN: 'ghp_planted',
  };
  const previous = Object.fromEntries(Object.keys(planted).map((key) => [key, process.env[key]]));
  Object.assign(process.env, planted);
  t.after(() => {
    for (const [key, value] of Object.entries(previous)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  });

  const { outcome } = await runFixture(
    'env-dump.py',
    {},
    {
      meta: { runId: 'run-42', taskId: 'task-7', stepName: 'dump' },
    },
  );
  assert.equal(outcome.state, 'DONE');
  const seen = outcome.result?.payload as Record<string, string>;
  assert.equal(typeof seen, 'object');

  for (const key of Object.keys(planted)) assert.equal(seen[key], undefined, `${key} reached the plugin`);
  const values = Object.values(seen).join('\n');
  assert.doesNotMatch(values, /hunter2|EXAMPLEKEY|ghp_planted/);

  assert.equal(seen.HOME, process.env.HOME);
  assert.equal(seen.LANG, process.env.LANG ?? 'C.UTF-8');
  // A launcher (a pyenv shim) may prepend to PATH; the host's PATH must still be there.
  assert.ok(seen.PATH?.endsWith(process.env.PATH ?? '/bin'), `PATH seen: ${seen.PATH}`);
  assert.equal(seen.TASKHOST_RUN_ID, 'run-42');

  // Anything else must come from the interpreter's own launch (shell, pyenv shim, python's
  // locale coercion), never from this process.
  const allowed = /^(PATH|HOME|LANG|TASKHOST_.*|PWD|OLDPWD|SHLVL|_|LC_CTYPE|_?PYENV_.*)$/;
  assert.deepEqual(
    Object.keys(seen).filter((key) => !allowed.test(key)),
    [],
  );
  for (const key of Object.keys(process.env).filter((name) => name.startsWith('TASKHOST_'))) {
    assert.equal(seen[key], undefined, `host setting ${key} reached the plugin`);
  }
});

test('env-dump.py: TASKHOST_RUN_ID is absent when no runId is given', async () => {
  const { outcome } = await runFixture('env-dump.py');
  assert.equal(outcome.state, 'DONE');
  const seen = outcome.result?.payload as Record<string, string>;
  assert.equal(seen.TASKHOST_RUN_ID, undefined);
  assert.equal(typeof seen.PATH, 'string');
});

test('echo-data.sh: shell metacharacters in data pass as data, unexecuted', async (t) => {
  const dir = tempDir(t);
  const subst = path.join(dir, 'subst');
  const tick = path.join(dir, 'tick');
  const semi = path.join(dir, 'semi');
  const keep = path.join(dir, 'keep');
  fs.writeFileSync(keep, 'still here');
  const data = {
    text: `$(touch ${subst}) \`touch ${tick}\` ; touch ${semi}; rm -rf ${keep}`,
    quotes: `it's "quoted" \\ and \\"escaped\\"`,
    lines: 'first\nsecond\r\nthird',
    glob: '* ?',
    pipe: `| cat /etc/passwd && echo pwned > ${semi}`,
    unicode: 'héllo ✓',
  };
  const { outcome } = await runFixture('echo-data.sh', data);
  assert.equal(outcome.state, 'DONE');
  assert.deepEqual(outcome.result?.payload, data);
  assert.equal(fs.existsSync(subst), false, '$(...) was executed');
  assert.equal(fs.existsSync(tick), false, 'backticks were executed');
  assert.equal(fs.existsSync(semi), false, '; was executed');
  assert.equal(fs.readFileSync(keep, 'utf8'), 'still here');
});

test('with space/ok plugin.sh: a plugin in a directory with a space runs, in its own directory', async () => {
  const { outcome } = await runFixture('with space/ok plugin.sh');
  assert.equal(outcome.state, 'DONE');
  assert.deepEqual(outcome.result?.payload, { cwd: fixturePath('with space') });
});

test('not-executable.sh: a file without the execute bit is SERVER_ERROR naming the file, no throw', async () => {
  const location = fixturePath('not-executable.sh');
  const description: PluginDescription = {
    name: 'not-executable',
    description: 'x',
    inputs: { type: 'object' },
  };
  const outcome = await runPlugin({ plugin: { name: 'not-executable', location, description }, data: {} });
  assert.equal(outcome.state, 'SERVER_ERROR');
  assert.ok(outcome.error?.includes(location), `error: ${outcome.error}`);
  assert.match(outcome.error ?? '', /EACCES/);
  assert.equal(outcome.result, null);
  assert.equal(outcome.killReason, null);
});

test('a missing plugin file is SERVER_ERROR naming the file, no throw', async () => {
  const location = fixturePath('does-not-exist.sh');
  const description: PluginDescription = { name: 'missing', description: 'x', inputs: true };
  const outcome = await runPlugin({ plugin: { name: 'missing', location, description }, data: {} });
  assert.equal(outcome.state, 'SERVER_ERROR');
  assert.ok(outcome.error?.includes(location), `error: ${outcome.error}`);
  assert.match(outcome.error ?? '', /ENOENT/);
});

/**
 * Runs a fixture that must be killed only once it is ready, that is once it printed a line
 * starting with `readyLine` (a fixture prints it after the setup the test is about: a trap, a
 * grandchild). The timeout runs from the spawn, so on a loaded machine a short one can fire
 * before the fixture got that far; then the run is repeated with a timeout four times longer.
 * This only adapts to a slow machine; it asserts nothing about speed.
 */
async function runKilledWhenReady(
  name: string,
  data: unknown,
  readyLine: string,
  options: RunOptions & { timeoutMs: number },
): Promise<Run & { limitNamed: string }> {
  for (let timeoutMs = options.timeoutMs, attempt = 1; ; timeoutMs *= 4, attempt += 1) {
    let ready = false;
    const run = await runFixture(name, data, {
      ...options,
      timeoutMs,
      onLine: (line) => {
        if (line.text.startsWith(readyLine)) ready = true;
        options.onLine?.(line);
      },
    });
    // What the error must say: the limit this attempt was given, as the run states it.
    if (ready) return { ...run, limitNamed: `killed after the ${timeoutMs / 1000} s timeout` };
    assert.ok(
      attempt < 4,
      `${name} never printed "${readyLine}" before its timeout, the last ${timeoutMs} ms`,
    );
  }
}

/** Kills a process a test left behind, if it still runs. */
function killLeftover(pid: number): void {
  if (pid > 0 && isAlive(pid)) process.kill(pid, 'SIGKILL');
}

test('hang.sh: past the timeout the whole group is killed, the grandchild too', async (t) => {
  const dir = tempDir(t);
  const pidfile = path.join(dir, 'grandchild.pid');
  // hang.sh starts a `sleep 1000` grandchild, writes its pid, then prints this line on stderr
  // and sleeps: once the line is out, the grandchild runs in the plugin's process group.
  const { outcome, limitNamed } = await runKilledWhenReady(
    'hang.sh',
    { pidfile },
    'hang: waiting for a lock that never frees',
    { timeoutMs: 400, killGraceMs: 100 },
  );
  const grandchild = await readPid(pidfile);
  t.after(() => killLeftover(grandchild));
  assert.equal(outcome.state, 'SERVER_ERROR');
  assert.equal(outcome.killReason, 'timeout');
  assert.equal(outcome.retriable, true);
  assert.ok(outcome.error?.includes(limitNamed), outcome.error ?? '');
  assert.match(outcome.error ?? '', /hang: waiting for a lock that never frees/);
  // Left alone it would sleep 1000 s: only the kill of the whole group ends it. (Polled: it is
  // not our child, so no exit event reaches us; the limit is a hang guard.)
  assert.ok(
    await eventually(() => !isAlive(grandchild), 30_000),
    `grandchild ${grandchild} survived the timeout`,
  );
});

test('ignores-term.sh: a plugin ignoring SIGTERM is killed with SIGKILL after the grace', async () => {
  // It prints its line after `trap '' TERM`: a kill that comes later finds SIGTERM ignored.
  const { outcome, limitNamed } = await runKilledWhenReady(
    'ignores-term.sh',
    {},
    'ignores-term: not listening',
    {
      timeoutMs: 300,
      killGraceMs: 200,
    },
  );
  assert.equal(outcome.state, 'SERVER_ERROR');
  assert.equal(outcome.killReason, 'timeout');
  // SIGTERM alone could not end it: it died of the SIGKILL that follows the grace.
  assert.equal(outcome.signal, 'SIGKILL');
  assert.equal(outcome.exitCode, null);
  assert.ok(outcome.error?.includes(limitNamed), outcome.error ?? '');
  assert.match(outcome.error ?? '', /ignores-term: not listening/);
});

test("hang.sh: the plugin's own `timeout` applies when the run gives none", async (t) => {
  const dir = tempDir(t);
  const pidfile = path.join(dir, 'grandchild.pid');
  const description = { ...(await describePlugin(fixturePath('hang.sh'))), timeout: 0.3 };
  // Were it ignored, the default 300 s would apply and the test would fail on its own time limit.
  const { outcome } = await runFixture('hang.sh', { pidfile }, { description });
  // A loaded machine may kill it before it wrote the pid of its grandchild (then killed too).
  t.after(() => {
    if (fs.existsSync(pidfile)) killLeftover(Number(fs.readFileSync(pidfile, 'utf8')));
  });
  assert.equal(outcome.state, 'SERVER_ERROR');
  assert.equal(outcome.killReason, 'timeout');
  assert.match(outcome.error ?? '', /0\.3 s timeout/);
});

test('hang.sh: an aborted run is killed and named cancelled', async (t) => {
  const dir = tempDir(t);
  const pidfile = path.join(dir, 'grandchild.pid');
  const controller = new AbortController();
  const { outcome } = await runFixture(
    'hang.sh',
    { pidfile },
    {
      // Far beyond the test's own limit: only the abort can end this run.
      timeoutMs: 600_000,
      signal: controller.signal,
      onLine: (line) => {
        if (line.text.startsWith('hang: waiting')) controller.abort();
      },
    },
  );
  const grandchild = await readPid(pidfile);
  t.after(() => killLeftover(grandchild));
  assert.equal(outcome.state, 'SERVER_ERROR');
  assert.equal(outcome.killReason, 'cancelled');
  assert.match(outcome.error ?? '', /cancelled/);
  assert.ok(
    await eventually(() => !isAlive(grandchild), 30_000),
    `grandchild ${grandchild} survived the cancel`,
  );
});

test('grandchild-holds-stdout.sh: the run ends when the plugin exits although a grandchild holds stdout', async (t) => {
  const dir = tempDir(t);
  const pidfile = path.join(dir, 'grandchild.pid');
  // The grandchild holds stdout until this gate exists, and the gate is created only after
  // the run has returned: a runner that waited for stdout to close would wait for it in vain
  // (for 60 s, after which the grandchild gives up and says so in gate.gave-up).
  const gate = path.join(dir, 'gate');
  const { outcome } = await runFixture('grandchild-holds-stdout.sh', { pidfile, gate });
  const grandchild = await readPid(pidfile);
  t.after(() => killLeftover(grandchild));
  assert.equal(fs.existsSync(`${gate}.gave-up`), false, 'the run waited for the grandchild to give up');
  assert.equal(outcome.state, 'DONE');
  assert.equal(outcome.exitCode, 0);
  assert.deepEqual(outcome.result?.payload, { left: 'a waiting grandchild' });
  // The runner killed what was left of the group: the grandchild never saw the gate open.
  assert.ok(
    await eventually(() => !isAlive(grandchild), 30_000),
    `grandchild ${grandchild} outlived the run`,
  );
});

test('wait-for-file.sh: a line is delivered through onLine while the plugin still runs', async (t) => {
  const dir = tempDir(t);
  const gate = path.join(dir, 'gate');
  let deliveredBeforeEnd = false;
  const { outcome, lines } = await runFixture(
    'wait-for-file.sh',
    { path: gate },
    {
      onLine: (line) => {
        if (line.text === `waiting for ${gate}`) {
          deliveredBeforeEnd = true;
          fs.writeFileSync(gate, '');
        }
      },
    },
  );
  assert.ok(deliveredBeforeEnd, 'the waiting line never reached onLine');
  assert.equal(outcome.error, null);
  assert.equal(outcome.state, 'DONE');
  assert.deepEqual(outcome.result?.payload, { saw: 'the file' });
  assert.deepEqual(lines[0], { stream: 'stdout', text: `waiting for ${gate}` });
});

test('no-newline.sh: a small output cap truncates the log, keeps the tail, and still finds the result', async () => {
  const cap = 4096;
  const { outcome, lines } = await runFixture('no-newline.sh', {}, { outputCapBytes: cap });
  assert.equal(outcome.state, 'DONE');
  assert.ok(outcome.dropped.lines > 0);
  const notices = texts(lines, 'taskhost');
  assert.equal(notices.length, 1);
  assert.match(
    notices[0] ?? '',
    new RegExp(`${outcome.dropped.lines} lines \\(${outcome.dropped.bytes} bytes\\) dropped`),
  );
  const logBytes = lines
    .filter((line) => line.stream !== 'taskhost')
    .reduce((sum, line) => sum + Buffer.byteLength(line.text) + 1, 0);
  assert.ok(logBytes <= cap, `${logBytes} bytes delivered over a ${cap}-byte cap`);
  assert.equal(lines.length - 1 + outcome.dropped.lines, 2001, 'every line is either delivered or counted');
  assert.equal(lines[0]?.text, 'log line 1');
  assert.equal(lines.at(-1)?.text, '{"status": 1, "reason": "ok", "payload": {"lines": 2000}}');
});

test('flood.sh: 50 MiB of output is capped at 1 MiB, the runner retains a small fraction of it, and the result is found', async () => {
  // In a process of its own (test/helpers/flood-memory.ts), so that its heap holds nothing
  // else: it measures what the runner retains once the 50 MiB are written, before the result.
  const child = await execa(process.execPath, ['--import', 'tsx', '--expose-gc', FLOOD_MEMORY], {
    cwd: PROJECT_DIR,
    reject: false,
    timeout: 110_000,
  });
  assert.equal(child.exitCode, 0, `flood-memory.ts failed:\n${child.stderr}`);
  const report = JSON.parse(child.stdout) as FloodMemoryReport;
  const output = 52_428_800;
  const growth = report.peakBytes - report.baselineBytes;
  assert.ok(
    growth < output / 6,
    `the runner retained ${(growth / 2 ** 20).toFixed(1)} MiB of a 50 MiB flood: it must stay under a sixth`,
  );
  assert.equal(report.state, 'DONE', report.error ?? '');
  assert.deepEqual(report.payload, { bytes: output });
  assert.ok(report.dropped.lines > 0);
  assert.ok(report.dropped.bytes > output - DEFAULT_OUTPUT_CAP_BYTES);
  assert.equal(report.notices.length, 1);
  assert.match(report.notices[0] ?? '', /output cap reached/);
  assert.ok(report.deliveredBytes <= DEFAULT_OUTPUT_CAP_BYTES, `${report.deliveredBytes} bytes delivered`);
  assert.ok(report.deliveredLines > 1000, `only ${report.deliveredLines} lines delivered`);
  // The tail is delivered last: the result line is among the final lines (stderr may interleave).
  assert.ok(
    report.lastLines.some(
      (line) =>
        line.stream === 'stdout' &&
        line.text === '{"status": 1, "reason": "flooded", "payload": {"bytes": 52428800}}',
    ),
    `last lines: ${JSON.stringify(report.lastLines)}`,
  );
});

test('echo-data.sh: twenty runs at once each get their own data and output back', async () => {
  const description = await describePlugin(fixturePath('echo-data.sh'));
  const runs = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      runFixture('echo-data.sh', { text: `run ${i}`, index: i }, { description }),
    ),
  );
  runs.forEach(({ outcome, lines }, i) => {
    assert.equal(outcome.state, 'DONE', `run ${i}: ${outcome.error}`);
    assert.deepEqual(outcome.result?.payload, { text: `run ${i}`, index: i });
    assert.deepEqual(texts(lines, 'stdout'), [
      'echo-data: started',
      `{"status":1,"reason":"ok","payload":{"text":"run ${i}","index":${i}}}`,
    ]);
  });
});
