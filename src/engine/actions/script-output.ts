import { compileGoRegex } from '../../expr/go-regex.ts';

/**
 * The pure half of the `script` builtin: how µTask reads a script's result from its output
 * and judges its exit code (pkg/plugins/builtin/scriptutil).
 */

export const OutputMode = {
  /** The last line of stdout is the output (µTask's default). */
  lastLine: 'manual-lastline',
  /** The text between two delimiters (regular expressions, as µTask writes them) is. */
  delimiters: 'manual-delimiters',
  /** The output is always `{}`. */
  disabled: 'disabled',
} as const;
export type OutputMode = (typeof OutputMode)[keyof typeof OutputMode];

export const OUTPUT_MODES: readonly string[] = Object.values(OutputMode);

/**
 * µTask's delimiter search: `(?s)^.*START(.*)END.*$`, so the greedy `^.*` makes it find the
 * last START that an END follows, and the capture runs to the last END. Throws an Error
 * saying what is wrong with the expressions.
 */
export function delimitersRegex(start: string, end: string): RegExp {
  return compileGoRegex(`(?s)^.*${start}(.*)${end}.*$`);
}

/**
 * The text the output is decoded from, or '' when there is none (the output is then `{}`).
 * `lastLine` is the last non-blank stdout line: µTask takes the text after the last newline
 * and, when that is blank, the line before it; skipping every trailing blank line gives the
 * same answer for all output but a script's that ends with two or more empty lines.
 */
export function resultText(mode: OutputMode, lastLine: string, stdout: string, delimiters?: RegExp): string {
  switch (mode) {
    case OutputMode.lastLine:
      return lastLine.trim();
    case OutputMode.delimiters:
      return delimiters?.exec(stdout)?.[1] ?? '';
    case OutputMode.disabled:
      return '';
  }
}

/**
 * The output decoded from `text`: a JSON object (µTask decodes into a map, so `null` gives
 * `{}` and anything but an object is an error), `{}` for no text. Throws a SyntaxError or a
 * TypeError saying why it is not one.
 */
export function decodeOutput(text: string): Record<string, unknown> {
  if (text === '') return {};
  const value: unknown = JSON.parse(text);
  if (value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new TypeError(`${Array.isArray(value) ? 'a list' : `a ${typeof value}`} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

/** One `exit_codes_unrecoverable` entry: `12` or `120-130`. */
const EXIT_CODE_ENTRY = /^(\d+)(?:-(\d+))?$/;

/** The problem with one `exit_codes_unrecoverable` entry, or undefined (µTask's checks). */
export function exitCodeEntryProblem(entry: string): string | undefined {
  const match = EXIT_CODE_ENTRY.exec(entry);
  if (!match) return `"${entry}" is neither an exit code (12) nor a range (120-130)`;
  if (match[2] === undefined) return undefined;
  const start = Number(match[1]);
  const end = Number(match[2]);
  if (end <= start) return `in "${entry}", the end of the range must be above its start`;
  if (start === 0) return `"${entry}" includes exit code 0, which is a success`;
  return undefined;
}

/** True when `code` is one of the entries (already checked by exitCodeEntryProblem). */
export function isUnrecoverable(code: number, entries: readonly string[]): boolean {
  return entries.some((entry) => {
    const match = EXIT_CODE_ENTRY.exec(entry);
    if (!match) return false;
    const start = Number(match[1]);
    const end = match[2] === undefined ? start : Number(match[2]);
    return start <= code && code <= end;
  });
}

/** Go's names for the signals a script is usually killed by (syscall.Signal.String()). */
const GO_SIGNAL_NAMES: Readonly<Record<string, string>> = {
  SIGABRT: 'aborted',
  SIGBUS: 'bus error',
  SIGHUP: 'hangup',
  SIGINT: 'interrupt',
  SIGKILL: 'killed',
  SIGPIPE: 'broken pipe',
  SIGQUIT: 'quit',
  SIGSEGV: 'segmentation fault',
  SIGTERM: 'terminated',
};

/**
 * µTask's `process_state` and `exit_code` metadata (Go's ProcessState.String() and
 * WaitStatus.ExitStatus()): "exit status 3" and 3, or "signal: killed" and -1.
 */
export function processState(
  exitCode: number | null,
  signal: string | null,
): { state: string; code: number } {
  if (signal !== null) return { state: `signal: ${GO_SIGNAL_NAMES[signal] ?? signal}`, code: -1 };
  return { state: `exit status ${exitCode ?? -1}`, code: exitCode ?? -1 };
}
