import { stringify } from 'yaml';
import type { Data } from './data.ts';
import { normaliseStep } from './normalise.ts';
import { formatPath } from './positions.ts';
import type { Template } from './types.ts';
import { checkTemplate, type CheckOptions } from './validate.ts';
import { parseYaml } from './yaml-source.ts';

/**
 * Edits of a loaded template's steps, for the live edits of a resolution (µTask's
 * UpdateResolution and UpdateResolutionStep run Step.ValidAndNormalize on what they are
 * given). A step is given as YAML would write it; the template with the edited steps is
 * then checked whole, exactly as a template file is (shape, actions, dependencies, custom
 * states, conditions, templating), so an edit can never store what a file could not say.
 *
 * Why the whole template and not the step alone: a step's validity depends on the others
 * (dependencies and the states they wait for, conditions naming other steps, cycles).
 * Only the issues the edit brings are reported: a plugin unregistered since the task was
 * created is not the editor's fault, and must not block an unrelated fix.
 */

/** What is wrong with an edit: the field path in the template (`steps.fetch.action.type`). */
export interface StepEditIssue {
  path: string;
  message: string;
}

/**
 * A loaded template back in the form its file would write: the loaded form is that form
 * with defaults applied, except for execution_delay (milliseconds here, a Go duration or
 * integer nanoseconds in a file) and the expression timeouts computed at load.
 */
export function templateFileForm(template: Template): Record<string, unknown> {
  return {
    ...template,
    variables: template.variables.map(({ expression_timeout_ms: _ms, ...variable }) => variable),
    steps: Object.fromEntries(
      Object.entries(template.steps).map(([name, step]) => [name, stepFileForm(step)]),
    ),
  };
}

/** A loaded step in the form a file writes it (execution_delay as a Go duration). */
export function stepFileForm(step: Template['steps'][string]): Record<string, unknown> {
  return step.execution_delay === undefined
    ? { ...step }
    : { ...step, execution_delay: `${step.execution_delay}ms` };
}

function check(data: Record<string, unknown>, options: CheckOptions): ReturnType<typeof checkTemplate> {
  // Through YAML text, so that every check a file gets (templating included) runs.
  const { source, issues } = parseYaml('resolution.yaml', stringify(data));
  return source ? checkTemplate(source, options) : { issues };
}

/**
 * The template with `edits` (step name → the step as a file writes it) in place of those
 * steps, or the issues the edit brings. Steps keep their order; a new name is added last.
 */
export function editTemplateSteps(
  template: Template,
  edits: Readonly<Record<string, unknown>>,
  options: CheckOptions,
): { template?: Template; issues: StepEditIssue[] } {
  const before = templateFileForm(template);
  const after = { ...before, steps: { ...(before.steps as Record<string, unknown>), ...edits } };
  const checked = check(after, options);
  const known = checked.template
    ? new Set<string>()
    : new Set(check(before, options).issues.map((issue) => `${issue.path}\u0000${issue.message}`));
  const issues = checked.issues
    .filter((issue) => !known.has(`${issue.path}\u0000${issue.message}`))
    .map(({ path, message }) => ({ path, message }));
  if (issues.length > 0) return { issues };
  // The edited steps passed every check (what is left was there before): loaded as a file's are.
  const steps = { ...template.steps };
  for (const [name, step] of Object.entries(edits)) steps[name] = normaliseStep(step as Data);
  return { template: { ...template, steps }, issues: [] };
}

/** `steps.NAME.action.type` → `.action.type` (relative to the step), or null when elsewhere. */
export function pathInStep(path: string, name: string): string | null {
  const prefix = formatPath(['steps', name]);
  if (path === prefix) return '';
  if (path.startsWith(prefix) && /^[.[]/.test(path.slice(prefix.length))) return path.slice(prefix.length);
  return null;
}
