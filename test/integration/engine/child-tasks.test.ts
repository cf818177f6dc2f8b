import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cancelTask, resolveCallback } from '../../../src/engine/engine.ts';
import { createTestDatabase } from '../../helpers/store.ts';
import { documentOf, runOnce, runYaml, statesOf } from '../../helpers/engine.ts';

const { store } = await createTestDatabase();

const CHILD = `
name: child
description: a child task
inputs: [{name: who}]
result_format: {said: '{{step.say.output.text}}'}
steps:
  say:
    action: {type: echo, configuration: {output: {text: 'hi {{input.who}}'}}}
`;

const FAILING_CHILD = `
name: failing-child
description: a child task that ends FATAL_ERROR
steps:
  boom:
    action: {type: echo, configuration: {output: {}, error_message: 'broken', error_type: fatal}}
`;

const PARENT = (template: string) => `
name: parent
description: runs a subtask
steps:
  sub:
    action:
      type: subtask
      configuration:
        template: ${template}
        input: {who: 'ann'}
  after:
    dependencies: [sub]
    action: {type: echo, configuration: {output: {child_said: '{{step.sub.output.result.said}}'}}}
`;

test('subtask: the child task is created from its template, run, and its result read by the parent', async () => {
  const run = await runYaml(store, PARENT('child'), { templates: { child: CHILD } });
  assert.equal(run.document.state, 'DONE');
  assert.deepEqual(statesOf(run.document), { sub: 'DONE', after: 'DONE' });
  const child = run.document.steps.sub?.output as { id: string; state: string };
  assert.equal(child.state, 'DONE');
  assert.deepEqual(run.document.steps.after?.output, { child_said: 'hi ann' });
  const { rows } = await store.query('SELECT parent_task_id, template_name FROM task WHERE id = $1', [
    child.id,
  ]);
  assert.deepEqual(rows, [{ parent_task_id: run.taskId, template_name: 'child' }]);
});

test('subtask: a child ending blocked (FATAL_ERROR) fails the parent step as CLIENT_ERROR, naming the child', async () => {
  const run = await runYaml(store, PARENT('failing-child'), {
    templates: { 'failing-child': FAILING_CHILD },
  });
  assert.equal(run.document.steps.sub?.state, 'CLIENT_ERROR');
  assert.match(run.document.steps.sub?.error ?? '', /changed state: blocked/);
  assert.equal(run.outcomes[0]?.state, 'BLOCKED_BADREQUEST');
  assert.deepEqual(statesOf(run.document), { sub: 'CLIENT_ERROR', after: 'TODO' });
});

test('subtask: left to another process, the step waits; the child ending wakes the parent through its stored next_retry', async () => {
  const run = await runYaml(store, PARENT('child'), { templates: { child: CHILD }, runChildren: false });
  assert.equal(run.document.steps.sub?.state, 'WAITING');
  assert.equal(run.outcomes[0]?.state, 'WAITING');
  assert.equal(run.document.state, 'WAITING');
  const childId = (run.document.steps.sub?.output as { id: string }).id;
  const before = await store.query('SELECT next_retry FROM resolution WHERE id = $1', [run.resolutionId]);
  assert.equal(before.rows[0]?.next_retry, null);
  const child = await store.query<{ id: string }>('SELECT id FROM resolution WHERE task_id = $1', [childId]);
  const childOutcome = await runOnce(store, child.rows[0]?.id as string);
  assert.equal(childOutcome.taskState, 'DONE');
  const after = await store.query('SELECT next_retry FROM resolution WHERE id = $1', [run.resolutionId]);
  assert.ok(after.rows[0]?.next_retry instanceof Date, 'the parent is due again');
  // Running the parent again reads the child's end; no second child is created.
  const again = await runOnce(store, run.resolutionId, { templates: { child: CHILD }, runChildren: false });
  assert.equal(again.taskState, 'DONE');
  const children = await store.query('SELECT count(*)::int AS n FROM task WHERE parent_task_id = $1', [
    run.taskId,
  ]);
  assert.equal(children.rows[0]?.n, 1);
});

test('batch: a task per input, run with the common inputs, the step DONE once all are', async () => {
  const run = await runYaml(
    store,
    `
name: batcher
description: a batch of child tasks
steps:
  many:
    action:
      type: batch
      configuration:
        template_name: child
        inputs: [{who: a}, {who: b}, {who: c}]
        sub_batch_size: '2'
`,
    { templates: { child: CHILD } },
  );
  assert.equal(run.document.steps.many?.state, 'DONE');
  const output = run.document.steps.many?.output as { tasks: string[]; states: Record<string, number> };
  assert.equal(output.tasks.length, 3);
  assert.deepEqual(output.states, { DONE: 3 });
  const { rows } = await store.query<{ result: unknown }>(
    'SELECT result FROM task WHERE id = ANY($1::uuid[])',
    [output.tasks],
  );
  assert.deepEqual(rows.map((row) => store.codec.readJson<{ said: string }>(row.result).said).sort(), [
    'hi a',
    'hi b',
    'hi c',
  ]);
});

test('callback: the wait step stays WAITING until the callback is called with a body its schema accepts', async () => {
  const run = await runYaml(
    store,
    `
name: callbacks
description: waits for a callback
steps:
  create:
    action:
      type: callback
      configuration:
        action: create
        schema: '{"type": "object", "required": ["success"], "properties": {"success": {"type": "boolean"}}}'
  wait:
    dependencies: [create]
    action:
      type: callback
      configuration: {action: wait, id: '{{step.create.output.id}}'}
  use:
    dependencies: [wait]
    action: {type: echo, configuration: {output: {success: '{{step.wait.output.body.success}}'}}}
`,
  );
  assert.equal(run.document.steps.wait?.state, 'WAITING');
  assert.equal(run.outcomes[0]?.state, 'WAITING');
  const created = run.document.steps.create?.output as { id: string; url: string };
  const token = new URL(created.url).searchParams.get('t') as string;
  assert.match(created.url, new RegExp(`/unsecured/callback/${created.id}\\?t=`));
  await assert.rejects(resolveCallback(store, created.id, 'wrong-token', { success: true }), /no callback/);
  await assert.rejects(
    resolveCallback(store, created.id, token, { success: 'yes' }),
    /schema refuses the body/,
  );
  // A refused call changes nothing: the step still waits.
  assert.equal((await documentOf(store, run.taskId)).steps.wait?.state, 'WAITING');
  await resolveCallback(store, created.id, token, { success: true });
  const due = await store.query('SELECT next_retry FROM resolution WHERE id = $1', [run.resolutionId]);
  assert.ok(due.rows[0]?.next_retry instanceof Date);
  await assert.rejects(resolveCallback(store, created.id, token, { success: true }), /already called/);
  const again = await runOnce(store, run.resolutionId);
  assert.equal(again.state, 'DONE');
  const document = await documentOf(store, run.taskId);
  assert.deepEqual(document.steps.use?.output, { success: 'true' });
});

test('subtask: a cancelled child wakes its waiting parent, whose step then fails as CLIENT_ERROR naming the cancellation', async () => {
  const run = await runYaml(store, PARENT('child'), { templates: { child: CHILD }, runChildren: false });
  assert.equal(run.document.steps.sub?.state, 'WAITING');
  const childId = (run.document.steps.sub?.output as { id: string }).id;
  await cancelTask(store, childId);
  const due = await store.query('SELECT next_retry FROM resolution WHERE id = $1', [run.resolutionId]);
  assert.ok(due.rows[0]?.next_retry instanceof Date, 'the parent is due again');
  await assert.rejects(cancelTask(store, childId), /it is CANCELLED/);
  const again = await runOnce(store, run.resolutionId, { templates: { child: CHILD }, runChildren: false });
  assert.equal(again.state, 'BLOCKED_BADREQUEST');
  const document = await documentOf(store, run.taskId);
  assert.equal(document.steps.sub?.state, 'CLIENT_ERROR');
  assert.match(document.steps.sub?.error ?? '', /changed state: cancelled/);
});
