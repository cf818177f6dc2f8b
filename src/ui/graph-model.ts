import { parseDependency } from '../template/graph.ts';
import type { ResolutionStep, StepDefinition } from './types.ts';

/**
 * A template's or a resolution's steps as the graph the dashboard draws: one node a step
 * (a foreach step's children too, once it expanded), an edge a dependency labelled with the
 * states it waits for, and an edge from a foreach step to each of its children.
 */

export interface GraphNode {
  id: string;
  /** What the step runs (`echo`, a plugin's name). */
  action: string;
  foreach: boolean;
  /** The foreach step a child belongs to. */
  parent: string | null;
  state: string | null;
}

export interface GraphEdge {
  from: string;
  to: string;
  /** The states the dependency waits for (`DONE`, `ANY`, custom ones); `item` for a foreach child. */
  label: string;
}

export interface StepGraphModel {
  nodes: GraphNode[];
  edges: GraphEdge[];
}

export function graphOf(steps: Record<string, StepDefinition | ResolutionStep>): StepGraphModel {
  const nodes: GraphNode[] = [];
  const edges: GraphEdge[] = [];
  for (const [name, step] of Object.entries(steps)) {
    const resolved = step as Partial<ResolutionStep>;
    const parent = resolved.parent ?? null;
    nodes.push({
      id: name,
      action: step.action?.type ?? '',
      foreach: step.foreach !== undefined && step.foreach !== null && parent === null,
      parent,
      state: resolved.state ?? null,
    });
    if (parent !== null) {
      edges.push({ from: parent, to: name, label: 'item' });
      continue;
    }
    for (const text of step.dependencies ?? []) {
      const dependency = parseDependency(text);
      if (steps[dependency.step]) {
        edges.push({ from: dependency.step, to: name, label: dependency.states.join(', ') });
      }
    }
  }
  return { nodes, edges };
}
