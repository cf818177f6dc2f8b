import Handlebars from 'handlebars';
import { preprocessWithMap } from './compile.ts';

/**
 * Handlebars checks of a string value at load: its syntax (Handlebars.parse, as rendering
 * will), and the paths it reads from the root context (`{{step.fetch.output}}`), so that
 * references to unknown steps or inputs are caught before any task runs.
 *
 * `step.this` is accepted as the engine accepts it (SPEC section 5): plain Handlebars
 * refuses `this` inside a path, so `.this` segments are read as `.[this]` before parsing
 * (offsets are mapped back to the text as written).
 */

export interface ExpressionProblem {
  /** Offset in the value as written. */
  offset: number;
  message: string;
}

/** A path read from the root context: `step.fetch.output` → ['step', 'fetch', 'output']. */
export interface PathReference {
  parts: string[];
  original: string;
  /** Offset in the value as written. */
  offset: number;
}

export interface ParsedExpression {
  problem?: ExpressionProblem;
  references: PathReference[];
}

/** Block helpers whose body runs in the same context; any other block changes it (each, with…). */
const SAME_CONTEXT_BLOCKS = new Set(['if', 'unless']);

/** Parses a value; values without `{{` are plain text and are not parsed. */
export function parseExpression(text: string): ParsedExpression {
  if (!text.includes('{{')) return { references: [] };
  // Prepared exactly as rendering prepares it (compile.ts), so what validates is what renders.
  const { text: rewritten, toOriginal } = preprocessWithMap(text);
  const lineStarts = [0];
  for (let index = rewritten.indexOf('\n'); index !== -1; index = rewritten.indexOf('\n', index + 1)) {
    lineStarts.push(index + 1);
  }
  const offsetOf = (line: number, column: number): number => toOriginal((lineStarts[line - 1] ?? 0) + column);
  let program: hbs.AST.Program;
  try {
    program = Handlebars.parse(rewritten);
  } catch (error) {
    return { problem: describeError(text, error as Error, rewritten, offsetOf, toOriginal), references: [] };
  }
  const references: PathReference[] = [];
  walkProgram(program, (path) => {
    references.push({
      parts: path.parts,
      original: path.original.replace(/\.\[this\]/g, '.this'),
      offset: offsetOf(path.loc.start.line, path.loc.start.column),
    });
  });
  return { references };
}

function walkProgram(program: hbs.AST.Program, visit: (path: hbs.AST.PathExpression) => void): void {
  for (const statement of program.body) {
    if (statement.type === 'MustacheStatement' || statement.type === 'SubExpression') {
      walkCall(statement as hbs.AST.MustacheStatement, visit);
    } else if (statement.type === 'BlockStatement') {
      const block = statement as hbs.AST.BlockStatement;
      walkCall(block, visit);
      const name = block.path.parts.join('.');
      if (SAME_CONTEXT_BLOCKS.has(name) && block.program) walkProgram(block.program, visit);
      // The {{else}} of any block (each's "no items" branch included) runs in the outer context.
      if (block.inverse) walkProgram(block.inverse, visit);
    }
  }
}

function walkCall(
  call: hbs.AST.MustacheStatement | hbs.AST.SubExpression | hbs.AST.BlockStatement,
  visit: (path: hbs.AST.PathExpression) => void,
): void {
  const expressions = [...call.params, ...(call.hash?.pairs ?? []).map((pair) => pair.value)];
  // With no argument the path itself is the value read (`{{input.x}}`), else it names a helper.
  if (expressions.length === 0 && call.type !== 'BlockStatement') expressions.unshift(call.path);
  for (const expression of expressions) walkExpression(expression, visit);
}

function walkExpression(expression: hbs.AST.Expression, visit: (path: hbs.AST.PathExpression) => void): void {
  if (expression.type === 'PathExpression') {
    const path = expression as hbs.AST.PathExpression;
    if (!path.data && path.depth === 0 && !path.original.startsWith('this')) visit(path);
  } else if (expression.type === 'SubExpression') {
    walkCall(expression as hbs.AST.SubExpression, visit);
  }
}

/** A Handlebars error as one line, at the offset of the text where it is. */
function describeError(
  text: string,
  error: Error,
  rewritten: string,
  offsetOf: (line: number, column: number) => number,
  toOriginal: (offset: number) => number,
): ExpressionProblem {
  const located = error as Error & { lineNumber?: number; column?: number };
  const jison = /^(?:Parse|Lexical) error on line (\d+)[:.]/.exec(error.message);
  if (!jison && typeof located.lineNumber === 'number' && typeof located.column === 'number') {
    // A Handlebars exception: "each doesn't match if - 1:3", "Invalid path: a.this - 1:2".
    const offset = offsetOf(located.lineNumber, located.column);
    const what = error.message.replace(/ - \d+:\d+$/, '');
    return {
      offset,
      message: `invalid Handlebars in ${snippet(text, offset)}: ${what}${hint(text, offset)}`,
    };
  }
  const got = /got '([A-Z_]+)'/.exec(error.message)?.[1];
  if (got === 'EOF' && /OPEN_ENDBLOCK|INVERSE/.test(error.message)) {
    const open = unclosedBlock(text);
    if (open) {
      return {
        offset: open.offset,
        message: `invalid Handlebars: ${open.text} is not closed (add {{/${open.name}}})`,
      };
    }
  }
  const offset = jison ? toOriginal(jisonOffset(rewritten, error.message, Number(jison[1]))) : 0;
  const opener = text.lastIndexOf('{{', offset);
  if (opener !== -1 && !text.includes('}}', opener)) {
    return { offset: opener, message: `invalid Handlebars: ${snippet(text, opener)} is not closed (add }})` };
  }
  const found =
    got === 'EOF'
      ? 'the end of the text'
      : JSON.stringify(got === 'SEP' ? text.charAt(offset) : tokenAt(text, offset));
  return {
    offset,
    message: `invalid Handlebars in ${snippet(text, offset)}: unexpected ${found}${hint(text, offset)}`,
  };
}

/**
 * Where a jison parse error is. Its message shows up to 20 characters before the failing
 * token (newlines removed, "..." when cut) and up to 20 from it, with a caret at the
 * token: the offset is found by searching that context in the text.
 */
function jisonOffset(text: string, message: string, line: number): number {
  const lines = message.split('\n');
  const context = lines[1] ?? '';
  const caret = (lines[2] ?? '').indexOf('^');
  if (caret < 0) return 0;
  const before = context.slice(0, caret).replace(/^\.\.\./, '');
  const after = context.slice(caret).replace(/\.\.\.$/, '');
  const flat: number[] = []; // flat index → text index, newlines removed
  let flatText = '';
  for (let index = 0; index < text.length; index++) {
    if (text[index] === '\n') continue;
    flat.push(index);
    flatText += text[index];
  }
  flat.push(text.length);
  let best = -1;
  for (let at = flatText.indexOf(before + after); at !== -1; at = flatText.indexOf(before + after, at + 1)) {
    const offset = flat[at + before.length] ?? text.length;
    const lineOf = text.slice(0, offset).split('\n').length;
    if (best === -1 || Math.abs(lineOf - line) < Math.abs(text.slice(0, best).split('\n').length - line)) {
      best = offset;
    }
  }
  return best === -1 ? 0 : best;
}

/** The innermost `{{#name …}}` left open, if any. */
function unclosedBlock(text: string): { offset: number; name: string; text: string } | undefined {
  const open: { offset: number; name: string; text: string }[] = [];
  for (const match of text.matchAll(/\{\{~?\s*([#/^])\s*([^\s}~]+)[^}]*\}\}/g)) {
    if (match[1] === '/') {
      if (open.at(-1)?.name === match[2]) open.pop();
    } else if (match[1] === '#' || match[1] === '^') {
      open.push({ offset: match.index, name: match[2] as string, text: match[0] });
    }
  }
  return open.at(-1);
}

/** The `{{…}}` around an offset, cut to 60 characters. */
function snippet(text: string, offset: number): string {
  const start = text.lastIndexOf('{{', offset);
  const from = start === -1 ? Math.max(0, offset - 10) : start;
  const close = text.indexOf('}}', Math.max(offset, from + 2));
  const to = close === -1 ? text.length : close + 2;
  const shown = text.slice(from, to).replace(/\s+/g, ' ');
  return shown.length > 60 ? `${shown.slice(0, 59)}…` : shown;
}

function tokenAt(text: string, offset: number): string {
  const rest = text.slice(offset);
  const token = /^(\{\{[^}]*\}\}|\}\}|[^\s{}]+|\S)/.exec(rest)?.[0] ?? rest.slice(0, 1);
  return token.length > 20 ? `${token.slice(0, 19)}…` : token;
}

/** A hint for µTask's Go-template forms, which Handlebars spells differently. */
function hint(text: string, offset: number): string {
  const rest = text.slice(offset);
  const dotted = /^\.([A-Za-z_][\w.]*)/.exec(rest)?.[1];
  if (dotted !== undefined) return ` (µTask's {{.${dotted}}} is written {{${dotted}}} here)`;
  if (rest.startsWith('`')) return ' (a Go raw string `x` is written "x" here)';
  if (rest.startsWith('|')) return ' (a Go pipe {{x | f a}} is written {{f a x}} here)';
  if (rest.startsWith('(') && /\)\.\w/.test(rest)) {
    return ' (µTask\'s (expr).field is written (lookup (expr) "field") here)';
  }
  if (/^\{\{-?\s*(end|else|range)\b/.test(snippet(text, offset))) {
    return " (Go's {{if}}…{{else}}…{{end}} is written {{#if}}…{{else}}…{{/if}} here)";
  }
  return '';
}
