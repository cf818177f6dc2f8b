import { maskerOf } from './secrets.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadPlugin } from '../plugins/registry.ts';
import type { Instance } from '../runs/instance.ts';
import type { Store } from '../store/store.ts';
import type { EventHub } from '../stream/hub.ts';
import { builtinActions } from './actions/builtins.ts';
import { callbackAction } from './callbacks.ts';
import { batchAction, subtaskAction, type ChildTaskServices } from './child-tasks.ts';
import type { TemplateSnapshot } from './snapshot.ts';
import { pluginAction } from './actions/plugin.ts';
import type { ActionRunner } from './actions/types.ts';
import { runResolutionOnce, type EngineServices, type ResolutionOutcome } from './resolver.ts';
import { ResourceLimiter } from './resources.ts';
import { ResolutionState } from './states.ts';

export interface EngineOptions {
  store: Store;
  /** Where subtask and batch find templates by name; none when absent. */
  findTemplate?: (name: string) => Promise<TemplateSnapshot | undefined>;
  /** Run subtasks' and batches' tasks in this process (the CLI), instead of leaving them to a server. */
  runChildren?: boolean;
  /** The base URL of callback URLs (the server's public address). */
  callbackBaseUrl?: string;
  hub?: EventHub | null;
  owner?: Instance | null;
  /** Where the `script` action finds its files. */
  scriptsDir: string;
  config?: Record<string, unknown>;
  /** Values of `config` items marked `secret`: concealed as `***` in what steps leave (secrets.ts). */
  secrets?: readonly string[];
  /** µTask's resource_limits: resource name → executions at once. */
  resourceLimits?: Record<string, number>;
  signal?: AbortSignal;
  onStepState?: EngineServices['onStepState'];
  onStepRun?: EngineServices['onStepRun'];
}

/**
 * The engine's services for this process: builtins by name, then registered plugins (read
 * from the registry once per process and kept), shared resource limits.
 */
export function engineServices(options: EngineOptions): EngineServices {
  const builtins = builtinActions({ scriptsDir: options.scriptsDir });
  const children: ChildTaskServices = {
    store: options.store,
    findTemplate: options.findTemplate ?? (() => Promise.resolve(undefined)),
    config: options.config ?? {},
  };
  for (const runner of [
    subtaskAction(children),
    batchAction(children),
    callbackAction(options.store, options.callbackBaseUrl ?? 'http://127.0.0.1:8081'),
  ]) {
    builtins.set(runner.type, runner);
  }
  // Plugins are read from the registry at each ask (a server's registry changes while it
  // runs); a resolution run keeps what it found (resolver.ts), so a chain of steps of one
  // plugin reads it once.
  const resolveAction = (type: string): Promise<ActionRunner | undefined> => {
    const builtin = builtins.get(type);
    if (builtin) return Promise.resolve(builtin);
    return loadPlugin(options.store, type).then(
      (runnable) => pluginAction(options.store, runnable),
      () => undefined,
    );
  };
  const services: EngineServices = {
    store: options.store,
    hub: options.hub ?? null,
    owner: options.owner ?? null,
    resolveAction,
    resources: new ResourceLimiter(options.resourceLimits),
    config: options.config ?? {},
    mask: maskerOf(options.secrets ?? []),
    signal: options.signal,
    onStepState: options.onStepState,
    onStepRun: options.onStepRun,
  };
  if (options.runChildren) {
    children.runChild = async (resolutionId) => {
      // A child's progress is not the parent's: its steps are not reported as the parent's.
      await resolveUntilSettled({ ...services, onStepState: undefined }, resolutionId);
    };
  }
  return services;
}

/** States after which a resolution comes back by itself (after its next_retry). */
const RETRYING: ReadonlySet<string> = new Set([ResolutionState.ERROR, ResolutionState.CRASHED]);

/**
 * Runs a resolution until it is final, blocked or waiting, sleeping through its retry delays
 * (what `taskhost run` does in-process); with `once`, one run only (µTask's SyncResolve).
 * `onRetryWait` is told of each wait.
 */
export async function resolveUntilSettled(
  services: EngineServices,
  resolutionId: string,
  options: { once?: boolean; onRetryWait?: (until: Date) => void } = {},
): Promise<ResolutionOutcome> {
  for (;;) {
    const outcome = await runResolutionOnce(services, resolutionId);
    if (options.once || !RETRYING.has(outcome.state) || !outcome.nextRetry || services.signal?.aborted) {
      return outcome;
    }
    options.onRetryWait?.(outcome.nextRetry);
    const delay = Math.max(0, outcome.nextRetry.getTime() - Date.now());
    try {
      await sleep(delay, undefined, { signal: services.signal });
    } catch {
      return outcome;
    }
  }
}

export { cancelTask, createTask, requestRun, taskDocument, type TaskDocument } from './tasks.ts';
export { snapshotOf, type TemplateSnapshot } from './snapshot.ts';
export { resolveCallback } from './callbacks.ts';
