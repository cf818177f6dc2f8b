import { html } from 'htm/preact';
import type { VNode } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { GraphEdge, GraphNode, StepGraphModel } from '../graph-model.ts';
import { stateLook } from './common.ts';

/**
 * The step graph, laid out by dagre (loaded with the first graph) and drawn as SVG: a box a
 * step with its name, what it runs and its state as words (colour repeats the state, never
 * replaces it), foreach steps marked, and dependency edges labelled with the states they wait
 * for. With `hrefOf`, each box is a link (to the step's details), so it is reached by keyboard.
 */

interface Placed {
  nodes: (GraphNode & { x: number; y: number; width: number; height: number })[];
  edges: (GraphEdge & { points: { x: number; y: number }[]; labelAt: { x: number; y: number } | null })[];
  width: number;
  height: number;
}

const CHAR = 7.4;
const NODE_HEIGHT = 46;

/** The structure's identity: a new layout only when steps or edges change, not on a state change. */
const shapeKey = (model: StepGraphModel): string =>
  `${model.nodes.map((node) => node.id).join('\u0000')}\u0001${model.edges.map((edge) => `${edge.from}>${edge.to}:${edge.label}`).join('\u0000')}`;

async function layout(model: StepGraphModel): Promise<Placed> {
  const dagre = (await import('@dagrejs/dagre')).default;
  const graph = new dagre.graphlib.Graph({ multigraph: true });
  graph.setGraph({ rankdir: 'LR', nodesep: 14, ranksep: 60, edgesep: 8, marginx: 8, marginy: 8 });
  graph.setDefaultEdgeLabel(() => ({}));
  for (const node of model.nodes) {
    const text = Math.max(node.id.length, node.action.length + 4, 14);
    graph.setNode(node.id, { width: Math.round(text * CHAR + 28), height: NODE_HEIGHT });
  }
  model.edges.forEach((edge, index) => {
    const labelled = edge.label !== 'DONE' && edge.label !== 'item';
    graph.setEdge(
      edge.from,
      edge.to,
      labelled ? { label: edge.label, width: edge.label.length * 6.5, height: 14, labelpos: 'c' } : {},
      String(index),
    );
  });
  dagre.layout(graph);
  const size = graph.graph();
  return {
    width: Math.ceil(size.width ?? 0),
    height: Math.ceil(size.height ?? 0),
    nodes: model.nodes.map((node) => {
      const placed = graph.node(node.id);
      return { ...node, x: placed.x, y: placed.y, width: placed.width, height: placed.height };
    }),
    edges: model.edges.map((edge, index) => {
      const placed = graph.edge({ v: edge.from, w: edge.to, name: String(index) }) as {
        points: { x: number; y: number }[];
        x?: number;
        y?: number;
      };
      return {
        ...edge,
        points: placed.points,
        labelAt: placed.x !== undefined && placed.y !== undefined ? { x: placed.x, y: placed.y } : null,
      };
    }),
  };
}

function edgeState(edge: GraphEdge, states: Map<string, string | null>): string {
  const from = states.get(edge.from);
  if (!from) return 'pending';
  if (edge.label === 'item') return 'item';
  const wanted = edge.label.split(', ');
  if (wanted.includes('ANY') ? from !== 'TODO' && from !== 'RUNNING' : wanted.includes(from)) return 'met';
  return from === 'TODO' || from === 'RUNNING' || from === 'WAITING' || from === 'TO_RETRY'
    ? 'pending'
    : 'unmet';
}

export function StepGraph(props: {
  model: StepGraphModel;
  label: string;
  selected?: string | null;
  hrefOf?: (step: string) => string;
}): VNode {
  const [placed, setPlaced] = useState<Placed | Error | null>(null);
  const key = shapeKey(props.model);
  useEffect(() => {
    let live = true;
    layout(props.model).then(
      (result) => live && setPlaced(result),
      (error: unknown) => live && setPlaced(error instanceof Error ? error : new Error(String(error))),
    );
    return () => {
      live = false;
    };
  }, [key]);

  if (placed === null) return html`<p role="status">Drawing the step graph…</p>`;
  if (placed instanceof Error) {
    return html`<p class="error" role="alert">The graph could not be drawn: ${placed.message}</p>`;
  }
  const states = new Map(props.model.nodes.map((node) => [node.id, node.state]));
  const drawn = placed.nodes.length;
  return html`<figure class="step-graph">
    <svg
      role="group"
      aria-label=${props.label}
      data-steps=${drawn}
      width=${placed.width}
      height=${placed.height}
      viewBox=${`0 0 ${placed.width} ${placed.height}`}
    >
      <defs>
        <marker
          id="arrow"
          viewBox="0 0 10 10"
          refX="9"
          refY="5"
          markerWidth="7"
          markerHeight="7"
          orient="auto-start-reverse"
        >
          <path d="M 0 0 L 10 5 L 0 10 z" class="arrow-head" />
        </marker>
      </defs>
      ${placed.edges.map((edge) => {
        const state = edgeState(edge, states);
        return html`<g class=${`edge edge-${state}`} data-from=${edge.from} data-to=${edge.to}>
          <title>${edge.from} → ${edge.to}: waits for ${edge.label} (${state})</title>
          <polyline
            points=${edge.points.map((point) => `${point.x},${point.y}`).join(' ')}
            marker-end="url(#arrow)"
          />
          ${
            edge.labelAt
              ? html`<text x=${edge.labelAt.x} y=${edge.labelAt.y + 4} text-anchor="middle" class="edge-label"
                  >${edge.label}</text
                >`
              : null
          }
        </g>`;
      })}
      ${placed.nodes.map((node) => {
        const state = states.get(node.id) ?? node.state;
        const look = state ? stateLook(state) : { icon: '', tone: 'none' };
        const box = html`<rect
            x=${node.x - node.width / 2}
            y=${node.y - node.height / 2}
            width=${node.width}
            height=${node.height}
            rx="6"
            class=${node.foreach ? 'foreach' : ''}
          />
          <text x=${node.x} y=${node.y - 5} text-anchor="middle" class="step-name">${node.id}</text>
          <text x=${node.x} y=${node.y + 13} text-anchor="middle" class="step-sub">
            ${node.foreach ? '⟳ foreach · ' : ''}${state ? `${look.icon} ${state}` : node.action}
          </text>`;
        const className = `node tone-${look.tone}${props.selected === node.id ? ' selected' : ''}`;
        return props.hrefOf
          ? html`<a
              href=${props.hrefOf(node.id)}
              class=${className}
              data-step=${node.id}
              data-state=${state ?? ''}
              aria-label=${`step ${node.id}${node.foreach ? ' (foreach)' : ''}: ${state ?? node.action}`}
              aria-current=${props.selected === node.id ? 'true' : undefined}
              >${box}</a
            >`
          : html`<g
              class=${className}
              data-step=${node.id}
              data-state=${state ?? ''}
              role="img"
              aria-label=${`step ${node.id}${node.foreach ? ' (foreach)' : ''}: ${node.action}`}
              >${box}</g
            >`;
      })}
    </svg>
  </figure>`;
}
