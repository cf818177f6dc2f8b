import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolutionRetryDelayMs, retryDelayMs } from '../../../src/engine/retry.ts';

/** SPEC section 6 "Delays", with the sequences µTask's engine.go lists for each pattern. */

const s = 1000;
const min = 60 * s;

test('seconds: 8 s × 1.25^tries, 10 s after the first try, capped at 10 min from the 20th', () => {
  assert.deepEqual(
    [1, 2, 3, 4].map((tries) => retryDelayMs('seconds', tries)),
    [10 * s, 12.5 * s, 15.625 * s, 19.531 * s],
  );
  assert.equal(retryDelayMs('seconds', 19), Math.round(555.111512312 * s));
  assert.equal(retryDelayMs('seconds', 20), 10 * min);
  assert.equal(retryDelayMs('seconds', 200), 10 * min);
  assert.equal(retryDelayMs(undefined, 1), 10 * s, 'seconds is the default');
});

test('minutes: 1.6 min × tries, capped at 30 min from the 19th', () => {
  assert.deepEqual(
    [1, 2, 5, 18].map((tries) => retryDelayMs('minutes', tries)),
    [96 * s, 192 * s, 8 * min, 28 * min + 48 * s],
  );
  assert.equal(retryDelayMs('minutes', 19), 30 * min);
});

test('hours: 1 h plus 10 min per try after the first, capped at 3 h from the 13th', () => {
  assert.deepEqual(
    [1, 2, 3, 12].map((tries) => retryDelayMs('hours', tries)),
    [60 * min, 70 * min, 80 * min, 170 * min],
  );
  assert.equal(retryDelayMs('hours', 13), 180 * min);
  assert.equal(retryDelayMs('hours', 40), 180 * min);
});

test('a resolution retries at the smallest delay among its retriable steps, or in an hour', () => {
  assert.equal(
    resolutionRetryDelayMs([
      { retry_pattern: 'hours', try_count: 1 },
      { retry_pattern: 'minutes', try_count: 3 },
      { retry_pattern: 'seconds', try_count: 25 },
    ]),
    4 * min + 48 * s,
  );
  assert.equal(resolutionRetryDelayMs([]), 60 * min);
});
