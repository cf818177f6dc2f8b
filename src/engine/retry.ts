/**
 * When a resolution is retried, as µTask counts it (SPEC section 6). Pure: no clock, no I/O.
 *
 * A step's `retry_pattern` gives its delay after `try_count` tries:
 * - `seconds` (the default): 8 s × 1.25^try_count, capped at 10 min:
 *   10 s, 12.5 s, 15.6 s, 19.5 s, 24.4 s, 30.5 s, 38.1 s, 47.7 s, 59.6 s, 1m14.5 s, …,
 *   9m15.1 s, then 10 min from the 20th try on;
 * - `minutes`: 1.6 min × try_count, capped at 30 min:
 *   1m36 s, 3m12 s, 4m48 s, 6m24 s, 8 min, …, 28m48 s, then 30 min from the 19th try on;
 * - `hours`: 1 h + 10 min per try after the first, capped at 3 h:
 *   1 h, 1h10, 1h20, …, then 3 h from the 13th try on.
 * The resolution comes back at the smallest delay among its retriable steps (SERVER_ERROR,
 * TO_RETRY, AFTERRUN_ERROR), or in an hour when it has none.
 */
import { RetryPattern } from '../template/types.ts';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/** The delay, in whole ms, before a step with `pattern` is tried again after `tryCount` tries. */
export function retryDelayMs(pattern: string | undefined, tryCount: number): number {
  const tries = Math.max(0, tryCount);
  switch (pattern) {
    case RetryPattern.minutes:
      return Math.round(Math.min(1.6 * tries * MINUTE, 30 * MINUTE));
    case RetryPattern.hours:
      return Math.min(HOUR + (tries - 1) * 10 * MINUTE, 3 * HOUR);
    default:
      return Math.round(Math.min(8 * SECOND * 1.25 ** tries, 10 * MINUTE));
  }
}

/** The delay before a resolution's next run: the smallest among its retriable steps, else 1 h. */
export function resolutionRetryDelayMs(
  retriable: readonly { retry_pattern?: string; try_count: number }[],
): number {
  let delay = HOUR;
  for (const step of retriable) delay = Math.min(delay, retryDelayMs(step.retry_pattern, step.try_count));
  return delay;
}
