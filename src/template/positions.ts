import { isAlias, isMap, isPair, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';
import type { FieldPath } from './types.ts';

/**
 * Where each field of a YAML file was written, by field path, so that any value (and any
 * error about it) can be traced to file:line:column. Built once at load from the yaml
 * package's node ranges; plain data afterwards (toJSON/fromJSON), so it can be stored with
 * a resolution's snapshot of its template.
 */

export interface SourceLocation {
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based. */
  column: number;
}

/** [key line, key column, value line, value column, 1 if the value is a map or a list]. */
type Entry = [number, number, number, number, number];

/** `steps.fetch.dependencies[0]`; keys that are not plain words are quoted: `steps["a.b"]`. */
export function formatPath(path: FieldPath): string {
  let text = '';
  for (const segment of path) {
    if (typeof segment === 'number') text += `[${segment}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(segment)) text += text === '' ? segment : `.${segment}`;
    else text += `[${JSON.stringify(segment)}]`;
  }
  return text;
}

export class PositionMap {
  readonly file: string;
  private readonly entries: Map<string, Entry>;

  constructor(file: string, entries: Map<string, Entry> = new Map()) {
    this.file = file;
    this.entries = entries;
  }

  /** Reads the positions of a parsed document (parseDocument with this lineCounter). */
  static fromDocument(file: string, document: Document, lineCounter: LineCounter): PositionMap {
    const entries = new Map<string, Entry>();
    const at = (offset: number): [number, number] => {
      const { line, col } = lineCounter.linePos(offset);
      return [line, col];
    };
    const visit = (node: unknown, path: (string | number)[], key: [number, number], seen: Set<unknown>) => {
      const target = isAlias(node) ? node.resolve(document) : node;
      if (seen.has(target)) return; // an alias of one of its own ancestors
      const range = (node as Node | null)?.range;
      // A missing value (`description:`) is a null scalar with an empty range: use its key.
      const empty = target === null || target === undefined || (isScalar(target) && target.value === null);
      const shown = range && !empty ? at(range[0]) : key;
      const collection = isMap(target) || isSeq(target) ? 1 : 0;
      const name = formatPath(path);
      if (!entries.has(name)) entries.set(name, [key[0], key[1], shown[0], shown[1], collection]);
      const inner = new Set(seen).add(target);
      if (isMap(target)) {
        for (const pair of target.items) visitPair(pair, path, inner);
      } else if (isSeq(target)) {
        target.items.forEach((item, index) => {
          const where = (item as Node | null)?.range ? at((item as Node).range?.[0] ?? 0) : shown;
          visit(item, [...path, index], where, inner);
        });
      }
    };
    const visitPair = (pair: unknown, path: (string | number)[], seen: Set<unknown>) => {
      if (!isPair(pair) || !isScalar(pair.key)) return;
      const keyAt = at(pair.key.range?.[0] ?? 0);
      if (pair.key.value === '<<') {
        // A YAML merge key: the merged entries count as written where their anchor is.
        const sources = isSeq(pair.value) ? pair.value.items : [pair.value];
        for (const source of sources) {
          const resolved = isAlias(source) ? source.resolve(document) : source;
          if (isMap(resolved)) for (const inner of resolved.items) visitPair(inner, path, seen);
        }
        return;
      }
      visit(pair.value, [...path, String(pair.key.value)], keyAt, seen);
    };
    const root = document.contents;
    visit(root, [], root?.range ? at(root.range[0]) : [1, 1], new Set());
    return new PositionMap(file, entries);
  }

  static fromJSON(json: { file: string; entries: Record<string, Entry> }): PositionMap {
    return new PositionMap(json.file, new Map(Object.entries(json.entries)));
  }

  toJSON(): { file: string; entries: Record<string, Entry> } {
    return { file: this.file, entries: Object.fromEntries(this.entries) };
  }

  /** Whether the field was written in the file. */
  has(path: FieldPath): boolean {
    return this.entries.has(formatPath(path));
  }

  /**
   * Where to report something about a field: its value when that is a scalar, its key when
   * it holds a map or a list (the line that names it). A field that was not written (a
   * default, a missing property) is reported at its nearest written ancestor.
   */
  at(path: FieldPath): SourceLocation {
    const [entry, exact] = this.nearest(path);
    if (!entry) return { file: this.file, line: 1, column: 1 };
    const useKey = entry[4] === 1 || !exact;
    return { file: this.file, line: useKey ? entry[0] : entry[2], column: useKey ? entry[1] : entry[3] };
  }

  /** Where the field's key was written (an unknown key is reported there). */
  keyAt(path: FieldPath): SourceLocation {
    const [entry] = this.nearest(path);
    return entry
      ? { file: this.file, line: entry[0], column: entry[1] }
      : { file: this.file, line: 1, column: 1 };
  }

  /** Where the field's value starts (for a block scalar, its indicator `|` or `>`). */
  valueAt(path: FieldPath): SourceLocation {
    const [entry] = this.nearest(path);
    return entry
      ? { file: this.file, line: entry[2], column: entry[3] }
      : { file: this.file, line: 1, column: 1 };
  }

  private nearest(path: FieldPath): [Entry | undefined, boolean] {
    for (let length = path.length; length >= 0; length--) {
      const entry = this.entries.get(formatPath(path.slice(0, length)));
      if (entry) return [entry, length === path.length];
    }
    return [undefined, false];
  }
}
