/**
 * sprig's strings.go (and the string functions of its FuncMap): argument orders are
 * sprig's, so the piped value is last (`{{x | trimPrefix "v"}}` is `{{trimPrefix "v" x}}`).
 * Go slices strings by bytes; these slice by characters, which agrees for ASCII and never
 * cuts a character in two.
 */
import { randomInt } from 'node:crypto';
import { quoteGo } from './go-fmt.ts';
import { asList, formatValue, isNil, strval } from './go-values.ts';
import { expectArgs, fixed, HelperError, int, str, type Helper, type HelperTable } from './helper.ts';

/** goutils.AbbreviateFull: "..." marks what was cut, keeping `offset` in view. */
function abbreviate(text: string, offset: number, maxWidth: number): string {
  if (text === '') return '';
  if (maxWidth < 4) throw new HelperError('Minimum abbreviation width is 4');
  if (text.length <= maxWidth) return text;
  let start = Math.min(offset, text.length);
  if (text.length - start < maxWidth - 3) start = text.length - (maxWidth - 3);
  if (start <= 4) return `${text.slice(0, maxWidth - 3)}...`;
  if (maxWidth < 7) throw new HelperError('Minimum abbreviation width with offset is 7');
  if (start + maxWidth - 3 < text.length) return `...${abbreviate(text.slice(start), 0, maxWidth - 3)}`;
  return `...${text.slice(text.length - (maxWidth - 3))}`;
}

/** goutils.WrapCustom: breaks at spaces; long words are split only when `wrapLong`. */
function wrap(text: string, width: number, newline: string, wrapLong: boolean): string {
  if (text === '') return '';
  const lineWidth = Math.max(width, 1);
  const eol = newline === '' ? '\n' : newline;
  let offset = 0;
  let out = '';
  while (text.length - offset > lineWidth) {
    if (text[offset] === ' ') {
      offset++;
      continue;
    }
    const space = text.slice(offset, lineWidth + offset + 1).lastIndexOf(' ');
    if (space >= 0) {
      out += text.slice(offset, offset + space) + eol;
      offset += space + 1;
    } else if (wrapLong) {
      out += text.slice(offset, offset + lineWidth) + eol;
      offset += lineWidth;
    } else {
      const next = text.indexOf(' ', offset + lineWidth);
      if (next < 0) {
        out += text.slice(offset);
        offset = text.length;
      } else {
        out += text.slice(offset, next) + eol;
        offset = next + 1;
      }
    }
  }
  return out + text.slice(offset);
}

/** Go's strings.Title: the first letter of each word upper-cased. */
function title(text: string): string {
  let previous = ' ';
  let out = '';
  for (const char of text) {
    const separator =
      (previous.codePointAt(0) ?? 0) < 0x80
        ? !/^[A-Za-z0-9_]$/.test(previous)
        : /^\s$/u.test(previous) || !/^[\p{L}\p{N}]$/u.test(previous);
    out += separator ? char.toUpperCase() : char;
    previous = char;
  }
  return out;
}

/** xstrings' word split for snake/kebab case: lower→Upper, ACRONYMWord, letter→digit, separators. */
function words(text: string): string[] {
  return text
    .replace(/([\p{Ll}\p{N}])(\p{Lu})/gu, '$1 $2')
    .replace(/(\p{Lu})(\p{Lu}\p{Ll})/gu, '$1 $2')
    .replace(/(\p{L})(\p{N})/gu, '$1 $2')
    .split(/[^\p{L}\p{N}]+/u)
    .filter((word) => word !== '');
}

function randomFrom(alphabet: string, count: number): string {
  let out = '';
  for (let i = 0; i < count; i++) out += alphabet[randomInt(alphabet.length)] ?? '';
  return out;
}

const LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
const DIGITS = '0123456789';
const ASCII = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join('');

/** sprig's strslice: a list's non-nil items as strings; a single value as a one-item list. */
export function toStrings(value: unknown): string[] {
  const items = asList(value);
  if (items !== undefined) return items.filter((item) => !isNil(item)).map(strval);
  return isNil(value) ? [] : [strval(value)];
}

/** Go's strings.Split: "" splits into characters; n > 0 keeps at most n parts (SplitN). */
function splitGo(text: string, separator: string, n = -1): string[] {
  if (n === 0) return [];
  const parts = separator === '' ? Array.from(text) : text.split(separator);
  if (n < 0 || parts.length <= n) return parts;
  return [...parts.slice(0, n - 1), parts.slice(n - 1).join(separator)];
}

function indexed(parts: string[]): Record<string, string> {
  return Object.fromEntries(parts.map((part, index) => [`_${index}`, part]));
}

function trimSet(text: string, cutset: string): string {
  const chars = new Set(Array.from(cutset));
  const list = Array.from(text);
  let start = 0;
  let end = list.length;
  while (start < end && chars.has(list[start] ?? '')) start++;
  while (end > start && chars.has(list[end - 1] ?? '')) end--;
  return list.slice(start, end).join('');
}

const unary = (fn: (text: string) => unknown): Helper => fixed(1, (value) => fn(str(value)));

export const stringHelpers: HelperTable = {
  hello: fixed(0, () => 'Hello!'),
  upper: unary((text) => text.toUpperCase()),
  lower: unary((text) => text.toLowerCase()),
  title: unary(title),
  untitle: unary((text) =>
    text.replace(/(^|\s)(\S)/gu, (_, space: string, first: string) => space + first.toLowerCase()),
  ),
  trim: unary((text) => text.trim()),
  nospace: unary((text) => text.replace(/\s+/gu, '')),
  initials: unary((text) =>
    text
      .split(/\s+/u)
      .filter((word) => word !== '')
      .map((word) => Array.from(word)[0] ?? '')
      .join(''),
  ),
  swapcase: unary((text) =>
    Array.from(text)
      .map((char) => (char === char.toUpperCase() ? char.toLowerCase() : char.toUpperCase()))
      .join(''),
  ),
  shuffle: unary((text) => {
    const chars = Array.from(text);
    for (let i = chars.length - 1; i > 0; i--) {
      const j = randomInt(i + 1);
      [chars[i], chars[j]] = [chars[j] ?? '', chars[i] ?? ''];
    }
    return chars.join('');
  }),
  snakecase: unary((text) => words(text).join('_').toLowerCase()),
  kebabcase: unary((text) => words(text).join('-').toLowerCase()),
  camelcase: unary((text) =>
    text
      .split(/[_\-\s]+/u)
      .map((part) => (part === '' ? '' : (part[0]?.toUpperCase() ?? '') + part.slice(1)))
      .join(''),
  ),
  abbrev: fixed(2, (width, text) => (int(width) < 4 ? str(text) : abbreviate(str(text), 0, int(width)))),
  abbrevboth: fixed(3, (left, right, text) => {
    if (int(right) < 4 || (int(left) > 0 && int(right) < 7)) return str(text);
    return abbreviate(str(text), int(left), int(right));
  }),
  trunc: fixed(2, (count, value) => {
    const text = str(value);
    const c = int(count);
    if (c < 0 && text.length + c > 0) return text.slice(text.length + c);
    if (c >= 0 && text.length > c) return text.slice(0, c);
    return text;
  }),
  substr: fixed(3, (start, end, value) => {
    const text = str(value);
    const from = int(start);
    const to = int(end);
    if (from < 0) {
      if (to < 0 || to > text.length) throw new HelperError(`slice bounds out of range [:${to}]`);
      return text.slice(0, to);
    }
    if (from > text.length) throw new HelperError(`slice bounds out of range [${from}:${text.length}]`);
    if (to < 0 || to > text.length) return text.slice(from);
    if (to < from) throw new HelperError(`slice bounds out of range [${from}:${to}]`);
    return text.slice(from, to);
  }),
  repeat: fixed(2, (count, text) => {
    const times = int(count);
    if (times < 0) throw new HelperError('strings: negative Repeat count');
    return str(text).repeat(times);
  }),
  trimAll: fixed(2, (cutset, text) => trimSet(str(text), str(cutset))),
  trimall: fixed(2, (cutset, text) => trimSet(str(text), str(cutset))),
  trimPrefix: fixed(2, (prefix, value) => {
    const text = str(value);
    const p = str(prefix);
    return text.startsWith(p) ? text.slice(p.length) : text;
  }),
  trimSuffix: fixed(2, (suffix, value) => {
    const text = str(value);
    const s = str(suffix);
    return s !== '' && text.endsWith(s) ? text.slice(0, text.length - s.length) : text;
  }),
  contains: fixed(2, (part, text) => str(text).includes(str(part))),
  hasPrefix: fixed(2, (prefix, text) => str(text).startsWith(str(prefix))),
  hasSuffix: fixed(2, (suffix, text) => str(text).endsWith(str(suffix))),
  quote: (args) =>
    args
      .filter((value) => !isNil(value))
      .map((value) => quoteGo(strval(value)))
      .join(' '),
  squote: (args) =>
    args
      .filter((value) => !isNil(value))
      .map((value) => `'${formatValue(value)}'`)
      .join(' '),
  cat: (args) =>
    args
      .filter((value) => !isNil(value))
      .map((value) => formatValue(value))
      .join(' '),
  indent: fixed(2, (spaces, text) => {
    const padding = ' '.repeat(Math.max(int(spaces), 0));
    return padding + str(text).replaceAll('\n', `\n${padding}`);
  }),
  nindent: fixed(2, (spaces, text) => {
    const padding = ' '.repeat(Math.max(int(spaces), 0));
    return `\n${padding}${str(text).replaceAll('\n', `\n${padding}`)}`;
  }),
  replace: fixed(3, (old, replacement, text) => str(text).replaceAll(str(old), str(replacement))),
  plural: fixed(3, (one, many, count) => (int(count) === 1 ? str(one) : str(many))),
  wrap: fixed(2, (width, text) => wrap(str(text), int(width), '\n', false)),
  wrapWith: fixed(3, (width, separator, text) => wrap(str(text), int(width), str(separator), true)),
  randAlphaNum: fixed(1, (count) => randomFrom(LETTERS + DIGITS, int(count))),
  randAlpha: fixed(1, (count) => randomFrom(LETTERS, int(count))),
  randAscii: fixed(1, (count) => randomFrom(ASCII, int(count))),
  randNumeric: fixed(1, (count) => randomFrom(DIGITS, int(count))),
  toString: fixed(1, (value) => strval(value)),
  toStrings: fixed(1, (value) => toStrings(value)),
  split: fixed(2, (separator, text) => indexed(splitGo(str(text), str(separator)))),
  splitn: fixed(3, (separator, n, text) => indexed(splitGo(str(text), str(separator), int(n)))),
  splitList: fixed(2, (separator, text) => splitGo(str(text), str(separator))),
  join: fixed(2, (separator, list) => toStrings(list).join(str(separator))),
  sortAlpha: (args, call) => {
    expectArgs(call.name, args, 1);
    const list = args[0];
    if (asList(list) === undefined) return [strval(list)];
    return toStrings(list).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  },
};
