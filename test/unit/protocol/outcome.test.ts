import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildInputEnvelope, parseResultLine, type ResultEnvelope } from '../../../src/protocol/envelope.ts';
import { judgeRun, type ProcessEnd } from '../../../src/protocol/outcome.ts';
import { isResultState } from '../../../src/protocol/states.ts';

/** SPEC section 3, Result: the pure part (which line is a result, and which state it gives). */

function end(overrides: Partial<ProcessEnd> = {}): ProcessEnd {
  return {
    exitCode: 0,
    signal: null,
    killReason: null,
    timeoutMs: 300_000,
    spawnError: null,
    stderrTail: [],
    ...overrides,
  };
}

const ok: ResultEnvelope = { status: 1, reason: 'ok', payload: { foo: 'bar' } };

test('parseResultLine: a JSON object with an integer status is a result, surrounding spaces allowed', () => {
  assert.deepEqual(parseResultLine('{"status": 1, "reason": "ok", "payload": {"foo": "bar"}}'), ok);
  assert.deepEqual(parseResultLine('  {"status":0}\t'), { status: 0 });
  assert.deepEqual(parseResultLine('{"status": -2, "state": "CLIENT_ERROR"}'), {
    status: -2,
    state: 'CLIENT_ERROR',
  });
  assert.deepEqual(parseResultLine('{"status": 1.0}'), { status: 1 }, '1.0 is an integer in JSON');
});

test('parseResultLine: log text, broken JSON, arrays and non-integer statuses are not results', () => {
  for (const line of [
    '',
    'hello',
    'status: 1',
    '{"status": 1, "reason": "ok",}',
    '{"status": 1, payload: 1}',
    '{"status": 1',
    '[{"status": 1}]',
    '{"status": "1"}',
    '{"status": 1.5}',
    '{"status": null}',
    '{"status": true}',
    '{"reason": "ok"}',
    '{}',
    '"{\\"status\\": 1}"',
    '1',
    'null',
  ]) {
    assert.equal(parseResultLine(line), undefined, line);
  }
});

test('buildInputEnvelope: protocol v1 meta with the caller, the task name and defaults', () => {
  assert.deepEqual(buildInputEnvelope({ taskName: 'ping', taskId: 't-1', attempt: 3 }, { host: 'a' }), {
    meta: {
      protocol: 'v1',
      caller: 'taskhost',
      taskName: 'ping',
      taskId: 't-1',
      runId: null,
      stepName: null,
      attempt: 3,
      requester: null,
      resolver: null,
    },
    data: { host: 'a' },
  });
  assert.equal(buildInputEnvelope({ taskName: 'ping' }, null).meta.attempt, 1);
});

test('judgeRun: status 1 with exit 0 is DONE, output = payload', () => {
  assert.deepEqual(judgeRun(end(), ok, null), { state: 'DONE', result: ok, error: null, retriable: false });
});

test('judgeRun: status 1 with a custom state ends in that state; an empty state means DONE', () => {
  const custom = { ...ok, state: 'ALREADY_DONE' };
  assert.deepEqual(judgeRun(end(), custom, null), {
    state: 'ALREADY_DONE',
    result: custom,
    error: null,
    retriable: false,
  });
  assert.equal(judgeRun(end(), { ...ok, state: '' }, null).state, 'DONE');
});

test('judgeRun: status != 1 is SERVER_ERROR with error = reason, retried', () => {
  const result = { status: 0, reason: 'upstream answered 503' };
  assert.deepEqual(judgeRun(end(), result, null), {
    state: 'SERVER_ERROR',
    result,
    error: 'upstream answered 503',
    retriable: true,
  });
  const bare = judgeRun(end(), { status: 7 }, null);
  assert.equal(bare.state, 'SERVER_ERROR');
  assert.match(bare.error ?? '', /status 7/, 'without a reason, the error names the status');
});

test('judgeRun: status != 1 with a custom state other than CLIENT/FATAL_ERROR is still SERVER_ERROR', () => {
  const verdict = judgeRun(end(), { status: 0, reason: 'no', state: 'ALREADY_DONE' }, null);
  assert.equal(verdict.state, 'SERVER_ERROR');
  assert.equal(verdict.error, 'no');
});

test('judgeRun: state CLIENT_ERROR or FATAL_ERROR fails in that state, not retried', () => {
  for (const state of ['CLIENT_ERROR', 'FATAL_ERROR']) {
    for (const status of [0, 1]) {
      const result = { status, reason: `refused with ${status}`, state };
      assert.deepEqual(
        judgeRun(end(), result, null),
        { state, result, error: `refused with ${status}`, retriable: false },
        `status ${status}, state ${state}`,
      );
    }
  }
});

test('judgeRun: a non-zero exit fails even after a status-1 result, naming the code and stderr', () => {
  const verdict = judgeRun(end({ exitCode: 3, stderrTail: ['warming up', '', 'cleanup failed'] }), ok, null);
  assert.equal(verdict.state, 'SERVER_ERROR');
  assert.equal(verdict.retriable, true);
  assert.equal(verdict.result, ok);
  assert.match(verdict.error ?? '', /exited with code 3/);
  assert.match(verdict.error ?? '', /warming up \| cleanup failed/);
});

test('judgeRun: a signal is SERVER_ERROR naming the signal', () => {
  const verdict = judgeRun(
    end({ exitCode: null, signal: 'SIGSEGV', stderrTail: ['segfault at 0'] }),
    null,
    null,
  );
  assert.equal(verdict.state, 'SERVER_ERROR');
  assert.match(verdict.error ?? '', /SIGSEGV/);
  assert.match(verdict.error ?? '', /segfault at 0/);
});

test('judgeRun: no result line is SERVER_ERROR naming the exit code and stderr', () => {
  const verdict = judgeRun(end({ stderrTail: ['connection refused'] }), null, null);
  assert.equal(verdict.state, 'SERVER_ERROR');
  assert.equal(verdict.result, null);
  assert.match(verdict.error ?? '', /no result line/);
  assert.match(verdict.error ?? '', /exited with code 0/);
  assert.match(verdict.error ?? '', /connection refused/);
});

const KILLED_AT_LIMIT = 'killed after the 1.5 s timeout; last stderr: stuck';

test('judgeRun: a timeout kill is SERVER_ERROR naming the timeout, even after a result line', () => {
  const verdict = judgeRun(
    end({ exitCode: null, signal: 'SIGTERM', killReason: 'timeout', timeoutMs: 1500, stderrTail: ['stuck'] }),
    ok,
    null,
  );
  assert.equal(verdict.state, 'SERVER_ERROR');
  assert.equal(verdict.retriable, true);
  // The limit as configured (1500 ms), then the plugin's last stderr.
  assert.equal(verdict.error, KILLED_AT_LIMIT);
});

test('judgeRun: a cancelled run is SERVER_ERROR saying so', () => {
  const verdict = judgeRun(end({ exitCode: null, signal: 'SIGTERM', killReason: 'cancelled' }), null, null);
  assert.equal(verdict.state, 'SERVER_ERROR');
  assert.match(verdict.error ?? '', /cancelled/);
});

test('judgeRun: a spawn failure is SERVER_ERROR with its message', () => {
  const verdict = judgeRun(end({ exitCode: null, spawnError: 'cannot execute /p/x.sh: EACCES' }), null, null);
  assert.deepEqual(verdict, {
    state: 'SERVER_ERROR',
    result: null,
    error: 'cannot execute /p/x.sh: EACCES',
    retriable: true,
  });
});

test('judgeRun: a result breaking the outputs schema is SERVER_ERROR naming the mismatch', () => {
  const verdict = judgeRun(end(), ok, '/payload/count must be integer');
  assert.equal(verdict.state, 'SERVER_ERROR');
  assert.equal(verdict.result, ok);
  assert.match(verdict.error ?? '', /outputs schema: \/payload\/count must be integer/);
});

test('judgeRun: a result naming a live or engine state is SERVER_ERROR naming it, whatever its status', () => {
  for (const state of [
    'RUNNING',
    'TODO',
    'WAITING',
    'EXPANDED',
    'PRUNE',
    'CRASHED',
    'TO_RETRY',
    'done',
    'Bad-State',
  ]) {
    for (const status of [1, 0]) {
      const result = { status, reason: 'still going', state };
      const verdict = judgeRun(end(), result, null);
      assert.equal(verdict.state, 'SERVER_ERROR', `status ${status}, state ${state}`);
      assert.equal(verdict.retriable, true);
      assert.ok(verdict.error?.includes(`"${state}"`), `the error names the state: ${verdict.error}`);
      assert.match(verdict.error ?? '', /not a final state/);
      assert.equal(verdict.result, result, 'the printed result is kept');
    }
  }
});

test('judgeRun: status 1 with state SERVER_ERROR fails as SERVER_ERROR, retried like any SERVER_ERROR', () => {
  const result = { status: 1, reason: 'backend busy', state: 'SERVER_ERROR' };
  assert.deepEqual(judgeRun(end(), result, null), {
    state: 'SERVER_ERROR',
    result,
    error: 'backend busy',
    retriable: true,
  });
  assert.equal(judgeRun(end(), { status: 1, state: 'SERVER_ERROR' }, null).error, 'SERVER_ERROR');
});

test('isResultState: final builtins and upper-case custom words, never a live or engine state', () => {
  for (const state of ['DONE', 'CLIENT_ERROR', 'FATAL_ERROR', 'SERVER_ERROR', 'ALREADY_DONE', 'NEEDS_2FA']) {
    assert.equal(isResultState(state), true, state);
  }
  for (const state of ['RUNNING', 'TODO', 'WAITING', 'RETRY_NOW', 'AFTERRUN_ERROR', 'x', '2FA', 'A-B', '']) {
    assert.equal(isResultState(state), false, state);
  }
});
