import assert from 'node:assert/strict';
import { test } from 'node:test';
import { stateTrail } from '../../helpers/engine-scenarios.ts';
import { runOnce, runYaml, statesOf } from '../../helpers/engine.ts';
import { createTestDatabase } from '../../helpers/store.ts';

/**
 * Skip and check conditions (µTask engine/step PreRun, AfterRun and condition.Assert.Eval),
 * through the engine: each operator met and not met on rendered values, list_separator,
 * `then` on this step and on others, `final`, the states after which check conditions run,
 * and assertions that cannot be evaluated.
 */

const { store } = await createTestDatabase();

interface OperatorCase {
  operator: string;
  met: { value: string; expected: string; list_separator?: string };
  notMet: { value: string; expected: string; list_separator?: string };
}

/**
 * Each case's values go through rendering (the step's own output), as they do in
 * templates; `expected` is literal. GT/LT/GE/LE compare numbers, not text ("10" > "9").
 */
const CASES: OperatorCase[] = [
  { operator: 'EQ', met: { value: 'abc', expected: 'abc' }, notMet: { value: 'abc', expected: 'abd' } },
  { operator: 'NE', met: { value: 'abc', expected: 'abd' }, notMet: { value: 'abc', expected: 'abc' } },
  { operator: 'GT', met: { value: '10', expected: '9' }, notMet: { value: '9', expected: '9' } },
  { operator: 'LT', met: { value: '9', expected: '10' }, notMet: { value: '10', expected: '10' } },
  { operator: 'GE', met: { value: '10', expected: '10' }, notMet: { value: '9', expected: '10' } },
  { operator: 'LE', met: { value: '-3', expected: '2' }, notMet: { value: '3', expected: '2' } },
  {
    operator: 'REGEXP',
    met: { value: 'john.doe@example.com', expected: '[a-z\\.]+@example\\.com$' },
    notMet: { value: 'foobar', expected: '[a-z\\.]+@example\\.com$' },
  },
  {
    operator: 'NOTREGEXP',
    met: { value: 'foobar', expected: '[a-z\\.]+@example\\.com$' },
    notMet: { value: 'john.doe@example.com', expected: '[a-z\\.]+@example\\.com$' },
  },
  // IN and NOTIN: `value` is the list (split, each item trimmed), `expected` the item.
  {
    operator: 'IN',
    met: { value: 'foo, bar ', expected: 'bar' },
    notMet: { value: 'foo,bar', expected: 'baz' },
  },
  {
    operator: 'NOTIN',
    met: { value: 'foo,bar', expected: 'baz' },
    notMet: { value: 'foo, bar', expected: 'bar' },
  },
  {
    operator: 'IN',
    met: { value: 'a | b|c', expected: 'b', list_separator: '|' },
    notMet: { value: 'a|b|c', expected: 'b', list_separator: ';' },
  },
  {
    operator: 'NOTIN',
    met: { value: 'a;b', expected: 'a', list_separator: '|' },
    notMet: { value: 'a ; b', expected: 'a', list_separator: ';' },
  },
];

function operatorTemplate({ operator, met, notMet }: OperatorCase): string {
  const step = (side: OperatorCase['met']): string => `
    custom_states: [MATCHED]
    action: {type: echo, configuration: {output: {v: ${JSON.stringify(side.value)}}}}
    conditions:
    - type: check
      if:
      - value: '{{step.this.output.v}}'
        operator: ${operator}
        expected: ${JSON.stringify(side.expected)}${side.list_separator ? `\n        list_separator: ${JSON.stringify(side.list_separator)}` : ''}
      then: {this: MATCHED}
      message: ${operator} held`;
  return `
name: operator-${operator.toLowerCase()}
description: one operator, met and not met
steps:
  met:${step(met)}
  notMet:${step(notMet)}
`;
}

for (const operatorCase of CASES) {
  const separator = operatorCase.met.list_separator
    ? ` (list_separator ${operatorCase.met.list_separator})`
    : '';
  test(`${operatorCase.operator}${separator}: met sets the condition's state, not met leaves the step DONE`, async () => {
    const run = await runYaml(store, operatorTemplate(operatorCase));
    assert.deepEqual(statesOf(run.document), { met: 'MATCHED', notMet: 'DONE' });
    assert.equal(run.document.steps.met?.error, `${operatorCase.operator} held`);
    assert.equal(run.document.steps.notMet?.error, null);
    assert.equal(run.document.resolution?.state, 'DONE');
  });
}

test('operators are case-insensitive (regexp, notIn) and work in skip conditions too', async () => {
  const run = await runYaml(
    store,
    `
name: lower-case-operators
description: operators in any case
inputs: [{name: email}]
steps:
  regexpSkip:
    action: {type: echo, configuration: {output: ran}}
    conditions:
    - type: skip
      if: [{value: '{{input.email}}', operator: regexp, expected: '@example\\.com$'}]
      then: {this: PRUNE}
  notInSkip:
    action: {type: echo, configuration: {output: ran}}
    conditions:
    - type: skip
      if: [{value: 'a,b', operator: notIn, expected: '{{input.email}}'}]
      then: {this: DONE}
      message: not in the list
  geSkip:
    action: {type: echo, configuration: {output: ran}}
    conditions:
    - type: skip
      if: [{value: '{{len input.email}}', operator: ge, expected: '100'}]
      then: {this: PRUNE}
`,
    { input: { email: 'john@example.com' } },
  );
  assert.deepEqual(statesOf(run.document), { regexpSkip: 'PRUNE', notInSkip: 'DONE', geSkip: 'DONE' });
  assert.equal(run.document.steps.notInSkip?.error, 'not in the list');
  assert.equal(run.document.steps.notInSkip?.output, null, 'skipped: the action never ran');
  assert.equal(run.document.steps.geSkip?.output, 'ran');
});

test('every assertion of an `if` must hold (AND); an empty `if` always holds', async () => {
  const run = await runYaml(
    store,
    `
name: and-of-assertions
description: assertions are ANDed
steps:
  both:
    custom_states: [BOTH]
    action: {type: echo, configuration: {output: {a: '1', b: '2'}}}
    conditions:
    - type: check
      if:
      - {value: '{{step.this.output.a}}', operator: EQ, expected: '1'}
      - {value: '{{step.this.output.b}}', operator: EQ, expected: '2'}
      then: {this: BOTH}
  onlyOne:
    custom_states: [BOTH]
    action: {type: echo, configuration: {output: {a: '1', b: '3'}}}
    conditions:
    - type: check
      if:
      - {value: '{{step.this.output.a}}', operator: EQ, expected: '1'}
      - {value: '{{step.this.output.b}}', operator: EQ, expected: '2'}
      then: {this: BOTH}
  always:
    custom_states: [ALWAYS]
    action: {type: echo, configuration: {output: x}}
    conditions:
    - type: check
      then: {this: ALWAYS}
`,
  );
  assert.deepEqual(statesOf(run.document), { both: 'BOTH', onlyOne: 'DONE', always: 'ALWAYS' });
});

const STEP_CONDITION = `
name: step-condition
description: Step condition should be able to set the state to TO_RETRY
steps:
  stepOne:
    action: {type: echo, configuration: {output: {foo: bar}}}
    conditions:
    - type: check
      if: [{value: "{{step.stepOne.output.foo}}", operator: EQ, expected: bar}]
      then: {this: PRUNE}
      message: First condition evals to true and is applied
    - type: check
      if: [{value: "{{step.stepOne.output.foo}}", operator: NE, expected: grault}]
      then: {this: TO_RETRY}
      message: Second condition is also true, overrides the impact of the first
  stepOneFinal:
    action: {type: echo, configuration: {output: {foo: bar}}}
    conditions:
    - type: check
      if: [{value: "{{step.stepOneFinal.output.foo}}", operator: EQ, expected: bar}]
      then: {this: PRUNE}
      final: true
      message: First condition evals to true and is applied
    - type: check
      if: [{value: "{{step.stepOneFinal.output.foo}}", operator: NE, expected: grault}]
      then: {this: TO_RETRY}
      message: Second condition is not run since the first one is final
  stepTwo:
    custom_states: [REGEXP_MATCH]
    action: {type: echo, configuration: {output: {email: "john.doe@example.com"}}}
    conditions:
    - type: check
      if: [{value: "{{step.this.output.email}}", operator: regexp, expected: '[a-z\\.]+@example\\.com$'}]
      then: {this: REGEXP_MATCH}
      message: email address belongs to example.com
  stepTwoBis:
    custom_states: [NOTREGEXP_MATCH]
    action: {type: echo, configuration: {output: {email: "foobar"}}}
    conditions:
    - type: check
      if: [{value: "{{step.this.output.email}}", operator: NOTREGEXP, expected: '[a-z\\.]+@example\\.com$'}]
      then: {this: NOTREGEXP_MATCH}
      message: provided input doesn't match an email address from example.com
  stepThree:
    dependencies: [stepTwo:ANY, stepTwoBis:ANY]
    custom_states: [FOO, BAR, FUZZ]
    action: {type: echo, configuration: {output: {foo: bar}}}
    conditions:
    - type: check
      if: [{value: "{{step.this.output.foo}}", operator: EQ, expected: barrrr}]
      then: {this: CLIENT_ERROR}
      message: should not have matched
    - type: check
      if:
      - {value: "{{step.this.output.foo}}", operator: EQ, expected: bar}
      - {value: "{{step.this.state}}", operator: EQ, expected: DONE}
      then: {this: BAR}
      message: matching is correct
    - type: check
      if: [{value: "{{step.this.state}}", operator: EQ, expected: BAR}]
      then: {this: FOO}
      message: changed state matched correctly
  stepFour:
    dependencies: ["stepThree:DONE,FOO"]
    custom_states: [OK]
    action: {type: echo, configuration: {output: {foo: bar}}}
    conditions:
    - type: check
      if: [{value: "{{step.stepThree.state}}", operator: EQ, expected: FOO}]
      then: {this: OK}
      message: OK
  stepFive:
    dependencies: ["stepThree:DONE,BAR,FUZZ"]
    custom_states: [OK]
    action: {type: echo, configuration: {output: {foo: bar}}}
  stepSix:
    dependencies: [stepThree:ANY]
    custom_states: [LIST_MATCH, LIST_NOMATCH]
    action: {type: echo, configuration: {output: {items: 'foo,bar'}}}
    conditions:
    - type: check
      if: [{expected: foo, operator: IN, value: '{{step.this.output.items}}', list_separator: ","}]
      then: {this: LIST_MATCH}
      message: List contains matching value
    - type: check
      if:
      - {expected: '{{step.this.state}}', operator: EQ, value: 'LIST_MATCH'}
      - {expected: baz, operator: NOTIN, value: '{{step.this.output.items}}', list_separator: ","}
      then: {this: LIST_NOMATCH}
      message: List doesn't contains matching value
  stepSkip:
    action: {type: echo, configuration: {output: {foo: bar}}}
    conditions:
    - type: skip
      if: [{value: 1, operator: EQ, expected: 1}]
      then: {this: PRUNE}
      message: First condition evals to true and is applied
    - type: skip
      if: [{value: 1, operator: NE, expected: 2}]
      then: {this: CLIENT_ERROR}
      message: Second condition is also true, overrides the impact of the first
  stepSkipFinal:
    action: {type: echo, configuration: {output: {foo: bar}}}
    conditions:
    - type: skip
      if: [{value: 1, operator: EQ, expected: 1}]
      then: {this: PRUNE}
      final: true
      message: First condition evals to true and is applied
    - type: skip
      if: [{value: 1, operator: NE, expected: 2}]
      then: {this: CLIENT_ERROR}
      message: Second condition is not run since the first one is final
`;

test('µTask step conditions: every condition that holds applies, in order, unless one is final', async () => {
  const run = await runYaml(store, STEP_CONDITION);
  assert.equal(run.document.resolution?.state, 'BLOCKED_BADREQUEST');
  assert.equal(run.document.state, 'BLOCKED');
  assert.deepEqual(statesOf(run.document), {
    stepOne: 'TO_RETRY',
    stepOneFinal: 'PRUNE',
    stepTwo: 'REGEXP_MATCH',
    stepTwoBis: 'NOTREGEXP_MATCH',
    stepThree: 'FOO',
    stepFour: 'OK',
    stepFive: 'PRUNE',
    stepSix: 'LIST_NOMATCH',
    stepSkip: 'CLIENT_ERROR',
    stepSkipFinal: 'PRUNE',
  });
  assert.equal(run.document.steps.stepOne?.try_count, 1);
  assert.equal(run.document.steps.stepOneFinal?.try_count, 1);
  assert.equal(run.document.steps.stepThree?.error, 'changed state matched correctly');
  assert.equal(run.document.steps.stepFour?.error, 'OK');
  assert.equal(
    run.document.steps.stepSkip?.error,
    'Second condition is also true, overrides the impact of the first',
  );
  assert.equal(run.document.steps.stepSkip?.try_count, 0);

  // A second run retries what is retriable (stepOne) and leaves final steps alone.
  const again = await runOnce(store, run.resolutionId);
  assert.equal(again.state, 'BLOCKED_BADREQUEST');
  const { rows } = await store.query<{ name: string; state: string; try_count: number }>(
    `SELECT name, state, try_count FROM resolution_step WHERE resolution_id = $1 AND name LIKE 'stepOne%' ORDER BY name`,
    [run.resolutionId],
  );
  assert.deepEqual(rows, [
    { name: 'stepOne', state: 'TO_RETRY', try_count: 2 },
    { name: 'stepOneFinal', state: 'PRUNE', try_count: 1 },
  ]);
});

test('a check condition sets the state of another step of its chain: set DONE, that step never runs', async () => {
  const run = await runYaml(
    store,
    `
name: then-other-step
description: a condition decides for a later step
steps:
  first:
    action: {type: echo, configuration: {output: {ready: 'yes'}}}
    conditions:
    - type: check
      if: [{value: '{{step.this.output.ready}}', operator: EQ, expected: 'yes'}]
      then: {third: DONE}
      message: already provisioned
  second:
    dependencies: [first]
    action: {type: echo, configuration: {output: second}}
  third:
    dependencies: [second]
    action: {type: echo, configuration: {output: third}}
  fourth:
    dependencies: [third]
    action: {type: echo, configuration: {output: '{{step.third.error}}'}}
`,
  );
  assert.deepEqual(statesOf(run.document), { first: 'DONE', second: 'DONE', third: 'DONE', fourth: 'DONE' });
  assert.equal(run.document.steps.third?.try_count, 0);
  assert.equal(run.document.steps.third?.output, null);
  assert.equal(run.document.steps.third?.error, 'already provisioned');
  assert.equal(run.document.steps.fourth?.output, 'already provisioned');
  assert.deepEqual(await stateTrail(store, run.taskId, 'third'), ['DONE']);
});

test('a skip condition sets this step and a later one: both are decided before anything runs', async () => {
  const run = await runYaml(
    store,
    `
name: skip-then-others
description: skip two steps
inputs: [{name: mode}]
steps:
  gate:
    action: {type: echo, configuration: {output: gate}}
    conditions:
    - type: skip
      if: [{value: '{{input.mode}}', operator: EQ, expected: readonly}]
      then: {this: DONE, write: PRUNE}
      message: read-only mode
  write:
    dependencies: [gate]
    action: {type: echo, configuration: {output: wrote}}
  audit:
    dependencies: [write]
    action: {type: echo, configuration: {output: audited}}
  report:
    dependencies: ['write:ANY']
    action: {type: echo, configuration: {output: '{{step.write.state}}'}}
`,
    { input: { mode: 'readonly' } },
  );
  assert.deepEqual(statesOf(run.document), { gate: 'DONE', write: 'PRUNE', audit: 'PRUNE', report: 'DONE' });
  assert.equal(run.document.steps.gate?.output, null);
  assert.equal(run.document.steps.write?.error, 'read-only mode');
  assert.equal(run.document.steps.report?.output, 'PRUNE');
});

test('check conditions run after DONE and CLIENT_ERROR, never after SERVER_ERROR or FATAL_ERROR', async () => {
  const run = await runYaml(
    store,
    `
name: after-run-states
description: validAfterRunStates
steps:
  notfound:
    custom_states: [NOTFOUND]
    action:
      type: echo
      configuration: {metadata: {HTTPStatus: 404}, error_type: client, error_message: object not found}
    conditions:
    - type: check
      if: [{value: '{{step.this.metadata.HTTPStatus}}', operator: EQ, expected: 404}]
      then: {this: NOTFOUND}
  server:
    custom_states: [CHECKED]
    action: {type: echo, configuration: {error_type: server, error_message: down}}
    conditions:
    - type: check
      then: {this: CHECKED}
  fatal:
    custom_states: [CHECKED]
    action: {type: echo, configuration: {error_type: fatal, error_message: gone}}
    conditions:
    - type: check
      then: {this: CHECKED}
`,
  );
  assert.deepEqual(statesOf(run.document), {
    notfound: 'NOTFOUND',
    server: 'SERVER_ERROR',
    fatal: 'FATAL_ERROR',
  });
  assert.equal(run.document.steps.server?.error, 'down');
  assert.equal(run.document.steps.fatal?.error, 'gone');
  assert.deepEqual(run.document.steps.notfound?.metadata, { HTTPStatus: 404 });
});

test('a skip assertion that cannot be evaluated (GT on a word) puts the step in SERVER_ERROR, not run', async () => {
  const run = await runYaml(
    store,
    `
name: skip-unevaluable
description: GT on a word
inputs: [{name: word}]
steps:
  compare:
    action: {type: echo, configuration: {output: ran}}
    conditions:
    - type: skip
      if: [{value: '{{input.word}}', operator: GT, expected: '1'}]
      then: {this: PRUNE}
  after:
    dependencies: [compare]
    action: {type: echo, configuration: {output: ran}}
`,
    { input: { word: 'abc' } },
  );
  assert.deepEqual(statesOf(run.document), { compare: 'SERVER_ERROR', after: 'TODO' });
  assert.match(run.document.steps.compare?.error ?? '', /"abc"/);
  assert.equal(run.document.steps.compare?.try_count, 0);
  assert.equal(run.document.steps.compare?.output, null);
  assert.equal(run.document.resolution?.state, 'ERROR');
  assert.notEqual(run.document.resolution?.next_retry, null);
});

test('a skip assertion whose template fails puts the step in SERVER_ERROR with the rendering error', async () => {
  const run = await runYaml(
    store,
    `
name: skip-render-error
description: a failing helper in a skip condition
steps:
  compare:
    action: {type: echo, configuration: {output: ran}}
    conditions:
    - type: skip
      if: [{value: '{{index step.compare.output.list 3}}', operator: EQ, expected: x}]
      then: {this: PRUNE}
`,
  );
  assert.equal(run.document.steps.compare?.state, 'SERVER_ERROR');
  assert.match(run.document.steps.compare?.error ?? '', /index/);
  assert.equal(run.document.steps.compare?.try_count, 0);
});

test('a check assertion that cannot be evaluated puts the step in AFTERRUN_ERROR; the next run re-checks without re-running', async () => {
  const run = await runYaml(
    store,
    `
name: check-unevaluable
description: LE on a word
steps:
  compare:
    custom_states: [SMALL]
    action: {type: echo, configuration: {output: {size: big}}}
    conditions:
    - type: check
      if: [{value: '{{step.this.output.size}}', operator: LE, expected: '10'}]
      then: {this: SMALL}
  after:
    dependencies: ['compare:ANY']
    action: {type: echo, configuration: {output: ran}}
`,
  );
  assert.deepEqual(statesOf(run.document), { compare: 'AFTERRUN_ERROR', after: 'TODO' });
  assert.match(run.document.steps.compare?.error ?? '', /"big"/);
  assert.equal(run.document.steps.compare?.try_count, 1);
  assert.deepEqual(run.document.steps.compare?.output, { size: 'big' });
  assert.equal(run.document.resolution?.state, 'ERROR');
  assert.equal(run.document.state, 'RUNNING');

  const again = await runOnce(store, run.resolutionId);
  assert.equal(again.state, 'ERROR');
  const { rows } = await store.query<{ state: string; try_count: number; executions: number }>(
    `SELECT state, try_count, executions FROM resolution_step WHERE resolution_id = $1 AND name = 'compare'`,
    [run.resolutionId],
  );
  assert.deepEqual(rows, [{ state: 'AFTERRUN_ERROR', try_count: 1, executions: 1 }]);
  assert.deepEqual(await stateTrail(store, run.taskId, 'compare'), ['RUNNING', 'AFTERRUN_ERROR']);
});
