import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUILTIN_ACTIONS } from '../../src/plugins/builtins.ts';
import { formatIssue, type TemplateIssue } from '../../src/template/errors.ts';
import type { CheckOptions } from '../../src/template/validate.ts';

/** test/fixtures/templates/, relative to the working directory (issues name files as given). */
export const TEMPLATE_FIXTURES = path.relative(
  process.cwd(),
  fileURLToPath(new URL('../fixtures/templates/', import.meta.url)),
);

export function fixture(...parts: string[]): string {
  return path.join(TEMPLATE_FIXTURES, ...parts);
}

/** Builtins only, as `taskhost template validate` without --plugins. */
export const BUILTINS_ONLY: Omit<CheckOptions, 'functions'> = {
  isKnownAction: (type) => BUILTIN_ACTIONS.has(type),
  actionNames: [...BUILTIN_ACTIONS],
};

/** Issue lines with the fixtures directory left out (`invalid/x.yaml:3:5: field: message`), messages included. */
export function issueLines(issues: readonly TemplateIssue[]): string[] {
  return issues.map((issue) => formatIssue(issue).replaceAll(`${TEMPLATE_FIXTURES}${path.sep}`, ''));
}
