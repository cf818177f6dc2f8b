import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import type { TemplateIssue } from './errors.ts';
import { PositionMap, type SourceLocation } from './positions.ts';
import type { FieldPath } from './types.ts';

/**
 * A YAML file parsed with its source positions: the yaml package's Document keeps every
 * node's range, a LineCounter turns offsets into line:column.
 */
export interface YamlSource {
  file: string;
  text: string;
  document: Document;
  lineCounter: LineCounter;
  positions: PositionMap;
  /** The document as plain data (YAML 1.2 core schema; `<<` merge keys are honoured). */
  data: unknown;
}

/** A string value of the file, with the place it was written. */
export interface StringValue {
  path: FieldPath;
  value: string;
  /** The scalar's source range: [start, end of value]. */
  range: [number, number];
}

/**
 * Parses a YAML file; a syntax error comes back as an issue and no source (the first one
 * only, and no other check runs on the file). Duplicate keys are syntax errors: a second
 * `steps.x` would silently replace the first.
 */
export function parseYaml(file: string, text: string): { source?: YamlSource; issues: TemplateIssue[] } {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, merge: true, prettyErrors: true, uniqueKeys: true });
  const [error] = document.errors;
  if (error) {
    // Only the first syntax error: the parser's later ones are mostly its guesses after it.
    const [start] = error.linePos ?? [{ line: 1, col: 1 }];
    const message = (error.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
    return { issues: [{ file, line: start.line, column: start.col, path: '', message: `YAML: ${message}` }] };
  }
  let data: unknown;
  try {
    // maxAliasCount bounds what aliases may expand to (a "billion laughs" file fails here).
    data = document.toJS({ maxAliasCount: 1000 }) as unknown;
  } catch (error) {
    return { issues: [{ file, line: 1, column: 1, path: '', message: `YAML: ${(error as Error).message}` }] };
  }
  const positions = PositionMap.fromDocument(file, document, lineCounter);
  return { source: { file, text, document, lineCounter, positions, data }, issues: [] };
}

/**
 * Every string value written in the file (map values and list items, not keys), with its
 * path, skipping the subtrees `skip` names by their top-level key under any map (such as
 * `json_schema`, which is data, not a template). Aliased values are listed where their
 * anchor is.
 */
export function stringValues(source: YamlSource, skip: ReadonlySet<string> = new Set()): StringValue[] {
  const found: StringValue[] = [];
  const visit = (node: unknown, path: (string | number)[]): void => {
    if (isAlias(node)) return;
    if (isScalar(node)) {
      if (typeof node.value === 'string' && node.range) {
        found.push({ path, value: node.value, range: [node.range[0], node.range[1]] });
      }
    } else if (isMap(node)) {
      for (const pair of node.items) {
        if (!isPair(pair) || !isScalar(pair.key)) continue;
        const key = String(pair.key.value);
        if (key === '<<' || skip.has(key)) continue;
        visit(pair.value, [...path, key]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, index) => visit(item, [...path, index]));
    }
  };
  visit(source.document.contents, []);
  return found;
}

/**
 * Where character `offset` of a string value was written. The value's text is found in
 * the source as it was typed: for `{{`-expressions, the n-th `{{` of the value is the n-th
 * `{{` of the scalar's source (escapes and line folding never touch them); before any
 * `{{`, the offset counts from the scalar's start (past its quote). Falls back to the
 * scalar's start when the source does not line up.
 */
export function locateInValue(source: YamlSource, value: StringValue, offset: number): SourceLocation {
  const [start, end] = value.range;
  const raw = source.text.slice(start, end);
  const locate = (absolute: number): SourceLocation => {
    const { line, col } = source.lineCounter.linePos(absolute);
    return { file: source.file, line, column: col };
  };
  const opener = value.value.lastIndexOf('{{', offset);
  if (opener === -1) {
    const quoted = raw.startsWith('"') || raw.startsWith("'") ? 1 : 0;
    const plain = raw.startsWith('|') || raw.startsWith('>') ? -1 : quoted;
    return locate(plain === -1 ? start : Math.min(start + plain + offset, end));
  }
  const nth = countOccurrences(value.value.slice(0, opener), '{{');
  let index = -2;
  for (let i = 0; i <= nth; i++) {
    index = raw.indexOf('{{', index + 2);
    if (index === -1) return locate(start);
  }
  return locate(start + index + (offset - opener));
}

function countOccurrences(text: string, needle: string): number {
  let count = 0;
  for (let index = text.indexOf(needle); index !== -1; index = text.indexOf(needle, index + needle.length)) {
    count++;
  }
  return count;
}
