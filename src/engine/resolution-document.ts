import {
  getResolution,
  getTask,
  loadSteps,
  type ResolutionRow,
  type StepRow,
} from '../store/queries/tasks.ts';
import type { Queryable } from '../store/store.ts';
import { stepFileForm } from '../template/step-edit.ts';
import type { Step } from '../template/types.ts';
import { childDefinition } from './resolver.ts';
import type { TemplateSnapshot } from './snapshot.ts';

/**
 * A resolution as µTask's `GET /resolution/:id` shows it (models/resolution Resolution):
 * its state and counters, its resolver and resolver inputs, the instance holding it, and
 * every step with both its definition (as a template file writes it, so that a step read
 * here can be edited and sent back with `PUT /resolution/:id/step/:name`) and its state.
 */

/** A step: its definition's fields (absent when it has none) and its stored state. */
export interface StepDocument extends Partial<Record<string, unknown>> {
  name: string;
  state: string;
  output: unknown;
  metadata: unknown;
  children: unknown;
  error: string | null;
  try_count: number;
  last_run: string | null;
  /** The foreach step whose child it is, with its item; null for a step of the template. */
  parent: string | null;
  item: unknown;
  /** An expanded foreach step's children, in order. */
  children_steps: string[] | null;
}

export interface ResolutionDocument {
  id: string;
  task_id: string;
  task_title: string;
  state: string;
  resolver_username: string | null;
  resolver_inputs: Record<string, unknown>;
  run_count: number;
  run_max: number;
  created: string;
  last_start: string | null;
  last_stop: string | null;
  next_retry: string | null;
  /** The instance that holds it (runs it right now), µTask's instance_id. */
  instance_id: string | null;
  instance: { id: string; kind: string; hostname: string; pid: number; heartbeat_at: string } | null;
  base_configurations: Record<string, unknown>;
  steps: Record<string, StepDocument>;
}

const iso = (value: Date | string | null): string | null => (value ? new Date(value).toISOString() : null);

/** The snapshot a resolution runs (stored with it at creation, edited by step edits). */
export function snapshotOfRow(row: ResolutionRow): TemplateSnapshot {
  return row.template as unknown as TemplateSnapshot;
}

/** A step's definition: the template's, or for a foreach child its parent's (as the engine runs it). */
export function definitionOf(row: StepRow, steps: Readonly<Record<string, Step>>): Step | undefined {
  if (row.parent === null) return steps[row.name];
  const parent = steps[row.parent];
  return parent ? childDefinition(parent, row.child_index ?? 0) : undefined;
}

export function stepDocument(row: StepRow, definition: Step | undefined): StepDocument {
  return {
    ...(definition ? stepFileForm(definition) : {}),
    name: row.name,
    state: row.state,
    output: row.output ?? null,
    metadata: row.metadata ?? null,
    children: row.children ?? null,
    error: row.error || null,
    try_count: row.try_count,
    last_run: row.last_run,
    parent: row.parent,
    item: row.has_item ? row.item : null,
    children_steps: row.children_steps,
  };
}

/** The document of a resolution, or null when there is none with that id. */
export async function resolutionDocument(db: Queryable, id: string): Promise<ResolutionDocument | null> {
  const row = await getResolution(db, id);
  if (!row) return null;
  const [task, steps, instance] = await Promise.all([
    getTask(db, row.task_id),
    loadSteps(db, id),
    row.instance_id
      ? db
          .query<{ id: string; kind: string; hostname: string; pid: number; heartbeat_at: Date }>(
            'SELECT id, kind, hostname, pid, heartbeat_at FROM instance WHERE id = $1',
            [row.instance_id],
          )
          .then((result) => result.rows[0] ?? null)
      : null,
  ]);
  const { template } = snapshotOfRow(row);
  return {
    id: row.id,
    task_id: row.task_id,
    task_title: task?.title ?? '',
    state: row.state,
    resolver_username: row.resolver_username,
    resolver_inputs: row.resolver_input,
    run_count: row.run_count,
    run_max: row.run_max,
    created: new Date(row.created_at).toISOString(),
    last_start: iso(row.last_start),
    last_stop: iso(row.last_stop),
    next_retry: iso(row.next_retry),
    instance_id: row.instance_id,
    instance: instance ? { ...instance, heartbeat_at: new Date(instance.heartbeat_at).toISOString() } : null,
    base_configurations: template.base_configurations,
    steps: Object.fromEntries(
      steps.map((step) => [step.name, stepDocument(step, definitionOf(step, template.steps))]),
    ),
  };
}
