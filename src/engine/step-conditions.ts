import { conditionsOf } from '../template/functions.ts';
import { renderString, type EvalCache } from '../template/render.ts';
import type { Condition, FunctionLibrary } from '../template/types.ts';
import { evaluateAll } from './conditions.ts';
import type { LiveStep } from './live-step.ts';
import { AFTER_RUN_STATES, StepState } from './states.ts';
import type { ResolutionValues } from './values.ts';

/**
 * Skip conditions before a step runs and check conditions after (µTask step.PreRun and
 * step.AfterRun), with their assertions rendered against the resolution's values. A
 * condition whose assertions all hold applies its `then` (states of this step or others)
 * through `setState`; `final` stops at the first that applies. An assertion that cannot be
 * evaluated (a rendering error, GT on a word) puts the step in SERVER_ERROR (skip) or
 * AFTERRUN_ERROR (check) with the reason.
 */

export type StateSetter = (step: string, state: string, message: string) => void;

interface ConditionScope {
  values: ResolutionValues;
  functions: FunctionLibrary;
  evalCache: EvalCache;
}

/** True when the condition's assertions hold; throws when they cannot be evaluated. */
async function holds(condition: Condition, step: LiveStep, scope: ConditionScope): Promise<boolean> {
  const context = scope.values.context({ iterator: step.has_item ? step.item : undefined });
  const options = { step: step.name, evalCache: scope.evalCache };
  const rendered = [];
  for (const [index, assert] of condition.if.entries()) {
    const path = `steps.${step.name}.conditions.if[${index}]`;
    rendered.push({
      ...assert,
      value: await renderString(assert.value, context, { ...options, path: `${path}.value` }),
      expected: await renderString(assert.expected, context, { ...options, path: `${path}.expected` }),
    });
  }
  return evaluateAll(rendered).met;
}

/**
 * The message of a condition that holds, rendered like its assertions: µTask's
 * Condition.Eval renders it (`message: User {{.input.id}} not found`) and, when that fails,
 * keeps the text with "(TEMPLATING ERROR: ...)" appended rather than failing the step.
 */
async function messageOf(condition: Condition, step: LiveStep, scope: ConditionScope): Promise<string> {
  const message = condition.message ?? '';
  try {
    return await renderString(
      message,
      scope.values.context({ iterator: step.has_item ? step.item : undefined }),
      { step: step.name, evalCache: scope.evalCache, path: `steps.${step.name}.conditions.message` },
    );
  } catch (error) {
    return `${message} (TEMPLATING ERROR: ${(error as Error).message})`;
  }
}

async function apply(
  condition: Condition,
  step: LiveStep,
  scope: ConditionScope,
  setState: StateSetter,
): Promise<void> {
  const message = await messageOf(condition, step, scope);
  for (const [target, state] of Object.entries(condition.then)) {
    setState(target === 'this' ? step.name : target, state, message);
  }
}

/**
 * Evaluates skip conditions. Returns true when the step must not run in this pass (a
 * condition applied, or could not be evaluated).
 */
export async function preRun(step: LiveStep, scope: ConditionScope, setState: StateSetter): Promise<boolean> {
  let skipped = false;
  for (const condition of conditionsOf(step.def, scope.functions)) {
    if (condition.type !== 'skip') continue;
    if (step.def.foreach && condition.foreach !== 'parent') continue;
    try {
      if (!(await holds(condition, step, scope))) continue;
    } catch (error) {
      setState(step.name, StepState.SERVER_ERROR, (error as Error).message);
      return true;
    }
    skipped = true;
    await apply(condition, step, scope, setState);
    if (condition.final) break;
  }
  return skipped;
}

/** Evaluates check conditions on a step that ran (DONE, CLIENT_ERROR or AFTERRUN_ERROR). */
export async function afterRun(step: LiveStep, scope: ConditionScope, setState: StateSetter): Promise<void> {
  if (step.skipped || step.def.foreach || !AFTER_RUN_STATES.has(step.state)) return;
  for (const condition of conditionsOf(step.def, scope.functions)) {
    if (condition.type !== 'check') continue;
    try {
      if (!(await holds(condition, step, scope))) continue;
    } catch (error) {
      setState(step.name, StepState.AFTERRUN_ERROR, (error as Error).message);
      return;
    }
    await apply(condition, step, scope, setState);
    if (condition.final) break;
  }
}
