import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ConditionError,
  evaluateAll,
  evaluateAssert,
  normaliseOperator,
  type RenderedAssert,
} from '../../../src/engine/conditions.ts';

/** µTask's condition operators (engine/step/condition), on rendered values. */

const check = (
  value: string,
  operator: string,
  expected: string,
  extra: Partial<RenderedAssert> = {},
): boolean => evaluateAssert({ value, operator, expected, ...extra }).met;

test('EQ and NE compare text exactly', () => {
  assert.equal(check('DONE', 'EQ', 'DONE'), true);
  assert.equal(check('done', 'EQ', 'DONE'), false);
  assert.equal(check('', 'EQ', ''), true, 'a missing value renders empty');
  assert.equal(check('a', 'NE', 'b'), true);
  assert.equal(check('a', 'NE', 'a'), false);
});

test('operators are case-insensitive, GT/LT/GE/LE included (µTask lower-case GT never failed: not here)', () => {
  assert.equal(normaliseOperator('gt'), 'GT');
  assert.equal(check('3', 'gt', '5'), false);
  assert.equal(check('7', 'Gt', '5'), true);
  assert.equal(normaliseOperator('between'), null);
});

test('GT, LT, GE and LE compare numbers, integers and decimals', () => {
  assert.equal(check('10', 'GT', '9'), true, 'as numbers, not text ("10" < "9")');
  assert.equal(check('9', 'LT', '10'), true);
  assert.equal(check('5', 'GE', '5'), true);
  assert.equal(check('5', 'LE', '4.5'), false);
  assert.equal(check(' 42 ', 'EQ', '42'), false, 'EQ stays textual');
  assert.equal(check(' 42 ', 'GE', '42'), true, 'numbers are trimmed');
  assert.equal(check('-1.5', 'LT', '0'), true);
});

test('a comparison of a non-number is an error naming the value, not a condition that fails', () => {
  assert.throws(
    () => evaluateAssert({ value: 'high', operator: 'GT', expected: '3' }),
    (error: unknown) => {
      assert.ok(error instanceof ConditionError);
      assert.match((error as Error).message, /GT compares numbers: the value "high" is not a number/);
      return true;
    },
  );
  assert.throws(() => evaluateAssert({ value: '', operator: 'LE', expected: '3' }), ConditionError);
});

test('REGEXP and NOTREGEXP match anywhere unless anchored; a broken pattern is an error', () => {
  assert.equal(check('prod-eu-1', 'REGEXP', 'eu'), true);
  assert.equal(check('prod-eu-1', 'REGEXP', '^eu'), false);
  assert.equal(check('prod-eu-1', 'NOTREGEXP', '^dev-'), true);
  assert.throws(
    () => evaluateAssert({ value: 'x', operator: 'REGEXP', expected: '(' }),
    /invalid regular expression/,
  );
});

test('IN and NOTIN: the value is the list (split on list_separator, default ",", items trimmed)', () => {
  assert.equal(check('approve, review', 'IN', 'review'), true);
  assert.equal(check('approve, review', 'IN', 'block'), false);
  assert.equal(check('a|b|c', 'IN', 'b', { list_separator: '|' }), true);
  assert.equal(check('a|b|c', 'IN', 'b'), false, 'without the separator, "a|b|c" is one item');
  assert.equal(check('a,b', 'NOTIN', 'c'), true);
  assert.equal(check('a,b', 'NOTIN', 'a'), false);
});

test('why an assertion does not hold, with its message', () => {
  assert.deepEqual(evaluateAssert({ value: '3', operator: 'EQ', expected: '4', message: 'score' }), {
    met: false,
    why: "expected '4', got '3': score",
  });
  assert.deepEqual(evaluateAssert({ value: '3', operator: 'GT', expected: '4' }), {
    met: false,
    why: 'expected 3 > 4',
  });
});

test('evaluateAll: every assertion must hold; the first that does not says why; none holds trivially', () => {
  assert.deepEqual(evaluateAll([]), { met: true });
  assert.deepEqual(
    evaluateAll([
      { value: 'a', operator: 'EQ', expected: 'a' },
      { value: '1', operator: 'GT', expected: '2' },
      { value: 'x', operator: 'GT', expected: '2' },
    ]),
    { met: false, why: 'expected 1 > 2' },
  );
  assert.throws(
    () => evaluateAll([{ value: 'x', operator: 'LIKE', expected: 'y' }]),
    /unknown condition operator "LIKE"/,
  );
});
