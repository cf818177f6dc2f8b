import assert from 'node:assert/strict';
import { test } from 'node:test';
import { echoAction } from '../../../../src/engine/actions/echo.ts';
import { actionContext, actionFailure } from '../../../helpers/actions.ts';

/** µTask's `echo` builtin (pkg/plugins/builtin/echo): the configuration is the outcome. */

const run = (configuration: unknown): Promise<unknown> =>
  echoAction.run(configuration, actionContext().context);

test('output and metadata are given back as configured, whatever their shape', async () => {
  const output = { foo: 'a-suffix', list: [1, 'two', { three: 3 }], nothing: null };
  const result = await echoAction.run({ output, metadata: { HTTPStatus: 200 } }, actionContext().context);
  assert.deepEqual(result, { output, metadata: { HTTPStatus: 200 } });
  assert.deepEqual(await run({ output: 'just text' }), { output: 'just text', metadata: undefined });
});

test('no configuration at all is a success with nothing in it, as µTask decodes an empty struct', async () => {
  assert.deepEqual(await run(undefined), { output: undefined, metadata: undefined });
  assert.deepEqual(await run(null), { output: undefined, metadata: undefined });
});

test('error_message fails the step: SERVER_ERROR (retried) by default, keeping output and metadata', async () => {
  const failure = await actionFailure(
    run({ output: { partial: true }, metadata: { code: 7 }, error_message: 'Epic fail!' }),
    'server',
  );
  assert.equal(failure.message, 'Epic fail!');
  assert.deepEqual(failure.output, { partial: true });
  assert.deepEqual(failure.metadata, { code: 7 });
  assert.equal(
    (await actionFailure(run({ error_message: 'x', error_type: 'server' }), 'server')).message,
    'x',
  );
});

test('error_type client is a CLIENT_ERROR, and fatal (a taskhost extension) a FATAL_ERROR', async () => {
  const client = await actionFailure(run({ error_message: 'bad input', error_type: 'client' }), 'client');
  assert.equal(client.message, 'bad input');
  const fatal = await actionFailure(run({ error_message: 'give up', error_type: 'fatal' }), 'fatal');
  assert.equal(fatal.message, 'give up');
});

test('error_type without error_message changes nothing: the step succeeds', async () => {
  assert.deepEqual(await run({ output: 1, error_type: 'client' }), { output: 1, metadata: undefined });
});

test('an unknown error_type is refused at validation, and fails a rendered step FATAL_ERROR', async () => {
  const problem = 'configuration.error_type: must be client, server or fatal, not "serveur"';
  assert.equal(echoAction.validateConfig?.({ error_message: 'x', error_type: 'serveur' }), problem);
  const failure = await actionFailure(run({ error_message: 'x', error_type: 'serveur' }), 'fatal');
  assert.equal(failure.message, problem);
});

test('before rendering, a templated error_type or unmarshal is not judged yet', () => {
  assert.equal(
    echoAction.validateConfig?.({ error_type: '{{.input.kind}}', unmarshal: '{{.input.u}}' }),
    undefined,
  );
});

test('unmarshal decodes a JSON or YAML string into the output', async () => {
  const json = await run({ output: '{"a": [1, 2], "b": {"c": "d"}}', unmarshal: true });
  assert.deepEqual(json, { output: { a: [1, 2], b: { c: 'd' } }, metadata: undefined });
  const yaml = await run({ output: 'a: 1\nb:\n  - x\n', unmarshal: 'true' });
  assert.deepEqual(yaml, { output: { a: 1, b: ['x'] }, metadata: undefined });
  assert.deepEqual(await run({ output: '{"a":1}', unmarshal: false }), {
    output: '{"a":1}',
    metadata: undefined,
  });
});

test('unmarshal failures are SERVER_ERRORs, as in µTask', async () => {
  const notText = await actionFailure(run({ output: { a: 1 }, unmarshal: true }), 'server');
  assert.equal(notText.message, 'configuration.output: cannot unmarshal a map: expected a string');
  const broken = await actionFailure(run({ output: '{"a": [1, 2}', unmarshal: true }), 'server');
  assert.match(broken.message, /^configuration\.output: failed to unmarshal: /);
});

test('an unmarshalled output is kept when error_message fails the step', async () => {
  const failure = await actionFailure(
    run({ output: '{"n": 1}', unmarshal: true, error_message: 'no' }),
    'server',
  );
  assert.deepEqual(failure.output, { n: 1 });
});

test('a misspelt field is refused with the field it was probably meant to be', async () => {
  const problem = echoAction.validateConfig?.({ ouptut: 1 });
  assert.equal(
    problem,
    'configuration.ouptut: unknown field (did you mean "output"?) (known: output, metadata, unmarshal, error_message, error_type)',
  );
  assert.equal((await actionFailure(run({ ouptut: 1 }), 'fatal')).message, problem);
});

test('metadata must be a map, unmarshal a boolean, and the configuration a map', () => {
  assert.equal(
    echoAction.validateConfig?.({ metadata: [1] }),
    'configuration.metadata: must be a map, not a list',
  );
  assert.equal(
    echoAction.validateConfig?.({ unmarshal: 'yes' }),
    'configuration.unmarshal: must be true or false, not the string "yes"',
  );
  assert.equal(
    echoAction.validateConfig?.('text'),
    'configuration: must be a map of fields, not the string "text"',
  );
  assert.equal(
    echoAction.validateConfig?.({ output: 1, metadata: { a: 1 }, error_type: 'client' }),
    undefined,
  );
});
