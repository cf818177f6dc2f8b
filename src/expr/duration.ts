/**
 * Go's time.Duration text: `ParseDuration` ("1h30m", "100ms", "-1.5s", "0") and
 * `String()` ("1h30m0s", "100ms", "1.5µs"), in nanoseconds as a bigint (Go's int64). µTask
 * writes `expression_timeout` this way and sprig's date helpers read and print it.
 */

const UNITS: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1_000n,
  µs: 1_000n, // U+00B5 micro sign
  μs: 1_000n, // U+03BC Greek mu
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};

const MAX_INT64 = (1n << 63n) - 1n;

/** Go's time.ParseDuration; throws an Error with Go's message on bad input. */
export function parseGoDuration(text: string): bigint {
  const quoted = JSON.stringify(text);
  let rest = text;
  let negative = false;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    negative = rest.startsWith('-');
    rest = rest.slice(1);
  }
  if (rest === '0') return 0n;
  if (rest === '') throw new Error(`time: invalid duration ${quoted}`);
  let total = 0n;
  while (rest !== '') {
    const match = /^(\d*)(?:\.(\d*))?/.exec(rest);
    const whole = match?.[1] ?? '';
    const fraction = match?.[2] ?? '';
    if (whole === '' && fraction === '') throw new Error(`time: invalid duration ${quoted}`);
    rest = rest.slice(match?.[0].length ?? 0);
    const unitMatch = /^[^\d.]+/.exec(rest);
    if (!unitMatch) throw new Error(`time: missing unit in duration ${quoted}`);
    const unitName = unitMatch[0];
    const unit = UNITS[unitName];
    if (unit === undefined) {
      throw new Error(`time: unknown unit ${JSON.stringify(unitName)} in duration ${quoted}`);
    }
    rest = rest.slice(unitName.length);
    let value = BigInt(whole || '0') * unit;
    if (fraction !== '') value += (BigInt(fraction) * unit) / 10n ** BigInt(fraction.length);
    total += value;
    if (total > MAX_INT64) throw new Error(`time: invalid duration ${quoted}`);
  }
  return negative ? -total : total;
}

/** The digits of `value` below 10^precision as ".ddd" without trailing zeros ("" when none). */
function fraction(value: bigint, precision: number): string {
  const digits = (value % 10n ** BigInt(precision)).toString().padStart(precision, '0').replace(/0+$/, '');
  return digits === '' ? '' : `.${digits}`;
}

/** Go's Duration.String(): "0s", "1.5µs", "100ms", "1m30s", "2h0m0s". */
export function formatGoDuration(nanos: bigint): string {
  if (nanos === 0n) return '0s';
  const sign = nanos < 0n ? '-' : '';
  const u = nanos < 0n ? -nanos : nanos;
  if (u < 1_000n) return `${sign}${u}ns`;
  if (u < 1_000_000n) return `${sign}${u / 1_000n}${fraction(u, 3)}µs`;
  if (u < 1_000_000_000n) return `${sign}${u / 1_000_000n}${fraction(u, 6)}ms`;
  const seconds = u / 1_000_000_000n;
  let out = `${seconds % 60n}${fraction(u, 9)}s`;
  const minutes = seconds / 60n;
  if (minutes > 0n) {
    out = `${minutes % 60n}m${out}`;
    const hours = minutes / 60n;
    if (hours > 0n) out = `${hours}h${out}`;
  }
  return sign + out;
}

/**
 * A Go duration in milliseconds (fractions kept), for settings such as `execution_delay`
 * and `expression_timeout`. Errors read as Go's without its `time:` prefix, and an unknown
 * unit lists the ones there are.
 */
export function parseGoDurationMs(text: string): number {
  try {
    return Number(parseGoDuration(text)) / 1e6;
  } catch (error) {
    const message = (error as Error).message.replace(/^time: /, '');
    throw new Error(
      message.startsWith('unknown unit') ? `${message} (units: ns, us, ms, s, m, h)` : message,
      {
        cause: error,
      },
    );
  }
}
