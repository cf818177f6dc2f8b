/**
 * Decisions on one run of the plugin with the example data, made as taskhost runs it: the
 * result line, `outputs`, the exit code, the state, what was printed around the result,
 * the time against the timeout, the environment, and the outcome taskhost would record.
 * Pure: the facts are gathered by check-plugin.ts (through runPlugin and a StdoutScan).
 */
import type { ResultEnvelope } from '../../protocol/envelope.ts';
import type { RunVerdict } from '../../protocol/outcome.ts';
import { isFailedState, isResultState, StepState } from '../../protocol/states.ts';
import { fail, pass, quoted, seconds, shown, skip, warn, type RuleResult } from './rules.ts';
import type { StdoutSummary } from './stdout-scan.ts';

/** A run that used more than this share of its timeout is close to being killed. */
export const TIMEOUT_MARGIN = 0.5;

export interface RunFacts {
  durationMs: number;
  timeoutMs: number;
  /** Where the timeout came from: the description, taskhost's default, or --timeout. */
  timeoutSource: 'declared' | 'default' | 'option';
  spawnError: string | null;
  killReason: 'timeout' | 'cancelled' | null;
  signal: string | null;
  exitCode: number | null;
  stderrTail: readonly string[];
  /** The result line taskhost took (the last one), or null. */
  result: ResultEnvelope | null;
  /** What taskhost would record (protocol/outcome.ts judgeRun). */
  verdict: RunVerdict;
  stdout: StdoutSummary;
  /** stderr lines that parse as a result (only stdout counts). */
  stderrResults: number;
  /** `outputs` is declared, and what ajv said of the result against it (null: it matches). */
  outputs: { declared: boolean; problems: string | null };
  /** Variables outside the minimal set that the source reads (env-scan.ts); null when not scanned. */
  environmentReads: readonly string[] | null;
}

const RESULT_LINE =
  'print {"status": 1, "reason": "ok", "payload": ...} as the last stdout line, built with a JSON encoder';

function tail(lines: readonly string[]): string {
  const kept = lines.filter((line) => line.trim() !== '');
  return kept.length === 0 ? '' : `; last stderr: ${kept.slice(-3).join(' | ')}`;
}

function ended(facts: RunFacts): string {
  if (facts.killReason === 'timeout') return `was killed after its ${seconds(facts.timeoutMs)} timeout`;
  if (facts.signal) return `was killed by ${facts.signal}`;
  return `exited with code ${facts.exitCode ?? 'unknown'}`;
}

export function decideResultLine(facts: RunFacts): RuleResult {
  if (facts.spawnError) return skip('result-line', `not checked: ${facts.spawnError}`);
  const { result, nearMiss, lines } = facts.stdout;
  if (result && facts.result) {
    return pass(
      'result-line',
      `line ${result.line} of ${lines} on stdout: status ${facts.result.status}${typeof facts.result.reason === 'string' ? `, reason ${quoted(facts.result.reason, 60)}` : ''}`,
    );
  }
  if (nearMiss) {
    const encoder = /not valid JSON/.test(nearMiss.why)
      ? 'build the result with a JSON encoder (json.dumps, jq -n --arg, th_ok), never by pasting strings'
      : 'make "status" an integer: 1 for success, 0 for a failure';
    return fail(
      'result-line',
      `no result line: stdout line ${nearMiss.line} looks like one, but ${nearMiss.why}: ${quoted(nearMiss.text)}`,
      encoder,
    );
  }
  if (facts.stderrResults > 0) {
    return fail(
      'result-line',
      'no result line on stdout: the result was printed on stderr',
      'print the result on stdout (only stdout carries it)',
    );
  }
  return fail(
    'result-line',
    `no result line: no stdout line is a JSON object with an integer "status" (the plugin ${ended(facts)}${tail(facts.stderrTail)})`,
    RESULT_LINE,
  );
}

export function decideOutputs(facts: RunFacts): RuleResult {
  if (!facts.outputs.declared) return skip('outputs', 'no "outputs" schema declared (it is optional)');
  if (!facts.result) return skip('outputs', 'not checked: no result line');
  if (facts.outputs.problems === null) return pass('outputs', 'the result matches outputs');
  return fail(
    'outputs',
    `the result does not match outputs: ${facts.outputs.problems}`,
    'make the result fit "outputs", or fix "outputs" (it also applies to failure results)',
  );
}

export function decideExitCode(facts: RunFacts): RuleResult {
  if (facts.spawnError) {
    return fail('exit-code', facts.spawnError, 'check the #! line and that the file can run');
  }
  if (facts.killReason === 'timeout') {
    return skip('exit-code', 'not checked: the run was killed by its timeout');
  }
  if (facts.signal) {
    return fail(
      'exit-code',
      `the plugin was killed by ${facts.signal}${tail(facts.stderrTail)}`,
      'let the plugin end by itself, with exit code 0 after its result',
    );
  }
  if (facts.exitCode === 0) return pass('exit-code', 'exit code 0');
  if (facts.result) {
    return fail(
      'exit-code',
      `exited with code ${facts.exitCode} after its result line: taskhost fails the run (SERVER_ERROR) whatever the result says${tail(facts.stderrTail)}`,
      'exit 0 once the result is printed; report a failure in the result (status 0 and a state), not the exit code',
    );
  }
  return fail(
    'exit-code',
    `exited with code ${facts.exitCode} without a result line${tail(facts.stderrTail)}`,
    'catch the error and print a failure result ({"status": 0, "reason": ..., "state": ...}), then exit 0',
  );
}

export function decideFinalState(facts: RunFacts): RuleResult {
  const result = facts.result;
  if (!result) return skip('final-state', 'not checked: no result line');
  const state = typeof result.state === 'string' && result.state !== '' ? result.state : null;
  if (state === null) {
    return pass(
      'final-state',
      `no state: status ${result.status} ends the run ${result.status === 1 ? 'DONE' : 'SERVER_ERROR'}`,
    );
  }
  if (!isResultState(state)) {
    return fail(
      'final-state',
      `state ${quoted(state)} is not a final state: taskhost fails the run (SERVER_ERROR)`,
      'use DONE, CLIENT_ERROR, FATAL_ERROR, SERVER_ERROR or a custom state (an upper-case word that is not a builtin state)',
    );
  }
  if (
    result.status !== 1 &&
    state !== StepState.CLIENT_ERROR &&
    state !== StepState.FATAL_ERROR &&
    state !== StepState.SERVER_ERROR
  ) {
    return warn(
      'final-state',
      `status ${result.status} with state ${state}: a failed result ends SERVER_ERROR unless its state is CLIENT_ERROR or FATAL_ERROR`,
      'use status 1 with a custom state, or CLIENT_ERROR / FATAL_ERROR with a failure',
    );
  }
  return pass('final-state', `state ${state}`);
}

export function decideOutputAfterResult(facts: RunFacts): RuleResult {
  const { result, after, firstAfter } = facts.stdout;
  if (!result) return skip('output-after-result', 'not checked: no result line');
  if (after === 0 || !firstAfter) return pass('output-after-result', 'the result is the last line of stdout');
  return warn(
    'output-after-result',
    `${after} stdout line(s) after the result line, the first: ${quoted(firstAfter.text)}; taskhost still takes the result, but any later line that looks like one would replace it`,
    'print the result last; send anything after it (cleanup logs) to stderr',
  );
}

export function decideJsonLogs(facts: RunFacts): RuleResult {
  const { statusLike, firstStatusLike } = facts.stdout;
  if (statusLike === 0 || !firstStatusLike) {
    return pass('json-logs', 'no other stdout line is a JSON object with a "status" key');
  }
  return warn(
    'json-logs',
    `${statusLike} stdout log line(s) are JSON objects with a "status" key, which could be taken for a result (line ${firstStatusLike.line}: ${quoted(firstStatusLike.text)})`,
    'log on stderr (>&2, file=sys.stderr, th_log, log), or rename the "status" key',
  );
}

export function decideTimeout(facts: RunFacts): RuleResult {
  const limit = seconds(facts.timeoutMs);
  const whose = {
    declared: 'its declared timeout',
    default: "taskhost's default timeout",
    option: 'the --timeout',
  }[facts.timeoutSource];
  if (facts.spawnError) return skip('timeout', 'not checked: the plugin did not start');
  if (facts.killReason === 'timeout') {
    return fail(
      'timeout',
      `killed after ${whose} of ${limit}${tail(facts.stderrTail)}`,
      facts.timeoutSource === 'declared'
        ? 'raise "timeout" in the description, or make the plugin faster'
        : 'declare a "timeout" (seconds) that the plugin keeps to, or make it faster',
    );
  }
  const took = seconds(facts.durationMs);
  if (facts.durationMs > facts.timeoutMs * TIMEOUT_MARGIN) {
    return warn(
      'timeout',
      `ran ${took} of ${whose} of ${limit}: a slower day kills it`,
      'raise "timeout" in the description, or make the plugin faster',
    );
  }
  const note = facts.timeoutSource === 'default' ? ' (no "timeout" declared)' : '';
  return pass('timeout', `ran ${took} of ${whose} of ${limit}${note}`);
}

/** Whether taskhost would record the run as failed (for whatever reason). */
export function runFailed(facts: RunFacts): boolean {
  return isFailedState(facts.verdict.state);
}

export function decideEnvironment(facts: RunFacts): RuleResult {
  const reads = facts.environmentReads;
  const minimal = 'PATH, HOME, LANG and TASKHOST_*';
  if (reads === null) {
    return runFailed(facts)
      ? skip('environment', 'not checked: a binary, whose source cannot be read')
      : pass('environment', `ran with taskhost's minimal environment (${minimal})`);
  }
  if (!runFailed(facts)) {
    const coped = reads.length > 0 ? `; it reads ${reads.join(', ')}, unset under taskhost, and coped` : '';
    return pass('environment', `ran with taskhost's minimal environment (${minimal})${coped}`);
  }
  if (reads.length === 0) {
    return pass('environment', `the run failed, but the source reads no variable outside ${minimal}`);
  }
  return warn(
    'environment',
    `the run failed, and the plugin reads ${reads.join(', ')}, which taskhost does not pass: a plugin sees only ${minimal}`,
    'take the value as data (a property of inputs), or read it from a file next to the plugin',
  );
}

export function decideRunOutcome(facts: RunFacts): RuleResult {
  const { state, error } = facts.verdict;
  if (!isFailedState(state)) {
    return pass(
      'run-outcome',
      `taskhost would record ${state}${facts.result ? `, output ${shown(facts.result.payload, 80)}` : ''}`,
    );
  }
  const byTheResult =
    facts.result !== null &&
    facts.exitCode === 0 &&
    facts.killReason === null &&
    (facts.outputs.problems === null || !facts.outputs.declared) &&
    (typeof facts.result.state !== 'string' ||
      facts.result.state === '' ||
      isResultState(facts.result.state));
  if (byTheResult) {
    return warn(
      'run-outcome',
      `the plugin reported a failure with this data: taskhost would record ${state}: ${error ?? ''}`,
      'if this data should succeed, fix the plugin; else check with data that should (--data)',
    );
  }
  const why = (error ?? '').length > 200 ? `${(error ?? '').slice(0, 199)}…` : (error ?? '');
  return fail('run-outcome', `taskhost would record ${state}: ${why}`, 'see the failures above');
}

/** Every run decision, in catalogue order. */
export function decideRun(facts: RunFacts): RuleResult[] {
  return [
    decideResultLine(facts),
    decideOutputs(facts),
    decideExitCode(facts),
    decideFinalState(facts),
    decideOutputAfterResult(facts),
    decideJsonLogs(facts),
    decideTimeout(facts),
    decideEnvironment(facts),
    decideRunOutcome(facts),
  ];
}
