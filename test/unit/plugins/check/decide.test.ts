import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideShebang, shebangProgram } from '../../../../src/plugins/check/decide-file.ts';
import {
  decideSchemaAnswers,
  decideSchemasCompile,
  emptyKeyPaths,
  SLOW_SCHEMA_MS,
  type SchemaAnswerFacts,
} from '../../../../src/plugins/check/decide-description.ts';
import {
  decideEnvironment,
  decideFinalState,
  decideRunOutcome,
  decideTimeout,
  TIMEOUT_MARGIN,
  type RunFacts,
} from '../../../../src/plugins/check/decide-run.ts';
import { completeResults, pass, RULES } from '../../../../src/plugins/check/rules.ts';
import { StdoutScan } from '../../../../src/plugins/check/stdout-scan.ts';

/**
 * Issue 16, `plugin check`'s decisions on facts given here: the cases a fixture cannot
 * produce without depending on time (a slow `schema`, a run close to its timeout) and the
 * edges of each rule. The fixtures go through the real CLI in test/integration/cli/plugin-check.test.ts.
 */

test('shebang: the program a #! line needs, and the verdicts', () => {
  assert.equal(shebangProgram('#!/usr/bin/env bash'), 'bash');
  assert.equal(shebangProgram('#!/usr/bin/env -S python3 -u'), 'python3');
  assert.equal(shebangProgram('#! /bin/bash -e'), '/bin/bash');
  assert.equal(shebangProgram('#!'), null);
  assert.equal(shebangProgram('echo hi'), null);
  assert.equal(decideShebang('f', { kind: 'binary' }).verdict, 'pass');
  const missing = decideShebang('f', {
    kind: 'script',
    firstLine: '#!/usr/bin/env python9',
    program: 'python9',
    found: null,
  });
  assert.equal(missing.verdict, 'fail');
  assert.match(missing.message, /python9 is not on taskhost's PATH/);
  const absolute = decideShebang('f', {
    kind: 'script',
    firstLine: '#!/opt/nope/bash',
    program: '/opt/nope/bash',
    found: null,
  });
  assert.match(absolute.message, /does not exist/);
  const empty = decideShebang('f', { kind: 'script', firstLine: null, program: null, found: null });
  assert.match(empty.message, /no #! line/);
});

const answered: SchemaAnswerFacts = {
  durationMs: 20,
  timeoutMs: 10_000,
  spawnError: null,
  killReason: null,
  signal: null,
  exitCode: 0,
  stderrTail: [],
  oversize: false,
  maxBytes: 1024 * 1024,
};

test('schema-answers: a slow answer warns; printing too much fails', () => {
  assert.equal(decideSchemaAnswers(answered).verdict, 'pass');
  const slow = decideSchemaAnswers({ ...answered, durationMs: SLOW_SCHEMA_MS + 1000 });
  assert.equal(slow.verdict, 'warn');
  assert.match(slow.message, /answered in 3\.0 s: taskhost runs it at every registration/);
  assert.match(slow.fix ?? '', /before any slow work/);
  assert.equal(decideSchemaAnswers({ ...answered, oversize: true }).verdict, 'fail');
  assert.match(
    decideSchemaAnswers({ ...answered, exitCode: null, signal: 'SIGSEGV' }).message,
    /killed by SIGSEGV/,
  );
});

test('schemas-compile names the draft of each schema, and whether it was declared', () => {
  const both = decideSchemasCompile({
    inputs: { draft: '2020-12', declared: true },
    outputs: { draft: 'draft-07', declared: false },
  });
  assert.equal(both.message, 'compiled: inputs as 2020-12; outputs as draft-07 (no "$schema": the default)');
  const broken = decideSchemasCompile({
    inputs: { draft: 'draft-07', declared: true },
    outputs: { error: 'bad' },
  });
  assert.equal(broken.verdict, 'fail');
  assert.match(broken.message, /^"outputs" is not a valid JSON Schema: bad/);
});

test('heredoc-key: where the empty keys are', () => {
  assert.deepEqual(
    emptyKeyPaths({ '': 1, inputs: { '': 'x', properties: { a: { '': 2 } } }, tags: [{ '': 3 }] }),
    ['(top level)', 'inputs', 'inputs.properties.a', 'tags[0]'],
  );
  assert.deepEqual(emptyKeyPaths({ name: 'x' }), []);
});

function runFacts(overrides: Partial<RunFacts> = {}): RunFacts {
  const stdout = new StdoutScan();
  stdout.push('{"status": 1}');
  return {
    durationMs: 100,
    timeoutMs: 10_000,
    timeoutSource: 'declared',
    spawnError: null,
    killReason: null,
    signal: null,
    exitCode: 0,
    stderrTail: [],
    result: { status: 1, reason: 'ok', payload: { n: 1 } },
    verdict: { state: 'DONE', result: null, error: null, retriable: false },
    stdout: stdout.summary(),
    stderrResults: 0,
    outputs: { declared: false, problems: null },
    environmentReads: [],
    ...overrides,
  };
}

/** What check says of a run just over half of its declared 10 s limit. */
const HALF_USED = 'ran 5.0 s of its declared timeout of 10 s: a slower day kills it';

test('timeout: a run that used more than half its timeout warns; a kill under the default says to declare one', () => {
  assert.equal(decideTimeout(runFacts()).verdict, 'pass');
  const close = decideTimeout(runFacts({ durationMs: 10_000 * TIMEOUT_MARGIN + 1 }));
  assert.equal(close.verdict, 'warn');
  assert.ok(close.message.includes(HALF_USED), close.message);
  const killed = decideTimeout(
    runFacts({ killReason: 'timeout', timeoutSource: 'default', timeoutMs: 300_000 }),
  );
  assert.equal(killed.verdict, 'fail');
  assert.match(killed.message, /killed after taskhost's default timeout of 300 s/);
  assert.match(killed.fix ?? '', /declare a "timeout"/);
  assert.match(
    decideTimeout(runFacts({ timeoutSource: 'default', timeoutMs: 300_000 })).message,
    /no "timeout" declared/,
  );
});

test('final-state: status 0 with a state that is not a failure warns (it ends SERVER_ERROR)', () => {
  const custom = decideFinalState(runFacts({ result: { status: 0, reason: 'x', state: 'SKIPPED' } }));
  assert.equal(custom.verdict, 'warn');
  assert.match(custom.message, /status 0 with state SKIPPED/);
  assert.equal(decideFinalState(runFacts({ result: { status: 0, state: 'CLIENT_ERROR' } })).verdict, 'pass');
  assert.equal(decideFinalState(runFacts({ result: { status: 1, state: 'PRUNE' } })).verdict, 'fail');
  assert.equal(decideFinalState(runFacts({ result: null })).verdict, 'skip');
});

test('environment: only a failed run is explained by variables; a binary is not scanned', () => {
  const failed = { state: 'SERVER_ERROR', result: null, error: 'x', retriable: true };
  assert.equal(decideEnvironment(runFacts({ environmentReads: ['TOKEN'] })).verdict, 'pass');
  assert.match(
    decideEnvironment(runFacts({ environmentReads: ['TOKEN'] })).message,
    /reads TOKEN, unset under taskhost, and coped/,
  );
  const warned = decideEnvironment(runFacts({ environmentReads: ['TOKEN'], verdict: failed }));
  assert.equal(warned.verdict, 'warn');
  assert.match(warned.message, /reads TOKEN, which taskhost does not pass/);
  assert.equal(decideEnvironment(runFacts({ environmentReads: [], verdict: failed })).verdict, 'pass');
  assert.equal(decideEnvironment(runFacts({ environmentReads: null, verdict: failed })).verdict, 'skip');
});

test("run-outcome: the plugin's own failure warns; a failure the protocol causes fails", () => {
  const reported = decideRunOutcome(
    runFacts({
      result: { status: 0, reason: 'no such user', state: 'CLIENT_ERROR' },
      verdict: { state: 'CLIENT_ERROR', result: null, error: 'no such user', retriable: false },
    }),
  );
  assert.equal(reported.verdict, 'warn');
  const exited = decideRunOutcome(
    runFacts({
      exitCode: 3,
      verdict: { state: 'SERVER_ERROR', result: null, error: 'plugin exited with code 3', retriable: true },
    }),
  );
  assert.equal(exited.verdict, 'fail');
  assert.equal(decideRunOutcome(runFacts()).verdict, 'pass');
});

test('every rule is reported, in catalogue order; the undecided ones are skips saying why', () => {
  const results = completeResults(
    [pass('shebang', 'x'), pass('executable', 'y')],
    'the file is not executable',
  );
  assert.deepEqual(
    results.map((result) => result.id),
    RULES.map((rule) => rule.id),
  );
  assert.equal(results[0]?.verdict, 'pass');
  assert.equal(results[2]?.verdict, 'skip');
  assert.equal(results[2]?.message, 'not checked: the file is not executable');
});
