import assert from 'node:assert/strict';
import { test } from 'node:test';
import { maskerOf, NO_MASK, secretTexts } from '../../../src/engine/secrets.ts';

test('a masker replaces every occurrence, the longest secret first, in strings, arrays, objects and keys', () => {
  const mask = maskerOf(['abc', 'abcdef', '']);
  assert.equal(mask('x abcdef y abc z abcabc'), 'x *** y *** z ******');
  assert.deepEqual(mask({ list: ['abc', 1, null, true], nested: { abcdef: 'k' } }), {
    list: ['***', 1, null, true],
    nested: { '***': 'k' },
  });
});

test('the texts of a secret item: the value itself, or each string and number inside it; none: no masking', () => {
  assert.deepEqual(secretTexts('s3cr3t'), ['s3cr3t']);
  assert.deepEqual(secretTexts({ user: 'u1', pin: 4321, list: ['a', ''] }), ['u1', '4321', 'a']);
  assert.equal(maskerOf([]), NO_MASK);
  assert.equal(maskerOf(secretTexts('')), NO_MASK);
});
