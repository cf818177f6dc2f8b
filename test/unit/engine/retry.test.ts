import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatGoDuration } from '../../../src/expr/duration.ts';
import { resolutionRetryDelayMs, retryDelayMs } from '../../../src/engine/retry.ts';

/**
 * SPEC section 6 "Delays", with the sequences µTask's engine.go lists for each pattern. Pure
 * arithmetic: each computed delay is written as a Go duration and compared with µTask's.
 */

const goDuration = (ms: number): string => formatGoDuration(BigInt(ms) * 1_000_000n);
const delays = (pattern: string | undefined, tries: readonly number[]): string[] =>
  tries.map((count) => goDuration(retryDelayMs(pattern, count)));

test('seconds: 8 s × 1.25^tries, 10 s after the first try, capped at 10 min from the 20th', () => {
  assert.deepEqual(delays('seconds', [1, 2, 3, 4, 19, 20, 200]), [
    '10s',
    '12.5s',
    '15.625s',
    '19.531s',
    '9m15.112s',
    '10m0s',
    '10m0s',
  ]);
  assert.deepEqual(delays(undefined, [1]), ['10s'], 'seconds is the default');
});

test('minutes: 1.6 min × tries, capped at 30 min from the 19th', () => {
  assert.deepEqual(delays('minutes', [1, 2, 5, 18, 19]), ['1m36s', '3m12s', '8m0s', '28m48s', '30m0s']);
});

test('hours: 1 h plus 10 min per try after the first, capped at 3 h from the 13th', () => {
  assert.deepEqual(delays('hours', [1, 2, 3, 12, 13, 40]), [
    '1h0m0s',
    '1h10m0s',
    '1h20m0s',
    '2h50m0s',
    '3h0m0s',
    '3h0m0s',
  ]);
});

test('a resolution retries at the smallest delay among its retriable steps, or in an hour', () => {
  const smallest = resolutionRetryDelayMs([
    { retry_pattern: 'hours', try_count: 1 },
    { retry_pattern: 'minutes', try_count: 3 },
    { retry_pattern: 'seconds', try_count: 25 },
  ]);
  const written = { smallest: goDuration(smallest), none: goDuration(resolutionRetryDelayMs([])) };
  assert.deepEqual(written, { smallest: '4m48s', none: '1h0m0s' });
});
