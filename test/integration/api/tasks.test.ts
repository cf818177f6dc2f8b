import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadTemplateCatalog } from '../../../src/api/template-catalog.ts';
import type { TaskDocument } from '../../../src/engine/engine.ts';
import { BUILTIN_ACTIONS } from '../../../src/plugins/builtins.ts';
import { startTestServer, type ErrorBody, type TestServer } from '../../helpers/api-server.ts';
import { runOnce } from '../../helpers/engine.ts';

/**
 * µTask's template, task, resolution-cancel and callback routes over real HTTP: each route,
 * each error status with the `{error, code}` body, and the OpenAPI document listing them.
 */

const templatesDir = fs.mkdtempSync(path.join(os.tmpdir(), 'taskhost-api-templates-'));
after(() => fs.rmSync(templatesDir, { recursive: true, force: true }));
const write = (file: string, yaml: string): void => fs.writeFileSync(path.join(templatesDir, file), yaml);
write(
  'hello.yaml',
  `name: hello
description: says hello
title_format: 'hello {{input.name}}'
inputs:
  - name: name
    regex: '^[a-z]+$'
  - name: times
    type: number
    optional: true
    default: 2
steps:
  say:
    action:
      type: echo
      configuration: {output: {greeting: 'hi {{input.name}}'}}
`,
);
write(
  'secret.yaml',
  'name: secret\ndescription: hidden\nhidden: true\nsteps:\n  a: {action: {type: echo}}\n',
);
write(
  'frozen.yaml',
  'name: frozen\ndescription: blocked\nblocked: true\nsteps:\n  a: {action: {type: echo}}\n',
);
write('broken.yaml', 'name: broken\ndescription: an unknown action\nsteps:\n  a: {action: {type: nope}}\n');
write(
  'callbacks.yaml',
  `name: callbacks
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
`,
);

const server: TestServer = await startTestServer(
  {},
  {
    templates: async () => {
      const { catalog, issues } = await loadTemplateCatalog(
        templatesDir,
        path.join(templatesDir, 'functions'),
        BUILTIN_ACTIONS,
      );
      assert.deepEqual(
        issues.map((issue) => path.basename(issue.file)),
        ['broken.yaml'],
      );
      return catalog;
    },
  },
);
const localUser = process.env.TASKHOST_USER || os.userInfo().username;

async function createHello(
  input: Record<string, unknown> = { name: 'ada' },
  extra: Record<string, unknown> = {},
) {
  const response = await server.request<TaskDocument>('POST', '/task', {
    template_name: 'hello',
    input,
    ...extra,
  });
  assert.equal(response.status, 201, response.text);
  return response.body;
}

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

test('GET /template lists the valid templates by name without their steps; a template with errors is not served', async () => {
  const { status, body, text } = await server.request<Record<string, unknown>[]>('GET', '/template');
  assert.equal(status, 200, text);
  assert.deepEqual(
    body.map((template) => template.name),
    ['callbacks', 'frozen', 'hello', 'secret'],
  );
  const hello = body.find((template) => template.name === 'hello') as Record<string, unknown>;
  assert.equal(hello.description, 'says hello');
  assert.equal(hello.title_format, 'hello {{input.name}}');
  assert.equal(hello.retry_max, 100);
  assert.deepEqual(
    (hello.inputs as { name: string }[]).map((input) => input.name),
    ['name', 'times'],
  );
  assert.ok(!('steps' in hello), 'no steps in the list');

  const page = await server.request<{ name: string }[]>('GET', '/template?page_size=2&last=callbacks');
  assert.deepEqual(
    page.body.map((template) => template.name),
    ['frozen', 'hello'],
  );
  assertError(await server.request('GET', '/template?page_size=0'), 400, 'TH_REQUEST_INVALID', /page_size/);
});

test('GET /template/:name is the whole template, steps included; an unknown or broken one is 404', async () => {
  const { status, body } = await server.request<Record<string, unknown>>('GET', '/template/Hello');
  assert.equal(status, 200);
  assert.equal(body.name, 'hello');
  assert.deepEqual(Object.keys(body.steps as object), ['say']);
  assert.equal((body.steps as { say: { action: { type: string } } }).say.action.type, 'echo');
  assertError(await server.request('GET', '/template/nothing'), 404, 'TH_TEMPLATE_NOT_FOUND', /nothing/);
  assertError(await server.request('GET', '/template/broken'), 404, 'TH_TEMPLATE_NOT_FOUND');
});

test('POST /task creates a TODO task (not run) and answers 201 with the SPEC 7 document', async () => {
  const document = await createHello(
    { name: 'ada' },
    { watcher_usernames: ['bob'], tags: { team: 'payments' } },
  );
  assert.equal(document.template_name, 'hello');
  assert.equal(document.title, 'hello ada');
  assert.equal(document.state, 'TODO');
  assert.equal(document.requester, localUser);
  assert.deepEqual(document.input, { name: 'ada', times: 2 }, 'defaults applied');
  assert.equal(document.result, null);
  assert.ok(!Number.isNaN(Date.parse(document.created)));
  assert.ok(!Number.isNaN(Date.parse(document.last_activity)));
  assert.equal(document.resolution?.state, 'TODO');
  assert.equal(document.resolution?.run_count, 0);
  assert.equal(document.resolution?.next_retry, null);
  assert.deepEqual(document.steps, {
    say: {
      state: 'TODO',
      output: null,
      metadata: null,
      children: null,
      error: null,
      try_count: 0,
      last_run: null,
      instance: null,
    },
  });
  const stored = await server.db.store.query<{ watcher_usernames: string[]; tags: Record<string, string> }>(
    'SELECT watcher_usernames, tags FROM task WHERE id = $1',
    [document.id],
  );
  assert.deepEqual(stored.rows[0], { watcher_usernames: ['bob'], tags: { team: 'payments' } });

  // Left for the scheduler: nothing ran in the request, nor after it.
  await new Promise((resolve) => setTimeout(resolve, 200));
  const again = await server.request<TaskDocument>('GET', `/task/${document.id}`);
  assert.equal(again.status, 200);
  assert.deepEqual(again.body, document);
});

test('POST /task refuses a bad request with 400 naming the field, an unknown template with 404', async () => {
  assertError(
    await server.request('POST', '/task', { template_name: 'nothing', input: {} }),
    404,
    'TH_TEMPLATE_NOT_FOUND',
    /nothing/,
  );
  assertError(
    await server.request('POST', '/task', { template_name: 'broken', input: {} }),
    404,
    'TH_TEMPLATE_NOT_FOUND',
  );
  assertError(
    await server.request('POST', '/task', { template_name: 'hello', input: { name: 'Ada!' } }),
    400,
    'TH_TASK_INPUT_INVALID',
    /input\.name/,
  );
  assertError(
    await server.request('POST', '/task', { template_name: 'hello', input: {} }),
    400,
    'TH_TASK_INPUT_INVALID',
    /input\.name: missing/,
  );
  assertError(
    await server.request('POST', '/task', { template_name: 'hello', input: { name: 'ada', times: 'many' } }),
    400,
    'TH_TASK_INPUT_INVALID',
    /input\.times/,
  );
  assertError(
    await server.request('POST', '/task', { input: {} }),
    400,
    'TH_REQUEST_INVALID',
    /template_name/,
  );
  assertError(
    await server.request('POST', '/task', { template_name: 'hello', input: 'x' }),
    400,
    'TH_REQUEST_INVALID',
    /input/,
  );
  assertError(
    await server.request('POST', '/task', {
      template_name: 'hello',
      input: { name: 'ada' },
      tags: { n: ['a', 'b'] },
    }),
    400,
    'TH_REQUEST_INVALID',
    /tags/,
  );
  assertError(
    await server.request('POST', '/task', { template_name: 'hello', input: { name: 'ada' }, delay: 'soon' }),
    400,
    'TH_REQUEST_INVALID',
    /delay/,
  );
  assertError(
    await server.request('POST', '/task', { template_name: 'frozen', input: {} }),
    400,
    'TH_TASK_INPUT_INVALID',
    /blocked/,
  );
  assertError(await server.request('POST', '/task', '{not json'), 400, 'TH_REQUEST_INVALID');
});

test('GET /task/:id answers 404 for an unknown task and 400 for an id that is not one', async () => {
  assertError(await server.request('GET', `/task/${randomUUID()}`), 404, 'TH_TASK_NOT_FOUND');
  assertError(await server.request('GET', '/task/not-a-uuid'), 400, 'TH_REQUEST_INVALID', /id/);
});

test('GET /task pages newest first by page_size and last, filtered by state and template', async () => {
  const names = ['one', 'two', 'three'];
  const created: TaskDocument[] = [];
  for (const name of names) created.push(await createHello({ name }));
  const newest = [...created].reverse().map((task) => task.id);

  const first = await server.request<
    { id: string; input?: unknown; steps?: unknown; resolution: { state: string } }[]
  >('GET', '/task?template=hello&page_size=2');
  assert.equal(first.status, 200, first.text);
  assert.deepEqual(
    first.body.map((task) => task.id),
    newest.slice(0, 2),
  );
  assert.ok(!('steps' in (first.body[0] as object)) && !('input' in (first.body[0] as object)));
  assert.equal(first.body[0]?.resolution.state, 'TODO');
  assert.equal(first.headers.get('x-paging-pagesize'), '2');
  assert.equal(first.headers.get('link'), `</task?template=hello&page_size=2&last=${newest[1]}>; rel="next"`);

  const second = await server.request<{ id: string }[]>(
    'GET',
    `/task?template=hello&page_size=2&last=${newest[1]}`,
  );
  assert.equal(second.body[0]?.id, newest[2]);

  // Default page: 20, newest first, every task of every template.
  const all = await server.request<{ id: string; created: string }[]>('GET', '/task');
  assert.ok(all.body.length >= 3 && all.body.length <= 20);
  const times = all.body.map((task) => Date.parse(task.created));
  assert.deepEqual(
    times,
    [...times].sort((a, b) => b - a),
  );

  await server.request('POST', `/resolution/${created[0]?.resolution?.id}/cancel`);
  const cancelled = await server.request<{ id: string; state: string }[]>(
    'GET',
    '/task?state=CANCELLED&template=HELLO',
  );
  assert.deepEqual(
    cancelled.body.map((task) => task.id),
    [created[0]?.id],
  );
  const none = await server.request<unknown[]>('GET', '/task?template=callbacks&state=DONE');
  assert.deepEqual(none.body, []);

  const csv = await server.request('GET', '/task?template=hello&page_size=1&format=csv');
  assert.match(csv.headers.get('content-type') ?? '', /text\/csv/);
  assert.match(csv.text, /^id,template_name,title,state,/);

  assertError(await server.request('GET', '/task?page_size=1001'), 400, 'TH_REQUEST_INVALID', /page_size/);
  assertError(await server.request('GET', '/task?last=nope'), 400, 'TH_REQUEST_INVALID', /last/);
  assertError(await server.request('GET', '/task?type=everything'), 400, 'TH_REQUEST_INVALID', /type/);
});

test('POST /resolution/:id/cancel cancels a TODO task (204); a cancelled or DONE one is 409, an unknown one 404', async () => {
  const task = await createHello();
  const resolutionId = task.resolution?.id as string;
  const cancel = await server.request('POST', `/resolution/${resolutionId}/cancel`);
  assert.equal(cancel.status, 204, cancel.text);
  const document = (await server.request<TaskDocument>('GET', `/task/${task.id}`)).body;
  assert.equal(document.state, 'CANCELLED');
  assert.equal(document.resolution?.state, 'CANCELLED');
  assertError(
    await server.request('POST', `/resolution/${resolutionId}/cancel`),
    409,
    'TH_RESOLUTION_STATE',
    /CANCELLED/,
  );

  const done = await createHello();
  const outcome = await runOnce(server.db.store, done.resolution?.id as string);
  assert.equal(outcome.state, 'DONE');
  assertError(
    await server.request('POST', `/resolution/${done.resolution?.id}/cancel`),
    409,
    'TH_RESOLUTION_STATE',
    /DONE/,
  );

  assertError(await server.request('POST', `/resolution/${randomUUID()}/cancel`), 404, 'TH_TASK_NOT_FOUND');
  assertError(await server.request('POST', '/resolution/x/cancel'), 400, 'TH_REQUEST_INVALID');
});

test('POST /unsecured/callback/:id?t= resolves a waiting callback step: 404 wrong token, 400 refused body, 409 twice', async () => {
  const created = await server.request<TaskDocument>('POST', '/task', {
    template_name: 'callbacks',
    input: {},
  });
  assert.equal(created.status, 201, created.text);
  const resolutionId = created.body.resolution?.id as string;
  assert.equal((await runOnce(server.db.store, resolutionId)).state, 'WAITING');
  const document = (await server.request<TaskDocument>('GET', `/task/${created.body.id}`)).body;
  const output = document.steps.create?.output as { id: string; url: string };
  const url = new URL(output.url);
  assert.equal(url.pathname, `/unsecured/callback/${output.id}`);
  const token = url.searchParams.get('t') as string;
  const path = `/unsecured/callback/${output.id}`;

  assertError(
    await server.request('POST', `${path}?t=wrong`, { success: true }),
    404,
    'TH_CALLBACK_NOT_FOUND',
  );
  assertError(
    await server.request('POST', `/unsecured/callback/${randomUUID()}?t=${token}`, { success: true }),
    404,
    'TH_CALLBACK_NOT_FOUND',
  );
  assertError(
    await server.request('POST', `${path}?t=${token}`, { success: 'yes' }),
    400,
    'TH_REQUEST_INVALID',
    /schema refuses/,
  );
  assertError(await server.request('POST', path, { success: true }), 400, 'TH_REQUEST_INVALID', /t/);

  const called = await server.request<{ id: string }>('POST', `${path}?t=${token}`, { success: true });
  assert.equal(called.status, 200, called.text);
  assert.equal(called.body.id, output.id);
  assertError(
    await server.request('POST', `${path}?t=${token}`, { success: true }),
    409,
    'TH_CALLBACK_RESOLVED',
  );

  assert.equal((await runOnce(server.db.store, resolutionId)).state, 'DONE');
  const end = (await server.request<TaskDocument>('GET', `/task/${created.body.id}`)).body;
  assert.deepEqual((end.steps.wait?.output as { body: unknown }).body, { success: true });
});

test('the OpenAPI document lists every route of this issue with its schemas', async () => {
  const { status, body } = await server.request<{
    paths: Record<string, Record<string, Record<string, unknown>>>;
  }>('GET', '/unsecured/spec.json');
  assert.equal(status, 200);
  for (const [route, method] of [
    ['/template', 'get'],
    ['/template/{name}', 'get'],
    ['/task', 'post'],
    ['/task', 'get'],
    ['/task/{id}', 'get'],
    ['/task/{id}/stream', 'get'],
    ['/resolution/{id}/cancel', 'post'],
    ['/unsecured/callback/{id}', 'post'],
  ] as const) {
    assert.ok(body.paths[route]?.[method], `${method.toUpperCase()} ${route} is in the spec`);
  }
  assert.ok(body.paths['/task']?.post?.requestBody, 'POST /task has its body schema');
  assert.ok((body.paths['/task']?.post?.responses as Record<string, unknown>)['201'], 'and its 201 document');
  assert.ok((body.paths['/task']?.get?.parameters as unknown[]).length >= 4, 'GET /task has its query');
});
