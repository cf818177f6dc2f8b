/**
 * sprig's regex.go over Go's RE2 syntax, translated to JavaScript's RegExp by
 * expr/go-regex.ts. Replacements expand Go's `$1`, `${1}`, `$name`,
 * `${name}` and `$$`. As in sprig, only `regexMatch` turns a bad pattern into false;
 * the others fail.
 */
import { compileGoRegex } from '../../expr/go-regex.ts';
import { str, fixed, HelperError, int, type Helper, type HelperTable } from './helper.ts';

/** Compiles a Go regular expression (expr/go-regex.ts) to find all matches; fails as sprig's helpers do. */
function compileGoRegexp(pattern: string): RegExp {
  try {
    return compileGoRegex(pattern, 'g');
  } catch (error) {
    throw new HelperError(`error parsing regexp: ${(error as Error).message}: \`${pattern}\``);
  }
}

interface Match {
  index: number;
  end: number;
  groups: (string | undefined)[];
  named: Record<string, string | undefined>;
}

/** Go's FindAll: at most n matches (all when n < 0), no empty match abutting the previous one. */
function findAll(regex: RegExp, text: string, n: number): Match[] {
  const out: Match[] = [];
  let previousEnd = -1;
  regex.lastIndex = 0;
  while (n < 0 || out.length < n) {
    const match = regex.exec(text);
    if (!match) break;
    const end = match.index + match[0].length;
    if (match[0] === '') {
      regex.lastIndex = match.index + 1;
      if (match.index === previousEnd) {
        if (regex.lastIndex > text.length) break;
        continue;
      }
    }
    out.push({ index: match.index, end, groups: [...match], named: { ...match.groups } });
    previousEnd = end;
    if (regex.lastIndex > text.length) break;
  }
  return out;
}

/** Go's Regexp.Expand of a replacement template. */
function expand(template: string, match: Match): string {
  return template.replace(
    /\$(\$|\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))/g,
    (whole, dollar: string, braced?: string, bare?: string) => {
      if (dollar === '$') return '$';
      const name = braced ?? bare ?? '';
      if (/^\d+$/.test(name)) return match.groups[Number(name)] ?? '';
      return match.named[name] ?? '';
    },
  );
}

function replaceAll(pattern: unknown, text: unknown, replacement: unknown, literal: boolean): string {
  const source = str(text);
  const template = str(replacement);
  let out = '';
  let last = 0;
  for (const match of findAll(compileGoRegexp(str(pattern)), source, -1)) {
    out += source.slice(last, match.index) + (literal ? template : expand(template, match));
    last = match.end;
  }
  return out + source.slice(last);
}

function split(pattern: unknown, text: unknown, count: unknown): string[] {
  const n = int(count);
  const source = str(text);
  if (n === 0) return [];
  const expression = str(pattern);
  if (expression.length > 0 && source.length === 0) return [''];
  const parts: string[] = [];
  let begin = 0;
  let end = 0;
  for (const match of findAll(compileGoRegexp(expression), source, n)) {
    if (n > 0 && parts.length === n - 1) break;
    end = match.index;
    if (match.end !== 0) parts.push(source.slice(begin, end));
    begin = match.end;
  }
  if (end !== source.length) parts.push(source.slice(begin));
  return parts;
}

const both = (helper: Helper): Helper => helper;

export const regexHelpers: HelperTable = {
  regexMatch: fixed(2, (pattern, text) => {
    try {
      return compileGoRegexp(str(pattern)).test(str(text));
    } catch {
      return false;
    }
  }),
  mustRegexMatch: fixed(2, (pattern, text) => compileGoRegexp(str(pattern)).test(str(text))),
  regexFind: both(
    fixed(2, (pattern, text) => findAll(compileGoRegexp(str(pattern)), str(text), 1)[0]?.groups[0] ?? ''),
  ),
  mustRegexFind: fixed(
    2,
    (pattern, text) => findAll(compileGoRegexp(str(pattern)), str(text), 1)[0]?.groups[0] ?? '',
  ),
  regexFindAll: fixed(3, (pattern, text, n) =>
    findAll(compileGoRegexp(str(pattern)), str(text), int(n)).map((m) => m.groups[0] ?? ''),
  ),
  mustRegexFindAll: fixed(3, (pattern, text, n) =>
    findAll(compileGoRegexp(str(pattern)), str(text), int(n)).map((m) => m.groups[0] ?? ''),
  ),
  regexReplaceAll: fixed(3, (pattern, text, replacement) => replaceAll(pattern, text, replacement, false)),
  mustRegexReplaceAll: fixed(3, (pattern, text, replacement) =>
    replaceAll(pattern, text, replacement, false),
  ),
  regexReplaceAllLiteral: fixed(3, (pattern, text, replacement) =>
    replaceAll(pattern, text, replacement, true),
  ),
  mustRegexReplaceAllLiteral: fixed(3, (pattern, text, replacement) =>
    replaceAll(pattern, text, replacement, true),
  ),
  regexSplit: fixed(3, split),
  mustRegexSplit: fixed(3, split),
  regexQuoteMeta: fixed(1, (text) => str(text).replace(/[\\.+*?()|[\]{}^$]/g, '\\$&')),
};
