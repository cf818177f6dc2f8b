/**
 * Go's time.Time for sprig's date helpers: an instant (Unix nanoseconds) in a zone (Local,
 * UTC, an IANA name, or a fixed offset), formatted and parsed with Go's reference-time
 * layouts ("2006-01-02T15:04:05Z07:00", "Jan _2 15:04:05.000", "Monday", "MST" …).
 *
 * Zone data comes from the platform's Intl (Node ships ICU), so there is no zone database
 * to carry. One visible difference from Go: Intl has abbreviations for few zones in
 * English, so "MST" prints "+02" where Go would print "CEST" (Go does the same for zones
 * that have no abbreviation).
 */
import { GO_JSON, GO_STRING, GO_TYPE, type GoStruct } from './go-values.ts';

export type Zone =
  | { kind: 'local' }
  | { kind: 'utc' }
  | { kind: 'iana'; name: string }
  | { kind: 'fixed'; offset: number; name: string };

interface Fields {
  year: number;
  month: number; // 1-12
  day: number;
  hour: number;
  minute: number;
  second: number;
  nanos: number;
  weekday: number; // 0 = Sunday
  yday: number; // 1-366
  offset: number; // seconds east of UTC
  abbrev: string;
}

const NANOS_PER_MS = 1_000_000n;
const formatters = new Map<string, Intl.DateTimeFormat>();

export function localZoneName(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

/** A zone by name as Go's time.LoadLocation takes it; undefined when unknown. */
export function loadZone(name: string): Zone | undefined {
  if (name === '' || name === 'UTC') return { kind: 'utc' };
  if (name === 'Local') return { kind: 'local' };
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return { kind: 'iana', name };
  } catch {
    return undefined;
  }
}

function formatter(zone: string): Intl.DateTimeFormat {
  let cached = formatters.get(zone);
  if (!cached) {
    cached = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      timeZoneName: 'short',
      era: 'short',
    });
    formatters.set(zone, cached);
  }
  return cached;
}

function dayOfYear(year: number, month: number, day: number): number {
  return Math.round((Date.UTC(year, month - 1, day) - Date.UTC(year, 0, 1)) / 86_400_000) + 1;
}

function utcFields(ms: number, nanos: number, offset: number, abbrev: string): Fields {
  const date = new Date(ms + offset * 1000);
  const year = date.getUTCFullYear();
  const month = date.getUTCMonth() + 1;
  const day = date.getUTCDate();
  return {
    year,
    month,
    day,
    hour: date.getUTCHours(),
    minute: date.getUTCMinutes(),
    second: date.getUTCSeconds(),
    nanos,
    weekday: date.getUTCDay(),
    yday: dayOfYear(year, month, day),
    offset,
    abbrev,
  };
}

/** The offset (seconds east of UTC) and abbreviation of an IANA zone at an instant. */
function zoneOffset(zone: string, ms: number): { offset: number; abbrev: string } {
  const parts = Object.fromEntries(
    formatter(zone)
      .formatToParts(new Date(ms))
      .map((part) => [part.type, part.value]),
  );
  let year = Number(parts.year);
  if (parts.era === 'BC') year = 1 - year;
  const wall = Date.UTC(
    year,
    Number(parts.month) - 1,
    Number(parts.day),
    Number(parts.hour),
    Number(parts.minute),
  );
  const base = Math.floor(ms / 60_000) * 60_000;
  const offset = Math.round((wall - base) / 1000);
  const name = String(parts.timeZoneName ?? '');
  return { offset, abbrev: abbreviation(name, offset) };
}

function abbreviation(name: string, offset: number): string {
  if (name === 'UTC' || name === 'GMT' || /^[A-Z]{3,5}$/.test(name)) return name;
  const sign = offset < 0 ? '-' : '+';
  const abs = Math.abs(offset);
  const hours = String(Math.floor(abs / 3600)).padStart(2, '0');
  const minutes = Math.floor((abs % 3600) / 60);
  return `${sign}${hours}${minutes === 0 ? '' : String(minutes).padStart(2, '0')}`;
}

export class GoTime implements GoStruct {
  readonly unixNanos: bigint;
  readonly zone: Zone;

  constructor(unixNanos: bigint, zone: Zone = { kind: 'local' }) {
    this.unixNanos = unixNanos;
    this.zone = zone;
  }

  static now(): GoTime {
    return new GoTime(BigInt(Date.now()) * NANOS_PER_MS);
  }

  static unix(seconds: number): GoTime {
    return new GoTime(BigInt(Math.trunc(seconds)) * 1_000_000_000n);
  }

  /** Go's zero time, 0001-01-01 00:00:00 UTC (what a failed toDate returns). */
  static zero(): GoTime {
    return new GoTime(BigInt(new Date(0).setUTCFullYear(1, 0, 1)) * NANOS_PER_MS, { kind: 'utc' });
  }

  get unixSeconds(): number {
    const seconds = this.unixNanos / 1_000_000_000n;
    return Number(this.unixNanos < 0n && this.unixNanos % 1_000_000_000n !== 0n ? seconds - 1n : seconds);
  }

  in(zone: Zone): GoTime {
    return new GoTime(this.unixNanos, zone);
  }

  add(nanos: bigint): GoTime {
    return new GoTime(this.unixNanos + nanos, this.zone);
  }

  fields(): Fields {
    const floorMs =
      this.unixNanos / NANOS_PER_MS - (this.unixNanos < 0n && this.unixNanos % NANOS_PER_MS !== 0n ? 1n : 0n);
    const ms = Number(floorMs);
    const subSecond = Number(((this.unixNanos % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n);
    const secondMs = ms - (((ms % 1000) + 1000) % 1000);
    switch (this.zone.kind) {
      case 'utc':
        return utcFields(secondMs, subSecond, 0, 'UTC');
      case 'fixed':
        return utcFields(secondMs, subSecond, this.zone.offset, this.zone.name);
      default: {
        const name = this.zone.kind === 'local' ? localZoneName() : this.zone.name;
        if (name === 'UTC' || name === 'Etc/UTC') return utcFields(secondMs, subSecond, 0, 'UTC');
        const { offset, abbrev } = zoneOffset(name, secondMs);
        return utcFields(secondMs, subSecond, offset, abbrev);
      }
    }
  }

  format(layout: string): string {
    return formatLayout(this.fields(), layout);
  }

  [GO_STRING](): string {
    return this.format('2006-01-02 15:04:05.999999999 -0700 MST');
  }

  [GO_TYPE](): string {
    return 'time.Time';
  }

  [GO_JSON](): unknown {
    return this.format('2006-01-02T15:04:05.999999999Z07:00');
  }
}

const LONG_DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const LONG_MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];

/** Go's layout elements, longest first where one is the prefix of another. */
const TOKENS = [
  'January',
  'Jan',
  'Monday',
  'Mon',
  'MST',
  '2006',
  '002',
  '01',
  '02',
  '03',
  '04',
  '05',
  '06',
  '__2',
  '_2',
  '15',
  '1',
  '2',
  '3',
  '4',
  '5',
  'PM',
  'pm',
  '-07:00:00',
  '-070000',
  '-07:00',
  '-0700',
  '-07',
  'Z07:00:00',
  'Z070000',
  'Z07:00',
  'Z0700',
  'Z07',
];

type Chunk =
  { literal: string } | { token: string } | { fraction: '0' | '9'; digits: number; separator: string };

/** Splits a layout into Go's elements (time/format.go nextStdChunk) and literal text. */
export function tokenize(layout: string): Chunk[] {
  const chunks: Chunk[] = [];
  let literal = '';
  let i = 0;
  while (i < layout.length) {
    const char = layout[i];
    if ((char === '.' || char === ',') && (layout[i + 1] === '0' || layout[i + 1] === '9')) {
      const digit = layout[i + 1] as '0' | '9';
      let j = i + 1;
      while (layout[j] === digit) j++;
      if (!/\d/.test(layout[j] ?? '')) {
        if (literal) chunks.push({ literal });
        literal = '';
        chunks.push({ fraction: digit, digits: j - i - 1, separator: char });
        i = j;
        continue;
      }
    }
    const token = TOKENS.find((candidate) => layout.startsWith(candidate, i));
    // "Jan"/"Mon" only when not followed by a lower-case letter (Go: "Monday" vs "Month").
    const blocked =
      token !== undefined &&
      (token === 'Jan' || token === 'Mon') &&
      /[a-z]/.test(layout[i + token.length] ?? '') &&
      !layout.startsWith(token === 'Jan' ? 'January' : 'Monday', i);
    if (token !== undefined && !blocked) {
      if (literal) chunks.push({ literal });
      literal = '';
      chunks.push({ token });
      i += token.length;
    } else {
      literal += char;
      i++;
    }
  }
  if (literal) chunks.push({ literal });
  return chunks;
}

function zoneText(offset: number, token: string): string {
  if (token.startsWith('Z') && offset === 0) return 'Z';
  const sign = offset < 0 ? '-' : '+';
  const abs = Math.abs(offset);
  const hh = String(Math.floor(abs / 3600)).padStart(2, '0');
  const mm = String(Math.floor((abs % 3600) / 60)).padStart(2, '0');
  const ss = String(abs % 60).padStart(2, '0');
  const form = token.slice(1);
  if (form === '07') return sign + hh;
  if (form === '0700') return sign + hh + mm;
  if (form === '07:00') return `${sign}${hh}:${mm}`;
  if (form === '070000') return sign + hh + mm + ss;
  return `${sign}${hh}:${mm}:${ss}`;
}

function formatLayout(f: Fields, layout: string): string {
  const pad = (value: number, width = 2): string => String(value).padStart(width, '0');
  const hour12 = f.hour % 12 === 0 ? 12 : f.hour % 12;
  return tokenize(layout)
    .map((chunk) => {
      if ('literal' in chunk) return chunk.literal;
      if ('fraction' in chunk) {
        const digits = String(f.nanos).padStart(9, '0').slice(0, chunk.digits);
        const shown = chunk.fraction === '0' ? digits : digits.replace(/0+$/, '');
        return shown === '' ? '' : chunk.separator + shown;
      }
      switch (chunk.token) {
        case 'January':
          return LONG_MONTHS[f.month - 1] ?? '';
        case 'Jan':
          return (LONG_MONTHS[f.month - 1] ?? '').slice(0, 3);
        case 'Monday':
          return LONG_DAYS[f.weekday] ?? '';
        case 'Mon':
          return (LONG_DAYS[f.weekday] ?? '').slice(0, 3);
        case 'MST':
          return f.abbrev;
        case '2006':
          return pad(f.year, 4);
        case '06':
          return pad(f.year % 100);
        case '01':
          return pad(f.month);
        case '1':
          return String(f.month);
        case '02':
          return pad(f.day);
        case '_2':
          return String(f.day).padStart(2, ' ');
        case '2':
          return String(f.day);
        case '002':
          return pad(f.yday, 3);
        case '__2':
          return String(f.yday).padStart(3, ' ');
        case '15':
          return pad(f.hour);
        case '03':
          return pad(hour12);
        case '3':
          return String(hour12);
        case '04':
          return pad(f.minute);
        case '4':
          return String(f.minute);
        case '05':
          return pad(f.second);
        case '5':
          return String(f.second);
        case 'PM':
          return f.hour >= 12 ? 'PM' : 'AM';
        case 'pm':
          return f.hour >= 12 ? 'pm' : 'am';
        default:
          return zoneText(f.offset, chunk.token);
      }
    })
    .join('');
}

/**
 * Go's time.ParseInLocation for the same layout elements: a time without a zone in the
 * text is read in `zone`. Throws an Error in Go's words on a mismatch.
 */
export function parseLayout(layout: string, text: string, zone: Zone): GoTime {
  let rest = text;
  let year = 1;
  let month = 1;
  let day = 1;
  let hour = 0;
  let minute = 0;
  let second = 0;
  let nanos = 0;
  let pm: boolean | undefined;
  let offset: number | undefined;
  const fail = (what: string): never => {
    throw new Error(
      `parsing time ${JSON.stringify(text)} as ${JSON.stringify(layout)}: cannot parse ${JSON.stringify(rest)} as ${JSON.stringify(what)}`,
    );
  };
  const number = (what: string, min: number, max: number): number => {
    const match = new RegExp(`^\\d{${min},${max}}`).exec(rest);
    if (!match) return fail(what);
    rest = rest.slice(match[0].length);
    return Number(match[0]);
  };
  const name = (what: string, names: readonly string[]): number => {
    const index = names.findIndex((candidate) => rest.toLowerCase().startsWith(candidate.toLowerCase()));
    if (index < 0) return fail(what);
    rest = rest.slice((names[index] ?? '').length);
    return index;
  };
  for (const chunk of tokenize(layout)) {
    if ('literal' in chunk) {
      if (!rest.startsWith(chunk.literal)) fail(chunk.literal);
      rest = rest.slice(chunk.literal.length);
      continue;
    }
    if ('fraction' in chunk) {
      const match =
        chunk.fraction === '0'
          ? new RegExp(`^[.,](\\d{${chunk.digits}})`).exec(rest)
          : /^[.,](\d+)/.exec(rest);
      if (match) {
        rest = rest.slice(match[0].length);
        nanos = Math.round(Number(`0.${match[1]}`) * 1e9);
      } else if (chunk.fraction === '0') {
        fail(chunk.separator + '0'.repeat(chunk.digits));
      }
      continue;
    }
    const token = chunk.token;
    switch (token) {
      case 'January':
        month = name(token, LONG_MONTHS) + 1;
        break;
      case 'Jan':
        month =
          name(
            token,
            LONG_MONTHS.map((m) => m.slice(0, 3)),
          ) + 1;
        break;
      case 'Monday':
        name(token, LONG_DAYS);
        break;
      case 'Mon':
        name(
          token,
          LONG_DAYS.map((d) => d.slice(0, 3)),
        );
        break;
      case 'MST': {
        const match = /^(UTC|GMT|[A-Z]{3,5})/.exec(rest);
        if (!match) fail(token);
        rest = rest.slice(match?.[0].length ?? 0);
        if (match?.[0] === 'UTC' || match?.[0] === 'GMT') offset = 0;
        break;
      }
      case '2006':
        year = number(token, 4, 4);
        break;
      case '06': {
        const yy = number(token, 2, 2);
        year = yy >= 69 ? 1900 + yy : 2000 + yy;
        break;
      }
      case '01':
        month = number(token, 2, 2);
        break;
      case '1':
        month = number(token, 1, 2);
        break;
      case '02':
        day = number(token, 2, 2);
        break;
      case '_2':
        if (rest.startsWith(' ')) rest = rest.slice(1);
        day = number(token, 1, 2);
        break;
      case '2':
        day = number(token, 1, 2);
        break;
      case '002':
      case '__2':
        number(token, 1, 3);
        break;
      case '15':
        hour = number(token, 1, 2);
        break;
      case '03':
        hour = number(token, 2, 2);
        break;
      case '3':
        hour = number(token, 1, 2);
        break;
      case '04':
        minute = number(token, 2, 2);
        break;
      case '4':
        minute = number(token, 1, 2);
        break;
      case '05':
      case '5': {
        second = number(token, token === '05' ? 2 : 1, 2);
        // Go accepts fractional seconds after a seconds field even when the layout has none.
        const fractionMatch = /^[.,](\d+)/.exec(rest);
        if (fractionMatch) {
          rest = rest.slice(fractionMatch[0].length);
          nanos = Math.round(Number(`0.${fractionMatch[1]}`) * 1e9);
        }
        break;
      }
      case 'PM':
      case 'pm': {
        const match = /^(AM|PM)/i.exec(rest);
        if (!match) fail(token);
        pm = match?.[0].toUpperCase() === 'PM';
        rest = rest.slice(2);
        break;
      }
      default: {
        if (token.startsWith('Z') && rest.startsWith('Z')) {
          rest = rest.slice(1);
          offset = 0;
          break;
        }
        const match = /^([+-])(\d{2})(?::?(\d{2}))?(?::?(\d{2}))?/.exec(rest);
        if (!match) fail(token);
        rest = rest.slice(match?.[0].length ?? 0);
        const seconds = Number(match?.[2]) * 3600 + Number(match?.[3] ?? 0) * 60 + Number(match?.[4] ?? 0);
        offset = match?.[1] === '-' ? -seconds : seconds;
      }
    }
  }
  if (rest !== '') {
    throw new Error(`parsing time ${JSON.stringify(text)}: extra text: ${JSON.stringify(rest)}`);
  }
  if (pm !== undefined) {
    if (hour > 12) throw new Error(`parsing time ${JSON.stringify(text)}: hour out of range`);
    if (pm && hour < 12) hour += 12;
    if (!pm && hour === 12) hour = 0;
  }
  if (month < 1 || month > 12) throw new Error(`parsing time ${JSON.stringify(text)}: month out of range`);
  const wall = new Date(0);
  wall.setUTCFullYear(year, month - 1, day);
  wall.setUTCHours(hour, minute, second, 0);
  if (wall.getUTCDate() !== day) throw new Error(`parsing time ${JSON.stringify(text)}: day out of range`);
  const wallNanos = BigInt(wall.getTime()) * NANOS_PER_MS + BigInt(nanos);
  if (offset !== undefined) {
    const fixed: Zone = offset === 0 && zone.kind === 'utc' ? zone : { kind: 'fixed', offset, name: '' };
    return new GoTime(wallNanos - BigInt(offset) * 1_000_000_000n, fixed);
  }
  // A wall-clock time in `zone`: find the instant whose local time it is.
  let guess = new GoTime(wallNanos, zone);
  for (let i = 0; i < 2; i++) {
    guess = new GoTime(wallNanos - BigInt(guess.fields().offset) * 1_000_000_000n, zone);
  }
  return guess;
}
