import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { engineServices } from '../../../src/engine/engine.ts';
import { runResolutionOnce } from '../../../src/engine/resolver.ts';
import { isAlive, tempDir, waitInDir } from '../../helpers/plugin-fixtures.ts';
import { startedPids } from '../../helpers/processes.ts';
import { createTestDatabase } from '../../helpers/store.ts';
import {
  createFromYaml,
  documentOf,
  registerFixture,
  runOnce,
  runYaml,
  statesOf,
  taskEvents,
} from '../../helpers/engine.ts';

const { store } = await createTestDatabase();

test('a chain of echo steps ends DONE, its result rendered from result_format and its title from title_format', async () => {
  const run = await runYaml(
    store,
    `
name: chain
description: two steps
title_format: 'chain for {{input.who}}'
inputs: [{name: who}]
result_format: {greeting: '{{step.second.output.text}}'}
steps:
  first:
    action: {type: echo, configuration: {output: {text: 'hello {{input.who}}'}}}
  second:
    dependencies: [first]
    action: {type: echo, configuration: {output: {text: '{{step.first.output.text}}!'}}}
`,
    { input: { who: 'bob' } },
  );
  assert.equal(run.outcomes[0]?.state, 'DONE');
  assert.equal(run.document.state, 'DONE');
  assert.equal(run.document.title, 'chain for bob');
  assert.deepEqual(run.document.result, { greeting: 'hello bob!' });
  assert.deepEqual(statesOf(run.document), { first: 'DONE', second: 'DONE' });
  assert.equal(run.document.steps.second?.try_count, 1);
});

test('a plugin step: its configuration is the data, its payload the output, its lines join the task log in seq order', async () => {
  await registerFixture(store, 'echo-data', 'echo-data.sh');
  const run = await runYaml(
    store,
    `
name: plugin-step
description: a plugin as an action
steps:
  left:
    action: {type: echo-data, configuration: {side: left}}
  right:
    action: {type: echo-data, configuration: {side: right}}
`,
  );
  assert.equal(run.document.state, 'DONE');
  assert.deepEqual(run.document.steps.left?.output, { side: 'left' });
  const events = await taskEvents(store, run.taskId);
  assert.deepEqual(
    events.map((event) => event.seq),
    events.map((_, index) => index + 1),
  );
  const lines = events.filter((event) => event.type === 'log');
  // Each run prints "echo-data: started", then its result line.
  assert.deepEqual(lines.map((event) => event.step).sort(), ['left', 'left', 'right', 'right']);
  assert.ok(lines.some((event) => event.step === 'left' && event.line === 'echo-data: started'));
  for (const step of ['left', 'right']) {
    const ofStep = events
      .filter((event) => event.step === step)
      .map((event) => event.type + ':' + (event.state ?? ''));
    assert.deepEqual(ofStep, ['step:RUNNING', 'log:', 'log:', 'step:DONE']);
  }
  const { rows } = await store.query(
    `SELECT step_name, attempt, state FROM run WHERE resolution_id = $1 ORDER BY step_name`,
    [run.resolutionId],
  );
  assert.deepEqual(rows, [
    { step_name: 'left', attempt: 1, state: 'DONE' },
    { step_name: 'right', attempt: 1, state: 'DONE' },
  ]);
  // The same attempt of a step can never be stored twice.
  await assert.rejects(
    store.query(
      `INSERT INTO run (id, plugin_name, origin, state, task_id, step_name, attempt, resolution_id)
       VALUES (gen_random_uuid(), 'echo-data', 'task', 'RUNNING', $1, 'left', 1, $2)`,
      [run.taskId, run.resolutionId],
    ),
    /duplicate key/,
  );
});

test('a server error leaves the resolution in ERROR with next_retry set; the next run tries again, counting tries', async () => {
  const run = await runYaml(
    store,
    `
name: flaky
description: fails on its first try
steps:
  flaky:
    action:
      type: echo
      configuration:
        output: {}
        error_message: 'down'
        error_type: server
`,
    { runs: 2 },
  );
  assert.equal(run.outcomes[0]?.state, 'ERROR');
  assert.ok(run.outcomes[0]?.nextRetry instanceof Date);
  assert.equal(run.document.steps.flaky?.state, 'SERVER_ERROR');
  assert.equal(run.document.steps.flaky?.try_count, 2);
  assert.equal(run.document.resolution?.run_count, 2);
  assert.equal(run.document.state, 'RUNNING');
  const again = await runOnce(store, run.resolutionId);
  assert.equal(again.state, 'ERROR');
});

test('a plugin step gets the numbers and booleans its inputs declare, though templates render text; other text is refused', async () => {
  await registerFixture(store, 'typed-inputs', 'typed-inputs.sh');
  const template = (count: string) => `
name: typed
description: rendered values converted to the plugin's types
inputs: [{name: amount, type: number}]
steps:
  typed:
    action:
      type: typed-inputs
      configuration: {amount: '{{input.amount}}', count: '${count}', flag: 'true', label: '42'}
`;
  const run = await runYaml(store, template('3'), { input: { amount: 120.5 } });
  assert.deepEqual(run.document.steps.typed?.output, { amount: 120.5, count: 3, flag: true, label: '42' });
  const refused = await runYaml(store, template('three'), { input: { amount: 1 } });
  assert.equal(refused.document.steps.typed?.state, 'CLIENT_ERROR');
  assert.match(refused.document.steps.typed?.error ?? '', /count must be integer/);
});

test('a check condition message is rendered with the step values when it applies', async () => {
  const run = await runYaml(
    store,
    `
name: message
description: a rendered condition message
steps:
  score:
    custom_states: [HIGH]
    action: {type: echo, configuration: {output: {score: 97}}}
    conditions:
      - type: check
        if: [{value: '{{step.this.output.score}}', operator: GT, expected: '90'}]
        then: {this: HIGH}
        message: 'score {{step.this.output.score}} is high'
`,
  );
  assert.equal(run.document.steps.score?.state, 'HIGH');
  assert.equal(run.document.steps.score?.error, 'score 97 is high');
});

test('the task log: two steps writing at once, every state change and every line in one gap-free seq order', async (t) => {
  await registerFixture(store, 'chatty-rendezvous', 'chatty-rendezvous.sh');
  const dir = tempDir(t);
  const run = await runYaml(
    store,
    `
name: chatty
description: two steps writing at once
steps:
  left:
    action: {type: chatty-rendezvous, configuration: {dir: '${dir}', mine: left, other: right, lines: 200}}
  right:
    action: {type: chatty-rendezvous, configuration: {dir: '${dir}', mine: right, other: left, lines: 200}}
  joined:
    dependencies: [left, right]
    action: {type: echo, configuration: {output: {}}}
`,
  );
  assert.equal(run.document.state, 'DONE');
  const events = await taskEvents(store, run.taskId);
  assert.deepEqual(
    events.map((event) => event.seq),
    events.map((_, index) => index + 1),
    'seq is strictly increasing, without gaps',
  );
  const at = (step: string, state: string) =>
    events.find((event) => event.type === 'step' && event.step === step && event.state === state)?.seq ?? -1;
  // Both were running at once: each started before the other ended.
  assert.ok(at('left', 'RUNNING') < at('right', 'DONE') && at('right', 'RUNNING') < at('left', 'DONE'));
  for (const step of ['left', 'right']) {
    const lines = events.filter((event) => event.type === 'log' && event.step === step);
    const expected = [
      ...Array.from({ length: 200 }, (_, index) => `${step} before ${index + 1}`),
      ...Array.from({ length: 200 }, (_, index) => `${step} after ${index + 1}`),
      '{"status": 1, "reason": "ok", "payload": {}}',
    ];
    assert.deepEqual(
      lines.map((event) => event.line).sort(),
      [...expected].sort(),
      `every line of ${step} is in the log`,
    );
    const stdout = lines.filter((event) => event.stream === 'stdout').map((event) => event.line);
    assert.deepEqual(stdout.slice(0, 200), expected.slice(0, 200), `${step}'s stdout lines keep their order`);
    assert.ok(lines.every((event) => event.seq > at(step, 'RUNNING') && event.seq < at(step, 'DONE')));
  }
  assert.ok(at('joined', 'RUNNING') > Math.max(at('left', 'DONE'), at('right', 'DONE')));
  assert.equal(events.at(-1)?.type, 'task');
  assert.equal(events.at(-1)?.state, 'DONE');
});

test('a chain of echo steps: the claim, then a transaction a step end, the last one with the settle', async () => {
  const run = await runYaml(
    store,
    `
name: three-echoes
description: three echo steps in a row
steps:
  first:
    action: {type: echo, configuration: {output: {n: 1}}}
  second:
    dependencies: [first]
    action: {type: echo, configuration: {output: {n: 2}}}
  third:
    dependencies: [second]
    action: {type: echo, configuration: {output: {n: 3}}}
`,
  );
  assert.equal(run.document.state, 'DONE');
  // Which transaction wrote each event (a row's xmin): events of one transaction are one group.
  const { rows } = await store.query<{
    xmin: string;
    type: string;
    step: string | null;
    state: string | null;
  }>('SELECT xmin::text AS xmin, type, step, state FROM event WHERE stream_id = $1 ORDER BY seq', [
    run.taskId,
  ]);
  const groups: string[][] = [];
  let last: string | null = null;
  for (const row of rows) {
    if (row.xmin !== last) groups.push([]);
    last = row.xmin;
    groups.at(-1)?.push(`${row.step ?? 'task'} ${row.state}`);
  }
  assert.deepEqual(groups.slice(1), [
    ['task RUNNING'],
    ['first RUNNING', 'first DONE', 'second RUNNING'],
    ['second DONE', 'third RUNNING'],
    ['third DONE', 'task DONE'],
  ]);
  // The settle (the resolution's and the task's end) is the last step's transaction.
  const ends = await store.query<{ resolution: string; task: string }>(
    `SELECT r.xmin::text AS resolution, t.xmin::text AS task FROM resolution r JOIN task t ON t.id = r.task_id
      WHERE r.id = $1`,
    [run.resolutionId],
  );
  assert.deepEqual(ends.rows[0], { resolution: last, task: last });
});

test("the process's signal: a resolution run leaves no listener on it, and aborting it stops the step under way", async (t) => {
  await registerFixture(store, 'mark-and-hang', 'mark-and-hang.sh');
  const shutdown = new AbortController();
  const services = engineServices({
    store,
    scriptsDir: path.join(os.tmpdir(), 'no-scripts'),
    signal: shutdown.signal,
  });
  const listeners = (): number => getEventListeners(shutdown.signal, 'abort').length;
  // A server's signal lives as long as the server: a listener left by each run would keep
  // its resolution alive, and thousands of them pile up.
  for (let index = 0; index < 3; index += 1) {
    const { resolutionId } = await createFromYaml(
      store,
      `
name: quick
description: one echo step
steps:
  only:
    action: {type: echo, configuration: {output: {n: ${index}}}}
`,
    );
    assert.equal((await runResolutionOnce(services, resolutionId)).state, 'DONE');
    assert.equal(listeners(), 0, `a listener left after run ${index + 1}`);
  }

  const marks = tempDir(t);
  const hanging = await createFromYaml(
    store,
    `
name: hanging
description: a step that waits
steps:
  waits:
    action: {type: mark-and-hang, configuration: {dir: '${marks}'}}
`,
  );
  const outcome = runResolutionOnce(services, hanging.resolutionId);
  const [plugin] = await waitInDir(
    marks,
    () => (startedPids(marks).length > 0 ? startedPids(marks) : undefined),
    {
      describe: () => 'the plugin never started',
    },
  );
  assert.equal(listeners(), 1, 'the running resolution listens to the signal');
  shutdown.abort('shutting down');
  assert.equal((await outcome).state, 'CRASHED');
  assert.equal(listeners(), 0);
  assert.equal(isAlive(plugin as number), false, 'the plugin outlived the stopped step');
  assert.equal((await documentOf(store, hanging.taskId)).steps.waits?.state, 'SERVER_ERROR');
});
