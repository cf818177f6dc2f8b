import { TaskhostError } from '../errors.ts';
import { formatPath, type PositionMap, type SourceLocation } from './positions.ts';
import type { FieldPath } from './types.ts';

/**
 * What is wrong in a template or function file: one issue a line, as
 * `templates/x.yaml:12:7: steps.fetch.dependencies[0]: unknown step "fecth" (did you mean "fetch"?)`.
 * Every issue of a file is collected (checks never stop at the first), then sorted by
 * position.
 */

export interface TemplateIssue extends SourceLocation {
  /** The field path (`steps.fetch.dependencies[0]`), '' for the file as a whole. */
  path: string;
  message: string;
}

export function formatIssue(issue: TemplateIssue): string {
  const where = `${issue.file}:${issue.line}:${issue.column}`;
  return issue.path === '' ? `${where}: ${issue.message}` : `${where}: ${issue.path}: ${issue.message}`;
}

/** Issues of one file, placed with its positions. */
export class IssueList {
  private readonly positions: PositionMap;
  private readonly items: TemplateIssue[] = [];
  private readonly seen = new Set<string>();

  constructor(positions: PositionMap) {
    this.positions = positions;
  }

  get length(): number {
    return this.items.length;
  }

  /**
   * An issue about a field, reported where PositionMap.at says (`'key'`: at its key, for an
   * unknown or misplaced key). The same message for the same field is kept once.
   */
  add(path: FieldPath, message: string, where: 'auto' | 'key' = 'auto'): void {
    const location = where === 'key' ? this.positions.keyAt(path) : this.positions.at(path);
    this.push({ ...location, path: formatPath(path), message });
  }

  /** An issue at a precise place (a YAML syntax error, a Handlebars error inside a value). */
  addAt(location: SourceLocation, path: FieldPath, message: string): void {
    this.push({ ...location, path: formatPath(path), message });
  }

  sorted(): TemplateIssue[] {
    return [...this.items].sort(compareIssues);
  }

  private push(issue: TemplateIssue): void {
    const key = `${issue.path}\u0000${issue.message}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.items.push(issue);
  }
}

export function compareIssues(a: TemplateIssue, b: TemplateIssue): number {
  return (
    a.file.localeCompare(b.file) ||
    a.line - b.line ||
    a.column - b.column ||
    a.path.localeCompare(b.path) ||
    a.message.localeCompare(b.message)
  );
}

/**
 * The host error for an invalid template (TH_TEMPLATE_INVALID: HTTP 400, exit 2): its
 * message is the first issue's line (and how many more), `details` holds them all.
 */
export function templateInvalidError(issues: readonly TemplateIssue[]): TaskhostError {
  const [first] = issues;
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
  const message = first ? `${formatIssue(first)}${more}` : 'invalid template';
  return new TaskhostError('TH_TEMPLATE_INVALID', message, { details: issues.map(formatIssue) });
}
