/**
 * Go durations (time.ParseDuration), as µTask templates write them: `expression_timeout:
 * 500ms`, `execution_delay: 5s`. A sequence of decimal numbers, each with a unit (ns, us,
 * µs, ms, s, m, h), optionally signed: `1h30m`, `1.5s`, `-2m`. A bare `0` is zero.
 */

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Milliseconds, or throws an Error naming the problem. */
export function parseGoDuration(text: string): number {
  const sign = text.startsWith('-') ? -1 : 1;
  const body = text.replace(/^[-+]/, '');
  if (body === '0') return 0;
  if (body === '') throw new Error(`invalid duration "${text}"`);
  const part = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)?/y;
  let total = 0;
  let index = 0;
  while (index < body.length) {
    part.lastIndex = index;
    const match = part.exec(body);
    if (!match) throw new Error(`invalid duration "${text}"`);
    const unit = match[2];
    if (unit === undefined) throw new Error(`missing unit in duration "${text}" (ms, s, m, h...)`);
    total += Number(match[1]) * (UNIT_MS[unit] ?? 0);
    index = part.lastIndex;
  }
  return sign * total;
}
