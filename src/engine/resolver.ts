import { randomUUID } from 'node:crypto';
import { instanceName } from '../store/queries/instances.ts';
import {
  crashResolution,
  updateResolution,
  updateTask,
  claimResolution,
  type ClaimedResolution,
  type ResolutionEnd,
  type StepRunStart,
  type TaskEnd,
  type NewTaskEvent,
  type StepRunEnd,
  type ResolutionRow,
  type StepRow,
  type TaskRow,
} from '../store/queries/tasks.ts';
import type { Queryable, Store } from '../store/store.ts';
import type { EventHub } from '../stream/hub.ts';
import type { Instance } from '../runs/instance.ts';
import { createEvalCache, renderJson, renderValue } from '../template/render.ts';
import type { Step } from '../template/types.ts';
import { isTaskhostError, TaskhostError } from '../errors.ts';
import type { ActionRunner } from './actions/types.ts';
import { parentToWake, wakeParent } from './child-tasks.ts';
import { executeStep, maskExecuted, type Executed, type StepEnvironment } from './execute-step.ts';
import { availableSteps, buildTree, pruneSteps, type StepTree, type Steps } from './graph-state.ts';
import { liveStep, newStepRow, rowOf, type LiveStep } from './live-step.ts';
import type { ResourceLimiter } from './resources.ts';
import { resolutionRetryDelayMs } from './retry.ts';
import { libraryOf, type TemplateSnapshot } from './snapshot.ts';
import { afterRun, preRun, type StateSetter } from './step-conditions.ts';
import { isFinal, isRetriable, ResolutionState, StepState, TaskState } from './states.ts';
import { NO_MASK, type Masker } from './secrets.ts';
import { TaskLog } from './task-log.ts';
import { ResolutionValues } from './values.ts';

/**
 * One run of a resolution: µTask's engine.Resolve, with every transition committed before
 * the steps it unlocks start (so a crash loses nothing done).
 *
 * The loop: claim the resolution (row lock; a resolution RUNNING under a dead process is
 * CRASHED and recovered per `idempotent`), start every available step at once, and as each
 * one ends commit it, apply its check conditions, prune what can no longer run, and start
 * what it unlocked. When nothing runs any more, the resolution's state is chosen from its
 * steps by µTask's priorities and committed with the task's.
 */

export interface EngineServices {
  store: Store;
  hub: EventHub | null;
  /** This process, recorded as the resolution's and its runs' owner. */
  owner: Instance | null;
  resolveAction: (type: string) => Promise<ActionRunner | undefined>;
  resources: ResourceLimiter;
  /** The `config` root of templates. */
  config: Record<string, unknown>;
  /** Conceals the secret `config` values in what steps leave (outputs, metadata, errors, lines, the result). */
  mask?: Masker;
  /** Aborted to stop: running steps are told, no new step starts. */
  signal?: AbortSignal;
  /** Told of every step state change once committed (live progress). */
  onStepState?: (step: string, state: string, error: string | null) => void;
  /** Told of every step execution once its end is committed: its action type, state and duration. */
  onStepRun?: (action: string, state: string, seconds: number) => void;
}

export interface ResolutionOutcome {
  state: string;
  taskState: string;
  nextRetry: Date | null;
}

const CHILD_NAME = /^(.*)-(\d+)$/;

/** A foreach child's definition: its parent's, without the loop (µTask expandStep). */
export function childDefinition(parent: Step, index: number): Step {
  const { foreach: _foreach, foreach_strategy: _strategy, ...rest } = parent;
  return {
    ...rest,
    description: `${index} - ${parent.description}`,
    conditions: parent.conditions.filter(
      (condition) => condition.type !== 'skip' || condition.foreach === 'children',
    ),
  };
}

class Resolution {
  readonly steps: Steps = new Map();
  /** Told when the run's last statement (its settle) goes out: its steps are over. */
  onSettling?: () => void;
  tree: StepTree = { dependents: new Map(), prunable: new Map() };
  readonly executed = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly removed = new Set<string>();
  /** Each step's state as its last event (staged or committed) says. */
  private readonly committedState = new Map<string, string>();
  /** Step events in the order they happened, for the next commit (a pure step's RUNNING among them). */
  private readonly stagedEvents: NewTaskEvent[] = [];
  /** Steps whose state change the next commit tells `onStepState` of. */
  private readonly stagedTold: LiveStep[] = [];
  /** Runs that ended, for the next commit. */
  private readonly endedRuns: StepRunEnd[] = [];
  private readonly completions: { name: string; executed: Executed }[] = [];
  private wake: (() => void) | null = null;
  private inflight = 0;
  private readonly env: StepEnvironment;
  private readonly log: TaskLog;
  /** Where this run's steps run (`HOSTNAME/PID` of the owner instance; null without a server). */
  private readonly ranOn: string | null;
  private readonly values: ResolutionValues;
  private readonly abort = new AbortController();

  private readonly services: EngineServices;
  private readonly mask: Masker;
  private readonly row: ResolutionRow;
  private readonly task: TaskRow;
  private readonly snapshot: TemplateSnapshot;

  constructor(
    services: EngineServices,
    row: ResolutionRow,
    task: TaskRow,
    snapshot: TemplateSnapshot,
    rows: readonly StepRow[],
  ) {
    this.services = services;
    this.mask = services.mask ?? NO_MASK;
    this.row = row;
    this.task = task;
    this.snapshot = snapshot;
    this.ranOn = services.owner ? instanceName(services.owner.row) : null;
    // Only while this instance owns the resolution: one taken for dead and back must not
    // write over the instance that took its work over.
    this.log = new TaskLog(
      services.store,
      services.hub,
      task.id,
      services.owner ? { resolutionId: row.id, ownerId: services.owner.id } : null,
    );
    this.values = new ResolutionValues({
      input: task.input,
      resolverInput: row.resolver_input,
      config: services.config,
      task: {
        task_id: task.id,
        resolution_id: row.id,
        requester_username: task.requester_username,
        requester_groups: task.requester_groups,
        resolver_username: row.resolver_username ?? undefined,
        created: new Date(task.created_at).toISOString(),
        watcher_usernames: task.watcher_usernames,
        watcher_groups: task.watcher_groups,
      },
      variables: snapshot.template.variables,
    });
    const definitions = snapshot.template.steps;
    for (const stepRow of rows) {
      const def = this.definitionOf(stepRow, definitions);
      if (!def) continue;
      this.steps.set(stepRow.name, liveStep(stepRow, def));
      this.committedState.set(stepRow.name, stepRow.state);
      this.values.setStep(stepRow.name, stepRow);
    }
    this.tree = buildTree(this.steps);
    // This run's action types, each looked up once.
    const actions = new Map<string, Promise<ActionRunner | undefined>>();
    this.env = {
      values: this.values,
      baseConfigurations: snapshot.template.base_configurations,
      functions: libraryOf(snapshot),
      evalCache: createEvalCache(),
      resolveAction: (type) => {
        let runner = actions.get(type);
        if (!runner) {
          runner = services.resolveAction(type);
          actions.set(type, runner);
        }
        return runner;
      },
      resources: services.resources,
      actionContext: (step) => ({
        taskId: task.id,
        resolutionId: row.id,
        stepName: step.name,
        attempt: step.executions,
        runId: step.runId,
        signal: this.abort.signal,
        log: (stream, line) => this.log.line(step.name, stream, this.mask(line)),
        recordProcess: (pid, start) => {
          if (step.runId) this.log.recordProcess({ id: step.runId, pgid: pid, pgid_start: start });
        },
      }),
    };
  }

  private definitionOf(stepRow: StepRow, definitions: Record<string, Step>): Step | undefined {
    const own = definitions[stepRow.name];
    if (own && stepRow.parent === null) return own;
    const parentName = stepRow.parent ?? CHILD_NAME.exec(stepRow.name)?.[1];
    const parent = parentName === undefined ? undefined : definitions[parentName];
    return parent ? childDefinition(parent, stepRow.child_index ?? 0) : undefined;
  }

  private setState: StateSetter = (name, state, message) => {
    const step = this.steps.get(name);
    if (!step) return;
    step.state = state;
    step.error = message;
    this.values.setStep(name, step);
    this.dirty.add(name);
  };

  private modifiedSetter(modified: Set<string>): StateSetter {
    return (name, state, message) => {
      if (!this.steps.has(name)) return;
      this.setState(name, state, message);
      modified.add(name);
    };
  }

  /** Turns the state changes made so far into events, in order, for the next commit. */
  private stageEvents(): void {
    for (const name of this.dirty) {
      const step = this.steps.get(name);
      if (!step || this.committedState.get(name) === step.state) continue;
      this.committedState.set(name, step.state);
      this.stagedEvents.push({
        type: 'step',
        step: name,
        state: step.state,
        data: step.error ? { error: step.error } : null,
      });
      this.stagedTold.push(step);
    }
  }

  /** Whether a state change, a row or a run waits for a commit. */
  private pendingWrites(): boolean {
    return (
      this.dirty.size > 0 ||
      this.removed.size > 0 ||
      this.stagedEvents.length > 0 ||
      this.endedRuns.length > 0
    );
  }

  /**
   * Commits every changed step (and an event for each state change), with the runs that
   * start and the runs that ended: one statement (TaskLog.commit), the run's settle too when
   * `settle` is given. With `alongside`, a transaction with those statements too (the rarer
   * transitions: crash recovery, a parent to wake). Resolves with the next_retry a settle kept.
   */
  async commit(
    events: NewTaskEvent[] = [],
    alongside?: (db: Queryable) => Promise<void>,
    starts: StepRunStart[] = [],
    settle?: { task: TaskEnd; resolution: ResolutionEnd },
  ): Promise<Date | null> {
    this.stageEvents();
    const changed = [...this.dirty].map((name) => this.steps.get(name)).filter((step) => step !== undefined);
    const removed = [...this.removed];
    this.dirty.clear();
    this.removed.clear();
    const stepEvents = this.stagedEvents.splice(0, this.stagedEvents.length);
    const told = this.stagedTold.splice(0, this.stagedTold.length);
    const ends = this.endedRuns.splice(0, this.endedRuns.length);
    for (const name of removed) this.committedState.delete(name);
    const nextRetry = await this.log.commit(
      [...stepEvents, ...events],
      {
        resolutionId: this.row.id,
        steps: changed.map(rowOf),
        removed,
        runStarts: starts,
        runEnds: ends,
        task: settle?.task,
        resolutionEnd: settle?.resolution,
      },
      alongside,
    );
    for (const step of told) this.services.onStepState?.(step.name, step.state, step.error);
    return nextRetry;
  }

  /** Creates a foreach step's children (µTask expandStep). */
  private async expand(step: LiveStep): Promise<string[]> {
    let items: unknown;
    try {
      items = await renderJson(step.def.foreach ?? '[]', this.values.context(), {
        step: step.name,
        evalCache: this.env.evalCache,
        path: `steps.${step.name}.foreach`,
      });
      if (!Array.isArray(items)) {
        throw new Error(`foreach must give a JSON list, got ${JSON.stringify(items)}`);
      }
    } catch (error) {
      this.setState(step.name, StepState.FATAL_ERROR, (error as Error).message);
      return [];
    }
    const names: string[] = [];
    for (const [index, item] of items.entries()) {
      const name = `${step.name}-${index}`;
      const child = liveStep(
        {
          ...newStepRow(name),
          parent: step.name,
          child_index: index,
          item,
          has_item: true,
          extra_dependencies:
            step.def.foreach_strategy === 'sequence' && index > 0 ? [`${step.name}-${index - 1}`] : [],
        },
        childDefinition(step.def, index),
      );
      this.steps.set(name, child);
      this.removed.delete(name);
      this.values.setStep(name, child);
      this.dirty.add(name);
      names.push(name);
    }
    // A loop expanded again (retried) makes children of the same names: their runs go on
    // from the attempts of the earlier ones, so (resolution, step, attempt) stays unique.
    if (names.length > 0) {
      const { rows } = await this.services.store.query<{ step_name: string; attempt: number }>(
        `SELECT step_name, max(attempt)::int AS attempt FROM run
          WHERE resolution_id = $1 AND step_name = ANY($2::text[]) GROUP BY step_name`,
        [this.row.id, names],
      );
      for (const row of rows) {
        const child = this.steps.get(row.step_name);
        if (child) child.executions = row.attempt;
      }
    }
    step.children_steps = names;
    step.extra_dependencies = names.map((name) => `${name}:ANY`);
    this.setState(step.name, StepState.EXPANDED, '');
    return names;
  }

  /** Collects a foreach step's children into its `children` and removes them (µTask contractStep). */
  private contract(step: LiveStep): void {
    const collected: unknown[] = [];
    for (const name of step.children_steps ?? []) {
      const child = this.steps.get(name);
      if (!child) continue;
      if (child.state !== StepState.PRUNE) {
        const metadata =
          child.metadata !== null && typeof child.metadata === 'object' && !Array.isArray(child.metadata)
            ? { ...(child.metadata as Record<string, unknown>) }
            : {};
        metadata.iterator = child.item;
        const entry: Record<string, unknown> = { metadata, state: child.state };
        if (child.output !== null && child.output !== undefined) entry.output = child.output;
        collected.push(entry);
      }
      this.steps.delete(name);
      this.dirty.delete(name);
      this.removed.add(name);
      this.values.deleteStep(name);
    }
    step.error = null;
    step.children = collected;
    step.extra_dependencies = [];
    step.children_steps = null;
    this.values.setStep(step.name, step);
    this.dirty.add(step.name);
  }

  /**
   * Starts what can run (µTask runAvailableSteps): foreach steps expand or contract, regular
   * steps go RUNNING (skip conditions first), committed with their runs before they start.
   */
  private async runAvailable(modified: Set<string>, expanded: string[] = []): Promise<void> {
    if (this.abort.signal.aborted) return;
    // What changed before (a step's end) comes first in the log, before the steps it starts.
    this.stageEvents();
    const available = availableSteps(this.steps, this.tree, modified, this.executed, expanded);
    const preModified = new Set<string>();
    const setter = this.modifiedSetter(preModified);
    const starting: LiveStep[] = [];
    const noop: LiveStep[] = [];
    const newChildren: string[] = [];
    let structural = false;
    for (const step of available) {
      if (step.def.foreach) {
        if (step.state === StepState.TODO || step.state === StepState.TO_RETRY) {
          step.skipped = await preRun(step, this.conditionScope(), setter);
          if (step.skipped) {
            this.executed.add(step.name);
            continue;
          }
        }
        if (
          step.state === StepState.TODO ||
          (step.state === StepState.TO_RETRY && !step.children_steps?.length)
        ) {
          newChildren.push(...(await this.expand(step)));
          structural = true;
        } else if (step.state === StepState.TO_RETRY) {
          this.contract(step);
          step.output = null;
          structural = true;
        } else if (step.state === StepState.EXPANDED) {
          this.contract(step);
          this.setState(step.name, StepState.DONE, '');
          preModified.add(step.name);
          structural = true;
        }
        if (![StepState.TODO, StepState.TO_RETRY, StepState.EXPANDED].includes(step.state as 'TODO')) {
          this.executed.add(step.name);
        }
        continue;
      }
      if (step.state === StepState.AFTERRUN_ERROR) {
        noop.push(step);
        continue;
      }
      this.setState(step.name, StepState.RUNNING, step.error ?? '');
      step.skipped = await preRun(step, this.conditionScope(), setter);
      if (step.skipped) this.executed.add(step.name);
      if (step.skipped || (step.def.max_retries > 0 && step.try_count > step.def.max_retries)) {
        noop.push(step);
      } else starting.push(step);
    }
    if (structural) this.tree = buildTree(this.steps);
    // Pure steps (an echo: no effect outside the engine) execute nothing, so they have no run
    // (a run is an execution of a plugin or a script), and they are not committed RUNNING on
    // their own: their RUNNING event goes with their end, in one statement. A crash in
    // between leaves them TODO, to be run again at no cost.
    const pure = new Set(starting.filter((step) => this.isPure(step)));
    for (const step of starting) {
      step.executions += 1;
      step.runId = pure.has(step) ? undefined : randomUUID();
      step.runStartedAt = performance.now();
      step.runDetails = undefined;
      step.ran_on = this.ranOn;
    }
    for (const step of pure) {
      this.dirty.delete(step.name);
      this.committedState.set(step.name, StepState.RUNNING);
      this.stagedEvents.push({ type: 'step', step: step.name, state: StepState.RUNNING });
    }
    const committed = starting.filter((step) => !pure.has(step));
    if (available.length > 0) {
      pruneSteps(this.steps, this.tree, preModified, (name) => this.setState(name, StepState.PRUNE, ''));
      // A pure step's RUNNING alone waits for its end; anything else is committed first.
      const ended = this.endedRuns.length;
      if (this.dirty.size > 0 || this.removed.size > 0 || ended > 0 || committed.length > 0) {
        await this.commit(
          [],
          undefined,
          committed.map((step) => this.runStart(step)),
        );
      }
    }
    for (const step of noop) this.launch(step, async () => this.unchanged(step));
    for (const step of starting) {
      this.launch(step, async () => maskExecuted(await executeStep({ ...step }, this.env), this.mask));
    }
    if (preModified.size > 0 || newChildren.length > 0) await this.runAvailable(preModified, newChildren);
  }

  /**
   * A step that does not run in this pass: skipped, back for its check conditions only
   * (AFTERRUN_ERROR: µTask goes to the after-run logic before it looks at max_retries), or
   * past its max_retries (FATAL_ERROR).
   */
  private unchanged(step: LiveStep): Executed {
    const pastMax = step.def.max_retries > 0 && step.try_count > step.def.max_retries;
    if (pastMax && !step.skipped && step.state !== StepState.AFTERRUN_ERROR) {
      return {
        state: StepState.FATAL_ERROR,
        output: step.output,
        metadata: step.metadata,
        error: `Step reached max retries ${step.def.max_retries}: ${step.error ?? ''}`,
        try_count: step.try_count,
      };
    }
    return {
      state: step.state,
      output: step.output,
      metadata: step.metadata,
      error: step.error,
      try_count: step.try_count,
    };
  }

  private conditionScope() {
    return { values: this.values, functions: this.env.functions, evalCache: this.env.evalCache };
  }

  private launch(step: LiveStep, work: () => Promise<Executed>): void {
    this.inflight += 1;
    void work()
      .catch((error: unknown): Executed => ({
        state: StepState.SERVER_ERROR,
        output: null,
        metadata: null,
        error: (error as Error).message,
        try_count: step.try_count + 1,
      }))
      .then((executed) => {
        this.completions.push({ name: step.name, executed });
        this.wake?.();
      });
  }

  private async nextCompletion(): Promise<{ name: string; executed: Executed }> {
    while (this.completions.length === 0) await new Promise<void>((resolve) => (this.wake = resolve));
    this.wake = null;
    return this.completions.shift() as { name: string; executed: Executed };
  }

  /** Applies one ended execution (µTask's loop body). */
  private async complete(name: string, executed: Executed): Promise<void> {
    const step = this.steps.get(name);
    if (!step) return; // a child whose parent was contracted meanwhile
    const runId = step.runId;
    const startedAt = step.runStartedAt;
    step.state = executed.state;
    step.output = executed.output;
    step.metadata = executed.metadata;
    step.error = executed.error;
    step.try_count = executed.try_count;
    if (executed.runDetails !== undefined) step.runDetails = executed.runDetails;
    step.last_run = new Date().toISOString();
    this.values.setStep(name, step);
    this.dirty.add(name);
    const modified = new Set([name]);
    await afterRun(step, this.conditionScope(), this.modifiedSetter(modified));
    pruneSteps(this.steps, this.tree, modified, (pruned) => this.setState(pruned, StepState.PRUNE, ''));
    if (!step.def.foreach) this.executed.add(name);
    step.skipped = false;
    step.runId = undefined;
    step.runStartedAt = undefined;
    if (runId) this.endedRuns.push(runEndOf(runId, step));
    // The end is committed before any step it unlocks starts (runAvailable commits first),
    // at once while other steps run, or else with the settle that comes next (nothing can
    // happen in between): the last step of a run costs no statement of its own.
    await this.runAvailable(modified);
    if (this.inflight > 0 && this.pendingWrites()) await this.commit();
    if (startedAt !== undefined) {
      this.services.onStepRun?.(step.def.action.type, step.state, (performance.now() - startedAt) / 1000);
    }
  }

  /** An echo step without pre_hook or delay: it does nothing outside the engine. */
  private isPure(step: LiveStep): boolean {
    return (
      step.def.action.type === 'echo' && !step.def.pre_hook && !step.def.execution_delay && !step.def.foreach
    );
  }

  private runStart(step: LiveStep): StepRunStart {
    return {
      id: step.runId as string,
      taskId: this.task.id,
      resolutionId: this.row.id,
      stepName: step.name,
      attempt: step.executions,
      actionType: step.def.action.type,
      data: step.def.action.configuration,
      requester: this.task.requester_username,
      ownerId: this.services.owner?.id ?? null,
      ranOn: step.ran_on,
    };
  }

  /** Runs every pass of this resolution run, then settles its state. */
  async resolve(): Promise<ResolutionOutcome> {
    await this.runAvailable(new Set());
    let recheckWaiting = true;
    for (;;) {
      while (this.inflight > 0) {
        const { name, executed } = await this.nextCompletion();
        this.inflight -= 1;
        await this.complete(name, executed);
      }
      const candidate = this.candidateState();
      if (candidate === ResolutionState.WAITING && recheckWaiting && !this.abort.signal.aborted) {
        recheckWaiting = false;
        for (const step of this.steps.values()) {
          if (step.state === StepState.WAITING && step.def.action.type !== 'batch') {
            this.executed.delete(step.name);
          }
        }
        await this.runAvailable(new Set());
        if (this.inflight > 0) continue;
      }
      return this.settle(candidate);
    }
  }

  /** µTask's choice of the resolution state from its steps' states. */
  private candidateState(): string {
    const found = new Set<string>();
    let allDone = true;
    for (const step of this.steps.values()) {
      switch (step.state) {
        case StepState.CLIENT_ERROR:
          found.add(ResolutionState.BLOCKED_BADREQUEST);
          break;
        case StepState.FATAL_ERROR:
          found.add(ResolutionState.BLOCKED_FATAL);
          break;
        case StepState.SERVER_ERROR:
        case StepState.TO_RETRY:
        case StepState.AFTERRUN_ERROR:
          found.add(ResolutionState.ERROR);
          break;
        case StepState.RUNNING:
          found.add(ResolutionState.CRASHED);
          break;
        case StepState.WAITING:
          found.add(ResolutionState.WAITING);
          break;
        case StepState.TODO:
          found.add(this.abort.signal.aborted ? ResolutionState.CRASHED : ResolutionState.BLOCKED_DEADLOCK);
          break;
        default:
          if (!isFinal(step.state)) found.add(ResolutionState.BLOCKED_DEADLOCK);
          continue;
      }
      allDone = false;
    }
    if (allDone) return ResolutionState.DONE;
    for (const state of [
      ResolutionState.CRASHED,
      ResolutionState.BLOCKED_FATAL,
      ResolutionState.BLOCKED_BADREQUEST,
      ResolutionState.ERROR,
      ResolutionState.WAITING,
      ResolutionState.BLOCKED_DEADLOCK,
    ]) {
      if (found.has(state)) return state;
    }
    return ResolutionState.BLOCKED_DEADLOCK;
  }

  private async settle(candidate: string): Promise<ResolutionOutcome> {
    // Stopped before its end (a server shutting down): released at once, as CRASHED, for
    // any instance to take over, rather than left to a retry delay.
    let state =
      this.abort.signal.aborted && candidate === ResolutionState.ERROR ? ResolutionState.CRASHED : candidate;
    let taskState: string = TaskState.RUNNING;
    let nextRetry: Date | null = null;
    let result: unknown;
    if (state === ResolutionState.DONE) {
      taskState = TaskState.DONE;
      result = await this.result();
    } else if (state === ResolutionState.ERROR || state === ResolutionState.CRASHED) {
      if (this.row.run_count >= this.row.run_max) {
        state = ResolutionState.BLOCKED_MAXRETRIES;
        taskState = TaskState.BLOCKED;
      } else {
        const retriable = [...this.steps.values()].filter((step) => isRetriable(step.state));
        nextRetry = new Date(
          Date.now() +
            resolutionRetryDelayMs(
              retriable.map((step) => ({ retry_pattern: step.def.retry_pattern, try_count: step.try_count })),
            ),
        );
      }
    } else if (state === ResolutionState.WAITING) {
      taskState = TaskState.WAITING;
    } else if (state.startsWith('BLOCKED_')) {
      taskState = TaskState.BLOCKED;
    }
    // A wake-up stored while this run went on (a child task ended, a callback was called:
    // the claim cleared next_retry) is kept, or the earlier of it and the retry delay: it
    // must never be lost to the run's own end (µTask's parents left WAITING for good).
    this.onSettling?.();
    const due = await this.commit(
      [{ type: 'task', state: taskState, data: { resolution_state: state } }],
      parentToWake(this.task, taskState) ? (db) => wakeParent(db, this.task, taskState) : undefined,
      [],
      {
        task: { state: taskState, ...(result !== undefined ? { result } : {}) },
        resolution: { state, nextRetry, lastStop: new Date() },
      },
    );
    return { state, taskState, nextRetry: due };
  }

  /** The task's result: `result_format` rendered, as µTask's SetResult. */
  private async result(): Promise<unknown> {
    const format = this.snapshot.template.result_format;
    if (!format) return {};
    try {
      return this.mask(
        await renderValue(format, this.values.context(), {
          evalCache: this.env.evalCache,
          path: 'result_format',
        }),
      );
    } catch (error) {
      return { error: this.mask((error as Error).message) };
    }
  }

  /**
   * Stops the steps under way (their plugins killed): the process is shutting down, or the
   * resolution is another's now (nothing more is written then).
   */
  stop(reason: unknown): void {
    this.abort.abort(reason);
  }

  /** The steps of a crashed run that were RUNNING: re-run if idempotent, else CRASHED. */
  recoverCrash(): boolean {
    let blocked = false;
    for (const step of this.steps.values()) {
      if (step.state !== StepState.RUNNING) continue;
      if (step.def.idempotent) this.setState(step.name, StepState.TODO, step.error ?? '');
      else {
        this.setState(step.name, StepState.CRASHED, 'the step was running when its taskhost process died');
        blocked = true;
      }
    }
    return blocked;
  }
}

/** The end of a step's run, as its row stores it. */
function runEndOf(runId: string, step: LiveStep): StepRunEnd {
  const details = step.runDetails ?? {};
  return {
    id: runId,
    state: step.state === StepState.RUNNING ? StepState.SERVER_ERROR : step.state,
    result: details.result ?? { output: step.output ?? null, metadata: step.metadata ?? null },
    error: step.error,
    exit_code: details.exitCode ?? null,
    signal: details.signal ?? null,
    kill_reason: details.killReason ?? null,
    dropped_lines: details.droppedLines ?? 0,
    dropped_bytes: details.droppedBytes ?? 0,
  };
}

/**
 * Claims a resolution and runs it once (one µTask Resolve). Throws TH_RESOLUTION_BUSY when
 * another process holds it, TH_RESOLUTION_STATE when its state refuses a run.
 */
export async function runResolutionOnce(
  services: EngineServices,
  resolutionId: string,
): Promise<ResolutionOutcome> {
  const { store } = services;
  // One statement: locked, checked, RUNNING under this owner, the task RUNNING, read back.
  const claim = await claimResolution(store, resolutionId, services.owner?.claim() ?? null);
  if (claim.busy) {
    throw new TaskhostError(
      'TH_RESOLUTION_BUSY',
      `resolution ${resolutionId} is being run by another process`,
    );
  }
  if (claim.refused !== null) {
    const why = { RUNNING: 'already running', DONE: 'already done', CANCELLED: 'cancelled' }[claim.refused];
    throw new TaskhostError(
      'TH_RESOLUTION_STATE',
      `can't run resolution ${resolutionId}: ${why ?? claim.refused}`,
    );
  }
  return runClaimed(services, claim);
}

/**
 * Runs a resolution run this instance has claimed (claimResolution, or the scheduler's
 * claimDueResolutions): a crash recovered first, then µTask's Resolve.
 */
export async function runClaimed(
  services: EngineServices,
  claim: ClaimedResolution,
  onSettling?: () => void,
): Promise<ResolutionOutcome> {
  const snapshot = claim.row.template as unknown as TemplateSnapshot;
  const row = { ...claim.row, run_count: claim.row.run_count + 1 };
  const resolution = new Resolution(services, row, claim.task, snapshot, claim.steps);
  resolution.onSettling = onSettling;
  // The process's signal (a server shutting down) stops the steps under way. The listener
  // goes when the run ends: left on a signal that lives as long as the server, each would
  // keep its whole resolution alive, and each addition walks the list of those before it.
  const stop = (): void => resolution.stop(services.signal?.reason);
  services.signal?.addEventListener('abort', stop, { once: true });
  try {
    return await resolveClaimed(services, claim, resolution);
  } finally {
    services.signal?.removeEventListener('abort', stop);
  }
}

async function resolveClaimed(
  services: EngineServices,
  claim: ClaimedResolution,
  resolution: Resolution,
): Promise<ResolutionOutcome> {
  const { store } = services;
  const resolutionId = claim.row.id;
  for (const event of claim.running) services.hub?.publish(claim.task.id, event);
  if (claim.crashed && resolution.recoverCrash()) {
    await resolution.commit(
      [
        {
          type: 'task',
          state: TaskState.BLOCKED,
          data: { resolution_state: ResolutionState.BLOCKED_TOCHECK },
        },
      ],
      async (db) => {
        await updateResolution(db, resolutionId, {
          state: ResolutionState.BLOCKED_TOCHECK,
          instanceId: null,
          lastStop: new Date(),
        });
        await updateTask(db, claim.task.id, { state: TaskState.BLOCKED });
      },
    );
    return { state: ResolutionState.BLOCKED_TOCHECK, taskState: TaskState.BLOCKED, nextRetry: null };
  }
  if (claim.crashed) {
    await resolution.commit([{ type: 'task', state: TaskState.RUNNING }], (db) =>
      updateTask(db, claim.task.id, { state: TaskState.RUNNING }),
    );
  }
  try {
    return await resolution.resolve();
  } catch (error) {
    if (isTaskhostError(error) && error.code === 'TH_RESOLUTION_LOST') {
      resolution.stop(error.message);
      throw error;
    }
    // Whatever broke (the store gone for good, a bug), the resolution must not stay RUNNING
    // under a live owner: CRASHED is re-collected and recovered like a crash (unless it was
    // taken over meanwhile).
    await crashResolution(store, resolutionId, services.owner?.id ?? null).catch(() => undefined);
    throw error;
  }
}
