/**
 * sprig's date.go with Go's layouts (`date "2006-01-02" now`). A time is what `now` and
 * `toDate` return, or Unix seconds (a whole number) as in sprig; one extension: an RFC 3339
 * string (how the engine's values carry times, e.g. `task.created`) is read as that time,
 * where sprig would silently use the current time.
 */
import { formatGoDuration, parseGoDuration } from '../../expr/duration.ts';
import { GoTime, loadZone, parseLayout, type Zone } from './go-time.ts';
import { goTypeOf, isNil } from './go-values.ts';
import { expectArgs, fixed, HelperError, str, type HelperTable } from './helper.ts';

const RFC3339 = '2006-01-02T15:04:05Z07:00';
const LOCAL: Zone = { kind: 'local' };
const UTC: Zone = { kind: 'utc' };

/** sprig's date argument: a time, Unix seconds, or (extension) an RFC 3339 string; else now. */
function toTime(value: unknown): GoTime {
  if (value instanceof GoTime) return value;
  if (typeof value === 'number' && Number.isInteger(value)) return GoTime.unix(value);
  if (typeof value === 'string') {
    try {
      return parseLayout(RFC3339, value, LOCAL);
    } catch {
      return GoTime.now();
    }
  }
  return GoTime.now();
}

function timeArg(value: unknown, name: string): GoTime {
  if (value instanceof GoTime) return value;
  if (typeof value === 'string' || (typeof value === 'number' && Number.isInteger(value))) {
    return toTime(value);
  }
  throw new HelperError(`${name}: expected a time, got ${isNil(value) ? 'nil' : goTypeOf(value)}`);
}

function inZone(layout: unknown, date: unknown, zone: unknown): string {
  return toTime(date)
    .in(loadZone(str(zone)) ?? UTC)
    .format(str(layout));
}

function modify(shift: unknown, date: unknown, must: boolean): GoTime {
  const time = timeArg(date, 'dateModify');
  try {
    return time.add(parseGoDuration(str(shift)));
  } catch (error) {
    if (must) throw new HelperError(error instanceof Error ? error.message : String(error));
    return time;
  }
}

function parseDate(layout: unknown, text: unknown, must: boolean): GoTime {
  try {
    return parseLayout(str(layout), str(text), LOCAL);
  } catch (error) {
    if (must) throw new HelperError(error instanceof Error ? error.message : String(error));
    return GoTime.zero();
  }
}

/** Nanoseconds from now back to `time`, rounded to the second as Go's Duration.Round does. */
function since(time: GoTime): bigint {
  const elapsed = GoTime.now().unixNanos - time.unixNanos;
  const second = 1_000_000_000n;
  const remainder = elapsed % second;
  const base = elapsed - remainder;
  if (remainder >= second / 2n) return base + second;
  if (remainder <= -second / 2n) return base - second;
  return base;
}

/** sprig's durationRound: the largest whole unit (y, mo, d, h, m, s) of a duration. */
function roundDuration(value: unknown): string {
  let nanos = 0n;
  if (typeof value === 'string') {
    try {
      nanos = parseGoDuration(value);
    } catch {
      nanos = 0n;
    }
  } else if (typeof value === 'number') nanos = BigInt(Math.trunc(value));
  else if (value instanceof GoTime) nanos = GoTime.now().unixNanos - value.unixNanos;
  const u = nanos < 0n ? -nanos : nanos;
  const second = 1_000_000_000n;
  const units: [bigint, string][] = [
    [second * 3600n * 24n * 365n, 'y'],
    [second * 3600n * 24n * 30n, 'mo'],
    [second * 3600n * 24n, 'd'],
    [second * 3600n, 'h'],
    [second * 60n, 'm'],
    [second, 's'],
  ];
  for (const [size, unit] of units) if (u > size) return `${u / size}${unit}`;
  return '0s';
}

export const dateHelpers: HelperTable = {
  now: fixed(0, () => GoTime.now()),
  date: fixed(2, (layout, date) => inZone(layout, date, 'Local')),
  dateInZone: fixed(3, inZone),
  date_in_zone: fixed(3, inZone),
  htmlDate: fixed(1, (date) => inZone('2006-01-02', date, 'Local')),
  htmlDateInZone: fixed(2, (date, zone) => inZone('2006-01-02', date, zone)),
  dateModify: fixed(2, (shift, date) => modify(shift, date, false)),
  date_modify: fixed(2, (shift, date) => modify(shift, date, false)),
  mustDateModify: fixed(2, (shift, date) => modify(shift, date, true)),
  must_date_modify: fixed(2, (shift, date) => modify(shift, date, true)),
  ago: fixed(1, (date) => formatGoDuration(since(toTime(date)))),
  duration: fixed(1, (seconds) => {
    const n = typeof seconds === 'string' ? (/^[+-]?\d+$/.test(seconds) ? BigInt(seconds) : 0n) : 0n;
    const count = typeof seconds === 'number' ? BigInt(Math.trunc(seconds)) : n;
    return formatGoDuration(count * 1_000_000_000n);
  }),
  durationRound: fixed(1, roundDuration),
  toDate: fixed(2, (layout, text) => parseDate(layout, text, false)),
  mustToDate: fixed(2, (layout, text) => parseDate(layout, text, true)),
  unixEpoch: (args, call) => {
    expectArgs(call.name, args, 1);
    return String(timeArg(args[0], call.name).unixSeconds);
  },
};
