import type { Action, Condition, FunctionLibrary, LoadedFunction } from './types.ts';

/**
 * Functions as action types (µTask engine/functions): a step whose `action.type` names a
 * function runs that function's action, which may itself name another function (nested
 * functions). These helpers follow that chain the way µTask's Step methods do
 * (walkThroughFunctions): the engine uses them to find what a step really runs, its
 * pre_hook, its conditions and the custom states it may end in.
 */

/** An empty library: no functions. */
export const NO_FUNCTIONS: FunctionLibrary = { functions: new Map(), invalid: new Set() };

/**
 * The functions a `type` goes through, outermost first, and the action type it ends at (a
 * builtin or a plugin). A cycle (refused at load) stops at the first repeated function.
 */
export function functionChain(
  type: string,
  library: FunctionLibrary,
): { chain: LoadedFunction[]; finalType: string; cycle?: string[] } {
  const chain: LoadedFunction[] = [];
  let current = type;
  for (let loaded = library.functions.get(current); loaded; loaded = library.functions.get(current)) {
    if (chain.includes(loaded)) {
      return { chain, finalType: current, cycle: [...chain.map((entry) => entry.name), current] };
    }
    chain.push(loaded);
    current = loaded.function.action.type;
  }
  return { chain, finalType: current };
}

/** A step's custom states with those of the functions its action goes through (µTask GetCustomStates). */
export function customStatesOf(
  step: { custom_states: readonly string[]; action: Action },
  library: FunctionLibrary,
): string[] {
  const states = [...step.custom_states];
  for (const loaded of functionChain(step.action.type, library).chain) {
    for (const state of loaded.function.custom_states) if (!states.includes(state)) states.push(state);
  }
  return states;
}

/**
 * A step's conditions preceded by its functions' (innermost function first, then outer
 * ones, then the step's own), as µTask's GetConditions orders them.
 */
export function conditionsOf(
  step: { conditions: readonly Condition[]; action: Action },
  library: FunctionLibrary,
): Condition[] {
  let conditions = [...step.conditions];
  for (const loaded of functionChain(step.action.type, library).chain) {
    conditions = [...loaded.function.conditions, ...conditions];
  }
  return conditions;
}

/** The pre_hook a step runs: its own, or the one of a function on its chain (µTask GetPreHook; never both, refused at load). */
export function preHookOf(
  step: { pre_hook?: Action; action: Action },
  library: FunctionLibrary,
): Action | undefined {
  let preHook = step.pre_hook;
  for (const loaded of functionChain(step.action.type, library).chain) {
    if (loaded.function.pre_hook) preHook = loaded.function.pre_hook;
  }
  return preHook;
}

/**
 * The `{{function_args.PATH}}` a function's configuration reads as a whole expression
 * (µTask's functionArgsRegexp, `{{ .function_args.x }}` or `{{function_args.x}}`), which a
 * calling configuration must give. An argument read inside a larger expression (`{{default
 * "a" function_args.x}}`) is optional, as in µTask.
 */
export function functionArguments(configuration: unknown): string[] {
  const found: string[] = [];
  const visit = (value: unknown): void => {
    if (typeof value === 'string') {
      for (const match of value.matchAll(/\{\{~?\s*\.?function_args\.([A-Za-z_][\w.]*?)\.?\s*~?\}\}/g)) {
        const name = match[1] as string;
        if (!found.includes(name)) found.push(name);
      }
    } else if (Array.isArray(value)) {
      value.forEach(visit);
    } else if (value !== null && typeof value === 'object') {
      Object.values(value).forEach(visit);
    }
  };
  visit(configuration);
  return found;
}

/** Whether a configuration gives a dotted argument path (`a.b` needs `{a: {b: …}}`). */
export function hasArgument(configuration: unknown, argument: string): boolean {
  let current = configuration;
  for (const key of argument.split('.')) {
    if (current === null || typeof current !== 'object' || !(key in current)) return false;
    current = (current as Record<string, unknown>)[key];
  }
  return true;
}
