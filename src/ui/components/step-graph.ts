import { html } from 'htm/preact';
import type { VNode } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type dagre from '@dagrejs/dagre';
import type { GraphEdge, GraphNode, StepGraphModel } from '../graph-model.ts';
import { stateLook } from './common.ts';

/**
 * The step graph, laid out by dagre (loaded with the first graph) and drawn as SVG: a box a
 * step with its name, what it runs and its state as words (colour repeats the state, never
 * replaces it), foreach steps marked, and dependency edges labelled with the states they wait
 * for. With `hrefOf`, each box is a link (to the step's details), so it is reached by keyboard.
 */

type Dagre = typeof dagre;

let dagreModule: Promise<Dagre> | null = null;

/** Starts loading the layout library (a page that will draw a graph calls it at once). */
export function preloadGraphLayout(): Promise<Dagre> {
  dagreModule ??= import('@dagrejs/dagre').then((module) => module.default);
  return dagreModule;
}

interface PlacedNode extends GraphNode {
  x: number;
  y: number;
  width: number;
  height: number;
  /** A foreach step drawn as a box holding its children (its text at its top). */
  container: boolean;
}

interface Placed {
  nodes: PlacedNode[];
  edges: (GraphEdge & { points: { x: number; y: number }[]; labelAt: { x: number; y: number } | null })[];
  width: number;
  height: number;
}

const CHAR = 7.4;
const NODE_HEIGHT = 46;
const GAP = 10;
const HEADER = 40;

const nodeWidth = (node: GraphNode): number =>
  Math.round(Math.max(node.id.length, node.action.length + 4, 14) * CHAR + 28);

/** The structure's identity: a new layout only when steps or edges change, not on a state change. */
const shapeKey = (model: StepGraphModel): string =>
  `${model.nodes.map((node) => `${node.id}<${node.parent ?? ''}`).join('\u0000')}\u0001${model.edges.map((edge) => `${edge.from}>${edge.to}:${edge.label}`).join('\u0000')}`;

/**
 * Lays out the template's steps with dagre; a foreach step's children (once it expanded) are a
 * grid inside its box rather than nodes of their own rank, which keeps a 200-item foreach
 * readable, and its layout fast (dagre orders a rank of n nodes in about n² steps).
 */
async function layout(model: StepGraphModel): Promise<Placed> {
  const layoutLibrary = await preloadGraphLayout();
  const children = new Map<string, GraphNode[]>();
  for (const node of model.nodes) {
    if (node.parent !== null) children.set(node.parent, [...(children.get(node.parent) ?? []), node]);
  }
  const grids = new Map<string, { columns: number; cellWidth: number; width: number; height: number }>();
  for (const [parent, kids] of children) {
    const columns = Math.max(1, Math.min(kids.length, Math.ceil(Math.sqrt(kids.length / 2))));
    const rows = Math.ceil(kids.length / columns);
    const cellWidth = Math.max(...kids.map(nodeWidth));
    grids.set(parent, {
      columns,
      cellWidth,
      width: columns * (cellWidth + GAP) + GAP,
      height: HEADER + rows * (NODE_HEIGHT + GAP) + GAP,
    });
  }

  const graph = new layoutLibrary.graphlib.Graph({ multigraph: true });
  graph.setGraph({ rankdir: 'LR', nodesep: 14, ranksep: 60, edgesep: 8, marginx: 8, marginy: 8 });
  graph.setDefaultEdgeLabel(() => ({}));
  const top = model.nodes.filter((node) => node.parent === null);
  for (const node of top) {
    const grid = grids.get(node.id);
    graph.setNode(node.id, {
      width: Math.max(nodeWidth(node), grid?.width ?? 0),
      height: grid?.height ?? NODE_HEIGHT,
    });
  }
  const drawnEdges = model.edges.filter((edge) => edge.label !== 'item');
  drawnEdges.forEach((edge, index) => {
    const labelled = edge.label !== 'DONE';
    graph.setEdge(
      edge.from,
      edge.to,
      labelled ? { label: edge.label, width: edge.label.length * 6.5, height: 14, labelpos: 'c' } : {},
      String(index),
    );
  });
  layoutLibrary.layout(graph);
  const size = graph.graph();

  const nodes: PlacedNode[] = [];
  for (const node of top) {
    const placed = graph.node(node.id);
    nodes.push({
      ...node,
      x: placed.x,
      y: placed.y,
      width: placed.width,
      height: placed.height,
      container: grids.has(node.id),
    });
    const grid = grids.get(node.id);
    const kids = children.get(node.id) ?? [];
    if (!grid) continue;
    const left = placed.x - placed.width / 2 + GAP;
    const topEdge = placed.y - placed.height / 2 + HEADER;
    kids.forEach((kid, index) => {
      const column = index % grid.columns;
      const row = Math.floor(index / grid.columns);
      nodes.push({
        ...kid,
        x: left + column * (grid.cellWidth + GAP) + grid.cellWidth / 2,
        y: topEdge + row * (NODE_HEIGHT + GAP) + NODE_HEIGHT / 2,
        width: grid.cellWidth,
        height: NODE_HEIGHT,
        container: false,
      });
    });
  }
  return {
    width: Math.ceil(size.width ?? 0),
    height: Math.ceil(size.height ?? 0),
    nodes,
    edges: drawnEdges.map((edge, index) => {
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
  const items = new Map<string, number>();
  for (const node of props.model.nodes) {
    if (node.parent !== null) items.set(node.parent, (items.get(node.parent) ?? 0) + 1);
  }
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
          <text
            x=${node.x}
            y=${node.container ? node.y - node.height / 2 + 16 : node.y - 5}
            text-anchor="middle"
            class="step-name"
            >${node.id}</text
          >
          <text
            x=${node.x}
            y=${node.container ? node.y - node.height / 2 + 31 : node.y + 13}
            text-anchor="middle"
            class="step-sub"
          >
            ${node.foreach ? `⟳ foreach${items.has(node.id) ? ` ×${items.get(node.id)}` : ''} · ` : ''}${state ? `${look.icon} ${state}` : node.action}
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
