import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideExampleData, exampleFromSchema } from '../../../../src/plugins/check/example-data.ts';

/** Issue 16, `plugin check`'s example data: built from `examples` and `default` when none is given. */

test("the schema's own examples win; else each property's", () => {
  assert.deepEqual(exampleFromSchema({ type: 'object', examples: [{ a: 1 }, { a: 2 }] }).value, { a: 1 });
  const built = exampleFromSchema({
    type: 'object',
    required: ['who', 'count', 'mode', 'kind'],
    properties: {
      who: { type: 'string', examples: ['Ada', 'Grace'] },
      count: { type: 'integer', default: 3 },
      mode: { enum: ['fast', 'slow'] },
      kind: { const: 'k' },
      note: { type: 'string', examples: ['optional, with an example'] },
      bits: { type: 'integer', default: 2048 },
    },
  });
  assert.deepEqual(built, {
    value: { who: 'Ada', count: 3, mode: 'fast', kind: 'k', note: 'optional, with an example' },
    unresolved: [],
  });
});

test('an optional property with only a default is left out: its default is what the plugin does without it', () => {
  const built = exampleFromSchema({
    type: 'object',
    properties: {
      key_type: { enum: ['ec', 'rsa'], default: 'ec' },
      key_bits: { type: 'integer', default: 2048 },
    },
  });
  assert.deepEqual(built, { value: {}, unresolved: [] });
});

test('required nested objects are built; what nothing offers is named', () => {
  const built = exampleFromSchema({
    type: 'object',
    required: ['target', 'token'],
    properties: {
      target: {
        type: 'object',
        required: ['host', 'port'],
        properties: { host: { type: 'string', examples: ['db.example.com'] }, port: { type: 'integer' } },
      },
      token: { type: 'string' },
    },
  });
  assert.deepEqual(built, {
    value: { target: { host: 'db.example.com' } },
    unresolved: ['target.port', 'token'],
  });
  assert.deepEqual(exampleFromSchema(true), { value: {}, unresolved: [] });
  assert.deepEqual(exampleFromSchema({ type: 'object' }), { value: {}, unresolved: [] });
});

test('the verdict: given and refused fails, built and refused warns (no run), accepted passes', () => {
  assert.equal(
    decideExampleData({ source: 'given', data: {}, problems: '/ must have property "x"', unresolved: [] })
      .verdict,
    'fail',
  );
  const warned = decideExampleData({
    source: 'built',
    data: {},
    problems: '/ must have property "x"',
    unresolved: ['x'],
  });
  assert.equal(warned.verdict, 'warn');
  assert.match(warned.message, /no example or default for x/);
  assert.match(warned.fix ?? '', /"examples"/);
  const passed = decideExampleData({ source: 'built', data: { x: 1 }, problems: null, unresolved: [] });
  assert.equal(passed.verdict, 'pass');
  assert.match(passed.message, /\{"x":1\}/);
});
