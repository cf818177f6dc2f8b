import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkAgainst, checkSchema, compileSchema } from '../../../src/schema/json-schema.ts';
import { runPlugin, type RunnablePlugin } from '../../../src/plugins/run-plugin.ts';
import { fixturePath } from '../../helpers/plugin-fixtures.ts';

/** JSON Schema drafts a plugin (or, later, a template) may use, and how validators are made. */

const draft04 = {
  $schema: 'http://json-schema.org/draft-04/schema#',
  id: 'http://example.com/payment#',
  type: 'object',
  required: ['amount'],
  properties: { amount: { type: 'number', minimum: 0, exclusiveMinimum: true } },
};

test('draft-04 (boolean exclusiveMinimum, id) compiles and validates as draft-04', () => {
  assert.equal(checkSchema(draft04), 'draft-04');
  assert.equal(checkAgainst(draft04, { amount: 12 }), null);
  assert.match(checkAgainst(draft04, { amount: 0 }) ?? '', /\/amount must be > 0/);
});

test('a schema without $schema that only draft-04 reads is taken as draft-04', () => {
  const { $schema: _declared, id: _id, ...undeclared } = draft04;
  assert.equal(checkSchema(undeclared), 'draft-04');
  assert.match(checkAgainst(undeclared, { amount: 0 }) ?? '', /must be > 0/);
});

test('draft-06, draft-07 (the default), 2019-09 and 2020-12 are each read as declared', () => {
  const cases: [unknown, string, unknown, unknown][] = [
    [
      {
        $schema: 'http://json-schema.org/draft-06/schema#',
        type: 'object',
        properties: { n: { exclusiveMinimum: 1 } },
      },
      'draft-06',
      { n: 2 },
      { n: 1 },
    ],
    [{ type: 'object', properties: { n: { const: 3 } } }, 'draft-07', { n: 3 }, { n: 4 }],
    [
      {
        $schema: 'https://json-schema.org/draft/2019-09/schema',
        type: 'object',
        dependentRequired: { a: ['b'] },
      },
      '2019-09',
      { a: 1, b: 2 },
      { a: 1 },
    ],
    [
      {
        $schema: 'https://json-schema.org/draft/2020-12/schema',
        type: 'object',
        properties: { pair: { type: 'array', prefixItems: [{ type: 'string' }, { type: 'number' }] } },
      },
      '2020-12',
      { pair: ['a', 1] },
      { pair: [1, 'a'] },
    ],
  ];
  for (const [schema, draft, valid, invalid] of cases) {
    assert.equal(checkSchema(schema), draft);
    assert.equal(checkAgainst(schema, valid), null, `${draft} accepts ${JSON.stringify(valid)}`);
    assert.notEqual(checkAgainst(schema, invalid), null, `${draft} refuses ${JSON.stringify(invalid)}`);
  }
});

test('a schema that compiles under no draft is refused, naming the draft it was read as', () => {
  assert.throws(() => checkSchema({ type: 'object', properties: { n: { minimum: 'ten' } } }), /draft-07/);
  assert.throws(() => checkSchema('not a schema'), /must be an object/);
});

test('validators are compiled from the schema and cached by its content, not by object identity', () => {
  const one = compileSchema({ type: 'object', required: ['x'] });
  const same = compileSchema({ type: 'object', required: ['x'] });
  const other = compileSchema({ type: 'object', required: ['y'] });
  assert.equal(one, same);
  assert.notEqual(one, other);
});

test('a plugin refuses invalid data without spawning, naming each field', async () => {
  const inputs = {
    type: 'object',
    required: ['email'],
    properties: { email: { type: 'string', format: 'email' }, count: { type: 'integer', minimum: 1 } },
  };
  const plugin: RunnablePlugin = {
    name: 'echo-data',
    location: fixturePath('echo-data.sh'),
    description: { name: 'echo-data', description: 'echo', inputs },
  };
  const refused = await runPlugin({ plugin, data: { email: 'nope', count: 0 } });
  assert.equal(refused.state, 'CLIENT_ERROR');
  assert.equal(refused.spawned, false);
  assert.match(refused.error ?? '', /\/email must match format "email"/);
  assert.match(refused.error ?? '', /\/count must be >= 1/);
});
