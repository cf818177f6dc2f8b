import { getRun } from '../../../src/store/queries/runs.ts';
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  assertExit,
  assertOneLineError,
  cliEnv,
  cliResult,
  startTaskhost,
  stdoutJson,
  taskhost,
  type CliResult,
} from '../../helpers/cli.ts';
import { fixturePath, pluginProcesses, tempDir, waitForFile } from '../../helpers/plugin-fixtures.ts';
import type { Envelope as RunEnvelope } from '../../helpers/api-server.ts';
import { createTestDatabase } from '../../helpers/store.ts';

/**
 * SPEC section 4, `taskhost execute` through the real `bin/taskhost`: the result envelope on
 * stdout, `TASK::NAME` logs on stderr, exit codes, the ways to pass data, the stored run and
 * its events, and `--batch` with its concurrency. Against an external database (DATABASE_URL).
 */

const database = await createTestDatabase();
const env = cliEnv({ DATABASE_URL: database.url });
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The envelope `execute` prints; in a batch, each also names its input line. */
type Envelope = RunEnvelope & { line?: number };

interface EventRow {
  seq: string;
  type: string;
  stream: string | null;
  line: string | null;
  state: string | null;
}

function cli(args: readonly string[], options: { cwd?: string; input?: string } = {}): Promise<CliResult> {
  return taskhost(args, { env, ...options, timeoutMs: 30_000 });
}

const PLUGINS: Record<string, string> = {
  ok: 'ok.sh',
  'echo-data': 'echo-data.sh',
  'status-zero': 'status-zero.sh',
  crash: 'crash.sh',
  overlap: 'overlap.sh',
  'touch-marker': 'touch-marker.sh',
};

before(async () => {
  await Promise.all(
    Object.entries(PLUGINS).map(async ([name, file]) =>
      assertExit(await cli(['register', '-name', name, '-location', fixturePath(file)]), 0),
    ),
  );
});

/** The stderr lines, each of which must carry `prefix`; returns them without it. */
function taskLines(result: CliResult, prefix: string): string[] {
  const lines = result.stderr.split('\n').filter((line) => line !== '');
  for (const line of lines) assert.ok(line.startsWith(`${prefix} `), `"${line}" lacks ${prefix}`);
  return lines.map((line) => line.slice(prefix.length + 1));
}

async function storedRun(id: string): Promise<Record<string, unknown>> {
  const run = await getRun(database.store, id);
  assert.ok(run, `run ${id} is stored`);
  return run as unknown as Record<string, unknown>;
}

async function storedEvents(id: string): Promise<EventRow[]> {
  const { rows } = await database.store.query<EventRow>(
    'SELECT seq, type, stream, line, state FROM event WHERE stream_id = $1 ORDER BY seq',
    [id],
  );
  assert.deepEqual(
    rows.map((row) => Number(row.seq)),
    rows.map((_, index) => index + 1),
    'event seq runs 1, 2, 3... without gaps',
  );
  return rows.map((row) => ({ ...row, line: database.store.codec.readText(row.line) }));
}

async function countRuns(plugin: string): Promise<number> {
  const { rows } = await database.store.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM run WHERE plugin_name = $1',
    [plugin],
  );
  return rows[0]?.n ?? -1;
}

test('execute -name X -taskArgs JSON prints the envelope, logs TASK::X on stderr, stores the run', async () => {
  const result = await cli(['execute', '-name', 'ok', '-taskArgs', '{"name": "Ada"}']);
  assertExit(result, 0);
  const envelope = stdoutJson<Envelope & { payload: { greeting: string; meta: Record<string, unknown> } }>(
    result,
  );
  assert.equal(envelope.status, 1);
  assert.equal(envelope.reason, 'ok');
  assert.equal(envelope.state, 'DONE');
  assert.equal(envelope.error, null);
  assert.match(envelope.run_id, UUID);
  assert.equal(envelope.payload.greeting, 'hello Ada');
  assert.equal(envelope.payload.meta.protocol, 'v1');
  assert.equal(envelope.payload.meta.taskName, 'ok');
  assert.equal(envelope.payload.meta.caller, 'taskhost');

  const logs = taskLines(result, 'TASK::ok');
  assert.ok(logs.includes('greeting Ada'), `stderr: ${result.stderr}`);

  const run = await storedRun(envelope.run_id);
  assert.equal(run.state, 'DONE');
  assert.equal(run.plugin_name, 'ok');
  assert.equal(run.origin, 'cli');
  assert.deepEqual(run.data, { name: 'Ada' });
  assert.equal((run.result as { status: number }).status, 1);
  assert.equal(run.exit_code, 0);
  assert.ok(run.started_at instanceof Date && run.finished_at instanceof Date, 'started and finished');

  const events = await storedEvents(envelope.run_id);
  assert.equal(Number(run.last_seq), events.length, 'last_seq is the last event');
  assert.deepEqual(
    events.filter((e) => e.type === 'run').map((e) => e.state),
    ['RUNNING', 'DONE'],
  );
  assert.equal(events[0]?.state, 'RUNNING', 'RUNNING comes first');
  assert.equal(events.at(-1)?.state, 'DONE', 'DONE comes last');
  const logged = events.filter((e) => e.type === 'log');
  assert.deepEqual(
    logged.map((e) => [e.stream, e.line?.startsWith('{') ? 'result' : e.line]),
    [
      ['stdout', 'greeting Ada'],
      ['stdout', 'result'],
    ],
  );
});

test('a failed run exits 1: status 0, and a crash whose every stderr line is logged and stored', async () => {
  const zero = await cli(['execute', '-name', 'status-zero']);
  assertExit(zero, 1);
  const zeroEnvelope = stdoutJson<Envelope>(zero);
  assert.equal(zeroEnvelope.status, 0);
  assert.equal(zeroEnvelope.reason, 'upstream answered 503');
  assert.equal(zeroEnvelope.state, 'SERVER_ERROR');
  assert.equal((await storedRun(zeroEnvelope.run_id)).state, 'SERVER_ERROR');

  const crash = await cli(['execute', '--name', 'crash', '--args', '{}']);
  assertExit(crash, 1);
  const envelope = stdoutJson<Envelope>(crash);
  assert.equal(envelope.status, 0);
  assert.equal(envelope.state, 'SERVER_ERROR');
  assert.match(envelope.error ?? '', /exited with code 2/);
  assert.match(envelope.error ?? '', /crash-stderr-15/, 'the error names the last stderr lines');
  const expected = Array.from({ length: 15 }, (_, i) => `crash-stderr-${String(i + 1).padStart(2, '0')}`);
  assert.deepEqual(
    taskLines(crash, 'TASK::crash').filter((line) => line.startsWith('crash-stderr-')),
    expected,
  );

  const run = await storedRun(envelope.run_id);
  assert.equal(run.state, 'SERVER_ERROR');
  assert.equal(run.exit_code, 2);
  const events = await storedEvents(envelope.run_id);
  assert.deepEqual(
    events.filter((e) => e.type === 'log' && e.stream === 'stderr').map((e) => e.line),
    expected,
    'every stderr line is stored, in order',
  );
  assert.equal(events.at(-1)?.type, 'run');
  assert.equal(events.at(-1)?.state, 'SERVER_ERROR');
});

test('malformed JSON data exits 2 with one line naming --args, and runs nothing', async () => {
  const runsBefore = await countRuns('echo-data');
  for (const args of [
    ['-taskArgs', '{bad'],
    ['--args', '{"a": 1'],
    ['--taskArgs', "{'single': 'quotes'}"],
  ]) {
    const result = await cli(['execute', '-name', 'echo-data', ...args]);
    assert.match(assertOneLineError(result, 2), /--args: invalid JSON/, args.join(' '));
    assert.equal(result.stdout, '');
  }
  assert.equal(await countRuns('echo-data'), runsBefore, 'no run was created');
});

test('--args-file reads the data from a file or from stdin ("-")', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'data.json');
  fs.writeFileSync(file, '{"from": "file", "list": [1, 2, 3]}\n');
  const fromFile = await cli(['execute', '-name', 'echo-data', '--args-file', file]);
  assertExit(fromFile, 0);
  assert.deepEqual(stdoutJson<Envelope>(fromFile).payload, { from: 'file', list: [1, 2, 3] });

  const fromStdin = await cli(['execute', '-name', 'echo-data', '--args-file', '-'], {
    input: '{"from": "stdin", "nested": {"ok": true}}',
  });
  assertExit(fromStdin, 0);
  assert.deepEqual(stdoutJson<Envelope>(fromStdin).payload, { from: 'stdin', nested: { ok: true } });

  const bad = path.join(dir, 'bad.json');
  fs.writeFileSync(bad, '{"nope"');
  const badFile = await cli(['execute', '-name', 'echo-data', '--args-file', bad]);
  assert.ok(assertOneLineError(badFile, 2).includes(bad), 'names the file');
  const missing = await cli(['execute', '-name', 'echo-data', '--args-file', path.join(dir, 'none.json')]);
  assert.match(assertOneLineError(missing, 2), /none\.json/);
  const both = await cli(['execute', '-name', 'echo-data', '--args', '{}', '--args-file', file]);
  assertOneLineError(both, 2);
});

test('shell metacharacters in the data are passed as data, never run', async (t) => {
  const dir = tempDir(t);
  const data = {
    a: `$(touch ${dir}/from-dollar)`,
    b: `\`touch ${dir}/from-backtick\``,
    c: `x; touch ${dir}/from-semicolon && echo > ${dir}/from-redirect | cat`,
    d: `' " \\ $HOME * ? [ ] { } ~ # ! & < > \n newline`,
    e: `'; touch ${dir}/from-quote; '`,
  };
  const result = await cli(['execute', '-name', 'echo-data', '-taskArgs', JSON.stringify(data)], {
    cwd: dir,
  });
  assertExit(result, 0);
  assert.deepEqual(stdoutJson<Envelope>(result).payload, data, 'the payload is the data, verbatim');
  assert.deepEqual(fs.readdirSync(dir), [], 'no file was created');
});

interface Interval {
  start: bigint;
  end: bigint;
}

/** The overlap fixture's log lines: "start|end NS PID ID". */
function logEntries(content: string): { kind: string; ns: string; pid: string; id: string }[] {
  return content
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const [kind = '', ns = '', pid = '', id = ''] = line.split(' ');
      return { kind, ns, pid, id };
    });
}

/** The ids of the runs that started and have not ended, in the order they started. */
function runningIds(content: string): string[] {
  const entries = logEntries(content);
  const ended = new Set(entries.filter((e) => e.kind === 'end').map((e) => e.id));
  return entries.filter((e) => e.kind === 'start' && !ended.has(e.id)).map((e) => e.id);
}

/** The most runs at once, from the start/end lines the overlap fixture wrote. */
function maxOverlap(logFile: string): { max: number; runs: number } {
  const intervals = new Map<string, Partial<Interval>>();
  for (const { kind, ns, pid } of logEntries(fs.readFileSync(logFile, 'utf8'))) {
    const entry = intervals.get(pid) ?? {};
    entry[kind as 'start' | 'end'] = BigInt(ns);
    intervals.set(pid, entry);
  }
  const points: [bigint, number][] = [];
  for (const { start, end } of intervals.values()) {
    assert.ok(start !== undefined && end !== undefined, 'every run started and ended');
    points.push([start, 1], [end, -1]);
  }
  points.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] - b[1]));
  let now = 0;
  let max = 0;
  for (const [, delta] of points) {
    now += delta;
    max = Math.max(max, now);
  }
  return { max, runs: intervals.size };
}

test('--batch FILE.jsonl --concurrency 2: one line per input line, in input order, at most 2 at once', async (t) => {
  const dir = tempDir(t);
  const log = path.join(dir, 'overlap.log');
  const batch = path.join(dir, 'items.jsonl');
  // Every run waits for a gate of its own, so the test decides when each one ends.
  const gate = (id: string | number): string => path.join(dir, `gate-${id}`);
  const items = [
    { log, id: 1, gate: gate(1) },
    { log, id: 2, gate: gate(2) },
    null, // a blank line: skipped, but it counts for the line numbers
    { log, id: 3, gate: gate(3), fail: true },
    { log, id: 4, gate: gate(4) },
    { log, id: 5, gate: gate(5) },
    { log, id: 6, gate: gate(6) },
  ];
  fs.writeFileSync(batch, `${items.map((item) => (item ? JSON.stringify(item) : '  ')).join('\n')}\n`);

  const running = startTaskhost(['execute', '-name', 'overlap', '--batch', batch, '--concurrency', '2'], {
    env,
    timeoutMs: 90_000,
  });
  // Should the test fail midway, no run is left waiting for its gate.
  t.after(() => {
    for (const pid of pluginProcesses(running.pid as number, fixturePath('overlap.sh'))) {
      process.kill(pid, 'SIGKILL');
    }
    running.kill('SIGKILL');
  });
  // Should taskhost end before the log says what is awaited, the wait gives up at once.
  const ended = new AbortController();
  const finished = cliResult(running).then((result) => {
    ended.abort(new Error(`taskhost ended: exit ${result.exitCode}\n${result.stderr}`));
    return result;
  });
  const waitLog = (ready: (content: string) => boolean): Promise<string> =>
    waitForFile(log, { ready, signal: ended.signal });

  // Whenever two runs wait (or all that are left), let the one that started last go: while two
  // are held, a third can only start if the limit fails. The first to start is held to the
  // very end, so they end out of input order.
  for (let left = 6; left > 0; left -= 1) {
    const content = await waitLog((text) => runningIds(text).length >= Math.min(2, left));
    const live = pluginProcesses(running.pid as number, fixturePath('overlap.sh'));
    assert.ok(live.length <= 2, `${live.length} plugins at once: ${runningIds(content).join(', ')} logged`);
    const id = runningIds(content).at(-1) as string;
    fs.writeFileSync(gate(id), '');
    await waitLog((text) => logEntries(text).some((e) => e.kind === 'end' && e.id === id));
  }
  const result = await finished;

  assertExit(result, 1);
  const lines = result.stdout.trimEnd().split('\n');
  assert.equal(lines.length, 6, result.stdout);
  const envelopes = lines.map((line) => JSON.parse(line) as Envelope & { payload: { id: number } });
  const endOrder = logEntries(fs.readFileSync(log, 'utf8'))
    .filter((e) => e.kind === 'end')
    .map((e) => Number(e.id));
  assert.notDeepEqual(endOrder, [...endOrder].sort(), 'the runs ended out of input order');
  assert.deepEqual(
    envelopes.map((e) => e.line),
    [1, 2, 4, 5, 6, 7],
    'in input order, whatever the order they ended in',
  );
  assert.deepEqual(
    envelopes.map((e) => e.payload.id),
    [1, 2, 3, 4, 5, 6],
  );
  assert.deepEqual(
    envelopes.map((e) => e.state),
    ['DONE', 'DONE', 'SERVER_ERROR', 'DONE', 'DONE', 'DONE'],
  );
  assert.equal(envelopes[2]?.status, 0);
  assert.equal(envelopes[2]?.reason, 'asked to fail');
  for (const envelope of envelopes) assert.match(envelope.run_id, UUID);
  assert.equal(new Set(envelopes.map((e) => e.run_id)).size, 6, 'one run each');

  const overlap = maxOverlap(log);
  assert.equal(overlap.runs, 6);
  assert.equal(overlap.max, 2, 'two ran at once, never more');

  // Logs carry the line number; the summary names the batch, whose runs are stored together.
  const stderr = result.stderr.split('\n').filter((line) => line !== '');
  for (const n of [1, 2, 4, 5, 6, 7]) {
    assert.ok(stderr.includes(`TASK::overlap:${n} overlap: started`), `log of line ${n}: ${result.stderr}`);
  }
  const summary = /^batch ([0-9a-f-]{36}): 6 runs, 5 succeeded, 1 failed$/m.exec(result.stderr);
  assert.ok(summary, result.stderr);
  const { rows } = await database.store.query<{ id: string; state: string }>(
    'SELECT id, state FROM run WHERE batch_id = $1',
    [summary[1]],
  );
  assert.deepEqual(rows.map((row) => row.id).sort(), envelopes.map((e) => e.run_id).sort());
});

test('--batch exits 0 when all succeed; --concurrency 0 and -1 are accepted, -5 is refused', async (t) => {
  const dir = tempDir(t);
  const log = path.join(dir, 'overlap.log');
  const batch = path.join(dir, 'ok.jsonl');
  fs.writeFileSync(batch, `${JSON.stringify({ log, id: 'a' })}\n${JSON.stringify({ log, id: 'b' })}`);
  for (const concurrency of ['0', '-1']) {
    const result = await cli(['execute', '-name', 'overlap', '--batch', batch, '--concurrency', concurrency]);
    assertExit(result, 0);
    assert.deepEqual(
      result.stdout
        .trimEnd()
        .split('\n')
        .map((line) => (JSON.parse(line) as Envelope).line),
      [1, 2],
      `--concurrency ${concurrency}`,
    );
  }
  const runsSoFar = maxOverlap(log).runs;
  assert.equal(runsSoFar, 4);

  for (const concurrency of ['-5', 'many']) {
    const refused = await cli([
      'execute',
      '-name',
      'overlap',
      '--batch',
      batch,
      '--concurrency',
      concurrency,
    ]);
    assert.match(assertOneLineError(refused, 2), /concurrency/, `--concurrency ${concurrency}`);
    assert.equal(refused.stdout, '');
  }
  assert.equal(maxOverlap(log).runs, runsSoFar, 'a refused batch runs nothing');
});

test('a malformed batch line exits 2 naming FILE:LINE and runs nothing', async (t) => {
  const dir = tempDir(t);
  const marker = path.join(dir, 'ran');
  const batch = path.join(dir, 'broken.jsonl');
  fs.writeFileSync(
    batch,
    [
      JSON.stringify({ marker, count: 1 }),
      '',
      '{"marker": "x", "count": 2',
      JSON.stringify({ marker, count: 3 }),
    ].join('\n'),
  );
  const result = await cli(['execute', '-name', 'touch-marker', '--batch', batch, '--concurrency', '2']);
  const line = assertOneLineError(result, 2);
  assert.ok(line.includes(`${batch}:3`), line);
  assert.equal(result.stdout, '');
  assert.equal(fs.existsSync(marker), false, 'no line ran');
});

test('--help of every command exits 0 and prints its usage', async () => {
  const commands = [[], ['register'], ['unregister'], ['list'], ['execute'], ['serve'], ['run', 'watch']];
  const results = await Promise.all(commands.map((command) => cli([...command, '--help'])));
  results.forEach((result, index) => {
    const command = (commands[index] as string[]).join(' ');
    assertExit(result, 0);
    assert.ok(result.stdout.startsWith(`Usage: taskhost${command ? ` ${command}` : ''} `), result.stdout);
    assert.match(result.stdout, /--help/);
  });
  assert.match(results[1]?.stdout ?? '', /--name/);
  assert.match(results[1]?.stdout ?? '', /--location/);
  assert.match(results[4]?.stdout ?? '', /--batch/);
  assert.match(results[4]?.stdout ?? '', /--concurrency/);
});

test('an unknown flag or a missing required flag exits 2 with one line', async () => {
  const cases = [
    { args: ['execute', '-name', 'ok', '--bogus'], says: /--bogus/ },
    { args: ['list', '--nope'], says: /--nope/ },
    { args: ['execute', '-taskArgs', '{}'], says: /--name/ },
  ];
  for (const { args, says } of cases) {
    const result = await cli(args);
    assertExit(result, 2);
    const lines = result.stderr.split('\n').filter((line) => line.trim() !== '');
    assert.equal(lines.length, 1, `${args.join(' ')}: one line, got:\n${result.stderr}`);
    assert.match(lines[0] ?? '', says);
    assert.ok(!result.stderr.includes('    at '), 'no stack trace');
    assert.equal(result.stdout, '');
  }
});
