import type { IssueList } from './errors.ts';
import { checkTemplateText, helperNames } from './render.ts';
import { parseExpression, type PathReference } from './expressions.ts';
import { didYouMean } from './suggest.ts';
import { locateInValue, stringValues, type YamlSource } from './yaml-source.ts';

/**
 * The Handlebars in a file's string values: every value is parsed (a syntax error is
 * reported where it is, inside the value), and in templates the paths read from the root
 * context must name what exists: declared inputs, steps, task keys (as µTask's
 * validTemplate checks `.input.X`, `.step.X`, `.task.X`).
 */

/** What a template declares, for references; absent in a function (its context is its caller's). */
export interface ReferenceScope {
  inputs: readonly string[];
  resolverInputs: readonly string[];
  steps: readonly string[];
}

/** µTask's task keys (values.TaskKey). */
export const TASK_KEYS = [
  'task_id',
  'resolution_id',
  'requester_username',
  'requester_groups',
  'resolver_username',
  'created',
  'region',
  'watcher_usernames',
  'watcher_groups',
];

/** What `{{step.NAME.X}}` may read (µTask's README; try_count and max_retries included). */
export const STEP_KEYS = ['output', 'metadata', 'children', 'error', 'state', 'try_count', 'max_retries'];

/** json_schema is data for a validator, never rendered: its strings are not Handlebars. */
const NOT_RENDERED = new Set(['json_schema']);

export function checkStrings(source: YamlSource, issues: IssueList, scope?: ReferenceScope): void {
  for (const value of stringValues(source, NOT_RENDERED)) {
    const parsed = parseExpression(value.value);
    if (parsed.problem) {
      issues.addAt(locateInValue(source, value, parsed.problem.offset), value.path, parsed.problem.message);
      continue;
    }
    // Compiled as rendering compiles it: an unknown helper is refused here, not when a task runs.
    const refused = checkTemplateText(value.value);
    if (refused) {
      const helper = /unknown helper "([^"]+)"/.exec(refused)?.[1];
      const hint = helper ? didYouMean(helper, helperNames()) : '';
      issues.addAt(locateInValue(source, value, 0), value.path, `invalid Handlebars: ${refused}${hint}`);
      continue;
    }
    if (!scope) continue;
    for (const reference of parsed.references) {
      const problem = checkReference(reference, scope);
      if (problem) issues.addAt(locateInValue(source, value, reference.offset), value.path, problem);
    }
  }
}

function checkReference(reference: PathReference, scope: ReferenceScope): string | undefined {
  const [root, key, attribute] = reference.parts;
  if (key === undefined) return undefined;
  const unknown = (what: string, known: readonly string[]): string =>
    `{{${reference.original}}}: unknown ${what} "${key}"${didYouMean(key, known)}`;
  switch (root) {
    case 'input':
      return scope.inputs.includes(key) ? undefined : unknown('input', scope.inputs);
    case 'resolver_input':
      return scope.resolverInputs.includes(key) ? undefined : unknown('resolver input', scope.resolverInputs);
    case 'task':
      return TASK_KEYS.includes(key) ? undefined : unknown('task key', TASK_KEYS);
    case 'step':
      if (key !== 'this' && !scope.steps.includes(key)) return unknown('step', ['this', ...scope.steps]);
      if (attribute !== undefined && !STEP_KEYS.includes(attribute)) {
        return `{{${reference.original}}}: a step has no "${attribute}"${didYouMean(attribute, STEP_KEYS)} (it has ${STEP_KEYS.join(', ')})`;
      }
      return undefined;
    default:
      return undefined;
  }
}
