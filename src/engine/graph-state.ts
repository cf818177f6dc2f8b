import { dependenciesOf, dependencyParts, type LiveStep } from './live-step.ts';
import { ANY, isFinal, isRunnable, StepState } from './states.ts';

/**
 * The pure part of µTask's resolution loop, over the steps held in memory: which steps can
 * run (availableSteps), which can never run and are pruned (pruneSteps), and the indexes
 * both read (BuildStepTree).
 */

export type Steps = Map<string, LiveStep>;

export interface StepTree {
  /** Step → the steps that depend on it. */
  dependents: Map<string, string[]>;
  /** Step → the steps that depend on it in a given state (not ANY): pruned with it. */
  prunable: Map<string, string[]>;
}

export function buildTree(steps: Steps): StepTree {
  const dependents = new Map<string, string[]>();
  const prunable = new Map<string, string[]>();
  const add = (index: Map<string, string[]>, key: string, name: string): void => {
    const list = index.get(key);
    if (list) list.push(name);
    else index.set(key, [name]);
  };
  for (const step of steps.values()) {
    for (const dependency of dependenciesOf(step)) {
      const { step: on, states } = dependencyParts(dependency);
      add(dependents, on, step.name);
      if (states[0] !== ANY) add(prunable, on, step.name);
    }
  }
  return { dependents, prunable };
}

/** Whether every step `step` depends on is final, recursively (µTask parentDepsAreFinal). */
function ancestorsFinal(steps: Steps, step: LiveStep, seen = new Set<string>()): boolean {
  for (const dependency of dependenciesOf(step)) {
    const { step: name } = dependencyParts(dependency);
    const on = steps.get(name);
    if (!on || !isFinal(on.state)) return false;
    if (seen.has(name)) continue;
    seen.add(name);
    if (!ancestorsFinal(steps, on, seen)) return false;
  }
  return true;
}

function dependencyMet(steps: Steps, step: LiveStep, dependency: string): boolean {
  const { step: name, states } = dependencyParts(dependency);
  const on = steps.get(name);
  if (!on) return false;
  if (states[0] === ANY && isFinal(on.state) && ancestorsFinal(steps, on)) return true;
  if (states.includes(on.state)) return true;
  // A foreach step being retried ignores its previous children, unless one still runs.
  return (
    Boolean(step.def.foreach) &&
    step.state !== StepState.EXPANDED &&
    (step.children_steps ?? []).includes(name) &&
    on.state !== StepState.RUNNING
  );
}

/**
 * The steps that can run now (µTask availableSteps): runnable, not run yet in this pass,
 * every dependency met. Candidates are the dependents of `modified` (all steps when it is
 * empty), steps in RETRY_NOW, and `expanded` (children just created).
 */
export function availableSteps(
  steps: Steps,
  tree: StepTree,
  modified: ReadonlySet<string>,
  executed: Set<string>,
  expanded: readonly string[] = [],
): LiveStep[] {
  const candidates = new Set<string>();
  if (modified.size > 0) {
    for (const name of modified) {
      for (const dependent of tree.dependents.get(name) ?? []) candidates.add(dependent);
    }
  } else {
    for (const name of steps.keys()) candidates.add(name);
  }
  // RETRY_NOW steps run again, though they ran in this pass. A state only changes through a
  // modified step, so only those are looked at (µTask scans every step run in the pass: with
  // a foreach's thousands of children, that scan made each completion cost O(steps)).
  for (const name of modified.size > 0 ? [...modified] : [...executed]) {
    if (executed.has(name) && steps.get(name)?.state === StepState.RETRY_NOW) {
      candidates.add(name);
      executed.delete(name);
    }
  }
  for (const name of expanded) candidates.add(name);

  const available: LiveStep[] = [];
  for (const name of candidates) {
    const step = steps.get(name);
    if (!step || !isRunnable(step.state) || executed.has(name)) continue;
    // Last dependencies first: an expanded foreach step depends on its children, which end
    // about in order, so the first unmet one is found at once, not after all those done.
    const dependencies = dependenciesOf(step);
    let met = true;
    for (let index = dependencies.length - 1; index >= 0 && met; index -= 1) {
      met = dependencyMet(steps, step, dependencies[index] as string);
    }
    if (met) available.push(step);
  }
  // A foreach step that runs again discards its previous children: none of them runs.
  const discarded = new Set(
    available.filter((step) => step.def.foreach).flatMap((step) => step.children_steps ?? []),
  );
  return available.filter((step) => !discarded.has(step.name));
}

/**
 * Prunes what can never run (µTask pruneSteps): the dependents of a PRUNE step, and the
 * dependents of a final step that wanted it in another state; recursively. Calls `prune`
 * for each step it prunes and adds it to `modified`.
 */
export function pruneSteps(
  steps: Steps,
  tree: StepTree,
  modified: Set<string>,
  prune: (name: string) => void,
): void {
  let round = new Set(modified);
  while (round.size > 0) {
    const next = new Set<string>();
    for (const name of round) {
      const step = steps.get(name);
      if (!step || !isFinal(step.state)) continue;
      for (const dependentName of tree.prunable.get(name) ?? []) {
        const dependent = steps.get(dependentName);
        if (!dependent || dependent.state === StepState.PRUNE) continue;
        let prunes = step.state === StepState.PRUNE;
        if (!prunes) {
          const wanted = dependenciesOf(dependent)
            .map(dependencyParts)
            .find((dependency) => dependency.step === name);
          prunes = wanted !== undefined && !wanted.states.includes(step.state);
        }
        if (!prunes) continue;
        prune(dependentName);
        modified.add(dependentName);
        next.add(dependentName);
      }
    }
    round = next;
  }
}
