import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadTemplateCatalog } from '../../../src/api/template-catalog.ts';
import { engineServices, type TaskDocument } from '../../../src/engine/engine.ts';
import type { ResolutionDocument, StepDocument } from '../../../src/engine/resolution-document.ts';
import { runResolutionOnce } from '../../../src/engine/resolver.ts';
import { BUILTIN_ACTIONS } from '../../../src/plugins/builtins.ts';
import { Instance } from '../../../src/runs/instance.ts';
import type { StreamEvent } from '../../../src/store/queries/events.ts';
import { startTestServer, type ErrorBody, type TestServer } from '../../helpers/api-server.ts';
import { registerFixture, runOnce, taskEvents } from '../../helpers/engine.ts';

/**
 * µTask's resolution and step routes over real HTTP: start (µTask's create, and start over),
 * read, edit, pause, extend, run, and a step's read, edit and state; each error status with
 * the `{error, code}` body (400 naming the field, 404, 409), and each change checked in the
 * task document, the resolution document, the stored task events and the comments.
 */

const templatesDir = fs.mkdtempSync(path.join(os.tmpdir(), 'taskhost-api-resolutions-'));
after(() => fs.rmSync(templatesDir, { recursive: true, force: true }));
const write = (file: string, yaml: string): void => fs.writeFileSync(path.join(templatesDir, file), yaml);
write(
  'manual.yaml',
  `name: manual
description: resolved by hand, with resolver inputs
allow_task_start_over: true
retry_max: 2
resolver_inputs:
  - name: approver
    regex: '[a-z]+'
  - name: level
    type: number
    optional: true
    default: 1
steps:
  first:
    action:
      type: echo
      configuration: {output: {who: '{{resolver_input.approver}}'}}
  second:
    dependencies: [first]
    custom_states: [SKIPPED]
    action:
      type: echo
      configuration: {output: {level: '{{resolver_input.level}}'}}
`,
);
const refusing = (name: string, startOver: boolean): string => `name: ${name}
description: its first step is a bad request until someone fixes it
allow_task_start_over: ${startOver}
steps:
  check:
    action:
      type: echo
      configuration: {error_message: refused, error_type: client}
  after:
    dependencies: [check]
    action: {type: echo, configuration: {output: {after: true}}}
`;
write('redo.yaml', refusing('redo', true));
write('strict.yaml', refusing('strict', false));
write(
  'flaky.yaml',
  `name: flaky
description: a server error every time, one run allowed
retry_max: 1
steps:
  fail:
    action: {type: echo, configuration: {error_message: down}}
`,
);
write(
  'loop.yaml',
  `name: loop
description: foreach children that are bad requests
steps:
  each:
    foreach: '[1, 2]'
    action: {type: echo, configuration: {error_message: 'no {{iterator}}', error_type: client}}
`,
);
const HELLO =
  'name: hello\ndescription: one echo\nsteps:\n  say: {action: {type: echo, configuration: {output: hi}}}\n';
write('hello.yaml', HELLO);
write(
  'parent.yaml',
  `name: parent
description: a subtask step; may start over
allow_task_start_over: true
steps:
  child:
    action: {type: subtask, configuration: {template: hello}}
`,
);
write(
  'gate.yaml',
  `name: gate
description: a plugin step that runs until a gate file exists
inputs:
  - name: log
  - name: gate
steps:
  wait:
    action: {type: gatekeeper, configuration: {log: '{{input.log}}', gate: '{{input.gate}}'}}
`,
);

const server: TestServer = await startTestServer(
  {},
  {
    templates: async (store) => {
      await registerFixture(store, 'gatekeeper', 'overlap.sh');
      const { catalog, issues } = await loadTemplateCatalog(
        templatesDir,
        path.join(templatesDir, 'functions'),
        new Set([...BUILTIN_ACTIONS, 'gatekeeper']),
      );
      assert.deepEqual(issues, []);
      return catalog;
    },
  },
);
const store = server.db.store;
const localUser = process.env.TASKHOST_USER || os.userInfo().username;

function assertError(
  response: { status: number; body: unknown; text: string },
  status: number,
  code: string,
  message?: RegExp,
): void {
  assert.equal(response.status, status, response.text);
  const body = response.body as ErrorBody;
  assert.equal(body.code, code, response.text);
  assert.equal(typeof body.error, 'string');
  if (message) assert.match(body.error, message);
}

function assertNoContent(response: { status: number; text: string }): void {
  assert.equal(response.status, 204, response.text);
}

async function createTask(template: string, input: Record<string, unknown> = {}): Promise<TaskDocument> {
  const response = await server.request<TaskDocument>('POST', '/task', { template_name: template, input });
  assert.equal(response.status, 201, response.text);
  return response.body;
}

async function getTask(id: string): Promise<TaskDocument> {
  const response = await server.request<TaskDocument>('GET', `/task/${id}`);
  assert.equal(response.status, 200, response.text);
  return response.body;
}

/** Whether a resolution is due for the schedulers (its next_retry passed, by the database's clock). */
async function isDue(id: string): Promise<boolean> {
  const { rows } = await store.query<{ due: boolean }>(
    'SELECT next_retry <= now() AS due FROM resolution WHERE id = $1',
    [id],
  );
  return rows[0]?.due === true;
}

async function getResolution(id: string): Promise<ResolutionDocument> {
  const response = await server.request<ResolutionDocument>('GET', `/resolution/${id}`);
  assert.equal(response.status, 200, response.text);
  return response.body;
}

async function getStep(id: string, step: string): Promise<StepDocument> {
  const response = await server.request<StepDocument>('GET', `/resolution/${id}/step/${step}`);
  assert.equal(response.status, 200, response.text);
  return response.body;
}

/** A task of `template` run once: its id, its resolution's id and the state it ended in. */
async function ranTask(template: string, input: Record<string, unknown> = {}) {
  const task = await createTask(template, input);
  const resolutionId = task.resolution?.id as string;
  const outcome = await runOnce(store, resolutionId);
  return { taskId: task.id, resolutionId, state: outcome.state };
}

async function comments(taskId: string): Promise<{ username: string; content: string }[]> {
  const { rows } = await store.query<{ username: string; content: string }>(
    'SELECT username, content FROM comment WHERE task_id = $1 ORDER BY created_at',
    [taskId],
  );
  return rows.map((row) => ({ ...row, content: store.codec.readText(row.content) }));
}

/** The task events stored after `since`, as {type, step, state, resolution_state}. */
async function eventsAfter(taskId: string, since: number) {
  return (await taskEvents(store, taskId))
    .filter((event) => event.seq > since)
    .map((event) => ({
      type: event.type,
      step: event.step,
      state: event.state,
      ...(event.data?.resolution_state ? { resolution_state: event.data.resolution_state } : {}),
    }));
}

async function lastSeq(taskId: string): Promise<number> {
  return (await taskEvents(store, taskId)).at(-1)?.seq ?? 0;
}

/**
 * The first event of a task's live stream (the server's hub: what `GET /task/:id/stream`
 * subscribers get) that `predicate` accepts, or a rejection when `ends` settles first.
 */
async function nextTaskEvent(
  taskId: string,
  since: number,
  predicate: (event: StreamEvent) => boolean,
  ends: Promise<unknown>,
): Promise<StreamEvent> {
  let close = (): void => undefined;
  const found = new Promise<StreamEvent>((resolve, reject) => {
    server.hub
      .subscribe(taskId, since, {
        onEvent: (event) => {
          if (predicate(event)) resolve(event);
        },
        onError: reject,
        isFinal: () => false,
      })
      .then((subscription) => (close = () => subscription.close()), reject);
  });
  const ended = ends.then(
    (value) => Promise.reject(new Error(`ended before the event came: ${JSON.stringify(value)}`)),
    (error: unknown) => Promise.reject(error instanceof Error ? error : new Error(String(error))),
  );
  try {
    return await Promise.race([found, ended]);
  } finally {
    close();
    ended.catch(() => undefined);
  }
}

test('POST /resolution gives a task its resolver and resolver inputs and makes it due now: 201 with the resolution; 400 names the input, 404, 409 once started', async () => {
  const task = await createTask('manual');
  const resolutionId = task.resolution?.id as string;
  assert.equal(task.resolution?.state, 'TODO');
  // Without its required resolver input, the resolution cannot run.
  assertError(
    await server.request('POST', `/resolution/${resolutionId}/run`),
    400,
    'TH_TASK_INPUT_INVALID',
    /resolver_inputs\.approver: missing.*POST \/resolution/,
  );

  assertError(
    await server.request('POST', '/resolution', { task_id: task.id }),
    400,
    'TH_TASK_INPUT_INVALID',
    /^resolver_inputs\.approver: missing/,
  );
  assertError(
    await server.request('POST', '/resolution', { task_id: task.id, resolver_inputs: { approver: 'Ada!' } }),
    400,
    'TH_TASK_INPUT_INVALID',
    /^resolver_inputs\.approver: "Ada!" does not match/,
  );
  assertError(
    await server.request('POST', '/resolution', {
      task_id: task.id,
      resolver_inputs: { approver: 'ada', level: 'high' },
    }),
    400,
    'TH_TASK_INPUT_INVALID',
    /^resolver_inputs\.level: "high" is not a number/,
  );
  assertError(await server.request('POST', '/resolution', {}), 400, 'TH_REQUEST_INVALID', /task_id/);
  assertError(
    await server.request('POST', '/resolution', { task_id: 'nope' }),
    400,
    'TH_REQUEST_INVALID',
    /task_id/,
  );
  assertError(
    await server.request('POST', '/resolution', { task_id: task.id, start_over: 'maybe' }),
    400,
    'TH_REQUEST_INVALID',
    /start_over/,
  );
  assertError(
    await server.request('POST', '/resolution', { task_id: task.id, resolver: 'me' }),
    400,
    'TH_REQUEST_INVALID',
    /resolver/,
  );
  assertError(
    await server.request('POST', '/resolution', { task_id: randomUUID() }),
    404,
    'TH_TASK_NOT_FOUND',
  );
  assert.equal((await getResolution(resolutionId)).state, 'TODO', 'nothing refused changed it');

  const since = await lastSeq(task.id);
  const created = await server.request<ResolutionDocument>('POST', '/resolution', {
    task_id: task.id,
    resolver_inputs: { approver: 'ada' },
  });
  assert.equal(created.status, 201, created.text);
  assert.equal(created.body.id, resolutionId);
  assert.equal(created.body.task_id, task.id);
  assert.equal(created.body.state, 'TO_AUTORUN');
  assert.equal(created.body.resolver_username, localUser);
  assert.deepEqual(created.body.resolver_inputs, { approver: 'ada', level: 1 }, 'the default applied');
  assert.equal(created.body.run_count, 0);
  assert.ok(created.body.next_retry, 'due now');
  assert.equal(await isDue(resolutionId), true);
  assert.deepEqual(Object.keys(created.body.steps), ['first', 'second']);

  const document = await getTask(task.id);
  assert.equal(document.state, 'TODO');
  assert.equal(document.resolution?.state, 'TO_AUTORUN');
  assert.ok(document.resolver_usernames.includes(localUser), 'the resolver is one of the task resolvers');
  assert.deepEqual(await eventsAfter(task.id, since), [
    { type: 'task', step: null, state: 'TODO', resolution_state: 'TO_AUTORUN' },
  ]);

  assertError(
    await server.request('POST', '/resolution', { task_id: task.id, resolver_inputs: { approver: 'bob' } }),
    409,
    'TH_RESOLUTION_STATE',
    /is TO_AUTORUN after 0 run\(s\): start it over with start_over: true/,
  );

  assert.equal((await runOnce(store, resolutionId)).state, 'DONE');
  const done = await getTask(task.id);
  assert.deepEqual(done.steps.first?.output, { who: 'ada' });
  assert.deepEqual(done.steps.second?.output, { level: '1' });
});

test("GET /resolution/:id is µTask's resolution document, steps with definition and state; 404 unknown, 400 not an id", async () => {
  const task = await createTask('manual');
  const resolutionId = task.resolution?.id as string;
  assert.equal(
    (await server.request('POST', '/resolution', { task_id: task.id, resolver_inputs: { approver: 'cy' } }))
      .status,
    201,
  );
  assert.equal((await runOnce(store, resolutionId)).state, 'DONE');

  const resolution = await getResolution(resolutionId);
  assert.equal(resolution.id, resolutionId);
  assert.equal(resolution.task_id, task.id);
  assert.equal(resolution.task_title, 'manual');
  assert.equal(resolution.state, 'DONE');
  assert.equal(resolution.resolver_username, localUser);
  assert.deepEqual(resolution.resolver_inputs, { approver: 'cy', level: 1 });
  assert.equal(resolution.run_count, 1);
  assert.equal(resolution.run_max, 2, "the template's retry_max");
  assert.ok(Date.parse(resolution.created) > 0);
  assert.ok(Date.parse(resolution.last_start as string) <= Date.parse(resolution.last_stop as string));
  assert.equal(resolution.next_retry, null);
  assert.equal(resolution.instance_id, null, 'no instance holds it');
  assert.equal(resolution.instance, null);
  assert.deepEqual(resolution.base_configurations, {});

  const second = resolution.steps.second as StepDocument;
  assert.equal(second.name, 'second');
  assert.equal(second.state, 'DONE');
  assert.deepEqual(second.output, { level: '1' });
  assert.equal(second.error, null);
  assert.equal(second.try_count, 1);
  assert.ok(Date.parse(second.last_run as string) > 0);
  assert.equal(second.parent, null);
  assert.deepEqual(second.dependencies, ['first']);
  assert.deepEqual(second.custom_states, ['SKIPPED']);
  assert.deepEqual(second.action, {
    type: 'echo',
    configuration: { output: { level: '{{resolver_input.level}}' } },
  });
  assert.equal(second.retry_pattern, 'seconds');

  assertError(
    await server.request('GET', `/resolution/${randomUUID()}`),
    404,
    'TH_TASK_NOT_FOUND',
    /no resolution/,
  );
  assertError(await server.request('GET', '/resolution/x'), 400, 'TH_REQUEST_INVALID', /id/);
});

test('GET /resolution/:id/step/:stepName is one step; a foreach child shows its parent and item; 404 for an unknown step or resolution', async () => {
  const { resolutionId, state } = await ranTask('loop');
  assert.equal(state, 'BLOCKED_BADREQUEST');
  const parent = await getStep(resolutionId, 'each');
  assert.equal(parent.state, 'EXPANDED');
  assert.deepEqual(parent.children_steps, ['each-0', 'each-1']);
  assert.equal(parent.foreach, '[1, 2]');
  const child = await getStep(resolutionId, 'each-1');
  assert.equal(child.parent, 'each');
  assert.equal(child.item, 2);
  assert.equal(child.state, 'CLIENT_ERROR');
  assert.equal(child.error, 'no 2');
  assert.equal(child.foreach, undefined, "a child runs its parent's action, not its loop");
  assert.equal((child.action as { type: string }).type, 'echo');

  assertError(
    await server.request('GET', `/resolution/${resolutionId}/step/nope`),
    404,
    'TH_TASK_NOT_FOUND',
    /no step nope/,
  );
  assertError(
    await server.request('GET', `/resolution/${randomUUID()}/step/each`),
    404,
    'TH_TASK_NOT_FOUND',
    /no resolution/,
  );
  assertError(
    await server.request('PUT', `/resolution/${resolutionId}/step/each-0`, {
      action: { type: 'echo' },
    }),
    400,
    'TH_REQUEST_INVALID',
    /^body: a foreach child's definition is its parent's: edit step each/,
  );
});

test('POST /resolution/:id/pause pauses (204) until POST /resolution/:id/run resumes it; 409 once DONE or cancelled unless ?force=true; 404; 400', async () => {
  const task = await createTask('redo');
  const resolutionId = task.resolution?.id as string;
  const since = await lastSeq(task.id);
  assertNoContent(await server.request('POST', `/resolution/${resolutionId}/pause`));
  const paused = await getTask(task.id);
  assert.equal(paused.resolution?.state, 'PAUSED');
  assert.equal(paused.state, 'TODO', 'the task keeps its state, as in µTask');
  assert.deepEqual(await eventsAfter(task.id, since), [
    { type: 'task', step: null, state: 'TODO', resolution_state: 'PAUSED' },
  ]);
  assert.deepEqual(await comments(task.id), [{ username: localUser, content: 'manually paused resolution' }]);

  // Run resumes it: due now for any instance, then run to its end.
  assertNoContent(await server.request('POST', `/resolution/${resolutionId}/run`));
  const due = await getResolution(resolutionId);
  assert.equal(due.state, 'TO_AUTORUN');
  assert.equal(await isDue(resolutionId), true);
  assert.equal((await runOnce(store, resolutionId)).state, 'BLOCKED_BADREQUEST');

  // A blocked one pauses too, and run resumes it as well.
  assertNoContent(await server.request('POST', `/resolution/${resolutionId}/pause`));
  assertNoContent(await server.request('POST', `/resolution/${resolutionId}/run`));
  assert.equal((await getResolution(resolutionId)).state, 'TO_AUTORUN');

  const done = await ranTask('hello');
  assert.equal(done.state, 'DONE');
  assertError(
    await server.request('POST', `/resolution/${done.resolutionId}/pause`),
    409,
    'TH_RESOLUTION_STATE',
    /can't pause resolution .* while it is DONE/,
  );
  assertError(
    await server.request('POST', `/resolution/${done.resolutionId}/pause?force=maybe`),
    400,
    'TH_REQUEST_INVALID',
    /force/,
  );
  assertNoContent(await server.request('POST', `/resolution/${done.resolutionId}/pause?force=true`));
  assert.equal((await getResolution(done.resolutionId)).state, 'PAUSED');

  const cancelled = await createTask('redo');
  assertNoContent(await server.request('POST', `/resolution/${cancelled.resolution?.id}/cancel`));
  assertError(
    await server.request('POST', `/resolution/${cancelled.resolution?.id}/pause`),
    409,
    'TH_RESOLUTION_STATE',
    /while it is CANCELLED/,
  );
  assertError(await server.request('POST', `/resolution/${randomUUID()}/pause`), 404, 'TH_TASK_NOT_FOUND');
  assertError(await server.request('POST', '/resolution/x/pause'), 400, 'TH_REQUEST_INVALID', /id/);
});

test('POST /resolution/:id/extend gives a BLOCKED_MAXRETRIES resolution retry_max runs more, due now (204); 409 in any other state; 404', async () => {
  const { taskId, resolutionId, state } = await ranTask('flaky');
  assert.equal(state, 'BLOCKED_MAXRETRIES');
  assert.equal((await getTask(taskId)).state, 'BLOCKED');
  assert.equal((await getResolution(resolutionId)).run_max, 1);

  const since = await lastSeq(taskId);
  assertNoContent(await server.request('POST', `/resolution/${resolutionId}/extend`));
  const extended = await getResolution(resolutionId);
  assert.equal(extended.state, 'ERROR');
  assert.equal(extended.run_max, 2, 'run_max + the template retry_max (1)');
  assert.equal(extended.run_count, 1);
  assert.equal(await isDue(resolutionId), true, 'due now (by the database clock)');
  assert.deepEqual(await eventsAfter(taskId, since), [
    { type: 'task', step: null, state: 'BLOCKED', resolution_state: 'ERROR' },
  ]);
  assert.deepEqual(await comments(taskId), [
    { username: localUser, content: 'manually extended resolution' },
  ]);

  // One more run, failing again: blocked again once the new maximum is reached.
  assert.equal((await runOnce(store, resolutionId)).state, 'BLOCKED_MAXRETRIES');
  assert.equal((await getResolution(resolutionId)).run_count, 2);

  assertNoContent(await server.request('POST', `/resolution/${resolutionId}/extend`));
  assertError(
    await server.request('POST', `/resolution/${resolutionId}/extend`),
    409,
    'TH_RESOLUTION_STATE',
    /it is ERROR, not BLOCKED_MAXRETRIES/,
  );
  const todo = await createTask('hello');
  assertError(
    await server.request('POST', `/resolution/${todo.resolution?.id}/extend`),
    409,
    'TH_RESOLUTION_STATE',
    /it is TODO/,
  );
  assertError(await server.request('POST', `/resolution/${randomUUID()}/extend`), 404, 'TH_TASK_NOT_FOUND');
});

test('PUT /resolution/:id/step/:stepName/state sets a step state (204), seen live by task streams; 400 names the state, 404, 409 once final', async () => {
  const { taskId, resolutionId, state } = await ranTask('redo');
  assert.equal(state, 'BLOCKED_BADREQUEST');
  const path = `/resolution/${resolutionId}/step/check/state`;

  assertError(
    await server.request('PUT', path, { state: 'NOPE' }),
    400,
    'TH_REQUEST_INVALID',
    /^body\/state: "NOPE" is not a state of step check: a builtin state \(it has no custom states\)/,
  );
  assertError(await server.request('PUT', path, { state: 'done' }), 400, 'TH_REQUEST_INVALID', /body\/state/);
  assertError(await server.request('PUT', path, {}), 400, 'TH_REQUEST_INVALID', /state/);
  assertError(
    await server.request('PUT', `/resolution/${resolutionId}/step/nope/state`, { state: 'TODO' }),
    404,
    'TH_TASK_NOT_FOUND',
    /no step nope/,
  );
  assertError(
    await server.request('PUT', `/resolution/${randomUUID()}/step/check/state`, { state: 'TODO' }),
    404,
    'TH_TASK_NOT_FOUND',
  );
  assert.equal((await getStep(resolutionId, 'check')).state, 'CLIENT_ERROR', 'nothing refused changed it');

  // A human skips the refused step: DONE by hand. A task stream's subscriber sees it live.
  const since = await lastSeq(taskId);
  const seen = nextTaskEvent(
    taskId,
    since,
    (event) => event.type === 'step' && event.step === 'check',
    new Promise(() => undefined),
  );
  assertNoContent(await server.request('PUT', path, { state: 'DONE' }));
  const event = await seen;
  assert.equal(event.state, 'DONE');
  assert.deepEqual(event.data, { error: 'refused' }, 'the step keeps its error');
  assert.equal((await getTask(taskId)).steps.check?.state, 'DONE');
  assert.deepEqual(await comments(taskId), [
    {
      username: localUser,
      content: 'manually updated resolution step check state from CLIENT_ERROR to DONE',
    },
  ]);

  assertNoContent(await server.request('POST', `/resolution/${resolutionId}/run`));
  assert.equal((await runOnce(store, resolutionId)).state, 'DONE');
  const done = await getTask(taskId);
  assert.equal(done.state, 'DONE');
  assert.deepEqual(done.steps.after?.output, { after: true });
  assertError(
    await server.request('PUT', path, { state: 'TODO' }),
    409,
    'TH_RESOLUTION_STATE',
    /it is DONE \(POST \/resolution\/.*\/pause\?force=true first\)/,
  );

  // A custom state of the step is a state it may be given.
  const manual = await createTask('manual');
  assertNoContent(
    await server.request('PUT', `/resolution/${manual.resolution?.id}/step/second/state`, {
      state: 'SKIPPED',
    }),
  );
  assert.equal((await getTask(manual.id)).steps.second?.state, 'SKIPPED');
  assertError(
    await server.request('PUT', `/resolution/${manual.resolution?.id}/step/second/state`, { state: 'SKIP' }),
    400,
    'TH_REQUEST_INVALID',
    /or one of its custom states \(SKIPPED\)/,
  );
});

test("PUT /resolution/:id/step/:stepName edits a step: its definition checked as a template file's (400 names the field), its state and output; 404; 409", async () => {
  const { taskId, resolutionId, state } = await ranTask('redo');
  assert.equal(state, 'BLOCKED_BADREQUEST');
  const path = `/resolution/${resolutionId}/step/check`;

  assertError(
    await server.request('PUT', path, { action: { type: 'nope' } }),
    400,
    'TH_REQUEST_INVALID',
    /^body\/action\/type: .*nope/,
  );
  assertError(
    await server.request('PUT', path, { action: { type: 'echo' }, dependencies: ['ghost'] }),
    400,
    'TH_REQUEST_INVALID',
    /^body\/dependencies\[0\]: unknown step "ghost"/,
  );
  assertError(
    await server.request('PUT', path, { action: { type: 'echo' }, dependencies: ['after'] }),
    400,
    'TH_REQUEST_INVALID',
    /dependency cycle/,
  );
  assertError(
    await server.request('PUT', path, { description: 'no action' }),
    400,
    'TH_REQUEST_INVALID',
    /^body: missing required key "action"/,
  );
  assertError(
    await server.request('PUT', path, {
      action: { type: 'echo', configuration: { output: '{{step.ghost.output}}' } },
    }),
    400,
    'TH_REQUEST_INVALID',
    /^body\/action\/configuration\/output: .*ghost/,
  );
  assertError(await server.request('PUT', path, { colour: 'red' }), 400, 'TH_REQUEST_INVALID', /colour/);
  assertError(await server.request('PUT', path, { try_count: -1 }), 400, 'TH_REQUEST_INVALID', /try_count/);
  assertError(
    await server.request('PUT', path, { name: 'other', state: 'TODO' }),
    400,
    'TH_REQUEST_INVALID',
    /^body\/name: "other" is not the step's name check/,
  );
  assertError(
    await server.request('PUT', `/resolution/${resolutionId}/step/nope`, { state: 'TODO' }),
    404,
    'TH_TASK_NOT_FOUND',
  );
  assert.deepEqual((await getStep(resolutionId, 'check')).action, {
    type: 'echo',
    configuration: { error_message: 'refused', error_type: 'client' },
  });

  // The step read back and sent unchanged is accepted and changes nothing.
  const before = await getStep(resolutionId, 'check');
  assertNoContent(await server.request('PUT', path, before));
  assert.deepEqual(await getStep(resolutionId, 'check'), before);

  // The fix: a definition that works, the step TODO again, its output cleared by hand.
  const since = await lastSeq(taskId);
  assertNoContent(
    await server.request('PUT', path, {
      description: 'fixed by hand',
      action: { type: 'echo', configuration: { output: { fixed: true } } },
      execution_delay: '0s',
      state: 'TODO',
      error: null,
      try_count: 0,
    }),
  );
  const edited = await getStep(resolutionId, 'check');
  assert.equal(edited.description, 'fixed by hand');
  assert.equal(edited.state, 'TODO');
  assert.equal(edited.error, null);
  assert.equal(edited.try_count, 0);
  assert.equal(edited.execution_delay, '0ms');
  assert.deepEqual(await eventsAfter(taskId, since), [{ type: 'step', step: 'check', state: 'TODO' }]);
  assert.deepEqual(await comments(taskId), [
    // µTask comments every edit, the one that changed nothing too.
    { username: localUser, content: 'manually updated resolution step check' },
    { username: localUser, content: 'manually updated resolution step check' },
  ]);
  assertNoContent(
    await server.request('PUT', `/resolution/${resolutionId}/step/after`, { output: { set: 1 } }),
  );
  assert.deepEqual((await getStep(resolutionId, 'after')).output, { set: 1 });

  assertNoContent(await server.request('POST', `/resolution/${resolutionId}/run`));
  assert.equal((await runOnce(store, resolutionId)).state, 'DONE');
  const done = await getTask(taskId);
  assert.deepEqual(done.steps.check?.output, { fixed: true }, 'the edited definition ran');
  assert.deepEqual(done.steps.after?.output, { after: true });
  assertError(await server.request('PUT', path, { state: 'TODO' }), 409, 'TH_RESOLUTION_STATE', /DONE/);
});

test('PUT /resolution/:id edits resolver inputs and steps by name (204); 400 names the input or step, 404, 409 once final', async () => {
  const task = await createTask('manual');
  const resolutionId = task.resolution?.id as string;
  const path = `/resolution/${resolutionId}`;
  assertError(await server.request('PUT', path, {}), 400, 'TH_REQUEST_INVALID', /body/);
  assertError(
    await server.request('PUT', path, { resolver_inputs: { approver: 'NO' } }),
    400,
    'TH_TASK_INPUT_INVALID',
    /^resolver_inputs\.approver: "NO" does not match/,
  );
  assertError(
    await server.request('PUT', path, { steps: { ghost: { state: 'DONE' } } }),
    400,
    'TH_REQUEST_INVALID',
    /^body\/steps\/ghost: no step ghost/,
  );
  assertError(
    await server.request('PUT', path, { steps: { first: { state: 'NOPE' } } }),
    400,
    'TH_REQUEST_INVALID',
    /^body\/steps\/first\/state: "NOPE"/,
  );
  assertError(
    await server.request('PUT', path, {
      steps: { second: { action: { type: 'echo' }, dependencies: ['ghost'] } },
    }),
    400,
    'TH_REQUEST_INVALID',
    /^body\/steps\/second\/dependencies\[0\]: unknown step "ghost"/,
  );
  assertError(
    await server.request('PUT', path, { steps: { first: { state: 'DONE', wrong: 1 } } }),
    400,
    'TH_REQUEST_INVALID',
    /wrong/,
  );
  assertError(
    await server.request('PUT', `/resolution/${randomUUID()}`, { resolver_inputs: { approver: 'ok' } }),
    404,
    'TH_TASK_NOT_FOUND',
  );

  const since = await lastSeq(task.id);
  assertNoContent(
    await server.request('PUT', path, {
      resolver_inputs: { approver: 'dee', level: 3 },
      steps: {
        first: { state: 'DONE', output: { who: 'by hand' } },
        second: {
          action: { type: 'echo', configuration: { output: { approved: '{{resolver_input.approver}}' } } },
          dependencies: ['first'],
        },
      },
    }),
  );
  const resolution = await getResolution(resolutionId);
  assert.deepEqual(resolution.resolver_inputs, { approver: 'dee', level: 3 });
  assert.equal(resolution.steps.first?.state, 'DONE');
  assert.deepEqual(resolution.steps.first?.output, { who: 'by hand' });
  assert.equal(resolution.steps.second?.state, 'TODO');
  assert.deepEqual(await eventsAfter(task.id, since), [{ type: 'step', step: 'first', state: 'DONE' }]);
  assert.deepEqual(await comments(task.id), [
    { username: localUser, content: 'manually updated resolution' },
  ]);

  // The edited resolution runs as edited: first stays done, second runs its new action.
  assertNoContent(await server.request('POST', `/resolution/${resolutionId}/run`));
  assert.equal((await runOnce(store, resolutionId)).state, 'DONE');
  const done = await getTask(task.id);
  assert.deepEqual(done.steps.first?.output, { who: 'by hand' });
  assert.deepEqual(done.steps.second?.output, { approved: 'dee' });
  assertError(
    await server.request('PUT', path, { resolver_inputs: { approver: 'eve' } }),
    409,
    'TH_RESOLUTION_STATE',
    /it is DONE/,
  );
});

test('POST /resolution with start_over makes a blocked resolution fresh again where the template allows it; 409 without start_over, without allow_task_start_over, or in another state', async () => {
  const { taskId, resolutionId, state } = await ranTask('redo');
  assert.equal(state, 'BLOCKED_BADREQUEST');
  assertError(
    await server.request('POST', '/resolution', { task_id: taskId }),
    409,
    'TH_RESOLUTION_STATE',
    /is BLOCKED_BADREQUEST after 1 run\(s\): start it over with start_over: true/,
  );

  const since = await lastSeq(taskId);
  const started = await server.request<ResolutionDocument>('POST', '/resolution', {
    task_id: taskId,
    start_over: true,
  });
  assert.equal(started.status, 201, started.text);
  assert.equal(started.body.id, resolutionId, 'the same resolution, fresh');
  assert.equal(started.body.state, 'TO_AUTORUN');
  assert.equal(started.body.run_count, 0);
  assert.equal(started.body.last_start, null);
  assert.deepEqual(
    Object.values(started.body.steps).map((step) => [step.name, step.state, step.error, step.try_count]),
    [
      ['after', 'TODO', null, 0],
      ['check', 'TODO', null, 0],
    ],
    'by name, as µTask (a Go map) lists them',
  );
  const task = await getTask(taskId);
  assert.equal(task.state, 'TODO');
  assert.deepEqual(await eventsAfter(taskId, since), [
    { type: 'step', step: 'check', state: 'TODO' },
    { type: 'task', step: null, state: 'TODO', resolution_state: 'TO_AUTORUN' },
  ]);
  assert.deepEqual(await comments(taskId), [{ username: localUser, content: 'started the task over' }]);

  // It runs again from the start; the step goes on counting its executions (the attempt
  // numbers of a plugin step's runs, unique a step).
  assert.equal((await runOnce(store, resolutionId)).state, 'BLOCKED_BADREQUEST');
  const { rows } = await store.query<{ executions: number }>(
    `SELECT executions FROM resolution_step WHERE resolution_id = $1 AND name = 'check'`,
    [resolutionId],
  );
  assert.deepEqual(rows, [{ executions: 2 }]);
  assert.equal((await getResolution(resolutionId)).run_count, 1);

  // A template without allow_task_start_over: refused, even to start_over.
  const strict = await ranTask('strict');
  assertError(
    await server.request('POST', '/resolution', { task_id: strict.taskId, start_over: true }),
    409,
    'TH_RESOLUTION_STATE',
    /template strict does not allow starting its tasks over \(allow_task_start_over\)/,
  );

  // µTask's states only: a DONE task is paused (forced) before it starts over.
  const task2 = await createTask('manual');
  await server.request('POST', '/resolution', { task_id: task2.id, resolver_inputs: { approver: 'fay' } });
  assert.equal((await runOnce(store, task2.resolution?.id as string)).state, 'DONE');
  assertError(
    await server.request('POST', '/resolution', { task_id: task2.id, start_over: true }),
    409,
    'TH_RESOLUTION_STATE',
    /only a PAUSED, BLOCKED_BADREQUEST or CANCELLED one starts over \(pause it first\)/,
  );
  assertNoContent(await server.request('POST', `/resolution/${task2.resolution?.id}/pause?force=true`));
  const again = await server.request<ResolutionDocument>('POST', '/resolution', {
    task_id: task2.id,
    start_over: true,
    resolver_inputs: { approver: 'gus' },
  });
  assert.equal(again.status, 201, again.text);
  assert.deepEqual(again.body.resolver_inputs, { approver: 'gus', level: 1 });
  assert.equal((await runOnce(store, task2.resolution?.id as string)).state, 'DONE');
  assert.deepEqual((await getTask(task2.id)).steps.first?.output, { who: 'gus' });
});

test('starting over detaches the tasks its subtask steps made, so the steps make new ones', async () => {
  const task = await createTask('parent');
  const resolutionId = task.resolution?.id as string;
  const options = { templates: { hello: HELLO }, runChildren: false };
  assert.equal((await runOnce(store, resolutionId, options)).state, 'WAITING');
  const children = async () =>
    (
      await store.query<{ id: string; tags: Record<string, string> }>(
        'SELECT id, tags FROM task WHERE parent_task_id = $1 ORDER BY created_at',
        [task.id],
      )
    ).rows;
  const [first] = await children();
  assert.equal(first?.tags._taskhost_parent_step, 'child');

  assertNoContent(await server.request('POST', `/resolution/${resolutionId}/pause`));
  const started = await server.request('POST', '/resolution', { task_id: task.id, start_over: true });
  assert.equal(started.status, 201, started.text);
  assert.equal((await runOnce(store, resolutionId, options)).state, 'WAITING');
  const after = await children();
  assert.equal(after.length, 2, 'a new subtask');
  assert.equal(after[0]?.id, first?.id);
  assert.equal(after[0]?.tags._taskhost_parent_step, undefined, 'the old one left its step');
  assert.equal(after[0]?.tags._utask_parent_task_id, task.id, 'but is still the task child');
  assert.equal(after[1]?.tags._taskhost_parent_step, 'child');
});

test('while an instance runs a resolution, every change is refused (409) and the document names the instance', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'taskhost-api-gate-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const gate = path.join(dir, 'gate');
  const task = await createTask('gate', { log: path.join(dir, 'log'), gate });
  const resolutionId = task.resolution?.id as string;
  const owner = new Instance(store, 'server');
  const services = engineServices({ store, scriptsDir: dir, owner });
  const run = runResolutionOnce(services, resolutionId);
  try {
    await nextTaskEvent(
      task.id,
      0,
      (event) => event.type === 'step' && event.step === 'wait' && event.state === 'RUNNING',
      run,
    );
    const running = await getResolution(resolutionId);
    assert.equal(running.state, 'RUNNING');
    assert.equal(running.instance_id, owner.id);
    assert.equal(running.instance?.id, owner.id);
    assert.equal(running.instance?.hostname, os.hostname());
    assert.equal(running.instance?.pid, process.pid);
    assert.equal(running.steps.wait?.state, 'RUNNING');

    const refusals: [string, string, unknown, RegExp][] = [
      [
        'POST',
        `/resolution/${resolutionId}/pause`,
        undefined,
        /while it is RUNNING \(\?force=true to force it\)/,
      ],
      ['POST', `/resolution/${resolutionId}/run`, undefined, /it is RUNNING/],
      ['POST', `/resolution/${resolutionId}/cancel`, undefined, /while it runs/],
      ['POST', `/resolution/${resolutionId}/extend`, undefined, /it is RUNNING/],
      ['PUT', `/resolution/${resolutionId}`, { resolver_inputs: {} }, /while it runs \(on instance /],
      ['PUT', `/resolution/${resolutionId}/step/wait`, { state: 'TODO' }, /while it runs/],
      ['PUT', `/resolution/${resolutionId}/step/wait/state`, { state: 'DONE' }, /while it runs/],
      ['POST', '/resolution', { task_id: task.id, start_over: true }, /RUNNING/],
    ];
    for (const [method, route, body, message] of refusals) {
      assertError(await server.request(method, route, body), 409, 'TH_RESOLUTION_STATE', message);
    }
    assert.equal((await comments(task.id)).length, 0, 'nothing was done');
  } finally {
    fs.writeFileSync(gate, '');
    await run.catch(() => undefined);
    await owner.stop();
  }
  assert.equal((await run).state, 'DONE');
  const done = await getResolution(resolutionId);
  assert.equal(done.state, 'DONE');
  assert.equal(done.instance_id, null);
  assert.equal(done.instance, null);
});

test('the OpenAPI document lists every resolution and step route with its schemas', async () => {
  const { status, body } = await server.request<{
    paths: Record<string, Record<string, Record<string, unknown>>>;
  }>('GET', '/unsecured/spec.json');
  assert.equal(status, 200);
  for (const [route, method, success] of [
    ['/resolution', 'post', '201'],
    ['/resolution/{id}', 'get', '200'],
    ['/resolution/{id}', 'put', '204'],
    ['/resolution/{id}/run', 'post', '204'],
    ['/resolution/{id}/pause', 'post', '204'],
    ['/resolution/{id}/extend', 'post', '204'],
    ['/resolution/{id}/cancel', 'post', '204'],
    ['/resolution/{id}/step/{stepName}', 'get', '200'],
    ['/resolution/{id}/step/{stepName}', 'put', '204'],
    ['/resolution/{id}/step/{stepName}/state', 'put', '204'],
  ] as const) {
    const operation = body.paths[route]?.[method];
    assert.ok(operation, `${method.toUpperCase()} ${route} is in the spec`);
    const responses = operation.responses as Record<string, unknown>;
    assert.ok(responses[success], `${method.toUpperCase()} ${route} answers ${success}`);
    assert.ok(
      responses['404'] || route === '/resolution',
      `${method.toUpperCase()} ${route} documents its 404`,
    );
    if (method === 'put' || route === '/resolution') {
      assert.ok(operation.requestBody, `${method.toUpperCase()} ${route} has its body schema`);
    }
  }
  const responses = body.paths['/resolution/{id}']?.get?.responses as Record<
    string,
    { content: Record<string, { schema: { properties: Record<string, unknown> } }> }
  >;
  const schema = responses['200']?.content['application/json']?.schema as {
    properties: Record<string, unknown>;
  };
  assert.ok(schema.properties.steps && schema.properties.instance, 'the resolution document schema');
});
