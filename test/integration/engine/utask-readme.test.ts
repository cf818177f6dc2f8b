import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { functionLibrary } from '../../helpers/engine-scenarios.ts';
import { createFromYaml, registerFixture, runOnce, runYaml, statesOf } from '../../helpers/engine.ts';
import { reply, startHttpServer } from '../../helpers/actions.ts';
import { createTestDatabase } from '../../helpers/store.ts';

/**
 * The examples of µTask's README (and of its engine tests, engine/templates_tests), each
 * run through the engine as written there, its Go-template syntax translated as SPEC
 * section 5 says: `{{.input.x}}` → `{{input.x}}`, `{{x | f}}` → `{{f x}}`,
 * `` {{ `x` }} `` → `{{toString "x"}}`. Actions that call out (http) call a real server on
 * 127.0.0.1.
 */

const { store } = await createTestDatabase();

test('README skip condition: runType dry sets createUser DONE without running it, the message as its error', async (t) => {
  const server = await startHttpServer(t, (_request, response) => reply(response, 201, '{}'));
  const yaml = `
name: create-user
description: skip on dry runs
inputs:
- name: runType
  description: Run this task with/without side effects
  legal_values: [dry, wet]
steps:
  createUser:
    description: Create new user
    action:
      type: http
      configuration: {url: '${server.url}/user', method: POST, body: '{"user": "x"}'}
    conditions:
    - type: skip
      if:
      - value: '{{input.runType}}'
        operator: EQ
        expected: dry
      then:
        this: DONE
      message: Dry run, skip user creation
`;
  const dry = await runYaml(store, yaml, { input: { runType: 'dry' } });
  assert.equal(dry.document.state, 'DONE');
  assert.equal(dry.document.steps.createUser?.state, 'DONE');
  assert.equal(dry.document.steps.createUser?.error, 'Dry run, skip user creation');
  assert.equal(dry.document.steps.createUser?.try_count, 0, 'a skipped step never ran');
  assert.equal(server.requests.length, 0);

  const wet = await runYaml(store, yaml, { input: { runType: 'wet' } });
  assert.equal(wet.document.steps.createUser?.state, 'DONE');
  assert.equal(wet.document.steps.createUser?.error, null);
  assert.equal(wet.document.steps.createUser?.try_count, 1);
  assert.deepEqual(
    server.requests.map((request) => `${request.method} ${request.url}`),
    ['POST /user'],
  );
  await assert.rejects(createFromYaml(store, yaml, { input: { runType: 'moist' } }), {
    code: 'TH_TASK_INPUT_INVALID',
  });
});

const GET_OR_CREATE = (url: string): string => `
name: get-or-create-user
description: a 404 is not an error here
inputs: [{name: id}]
steps:
  getUser:
    description: Get user
    custom_states: [NOT_FOUND]
    action:
      type: http
      configuration:
        url: ${url}/user/{{input.id}}
        method: GET
    conditions:
    - type: check
      if:
      - value: '{{step.getUser.metadata.HTTPStatus}}'
        operator: EQ
        expected: '404'
      then:
        this: NOT_FOUND
      message: User {{input.id}} not found
  createUser:
    description: Create the user
    dependencies: ["getUser:NOT_FOUND"]
    action:
      type: http
      configuration:
        url: ${url}/user
        method: POST
        body: |-
          {"user_id":"{{input.id}}"}
`;

test('README check condition: a 404 puts getUser in NOT_FOUND (message rendered), and createUser runs on it', async (t) => {
  const server = await startHttpServer(t, (request, response) =>
    request.method === 'GET'
      ? reply(response, 404, '{"message": "no such user"}', { 'content-type': 'application/json' })
      : reply(response, 201, '{"created": true}', { 'content-type': 'application/json' }),
  );
  const run = await runYaml(store, GET_OR_CREATE(server.url), { input: { id: '1234' } });
  assert.equal(run.document.resolution?.state, 'DONE');
  assert.deepEqual(statesOf(run.document), { getUser: 'NOT_FOUND', createUser: 'DONE' });
  // µTask renders a condition's message (condition.Eval) before setting it as the step's error.
  assert.equal(run.document.steps.getUser?.error, 'User 1234 not found');
  assert.deepEqual(run.document.steps.getUser?.output, { message: 'no such user' });
  assert.deepEqual(run.document.steps.createUser?.output, { created: true });
  assert.deepEqual(
    server.requests.map((request) => [request.method, request.url, request.body]),
    [
      ['GET', '/user/1234', ''],
      ['POST', '/user', '{"user_id":"1234"}'],
    ],
  );
});

test('README check condition, other branch: an existing user leaves getUser DONE and prunes createUser', async (t) => {
  const server = await startHttpServer(t, (_request, response) =>
    reply(response, 200, '{"id": "1234"}', { 'content-type': 'application/json' }),
  );
  const run = await runYaml(store, GET_OR_CREATE(server.url), { input: { id: '1234' } });
  assert.equal(run.document.resolution?.state, 'DONE');
  assert.deepEqual(statesOf(run.document), { getUser: 'DONE', createUser: 'PRUNE' });
  assert.deepEqual(
    server.requests.map((request) => request.method),
    ['GET'],
  );
});

test('README base_configurations: both steps post to the base configuration`s url, each with its own body', async (t) => {
  const server = await startHttpServer(t, (_request, response) => reply(response, 200, 'ok'));
  const run = await runYaml(
    store,
    `
name: message-board
description: base configurations
base_configurations:
  postMessage:
    method: POST
    url: ${server.url}/new
steps:
  sayHello:
    description: Say hello on the message board
    action:
      type: http
      base_configuration: postMessage
      configuration:
        body: Hello
  sayGoodbye:
    description: Say goodbye on the message board
    dependencies: [sayHello]
    action:
      type: http
      base_configuration: postMessage
      configuration:
        body: Goodbye
`,
  );
  assert.deepEqual(statesOf(run.document), { sayHello: 'DONE', sayGoodbye: 'DONE' });
  assert.deepEqual(
    server.requests.map((request) => [request.method, request.url, request.body]),
    [
      ['POST', '/new', 'Hello'],
      ['POST', '/new', 'Goodbye'],
    ],
  );
});

test('µTask base_configuration test: the configuration`s keys are added to the base`s (both steps fail with their own error)', async () => {
  const run = await runYaml(
    store,
    `
name: base-configuration
description: base_configuration testing template
steps:
  stepOne:
    action:
      type: echo
      configuration: {error_message: error1}
      base_configuration: testingcfg
  stepTwo:
    action:
      type: echo
      configuration: {error_message: error2}
      base_configuration: testingcfg
base_configurations:
  testingcfg:
    output: testingoutput
`,
  );
  assert.deepEqual(statesOf(run.document), { stepOne: 'SERVER_ERROR', stepTwo: 'SERVER_ERROR' });
  assert.equal(run.document.steps.stepOne?.error, 'error1');
  assert.equal(run.document.steps.stepTwo?.error, 'error2');
  assert.equal(run.document.steps.stepOne?.output, 'testingoutput');
  assert.equal(run.document.steps.stepTwo?.output, 'testingoutput');
});

test('README output strategy merge: the format is merged under the action`s output', async (t) => {
  const server = await startHttpServer(t, (_request, response) =>
    reply(response, 200, '{"name": "username"}', { 'content-type': 'application/json' }),
  );
  const run = await runYaml(
    store,
    `
name: merge-output
description: output merge
inputs: [{name: id}]
steps:
  getUser:
    description: Prefix an ID received as input, return both
    action:
      type: http
      output:
        strategy: merge
        format:
          id: "{{input.id}}"
      configuration:
        method: GET
        url: ${server.url}/user/{{input.id}}
`,
    { input: { id: '1234' } },
  );
  assert.equal(run.document.steps.getUser?.state, 'DONE');
  assert.deepEqual(run.document.steps.getUser?.output, { id: '1234', name: 'username' });
  assert.deepEqual(
    server.requests.map((request) => request.url),
    ['/user/1234'],
  );
});

test('output strategy merge: the action`s own keys win over the format`s; base_output (deprecated) merges too', async () => {
  const run = await runYaml(
    store,
    `
name: merge-precedence
description: output merge precedence
inputs: [{name: id}]
steps:
  merged:
    action:
      type: echo
      output: {strategy: merge, format: {name: from-format, extra: '{{input.id}}'}}
      configuration: {output: {name: from-action}}
  legacy:
    action:
      type: echo
      base_output: {id: '{{input.id}}'}
      configuration: {output: {foo: bar}}
  nothing:
    action:
      type: echo
      output: {strategy: merge, format: {foobar: buzz}}
      configuration: {}
`,
    { input: { id: '1234' } },
  );
  assert.deepEqual(run.document.steps.merged?.output, { name: 'from-action', extra: '1234' });
  assert.deepEqual(run.document.steps.legacy?.output, { id: '1234', foo: 'bar' });
  // µTask's no-output.yaml: an action without output gets the format alone.
  assert.deepEqual(run.document.steps.nothing?.output, { foobar: 'buzz' });
});

test('README output strategy template: the output is exactly the rendered format, reading step.this.output', async (t) => {
  const server = await startHttpServer(t, (_request, response) =>
    reply(response, 200, '{"name": "username", "internal": "dropped"}', {
      'content-type': 'application/json',
    }),
  );
  const run = await runYaml(
    store,
    `
name: template-output
description: output template
inputs: [{name: id}]
steps:
  getUser:
    action:
      type: http
      output:
        strategy: template
        format:
          id: "{{input.id}}"
          display: "{{upper step.this.output.name}}"
      configuration:
        method: GET
        url: ${server.url}/user/{{input.id}}
`,
    { input: { id: '1234' } },
  );
  assert.equal(run.document.steps.getUser?.state, 'DONE');
  assert.deepEqual(run.document.steps.getUser?.output, { id: '1234', display: 'USERNAME' });
});

test('an output format that cannot be rendered fails the step FATAL_ERROR "unable to format output", BLOCKED_FATAL', async () => {
  const run = await runYaml(
    store,
    `
name: bad-output-format
description: output templating error
steps:
  stepOne:
    action:
      type: echo
      output:
        strategy: template
        format: {foo2: '{{index step.stepOne.output.foo.unknown 3}}'}
      configuration: {}
`,
  );
  assert.equal(run.document.resolution?.state, 'BLOCKED_FATAL');
  assert.equal(run.document.state, 'BLOCKED');
  assert.equal(run.document.steps.stepOne?.state, 'FATAL_ERROR');
  assert.match(run.document.steps.stepOne?.error ?? '', /^unable to format output: /);
});

test('json_schema validates the output: valid is DONE, invalid FATAL_ERROR; µTask`s version 4 means draft-04', async () => {
  const schema = `
    json_schema:
      version: 4
      type: object
      required: [n]
      properties: {n: {type: integer, maximum: 10, exclusiveMaximum: true}}`;
  const run = await runYaml(
    store,
    `
name: json-schema
description: output validation
steps:
  valid:
    action: {type: echo, configuration: {output: {n: 9}}}${schema}
  atTheLimit:
    action: {type: echo, configuration: {output: {n: 10}}}${schema}
  missing:
    action: {type: echo, configuration: {output: {m: 1}}}${schema}
  after:
    dependencies: [atTheLimit]
    action: {type: echo, configuration: {output: x}}
`,
  );
  assert.deepEqual(statesOf(run.document), {
    valid: 'DONE',
    atTheLimit: 'FATAL_ERROR',
    missing: 'FATAL_ERROR',
    after: 'TODO',
  });
  assert.match(run.document.steps.atTheLimit?.error ?? '', /n/);
  assert.match(run.document.steps.missing?.error ?? '', /required|n/);
  assert.deepEqual(run.document.steps.atTheLimit?.output, { n: 10 }, 'the output is kept');
  assert.equal(run.document.resolution?.state, 'BLOCKED_FATAL');
});

test('README pre_hook: its output is .pre_hook.output, and it runs again on every try (a fresh OTP each time)', async (t) => {
  let otp = 0;
  let posts = 0;
  const server = await startHttpServer(t, (request, response) => {
    if (request.url === '/otp') {
      otp += 1;
      reply(response, 200, `otp-${otp}`, { 'content-type': 'text/plain' });
    } else {
      posts += 1;
      // The first POST meets a server that is down: SERVER_ERROR, retried.
      reply(response, posts === 1 ? 503 : 200, posts === 1 ? 'down' : 'posted');
    }
  });
  const { resolutionId, taskId } = await createFromYaml(
    store,
    `
name: pre-hook
description: OTP before each try
steps:
  doSomeAuthPost:
    pre_hook:
      type: http
      configuration:
        method: "GET"
        url: "${server.url}/otp"
    action:
      type: http
      configuration:
        method: "POST"
        url: "${server.url}/doSomePost"
        headers:
        - name: X-Otp
          value: "{{pre_hook.output}}"
        - name: X-Otp-Status
          value: "{{pre_hook.metadata.HTTPStatus}}"
`,
  );
  const first = await runOnce(store, resolutionId);
  assert.equal(first.state, 'ERROR');
  const second = await runOnce(store, resolutionId);
  assert.equal(second.state, 'DONE');
  assert.deepEqual(
    server.requests.map((request) => [request.method, request.url, request.headers['x-otp'] ?? null]),
    [
      ['GET', '/otp', null],
      ['POST', '/doSomePost', 'otp-1'],
      ['GET', '/otp', null],
      ['POST', '/doSomePost', 'otp-2'],
    ],
  );
  assert.equal(server.requests[3]?.headers['x-otp-status'], '200');
  const { rows } = await store.query<{ state: string }>(`SELECT state FROM task WHERE id = $1`, [taskId]);
  assert.equal(rows[0]?.state, 'DONE');
});

test('a pre_hook that fails puts the step in FATAL_ERROR "prehook: ..." without running the action', async (t) => {
  const server = await startHttpServer(t, (request, response) =>
    reply(response, request.url === '/otp' ? 500 : 200, 'x'),
  );
  const run = await runYaml(
    store,
    `
name: pre-hook-fails
description: pre_hook error
steps:
  post:
    pre_hook:
      type: http
      configuration: {method: GET, url: "${server.url}/otp"}
    action:
      type: http
      configuration: {method: POST, url: "${server.url}/post"}
`,
  );
  assert.equal(run.document.steps.post?.state, 'FATAL_ERROR');
  assert.match(run.document.steps.post?.error ?? '', /^prehook: /);
  assert.equal(run.document.resolution?.state, 'BLOCKED_FATAL');
  assert.deepEqual(
    server.requests.map((request) => request.url),
    ['/otp'],
  );
});

test('README functions: ovh::request signs with function_args, config and its pre_hook`s output', async (t) => {
  const server = await startHttpServer(t, (request, response) =>
    request.url === '/auth/time'
      ? reply(response, 200, '1700000000', { 'content-type': 'text/plain' })
      : reply(response, 200, '{"serviceName": "vps-1"}', { 'content-type': 'application/json' }),
  );
  const functions = await functionLibrary(t, {
    'ovh-request.yaml': `
name: ovh::request
description: Execute a call to the ovh API
pre_hook:
  type: http
  configuration:
    method: "GET"
    url: ${server.url}/auth/time
action:
  type: http
  configuration:
    headers:
    - name: X-Ovh-Signature
      value: '{{printf "$1$%s" (sha1sum (printf "%s+%s+%s+%s%s+%s+%v" config.apiovh.applicationSecret config.apiovh.consumerKey function_args.method config.apiovh.basePath function_args.path function_args.body pre_hook.output))}}'
    - name: X-Ovh-Timestamp
      value: "{{ pre_hook.output }}"
    - name: X-Ovh-Consumer
      value: "{{ config.apiovh.consumerKey }}"
    - name: X-Ovh-Application
      value: "{{ config.apiovh.applicationKey }}"
    method: "{{ function_args.method }}"
    url: "{{config.apiovh.basePath}}{{ function_args.path }}"
    body: "{{ function_args.body }}"
`,
  });
  const config = {
    apiovh: {
      applicationSecret: 'secret',
      consumerKey: 'ck',
      applicationKey: 'ak',
      basePath: `${server.url}/1.0`,
    },
  };
  const run = await runYaml(
    store,
    `
name: ovh-service
description: uses a function
inputs: [{name: path}]
steps:
  getService:
    description: Get Service
    action:
      type: ovh::request
      configuration:
        path: "{{input.path}}"
        method: GET
        body: ""
`,
    { input: { path: '/vps/vps-1' }, functions, config },
  );
  assert.equal(run.document.steps.getService?.state, 'DONE');
  assert.deepEqual(run.document.steps.getService?.output, { serviceName: 'vps-1' });
  const call = server.requests[1];
  assert.equal(call?.method, 'GET');
  assert.equal(call?.url, '/1.0/vps/vps-1');
  const signed = `secret+ck+GET+${server.url}/1.0/vps/vps-1++1700000000`;
  assert.equal(call?.headers['x-ovh-signature'], `$1$${createHash('sha1').update(signed).digest('hex')}`);
  assert.equal(call?.headers['x-ovh-timestamp'], '1700000000');
  assert.equal(call?.headers['x-ovh-consumer'], 'ck');
  assert.equal(call?.headers['x-ovh-application'], 'ak');
});

test('µTask nested functions: base outputs merge innermost first, each function`s check conditions apply in order', async (t) => {
  const functions = await functionLibrary(t, {
    'hello.yaml': `
name: echo::hello::world
action:
  type: echo
  configuration:
    output:
      value: 'Hello {{ function_args.name }} !'
`,
    'nested1.yaml': `
name: echo::hello::nested1
action:
  type: echo::hello::nested2
  base_output:
    base_nested: nested1
    nested1: foo
  configuration:
    name1: '{{ function_args.name }}'
custom_states: [NESTED1_STATE]
conditions:
  - type: check
    if:
        - value: '{{step.this.output.value}}'
          operator: EQ
          expected: 'Hello foobar !'
        - value: '{{step.this.state}}'
          operator: EQ
          expected: 'NESTED2_STATE2'
    then:
        this: NESTED1_STATE
`,
    'nested2.yaml': `
name: echo::hello::nested2
action:
  type: echo::hello::world
  base_output:
    base_nested: nested2
    nested2: foo
    value: test_override
  configuration:
    name: '{{ function_args.name1 }}'
custom_states: [NESTED2_STATE1,NESTED2_STATE2]
conditions:
  - type: check
    if:
        - value: '{{step.this.output.value}}'
          operator: EQ
          expected: 'Hello foobar !'
    then:
        this: NESTED2_STATE1
  - type: check
    if:
        - value: '{{step.this.state}}'
          operator: EQ
          expected: 'NESTED2_STATE1'
    then:
        this: NESTED2_STATE2
`,
  });
  const run = await runYaml(
    store,
    `
name: function-nested
description: nested functions
steps:
  stepOne:
    action:
      type: echo::hello::nested1
      base_output:
        base_output_template: foo
      configuration:
        name: foobar
    custom_states: [CUSTOM_STATE1]
    conditions:
      - type: check
        if:
            - value: '{{step.this.state}}'
              operator: EQ
              expected: 'NESTED1_STATE'
        then:
            this: CUSTOM_STATE1
`,
    { functions },
  );
  assert.deepEqual(run.document.steps.stepOne?.output, {
    value: 'Hello foobar !',
    nested1: 'foo',
    nested2: 'foo',
    base_nested: 'nested2',
    base_output_template: 'foo',
  });
  assert.equal(run.document.steps.stepOne?.state, 'CUSTOM_STATE1');
  assert.equal(run.document.resolution?.state, 'DONE');
});

test('µTask function tests: a function`s pre_hook, templated output and custom state', async (t) => {
  const functions = await functionLibrary(t, {
    'prehook.yaml': `
name: echo::preHook
pre_hook:
  type: echo
  configuration:
    output:
      value: '42'
action:
  type: echo
  configuration:
    output:
      value: 'Hello {{ pre_hook.output.value }} !'
      coalesce: 'Coalesce {{ coalesce pre_hook.output.notExist pre_hook.output.value }}!'
`,
    'templated.yaml': `
name: echo::templated::output
action:
  type: echo
  configuration:
    output:
      value: 'Hello world!'
      name: 'Doe'
      firstname: 'John'
  output:
    strategy: template
    format:
      full_name: "{{ step.this.output.firstname }} {{ step.this.output.name }}"
`,
    'custom.yaml': `
name: echo::custom::state
action:
  type: echo
  configuration:
    output:
      value: 'Hello world!'
custom_states: [STATE_HELLO]
`,
  });
  const run = await runYaml(
    store,
    `
name: functions
description: functions
steps:
  preHook:
    action: {type: echo::preHook}
  templated:
    action: {type: echo::templated::output}
  custom:
    action: {type: echo::custom::state}
  afterCustom:
    dependencies: ['custom:STATE_HELLO']
    action: {type: echo, configuration: {output: ran}}
`,
    { functions },
  );
  assert.deepEqual(run.document.steps.preHook?.output, { value: 'Hello 42 !', coalesce: 'Coalesce 42!' });
  assert.deepEqual(run.document.steps.templated?.output, { full_name: 'John Doe' });
  assert.deepEqual(run.document.steps.custom?.output, { value: 'Hello world!' });
  assert.equal(run.document.steps.custom?.state, 'DONE');
  assert.equal(run.document.steps.afterCustom?.state, 'PRUNE', 'custom:STATE_HELLO never happens: pruned');
});

test('an output template reads pre_hook and function_args as the configuration does (µTask`s preHookValues)', async (t) => {
  const functions = await functionLibrary(t, {
    'greet.yaml': `
name: greet::person
action:
  type: echo
  configuration: {output: {greeting: 'hello {{function_args.name}}'}}
  output:
    strategy: template
    format: {greeting: '{{step.this.output.greeting}}', name: '{{function_args.name}}'}
`,
  });
  const run = await runYaml(
    store,
    `
name: output-template-values
description: pre_hook and function_args in output formats
steps:
  withPreHook:
    pre_hook: {type: echo, configuration: {output: {otp: '123'}}}
    action:
      type: echo
      configuration: {output: {a: 1}}
      output: {strategy: template, format: {otp: '{{pre_hook.output.otp}}', a: '{{step.this.output.a}}'}}
  withFunction:
    action: {type: greet::person, configuration: {name: bob}}
`,
    { functions },
  );
  assert.deepEqual(run.document.steps.withPreHook?.output, { otp: '123', a: '1' });
  assert.deepEqual(run.document.steps.withFunction?.output, { greeting: 'hello bob', name: 'bob' });
});

test('README dependencies: name, name:DONE, name:DONE,ALREADY_EXISTS, name:ANY, name:ALREADY_EXISTS', async () => {
  const yaml = `
name: dependency-forms
description: the ways to depend on step1
inputs: [{name: exists}]
steps:
  step1:
    custom_states: [ALREADY_EXISTS]
    action: {type: echo, configuration: {output: {exists: '{{input.exists}}'}}}
    conditions:
    - type: check
      if: [{value: '{{step.this.output.exists}}', operator: EQ, expected: 'yes'}]
      then: {this: ALREADY_EXISTS}
  plain:
    dependencies: [step1]
    action: {type: echo, configuration: {output: x}}
  done:
    dependencies: ['step1:DONE']
    action: {type: echo, configuration: {output: x}}
  doneOrExists:
    dependencies: ['step1:DONE,ALREADY_EXISTS']
    action: {type: echo, configuration: {output: x}}
  any:
    dependencies: ['step1:ANY']
    action: {type: echo, configuration: {output: x}}
  exists:
    dependencies: ['step1:ALREADY_EXISTS']
    action: {type: echo, configuration: {output: x}}
`;
  const created = await runYaml(store, yaml, { input: { exists: 'no' } });
  assert.deepEqual(statesOf(created.document), {
    step1: 'DONE',
    plain: 'DONE',
    done: 'DONE',
    doneOrExists: 'DONE',
    any: 'DONE',
    exists: 'PRUNE',
  });
  assert.equal(created.document.resolution?.state, 'DONE');
  const existing = await runYaml(store, yaml, { input: { exists: 'yes' } });
  assert.deepEqual(statesOf(existing.document), {
    step1: 'ALREADY_EXISTS',
    plain: 'PRUNE',
    done: 'PRUNE',
    doneOrExists: 'DONE',
    any: 'DONE',
    exists: 'DONE',
  });
  assert.equal(existing.document.resolution?.state, 'DONE');
});

test('µTask prune test: a skip to PRUNE and an impossible custom state prune whole branches', async () => {
  const yaml = `
name: prune-steps
description: prune
inputs: [{name: skipStepOne}]
steps:
  stepOne:
    action: {type: echo, configuration: {output: {value: foo}}}
    conditions:
    - type: skip
      if:
      - value: '{{input.skipStepOne}}'
        operator: EQ
        expected: skip
        message: If input = skip, prune the step
      then:
        this: PRUNE
  stepTwo:
    action: {type: echo, configuration: {output: {state: foo}}}
    custom_states: [CUSTOM_STATE]
  stepThree:
    dependencies: ["stepTwo:CUSTOM_STATE"]
    action: {type: echo, configuration: {output: {foo: bar}}}
  stepFour:
    dependencies: [stepThree]
    action: {type: echo, configuration: {output: {foo: bar}}}
  stepFive:
    dependencies: [stepOne]
    action: {type: echo, configuration: {output: {foo: bar}}}
`;
  const skipped = await runYaml(store, yaml, { input: { skipStepOne: 'skip' } });
  assert.deepEqual(statesOf(skipped.document), {
    stepOne: 'PRUNE',
    stepTwo: 'DONE',
    stepThree: 'PRUNE',
    stepFour: 'PRUNE',
    stepFive: 'PRUNE',
  });
  assert.equal(skipped.document.resolution?.state, 'DONE');
  const ran = await runYaml(store, yaml, { input: { skipStepOne: 'not_skip' } });
  assert.deepEqual(statesOf(ran.document), {
    stepOne: 'DONE',
    stepTwo: 'DONE',
    stepThree: 'PRUNE',
    stepFour: 'PRUNE',
    stepFive: 'DONE',
  });
});

test('README ANY: it matches DONE and custom states, and is not pruned when the step it waits for is', async () => {
  const run = await runYaml(
    store,
    `
name: any-dependency
description: ANY waits for a final state and stops pruning
steps:
  firstStepSuccess:
    action: {type: echo, configuration: {output: {value: foo}}}
  firstStepNotFound:
    action: {type: echo, configuration: {output: {HTTPStatus: "404"}}}
    custom_states: [NOT_FOUND]
    conditions:
    - type: check
      if: [{value: '{{step.this.output.HTTPStatus}}', operator: EQ, expected: 404}]
      then: {this: NOT_FOUND}
  secondStepRunsIfAny:
    dependencies: ['firstStepSuccess:ANY', 'firstStepNotFound:ANY']
    custom_states: [VERY_BAD_ERROR]
    action: {type: echo, configuration: {output: {i_ran_anyway: 'yes'}}}
  thirdStepRunsIfSecondOK:
    dependencies: ['secondStepRunsIfAny']
    action: {type: echo, configuration: {output: {foo: bar}}}
  thirdStepRunsIfSecondKO:
    dependencies: ['secondStepRunsIfAny:VERY_BAD_ERROR']
    action: {type: echo, configuration: {output: {i_will: be_pruned}}}
  fourthStepWillNotBePruned:
    dependencies: ['thirdStepRunsIfSecondOK:ANY', 'thirdStepRunsIfSecondKO:ANY']
    action: {type: echo, configuration: {output: {result: we_made_it}}}
`,
  );
  assert.deepEqual(statesOf(run.document), {
    firstStepSuccess: 'DONE',
    firstStepNotFound: 'NOT_FOUND',
    secondStepRunsIfAny: 'DONE',
    thirdStepRunsIfSecondOK: 'DONE',
    thirdStepRunsIfSecondKO: 'PRUNE',
    fourthStepWillNotBePruned: 'DONE',
  });
  assert.deepEqual(run.document.steps.secondStepRunsIfAny?.output, { i_ran_anyway: 'yes' });
  assert.equal(run.document.resolution?.state, 'DONE');
});

test('README diamond: mutually exclusive branches joined by ANY, their results mixed with coalesce', async () => {
  const yaml = `
name: diamond
description: crossroads then reconcile
inputs: [{name: found}]
steps:
  lookup:
    custom_states: [MISSING]
    action: {type: echo, configuration: {output: {found: '{{input.found}}'}}}
    conditions:
    - type: check
      if: [{value: '{{step.this.output.found}}', operator: EQ, expected: 'no'}]
      then: {this: MISSING}
  create:
    dependencies: ['lookup:MISSING']
    action: {type: echo, configuration: {output: {id: created-1}}}
  reuse:
    dependencies: [lookup]
    action: {type: echo, configuration: {output: {id: existing-1}}}
  report:
    dependencies: ['create:ANY', 'reuse:ANY']
    action: {type: echo, configuration: {output: {id: '{{coalesce step.create.output.id step.reuse.output.id}}'}}}
`;
  const missing = await runYaml(store, yaml, { input: { found: 'no' } });
  assert.deepEqual(statesOf(missing.document), {
    lookup: 'MISSING',
    create: 'DONE',
    reuse: 'PRUNE',
    report: 'DONE',
  });
  assert.deepEqual(missing.document.steps.report?.output, { id: 'created-1' });
  const found = await runYaml(store, yaml, { input: { found: 'yes' } });
  assert.deepEqual(statesOf(found.document), {
    lookup: 'DONE',
    create: 'PRUNE',
    reuse: 'DONE',
    report: 'DONE',
  });
  assert.deepEqual(found.document.steps.report?.output, { id: 'existing-1' });
});

test('µTask indirect dependencies: ANY waits until the whole chain above is final', async () => {
  const run = await runYaml(
    store,
    `
name: indirect-dependencies
description: Indirect dependencies must be verified
steps:
  stepOne:
    action: {type: echo, configuration: {output: {}}}
    conditions:
    - type: check
      if: [{value: '1', operator: EQ, expected: '1'}]
      then: {stepThree: PRUNE}
  stepTwo:
    dependencies: [stepOne]
    action: {type: echo, configuration: {output: {}}}
    conditions:
    - type: check
      if: [{value: '1', operator: EQ, expected: '1'}]
      then: {this: FATAL_ERROR}
  stepThree:
    dependencies: [stepTwo]
    action: {type: echo, configuration: {output: {}}}
  stepFour:
    dependencies: ['stepThree:ANY']
    action: {type: echo, configuration: {output: {}}}
`,
  );
  assert.deepEqual(statesOf(run.document), {
    stepOne: 'DONE',
    stepTwo: 'FATAL_ERROR',
    stepThree: 'PRUNE',
    stepFour: 'TODO',
  });
  assert.equal(run.document.resolution?.state, 'BLOCKED_FATAL');
});

test('README loops: prefixStrings runs once per item; its children (in order) feed a second foreach', async () => {
  const run = await runYaml(
    store,
    `
name: loops
description: chained foreach
steps:
  prefixStrings:
    description: Process a collection of strings, adding a prefix
    foreach: '[{"id":"a"},{"id":"b"},{"id":"c"}]'
    action:
      type: echo
      configuration:
        output:
          prefixed: pre-{{iterator.id}}
  suffixStrings:
    dependencies: [prefixStrings]
    foreach: '{{toJson step.prefixStrings.children}}'
    action:
      type: echo
      configuration:
        output:
          both: '{{iterator.output.prefixed}}-suf'
`,
  );
  assert.deepEqual(statesOf(run.document), { prefixStrings: 'DONE', suffixStrings: 'DONE' });
  assert.deepEqual(run.document.steps.prefixStrings?.children, [
    { output: { prefixed: 'pre-a' }, metadata: { iterator: { id: 'a' } }, state: 'DONE' },
    { output: { prefixed: 'pre-b' }, metadata: { iterator: { id: 'b' } }, state: 'DONE' },
    { output: { prefixed: 'pre-c' }, metadata: { iterator: { id: 'c' } }, state: 'DONE' },
  ]);
  const children = run.document.steps.suffixStrings?.children as { output: unknown }[];
  assert.deepEqual(
    children.map((child) => child.output),
    [{ both: 'pre-a-suf' }, { both: 'pre-b-suf' }, { both: 'pre-c-suf' }],
  );
});

test('README custom states: a plugin ending in a declared custom state unlocks the steps waiting for it', async () => {
  await registerFixture(store, 'custom-state', 'custom-state.sh');
  const run = await runYaml(
    store,
    `
name: custom-states
description: a plugin's custom state
steps:
  provision:
    custom_states: [ALREADY_DONE]
    action: {type: custom-state}
  onAlreadyDone:
    dependencies: ['provision:ALREADY_DONE']
    action: {type: echo, configuration: {output: '{{step.provision.state}}'}}
  onDone:
    dependencies: [provision]
    action: {type: echo, configuration: {output: x}}
`,
  );
  assert.deepEqual(statesOf(run.document), {
    provision: 'ALREADY_DONE',
    onAlreadyDone: 'DONE',
    onDone: 'PRUNE',
  });
  assert.deepEqual(run.document.steps.provision?.output, { changed: false });
  assert.equal(run.document.steps.onAlreadyDone?.output, 'ALREADY_DONE');
});

test('µTask RETRY_NOW (fibonacci): check conditions re-run steps at once, each try reading its previous output', async () => {
  const run = await runYaml(
    store,
    `
name: retry-now-state
description: generate and format a list of the first N fibonacci numbers
inputs:
- name: 'N'
  description: how many numbers to generate
  type: number
  regex: '\\d+'
- name: separator
  description: what to put between the numbers
  type: string
  default: ', '
steps:
  fibonacci:
    description: generate the list
    max_retries: -1
    conditions:
    - type: check
      if:
      - value: '{{ len (fromJson step.this.output.list) }}'
        operator: LE
        expected: '{{ input.N }}'
      then:
        this: RETRY_NOW
    action:
      type: echo
      configuration:
        output:
          tail0: '{{ default "0" step.this.output.tail1 }}'
          tail1: '{{ default "1" (add step.this.output.tail0 step.this.output.tail1) }}'
          list: '{{ toJson (append (fromJson (default "[]" step.this.output.list)) (default "0" step.this.output.tail1)) }}'
  join:
    description: join the numbers using the separator
    dependencies: [fibonacci]
    conditions:
    - type: check
      if:
      - value: '{{ len (fromJson step.this.output.list) }}'
        operator: GT
        expected: 1
      then:
        this: RETRY_NOW
    action:
      type: echo
      configuration:
        output:
          list: '{{ toJson (rest (fromJson (default step.fibonacci.output.list step.this.output.list))) }}'
          str: '{{ default (first (fromJson step.fibonacci.output.list)) step.this.output.str }}{{ input.separator }}{{ first (rest (fromJson (default step.fibonacci.output.list step.this.output.list))) }}'
`,
    { input: { N: 12, separator: ' sep ' } },
  );
  assert.equal(run.document.resolution?.state, 'DONE');
  assert.deepEqual(statesOf(run.document), { fibonacci: 'DONE', join: 'DONE' });
  assert.equal(
    (run.document.steps.join?.output as { str: string }).str,
    '0 sep 1 sep 1 sep 2 sep 3 sep 5 sep 8 sep 13 sep 21 sep 34 sep 55 sep 89 sep 144',
  );
  assert.equal(run.document.steps.fibonacci?.try_count, 13);
});

test('README inputs: type, collection, optional, default, legal_values and regex are applied at creation', async () => {
  const yaml = `
name: inputs
description: every input property
inputs:
- {name: quantity, type: number}
- {name: enabled, type: bool}
- {name: tags, collection: true}
- {name: note, optional: true}
- {name: color, default: blue, legal_values: [red, blue]}
- {name: code, regex: '[A-Z]{3}-\\d+'}
- {name: empty, type: string, optional: true, default: ""}
steps:
  show:
    action:
      type: echo
      configuration:
        output:
          quantity: '{{input.quantity}}'
          double: '{{mul input.quantity 2}}'
          enabled: '{{ternary "on" "off" input.enabled}}'
          tags: '{{join "+" input.tags}}'
          note: '{{default "none" input.note}}'
          color: '{{input.color}}'
          code: '{{input.code}}'
          empty: '{{input.empty}}'
`;
  const run = await runYaml(store, yaml, {
    input: { quantity: '21', enabled: 'true', tags: ['a', 'b'], code: 'ABC-12', undeclared: 'dropped' },
  });
  assert.deepEqual(run.document.steps.show?.output, {
    quantity: '21',
    double: '42',
    enabled: 'on',
    tags: 'a+b',
    note: 'none',
    color: 'blue',
    code: 'ABC-12',
    empty: '',
  });
  assert.deepEqual(run.document.input, {
    quantity: 21,
    enabled: true,
    tags: ['a', 'b'],
    color: 'blue',
    code: 'ABC-12',
    empty: '',
  });
  const valid = { quantity: 1, enabled: false, tags: 'x', code: 'ABC-1' };
  for (const [field, bad] of [
    ['quantity', 'lots'],
    ['enabled', 'maybe'],
    ['color', 'green'],
    ['code', 'abc-1'],
    ['code', 'ABC-1 and more'],
  ] as const) {
    await assert.rejects(
      createFromYaml(store, yaml, { input: { ...valid, [field]: bad } }),
      (error: Error & { code?: string }) =>
        error.code === 'TH_TASK_INPUT_INVALID' && error.message.includes(`input.${field}`),
      `${field}: ${bad}`,
    );
  }
  const { quantity: _quantity, ...withoutQuantity } = valid;
  await assert.rejects(createFromYaml(store, yaml, { input: withoutQuantity }), {
    code: 'TH_TASK_INPUT_INVALID',
    message: 'input.quantity: missing (required by the template)',
  });
});

test('README resolver inputs: values given by the resolver are .resolver_input', async () => {
  const yaml = `
name: resolver-inputs
description: resolver inputs
resolver_inputs:
- {name: approver}
- {name: reason, optional: true, default: none given}
steps:
  approve:
    action: {type: echo, configuration: {output: '{{resolver_input.approver}}: {{resolver_input.reason}}'}}
`;
  const run = await runYaml(store, yaml, { resolverInput: { approver: 'alice' } });
  assert.equal(run.document.steps.approve?.output, 'alice: none given');
  await assert.rejects(createFromYaml(store, yaml, { resolverInput: {} }), {
    code: 'TH_TASK_INPUT_INVALID',
    message: 'resolver_input.approver: missing (required by the template)',
  });
});

test('µTask variables: a value, a JavaScript expression, a templated value, eval and evalCache', async () => {
  const run = await runYaml(
    store,
    `
name: variable-eval
description: Variable evaluation
inputs: [{name: n, type: number}]
variables:
- name: truc
  expression: >
    2 + 2; // javascript
- name: bidule
  value: 5
- name: templated
  value: 'Hello {{ toString "World" }}!'
- name: expressionCached
  expression: >
    4 + 2; // javascript
- name: fromInput
  expression: "{{input.n}} * 3"
steps:
  renderVariables:
    action:
      type: echo
      configuration:
        output:
          truc: '{{eval "truc"}}'
          bidule: '{{eval "bidule"}}'
          templated: '{{eval "templated"}}'
          cached: '{{evalCache "expressionCached"}}'
          fromInput: '{{eval "fromInput"}}'
  renderVariablesWithCache:
    dependencies: [renderVariables]
    action:
      type: echo
      configuration:
        output:
          cached: '{{evalCache "expressionCached"}}'
`,
    { input: { n: 7 } },
  );
  assert.deepEqual(run.document.steps.renderVariables?.output, {
    truc: '4',
    bidule: '5',
    templated: 'Hello World!',
    cached: '6',
    fromInput: '21',
  });
  assert.deepEqual(run.document.steps.renderVariablesWithCache?.output, { cached: '6' });
});

test('evalCache evaluates a variable once per run, eval at each use (a RETRY_NOW loop sees the difference)', async () => {
  const run = await runYaml(
    store,
    `
name: eval-cache
description: cache versus live
variables:
- name: previous
  expression: "{{default 0 step.counter.output.n}} + 0"
steps:
  counter:
    max_retries: -1
    action:
      type: echo
      configuration:
        output:
          n: '{{add1 (default 0 step.this.output.n)}}'
          live: '{{eval "previous"}}'
          cached: '{{evalCache "previous"}}'
    conditions:
    - type: check
      if: [{value: '{{step.this.output.n}}', operator: LT, expected: '3'}]
      then: {this: RETRY_NOW}
`,
  );
  assert.equal(run.document.steps.counter?.state, 'DONE');
  assert.deepEqual(run.document.steps.counter?.output, { n: '3', live: '2', cached: '0' });
});

test('µTask JSON tests: large numbers stay integers, JSON from an expression is read with fromJson, toJson quotes', async () => {
  const multiline = 'Un,\n\tDeux,\n\tTrois,\n\tSoleil!';
  const run = await runYaml(
    store,
    `
name: json-values
description: numbers and JSON through templates
inputs:
- {name: singleString}
- {name: multilineString}
variables:
- name: largeNumber
  value: 12345678912345
- name: rawJSON
  expression: >
    var o = {"a":"utask","b":666,"c":{"k":"v"},"d":["1","2","3"]};
    JSON.stringify(o);
steps:
  simpleStep:
    action: {type: echo, configuration: {output: {path: '/some/api/path/{{ eval "largeNumber" }}'}}}
  listStep:
    action:
      type: echo
      configuration:
        output:
          - id: 1619464078
          - id: 1619464079
  loopStep:
    dependencies: [listStep]
    foreach: '{{toJson step.listStep.output}}'
    action: {type: echo, configuration: {output: '/id/{{iterator.id}}'}}
  parsing:
    action:
      type: echo
      configuration:
        output:
          a: '{{lookup (fromJson (eval "rawJSON")) "a"}}'
          b: '{{lookup (mustFromJson (eval "rawJSON")) "b"}}'
          c: '{{lookup (mustFromJson (eval "rawJSON")) "c"}}'
          d: '{{lookup (fromJson (eval "rawJSON")) "d"}}'
  templating:
    action:
      type: echo
      configuration:
        output:
          raw-multiline: "{{input.multilineString}}"
          raw-single: "{{input.singleString}}"
          my-json-body: >
            {
              "single": "{{input.singleString}}",
              "singleMarshalled": {{toJson input.singleString}},
              "multiline": {{toJson input.multilineString}}
            }
`,
    { input: { singleString: 'hello', multilineString: multiline } },
  );
  assert.equal(run.document.resolution?.state, 'DONE');
  assert.deepEqual(run.document.steps.simpleStep?.output, { path: '/some/api/path/12345678912345' });
  const children = run.document.steps.loopStep?.children as { output: unknown }[];
  assert.deepEqual(
    children.map((child) => child.output),
    ['/id/1619464078', '/id/1619464079'],
  );
  assert.deepEqual(run.document.steps.parsing?.output, { a: 'utask', b: '666', c: 'map[k:v]', d: '[1 2 3]' });
  const templated = run.document.steps.templating?.output as Record<string, string>;
  assert.equal(templated['raw-multiline'], multiline);
  assert.equal(templated['raw-single'], 'hello');
  assert.deepEqual(JSON.parse(templated['my-json-body'] ?? ''), {
    single: 'hello',
    singleMarshalled: 'hello',
    multiline,
  });
});

test('README value templating: every root and the field helper', async (t) => {
  const server = await startHttpServer(t, (_request, response) =>
    reply(response, 418, '{"teapot": true}', { 'content-type': 'application/json' }),
  );
  const run = await runYaml(
    store,
    `
name: roots
description: every root of the value model
inputs: [{name: who}]
resolver_inputs: [{name: why}]
steps:
  teapot:
    custom_states: [TEAPOT]
    action: {type: http, configuration: {method: GET, url: '${server.url}/tea'}}
    conditions:
    - type: check
      if: [{value: '{{step.this.metadata.HTTPStatus}}', operator: EQ, expected: '418'}]
      then: {this: TEAPOT}
      message: short and stout
  loop:
    foreach: '["x","y"]'
    action: {type: echo, configuration: {output: '{{iterator}}!'}}
  roots:
    dependencies: ['teapot:TEAPOT', loop]
    action:
      type: echo
      configuration:
        output:
          input: '{{input.who}}'
          resolver_input: '{{resolver_input.why}}'
          output: '{{step.teapot.output.teapot}}'
          metadata: '{{step.teapot.metadata.HTTPStatus}}'
          error: '{{step.teapot.error}}'
          state: '{{step.teapot.state}}'
          children: '{{len step.loop.children}} {{lookup (index step.loop.children 1) "output"}}'
          config: '{{config.team.name}}'
          field: '{{field "config" "dotted.key" "bar"}}'
          task: '{{task.requester_username}}|{{task.task_id}}|{{task.resolution_id}}'
`,
    {
      input: { who: 'bob' },
      resolverInput: { why: 'because' },
      config: { team: { name: 'core' }, 'dotted.key': { bar: 'dotted' } },
    },
  );
  assert.deepEqual(statesOf(run.document), { teapot: 'TEAPOT', loop: 'DONE', roots: 'DONE' });
  assert.deepEqual(run.document.steps.roots?.output, {
    input: 'bob',
    resolver_input: 'because',
    output: 'true',
    metadata: '418',
    error: 'short and stout',
    state: 'TEAPOT',
    children: '2 y!',
    config: 'core',
    field: 'dotted',
    task: `tester|${run.taskId}|${run.resolutionId}`,
  });
});
