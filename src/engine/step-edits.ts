import { TaskhostError } from '../errors.ts';
import {
  appendTaskEvents,
  loadSteps,
  saveSteps,
  type NewTaskEvent,
  type ResolutionRow,
  type StepRow,
} from '../store/queries/tasks.ts';
import type { Store } from '../store/store.ts';
import { customStatesOf } from '../template/functions.ts';
import { editTemplateSteps, pathInStep } from '../template/step-edit.ts';
import type { FunctionLibrary, Template } from '../template/types.ts';
import type { CheckOptions } from '../template/validate.ts';
import { checkInputValues } from './inputs.ts';
import { addComment, isRunningNow, lockResolutionForEdit } from './resolution-control.ts';
import { definitionOf, snapshotOfRow } from './resolution-document.ts';
import { libraryOf, snapshotOf } from './snapshot.ts';
import { ResolutionState, StepState } from './states.ts';

/**
 * µTask's live edits of a resolution (UpdateResolution, UpdateResolutionStep,
 * UpdateResolutionStepState), reserved to admins: "use sparingly, this opens the door to
 * completely breaking execution". A step's definition lives in the template snapshot the
 * resolution runs, its state in its row; an edit changes either, in one transaction that
 * locks the resolution (so no instance claims it meanwhile), tells live task streams of
 * every step state it changes, and leaves µTask's comment on the task.
 *
 * µTask allows these edits on a PAUSED resolution only. Here the row lock makes an edit
 * atomic against the schedulers, so it is refused only while an instance runs the
 * resolution (whose run would overwrite it) and once it is DONE or CANCELLED (final: pause
 * it with ?force=true first, as µTask would need).
 */

/** An edit of one step. Absent fields are left as they are. */
export interface StepEdit {
  /** The whole definition, as a template file writes the step (its `action` included). */
  definition?: Record<string, unknown>;
  state?: string;
  output?: unknown;
  metadata?: unknown;
  children?: unknown;
  error?: string | null;
  try_count?: number;
}

export interface ResolutionEdit {
  /** Checked against the template's resolver_inputs, then stored in place of the old ones. */
  resolverInputs?: Record<string, unknown>;
  steps?: Record<string, StepEdit>;
}

export interface EditOptions {
  /** Who edits (the comment's author). */
  by: string;
  /** The comment µTask leaves, given the states changed (`step: FROM -> TO`). */
  comment: (changes: { step: string; from: string; to: string }[]) => string;
  /**
   * Action types and functions a definition may use (the server's: builtins, registered
   * plugins, its functions); the snapshot's own functions are added to these.
   */
  checks: CheckOptions;
  /** The request field of a step (`body`, `body/steps/NAME`), so that a 400 names it. */
  fieldOf: (step: string) => string;
  /** A step the edit names that the resolution does not have: 404 (its own route) or 400 (a body field). */
  unknownStep: 'not-found' | 'invalid';
}

function invalid(message: string, details?: unknown): TaskhostError {
  return new TaskhostError('TH_REQUEST_INVALID', message, { details });
}

/** Refuses an edit while an instance runs the resolution, and once it is final. */
function assertEditable(row: ResolutionRow): void {
  if (isRunningNow(row)) {
    throw new TaskhostError(
      'TH_RESOLUTION_STATE',
      `can't edit resolution ${row.id} while it runs (on instance ${row.instance_id})`,
    );
  }
  if (row.state === ResolutionState.DONE || row.state === ResolutionState.CANCELLED) {
    throw new TaskhostError(
      'TH_RESOLUTION_STATE',
      `can't edit resolution ${row.id}: it is ${row.state} (POST /resolution/${row.id}/pause?force=true first)`,
    );
  }
}

/** The snapshot's functions with the server's (the snapshot's win: they are what it runs). */
function mergedLibrary(own: FunctionLibrary, server: FunctionLibrary | undefined): FunctionLibrary {
  return {
    functions: new Map([...(server?.functions ?? []), ...own.functions]),
    invalid: server?.invalid ?? new Set(),
  };
}

/** µTask's CheckIfValidState: a builtin state or one of the step's custom states (its functions' too). */
function checkState(
  state: string,
  name: string,
  template: Template,
  row: StepRow,
  library: FunctionLibrary,
  field: string,
): void {
  const builtin: readonly string[] = Object.values(StepState);
  if (builtin.includes(state)) return;
  const definition = definitionOf(row, template.steps);
  const custom = definition ? customStatesOf(definition, library) : [];
  if (custom.includes(state)) return;
  throw invalid(
    `${field}/state: "${state}" is not a state of step ${name}: a builtin state` +
      (custom.length > 0
        ? ` or one of its custom states (${custom.join(', ')})`
        : ' (it has no custom states)'),
  );
}

/**
 * The template with the edited definitions, checked as a template file (a foreach child
 * has none of its own); 400 naming each field, relative to the request, when refused.
 */
function editDefinitions(
  template: Template,
  rows: ReadonlyMap<string, StepRow>,
  edits: readonly [string, StepEdit][],
  library: FunctionLibrary,
  options: EditOptions,
): Template {
  const definitions = edits.filter(([, step]) => step.definition !== undefined);
  if (definitions.length === 0) return template;
  for (const [name] of definitions) {
    const parent = rows.get(name)?.parent;
    if (parent) {
      throw invalid(
        `${options.fieldOf(name)}: a foreach child's definition is its parent's: edit step ${parent}`,
      );
    }
  }
  const checked = editTemplateSteps(
    template,
    Object.fromEntries(definitions.map(([name, step]) => [name, step.definition])),
    { ...options.checks, functions: library },
  );
  if (checked.template) return checked.template;
  const messages = checked.issues.map((issue) => {
    // `steps.NAME.action.type` → `body/action/type` (or `body/steps/NAME/action/type`).
    const owner = definitions.find(([name]) => pathInStep(issue.path, name) !== null)?.[0];
    const field = owner
      ? `${options.fieldOf(owner)}${(pathInStep(issue.path, owner) ?? '').replace(/\./g, '/')}`
      : `body (${issue.path})`;
    return `${field}: ${issue.message}`;
  });
  const more = messages.length > 1 ? ` (and ${messages.length - 1} more)` : '';
  throw invalid(`${messages[0] ?? 'invalid step'}${more}`, messages);
}

/**
 * Applies an edit to a resolution: resolver inputs, step definitions (checked as a template
 * file's), step states and values. 404 for an unknown resolution, 409 while it runs or once
 * final, 400 naming the field for anything invalid; nothing is written unless all is valid.
 */
export async function editResolution(
  store: Store,
  id: string,
  edit: ResolutionEdit,
  options: EditOptions,
): Promise<void> {
  await store.transaction(async (db) => {
    const { row, task } = await lockResolutionForEdit(db, { id });
    const rows = new Map((await loadSteps(db, id)).map((step) => [step.name, step]));
    const edits = Object.entries(edit.steps ?? {});
    for (const [name] of edits) {
      if (rows.has(name)) continue;
      const message = `no step ${name} in resolution ${id}`;
      throw options.unknownStep === 'not-found'
        ? new TaskhostError('TH_TASK_NOT_FOUND', message)
        : invalid(`${options.fieldOf(name)}: ${message}`);
    }
    assertEditable(row);

    const snapshot = snapshotOfRow(row);
    const library = mergedLibrary(libraryOf(snapshot), options.checks.functions);
    const template = editDefinitions(snapshot.template, rows, edits, library, options);

    const changes: { step: string; from: string; to: string }[] = [];
    const changed: StepRow[] = [];
    for (const [name, step] of edits) {
      const stored = rows.get(name) as StepRow;
      if (step.state !== undefined) {
        checkState(step.state, name, template, stored, library, options.fieldOf(name));
      }
      const next: StepRow = {
        ...stored,
        state: step.state ?? stored.state,
        output: step.output !== undefined ? step.output : stored.output,
        metadata: step.metadata !== undefined ? step.metadata : stored.metadata,
        children: step.children !== undefined ? step.children : stored.children,
        error: step.error !== undefined ? step.error : stored.error,
        try_count: step.try_count ?? stored.try_count,
      };
      if (next.state !== stored.state) changes.push({ step: name, from: stored.state, to: next.state });
      changed.push(next);
    }

    let resolverInputs: Record<string, unknown> | undefined;
    if (edit.resolverInputs !== undefined) {
      try {
        resolverInputs = checkInputValues(template.resolver_inputs, edit.resolverInputs, 'resolver_inputs');
      } catch (error) {
        throw new TaskhostError('TH_TASK_INPUT_INVALID', (error as Error).message);
      }
    }

    if (template !== snapshot.template) {
      const functions = snapshotOf(snapshot.file, template, library).functions;
      await db.query('UPDATE resolution SET template = $2 WHERE id = $1', [
        id,
        JSON.stringify({ ...snapshot, template, functions }),
      ]);
    }
    if (resolverInputs) {
      await db.query('UPDATE resolution SET resolver_input = $2 WHERE id = $1', [
        id,
        db.codec.json(resolverInputs),
      ]);
    }
    await saveSteps(db, id, changed);
    await appendTaskEvents(
      db,
      task.id,
      changes.map((change) => stepEvent(change.step, change.to, changed)),
    );
    await addComment(db, task.id, options.by, options.comment(changes));
  });
}

function stepEvent(name: string, state: string, rows: readonly StepRow[]): NewTaskEvent {
  const error = rows.find((row) => row.name === name)?.error;
  return { type: 'step', step: name, state, data: error ? { error } : null };
}

/** µTask's UpdateResolutionStepState: one step's state, for a human to re-run (TODO) or skip (DONE) it. */
export async function setStepState(
  store: Store,
  id: string,
  name: string,
  state: string,
  options: Omit<EditOptions, 'comment' | 'fieldOf' | 'unknownStep'>,
): Promise<void> {
  await editResolution(
    store,
    id,
    { steps: { [name]: { state } } },
    {
      ...options,
      fieldOf: () => 'body',
      unknownStep: 'not-found',
      comment: (changes) =>
        `manually updated resolution step ${name} state` +
        (changes[0] ? ` from ${changes[0].from} to ${changes[0].to}` : ` (unchanged: ${state})`),
    },
  );
}
