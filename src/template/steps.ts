import { checkSchema } from '../schema/json-schema.ts';
import { checkAction, checkPreHooks, isKnownType, type ActionScope } from './actions.ts';
import { checkConditions, THIS } from './conditions.ts';
import { entriesOf, isRecord, stringItems } from './data.ts';
import type { IssueList } from './errors.ts';
import { functionChain } from './functions.ts';
import { ANY, findCycles, parseDependency, type DependencyGraph } from './graph.ts';
import { executionDelayMs, normaliseJsonSchema } from './normalise.ts';
import { BUILTIN_STATES, checkCustomStates, DEPENDENCY_STATES } from './states.ts';
import { didYouMean } from './suggest.ts';
import { TEMPLATE_DEFAULTS } from './types.ts';

/**
 * Checks of a template's steps beyond their shape (µTask Step.ValidAndNormalize): names,
 * actions, dependencies and the states they wait for, cycles, custom states, conditions,
 * foreach, execution_delay and json_schema.
 */

export interface StepScope {
  actions: ActionScope;
  baseConfigurations: readonly string[];
}

/** Each step's known dependencies (names only), in file order. */
export function dependencyGraph(steps: unknown): DependencyGraph {
  const names = new Set(entriesOf(steps).map(([name]) => name));
  return new Map(
    entriesOf(steps).map(([name, step]) => [
      name,
      isRecord(step)
        ? stringItems(step.dependencies)
            .map(([, text]) => parseDependency(text).step)
            .filter((dependency) => names.has(dependency))
        : [],
    ]),
  );
}

export function checkSteps(steps: unknown, scope: StepScope, issues: IssueList): void {
  const graph = dependencyGraph(steps);
  const byName = new Map(entriesOf(steps));
  // A step's custom states, with its functions'; undefined when they cannot be known (its
  // action type is unknown or an invalid function, reported on its own), so that states
  // other steps name are not reported again.
  const customStates = (name: string): string[] | undefined => {
    const step = byName.get(name);
    if (!isRecord(step)) return [];
    const states = stringItems(step.custom_states).map(([, state]) => state);
    const type = isRecord(step.action) ? step.action.type : undefined;
    if (typeof type !== 'string') return states;
    const { chain, finalType } = functionChain(type, scope.actions.library);
    if (scope.actions.library.invalid.has(finalType) || !isKnownType(finalType, scope.actions)) {
      return undefined;
    }
    for (const loaded of chain) {
      for (const state of loaded.function.custom_states) if (!states.includes(state)) states.push(state);
    }
    return states;
  };

  for (const [name, step] of byName) {
    const path = ['steps', name];
    if (name === THIS) {
      issues.add(path, 'the step name "this" is reserved: it means the current step', 'key');
    } else if (/[:,]/.test(name)) {
      issues.add(path, `a step name cannot contain ":" or "," (dependencies use them): "${name}"`, 'key');
    }
    if (!isRecord(step)) continue;
    if (typeof step.name === 'string' && step.name !== name) {
      issues.add(
        [...path, 'name'],
        `name "${step.name}" differs from the step's key "${name}" (leave it out)`,
      );
    }
    checkAction(step.action, [...path, 'action'], scope.actions, issues, scope.baseConfigurations);
    checkAction(step.pre_hook, [...path, 'pre_hook'], scope.actions, issues, scope.baseConfigurations);
    checkPreHooks(step, path, scope.actions, issues);
    checkCustomStates(step.custom_states, [...path, 'custom_states'], issues);
    checkDependencies(name, step.dependencies, byName, customStates, issues);
    checkConditions(
      step.conditions,
      [...path, 'conditions'],
      { step: name, foreach: typeof step.foreach === 'string', graph, customStates },
      issues,
    );
    checkLoopAndTiming(step, path, issues);
  }

  for (const cycle of findCycles(graph)) {
    const [first, second] = cycle as [string, string];
    const step = byName.get(first);
    const index = isRecord(step)
      ? (stringItems(step.dependencies).find(([, text]) => parseDependency(text).step === second)?.[0] ?? 0)
      : 0;
    issues.add(
      ['steps', first, 'dependencies', index],
      `dependency cycle: ${[...cycle, first].join(' -> ')} (each step depends on the next)`,
    );
  }
}

function checkDependencies(
  name: string,
  dependencies: unknown,
  steps: ReadonlyMap<string, unknown>,
  customStates: (step: string) => string[] | undefined,
  issues: IssueList,
): void {
  const seen = new Set<string>();
  for (const [index, text] of stringItems(dependencies)) {
    const path = ['steps', name, 'dependencies', index];
    const { step, states } = parseDependency(text);
    if (step === '') {
      issues.add(path, `no step named in dependency "${text}"`);
      continue;
    }
    if (step === name) {
      issues.add(path, `step "${name}" depends on itself`);
      continue;
    }
    if (!steps.has(step)) {
      const others = [...steps.keys()].filter((other) => other !== name);
      issues.add(path, `unknown step "${step}"${didYouMean(step, others)}`);
      continue;
    }
    if (seen.has(step)) {
      issues.add(path, `"${step}" is already a dependency of "${name}": list its states once`);
    }
    seen.add(step);
    const custom = customStates(step);
    if (custom === undefined) continue;
    const allowed = [...DEPENDENCY_STATES, ...custom, ANY];
    const listed = new Set<string>();
    for (const state of states) {
      if (state === '') {
        issues.add(path, `empty state in dependency "${text}"`);
      } else if (listed.has(state)) {
        issues.add(path, `state ${state} is listed twice in "${text}"`);
      } else if (state === ANY && states.length > 1) {
        issues.add(path, `ANY cannot be combined with other states in "${text}"`);
      } else if (!allowed.includes(state)) {
        const waitable = `DONE, ANY${custom.length > 0 ? ` or a custom state of "${step}" (${custom.join(', ')})` : ` (it has no custom states)`}`;
        issues.add(
          path,
          BUILTIN_STATES.has(state)
            ? `a dependency cannot wait for "${step}" in state ${state}: it waits for ${waitable}`
            : `step "${step}" has no state "${state}"${didYouMean(state, allowed)}: a dependency waits for ${waitable}`,
        );
      }
      listed.add(state);
    }
  }
}

function checkLoopAndTiming(step: Record<string, unknown>, path: string[], issues: IssueList): void {
  if (step.foreach_strategy !== undefined && step.foreach === undefined) {
    issues.add([...path, 'foreach_strategy'], 'foreach_strategy goes with foreach, and this step has none');
  }
  const delay = step.execution_delay;
  if (typeof delay === 'string' || typeof delay === 'number') {
    try {
      const ms = executionDelayMs(delay);
      if (ms < 0 || ms > TEMPLATE_DEFAULTS.max_execution_delay_ms) {
        issues.add(
          [...path, 'execution_delay'],
          `execution_delay must be between 0s and 20s, not ${String(delay)}`,
        );
      }
    } catch (error) {
      issues.add([...path, 'execution_delay'], (error as Error).message);
    }
  }
  if (isRecord(step.json_schema)) {
    try {
      checkSchema(normaliseJsonSchema(step.json_schema));
    } catch (error) {
      // The first violation is the telling one; ajv's anyOf alternatives only repeat it.
      const message = (error as Error).message.replace(/; .*?( \(read as [^)]+\))?$/, '$1');
      issues.add([...path, 'json_schema'], `the JSON Schema does not compile: ${message}`);
    }
  }
}
