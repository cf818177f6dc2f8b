import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ResolutionOutcome } from '../../../src/engine/resolver.ts';
import { stateTrail, taskTrail } from '../../helpers/engine-scenarios.ts';
import {
  createFromYaml,
  documentOf,
  registerFixture,
  runOnce,
  runYaml,
  statesOf,
} from '../../helpers/engine.ts';
import { tempDir } from '../../helpers/plugin-fixtures.ts';
import { createTestDatabase } from '../../helpers/store.ts';

/**
 * The state machine of SPEC section 6, transition by transition: step states, the
 * resolution state chosen from them, the task state that goes with it, µTask's retry
 * counting (a step's max_retries before each run, the template's retry_max after a run)
 * and its retry delays (seconds = 8 s × 1.25^try_count, minutes = 1.6 min × try_count,
 * hours = 1 h + 10 min per extra try; the smallest among retriable steps).
 */

const { store } = await createTestDatabase();

const SECOND = 1000;
const MINUTE = 60 * SECOND;

/**
 * Runs the resolution once and checks that next_retry is `delayMs` after the moment the run
 * chose it: between the clock before the run and after it, plus the delay (a bound on
 * when it was computed, not on how long anything took).
 */
async function runExpectingRetry(resolutionId: string, delayMs: number): Promise<ResolutionOutcome> {
  const before = Date.now();
  const outcome = await runOnce(store, resolutionId);
  const after = Date.now();
  assert.equal(outcome.state, 'ERROR');
  assert.ok(outcome.nextRetry, 'an ERROR resolution has a next_retry');
  const at = outcome.nextRetry.getTime();
  assert.ok(
    at >= before + delayMs && at <= after + delayMs,
    `next_retry ${at - before} ms after the run's start, expected ${delayMs} ms (+ at most ${after - before} ms)`,
  );
  const { rows } = await store.query<{ next_retry: Date }>(
    `SELECT next_retry FROM resolution WHERE id = $1`,
    [resolutionId],
  );
  assert.equal(rows[0]?.next_retry.getTime(), at, 'the stored next_retry is the one returned');
  return outcome;
}

test('TODO → RUNNING → DONE: committed in order; the task goes TODO → RUNNING → DONE', async () => {
  const { taskId, resolutionId } = await createFromYaml(
    store,
    `
name: simple
description: one step
steps:
  only:
    action: {type: echo, configuration: {output: {foo: bar}}}
`,
  );
  const created = await documentOf(store, taskId);
  assert.equal(created.state, 'TODO');
  assert.equal(created.resolution?.state, 'TODO');
  assert.deepEqual(statesOf(created), { only: 'TODO' });

  const outcome = await runOnce(store, resolutionId);
  assert.deepEqual(outcome, { state: 'DONE', taskState: 'DONE', nextRetry: null });
  const document = await documentOf(store, taskId);
  assert.equal(document.state, 'DONE');
  assert.equal(document.resolution?.state, 'DONE');
  assert.equal(document.resolution?.run_count, 1);
  assert.equal(document.resolution?.next_retry, null);
  assert.equal(document.steps.only?.try_count, 1);
  assert.notEqual(document.steps.only?.last_run, null);
  assert.deepEqual(await stateTrail(store, taskId, 'only'), ['RUNNING', 'DONE']);
  assert.deepEqual(await taskTrail(store, taskId), ['TODO', 'RUNNING', 'DONE']);
  await assert.rejects(runOnce(store, resolutionId), { code: 'TH_RESOLUTION_STATE' });
});

test('CLIENT_ERROR → BLOCKED_BADREQUEST, task BLOCKED, no next_retry; a new run tries the step again', async () => {
  const run = await runYaml(
    store,
    `
name: client-error
description: a bad request
steps:
  stepOne:
    action: {type: echo, configuration: {error_type: client, error_message: 'bad input'}}
`,
  );
  assert.deepEqual(run.outcomes[0], { state: 'BLOCKED_BADREQUEST', taskState: 'BLOCKED', nextRetry: null });
  assert.equal(run.document.state, 'BLOCKED');
  assert.equal(run.document.steps.stepOne?.state, 'CLIENT_ERROR');
  assert.equal(run.document.steps.stepOne?.error, 'bad input');
  assert.deepEqual(await stateTrail(store, run.taskId, 'stepOne'), ['RUNNING', 'CLIENT_ERROR']);
  const again = await runOnce(store, run.resolutionId);
  assert.equal(again.state, 'BLOCKED_BADREQUEST');
  assert.equal((await documentOf(store, run.taskId)).steps.stepOne?.try_count, 2);
});

test('SERVER_ERROR → ERROR, task RUNNING, next_retry 8 s × 1.25^try_count: 10 s, 12.5 s, 15.625 s', async () => {
  const { taskId, resolutionId } = await createFromYaml(
    store,
    `
name: next-retry
description: Resolution in state ERROR must schedule a next retry
steps:
  stepOne:
    action: {type: echo, configuration: {error_type: server, error_message: server error}}
`,
  );
  assert.equal((await documentOf(store, taskId)).resolution?.next_retry, null);
  await runExpectingRetry(resolutionId, 10 * SECOND);
  const document = await documentOf(store, taskId);
  assert.equal(document.state, 'RUNNING');
  assert.equal(document.steps.stepOne?.state, 'SERVER_ERROR');
  assert.equal(document.steps.stepOne?.error, 'server error');
  assert.equal(document.steps.stepOne?.try_count, 1);
  await runExpectingRetry(resolutionId, 12.5 * SECOND);
  await runExpectingRetry(resolutionId, 15.625 * SECOND);
  assert.equal((await documentOf(store, taskId)).steps.stepOne?.try_count, 3);
});

test('retry_pattern minutes (1.6 min × try_count) and hours (1 h; µTask never waits past an hour)', async () => {
  const failing = (pattern: string): string => `
name: retry-${pattern}
description: retry pattern ${pattern}
steps:
  stepOne:
    retry_pattern: ${pattern}
    action: {type: echo, configuration: {error_message: down}}
`;
  const minutes = await createFromYaml(store, failing('minutes'));
  await runExpectingRetry(minutes.resolutionId, 96 * SECOND);
  await runExpectingRetry(minutes.resolutionId, 192 * SECOND);
  const hours = await createFromYaml(store, failing('hours'));
  await runExpectingRetry(hours.resolutionId, 60 * MINUTE);
  // The step's own delay is now 1 h 10 min, but µTask's nextRetry starts from an hour and
  // takes the smallest: a resolution is never left for more than an hour.
  await runExpectingRetry(hours.resolutionId, 60 * MINUTE);
});

test('the resolution retries at the smallest delay among its retriable steps', async () => {
  const { resolutionId } = await createFromYaml(
    store,
    `
name: smallest-delay
description: several retriable steps
steps:
  hourly:
    retry_pattern: hours
    action: {type: echo, configuration: {error_message: down}}
  minutely:
    retry_pattern: minutes
    action: {type: echo, configuration: {error_message: down}}
  fatal:
    action: {type: echo, configuration: {error_type: client, error_message: not retriable}}
`,
  );
  // A CLIENT_ERROR outranks ERROR: nothing comes back by itself.
  const blocked = await runOnce(store, resolutionId);
  assert.deepEqual(blocked, { state: 'BLOCKED_BADREQUEST', taskState: 'BLOCKED', nextRetry: null });

  const retriable = await createFromYaml(
    store,
    `
name: smallest-delay-retriable
description: several retriable steps
steps:
  hourly:
    retry_pattern: hours
    action: {type: echo, configuration: {error_message: down}}
  minutely:
    retry_pattern: minutes
    action: {type: echo, configuration: {error_message: down}}
  ok:
    action: {type: echo, configuration: {output: fine}}
`,
  );
  await runExpectingRetry(retriable.resolutionId, 96 * SECOND);
});

test('FATAL_ERROR → BLOCKED_FATAL, task BLOCKED; from a builtin and from a plugin', async () => {
  await registerFixture(store, 'fatal-error', 'fatal-error.sh');
  const run = await runYaml(
    store,
    `
name: fatal
description: fatal errors
steps:
  builtin:
    action: {type: echo, configuration: {error_type: fatal, error_message: give up}}
  plugin:
    action: {type: fatal-error}
  after:
    dependencies: ['builtin:ANY']
    action: {type: echo, configuration: {output: never}}
`,
  );
  assert.deepEqual(run.outcomes[0], { state: 'BLOCKED_FATAL', taskState: 'BLOCKED', nextRetry: null });
  assert.deepEqual(statesOf(run.document), { builtin: 'FATAL_ERROR', plugin: 'FATAL_ERROR', after: 'TODO' });
  assert.equal(run.document.steps.builtin?.error, 'give up');
  assert.equal(run.document.steps.plugin?.error, 'the account was deleted');
  assert.deepEqual(await stateTrail(store, run.taskId, 'plugin'), ['RUNNING', 'FATAL_ERROR']);
});

test('PRUNE from a check condition: final, its dependents pruned, the resolution DONE', async () => {
  const run = await runYaml(
    store,
    `
name: pruned
description: a check prunes
steps:
  first:
    action: {type: echo, configuration: {output: x}}
    conditions:
    - type: check
      then: {this: PRUNE}
  second:
    dependencies: [first]
    action: {type: echo, configuration: {output: x}}
`,
  );
  assert.deepEqual(statesOf(run.document), { first: 'PRUNE', second: 'PRUNE' });
  assert.equal(run.document.resolution?.state, 'DONE');
  assert.equal(run.document.state, 'DONE');
  assert.deepEqual(await stateTrail(store, run.taskId, 'first'), ['RUNNING', 'PRUNE']);
  assert.deepEqual(await stateTrail(store, run.taskId, 'second'), ['PRUNE']);
});

test('TO_RETRY from a check condition → ERROR with next_retry; the next run runs the step again', async () => {
  const { taskId, resolutionId } = await createFromYaml(
    store,
    `
name: to-retry
description: not provisioned yet
steps:
  wait:
    action: {type: echo, configuration: {output: {ready: 'no'}}}
    conditions:
    - type: check
      if: [{value: '{{step.this.output.ready}}', operator: EQ, expected: 'no'}]
      then: {this: TO_RETRY}
      message: not ready
`,
  );
  await runExpectingRetry(resolutionId, 10 * SECOND);
  await runExpectingRetry(resolutionId, 12.5 * SECOND);
  const document = await documentOf(store, taskId);
  assert.equal(document.steps.wait?.state, 'TO_RETRY');
  assert.equal(document.steps.wait?.error, 'not ready');
  assert.equal(document.steps.wait?.try_count, 2);
  assert.deepEqual(await stateTrail(store, taskId, 'wait'), ['RUNNING', 'TO_RETRY', 'RUNNING', 'TO_RETRY']);
});

test('RETRY_NOW loops within the run until max_retries: FATAL_ERROR "Step reached max retries 41", BLOCKED_FATAL', async () => {
  const run = await runYaml(
    store,
    `
name: loop-condition-max-retry
description: stop an infinite loop using max_retries
steps:
  infinite:
    max_retries: 41
    conditions:
    - type: check
      if: [{value: 0, operator: EQ, expected: 0}]
      then: {this: RETRY_NOW}
    action:
      type: echo
      configuration:
        output: '{{ add (default 0 step.this.output) 1 }}'
`,
  );
  assert.deepEqual(run.outcomes[0], { state: 'BLOCKED_FATAL', taskState: 'BLOCKED', nextRetry: null });
  assert.equal(run.document.steps.infinite?.state, 'FATAL_ERROR');
  assert.equal(run.document.steps.infinite?.try_count, 42);
  assert.equal(run.document.steps.infinite?.output, '42');
  assert.equal(run.document.steps.infinite?.error, 'Step reached max retries 41: ');
  assert.equal(run.document.resolution?.run_count, 1);
  const trail = await stateTrail(store, run.taskId, 'infinite');
  assert.equal(trail.filter((state) => state === 'RETRY_NOW').length, 42);
  assert.deepEqual(trail.slice(-2), ['RUNNING', 'FATAL_ERROR']);
});

test('max_retries: checked before each run; past it the step is FATAL_ERROR "Step reached max retries" and BLOCKED_FATAL', async () => {
  const { taskId, resolutionId } = await createFromYaml(
    store,
    `
name: step-max-retries
description: a step reaches its max retries
steps:
  stepOne:
    max_retries: 1
    action: {type: echo, configuration: {error_type: server, error_message: server error}}
`,
  );
  const outcomes = [];
  for (let index = 0; index < 3; index += 1) outcomes.push((await runOnce(store, resolutionId)).state);
  assert.deepEqual(outcomes, ['ERROR', 'ERROR', 'BLOCKED_FATAL']);
  const document = await documentOf(store, taskId);
  assert.equal(document.state, 'BLOCKED');
  assert.equal(document.steps.stepOne?.state, 'FATAL_ERROR');
  assert.equal(document.steps.stepOne?.try_count, 2);
  assert.equal(document.steps.stepOne?.error, 'Step reached max retries 1: server error');
  assert.equal(document.resolution?.next_retry, null);
});

test('retry_max counts resolution runs, checked after a run: BLOCKED_MAXRETRIES, task BLOCKED', async () => {
  const once = await runYaml(
    store,
    `
name: max-retry
description: Resolution must be BLOCKED_MAXRETRIES when reaching retry_max
retry_max: 1
steps:
  stepOne:
    action: {type: echo, configuration: {error_type: server, error_message: server error}}
`,
  );
  assert.deepEqual(once.outcomes[0], { state: 'BLOCKED_MAXRETRIES', taskState: 'BLOCKED', nextRetry: null });
  assert.equal(once.document.state, 'BLOCKED');
  assert.equal(once.document.steps.stepOne?.state, 'SERVER_ERROR');
  assert.equal(once.document.steps.stepOne?.try_count, 1);
  assert.equal(once.document.resolution?.next_retry, null);

  const thrice = await runYaml(
    store,
    `
name: max-retry-3
description: three runs
retry_max: 3
steps:
  stepOne:
    action: {type: echo, configuration: {error_type: server, error_message: server error}}
`,
    { runs: 3 },
  );
  assert.deepEqual(
    thrice.outcomes.map((outcome) => outcome.state),
    ['ERROR', 'ERROR', 'BLOCKED_MAXRETRIES'],
  );
  assert.equal(thrice.document.resolution?.run_count, 3);
  assert.deepEqual(await taskTrail(store, thrice.taskId), [
    'TODO',
    'RUNNING',
    'RUNNING',
    'RUNNING',
    'RUNNING',
    'RUNNING',
    'BLOCKED',
  ]);
});

test('retry_max is not reached by a resolution that ends DONE on its last allowed run', async () => {
  const { resolutionId, taskId } = await createFromYaml(
    store,
    `
name: max-retry-done
description: succeeds on the second run
retry_max: 2
steps:
  flaky:
    action: {type: echo, configuration: {output: '{{step.this.error}}'}}
    conditions:
    - type: check
      if: [{value: '{{step.this.output}}', operator: EQ, expected: ''}]
      then: {this: TO_RETRY}
      message: second time lucky
`,
  );
  assert.equal((await runOnce(store, resolutionId)).state, 'ERROR');
  assert.deepEqual(await runOnce(store, resolutionId), { state: 'DONE', taskState: 'DONE', nextRetry: null });
  assert.equal((await documentOf(store, taskId)).steps.flaky?.output, 'second time lucky');
});

test('AFTERRUN_ERROR → ERROR with next_retry (retriable), the task still RUNNING', async () => {
  const { taskId, resolutionId } = await createFromYaml(
    store,
    `
name: afterrun
description: a check that cannot be evaluated
steps:
  measure:
    action: {type: echo, configuration: {output: {size: big}}}
    conditions:
    - type: check
      if: [{value: '{{step.this.output.size}}', operator: GT, expected: '1'}]
      then: {this: PRUNE}
`,
  );
  await runExpectingRetry(resolutionId, 10 * SECOND);
  const document = await documentOf(store, taskId);
  assert.equal(document.steps.measure?.state, 'AFTERRUN_ERROR');
  assert.equal(document.state, 'RUNNING');
});

test('a step in AFTERRUN_ERROR past max_retries is re-checked, not failed: its action does not run again', async () => {
  const { resolutionId, taskId } = await createFromYaml(
    store,
    `
name: afterrun-max-retries
description: an AFTERRUN_ERROR step whose try_count passed max_retries
steps:
  measure:
    max_retries: 1
    action:
      type: echo
      configuration: {output: {n: '{{add1 (default 0 step.this.output.n)}}', size: big}}
    conditions:
    - type: check
      if: [{value: '{{step.this.output.n}}', operator: EQ, expected: '1'}]
      then: {this: TO_RETRY}
      final: true
    - type: check
      if: [{value: '{{step.this.output.size}}', operator: GT, expected: '1'}]
      then: {this: PRUNE}
`,
  );
  assert.equal((await runOnce(store, resolutionId)).state, 'ERROR'); // try 1: TO_RETRY
  assert.equal((await runOnce(store, resolutionId)).state, 'ERROR'); // try 2: AFTERRUN_ERROR
  assert.equal((await documentOf(store, taskId)).steps.measure?.try_count, 2);
  // Third run: only the check conditions are evaluated again; µTask leaves it AFTERRUN_ERROR.
  assert.equal((await runOnce(store, resolutionId)).state, 'ERROR');
  const document = await documentOf(store, taskId);
  assert.equal(document.steps.measure?.state, 'AFTERRUN_ERROR');
  assert.match(document.steps.measure?.error ?? '', /"big"/);
});

test('EXPANDED: a foreach step is EXPANDED while its children run, then DONE', async () => {
  const run = await runYaml(
    store,
    `
name: expanded
description: foreach states
steps:
  loop:
    foreach: '["a","b"]'
    action: {type: echo, configuration: {output: '{{iterator}}'}}
`,
  );
  assert.deepEqual(statesOf(run.document), { loop: 'DONE' });
  assert.deepEqual(await stateTrail(store, run.taskId, 'loop'), ['EXPANDED', 'DONE']);
  assert.deepEqual(await stateTrail(store, run.taskId, 'loop-0'), ['TODO', 'RUNNING', 'DONE']);
});

test('custom states: set by a check condition or a plugin, final like DONE (the resolution ends DONE)', async () => {
  await registerFixture(store, 'custom-state', 'custom-state.sh');
  const run = await runYaml(
    store,
    `
name: custom
description: custom states
steps:
  byPlugin:
    custom_states: [ALREADY_DONE]
    action: {type: custom-state}
  byCondition:
    custom_states: [SKIPPED_BY_POLICY]
    action: {type: echo, configuration: {output: x}}
    conditions:
    - type: check
      then: {this: SKIPPED_BY_POLICY}
`,
  );
  assert.deepEqual(statesOf(run.document), { byPlugin: 'ALREADY_DONE', byCondition: 'SKIPPED_BY_POLICY' });
  assert.equal(run.document.resolution?.state, 'DONE');
  assert.equal(run.document.state, 'DONE');
  assert.deepEqual(await stateTrail(store, run.taskId, 'byCondition'), ['RUNNING', 'SKIPPED_BY_POLICY']);
});

test('a state a plugin names that is not one of the step`s custom_states fails the step FATAL_ERROR', async () => {
  await registerFixture(store, 'custom-state', 'custom-state.sh');
  const run = await runYaml(
    store,
    `
name: undeclared-custom
description: undeclared custom state
steps:
  byPlugin:
    action: {type: custom-state}
`,
  );
  assert.equal(run.document.steps.byPlugin?.state, 'FATAL_ERROR');
  assert.match(run.document.steps.byPlugin?.error ?? '', /ALREADY_DONE/);
  assert.equal(run.document.resolution?.state, 'BLOCKED_FATAL');
});

test('a failed step holds its dependents in TODO; the resolution takes the failure`s state', async () => {
  const run = await runYaml(
    store,
    `
name: blocked-by-failure
description: a failed step holds its dependents
steps:
  first:
    action: {type: echo, configuration: {error_type: client, error_message: no}}
  second:
    dependencies: [first]
    action: {type: echo, configuration: {output: x}}
`,
  );
  assert.deepEqual(statesOf(run.document), { first: 'CLIENT_ERROR', second: 'TODO' });
  assert.equal(run.document.resolution?.state, 'BLOCKED_BADREQUEST');
});

test('a step RUNNING when its process died: re-run if idempotent, else CRASHED and BLOCKED_TOCHECK', async () => {
  const yaml = (idempotent: boolean): string => `
name: crashed-${idempotent}
description: recovery after a crash
steps:
  work:
    idempotent: ${idempotent}
    action: {type: echo, configuration: {output: done}}
`;
  const crash = async (resolutionId: string): Promise<void> => {
    await store.query(
      `UPDATE resolution SET state = 'RUNNING', instance_id = NULL, run_count = 1 WHERE id = $1`,
      [resolutionId],
    );
    await store.query(
      `UPDATE resolution_step SET state = 'RUNNING', executions = 1 WHERE resolution_id = $1 AND name = 'work'`,
      [resolutionId],
    );
  };
  const idempotent = await createFromYaml(store, yaml(true));
  await crash(idempotent.resolutionId);
  assert.equal((await runOnce(store, idempotent.resolutionId)).state, 'DONE');
  const rerun = await documentOf(store, idempotent.taskId);
  assert.equal(rerun.steps.work?.state, 'DONE');
  assert.equal(rerun.steps.work?.output, 'done');

  const fragile = await createFromYaml(store, yaml(false));
  await crash(fragile.resolutionId);
  assert.deepEqual(await runOnce(store, fragile.resolutionId), {
    state: 'BLOCKED_TOCHECK',
    taskState: 'BLOCKED',
    nextRetry: null,
  });
  const blocked = await documentOf(store, fragile.taskId);
  assert.equal(blocked.steps.work?.state, 'CRASHED');
  assert.equal(blocked.steps.work?.try_count, 0);
  assert.equal(blocked.state, 'BLOCKED');
});

test('a JavaScript variable that loops forever or allocates without bound fails its step FATAL_ERROR, naming it; the engine carries on', async () => {
  const run = await runYaml(
    store,
    `
name: runaway-expressions
description: expressions past their limits
variables:
- name: spin
  expression: "while (true) {}"
  expression_timeout: 200ms
- name: hog
  expression: "var a = []; for (;;) { a.push(new Array(100000).fill(a.length)); } 1"
- name: doubling
  expression: "var s = 'x'; for (;;) { s = s + s; } 1"
- name: recursion
  expression: "function f(n) { return f(n + 1) + 1; } f(0)"
- name: throwing
  expression: "throw new Error('nope')"
- name: answer
  expression: "6 * 7"
steps:
  spinning:
    action: {type: echo, configuration: {output: '{{eval "spin"}}'}}
  hogging:
    action: {type: echo, configuration: {output: '{{eval "hog"}}'}}
  growing:
    action: {type: echo, configuration: {output: '{{eval "doubling"}}'}}
  recursing:
    action: {type: echo, configuration: {output: '{{eval "recursion"}}'}}
  throws:
    action: {type: echo, configuration: {output: '{{eval "throwing"}}'}}
  fine:
    dependencies: ['spinning:ANY', 'hogging:ANY', 'growing:ANY']
    action: {type: echo, configuration: {output: '{{eval "answer"}}'}}
  independent:
    action: {type: echo, configuration: {output: '{{eval "answer"}}'}}
`,
  );
  assert.equal(run.document.resolution?.state, 'BLOCKED_FATAL');
  assert.deepEqual(statesOf(run.document), {
    spinning: 'FATAL_ERROR',
    hogging: 'FATAL_ERROR',
    growing: 'FATAL_ERROR',
    recursing: 'FATAL_ERROR',
    throws: 'FATAL_ERROR',
    fine: 'TODO',
    independent: 'DONE',
  });
  assert.match(run.document.steps.spinning?.error ?? '', /variable spin: expression timed out after 200 ms/);
  assert.match(run.document.steps.hogging?.error ?? '', /variable hog: expression exceeded its memory limit/);
  assert.match(run.document.steps.growing?.error ?? '', /variable doubling: .*memory/);
  assert.match(
    run.document.steps.recursing?.error ?? '',
    /variable recursion: expression exceeded its stack limit/,
  );
  assert.match(run.document.steps.throws?.error ?? '', /variable throwing: expression failed: .*nope/);
  assert.equal(run.document.steps.independent?.output, '42');

  // The same process runs the next task's expressions as usual.
  const next = await runYaml(
    store,
    `
name: after-runaway
description: expressions still work
variables:
- {name: answer, expression: "[1, 2, 3].map(function (n) { return n * 2; }).join('-')"}
steps:
  fine:
    action: {type: echo, configuration: {output: '{{eval "answer"}}'}}
`,
  );
  assert.equal(next.document.steps.fine?.state, 'DONE');
  assert.equal(next.document.steps.fine?.output, '2-4-6');
});

test('independent steps run at the same time: two steps that each wait for the other both end DONE', async (t) => {
  await registerFixture(store, 'rendezvous', 'rendezvous.sh');
  const dir = tempDir(t);
  const run = await runYaml(
    store,
    `
name: concurrent
description: two steps meet
steps:
  left:
    action: {type: rendezvous, configuration: {dir: '${dir}', mine: left, other: right}}
  right:
    action: {type: rendezvous, configuration: {dir: '${dir}', mine: right, other: left}}
`,
  );
  assert.deepEqual(statesOf(run.document), { left: 'DONE', right: 'DONE' });
  assert.deepEqual(run.document.steps.left?.output, { met: 'right' });
  assert.deepEqual(run.document.steps.right?.output, { met: 'left' });
});
