/**
 * What a step's action is to the engine: something that takes the step's rendered
 * configuration and gives an output and metadata, or fails with a kind of error that
 * decides the step's next state, as µTask's executors do (engine/step Run):
 *
 *   client  → CLIENT_ERROR (µTask's BadRequest: the request is wrong; not retried)
 *   server  → SERVER_ERROR (retried after the step's retry_pattern delay)
 *   fatal   → FATAL_ERROR  (not retried)
 *   waiting → WAITING      (µTask's NotAssigned: the step waits to be woken)
 *   retry   → TO_RETRY     (µTask's NotProvisioned: retried, e.g. a resource was not free)
 *
 * Builtins (echo, script, http, notify, subtask, batch, callback) and registered plugins
 * all implement ActionRunner; the engine picks one by `action.type`.
 */

export const ActionErrorKind = {
  client: 'client',
  server: 'server',
  fatal: 'fatal',
  waiting: 'waiting',
  retry: 'retry',
} as const;
export type ActionErrorKind = (typeof ActionErrorKind)[keyof typeof ActionErrorKind];

const ACTION_ERROR = Symbol.for('taskhost.ActionError');

/** A step's action failed; `kind` decides the step's state, `message` becomes its error. */
export class ActionError extends Error {
  readonly [ACTION_ERROR] = true;
  readonly kind: ActionErrorKind;
  /** What the action produced before failing (µTask keeps output and metadata on errors). */
  readonly output: unknown;
  readonly metadata: unknown;
  readonly process: ProcessDetails | undefined;

  constructor(
    kind: ActionErrorKind,
    message: string,
    produced: { output?: unknown; metadata?: unknown; process?: ProcessDetails } = {},
  ) {
    super(message);
    this.name = 'ActionError';
    this.kind = kind;
    this.output = produced.output;
    this.metadata = produced.metadata;
    this.process = produced.process;
  }
}

export function isActionError(error: unknown): error is ActionError {
  return error instanceof Error && (error as { [ACTION_ERROR]?: unknown })[ACTION_ERROR] === true;
}

/** What the process an action ran did, for the step's run row (plugins fill it in). */
export interface ProcessDetails {
  /** The plugin's result envelope. */
  result?: unknown;
  exitCode?: number | null;
  signal?: string | null;
  killReason?: string | null;
  droppedLines?: number;
  droppedBytes?: number;
}

/** What a successful action gives the step. */
export interface ActionResult {
  output?: unknown;
  metadata?: unknown;
  /**
   * A custom state the step ends in instead of DONE (a plugin's result may name one of the
   * step's custom_states).
   */
  state?: string;
  process?: ProcessDetails;
}

/** The step an action runs for: what it may know and how it reports. */
export interface ActionContext {
  taskId: string;
  resolutionId: string;
  /** The step's name (a foreach child's is `PARENT-INDEX`). */
  stepName: string;
  /** 1 for the first try of this step, then 2, 3... (µTask's try_count + 1). */
  attempt: number;
  /** The stored run of this execution (a plugin's `meta.runId`), when the engine made one. */
  runId?: string;
  /** Aborted when the step must stop (the process is shutting down, the task was cancelled). */
  signal: AbortSignal;
  /**
   * Records the process group the action's process leads (and its start time), so that if
   * this taskhost dies the group is killed by the next start (runs/recollect.ts).
   */
  recordProcess?: (pid: number, start: string | null) => void;
  /** A line for the task's event log: stdout or stderr of what the action runs, or taskhost's own note. */
  log: (stream: 'stdout' | 'stderr' | 'taskhost', line: string) => void;
}

/** One action type. */
export interface ActionRunner {
  /** The `action.type` it answers to. */
  readonly type: string;
  /**
   * Checks a configuration before it is rendered, for template validation: a one-line
   * problem naming the field, or undefined. Optional.
   */
  validateConfig?(configuration: unknown): string | undefined;
  /** Named resources this execution holds while it runs, besides the step's own `resources`. */
  resources?(configuration: unknown): string[];
  /** Runs once with the rendered configuration; throws ActionError to fail the step. */
  run(configuration: unknown, context: ActionContext): Promise<ActionResult>;
}
