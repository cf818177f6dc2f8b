import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkAgainst, standaloneValidator } from '../../../src/plugins/json-schema.ts';
import { runPlugin, type RunnablePlugin } from '../../../src/plugins/run-plugin.ts';
import { formatSchemaErrors, loadValidator } from '../../../src/plugins/validator.ts';
import { fixturePath } from '../../helpers/plugin-fixtures.ts';

const schemas: Record<string, unknown> = {
  'draft-07 with formats': {
    $schema: 'http://json-schema.org/draft-07/schema#',
    type: 'object',
    required: ['email'],
    properties: {
      email: { type: 'string', format: 'email' },
      count: { type: 'integer', minimum: 1 },
      tags: { type: 'array', items: { type: 'string' }, maxItems: 2 },
    },
    additionalProperties: false,
  },
  '2020-12 with prefixItems': {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    type: 'object',
    properties: { pair: { type: 'array', prefixItems: [{ type: 'string' }, { type: 'number' }] } },
  },
  'heredoc empty key': { '': 'http://json-schema.org/draft-07/schema#', type: 'object', required: ['x'] },
};

const samples: unknown[] = [
  { email: 'ops@example.com', count: 2, tags: ['a'] },
  { email: 'not-an-email', count: 0, tags: ['a', 'b', 'c'], extra: true },
  { pair: ['a', 1] },
  { pair: [1, 'a'] },
  { x: 1 },
  {},
  'not an object',
];

test('standalone validators, compiled at registration, judge exactly as ajv does at run time', () => {
  for (const [name, schema] of Object.entries(schemas)) {
    const validate = loadValidator(standaloneValidator(schema));
    for (const sample of samples) {
      const expected = checkAgainst(schema, sample);
      const actual = validate(sample) ? null : formatSchemaErrors(validate.errors);
      assert.equal(actual, expected, `${name} on ${JSON.stringify(sample)}`);
    }
  }
});

test('a registered plugin (with compiled validators) refuses invalid data without spawning, naming the field', async () => {
  const inputs = schemas['draft-07 with formats'];
  const plugin: RunnablePlugin = {
    name: 'echo-data',
    location: fixturePath('echo-data.sh'),
    description: { name: 'echo-data', description: 'echo', inputs: inputs as Record<string, unknown> },
    validators: { inputs: standaloneValidator(inputs) },
  };
  const refused = await runPlugin({ plugin, data: { email: 'nope', count: 0 } });
  assert.equal(refused.state, 'CLIENT_ERROR');
  assert.equal(refused.spawned, false);
  assert.match(refused.error ?? '', /\/email must match format "email"/);
  assert.match(refused.error ?? '', /\/count must be >= 1/);
});
