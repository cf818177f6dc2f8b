import fs from 'node:fs';
import path from 'node:path';
import { ConfigProblem, ConfigReader, type ConfigStage } from './config.ts';
import { delimitersRegex, exitCodeEntryProblem, OUTPUT_MODES, OutputMode } from './script-output.ts';

/**
 * The `script` builtin's configuration (see script.ts for what each field means), checked
 * as µTask's validConfig checks it, plus the containment of the file in the scripts
 * directory.
 */

const FIELDS = [
  'file_path',
  'file',
  'argv',
  'stdin',
  'environment',
  'timeout',
  'output_mode',
  'output_manual_delimiters',
  'exit_codes_unrecoverable',
] as const;

/** µTask's default timeout. */
const DEFAULT_TIMEOUT_MS = 2 * 60 * 1000;

export interface ScriptConfig {
  /** As written (µTask names the `script:FILE` resource after it). */
  file: string;
  /** The file's real path; unknown before rendering when `file` is a template. */
  realPath: string | undefined;
  argv: string[];
  stdin: string;
  environment: Record<string, string>;
  timeoutMs: number;
  outputMode: OutputMode;
  delimiters: RegExp | undefined;
  unrecoverable: string[];
}

function readFile(read: ConfigReader): { field: string; file: string } {
  if (read.has('file') && read.has('file_path')) {
    throw new ConfigProblem('file', 'file and file_path name the same thing: keep file_path');
  }
  const field = read.has('file') ? 'file' : 'file_path';
  const file = read.text(field);
  if (file === undefined) throw new ConfigProblem('file_path', 'is missing (the script to run)');
  return { field, file };
}

function readEnvironment(read: ConfigReader): Record<string, string> {
  const environment = read.textMap('environment') ?? {};
  for (const [name, value] of Object.entries(environment)) {
    if (name === '' || name.includes('=') || name.includes('\0')) {
      throw new ConfigProblem('environment', `"${name}" is not a variable name`);
    }
    if (value.includes('\0')) throw new ConfigProblem(`environment.${name}`, 'holds a NUL character');
  }
  return environment;
}

/**
 * `output_mode` and its delimiters, with µTask's rules: delimiters are read only in
 * manual-delimiters mode (which must be named), and that mode needs exactly two.
 */
function readOutputMode(read: ConfigReader): { mode: OutputMode; delimiters: RegExp | undefined } {
  const text = read.text('output_mode');
  const modeKnown = text === undefined || !read.pending(text);
  const mode = (text === undefined || read.pending(text) ? OutputMode.lastLine : text) as OutputMode;
  if (!OUTPUT_MODES.includes(mode)) {
    throw new ConfigProblem('output_mode', `must be one of ${OUTPUT_MODES.join(', ')}, not "${mode}"`);
  }
  if (!read.has('output_manual_delimiters')) {
    if (mode === OutputMode.delimiters) {
      throw new ConfigProblem('output_manual_delimiters', 'is missing (output_mode is manual-delimiters)');
    }
    return { mode, delimiters: undefined };
  }
  if (modeKnown && mode !== OutputMode.delimiters) {
    throw new ConfigProblem('output_manual_delimiters', 'is read only when output_mode is manual-delimiters');
  }
  const delimiters = read.texts('output_manual_delimiters');
  if (delimiters === undefined) return { mode, delimiters: undefined };
  const [start, end] = delimiters;
  if (delimiters.length !== 2 || start === undefined || end === undefined) {
    throw new ConfigProblem(
      'output_manual_delimiters',
      `needs 2 expressions [START, END], not ${delimiters.length}`,
    );
  }
  if (read.pending(start) || read.pending(end)) return { mode, delimiters: undefined };
  try {
    return { mode, delimiters: delimitersRegex(start, end) };
  } catch (error) {
    throw new ConfigProblem('output_manual_delimiters', (error as Error).message);
  }
}

function readUnrecoverable(read: ConfigReader): string[] {
  const entries = read.texts('exit_codes_unrecoverable') ?? [];
  entries.forEach((entry, index) => {
    const problem = read.pending(entry) ? undefined : exitCodeEntryProblem(entry);
    if (problem) throw new ConfigProblem(`exit_codes_unrecoverable[${index}]`, problem);
  });
  return entries;
}

/**
 * The real path of `file` inside `scriptsDir`, checked as µTask checks it (it exists and is
 * executable), and refused when it leaves the directory: an absolute path, a `..` segment,
 * or a symlink (the file's or a directory's on the way) that points outside.
 */
function resolveScript(scriptsDir: string, field: string, file: string): string {
  if (path.isAbsolute(file) || file.split(/[\\/]/).includes('..')) {
    throw new ConfigProblem(field, `"${file}" must name a file inside the scripts directory`);
  }
  let root: string;
  let real: string;
  try {
    root = fs.realpathSync(scriptsDir);
  } catch (error) {
    throw new ConfigProblem(field, `the scripts directory ${scriptsDir} is unreadable: ${errorCode(error)}`);
  }
  try {
    real = fs.realpathSync(path.join(root, file));
  } catch (error) {
    throw new ConfigProblem(
      field,
      `"${file}" is not in the scripts directory ${scriptsDir} (${errorCode(error)})`,
    );
  }
  const inside = root.endsWith(path.sep) ? root : root + path.sep;
  if (real === root) throw new ConfigProblem(field, `"${file}" is not a file`);
  if (!real.startsWith(inside)) {
    throw new ConfigProblem(field, `"${file}" leads outside the scripts directory (through a symlink)`);
  }
  const stat = fs.statSync(real);
  if (!stat.isFile()) throw new ConfigProblem(field, `"${file}" is not a file`);
  if ((stat.mode & 0o111) === 0) throw new ConfigProblem(field, `"${file}" is not executable (chmod +x)`);
  return real;
}

function errorCode(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? (error as Error).message;
}

export function parseScriptConfig(
  configuration: unknown,
  stage: ConfigStage,
  scriptsDir: string,
): ScriptConfig {
  const read = new ConfigReader(configuration, FIELDS, stage);
  const { field, file } = readFile(read);
  const realPath = read.pending(file) ? undefined : resolveScript(scriptsDir, field, file);
  const { mode, delimiters } = readOutputMode(read);
  return {
    file,
    realPath,
    argv: read.texts('argv') ?? [],
    stdin: read.text('stdin') ?? '',
    environment: readEnvironment(read),
    timeoutMs: read.durationMs('timeout', DEFAULT_TIMEOUT_MS),
    outputMode: mode,
    delimiters,
    unrecoverable: readUnrecoverable(read),
  };
}
