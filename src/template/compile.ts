/**
 * Compiling template text with Handlebars (an isolated environment holding our helpers),
 * with three adjustments µTask's value model needs, made on the parsed tree:
 *
 * 1. `step.this.output`: Handlebars refuses `this` inside a path (it wants `step.[this]`);
 *    the text is rewritten to the bracketed form before parsing (outside string literals).
 * 2. Printing is Go's: every `{{…}}` goes through `__print`, which writes a missing value
 *    as nothing (not Go's `<no value>`), a string as is, and anything else as Go's `%v`
 *    (`map[a:1]`, `[1 2]`), where Handlebars would write `[object Object]`. A literal
 *    prints itself (`{{"x"}}` is x, as in Go) instead of looking up a field named "x".
 * 3. An unknown helper in a call position is an error at compile time, naming it.
 *
 * Compiled templates are cached by text (least recently used first out, 1,000 texts).
 */
import Handlebars from 'handlebars';
import { formatValue, isNil } from './helpers/go-values.ts';
import {
  HANDLEBARS_BUILTINS,
  HELPERS,
  helperMissing,
  wrapHelper,
  type SourceLocation,
} from './helpers/index.ts';

type Node = hbs.AST.Node;
type Expression = hbs.AST.Expression;
type Mustache = hbs.AST.MustacheStatement;
type Block = hbs.AST.BlockStatement;
type SubExpression = hbs.AST.SubExpression;
type PathExpression = hbs.AST.PathExpression;
type Program = hbs.AST.Program;

const PRINT = '__print';
/** Helpers that take no argument: called where Go would call them, as an argument. */
const NILADIC = new Set(['now', 'uuid', 'uuidv4', 'hello']);
const CACHE_SIZE = 1_000;

const env = Handlebars.create();
for (const [name, helper] of Object.entries(HELPERS)) {
  if (!HANDLEBARS_BUILTINS.includes(name)) env.registerHelper(name, wrapHelper(name, helper));
}
env.registerHelper('helperMissing', helperMissing);
env.registerHelper(PRINT, (value: unknown) => {
  if (isNil(value)) return '';
  return typeof value === 'string' ? value : formatValue(value);
});

/** A template that failed to parse or names an unknown helper. */
export class TemplateSyntaxError extends Error {
  readonly expression: string | undefined;

  constructor(message: string, expression?: string) {
    super(message);
    this.name = 'TemplateSyntaxError';
    this.expression = expression;
  }
}

/** One `{{…}}` of the template: where it is, and its text, to name it in errors. */
interface Statement {
  loc: SourceLocation;
  text: string;
}

export interface CompiledTemplate {
  readonly run: (root: unknown, data: Record<string, unknown>) => string;
  /** The `{{…}}` statement around a location, for error messages. */
  readonly statementAt: (loc: SourceLocation | undefined) => string | undefined;
}

/** Is `name` something our environment will call as a helper? */
function isHelper(name: string): boolean {
  return Object.hasOwn(env.helpers, name);
}

/**
 * Prepares µTask-style text for Handlebars' parser: `a.this.b` becomes `a.[this].b` inside
 * `{{…}}` (string literals left alone), and a `}` right after a closing `}}` (JSON written
 * around a value: `{"a": {{toJson x}}}`) is kept as text, where Handlebars would read
 * `}}}` as the end of a triple-stash.
 */
export function preprocess(text: string): string {
  return preprocessWithMap(text).text;
}

/**
 * preprocess(), with a map from offsets in the prepared text back to offsets in the text as
 * written (template validation reports positions in what the author wrote).
 */
export function preprocessWithMap(text: string): { text: string; toOriginal: (offset: number) => number } {
  // Insertions into the prepared text: [offset in the output, characters added].
  const inserted: [number, number][] = [];
  let out = '';
  const add = (piece: string, at: number, length: number): void => {
    inserted.push([out.length + at, length]);
    out += piece;
  };
  let i = 0;
  while (i < text.length) {
    const open = text.indexOf('{{', i);
    if (open < 0) {
      out += text.slice(i);
      break;
    }
    if (open > 0 && text[open - 1] === '\\') {
      out += text.slice(i, open + 2);
      i = open + 2;
      continue;
    }
    out += text.slice(i, open);
    const triple = text[open + 2] === '{';
    const closer = triple ? '}}}' : '}}';
    const close = text.indexOf(closer, open + 2);
    const end = close < 0 ? text.length : close + closer.length;
    let inside = text.slice(open, end);
    if (!inside.startsWith('{{!')) {
      let shift = 0;
      inside = inside.replace(
        /"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|([\w\]])([./])this(?![\w-])/g,
        (match, before: string | undefined, separator: string | undefined, offset: number) => {
          if (before === undefined) return match;
          // `.this` → `.[this]`: one bracket before "this", one after it.
          const at = out.length + offset + shift + before.length + (separator ?? '').length;
          inserted.push([at, 1], [at + 5, 1]);
          shift += 2;
          return `${before}${separator}[this]`;
        },
      );
    }
    out += inside;
    if (!triple && close >= 0 && text[end] === '}') add('{{!}}', 0, 5);
    i = end;
  }
  const toOriginal = (offset: number): number => {
    let removed = 0;
    for (const [at, length] of inserted) if (at < offset) removed += Math.min(length, offset - at);
    return offset - removed;
  };
  return { text: out, toOriginal };
}

function position(text: string, loc: { line: number; column: number }): number {
  let offset = 0;
  for (let line = 1; line < loc.line; line++) offset = text.indexOf('\n', offset) + 1;
  return offset + loc.column;
}

/** The printable one-line form of a statement's source. */
function sourceOf(text: string, loc: SourceLocation): string {
  const raw = text.slice(position(text, loc.start), position(text, loc.end)).replace(/\s+/g, ' ');
  const shown = raw.replace(/\.\[this\]/g, '.this').replace(/\{\{!\}\}/g, '');
  return shown.length > 200 ? `${shown.slice(0, 197)}...` : shown;
}

function isSimplePath(node: Node): node is PathExpression {
  return (
    node.type === 'PathExpression' &&
    (node as PathExpression).parts.length === 1 &&
    !(node as PathExpression).data
  );
}

/**
 * Walks the tree: records statements, checks helper names, and wraps each mustache's
 * value in `__print`. `blockParams` are the names `as |x|` bound in scope (never helpers).
 */
function transform(program: Program, text: string, statements: Statement[], blockParams: string[]): void {
  const scope = [...blockParams, ...(program.blockParams ?? [])];
  let statementLoc: SourceLocation | undefined;
  const checkCall = (path: Node, own: SourceLocation): void => {
    const loc = statementLoc ?? own;
    if (!isSimplePath(path)) return;
    const name = path.parts[0] ?? '';
    if (!isHelper(name) && !scope.includes(name)) {
      throw new TemplateSyntaxError(`unknown helper "${name}"`, sourceOf(text, loc));
    }
  };
  // Go calls a function named as an argument (`{{date "2006" now}}`); Handlebars would
  // look up a field. Helpers that take no argument are called there too; the others,
  // named bare, stay field lookups (`{{upper first}}` inside `{{#each}}` reads a field).
  const callNiladic = (node: Expression): Expression => {
    if (isSimplePath(node) && NILADIC.has(node.parts[0] ?? '') && !scope.includes(node.parts[0] ?? '')) {
      return {
        type: 'SubExpression',
        path: node,
        params: [],
        hash: undefined,
        loc: node.loc,
      } as unknown as SubExpression;
    }
    return node;
  };
  const visitParams = (holder: { params: Expression[]; hash?: hbs.AST.Hash }): void => {
    holder.params = holder.params.map(callNiladic);
    holder.params.forEach(visitExpression);
    holder.hash?.pairs.forEach((pair) => {
      pair.value = callNiladic(pair.value);
      visitExpression(pair.value);
    });
  };
  const visitExpression = (node: Expression): void => {
    if (node.type === 'SubExpression') {
      const sub = node as SubExpression;
      checkCall(sub.path, sub.loc);
      visitParams(sub);
    }
  };
  for (const statement of program.body) {
    statementLoc = undefined;
    if (statement.type === 'MustacheStatement') {
      const mustache = statement as Mustache;
      statementLoc = mustache.loc;
      statements.push({ loc: mustache.loc, text: sourceOf(text, mustache.loc) });
      const isCall = mustache.params.length > 0 || (mustache.hash?.pairs.length ?? 0) > 0;
      if (isCall) checkCall(mustache.path, mustache.loc);
      visitParams(mustache);
      const callsHelper =
        isCall ||
        (isSimplePath(mustache.path) &&
          isHelper(mustache.path.parts[0] ?? '') &&
          !scope.includes(mustache.path.parts[0] ?? ''));
      const value: Expression = callsHelper
        ? ({
            type: 'SubExpression',
            path: mustache.path,
            params: mustache.params,
            hash: mustache.hash,
            loc: mustache.loc,
          } as SubExpression)
        : (mustache.path as Expression);
      const printPath: PathExpression = {
        type: 'PathExpression',
        data: false,
        depth: 0,
        parts: [PRINT],
        original: PRINT,
        loc: mustache.loc,
      };
      mustache.path = printPath;
      mustache.params = [value];
      mustache.hash = undefined as unknown as hbs.AST.Hash;
    } else if (statement.type === 'BlockStatement') {
      const block = statement as Block;
      statementLoc = {
        start: block.loc.start,
        end: block.program?.loc?.start ?? block.loc.end,
      } as SourceLocation;
      statements.push({
        loc: block.loc,
        text: sourceOf(text, { start: block.loc.start, end: block.program?.loc?.start ?? block.loc.end }),
      });
      if (block.params.length > 0 || (block.hash?.pairs.length ?? 0) > 0) checkCall(block.path, block.loc);
      visitParams(block);
      statementLoc = undefined;
      if (block.program) transform(block.program, text, statements, scope);
      if (block.inverse) transform(block.inverse, text, statements, scope);
    }
  }
}

function compile(source: string): CompiledTemplate {
  const text = preprocess(source);
  let ast: Program;
  try {
    ast = env.parse(text);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const hint = /\{\{[~#^/]?\s*\./.test(source)
      ? " (µTask's {{.input.x}} is written {{input.x}} here, without the leading dot)"
      : '';
    throw new TemplateSyntaxError(`syntax error: ${message.replace(/\s*\n\s*/g, ' ').trim()}${hint}`);
  }
  const statements: Statement[] = [];
  transform(ast, text, statements, []);
  let template: HandlebarsTemplateDelegate;
  try {
    template = env.compile(ast, { noEscape: true, strict: false, knownHelpersOnly: false });
  } catch (error) {
    throw new TemplateSyntaxError(`syntax error: ${error instanceof Error ? error.message : String(error)}`);
  }
  const contains = (outer: SourceLocation, inner: SourceLocation): boolean => {
    const before = (a: { line: number; column: number }, b: { line: number; column: number }): boolean =>
      a.line < b.line || (a.line === b.line && a.column <= b.column);
    return before(outer.start, inner.start) && before(inner.end, outer.end);
  };
  return {
    run: (root, data) => template(root, { data, allowProtoPropertiesByDefault: false }),
    statementAt: (loc) => {
      if (!loc) return undefined;
      // The innermost statement containing the location (a nested block's own statements come later).
      let found: Statement | undefined;
      for (const statement of statements) if (contains(statement.loc, loc)) found = statement;
      return found?.text ?? statements.find((statement) => statement.loc.start.line === loc.start.line)?.text;
    },
  };
}

type CacheEntry = { template: CompiledTemplate } | { error: TemplateSyntaxError };
const cache = new Map<string, CacheEntry>();

/** The compiled template for `text` (cached); throws TemplateSyntaxError. */
export function compileTemplate(text: string): CompiledTemplate {
  let entry = cache.get(text);
  if (entry) {
    cache.delete(text);
  } else {
    try {
      entry = { template: compile(text) };
    } catch (error) {
      if (!(error instanceof TemplateSyntaxError)) throw error;
      entry = { error };
    }
    if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value as string);
  }
  cache.set(text, entry);
  if ('error' in entry) throw entry.error;
  return entry.template;
}

/** How many compiled texts the cache holds (for tests of its bound). */
export function compiledCacheSize(): number {
  return cache.size;
}

/** Every helper name a template may call, Handlebars' own included. */
export function helperNames(): string[] {
  return Object.keys(env.helpers)
    .filter((name) => name !== PRINT && name !== 'helperMissing' && name !== 'blockHelperMissing')
    .sort();
}
