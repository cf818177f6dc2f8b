import path from 'node:path';
import {
  buildInputEnvelope,
  parseResultLine,
  type InputMeta,
  type ResultEnvelope,
} from '../protocol/envelope.ts';
import { judgeRun, type RunVerdict } from '../protocol/outcome.ts';
import { StepState } from '../protocol/states.ts';
import type { PluginDescription } from './description.ts';
import { pluginEnvironment } from './environment.ts';
import type { OutputLine } from './output.ts';
import { formatSchemaErrors } from '../schema/schema-errors.ts';
import { validatorFor } from '../schema/validator-cache.ts';
import { spawnPlugin, type SpawnResult } from './spawn.ts';

export const DEFAULT_TIMEOUT_MS = 300_000;
export const DEFAULT_OUTPUT_CAP_BYTES = 1024 * 1024;

export interface RunnablePlugin {
  name: string;
  location: string;
  description: PluginDescription;
}

export interface PluginRunRequest {
  plugin: RunnablePlugin;
  data: unknown;
  meta?: Partial<Omit<InputMeta, 'protocol' | 'caller' | 'taskName'>>;
  /** Overrides the plugin's own `timeout`; the default is 300 s. */
  timeoutMs?: number;
  outputCapBytes?: number;
  killGraceMs?: number;
  onLine?: (line: OutputLine) => void;
  /** Every stdout line, uncapped, as the result scan sees it (`plugin check` studies them). */
  onStdoutLine?: (text: string) => void;
  /** The plugin is running as the leader of process group `pid`. */
  onSpawn?: (pid: number) => void;
  signal?: AbortSignal;
}

export interface PluginRunOutcome extends RunVerdict {
  /** False when the data was refused before spawning. */
  spawned: boolean;
  exitCode: number | null;
  signal: string | null;
  killReason: SpawnResult['killReason'];
  stderrTail: readonly string[];
  durationMs: number;
  dropped: SpawnResult['dropped'];
}

export function timeoutFor(plugin: RunnablePlugin, override?: number): number {
  if (override !== undefined) return override;
  const own = plugin.description.timeout;
  return typeof own === 'number' && own > 0 ? Math.round(own * 1000) : DEFAULT_TIMEOUT_MS;
}

/**
 * Validates against the plugin's `inputs` or `outputs`, compiled from the stored schema
 * (schema/validator-cache.ts: cached in memory and in this user's cache directory, so a
 * command that runs no plugin never loads ajv, and one that does seldom needs it).
 */
async function check(
  plugin: RunnablePlugin,
  key: 'inputs' | 'outputs',
  value: unknown,
  prefix = '',
): Promise<string | null> {
  const validate = await validatorFor(plugin.description[key]);
  return validate(value) ? null : formatSchemaErrors(validate.errors, prefix);
}

/**
 * The data a plugin would refuse, as one line of violations by path (from `prefix`, e.g.
 * `body/data`, when given); null when valid.
 */
export function checkPluginData(plugin: RunnablePlugin, data: unknown, prefix = ''): Promise<string | null> {
  return check(plugin, 'inputs', data, prefix);
}

/**
 * Runs a plugin once over protocol v1: validates `data` against its `inputs` (invalid data
 * never spawns: CLIENT_ERROR), writes the envelope to its stdin, delivers its output lines,
 * takes the last stdout line that is a result envelope, checks it against `outputs`, and
 * judges the run. Never throws for what the plugin does.
 */
export async function runPlugin(request: PluginRunRequest): Promise<PluginRunOutcome> {
  const { plugin } = request;
  const invalid = await checkPluginData(plugin, request.data);
  if (invalid) {
    return {
      state: StepState.CLIENT_ERROR,
      result: null,
      error: `invalid data for plugin ${plugin.name}: ${invalid}`,
      retriable: false,
      spawned: false,
      exitCode: null,
      signal: null,
      killReason: null,
      stderrTail: [],
      durationMs: 0,
      dropped: { lines: 0, bytes: 0 },
    };
  }

  const meta = request.meta ?? {};
  const location = path.resolve(plugin.location);
  const envelope = buildInputEnvelope({ ...meta, taskName: plugin.name }, request.data);
  let result: ResultEnvelope | null = null;
  const end = await spawnPlugin({
    file: location,
    stdin: JSON.stringify(envelope),
    env: pluginEnvironment({
      pluginName: plugin.name,
      runId: meta.runId ?? null,
      taskId: meta.taskId ?? null,
      stepName: meta.stepName ?? null,
    }),
    cwd: path.dirname(location),
    timeoutMs: timeoutFor(plugin, request.timeoutMs),
    outputCapBytes: request.outputCapBytes ?? DEFAULT_OUTPUT_CAP_BYTES,
    killGraceMs: request.killGraceMs,
    onLine: request.onLine,
    onStdoutLine: (text) => {
      request.onStdoutLine?.(text);
      const parsed = parseResultLine(text);
      if (parsed) result = parsed;
    },
    signal: request.signal,
    onSpawn: request.onSpawn,
  });

  const outputs = plugin.description.outputs;
  const outputErrors = result && outputs !== undefined ? await check(plugin, 'outputs', result) : null;
  const verdict = judgeRun(end, result, outputErrors);
  return {
    ...verdict,
    spawned: end.pid !== null,
    exitCode: end.exitCode,
    signal: end.signal,
    killReason: end.killReason,
    stderrTail: end.stderrTail,
    durationMs: end.durationMs,
    dropped: end.dropped,
  };
}
