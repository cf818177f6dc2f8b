import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { TaskhostError } from '../../errors.ts';
import { parseResultLine } from '../../protocol/envelope.ts';
import {
  DESCRIBE_TIMEOUT_MS,
  DESCRIPTION_MAX_BYTES,
  descriptionProblems,
  parseDescriptionOutput,
  runDescribe,
  type PluginDescription,
} from '../description.ts';
import { checkAgainst, checkSchema } from '../../schema/json-schema.ts';
import { checkExecutable, checkPluginName } from '../registry.ts';
import { runPlugin, timeoutFor, type RunnablePlugin } from '../run-plugin.ts';
import { decideExecutable, decideShebang } from './decide-file.ts';
import {
  decideDescription,
  decideHeredocKey,
  decideName,
  decideSchemaAnswers,
  decideSchemaJson,
  decideSchemasCompile,
  emptyKeyPaths,
  type CompiledSchema,
  type ParsedDescription,
} from './decide-description.ts';
import { decideRun, type RunFacts } from './decide-run.ts';
import { environmentReads, languageOf } from './env-scan.ts';
import { decideExampleData, exampleFromSchema } from './example-data.ts';
import { observeFile } from './observe-file.ts';
import { completeResults, Verdict, type RuleResult } from './rules.ts';
import { StdoutScan } from './stdout-scan.ts';

export interface CheckRequest {
  file: string;
  /** The data to run with; when absent, built from the schema's examples and defaults. */
  data?: { value: unknown };
  /** Overrides the plugin's own timeout for the run. */
  timeoutMs?: number;
}

export interface CheckReport {
  /** The plugin file, absolute. */
  file: string;
  /** The name the plugin gives itself, when it said. */
  name: string | null;
  /** Every rule, in catalogue order (rules.ts). */
  rules: RuleResult[];
  /** The data the run used, or null when there was no run. */
  data: unknown;
  /** Wall time of the plugin's own runs (`schema` and the run), for the benchmark. */
  timings: { schema_ms: number | null; run_ms: number | null };
}

/** Nothing failed (warnings and skips allowed). */
export function reportPassed(report: CheckReport): boolean {
  return report.rules.every((rule) => rule.verdict !== Verdict.FAIL);
}

function compiled(schema: unknown): CompiledSchema {
  try {
    const declared =
      schema !== null &&
      typeof schema === 'object' &&
      typeof (schema as { $schema?: unknown }).$schema === 'string';
    return { draft: checkSchema(schema), declared };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

function parseDescription(location: string, stdout: string): ParsedDescription {
  try {
    const value = parseDescriptionOutput(location, stdout);
    return { ok: true, value, leadingText: !stdout.trim().startsWith('{') };
  } catch (error) {
    // "LOCATION schema: printed invalid JSON (...)": the rule names the command itself.
    return { ok: false, error: (error as Error).message.replace(`${location} schema: `, '') };
  }
}

function nameProblem(name: unknown): string | null {
  if (typeof name !== 'string') return null;
  try {
    checkPluginName(name.normalize('NFC'));
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

/**
 * Checks a plugin file against the protocol, running it the way taskhost does (its
 * `schema`, then one run with example data), and returns a verdict per rule (rules.ts).
 * Registers nothing and needs no store. Throws TH_CLI_USAGE when there is no such file.
 */
export async function checkPlugin(request: CheckRequest): Promise<CheckReport> {
  const location = path.resolve(request.file);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(location);
  } catch {
    throw new TaskhostError('TH_CLI_USAGE', `plugin check: ${location}: no such file`);
  }
  if (!stat.isFile()) {
    throw new TaskhostError('TH_CLI_USAGE', `plugin check: ${location}: not a regular file`);
  }

  const decided: RuleResult[] = [];
  const report = (blocked: string, extra: Partial<CheckReport> = {}): CheckReport => ({
    file: location,
    name: null,
    data: null,
    timings: { schema_ms: null, run_ms: null },
    ...extra,
    rules: completeResults(decided, blocked),
  });
  const failed = (result: RuleResult): boolean => {
    decided.push(result);
    return result.verdict === Verdict.FAIL;
  };

  let notExecutable: string | null = null;
  try {
    checkExecutable(location);
  } catch (error) {
    notExecutable = (error as Error).message;
  }
  decided.push(decideExecutable(location, notExecutable));
  const file = observeFile(location);
  decided.push(decideShebang(location, file.shebang));
  if (notExecutable !== null) return report('the file is not executable');

  // `schema`, as taskhost runs it at registration.
  const described = await runDescribe(location, DESCRIBE_TIMEOUT_MS);
  const timings = { schema_ms: described.end.durationMs, run_ms: null as number | null };
  const answered = decideSchemaAnswers({
    ...described.end,
    timeoutMs: DESCRIBE_TIMEOUT_MS,
    oversize: described.oversize,
    maxBytes: DESCRIPTION_MAX_BYTES,
  });
  if (failed(answered)) return report('`schema` did not answer', { timings });
  const parsed = parseDescription(location, described.stdout);
  if (failed(decideSchemaJson(parsed)) || !parsed.ok) {
    return report('`schema` printed no JSON object', { timings });
  }
  const description = parsed.value as PluginDescription;
  const name = typeof description.name === 'string' ? description.name : null;
  const shapeFailed = failed(decideDescription(descriptionProblems(description), description));
  const schemas: { inputs: CompiledSchema; outputs?: CompiledSchema } = {
    inputs: description.inputs === undefined ? { error: 'missing' } : compiled(description.inputs),
  };
  if (description.outputs !== undefined) schemas.outputs = compiled(description.outputs);
  const compileFailed = description.inputs !== undefined && failed(decideSchemasCompile(schemas));
  decided.push(decideName(description.name, nameProblem(description.name)));
  decided.push(decideHeredocKey(emptyKeyPaths(description)));
  if (shapeFailed || compileFailed) return report('the description is invalid', { name, timings });

  // The data: given, or built from the schema's examples and defaults.
  const built = request.data ? null : exampleFromSchema(description.inputs);
  const data = request.data ? request.data.value : built?.value;
  const dataResult = decideExampleData({
    source: request.data ? 'given' : 'built',
    data,
    problems: checkAgainst(description.inputs, data),
    unresolved: built?.unresolved ?? [],
  });
  decided.push(dataResult);
  if (dataResult.verdict !== Verdict.PASS) return report('no data that inputs accepts', { name, timings });

  // One run, as taskhost runs it.
  const plugin: RunnablePlugin = { name: name ?? path.basename(location), location, description };
  const stdout = new StdoutScan();
  let stderrResults = 0;
  const outcome = await runPlugin({
    plugin,
    data,
    meta: { runId: randomUUID() },
    timeoutMs: request.timeoutMs,
    onStdoutLine: (text) => stdout.push(text),
    onLine: (line) => {
      if (line.stream === 'stderr' && parseResultLine(line.text)) stderrResults += 1;
    },
  });
  timings.run_ms = outcome.durationMs;
  const result = outcome.result;
  const facts: RunFacts = {
    durationMs: outcome.durationMs,
    timeoutMs: timeoutFor(plugin, request.timeoutMs),
    timeoutSource:
      request.timeoutMs !== undefined
        ? 'option'
        : typeof description.timeout === 'number' && description.timeout > 0
          ? 'declared'
          : 'default',
    spawnError: outcome.spawned ? null : (outcome.error ?? 'the plugin did not start'),
    killReason: outcome.killReason,
    signal: outcome.signal,
    exitCode: outcome.exitCode,
    stderrTail: outcome.stderrTail,
    result,
    verdict: outcome,
    stdout: stdout.summary(),
    stderrResults,
    outputs: {
      declared: description.outputs !== undefined,
      problems:
        result && description.outputs !== undefined ? checkAgainst(description.outputs, result) : null,
    },
    environmentReads:
      file.source === null || file.shebang.kind === 'binary'
        ? null
        : environmentReads(file.source, languageOf(file.shebang.program)),
  };
  decided.push(...decideRun(facts));
  return report('', { name, data, timings });
}
