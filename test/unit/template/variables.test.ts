import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createEvalCache,
  renderString,
  renderValue,
  type ValueContext,
  type Variable,
} from '../../../src/template/render.ts';

/** Template variables through eval and evalCache, as µTask's variables.yaml and jsonParsing.yaml use them. */

function withVariables(variables: Variable[], rest: ValueContext = {}): ValueContext {
  return { ...rest, variables };
}

test("µTask's variables.yaml: expressions, fixed values, templated values, cached expressions", async () => {
  const context = withVariables([
    { name: 'truc', expression: '2 + 2; // javascript\n' },
    { name: 'bidule', value: 5 },
    { name: 'templated', value: 'Hello {{ "World" }}!' },
    { name: 'expressionCached', expression: '4 + 2; // javascript\n' },
  ]);
  const output = await renderValue(
    {
      truc: '{{eval "truc"}}',
      bidule: '{{eval "bidule"}}',
      templated: '{{eval "templated"}}',
      cached: '{{evalCache "expressionCached"}}',
    },
    context,
  );
  assert.deepEqual(output, { truc: '4', bidule: '5', templated: 'Hello World!', cached: '6' });
});

test("µTask's jsonParsing.yaml and rawb64EncodingDecoding.yaml, pipes rewritten", async () => {
  const context = withVariables([
    {
      name: 'rawJSON',
      expression: 'var o = {"a":"utask","b":666,"c":{"k":"v"},"d":["1","2","3"]};\nJSON.stringify(o);\n',
    },
    { name: 'rawDecoded', expression: '"raw message";' },
    { name: 'rawEncoded', expression: '"cmF3IG1lc3NhZ2U";' },
  ]);
  const output = await renderValue(
    {
      a: '{{lookup (fromJson (eval "rawJSON")) "a"}}',
      b: '{{lookup (mustFromJson (eval "rawJSON")) "b"}}',
      c: '{{lookup (mustFromJson (eval "rawJSON")) "c"}}',
      d: '{{lookup (fromJson (eval "rawJSON")) "d"}}',
      e: '{{b64RawEnc (eval "rawDecoded")}}',
      f: '{{b64RawDec (eval "rawEncoded")}}',
    },
    context,
  );
  assert.deepEqual(output, {
    a: 'utask',
    b: '666',
    c: 'map[k:v]',
    d: '[1 2 3]',
    e: 'cmF3IG1lc3NhZ2U',
    f: 'raw message',
  });
});

test('an expression is rendered first, then sees the value roots as plain JSON', async () => {
  const context = withVariables(
    [
      { name: 'templatedExpression', expression: '{{input.count}} * 2' },
      {
        name: 'roots',
        expression:
          'input.count + step.this.output.list.length + " " + task.requester_username + " " + config.x.y',
      },
      { name: 'absent', expression: 'typeof iterator + " " + typeof pre_hook' },
      { name: 'structured', expression: 'JSON.stringify(step.fetch.output)' },
    ],
    {
      input: { count: 21 },
      step: { fetch: { output: { list: [1, 2, 3] } } },
      task: { requester_username: 'alice' },
      config: { x: { y: 'z' } },
    },
  );
  const options = { step: 'fetch' };
  assert.equal(await renderString('{{eval "templatedExpression"}}', context, options), '42');
  assert.equal(await renderString('{{eval "roots"}}', context, options), '24 alice z');
  assert.equal(await renderString('{{eval "absent"}}', context, options), 'undefined undefined');
  assert.equal(
    await renderString('{{lookup (fromJson (eval "structured")) "list"}}', context, options),
    '[1 2 3]',
  );
});

test('evalCache evaluates once per resolution run (the cache passed in); eval at each use', async () => {
  const variables: Variable[] = [{ name: 'double', expression: 'input.n * 2' }];
  const run = createEvalCache();
  assert.equal(
    await renderString('{{evalCache "double"}}', withVariables(variables, { input: { n: 1 } }), {
      evalCache: run,
    }),
    '2',
  );
  const later = withVariables(variables, { input: { n: 5 } });
  assert.equal(
    await renderString('{{evalCache "double"}}', later, { evalCache: run }),
    '2',
    'the cached result, not re-evaluated',
  );
  assert.equal(run.get('double'), '2');
  assert.equal(
    await renderString('{{eval "double"}}', later, { evalCache: run }),
    '10',
    'eval evaluates at each use',
  );
  assert.equal(
    await renderString('{{evalCache "double"}}', later, { evalCache: createEvalCache() }),
    '10',
    'another run evaluates again',
  );
  assert.equal(
    await renderString('{{evalCache "double"}}', later),
    '10',
    'without a cache given, one render call is one run',
  );
});

test('Math.random differs between evaluations (QuickJS would seed two quick contexts alike)', async () => {
  const context = withVariables([{ name: 'random', expression: 'String(Math.random())' }]);
  const drawn = (await renderString('{{eval "random"}}|{{eval "random"}}|{{eval "random"}}', context)).split(
    '|',
  );
  assert.equal(new Set(drawn).size, 3, drawn.join(' '));
  for (const value of drawn) assert.ok(Number(value) >= 0 && Number(value) < 1, value);
});

test('variables referring to variables, and the errors of variables', async () => {
  const context = withVariables([
    { name: 'base', value: 'svc' },
    { name: 'url', value: 'https://{{eval "base"}}.example' },
    { name: 'loop', expression: 'while (true) {}', expression_timeout: '100ms' },
    { name: 'bomb', expression: 'var a = []; for (;;) a.push(new Uint8Array(1e6));' },
    { name: 'deep', expression: 'function f(n) { return f(n + 1) + 1; } f(0)' },
    { name: 'self', value: '{{eval "other"}}' },
    { name: 'other', value: '{{eval "self"}}' },
    { name: 'badTimeout', expression: '1', expression_timeout: 'soon' },
    { name: 'thrower', expression: 'throw new TypeError("nope")' },
    { name: 'host', expression: 'eval("process.exit(1)")' },
    { name: 'badTemplate', value: '{{add}} {{nosuch 1}}' },
  ]);
  const failure = async (template: string): Promise<string> =>
    renderString(template, context, { path: 'steps.s.action.configuration.x' }).then(
      (value) => `rendered: ${value}`,
      (error: Error) => error.message,
    );
  assert.equal(await renderString('{{eval "url"}}', context), 'https://svc.example');
  assert.equal(
    await failure('{{eval "loop"}}'),
    'steps.s.action.configuration.x: {{eval "loop"}}: error calling eval: variable loop: expression timed out after 100 ms',
  );
  assert.equal(
    await failure('{{evalCache "bomb"}}'),
    'steps.s.action.configuration.x: {{evalCache "bomb"}}: error calling evalCache: variable bomb: expression exceeded its memory limit of 32 MiB',
  );
  assert.match(await failure('{{eval "deep"}}'), /variable deep: expression exceeded its stack limit/);
  assert.match(await failure('{{eval "self"}}'), /variable self refers to itself \(self → other → self\)$/);
  assert.match(
    await failure('{{eval "badTimeout"}}'),
    /variable badTimeout: invalid expression_timeout "soon": time: invalid duration "soon"$/,
  );
  assert.match(await failure('{{eval "thrower"}}'), /variable thrower: expression failed: TypeError: nope$/);
  assert.match(
    await failure('{{eval "host"}}'),
    /variable host: expression failed: ReferenceError: 'process' is not defined$/,
  );
  assert.match(
    await failure('{{eval "badTemplate"}}'),
    /variable badTemplate: \{\{nosuch 1\}\}: unknown helper "nosuch"$/,
  );
  assert.equal(
    await failure('{{eval "nope"}}'),
    'steps.s.action.configuration.x: {{eval "nope"}}: error calling eval: Var name not found in template: \'nope\'',
  );
  assert.equal(
    await renderString('{{eval "url"}} after failures', context),
    'https://svc.example after failures',
  );
});
