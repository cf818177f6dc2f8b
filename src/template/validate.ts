import type { ActionScope } from './actions.ts';
import { entriesOf, isRecord, itemsOf } from './data.ts';
import { IssueList, type TemplateIssue } from './errors.ts';
import { NO_FUNCTIONS } from './functions.ts';
import { checkInputs, checkVariables } from './inputs.ts';
import { normaliseTemplate } from './normalise.ts';
import { checkShape } from './schema-check.ts';
import { checkSteps } from './steps.ts';
import { checkStrings } from './strings.ts';
import type { FunctionLibrary, Template } from './types.ts';
import type { YamlSource } from './yaml-source.ts';

/**
 * A template file, checked whole: its shape (schemas/template.schema.json), then what a
 * schema cannot say (steps.ts, inputs.ts, conditions.ts, strings.ts). Every issue is
 * collected; the template is normalised (defaults applied) only when there is none.
 */

export interface CheckOptions {
  /**
   * Whether an action type names a builtin or a registered plugin: the caller decides (the
   * CLI from the builtins and, with --plugins, the registry; the engine from its host), so
   * this module never reads the store. Functions are known from `functions`.
   */
  isKnownAction: (type: string) => boolean;
  /** Known builtin and plugin names, for "did you mean" (optional). */
  actionNames?: readonly string[];
  /** The functions templates may use as action types; default none. */
  functions?: FunctionLibrary;
}

export function actionScope(options: CheckOptions): ActionScope {
  return {
    isKnownAction: options.isKnownAction,
    actionNames: options.actionNames ?? [],
    library: options.functions ?? NO_FUNCTIONS,
  };
}

export function checkTemplate(
  source: YamlSource,
  options: CheckOptions,
): { issues: TemplateIssue[]; template?: Template } {
  const issues = new IssueList(source.positions);
  const data = source.data;
  if (data === null || data === undefined) {
    issues.add([], 'the file is empty: a template is a map with at least name, description and steps');
    return { issues: issues.sorted() };
  }
  checkShape('template', data, issues);
  if (!isRecord(data)) return { issues: issues.sorted() };

  if (data.auto_runnable === true && itemsOf(data.resolver_inputs).length > 0) {
    issues.add(
      ['auto_runnable'],
      'an auto_runnable template cannot have resolver_inputs (nobody would give them)',
    );
  }
  if (data.allow_all_resolver_usernames === true && data.auto_runnable !== true) {
    issues.add(
      ['allow_all_resolver_usernames'],
      'a template anybody may resolve must be auto_runnable: true (as in µTask)',
    );
  }
  if (typeof data.name === 'string' && data.name.trim().length < 3 && data.name.length >= 3) {
    issues.add(['name'], 'must be at least 3 characters long, spaces aside');
  }
  checkInputs(data.inputs, ['inputs'], issues);
  checkInputs(data.resolver_inputs, ['resolver_inputs'], issues);
  checkVariables(data.variables, ['variables'], issues);
  checkSteps(
    data.steps,
    {
      actions: actionScope(options),
      baseConfigurations: entriesOf(data.base_configurations).map(([name]) => name),
    },
    issues,
  );
  const names = (inputs: unknown): string[] =>
    itemsOf(inputs).flatMap((input) =>
      isRecord(input) && typeof input.name === 'string' ? [input.name] : [],
    );
  checkStrings(source, issues, {
    inputs: names(data.inputs),
    resolverInputs: names(data.resolver_inputs),
    steps: entriesOf(data.steps).map(([name]) => name),
  });

  if (issues.length > 0) return { issues: issues.sorted() };
  return { issues: [], template: normaliseTemplate(data) };
}
