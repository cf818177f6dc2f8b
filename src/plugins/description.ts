import fs from 'node:fs';
import path from 'node:path';
import { TaskhostError } from '../errors.ts';
import { SCHEMAS_DIR } from '../paths.ts';
import { checkAgainst, checkSchema } from '../schema/json-schema.ts';
import { pluginEnvironment } from './environment.ts';
import { spawnPlugin, type SpawnResult } from './spawn.ts';

/** What `PLUGIN schema` prints (schemas/plugin-description.schema.json). */
export interface PluginDescription {
  name: string;
  description: string;
  inputs: Record<string, unknown> | boolean;
  outputs?: Record<string, unknown> | boolean;
  title?: string;
  category?: string;
  tags?: string[];
  dangerous?: string;
  expensive?: boolean;
  timeout?: number;
  idempotent?: boolean;
  [extra: string]: unknown;
}

export const DESCRIBE_TIMEOUT_MS = 10_000;
export const DESCRIPTION_MAX_BYTES = 1024 * 1024;

let descriptionSchema: unknown;
function loadDescriptionSchema(): unknown {
  descriptionSchema ??= JSON.parse(
    fs.readFileSync(path.join(SCHEMAS_DIR, 'plugin-description.schema.json'), 'utf8'),
  );
  return descriptionSchema;
}

function fail(location: string, why: string): never {
  throw new TaskhostError('TH_PLUGIN_DESCRIBE_FAILED', `${location} schema: ${why}`);
}

/** The JSON object in what `schema` printed: all of stdout, or from its first `{` line on. */
export function parseDescriptionOutput(location: string, stdout: string): unknown {
  const text = stdout.trim();
  if (text === '') fail(location, 'printed nothing on stdout');
  try {
    return JSON.parse(text);
  } catch (error) {
    const start = text.search(/^\{/m);
    if (start > 0) {
      try {
        return JSON.parse(text.slice(start));
      } catch {
        // fall through to the first error, which names the position in the whole output
      }
    }
    fail(location, `printed invalid JSON (${(error as Error).message})`);
  }
}

/** What breaks schemas/plugin-description.schema.json in a parsed description; null when nothing. */
export function descriptionProblems(value: unknown): string | null {
  return checkAgainst(loadDescriptionSchema(), value);
}

/**
 * Validates a parsed self-description: the shape of schemas/plugin-description.schema.json,
 * then `inputs` and `outputs` must compile as JSON Schemas. Unknown keys are tolerated.
 */
export function validateDescription(location: string, value: unknown): PluginDescription {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    fail(location, 'printed JSON that is not an object');
  }
  const problems = descriptionProblems(value);
  if (problems) fail(location, `invalid self-description: ${problems}`);
  const description = value as PluginDescription;
  for (const key of ['inputs', 'outputs'] as const) {
    if (description[key] === undefined) continue;
    try {
      checkSchema(description[key]);
    } catch (error) {
      fail(location, `"${key}" is not a valid JSON Schema: ${(error as Error).message}`);
    }
  }
  return description;
}

/** What `EXE schema` did: how it ended, and its stdout (up to the size limit). */
export interface DescribeRun {
  location: string;
  end: SpawnResult;
  stdout: string;
  /** It printed more than the limit; `stdout` holds the part within it. */
  oversize: boolean;
}

/** Runs `EXE schema` as taskhost does (minimal environment, its directory as cwd, a time limit). */
export async function runDescribe(file: string, timeoutMs = DESCRIBE_TIMEOUT_MS): Promise<DescribeRun> {
  const location = path.resolve(file);
  const chunks: string[] = [];
  let size = 0;
  const end = await spawnPlugin({
    file: location,
    args: ['schema'],
    stdin: '',
    env: pluginEnvironment({ pluginName: path.basename(location), runId: null }),
    cwd: path.dirname(location),
    timeoutMs,
    outputCapBytes: DESCRIPTION_MAX_BYTES,
    onStdoutLine: (line) => {
      size += line.length + 1;
      if (size <= DESCRIPTION_MAX_BYTES) chunks.push(line);
    },
  });
  return { location, end, stdout: chunks.join('\n'), oversize: size > DESCRIPTION_MAX_BYTES };
}

/** Runs `EXE schema` with a time limit, and validates what it prints. */
export async function describePlugin(
  file: string,
  timeoutMs = DESCRIBE_TIMEOUT_MS,
): Promise<PluginDescription> {
  const { location, end, stdout, oversize } = await runDescribe(file, timeoutMs);
  const stderr = end.stderrTail.filter((line) => line.trim() !== '').join(' | ');
  const said = stderr ? ` (stderr: ${stderr})` : '';
  if (end.spawnError) fail(location, end.spawnError);
  if (end.killReason === 'timeout') fail(location, `did not answer within ${timeoutMs / 1000} s`);
  if (end.signal) fail(location, `killed by ${end.signal}${said}`);
  if (end.exitCode !== 0) fail(location, `exited with code ${end.exitCode}${said}`);
  if (oversize) fail(location, `printed more than ${DESCRIPTION_MAX_BYTES} bytes`);
  return validateDescription(location, parseDescriptionOutput(location, stdout));
}
