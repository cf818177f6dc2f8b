import fs from 'node:fs';
import { TaskhostError } from '../errors.ts';

/** Values of the flags several commands share, checked before anything else happens. */

export function usage(message: string): TaskhostError {
  return new TaskhostError('TH_CLI_USAGE', message);
}

export function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw usage(`${where}: invalid JSON (${(error as Error).message})`);
  }
}

/**
 * JSON data given inline (`--args JSON`) or in a file (`--args-file F`, "-" for stdin), never
 * both; undefined when neither is given. `flags` names the two flags in messages.
 */
export function readJsonFlag(
  inline: string | undefined,
  file: string | undefined,
  flags: { inline: string; file: string },
): { value: unknown } | undefined {
  if (inline !== undefined && file !== undefined) {
    throw usage(`give the data with ${flags.inline} or ${flags.file}, not both`);
  }
  if (file !== undefined) {
    let text: string;
    try {
      text = fs.readFileSync(file === '-' ? 0 : file, 'utf8');
    } catch (error) {
      throw usage(
        `${flags.file} ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      );
    }
    return { value: parseJson(text, file) };
  }
  return inline === undefined ? undefined : { value: parseJson(inline, flags.inline) };
}

/** `--timeout SECONDS` in milliseconds; undefined when not given. */
export function timeoutFlag(seconds: string | undefined): number | undefined {
  if (seconds === undefined) return undefined;
  const value = Number(seconds);
  if (!Number.isFinite(value) || value <= 0) throw usage('--timeout must be a positive number of seconds');
  return Math.round(value * 1000);
}

/**
 * `--input k=v` flags (repeated) as an object; a key given twice makes a list (a collection
 * input). `flag` names the flag in the error of a pair without `=`.
 */
export function keyValuePairs(values: readonly string[] | undefined, flag: string): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const pair of values ?? []) {
    const equals = pair.indexOf('=');
    if (equals <= 0) throw usage(`${flag} ${pair}: expected KEY=VALUE`);
    const key = pair.slice(0, equals);
    const value = pair.slice(equals + 1);
    const existing = result[key];
    result[key] =
      existing === undefined ? value : [...(Array.isArray(existing) ? existing : [existing]), value];
  }
  return result;
}
