/**
 * Go's fmt.Sprintf, for `printf`: the verbs µTask templates use (%v %+v %s %q %d %f %F %e
 * %E %g %G %x %X %o %b %t %c %U %T %%), flags (+ - # space 0), width and precision (also
 * `*`), and Go's in-band error forms: `%!d(string=x)` for a wrong type, `%!d(MISSING)`,
 * `%!(EXTRA int=1)`. Numbers are lenient where µTask's json.Number would not be: a JSON
 * number is accepted by %d when whole and by the float verbs always.
 */
import { formatValue, goTypeOf, isDict, isGoStruct, isNil, type Dict } from './go-values.ts';

interface Spec {
  plus: boolean;
  minus: boolean;
  sharp: boolean;
  space: boolean;
  zero: boolean;
  width: number | undefined;
  precision: number | undefined;
}

export function sprintf(format: string, args: readonly unknown[]): string {
  let out = '';
  let argIndex = 0;
  let i = 0;
  while (i < format.length) {
    const percent = format.indexOf('%', i);
    if (percent < 0) {
      out += format.slice(i);
      break;
    }
    out += format.slice(i, percent);
    i = percent + 1;
    const spec: Spec = {
      plus: false,
      minus: false,
      sharp: false,
      space: false,
      zero: false,
      width: undefined,
      precision: undefined,
    };
    for (; i < format.length; i++) {
      const flag = format[i];
      if (flag === '+') spec.plus = true;
      else if (flag === '-') spec.minus = true;
      else if (flag === '#') spec.sharp = true;
      else if (flag === ' ') spec.space = true;
      else if (flag === '0') spec.zero = true;
      else break;
    }
    const readNumber = (): number | undefined => {
      if (format[i] === '*') {
        i++;
        const value = args[argIndex++];
        return typeof value === 'number' ? Math.trunc(value) : undefined;
      }
      const match = /^\d+/.exec(format.slice(i));
      if (!match) return undefined;
      i += match[0].length;
      return Number(match[0]);
    };
    spec.width = readNumber();
    if (spec.width !== undefined && spec.width < 0) {
      spec.minus = true;
      spec.width = -spec.width;
    }
    if (format[i] === '.') {
      i++;
      spec.precision = readNumber() ?? 0;
    }
    const verb = format[i];
    if (verb === undefined) {
      out += '%!(NOVERB)';
      break;
    }
    i++;
    if (verb === '%') {
      out += '%';
      continue;
    }
    if (argIndex >= args.length) {
      out += `%!${verb}(MISSING)`;
      continue;
    }
    out += formatArg(args[argIndex++], verb, spec);
  }
  if (argIndex < args.length) {
    const extra = args
      .slice(argIndex)
      .map((arg) => (isNil(arg) ? '<nil>' : `${goTypeOf(arg)}=${formatValue(arg)}`));
    out += `%!(EXTRA ${extra.join(', ')})`;
  }
  return out;
}

function badVerb(verb: string, arg: unknown): string {
  return isNil(arg) ? `%!${verb}(<nil>)` : `%!${verb}(${goTypeOf(arg)}=${formatValue(arg)})`;
}

function pad(text: string, spec: Spec, numeric = false): string {
  const width = spec.width ?? 0;
  if (text.length >= width) return text;
  if (spec.minus) return text + ' '.repeat(width - text.length);
  if (spec.zero && numeric) {
    const sign = /^[+\- ]/.test(text) ? (text[0] ?? '') : '';
    return sign + '0'.repeat(width - text.length) + text.slice(sign.length);
  }
  return ' '.repeat(width - text.length) + text;
}

function withSign(text: string, negative: boolean, spec: Spec): string {
  if (negative) return `-${text}`;
  if (spec.plus) return `+${text}`;
  if (spec.space) return ` ${text}`;
  return text;
}

function formatArg(arg: unknown, verb: string, spec: Spec): string {
  if (verb === 'T') return pad(goTypeOf(arg), spec);
  if (verb === 'v') return pad(formatVerbV(arg, spec), spec);
  if (Array.isArray(arg)) {
    return pad(
      `[${arg.map((item) => formatArg(item, verb, { ...spec, width: undefined })).join(' ')}]`,
      spec,
    );
  }
  if (isDict(arg)) {
    const body = Object.keys(arg)
      .sort()
      .map((key) => `${key}:${formatArg((arg as Dict)[key], verb, { ...spec, width: undefined })}`)
      .join(' ');
    return pad(`map[${body}]`, spec);
  }
  switch (verb) {
    case 's':
      if (typeof arg === 'string') return pad(truncate(arg, spec), spec);
      if (isGoStruct(arg)) return pad(truncate(formatValue(arg), spec), spec);
      return badVerb(verb, arg);
    case 'q':
      if (typeof arg === 'string') {
        return pad(spec.sharp && !/[`\p{Cc}]/u.test(arg) ? `\`${arg}\`` : quoteGo(arg), spec);
      }
      if (isGoStruct(arg)) return pad(quoteGo(formatValue(arg)), spec);
      if (typeof arg === 'number' && Number.isInteger(arg)) return pad(quoteRune(arg), spec);
      return badVerb(verb, arg);
    case 't':
      return typeof arg === 'boolean' ? pad(String(arg), spec) : badVerb(verb, arg);
    case 'd':
    case 'b':
    case 'o':
    case 'O':
    case 'c':
    case 'U':
      if (typeof arg === 'number' && Number.isInteger(arg)) return formatInteger(arg, verb, spec);
      if (typeof arg === 'bigint') return formatInteger(Number(arg), verb, spec);
      return badVerb(verb, arg);
    case 'x':
    case 'X':
      if (typeof arg === 'string' || arg instanceof Uint8Array) {
        const hex = Buffer.from(arg).toString('hex');
        return pad(verb === 'X' ? hex.toUpperCase() : hex, spec);
      }
      if (typeof arg === 'number' && Number.isInteger(arg)) return formatInteger(arg, verb, spec);
      return badVerb(verb, arg);
    case 'e':
    case 'E':
    case 'f':
    case 'F':
    case 'g':
    case 'G':
      if (typeof arg === 'number') {
        return pad(withSign(formatFloat(Math.abs(arg), verb, spec), arg < 0, spec), spec, true);
      }
      return badVerb(verb, arg);
    default:
      return badVerb(verb, arg);
  }
}

function formatVerbV(arg: unknown, spec: Spec): string {
  if (typeof arg === 'number' && (spec.plus || spec.space) && arg >= 0) {
    return withSign(formatValue(arg), false, spec);
  }
  if (typeof arg === 'string' && spec.sharp) return quoteGo(arg);
  return formatValue(arg);
}

function truncate(text: string, spec: Spec): string {
  if (spec.precision === undefined) return text;
  return Array.from(text).slice(0, spec.precision).join('');
}

function formatInteger(value: number, verb: string, spec: Spec): string {
  const negative = value < 0;
  const magnitude = Math.abs(value);
  let text: string;
  switch (verb) {
    case 'b':
      text = magnitude.toString(2);
      break;
    case 'o':
      text = (spec.sharp ? '0' : '') + magnitude.toString(8);
      break;
    case 'O':
      text = `0o${magnitude.toString(8)}`;
      break;
    case 'x':
      text = (spec.sharp ? '0x' : '') + magnitude.toString(16);
      break;
    case 'X':
      text = (spec.sharp ? '0X' : '') + magnitude.toString(16).toUpperCase();
      break;
    case 'c':
      return pad(String.fromCodePoint(value), spec);
    case 'U':
      return pad(`U+${magnitude.toString(16).toUpperCase().padStart(4, '0')}`, spec);
    default:
      text = String(magnitude);
  }
  if (spec.precision !== undefined) text = text.padStart(spec.precision, '0');
  return pad(withSign(text, negative, spec), spec, spec.precision === undefined);
}

/** Go's exponent form: at least two digits (`1e+06`). */
function goExponent(text: string): string {
  return text.replace(/e([+-])(\d)$/, 'e$10$2');
}

function formatFloat(value: number, verb: string, spec: Spec): string {
  if (!Number.isFinite(value)) return Number.isNaN(value) ? 'NaN' : 'Inf';
  const upper = verb === 'E' || verb === 'G';
  let text: string;
  switch (verb) {
    case 'f':
    case 'F':
      text = value.toFixed(spec.precision ?? 6);
      break;
    case 'e':
    case 'E':
      text = goExponent(value.toExponential(spec.precision ?? 6));
      break;
    default:
      text = formatG(value, spec.precision);
  }
  return upper ? text.toUpperCase() : text;
}

/** Go's %g: shortest (or `precision` significant) digits; %e when the exponent is < -4 or ≥ the precision (6 when shortest). */
function formatG(value: number, precision: number | undefined): string {
  const shortest = precision === undefined;
  const significant = shortest ? 0 : Math.max(precision, 1);
  const exponential = shortest ? value.toExponential() : value.toExponential(significant - 1);
  const match = /^(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(exponential);
  if (!match) return String(value);
  const digits = ((match[1] ?? '') + (match[2] ?? '')).replace(/0+$/, '') || '0';
  const exponent = Number(match[3]);
  let eprec = shortest ? 6 : significant;
  if (!shortest && eprec > digits.length && digits.length >= exponent + 1) eprec = digits.length;
  if (exponent < -4 || exponent >= eprec) {
    const mantissa = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return goExponent(`${mantissa}e${exponent >= 0 ? '+' : ''}${exponent}`);
  }
  if (exponent < 0) return `0.${'0'.repeat(-exponent - 1)}${digits}`;
  if (digits.length <= exponent + 1) return digits + '0'.repeat(exponent + 1 - digits.length);
  return `${digits.slice(0, exponent + 1)}.${digits.slice(exponent + 1)}`;
}

/** Go's strconv.Quote: double quotes, Go escapes, printable Unicode kept. */
export function quoteGo(text: string): string {
  let out = '"';
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0;
    switch (char) {
      case '"':
        out += '\\"';
        break;
      case '\\':
        out += '\\\\';
        break;
      case '\n':
        out += '\\n';
        break;
      case '\r':
        out += '\\r';
        break;
      case '\t':
        out += '\\t';
        break;
      case '\x07':
        out += '\\a';
        break;
      case '\b':
        out += '\\b';
        break;
      case '\f':
        out += '\\f';
        break;
      case '\v':
        out += '\\v';
        break;
      default:
        if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
        else if (/[\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Zl}\p{Zp}]/u.test(char) && code !== 0x20) {
          out +=
            code > 0xffff
              ? `\\U${code.toString(16).padStart(8, '0')}`
              : `\\u${code.toString(16).padStart(4, '0')}`;
        } else out += char;
    }
  }
  return `${out}"`;
}

function quoteRune(code: number): string {
  const char = String.fromCodePoint(code);
  if (char === "'") return "'\\''";
  const quoted = quoteGo(char);
  return `'${quoted.slice(1, -1).replace(/\\"/g, '"')}'`;
}
