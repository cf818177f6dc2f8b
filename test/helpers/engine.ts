import { randomUUID } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import {
  createTask,
  engineServices,
  snapshotOf,
  taskDocument,
  type EngineOptions,
  type TaskDocument,
} from '../../src/engine/engine.ts';
import { runResolutionOnce, type ResolutionOutcome } from '../../src/engine/resolver.ts';
import type { Instance } from '../../src/runs/instance.ts';
import { BUILTIN_ACTIONS } from '../../src/plugins/builtins.ts';
import { registerPlugin } from '../../src/plugins/registry.ts';
import { eventsSince, type StreamEvent } from '../../src/store/queries/events.ts';
import { listPlugins } from '../../src/store/queries/plugins.ts';
import type { Store } from '../../src/store/store.ts';
import { formatIssue } from '../../src/template/errors.ts';
import { loadTemplateText } from '../../src/template/load.ts';
import { NO_FUNCTIONS } from '../../src/template/functions.ts';
import type { FunctionLibrary } from '../../src/template/types.ts';
import { fixturePath } from './plugin-fixtures.ts';

/**
 * Drives real templates through the engine on the test's real database: load (the loader's
 * checks included), create the task, run its resolution. No mocks: plugins are the real
 * fixture executables, registered in the registry.
 */

export interface EngineRun {
  taskId: string;
  resolutionId: string;
  /** The outcome of each resolution run, in order. */
  outcomes: ResolutionOutcome[];
  document: TaskDocument;
}

export interface StartOptions {
  input?: Record<string, unknown>;
  resolverInput?: Record<string, unknown>;
  functions?: FunctionLibrary;
  scriptsDir?: string;
  config?: Record<string, unknown>;
  resourceLimits?: Record<string, number>;
  /** Templates subtask and batch steps may name: name → YAML. */
  templates?: Record<string, string>;
  /** Run subtasks in this process (as `taskhost run` does); default true when templates are given. */
  runChildren?: boolean;
  /** The instance running it (a server's); none by default. */
  owner?: Instance;
  onStepRun?: EngineOptions['onStepRun'];
}

/** Loads a template from YAML text, refusing it (with its issues) when invalid. */
export async function loadTemplate(store: Store, yaml: string, functions: FunctionLibrary = NO_FUNCTIONS) {
  const names = new Set([...BUILTIN_ACTIONS, ...(await listPlugins(store)).map((row) => row.name)]);
  const file = `test-${randomUUID().slice(0, 8)}.yaml`;
  const { template, issues } = loadTemplateText(file, yaml, {
    functions,
    isKnownAction: (type) => names.has(type),
    actionNames: [...names],
  });
  if (!template) throw new Error(`invalid template:\n${issues.map(formatIssue).join('\n')}`);
  return template;
}

/** Creates a task from YAML text; nothing runs yet. */
export async function createFromYaml(store: Store, yaml: string, options: StartOptions = {}) {
  const loaded = await loadTemplate(store, yaml, options.functions);
  return createTask(store, {
    snapshot: snapshotOf(loaded.file, loaded.template, options.functions ?? NO_FUNCTIONS),
    input: options.input ?? {},
    resolverInput: options.resolverInput,
    requester: 'tester',
    config: options.config,
  });
}

/** Runs a resolution once more (one µTask Resolve), whatever its next_retry says. */
export async function runOnce(store: Store, resolutionId: string, options: StartOptions = {}) {
  const services = engineServices({
    store,
    scriptsDir: options.scriptsDir ?? path.join(os.tmpdir(), 'no-scripts'),
    config: options.config,
    resourceLimits: options.resourceLimits,
    findTemplate: async (name) => {
      const yaml = options.templates?.[name];
      if (yaml === undefined) return undefined;
      const loaded = await loadTemplate(store, yaml);
      return snapshotOf(loaded.file, loaded.template, NO_FUNCTIONS);
    },
    runChildren: options.runChildren ?? options.templates !== undefined,
    owner: options.owner,
    onStepRun: options.onStepRun,
  });
  return runResolutionOnce(services, resolutionId);
}

/** Creates a task from YAML text and runs its resolution `runs` times (default once). */
export async function runYaml(
  store: Store,
  yaml: string,
  options: StartOptions & { runs?: number } = {},
): Promise<EngineRun> {
  const { taskId, resolutionId } = await createFromYaml(store, yaml, options);
  const outcomes: ResolutionOutcome[] = [];
  for (let index = 0; index < (options.runs ?? 1); index += 1) {
    outcomes.push(await runOnce(store, resolutionId, options));
  }
  const document = await taskDocument(store, taskId);
  if (!document) throw new Error(`task ${taskId} vanished`);
  return { taskId, resolutionId, outcomes, document };
}

/** Reads a task's document again. */
export async function documentOf(store: Store, taskId: string): Promise<TaskDocument> {
  const document = await taskDocument(store, taskId);
  if (!document) throw new Error(`no task ${taskId}`);
  return document;
}

/** Every stored event of a task's log, in seq order. */
export async function taskEvents(store: Store, taskId: string): Promise<StreamEvent[]> {
  return eventsSince(store, taskId, 0, 100_000);
}

/** Registers a fixture plugin of test/fixtures/plugins under `name`. */
export async function registerFixture(store: Store, name: string, fixture: string): Promise<void> {
  await registerPlugin(store, { name, location: fixturePath(fixture), source: 'cli' });
}

/** The step states of a document, by name, for one-line assertions. */
export function statesOf(document: TaskDocument): Record<string, string> {
  return Object.fromEntries(Object.entries(document.steps).map(([name, step]) => [name, step.state]));
}
