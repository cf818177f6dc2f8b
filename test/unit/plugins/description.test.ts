import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describePlugin, validateDescription } from '../../../src/plugins/description.ts';
import { runPlugin } from '../../../src/plugins/run-plugin.ts';
import { PLUGIN_FIXTURES_DIR, fixturePath } from '../../helpers/plugin-fixtures.ts';

/** SPEC section 3, self-description: `EXE schema` prints one JSON object and exits 0. */

/** Fixtures whose `schema` is broken on purpose; every other one must describe itself. */
const BAD_DESCRIPTIONS = new Set([
  'bad-schema.sh',
  'array-schema.sh',
  'missing-inputs-schema.sh',
  'uncompilable-inputs.sh',
  'failing-schema.sh',
  'hanging-schema.sh',
  'not-executable.sh',
  'crlf-shebang.sh',
]);

/** Asserts a TH_PLUGIN_DESCRIBE_FAILED whose one-line message names the file and matches each of `why`. */
function describeFailure(location: string, ...why: RegExp[]): (error: unknown) => boolean {
  return (error) => {
    const { code, message } = error as { code?: unknown; message: string };
    assert.equal(code, 'TH_PLUGIN_DESCRIBE_FAILED');
    assert.ok(message.startsWith(`${location} schema: `), `message: ${message}`);
    assert.doesNotMatch(message, /\n/, 'the message is one line');
    for (const pattern of why) assert.match(message, pattern);
    return true;
  };
}

test('every runnable fixture answers `schema` with a valid self-description named after its file', async () => {
  const names = fs
    .readdirSync(PLUGIN_FIXTURES_DIR)
    .filter((name) => /\.(sh|py)$/.test(name) && !BAD_DESCRIPTIONS.has(name));
  assert.ok(names.length >= 25, `only ${names.length} fixtures found`);
  // One at a time: this checks the fixtures, not concurrent describes.
  for (const file of names) {
    const description = await describePlugin(fixturePath(file));
    assert.equal(description.name, file.replace(/\.(sh|py)$/, ''), file);
    assert.equal(typeof description.description, 'string', file);
    assert.equal(typeof description.inputs, 'object', file);
  }
});

test('reference-python.py: a multi-line (indented) description with inputs and outputs is accepted', async () => {
  const description = await describePlugin(fixturePath('reference-python.py'));
  assert.equal(description.name, 'reference-python');
  assert.deepEqual((description.inputs as { required?: unknown }).required, ['user', 'cmd', 'requestId']);
  assert.deepEqual((description.outputs as { required?: unknown }).required, ['status', 'reason', 'payload']);
});

test('heredoc-schema.sh: the empty key an unquoted heredoc makes of "$schema" is tolerated', async () => {
  const location = fixturePath('heredoc-schema.sh');
  const description = await describePlugin(location);
  assert.equal(description.name, 'heredoc-schema');
  assert.equal(description[''], 'http://json-schema.org/draft-07/schema#');
  assert.equal(
    (description.inputs as Record<string, unknown>)[''],
    'http://json-schema.org/draft-07/schema#',
  );

  // Its inputs still work as a schema: required "name" is enforced, and a valid run is DONE.
  const plugin = { name: description.name, location, description };
  const refused = await runPlugin({ plugin, data: {} });
  assert.equal(refused.state, 'CLIENT_ERROR');
  assert.match(refused.error ?? '', /must have property "name"/);
  const ran = await runPlugin({ plugin, data: { name: 'here' } });
  assert.equal(ran.state, 'DONE');
  assert.deepEqual(ran.result?.payload, { name: 'here' });
});

test('bad-schema.sh: invalid JSON is refused, naming the file', async () => {
  const location = fixturePath('bad-schema.sh');
  await assert.rejects(describePlugin(location), describeFailure(location, /invalid JSON/));
});

test('array-schema.sh: JSON that is not an object is refused', async () => {
  const location = fixturePath('array-schema.sh');
  await assert.rejects(describePlugin(location), describeFailure(location, /not an object/));
});

test('missing-inputs-schema.sh: a description without inputs is refused, naming each schema path', async () => {
  const location = fixturePath('missing-inputs-schema.sh');
  await assert.rejects(
    describePlugin(location),
    describeFailure(
      location,
      /invalid self-description: /,
      /must have property "inputs"/,
      /\/tags\/1 must be string/,
    ),
  );
});

test('uncompilable-inputs.sh: inputs that do not compile as a JSON Schema are refused', async () => {
  const location = fixturePath('uncompilable-inputs.sh');
  await assert.rejects(
    describePlugin(location),
    describeFailure(location, /"inputs" is not a valid JSON Schema/),
  );
});

test('failing-schema.sh: a non-zero exit is refused, naming the code and its stderr', async () => {
  const location = fixturePath('failing-schema.sh');
  await assert.rejects(
    describePlugin(location),
    describeFailure(location, /exited with code 5 .*failing-schema: config file missing/),
  );
});

test('hanging-schema.sh: a schema that never answers is refused after the time limit', async () => {
  // It sleeps 1000 s: only the time limit given here can end it, and the refusal says so.
  const location = fixturePath('hanging-schema.sh');
  await assert.rejects(
    describePlugin(location, 300),
    describeFailure(location, /did not answer within 0\.3 s/),
  );
});

test('not-executable.sh: a file without the execute bit is refused, naming the file', async () => {
  const location = fixturePath('not-executable.sh');
  assert.equal(fs.statSync(location).mode & 0o111, 0, 'the fixture must stay mode 644');
  await assert.rejects(describePlugin(location), describeFailure(location, /cannot execute .*EACCES/));
});

test('a missing file is refused, naming the file', async () => {
  const location = fixturePath('no-such-plugin.sh');
  await assert.rejects(describePlugin(location), describeFailure(location, /ENOENT/));
});

test('validateDescription: boolean inputs and unknown keys are accepted', () => {
  const value = { name: 'n', description: 'd', inputs: true, '': 'heredoc', 'x-extra': [1] };
  assert.deepEqual(validateDescription('/p', value), value);
});

test('validateDescription: a bad outputs schema and a non-positive timeout are refused', () => {
  assert.throws(
    () => validateDescription('/p', { name: 'n', description: 'd', inputs: {}, outputs: { type: 12 } }),
    describeFailure('/p', /"outputs" is not a valid JSON Schema/),
  );
  assert.throws(
    () => validateDescription('/p', { name: 'n', description: 'd', inputs: {}, timeout: 0 }),
    describeFailure('/p', /\/timeout must be > 0/),
  );
  assert.throws(() => validateDescription('/p', null), describeFailure('/p', /not an object/));
});
