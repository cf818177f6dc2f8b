/**
 * Regular expressions as µTask templates write them (Go's RE2 syntax: input `regex`,
 * REGEXP / NOTREGEXP conditions), compiled to a JavaScript RegExp. The engine evaluates
 * them with this same function, so what validates at load is what runs.
 *
 * Go forms JavaScript lacks are translated: leading flags `(?i)`, `(?s)`, `(?m)` (any
 * combination) become RegExp flags; `(?P<name>…)` becomes `(?<name>…)`; `\A` and `\z`
 * become "start" and "end of text"; POSIX classes inside brackets (`[[:alpha:]]`) become
 * ranges. Go's ungreedy flag `(?U)` has no JavaScript equivalent and is refused. Like Go's
 * MatchString, a match may be anywhere in the text (anchor with ^…$ to match it whole).
 */

const POSIX_CLASSES: Record<string, string> = {
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

/** Compiles a Go regular expression; throws an Error saying what is wrong. */
export function compileGoRegex(pattern: string): RegExp {
  let body = pattern;
  let flags = '';
  const leading = /^\(\?([a-zA-Z]+)\)/.exec(body);
  if (leading) {
    for (const flag of leading[1] as string) {
      if (flag === 'U') throw new Error('the ungreedy flag (?U) is not supported');
      if (!'ism'.includes(flag)) throw new Error(`unknown flag "${flag}" in (?${leading[1]})`);
      if (!flags.includes(flag)) flags += flag;
    }
    body = body.slice(leading[0].length);
  }
  body = body
    .replace(/\(\?P</g, '(?<')
    .replace(/(^|[^\\])((?:\\\\)*)\\A/g, '$1$2(?<![\\s\\S])')
    .replace(/(^|[^\\])((?:\\\\)*)\\z/g, '$1$2(?![\\s\\S])')
    .replace(/\[:(\^?)([a-z]+):\]/g, (_whole, negated: string, name: string) => {
      const range = POSIX_CLASSES[name];
      if (range === undefined) throw new Error(`unknown character class [:${name}:]`);
      if (negated) throw new Error(`negated class [:^${name}:] is not supported`);
      return range;
    });
  try {
    return new RegExp(body, flags);
  } catch (error) {
    // "Invalid regular expression: /x(/: Unterminated group" → "Unterminated group"
    const message = (error as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '');
    throw new Error(message, { cause: error });
  }
}
