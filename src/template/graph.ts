/**
 * The step graph, as pure functions over step names: dependency strings (µTask's
 * DependencyParts), transitive dependency chains, and cycles. No I/O; the engine uses the
 * same functions to decide what runs.
 */

export const ANY = 'ANY';
export const DONE = 'DONE';

export interface Dependency {
  step: string;
  /** ['DONE'] when the dependency names no state; ['ANY'] for `step:ANY`. */
  states: string[];
}

/** `fetch` → DONE; `fetch:DONE,NOT_FOUND`; `fetch:ANY`. Split on the first `:`, states on `,`. */
export function parseDependency(text: string): Dependency {
  const colon = text.indexOf(':');
  if (colon === -1) return { step: text, states: [DONE] };
  return { step: text.slice(0, colon), states: text.slice(colon + 1).split(',') };
}

/** Step name → the names of the steps it depends on (known steps only, no state). */
export type DependencyGraph = ReadonlyMap<string, readonly string[]>;

/**
 * Every step `names` depend on, directly or not (µTask's dependenciesChain), in the order
 * found. Names missing from the graph are kept but not followed.
 */
export function dependencyChain(graph: DependencyGraph, names: readonly string[]): string[] {
  const chain = [...new Set(names)];
  for (let index = 0; index < chain.length; index++) {
    for (const next of graph.get(chain[index] as string) ?? []) {
      if (!chain.includes(next)) chain.push(next);
    }
  }
  return chain;
}

/**
 * Whether a condition of step `source` may set the state of step `target`: the step itself,
 * or a step on its dependency chain in either direction (µTask's canImpactState: their
 * states are known when the condition runs).
 */
export function canImpactState(graph: DependencyGraph, source: string, target: string): boolean {
  if (source === target) return true;
  return (
    dependencyChain(graph, graph.get(source) ?? []).includes(target) ||
    dependencyChain(graph, graph.get(target) ?? []).includes(source)
  );
}

/**
 * The dependency cycles of a graph, one per strongly connected component of two steps or
 * more (Tarjan), each as the steps in order, starting at the component's first step in the
 * graph's order: [a, b, c] means a depends on b, b on c, and c on a. Self-dependencies are
 * not cycles here (they are reported on their own).
 */
export function findCycles(graph: DependencyGraph): string[][] {
  const order = [...graph.keys()];
  const rank = new Map(order.map((name, index) => [name, index]));
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  let counter = 0;

  const edges = (name: string): string[] =>
    (graph.get(name) ?? []).filter((next) => next !== name && graph.has(next));

  // Iterative Tarjan: templates are small, but a recursion depth per step is no contract.
  for (const root of order) {
    if (index.has(root)) continue;
    const work: { name: string; next: number }[] = [{ name: root, next: 0 }];
    index.set(root, counter);
    low.set(root, counter++);
    stack.push(root);
    onStack.add(root);
    while (work.length > 0) {
      const frame = work[work.length - 1] as { name: string; next: number };
      const targets = edges(frame.name);
      if (frame.next < targets.length) {
        const next = targets[frame.next++] as string;
        if (!index.has(next)) {
          index.set(next, counter);
          low.set(next, counter++);
          stack.push(next);
          onStack.add(next);
          work.push({ name: next, next: 0 });
        } else if (onStack.has(next)) {
          low.set(frame.name, Math.min(low.get(frame.name) ?? 0, index.get(next) ?? 0));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low.set(parent.name, Math.min(low.get(parent.name) ?? 0, low.get(frame.name) ?? 0));
      if (low.get(frame.name) === index.get(frame.name)) {
        const component: string[] = [];
        let member: string | undefined;
        do {
          member = stack.pop() as string;
          onStack.delete(member);
          component.push(member);
        } while (member !== frame.name);
        if (component.length > 1) components.push(component);
      }
    }
  }

  return components
    .map((component) => {
      const members = new Set(component);
      const start = [...component].sort((a, b) => (rank.get(a) ?? 0) - (rank.get(b) ?? 0))[0] as string;
      return cycleThrough(start, members, edges);
    })
    .sort((a, b) => (rank.get(a[0] as string) ?? 0) - (rank.get(b[0] as string) ?? 0));
}

/** A shortest cycle from `start` back to it inside one component (breadth first). */
function cycleThrough(
  start: string,
  members: ReadonlySet<string>,
  edges: (name: string) => string[],
): string[] {
  const previous = new Map<string, string>();
  const queue = [start];
  for (let head = 0; head < queue.length; head++) {
    const name = queue[head] as string;
    for (const next of edges(name)) {
      if (!members.has(next)) continue;
      if (next === start) {
        const path = [name];
        for (let at = name; at !== start;) {
          at = previous.get(at) as string;
          path.unshift(at);
        }
        return path;
      }
      if (!previous.has(next)) {
        previous.set(next, name);
        queue.push(next);
      }
    }
  }
  return [start];
}
