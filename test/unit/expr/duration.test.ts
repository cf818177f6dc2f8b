import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatGoDuration, parseGoDuration } from '../../../src/expr/duration.ts';

/** Texts Go's time.ParseDuration refuses, with its error message for each. */
const REFUSED: Record<string, string> = {
  '1': 'time: missing unit in duration "1"',
  '1d': 'time: unknown unit "d" in duration "1d"',
  '': 'time: invalid duration ""',
  abc: 'time: invalid duration "abc"',
};

/** The message parseGoDuration refuses `text` with (null when it accepts it). */
function refusalOf(text: string): string | null {
  try {
    parseGoDuration(text);
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

test("parseGoDuration reads Go's duration text", () => {
  assert.equal(parseGoDuration('100ms'), 100_000_000n);
  assert.equal(parseGoDuration('1h30m'), 5_400_000_000_000n);
  assert.equal(parseGoDuration('-1.5s'), -1_500_000_000n);
  assert.equal(parseGoDuration('1µs2ns'), 1_002n);
  assert.equal(parseGoDuration('.5m'), 30_000_000_000n);
  assert.equal(parseGoDuration('0'), 0n);
  assert.deepEqual(Object.fromEntries(Object.keys(REFUSED).map((text) => [text, refusalOf(text)])), REFUSED);
});

test("formatGoDuration writes Go's Duration.String()", () => {
  assert.equal(formatGoDuration(0n), '0s');
  assert.equal(formatGoDuration(999n), '999ns');
  assert.equal(formatGoDuration(1_500n), '1.5µs');
  assert.equal(formatGoDuration(100_000_000n), '100ms');
  assert.equal(formatGoDuration(95_000_000_000n), '1m35s');
  assert.equal(formatGoDuration(7_200_000_000_000n), '2h0m0s');
  assert.equal(formatGoDuration(-3_661_500_000_000n), '-1h1m1.5s');
});
