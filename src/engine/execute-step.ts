import { NO_MASK, type Masker } from './secrets.ts';
import { isRecord } from '../template/data.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { checkAgainst } from '../schema/json-schema.ts';
import { customStatesOf, functionChain, preHookOf } from '../template/functions.ts';
import { isRenderError, renderValue, type EvalCache } from '../template/render.ts';
import type { Action, ActionOutput, FunctionLibrary } from '../template/types.ts';
import {
  ActionError,
  isActionError,
  type ActionContext,
  type ActionResult,
  type ActionRunner,
} from './actions/types.ts';
import type { LiveStep } from './live-step.ts';
import type { ResourceLimiter } from './resources.ts';
import { StepState } from './states.ts';
import type { ResolutionValues } from './values.ts';

/**
 * One execution of one step, as µTask's step.Run: max_retries, the pre_hook (re-run on every
 * try), execution_delay, base configuration and functions, the action, output strategies,
 * `json_schema` validation, and the state the result maps to. Never throws: whatever goes
 * wrong becomes the step's state and error.
 */

export interface StepEnvironment {
  values: ResolutionValues;
  baseConfigurations: Record<string, Record<string, unknown>>;
  functions: FunctionLibrary;
  evalCache: EvalCache;
  resolveAction: (type: string) => Promise<ActionRunner | undefined>;
  resources: ResourceLimiter;
  actionContext: (step: LiveStep) => ActionContext;
}

/** What executing a step gives: the fields of the step to write back. */
export type Executed = Pick<LiveStep, 'state' | 'output' | 'metadata' | 'error' | 'try_count' | 'runDetails'>;

interface Execution {
  runner: ActionRunner;
  configuration: unknown;
  outputs: ActionOutput[];
  /** The innermost function's arguments, when the action goes through functions. */
  functionArgs: Record<string, unknown> | undefined;
}

/** A base configuration under a configuration: the configuration's keys win, objects merge. */
function mergeUnder(base: Record<string, unknown>, configuration: unknown): unknown {
  if (!isRecord(configuration)) return configuration ?? base;
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(configuration)) {
    const under = merged[key];
    merged[key] = isRecord(under) && isRecord(value) ? mergeUnder(under, value) : value;
  }
  return merged;
}

/**
 * Renders an action's configuration and follows functions to the runner (µTask
 * generateExecution): a function's rendered configuration becomes its `function_args`.
 */
async function prepare(
  step: LiveStep,
  action: Action,
  env: StepEnvironment,
  preHook: { output?: unknown; metadata?: unknown } | undefined,
  path: string,
): Promise<Execution> {
  const iterator = step.has_item ? step.item : undefined;
  let functionArgs: Record<string, unknown> | undefined;
  const render = (value: unknown, where: string): Promise<unknown> =>
    renderValue(value, env.values.context({ iterator, pre_hook: preHook, function_args: functionArgs }), {
      step: step.name,
      evalCache: env.evalCache,
      path: where,
    });
  let base: Record<string, unknown> = {};
  if (action.base_configuration) {
    const found = env.baseConfigurations[action.base_configuration];
    if (!found) {
      throw new ActionError('fatal', `could not find base configuration '${action.base_configuration}'`);
    }
    base = (await render(found, `base_configurations.${action.base_configuration}`)) as Record<
      string,
      unknown
    >;
  }
  const outputs: ActionOutput[] = [];
  let current = action;
  let configuration: unknown = await render(current.configuration, `${path}.configuration`);
  const { chain } = functionChain(action.type, env.functions);
  for (let depth = 0; ; depth += 1) {
    if (current.output) {
      const format =
        current.output.strategy === 'merge'
          ? await render(current.output.format, `${path}.output.format`)
          : current.output.format;
      if (format !== null && format !== undefined) {
        outputs.unshift({ strategy: current.output.strategy, format });
      }
    }
    const fn = chain[depth];
    if (!fn) break;
    functionArgs = isRecord(configuration) ? configuration : {};
    current = fn.function.action;
    configuration = await render(current.configuration, `function ${fn.name}.action.configuration`);
  }
  const runner = await env.resolveAction(current.type);
  if (!runner) throw new ActionError('fatal', `unknown action type '${current.type}'`);
  return { runner, configuration: mergeUnder(base, configuration), outputs, functionArgs };
}

async function runExecution(
  step: LiveStep,
  execution: Execution,
  env: StepEnvironment,
): Promise<ActionResult> {
  const resources = [...(execution.runner.resources?.(execution.configuration) ?? []), ...step.def.resources];
  const release = await env.resources.acquire(resources, env.actionContext(step).signal);
  try {
    return await execution.runner.run(execution.configuration, env.actionContext(step));
  } finally {
    release();
  }
}

/**
 * µTask generateOutput: merge formats under the output, or render a template format. A
 * template format is rendered with the values the action was rendered with: µTask passes
 * the values holding the step's pre_hook result and the (innermost) function's arguments,
 * so `{{pre_hook.output}}` and `{{function_args.x}}` read the same there as in the
 * configuration (they used to render empty).
 */
async function applyOutputs(
  step: LiveStep,
  execution: Execution,
  env: StepEnvironment,
  output: unknown,
  preHook: { output?: unknown; metadata?: unknown } | undefined,
): Promise<unknown> {
  let result = output;
  for (const { strategy, format } of execution.outputs) {
    if (strategy === 'merge') {
      if (!isRecord(format)) throw new Error('invalid output merge data format');
      result =
        result === null || result === undefined ? format : { ...format, ...(isRecord(result) ? result : {}) };
    } else {
      env.values.setOutput(step.name, result);
      result = await renderValue(
        format,
        env.values.context({
          iterator: step.has_item ? step.item : undefined,
          pre_hook: preHook,
          function_args: execution.functionArgs,
        }),
        {
          step: step.name,
          evalCache: env.evalCache,
          path: `steps.${step.name}.action.output.format`,
        },
      );
    }
  }
  return result;
}

const ERROR_STATES = {
  client: StepState.CLIENT_ERROR,
  server: StepState.SERVER_ERROR,
  fatal: StepState.FATAL_ERROR,
  waiting: StepState.WAITING,
  retry: StepState.TO_RETRY,
} as const;

function messageOf(error: unknown): string {
  if (isRenderError(error) || error instanceof Error) return error.message;
  return String(error);
}

/** What a step left, its secrets concealed (secrets.ts). */
export function maskExecuted(executed: Executed, mask: Masker): Executed {
  if (mask === NO_MASK) return executed;
  const { runDetails } = executed;
  return {
    ...executed,
    output: mask(executed.output),
    metadata: mask(executed.metadata),
    error: mask(executed.error),
    runDetails: runDetails && { ...runDetails, result: mask(runDetails.result) },
  };
}

/** Runs the step once; `step` is the engine's copy, not changed. */
export async function executeStep(step: LiveStep, env: StepEnvironment): Promise<Executed> {
  const done = (fields: Partial<Executed>): Executed => ({
    state: step.state,
    output: step.output,
    metadata: step.metadata,
    error: step.error,
    try_count: step.try_count,
    ...fields,
  });
  const maxRetries = step.def.max_retries;
  if (maxRetries > 0 && step.try_count > maxRetries) {
    return done({
      state: StepState.FATAL_ERROR,
      error: `Step reached max retries ${maxRetries}: ${step.error ?? ''}`,
    });
  }

  let preHookValues: { output?: unknown; metadata?: unknown } | undefined;
  const preHook = preHookOf(step.def, env.functions);
  if (preHook) {
    try {
      const execution = await prepare(step, preHook, env, undefined, `steps.${step.name}.pre_hook`);
      const result = await runExecution(step, execution, env);
      preHookValues = { output: result.output, metadata: result.metadata };
    } catch (error) {
      return done({ state: StepState.FATAL_ERROR, error: `prehook: ${messageOf(error)}` });
    }
  }

  if (step.def.execution_delay) {
    await sleep(step.def.execution_delay, undefined, { signal: env.actionContext(step).signal }).catch(
      () => undefined,
    );
  }
  if (env.actionContext(step).signal.aborted) return done({ state: StepState.TO_RETRY });

  let execution: Execution;
  try {
    execution = await prepare(step, step.def.action, env, preHookValues, `steps.${step.name}.action`);
  } catch (error) {
    return done({ state: StepState.FATAL_ERROR, error: messageOf(error) });
  }

  let result: ActionResult = {};
  let failure: ActionError | undefined;
  try {
    result = await runExecution(step, execution, env);
  } catch (error) {
    failure = isActionError(error) ? error : new ActionError('server', messageOf(error));
    result = { output: failure.output, metadata: failure.metadata };
  }
  if (
    !failure &&
    result.state !== undefined &&
    !customStatesOf(step.def, env.functions).includes(result.state)
  ) {
    failure = new ActionError(
      'fatal',
      `the action ended in state ${result.state}, which is not one of the step's custom_states`,
      result,
    );
  }
  const executed: Executed = {
    state: StepState.RUNNING,
    output: result.output,
    metadata: result.metadata,
    error: null,
    try_count: step.try_count + 1,
    runDetails: failure ? failure.process : result.process,
  };
  try {
    executed.output = await applyOutputs(step, execution, env, result.output, preHookValues);
  } catch (error) {
    return {
      ...executed,
      state: StepState.FATAL_ERROR,
      error: `unable to format output: ${messageOf(error)}`,
    };
  }
  if (failure) return { ...executed, state: ERROR_STATES[failure.kind], error: failure.message };
  if (step.def.json_schema !== undefined) {
    let problems: string | null;
    try {
      problems = checkAgainst(step.def.json_schema, executed.output ?? null);
    } catch (error) {
      problems = `json_schema does not compile: ${messageOf(error)}`;
    }
    if (problems) return { ...executed, state: StepState.FATAL_ERROR, error: problems };
  }
  return { ...executed, state: result.state ?? StepState.DONE, error: null };
}
