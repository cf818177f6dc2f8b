import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compiledCacheSize } from '../../../src/template/compile.ts';
import {
  checkTemplateText,
  isRenderError,
  RenderError,
  renderJson,
  renderString,
  renderValue,
  type ValueContext,
} from '../../../src/template/render.ts';

/** SPEC section 5: µTask's value model over Handlebars, and the API the engine calls. */

const context: ValueContext = {
  input: { id: '1234', count: 3, tags: ['a', 'b'], flag: true },
  resolver_input: { ssh_key: 'ssh-ed25519 AAA' },
  step: {
    getUser: {
      output: { name: 'username', list: [1, 2] },
      metadata: { HTTPStatus: 404 },
      state: 'NOT_FOUND',
      error: '',
    },
    loop: { children: [{ output: { foo: 'x' }, state: 'DONE' }], state: 'DONE' },
    failing: { error: 'boom', state: 'SERVER_ERROR' },
  },
  config: { apiovh: { basePath: 'https://eu.api.ovh.com/1.0' } },
  iterator: { id: 'b' },
  pre_hook: { output: 'otp-123', metadata: { HTTPStatus: 200 } },
  function_args: { name: 'Alice' },
  task: {
    task_id: 't-1',
    resolution_id: 'r-1',
    requester_username: 'alice',
    requester_groups: ['ops'],
    resolver_username: 'bob',
    created: '2024-05-01T10:00:00Z',
    region: 'eu',
    watcher_usernames: ['carol'],
    watcher_groups: [],
  },
};

test('every root of the value model renders', async () => {
  const cases: [string, string][] = [
    ['{{input.id}}', '1234'],
    ['{{resolver_input.ssh_key}}', 'ssh-ed25519 AAA'],
    [
      '{{step.getUser.output.name}} {{step.getUser.metadata.HTTPStatus}} {{step.getUser.state}}',
      'username 404 NOT_FOUND',
    ],
    ['{{step.failing.error}}', 'boom'],
    [
      '{{lookup (index step.loop.children 0) "state"}} {{toJson step.loop.children}}',
      'DONE [{"output":{"foo":"x"},"state":"DONE"}]',
    ],
    ['{{config.apiovh.basePath}}', 'https://eu.api.ovh.com/1.0'],
    ['{{iterator.id}}', 'b'],
    ['{{pre_hook.output}} {{pre_hook.metadata.HTTPStatus}}', 'otp-123 200'],
    ['{{function_args.name}}', 'Alice'],
    [
      '{{task.task_id}} {{task.resolution_id}} {{task.requester_username}} {{task.requester_groups}} {{task.resolver_username}} {{task.region}} {{task.watcher_usernames}} {{task.watcher_groups}}',
      't-1 r-1 alice [ops] bob eu [carol] []',
    ],
    ['{{date "2006-01-02" task.created}}', '2024-05-01'],
  ];
  for (const [template, expected] of cases) {
    assert.equal(await renderString(template, context), expected, template);
  }
});

test('step.this is the current step, written as µTask writes it or as Handlebars would', async () => {
  const options = { step: 'getUser' };
  assert.equal(await renderString('{{step.this.output.name}}', context, options), 'username');
  assert.equal(await renderString('{{step.[this].metadata.HTTPStatus}}', context, options), '404');
  assert.equal(await renderString('{{step/this/state}}', context, options), 'NOT_FOUND');
  assert.equal(await renderString('{{index step "this" "output" "name"}}', context, options), 'username');
  assert.equal(await renderString('{{len step.this.output.list}}', context, options), '2');
  assert.equal(
    await renderString('{{#each step.this.output.list}}{{this}},{{/each}}', context, options),
    '1,2,',
    '`this` alone keeps its Handlebars meaning',
  );
  assert.equal(
    await renderString('{{"step.this.x"}}', context, options),
    'step.this.x',
    'string literals are left alone',
  );
  assert.equal(
    await renderString('{{step.this.output.name}}', context),
    '',
    'no current step: nothing there',
  );
  assert.equal(context.step?.this, undefined, 'the context is not changed');
});

test("a missing value renders empty, never Go's <no value>", async () => {
  assert.equal(
    await renderString('[{{input.nope}}][{{step.nope.output.x}}][{{nope}}][{{input.id.deeper}}]', context),
    '[][][][]',
  );
  assert.equal(await renderString('[{{pre_hook.output}}]', {}), '[]');
  assert.equal(await renderString('{{input.x}}', { input: { x: null } }), '');
});

test('values print as Go prints them (µTask jsonParsing: map[k:v], [1 2 3]), literals as themselves', async () => {
  const values = {
    input: { m: { k: 'v', a: [1, 'x', true, null] }, l: ['1', '2', '3'], n: 666, f: 1.5, b: false },
  };
  assert.equal(
    await renderString('{{input.m}}|{{input.l}}|{{input.n}}|{{input.f}}|{{input.b}}', values),
    'map[a:[1 x true <nil>] k:v]|[1 2 3]|666|1.5|false',
  );
  assert.equal(await renderString('{{"x"}}{{1}}{{true}}', values), 'x1true');
  assert.equal(await renderString('<{{input.m.k}}> & "q"', values), '<v> & "q"', 'noEscape');
});

test('renderValue renders every string of a nested configuration and keeps the rest', async () => {
  const configuration = {
    url: 'http://directory/user/{{input.id}}',
    method: 'GET',
    timeout: 30,
    follow: true,
    nothing: null,
    headers: [{ name: 'X-Otp', value: '{{pre_hook.output}}' }, 'plain', 7],
    body: { nested: { deeper: ['{{input.count}}', { '{{input.id}}': '{{iterator.id}}' }] } },
    json: '{"id": {{toJson input.id}}, "tags": {{toJson input.tags}}}',
  };
  const before = structuredClone(configuration);
  const rendered = await renderValue(configuration, context);
  assert.deepEqual(rendered, {
    url: 'http://directory/user/1234',
    method: 'GET',
    timeout: 30,
    follow: true,
    nothing: null,
    headers: [{ name: 'X-Otp', value: 'otp-123' }, 'plain', 7],
    body: { nested: { deeper: ['3', { '{{input.id}}': 'b' }] } },
    json: '{"id": "1234", "tags": ["a","b"]}',
  });
  assert.deepEqual(configuration, before, 'the input value is not changed');
  assert.equal(typeof (rendered as { json: unknown }).json, 'string', 'rendered JSON stays a string');
  assert.equal(await renderValue('{{input.id}}', context), '1234');
  assert.equal(await renderValue(42, context), 42);
});

test('a rendering error is a one-line RenderError naming the path and the expression', async () => {
  const expectError = async (
    template: string,
    options: { path?: string },
    pattern: RegExp,
  ): Promise<void> => {
    await assert.rejects(renderString(template, context, options), (error: unknown) => {
      assert.ok(isRenderError(error) && error instanceof RenderError, String(error));
      assert.match(error.message, pattern);
      assert.doesNotMatch(error.message, /\n|\s+at \S+ \(/);
      return true;
    });
  };
  const path = { path: 'steps.fetch.action.configuration.url' };
  await expectError(
    'x {{index input.tags 5}} y',
    path,
    /^steps\.fetch\.action\.configuration\.url: \{\{index input\.tags 5\}\}: error calling index: index out of range: 5$/,
  );
  await expectError(
    '{{index input.nope "a"}}',
    {},
    /^\{\{index input\.nope "a"\}\}: error calling index: index of untyped nil$/,
  );
  await expectError('{{upper (nosuch 1)}}', path, /: \{\{upper \(nosuch 1\)\}\}: unknown helper "nosuch"$/);
  await expectError(
    '{{add 1 (div 1 0)}}',
    {},
    /^\{\{add 1 \(div 1 0\)\}\}: error calling div: runtime error: integer divide by zero$/,
  );
  await expectError('{{trimPrefix "a"}}', {}, /wrong number of args for trimPrefix: want 2 got 1$/);
  await expectError('{{fail "stop here"}}', {}, /error calling fail: stop here$/);
  await expectError('{{eq "1" 1}}', {}, /incompatible types for comparison/);
  await expectError('{{lt true false}}', {}, /invalid type for comparison/);
  await expectError('{{first "abc"}}', {}, /error calling first: Cannot find first on type string/);
  await expectError('{{mustFromJson "{"}}', {}, /error calling mustFromJson: /);
  await expectError('{{regexFind "(" "x"}}', {}, /error calling regexFind: error parsing regexp/);
  await expectError(
    '{{#if (eq input.id 1)}}x{{/if}}',
    {},
    /^\{\{#if \(eq input\.id 1\)\}\}: error calling eq: incompatible types/,
  );
  await expectError(
    '{{input.id',
    path,
    /^steps\.fetch\.action\.configuration\.url: syntax error: Parse error on line 1/,
  );
  await expectError(
    'a\n{{#each input.tags}}\n{{len 1}}\n{{/each}}',
    {},
    /^\{\{len 1\}\}: error calling len: len of type int$/,
  );
  await assert.rejects(
    renderValue({ a: [{ b: '{{len nope}}' }] }, context, { path: 'steps.s.action.configuration' }),
    /^RenderError: steps\.s\.action\.configuration\.a\[0\]\.b: \{\{len nope\}\}: error calling len: len of nil pointer$/,
  );
});

test('renderJson decodes what µTask decodes (foreach), and names a text that is not JSON', async () => {
  assert.deepEqual(await renderJson('{{toJson step.loop.children}}', context), [
    { output: { foo: 'x' }, state: 'DONE' },
  ]);
  assert.deepEqual(await renderJson('[{"id":"a"},{"id":"{{iterator.id}}"}]', context), [
    { id: 'a' },
    { id: 'b' },
  ]);
  await assert.rejects(
    renderJson('{{input.tags}}', context, { path: 'steps.loop.foreach' }),
    /^RenderError: steps\.loop\.foreach: rendered "\[a b\]", which is not JSON: /,
  );
});

test('checkTemplateText reports syntax errors and unknown helpers without rendering', () => {
  assert.equal(checkTemplateText('plain'), undefined);
  assert.equal(
    checkTemplateText('{{input.x}} {{add 1 2}} {{#each l as |item|}}{{item}}{{/each}}'),
    undefined,
  );
  assert.match(checkTemplateText('{{nosuch 1 2}}') ?? '', /^\{\{nosuch 1 2\}\}: unknown helper "nosuch"$/);
  assert.match(checkTemplateText('{{#if x}}') ?? '', /^syntax error: /);
});

test('compiled templates are cached by text, within a bound', async () => {
  for (let i = 0; i < 1_100; i++) await renderString(`{{input.id}}-${i}`, context);
  assert.ok(compiledCacheSize() <= 1_000, String(compiledCacheSize()));
  assert.equal(await renderString('{{input.id}}-1099', context), '1234-1099');
});

test('µTask examples: coalesce across branches, default with add, field, retry counters', async () => {
  const values: ValueContext = {
    step: { a: { output: {} }, b: { output: { value: 'from b' } } },
    pre_hook: { output: { value: 'v' } },
  };
  assert.equal(
    await renderString('Coalesce {{ coalesce pre_hook.output.notExist pre_hook.output.value }}!', values),
    'Coalesce v!',
  );
  assert.equal(await renderString('{{coalesce step.a.output.value step.b.output.value}}', values), 'from b');
  assert.equal(
    await renderString(
      '{{ add (default 0 step.this.output) 1 }}',
      { step: { s: { output: 2 } } },
      { step: 's' },
    ),
    '3',
  );
  assert.equal(
    await renderString('{{ add (default 0 step.this.output) 1 }}', { step: { s: {} } }, { step: 's' }),
    '1',
  );
  assert.equal(
    await renderString(
      '{{ toJson (append (fromJson (default "[]" step.this.output.list)) (default "0" step.this.output.tail1)) }}',
      { step: { fib: { output: { list: '["0","1"]', tail1: '1' } } } },
      { step: 'fib' },
    ),
    '["0","1","1"]',
  );
  await assert.rejects(renderString('{{.input.x}}', {}), /syntax error: .*written \{\{input\.x\}\} here/);
  assert.equal(await renderString('{"a": {{toJson input.x}}}', { input: { x: [1] } }), '{"a": [1]}');
  assert.equal(await renderString('{{{input.x}}}', { input: { x: '<b>' } }), '<b>');
});
