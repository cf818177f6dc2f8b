import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatGoDuration, parseGoDuration, parseGoDurationMs } from '../../../src/expr/duration.ts';

/** Texts Go's time.ParseDuration refuses, with its error message for each. */
const REFUSED: Record<string, string> = {
  '1': 'time: missing unit in duration "1"',
  '1d': 'time: unknown unit "d" in duration "1d"',
  '': 'time: invalid duration ""',
  abc: 'time: invalid duration "abc"',
  s5: 'time: invalid duration "s5"',
};

/** The same texts as the settings' reader words them: without `time:`, an unknown unit listing the known. */
const SETTING_REFUSED: Record<string, string> = {
  '1': 'missing unit in duration "1"',
  '1d': 'unknown unit "d" in duration "1d" (units: ns, us, ms, s, m, h)',
  '': 'invalid duration ""',
  s5: 'invalid duration "s5"',
};

/** The message `parse` refuses `text` with (null when it accepts it). */
function refusalOf(text: string, parse: (text: string) => unknown = parseGoDuration): string | null {
  try {
    parse(text);
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

test("parseGoDurationMs, the reader of settings, words its refusals without Go's prefix", () => {
  const said = Object.keys(SETTING_REFUSED).map((text) => [text, refusalOf(text, parseGoDurationMs)]);
  assert.deepEqual(Object.fromEntries(said), SETTING_REFUSED);
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
