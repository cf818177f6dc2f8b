/**
 * Regular expressions as µTask templates write them, in Go's RE2 syntax (input `regex`,
 * REGEXP / NOTREGEXP conditions, sprig's regex helpers), compiled to a JavaScript RegExp.
 * Template validation, the engine and the helpers all compile through here, so what
 * validates at load is what runs.
 *
 * Go forms JavaScript lacks are translated: leading flags `(?i)`, `(?s)`, `(?m)` (any
 * combination) become RegExp flags; `(?P<name>…)` becomes `(?<name>…)`; `\A` and `\z`
 * become "start" and "end of text"; `\Q…\E` quotes its text; POSIX classes inside brackets
 * (`[[:alpha:]]`, `[[:^digit:]]`) become ranges; `\pL` becomes `\p{L}`. Go's ungreedy flag
 * `(?U)` has no JavaScript equivalent and is refused. Like Go's MatchString, a match may be
 * anywhere in the text (anchor with ^…$ to match it whole).
 */

const POSIX_CLASSES: Readonly<Record<string, string>> = {
  alnum: '0-9A-Za-z',
  alpha: 'A-Za-z',
  ascii: '\\x00-\\x7F',
  blank: '\\t ',
  cntrl: '\\x00-\\x1F\\x7F',
  digit: '0-9',
  graph: '!-~',
  lower: 'a-z',
  print: ' -~',
  punct: '!-\\/:-@\\[-`{-~',
  space: '\\t\\n\\v\\f\\r ',
  upper: 'A-Z',
  word: '0-9A-Za-z_',
  xdigit: '0-9A-Fa-f',
};

const cache = new Map<string, { source: string; flags: string }>();
const CACHE_LIMIT = 500;

function translate(pattern: string): { source: string; flags: string } {
  let source = pattern;
  let flags = '';
  const leading = /^\(\?([a-zA-Z]+)\)/.exec(source);
  if (leading) {
    for (const flag of leading[1] as string) {
      if (flag === 'U') throw new Error('the ungreedy flag (?U) is not supported');
      if (!'ism'.includes(flag)) throw new Error(`unknown flag "${flag}" in (?${leading[1]})`);
      if (!flags.includes(flag)) flags += flag;
    }
    source = source.slice(leading[0].length);
  }
  source = source
    .replace(/\\Q([\s\S]*?)(?:\\E|$)/g, (_whole, literal: string) =>
      literal.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&'),
    )
    .replace(/\(\?P</g, '(?<')
    .replace(/(^|[^\\])((?:\\\\)*)\\A/g, '$1$2(?<![\\s\\S])')
    .replace(/(^|[^\\])((?:\\\\)*)\\z/g, '$1$2(?![\\s\\S])')
    .replace(/\[:(\^?)([a-z]+):\]/g, (_whole, negated: string, name: string) => {
      const range = POSIX_CLASSES[name];
      if (range === undefined) throw new Error(`unknown character class [:${name}:]`);
      return negated ? `^${range}` : range;
    })
    .replace(/\\([pP])([A-Z])/g, '\\$1{$2}');
  if (/\\[pP]\{/.test(source)) flags += 'u';
  return { source, flags };
}

/**
 * Compiles a Go regular expression, with `extraFlags` (e.g. `g` to find them all); throws an
 * Error whose message says what is wrong ("Unterminated group"), without JavaScript's
 * restatement of the pattern.
 */
export function compileGoRegex(pattern: string, extraFlags = ''): RegExp {
  let translated = cache.get(pattern);
  if (!translated) {
    translated = translate(pattern);
    try {
      new RegExp(translated.source, translated.flags);
    } catch (error) {
      // "Invalid regular expression: /x(/: Unterminated group" → "Unterminated group"
      const message = (error as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '');
      throw new Error(message, { cause: error });
    }
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(pattern, translated);
  }
  return new RegExp(translated.source, translated.flags + extraFlags);
}
