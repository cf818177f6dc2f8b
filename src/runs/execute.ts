import { randomUUID } from 'node:crypto';
import { TaskhostError } from '../errors.ts';
import type { OutputLine } from '../plugins/output.ts';
import { sharedFifoPool } from '../plugins/fifo-pool.ts';
import {
  checkPluginData,
  runPlugin,
  type PluginRunOutcome,
  type RunnablePlugin,
} from '../plugins/run-plugin.ts';
import { StepState } from '../protocol/states.ts';
import {
  finishRun,
  insertRun,
  recordRunProcess,
  type NewRun,
  type RunOrigin,
} from '../store/queries/runs.ts';
import type { Store } from '../store/store.ts';
import type { EventHub } from '../stream/hub.ts';
import { processStartOf } from '../system/processes.ts';
import type { Instance } from './instance.ts';
import { EventRecorder } from './recorder.ts';

export interface ExecuteRequest {
  store: Store;
  hub?: EventHub | null;
  plugin: RunnablePlugin;
  data: unknown;
  origin: RunOrigin;
  /** Chosen by the caller when it must answer with the id before the run ends. */
  runId?: string;
  requester?: string | null;
  batchId?: string | null;
  timeoutMs?: number;
  outputCapBytes?: number;
  signal?: AbortSignal;
  onLine?: (line: OutputLine) => void;
  /** The process that runs it (recorded, so that the run is re-collected if it dies). */
  owner?: Instance | null;
  /** Told about store errors being retried (PostgreSQL restarting under the run). */
  onStoreError?: (error: unknown) => void;
  /** This is the owner's last run: its instance row goes in the same transaction as the run's end. */
  lastOfOwner?: boolean;
}

export interface ExecutedRun {
  id: string;
  outcome: PluginRunOutcome;
}

/** The row a request makes. */
export function newRun(request: ExecuteRequest, state: string = StepState.TODO): NewRun {
  return {
    id: request.runId ?? randomUUID(),
    pluginName: request.plugin.name,
    origin: request.origin,
    data: request.data,
    state,
    requester: request.requester ?? null,
    batchId: request.batchId ?? null,
  };
}

/** Creates the stored run, so that it can be read and followed before it starts. */
export async function createRun(request: ExecuteRequest, state: string = StepState.TODO): Promise<string> {
  const run = newRun(request, state);
  await insertRun(request.store, run, request.owner?.claim() ?? null);
  return run.id;
}

/** The fields a run's final event and stored row share. */
export function runEndData(outcome: PluginRunOutcome): Record<string, unknown> {
  return {
    result: outcome.result,
    error: outcome.error,
    exit_code: outcome.exitCode,
    signal: outcome.signal,
    kill_reason: outcome.killReason,
    duration_ms: Math.round(outcome.durationMs * 10) / 10,
  };
}

/**
 * Runs a plugin as a stored run: the run row, a RUNNING event, every output line as a log
 * event as it is written, then the final state with the result. `runId` must come from
 * createRun.
 */
export async function executeCreatedRun(
  request: ExecuteRequest & { runId: string; createdRunning?: boolean },
): Promise<ExecutedRun> {
  const { store, plugin } = request;
  const id = request.runId;
  if (!request.createdRunning) {
    await store.query(`UPDATE run SET state = 'RUNNING', started_at = now() WHERE id = $1`, [id]);
  }
  const recorder = new EventRecorder(store, request.hub ?? null, id, 0, {
    onStoreError: request.onStoreError,
  });
  recorder.append({ type: 'run', state: StepState.RUNNING });
  // The plugin's process group goes into the row with its first lines, while it runs.
  const onSpawn = (pid: number): void => {
    const start = processStartOf(pid);
    recorder.withNextFlush((db) => recordRunProcess(db, id, pid, start));
  };
  const outcome = await runPlugin({
    plugin,
    data: request.data,
    meta: { runId: id, taskId: null, stepName: null, attempt: 1, requester: request.requester ?? null },
    timeoutMs: request.timeoutMs,
    outputCapBytes: request.outputCapBytes,
    signal: request.signal,
    onSpawn,
    onLine: (line) => {
      recorder.append({ type: 'log', stream: line.stream, line: line.text });
      request.onLine?.(line);
    },
  });

  // The final event and the final row commit together: whoever sees the end of the
  // stream reads a finished run.
  await recorder.finish(
    { type: 'run', state: outcome.state, data: runEndData(outcome) },
    async (db, lastSeq) => {
      if (request.lastOfOwner) await request.owner?.releaseIn(db);
      await finishRun(db, id, {
        state: outcome.state,
        result: outcome.result,
        error: outcome.error,
        exitCode: outcome.exitCode,
        signal: outcome.signal,
        killReason: outcome.killReason,
        droppedLines: outcome.dropped.lines,
        droppedBytes: outcome.dropped.bytes,
        lastSeq,
      });
    },
  );
  return { id, outcome };
}

/**
 * Refuses data the plugin's `inputs` refuse, naming each field (from `where`), before any
 * run is stored: bad input is the caller's mistake, not a run.
 */
export async function checkRunData(plugin: RunnablePlugin, data: unknown, where = ''): Promise<void> {
  const problems = await checkPluginData(plugin, data, where);
  if (problems) {
    throw new TaskhostError('TH_PLUGIN_DATA_INVALID', `invalid data for plugin ${plugin.name}: ${problems}`);
  }
}

/**
 * Checks the data, then creates and runs at once (the CLI's path): the run is stored
 * RUNNING from the start.
 */
export async function executeRun(request: ExecuteRequest): Promise<ExecutedRun> {
  sharedFifoPool().prefill();
  await checkRunData(request.plugin, request.data);
  const runId = await createRun(request, StepState.RUNNING);
  return executeCreatedRun({ ...request, runId, createdRunning: true });
}
