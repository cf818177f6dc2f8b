import assert from 'node:assert/strict';
import { test } from 'node:test';
import { stateTrail, stepTrail } from '../../helpers/engine-scenarios.ts';
import { documentOf, runOnce, runYaml, statesOf } from '../../helpers/engine.ts';
import { createTestDatabase } from '../../helpers/store.ts';

/**
 * foreach steps (µTask expandStep / contractStep): one child per item, the parent EXPANDED
 * while they run, then DONE with `children` in item order ({output, metadata.iterator,
 * state}, pruned children left out); foreach_strategy sequence; skip conditions on the
 * children or the parent; a loop retried as a whole (TO_RETRY) or child by child.
 */

const { store } = await createTestDatabase();

const FOREACH = `
name: foreach-loop
description: contains a step that iterates over a collection of inputs
inputs:
- name: list
  collection: true
steps:
  emptyLoop:
    foreach: "[]"
    action: {type: echo, configuration: {output: {foo: bar}}}
  generateItems:
    foreach: "{{toJson input.list}}"
    conditions:
    - type: skip
      if: [{value: "{{iterator}}", operator: EQ, expected: a}]
      then: {this: PRUNE}
    - type: check
      if: [{value: "{{iterator}}", operator: EQ, expected: b}]
      then: {bStep: B}
    action:
      type: echo
      configuration:
        output:
          foo: "foo-{{iterator}}"
          bar: "bar-{{iterator}}"
  concatItems:
    dependencies: [generateItems]
    foreach: "{{toJson step.generateItems.children}}"
    conditions:
    - type: check
      if: [{value: '{{ index step "this" "output" "concat" }}', operator: EQ, expected: foo-c-bar-c}]
      then: {this: PRUNE}
    action:
      type: echo
      configuration:
        output: {concat: "{{iterator.output.foo}}-{{iterator.output.bar}}"}
  bStep:
    dependencies: [generateItems]
    custom_states: [B]
    action: {type: echo, configuration: {output: {foo: 42}}}
  finalStep:
    dependencies: [concatItems]
    action: {type: echo, configuration: {output: {foo: bar}}}
`;

test('µTask foreach: skip prunes a child, a child`s check sets another step, pruned children are left out of children', async () => {
  const run = await runYaml(store, FOREACH, { input: { list: ['a', 'b', 'c'] } });
  assert.equal(run.document.resolution?.state, 'DONE');
  assert.deepEqual(statesOf(run.document), {
    emptyLoop: 'DONE',
    generateItems: 'DONE',
    concatItems: 'DONE',
    bStep: 'B',
    finalStep: 'DONE',
  });
  assert.deepEqual(run.document.steps.emptyLoop?.children, []);
  assert.deepEqual(run.document.steps.generateItems?.children, [
    { output: { foo: 'foo-b', bar: 'bar-b' }, metadata: { iterator: 'b' }, state: 'DONE' },
    { output: { foo: 'foo-c', bar: 'bar-c' }, metadata: { iterator: 'c' }, state: 'DONE' },
  ]);
  assert.deepEqual(run.document.steps.concatItems?.children, [
    {
      output: { concat: 'foo-b-bar-b' },
      metadata: {
        iterator: { output: { foo: 'foo-b', bar: 'bar-b' }, metadata: { iterator: 'b' }, state: 'DONE' },
      },
      state: 'DONE',
    },
  ]);
  assert.equal(run.document.steps.bStep?.try_count, 0, 'set to B by a child: it never runs');
  // Children are gone once collected.
  const { rows } = await store.query(
    `SELECT name FROM resolution_step WHERE resolution_id = $1 AND parent IS NOT NULL`,
    [run.resolutionId],
  );
  assert.deepEqual(rows, []);
});

test('µTask stepForeach: children`s check conditions set custom states, read back through children', async () => {
  const run = await runYaml(
    store,
    `
name: foreach-children-states
description: validate foreach child works as expected
steps:
  stepForeach:
    foreach: "[1,2,3,4]"
    custom_states: [FOO1, FOO2]
    conditions:
    - type: check
      if: [{value: '{{iterator}}', operator: EQ, expected: "1"}]
      then: {this: FOO1}
    - type: check
      if: [{value: '{{iterator}}', operator: EQ, expected: "2"}]
      then: {this: FOO2}
    - type: check
      if: [{value: '{{iterator}}', operator: EQ, expected: "3"}]
      then: {this: PRUNE}
    action: {type: echo, configuration: {output: {concat: "hello {{iterator}}"}}}
  stepForeachValidation:
    dependencies: [stepForeach]
    custom_states: [VALID]
    conditions:
    - type: check
      if:
      - {value: '{{ lookup (index step.stepForeach.children 0) "state" }}', operator: EQ, expected: "FOO1"}
      - {value: '{{ lookup (index step.stepForeach.children 1) "state" }}', operator: EQ, expected: "FOO2"}
      - {value: '{{ lookup (index step.stepForeach.children 2) "state" }}', operator: EQ, expected: "DONE"}
      then: {this: VALID}
    action: {type: echo, configuration: {output: {concat: "hello world"}}}
`,
  );
  assert.deepEqual(statesOf(run.document), { stepForeach: 'DONE', stepForeachValidation: 'VALID' });
  const children = run.document.steps.stepForeach?.children as { output: unknown; state: string }[];
  assert.deepEqual(
    children.map((child) => [child.output, child.state]),
    [
      [{ concat: 'hello 1' }, 'FOO1'],
      [{ concat: 'hello 2' }, 'FOO2'],
      [{ concat: 'hello 4' }, 'DONE'],
    ],
  );
});

test('children are collected in item order, whatever order they ended in (12 items: loop-10 after loop-9)', async () => {
  const items = Array.from({ length: 12 }, (_, index) => `item${index}`);
  const run = await runYaml(
    store,
    `
name: ordered-children
description: order of children
steps:
  loop:
    foreach: '${JSON.stringify(items)}'
    action: {type: echo, configuration: {output: '{{iterator}}', metadata: {n: '{{iterator}}'}}}
`,
  );
  const children = run.document.steps.loop?.children as {
    output: string;
    metadata: unknown;
    state: string;
  }[];
  assert.deepEqual(
    children.map((child) => child.output),
    items,
  );
  assert.deepEqual(children[10], {
    output: 'item10',
    metadata: { n: 'item10', iterator: 'item10' },
    state: 'DONE',
  });
});

test('foreach_strategy sequence: each child waits for the one before; a child in error stops the rest', async () => {
  const run = await runYaml(
    store,
    `
name: sequence
description: children one after the other
steps:
  before:
    action: {type: echo, configuration: {output: x}}
  generateItems:
    dependencies: [before]
    foreach: '["a","b","c","d","e"]'
    foreach_strategy: sequence
    conditions:
    - type: check
      if: [{value: "{{iterator}}", operator: EQ, expected: d}]
      then: {this: TO_RETRY}
      message: d is not ready
    action: {type: echo, configuration: {output: 'foo-{{iterator}}'}}
  after:
    dependencies: [generateItems]
    action: {type: echo, configuration: {output: x}}
`,
  );
  assert.equal(run.document.resolution?.state, 'ERROR');
  assert.deepEqual(statesOf(run.document), {
    before: 'DONE',
    generateItems: 'EXPANDED',
    after: 'TODO',
    'generateItems-0': 'DONE',
    'generateItems-1': 'DONE',
    'generateItems-2': 'DONE',
    'generateItems-3': 'TO_RETRY',
    'generateItems-4': 'TODO',
  });
  assert.equal(run.document.steps['generateItems-3']?.error, 'd is not ready');
  const { rows } = await store.query<{ name: string; extra_dependencies: string[] }>(
    `SELECT name, extra_dependencies FROM resolution_step WHERE resolution_id = $1 AND parent = 'generateItems'
      ORDER BY child_index`,
    [run.resolutionId],
  );
  assert.deepEqual(
    rows.map((row) => [row.name, row.extra_dependencies]),
    [
      ['generateItems-0', []],
      ['generateItems-1', ['generateItems-0']],
      ['generateItems-2', ['generateItems-1']],
      ['generateItems-3', ['generateItems-2']],
      ['generateItems-4', ['generateItems-3']],
    ],
  );
  // One at a time: each child starts only once the one before is committed DONE.
  const trail = (await stepTrail(store, run.taskId)).filter(
    (entry) => entry.startsWith('generateItems-') && !entry.endsWith(':TODO'),
  );
  assert.deepEqual(trail, [
    'generateItems-0:RUNNING',
    'generateItems-0:DONE',
    'generateItems-1:RUNNING',
    'generateItems-1:DONE',
    'generateItems-2:RUNNING',
    'generateItems-2:DONE',
    'generateItems-3:RUNNING',
    'generateItems-3:TO_RETRY',
  ]);
});

test('foreach_strategy parallel (the default): every child starts before any ends', async () => {
  const run = await runYaml(
    store,
    `
name: parallel
description: children at once
steps:
  loop:
    foreach: '["a","b","c"]'
    action: {type: echo, configuration: {output: '{{iterator}}'}}
`,
  );
  assert.equal(run.document.steps.loop?.state, 'DONE');
  const trail = (await stepTrail(store, run.taskId)).filter((entry) => entry.startsWith('loop-'));
  const firstEnd = trail.findIndex((entry) => entry.endsWith(':DONE'));
  assert.deepEqual(
    trail.slice(0, firstEnd).filter((entry) => entry.endsWith(':RUNNING')),
    ['loop-0:RUNNING', 'loop-1:RUNNING', 'loop-2:RUNNING'],
  );
});

const FOREACH_AND_PRERUN = `
name: foreach-and-pre-run
description: validating that foreach steps and skip conditions are working seamlessly
steps:
  stepForeachNoDep:
    foreach: '["1","2"]'
    action: {type: echo, configuration: {output: {url: 'https://example.org/delay/{{ iterator }}'}}}
  stepSkippedNoDep:
    action: {type: echo, configuration: {output: {url: 'https://example.org/delay/1'}}}
    conditions:
    - type: skip
      if: [{value: 'foo', operator: EQ, expected: 'foo'}]
      then: {this: DONE}
  stepNoDep:
    action: {type: echo, configuration: {output: {url: 'https://example.org/delay/1'}}}
  stepForeachWithDep:
    dependencies: [stepNoDep]
    foreach: '["1","2"]'
    action: {type: echo, configuration: {output: {url: 'https://example.org/delay/{{ iterator }}'}}}
  stepSkippedWithDep:
    dependencies: [stepNoDep]
    action: {type: echo, configuration: {output: {url: 'https://example.org/delay/1'}}}
    conditions:
    - type: skip
      if: [{value: 'foo', operator: EQ, expected: 'foo'}]
      then: {this: DONE}
  stepDep:
    dependencies: [stepNoDep]
    action: {type: echo, configuration: {output: {url: 'https://example.org/delay/1'}}}
    conditions:
    - type: skip
      if: [{value: 'foo', operator: EQ, expected: 'foo'}]
      then: {this: PRUNE}
  stepDep2:
    dependencies: [stepDep]
    action: {type: echo, configuration: {output: {url: 'https://example.org/delay/1'}}}
  stepForeachPrune:
    foreach: '["1","2"]'
    action: {type: echo, configuration: {output: {url: 'https://example.org/delay/{{ iterator }}'}}}
    conditions:
    - type: skip
      if: [{value: 'foo', operator: EQ, expected: 'foo'}]
      then: {this: PRUNE}
  stepDepOnForeachPrune:
    dependencies: [stepForeachPrune]
    action: {type: echo, configuration: {output: {ok: "ok"}}}
  stepForeachPruneParentTask:
    foreach: '["1","2"]'
    action: {type: echo, configuration: {output: {url: 'https://example.org/delay/{{ iterator }}'}}}
    conditions:
    - type: skip
      foreach: parent
      if: [{value: 'foo', operator: EQ, expected: 'foo'}]
      then: {this: PRUNE}
  stepDepOnForeachPruneParentTask:
    dependencies: [stepForeachPruneParentTask]
    action: {type: echo, configuration: {output: {ok: "ok"}}}
`;

test('µTask foreach and skip: a skip prunes the children by default (parent DONE), the parent with foreach: parent', async () => {
  const run = await runYaml(store, FOREACH_AND_PRERUN);
  assert.equal(run.document.resolution?.state, 'DONE');
  assert.deepEqual(statesOf(run.document), {
    stepForeachNoDep: 'DONE',
    stepSkippedNoDep: 'DONE',
    stepNoDep: 'DONE',
    stepForeachWithDep: 'DONE',
    stepSkippedWithDep: 'DONE',
    stepDep: 'PRUNE',
    stepDep2: 'PRUNE',
    // skip on the children: they are pruned, the loop itself is DONE, its dependents run
    stepForeachPrune: 'DONE',
    stepDepOnForeachPrune: 'DONE',
    // skip on the parent: no children, the loop and its dependents pruned
    stepForeachPruneParentTask: 'PRUNE',
    stepDepOnForeachPruneParentTask: 'PRUNE',
  });
  assert.deepEqual(run.document.steps.stepForeachPrune?.children, []);
  assert.equal(run.document.steps.stepForeachPruneParentTask?.children, null);
  assert.deepEqual(await stateTrail(store, run.taskId, 'stepForeachPruneParentTask'), ['PRUNE']);
});

test('µTask retry loop: a child setting its loop TO_RETRY discards the children; the next run expands it again', async () => {
  const run = await runYaml(
    store,
    `
name: retry-loop
description: a loop retried as a whole
steps:
  generateItems:
    foreach: '["a","b","c"]'
    action:
      type: echo
      configuration:
        output:
          foo: 'foo-{{iterator}}'
          bar: 'bar-{{iterator}}'
    conditions:
    - type: check
      if:
      - {value: '{{step.this.output.foo}}', operator: EQ, expected: foo-c}
      - {value: '{{empty step.generateItems.children}}', operator: EQ, expected: 'true'}
      then: {generateItems: TO_RETRY}
      message: once more
`,
  );
  assert.equal(run.document.resolution?.state, 'ERROR');
  assert.deepEqual(statesOf(run.document), { generateItems: 'TO_RETRY' });
  const { rows } = await store.query<{ children_steps: string[] | null }>(
    `SELECT children_steps FROM resolution_step WHERE resolution_id = $1 AND name = 'generateItems'`,
    [run.resolutionId],
  );
  assert.deepEqual(rows, [{ children_steps: null }]);

  assert.equal((await runOnce(store, run.resolutionId)).state, 'DONE');
  const document = await documentOf(store, run.taskId);
  assert.deepEqual(statesOf(document), { generateItems: 'DONE' });
  const children = document.steps.generateItems?.children as { output: unknown }[];
  assert.deepEqual(
    children.map((child) => child.output),
    [
      { foo: 'foo-a', bar: 'bar-a' },
      { foo: 'foo-b', bar: 'bar-b' },
      { foo: 'foo-c', bar: 'bar-c' },
    ],
  );
  assert.deepEqual(await stateTrail(store, run.taskId, 'generateItems'), [
    'EXPANDED',
    'TO_RETRY',
    'EXPANDED',
    'DONE',
  ]);
});

test('a child in error is retried alone by the next run; its siblings keep their results', async () => {
  const run = await runYaml(
    store,
    `
name: retry-one-child
description: only the failed child runs again
steps:
  loop:
    foreach: '["a","b","c"]'
    action:
      type: echo
      configuration:
        output: '{{#if step.this.output}}second{{else}}first{{/if}}-{{iterator}}'
    conditions:
    - type: check
      if:
      - {value: '{{step.this.output}}', operator: EQ, expected: first-b}
      then: {this: TO_RETRY}
`,
  );
  assert.equal(run.document.resolution?.state, 'ERROR');
  assert.deepEqual(statesOf(run.document), {
    loop: 'EXPANDED',
    'loop-0': 'DONE',
    'loop-1': 'TO_RETRY',
    'loop-2': 'DONE',
  });
  assert.equal((await runOnce(store, run.resolutionId)).state, 'DONE');
  const document = await documentOf(store, run.taskId);
  const children = document.steps.loop?.children as { output: unknown; state: string }[];
  assert.deepEqual(
    children.map((child) => [child.output, child.state]),
    [
      ['first-a', 'DONE'],
      ['second-b', 'DONE'],
      ['first-c', 'DONE'],
    ],
  );
  for (const [child, trail] of [
    ['loop-0', ['TODO', 'RUNNING', 'DONE']],
    ['loop-1', ['TODO', 'RUNNING', 'TO_RETRY', 'RUNNING', 'DONE']],
    ['loop-2', ['TODO', 'RUNNING', 'DONE']],
  ] as const) {
    assert.deepEqual(await stateTrail(store, run.taskId, child), trail, child);
  }
});

test('a child`s CLIENT_ERROR leaves the loop EXPANDED and the resolution BLOCKED_BADREQUEST', async () => {
  const run = await runYaml(
    store,
    `
name: child-client-error
description: one child fails
steps:
  loop:
    foreach: '["ok","bad","ok"]'
    action:
      type: echo
      configuration:
        output: '{{iterator}}'
    conditions:
    - type: check
      if: [{value: '{{iterator}}', operator: EQ, expected: bad}]
      then: {this: CLIENT_ERROR}
      message: bad item {{iterator}}
  after:
    dependencies: ['loop:ANY']
    action: {type: echo, configuration: {output: x}}
`,
  );
  assert.equal(run.document.resolution?.state, 'BLOCKED_BADREQUEST');
  assert.deepEqual(statesOf(run.document), {
    loop: 'EXPANDED',
    after: 'TODO',
    'loop-0': 'DONE',
    'loop-1': 'CLIENT_ERROR',
    'loop-2': 'DONE',
  });
  assert.equal(run.document.steps['loop-1']?.error, 'bad item bad');
});

test('a foreach that does not give a JSON list fails the loop FATAL_ERROR without children', async () => {
  const run = await runYaml(
    store,
    `
name: bad-foreach
description: foreach is not a list
inputs: [{name: json}]
steps:
  notAList:
    foreach: '{{input.json}}'
    action: {type: echo, configuration: {output: x}}
  notJson:
    foreach: '[1, 2'
    action: {type: echo, configuration: {output: x}}
`,
    { input: { json: '{"a": 1}' } },
  );
  assert.equal(run.document.resolution?.state, 'BLOCKED_FATAL');
  assert.deepEqual(statesOf(run.document), { notAList: 'FATAL_ERROR', notJson: 'FATAL_ERROR' });
  assert.match(run.document.steps.notAList?.error ?? '', /list/);
  assert.match(run.document.steps.notJson?.error ?? '', /JSON/);
});

test('RETRY_NOW on a child runs that child again at once, within the run', async () => {
  const run = await runYaml(
    store,
    `
name: child-retry-now
description: a child loops
steps:
  loop:
    foreach: '["a","b"]'
    action:
      type: echo
      configuration:
        output: {count: '{{add1 (default 0 step.this.output.count)}}', item: '{{iterator}}'}
    conditions:
    - type: check
      if:
      - {value: '{{iterator}}', operator: EQ, expected: b}
      - {value: '{{step.this.output.count}}', operator: LT, expected: '3'}
      then: {this: RETRY_NOW}
`,
  );
  assert.equal(run.document.resolution?.state, 'DONE');
  assert.equal(run.document.resolution?.run_count, 1);
  const children = run.document.steps.loop?.children as { output: unknown }[];
  assert.deepEqual(
    children.map((child) => child.output),
    [
      { count: '1', item: 'a' },
      { count: '3', item: 'b' },
    ],
  );
  assert.deepEqual(await stateTrail(store, run.taskId, 'loop-1'), [
    'TODO',
    'RUNNING',
    'RETRY_NOW',
    'RUNNING',
    'RETRY_NOW',
    'RUNNING',
    'DONE',
  ]);
});

test('a child`s output and metadata, its iterator and its pre_hook: each child renders with its own item', async () => {
  const run = await runYaml(
    store,
    `
name: child-values
description: iterator in every place
steps:
  loop:
    foreach: '[{"n": 1}, {"n": 2}]'
    pre_hook:
      type: echo
      configuration: {output: {double: '{{mul iterator.n 2}}'}}
    action:
      type: echo
      configuration:
        output: {n: '{{iterator.n}}', double: '{{pre_hook.output.double}}'}
        metadata: {child: '{{iterator.n}}'}
      output:
        strategy: merge
        format: {from_format: 'n={{iterator.n}}'}
`,
  );
  assert.deepEqual(run.document.steps.loop?.children, [
    {
      output: { n: '1', double: '2', from_format: 'n=1' },
      metadata: { child: '1', iterator: { n: 1 } },
      state: 'DONE',
    },
    {
      output: { n: '2', double: '4', from_format: 'n=2' },
      metadata: { child: '2', iterator: { n: 2 } },
      state: 'DONE',
    },
  ]);
});
