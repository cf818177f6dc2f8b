import { formatGoDuration } from '../../expr/duration.ts';
import { baseEnvironment } from '../../plugins/environment.ts';
import { spawnPlugin, type SpawnResult } from '../../plugins/spawn.ts';
import { processStartOf } from '../../system/processes.ts';
import { parseRendered, problemIn } from './config.ts';
import { parseScriptConfig, type ScriptConfig } from './script-config.ts';
import { decodeOutput, isUnrecoverable, OutputMode, processState, resultText } from './script-output.ts';
import { ActionError, type ActionContext, type ActionResult, type ActionRunner } from './types.ts';

/**
 * µTask's `script` builtin: runs an executable file of the scripts directory.
 *
 *   file_path                 the file, relative to the scripts directory (µTask's first
 *                             versions called it `file`; both are read)
 *   argv                      its arguments, passed as a list: no shell sees them
 *   stdin                     text written to its standard input
 *   environment               variables added to its environment
 *   timeout                   a Go duration, 2m by default
 *   output_mode               manual-lastline (default), manual-delimiters or disabled
 *   output_manual_delimiters  [START, END]: regular expressions around the output
 *   exit_codes_unrecoverable  exit codes ("3") or ranges ("10-20") that mean CLIENT_ERROR
 *
 * The output is a JSON object read from the script's stdout (the last non-blank line, or the
 * text between the delimiters). The metadata is µTask's: exit_code (a string),
 * process_state, output (stdout and stderr as they came, capped), execution_time and
 * error. Exit code 0 is DONE unless the output is not a JSON object (SERVER_ERROR, as
 * µTask); another exit code is SERVER_ERROR (retried) unless listed as unrecoverable. A
 * timeout is a SERVER_ERROR.
 *
 * Where this differs from µTask, on purpose:
 * - the output is read from stdout alone (µTask's README says stdout; its code reads stdout
 *   and stderr mixed, so a warning printed last broke the result);
 * - the environment is the plugins' minimal one (PATH, HOME, LANG) plus UTASK_TASK_ID,
 *   UTASK_RESOLUTION_ID, UTASK_STEP_NAME and `environment`, never the server's variables
 *   (µTask passes its whole environment, database credentials included);
 * - the script runs in a process group of its own, and all of it is killed on a timeout or
 *   a cancellation, and once the script exits (µTask kills the script alone);
 * - a file outside the scripts directory, by `..` or through a symlink, is refused.
 *
 * The child's life (FIFOs as stdout and stderr so `/dev/stderr` works, group kill with
 * SIGTERM then SIGKILL, output cap) is plugins/spawn.ts's, shared with action plugins.
 */

/** Output kept in `metadata.output` and logged (head and tail), as for a plugin. */
const OUTPUT_CAP_BYTES = 1024 * 1024;
/**
 * Stdout kept for the delimiter search. The search backtracks (`^.*START(.*)END.*$`), so the
 * text it runs over stays bounded.
 */
const DELIMITED_STDOUT_MAX_CHARS = 1024 * 1024;
/** SIGTERM to SIGKILL, when a script is stopped. */
const KILL_GRACE_MS = 2000;

export interface ScriptActionOptions {
  /** The directory scripts are run from; `file_path` names a file in it. */
  scriptsDir: string;
}

/**
 * What the script sees: the minimal environment of plugins, then µTask's UTASK_* variables,
 * then the step's own `environment` (which may override them, as in µTask).
 */
function scriptEnvironment(config: ScriptConfig, context: ActionContext): Record<string, string> {
  return {
    ...baseEnvironment(),
    UTASK_TASK_ID: context.taskId,
    UTASK_RESOLUTION_ID: context.resolutionId,
    UTASK_STEP_NAME: context.stepName,
    // Its run, so that if this taskhost dies the script is found and killed (runs/recollect.ts).
    ...(context.runId ? { TASKHOST_RUN_ID: context.runId } : {}),
    ...config.environment,
  };
}

/** What a run gathered from the script's output as it came. */
class ScriptOutput {
  /** stdout and stderr lines in arrival order (capped by spawnPlugin), for metadata.output. */
  readonly lines: string[] = [];
  lastLine = '';
  stdout = '';
  private readonly keepStdout: boolean;

  constructor(keepStdout: boolean) {
    this.keepStdout = keepStdout;
  }

  onStdoutLine(text: string): void {
    if (text.trim() !== '') this.lastLine = text;
    if (this.keepStdout && this.stdout.length < DELIMITED_STDOUT_MAX_CHARS) {
      this.stdout += `${text}\n`.slice(0, DELIMITED_STDOUT_MAX_CHARS - this.stdout.length);
    }
  }

  combined(): string {
    return this.lines.length === 0 ? '' : `${this.lines.join('\n')}\n`;
  }
}

/** µTask's metadata of a run. */
function scriptMetadata(end: SpawnResult, output: ScriptOutput, error: string): Record<string, string> {
  const { state, code } = end.spawnError ? { state: '', code: 1 } : processState(end.exitCode, end.signal);
  return {
    exit_code: String(code),
    process_state: state,
    output: output.combined(),
    execution_time: formatGoDuration(BigInt(Math.round(end.durationMs * 1e6))),
    error,
  };
}

/** Turns how the script ended into the step's result, or throws the step's ActionError. */
function judgeScript(config: ScriptConfig, end: SpawnResult, gathered: ScriptOutput): ActionResult {
  const timeout = formatGoDuration(BigInt(Math.round(config.timeoutMs * 1e6)));
  const stopped =
    end.killReason === 'timeout'
      ? `killed after the ${timeout} timeout (configuration.timeout)`
      : end.killReason === 'cancelled'
        ? `cancelled${end.cancelReason ? `: ${end.cancelReason}` : ''}`
        : null;
  const { state, code } = processState(end.exitCode, end.signal);
  const why = end.spawnError ?? stopped ?? (code === 0 ? '' : state);
  const metadata = scriptMetadata(end, gathered, why);
  if (end.spawnError || stopped) {
    throw new ActionError('server', `script ${config.file}: ${why}`, { metadata });
  }
  let output: Record<string, unknown> = {};
  try {
    output = decodeOutput(
      resultText(config.outputMode, gathered.lastLine, gathered.stdout, config.delimiters),
    );
  } catch (error) {
    // µTask fails a successful script whose result does not decode, and ignores it otherwise.
    if (code === 0) {
      const reason = (error as Error).message;
      throw new ActionError('server', `script ${config.file}: its output is not a JSON object: ${reason}`, {
        metadata,
      });
    }
  }
  if (code !== 0) {
    // µTask's texts, which conditions on the step's error may match.
    const [kind, message] = isUnrecoverable(code, config.unrecoverable)
      ? (['client', `Client error: exit code: ${code}`] as const)
      : (['server', `exit code: ${code}`] as const);
    throw new ActionError(kind, message, { output, metadata });
  }
  return { output, metadata };
}

/** The `script` action, running files of `options.scriptsDir`. */
export function createScriptAction(options: ScriptActionOptions): ActionRunner {
  const { scriptsDir } = options;
  return {
    type: 'script',

    validateConfig(configuration) {
      return problemIn(() => parseScriptConfig(configuration, 'unrendered', scriptsDir));
    },

    /** µTask's: `fork` (processes this instance starts) and `script:FILE`. */
    resources(configuration) {
      const fields = typeof configuration === 'object' && configuration !== null ? configuration : {};
      const name = 'file_path' in fields ? fields.file_path : 'file' in fields ? fields.file : undefined;
      return typeof name === 'string' && name !== '' ? ['fork', `script:${name}`] : ['fork'];
    },

    async run(configuration, context) {
      const config = parseRendered(() => parseScriptConfig(configuration, 'rendered', scriptsDir));
      const gathered = new ScriptOutput(config.outputMode === OutputMode.delimiters);
      const end = await spawnPlugin({
        // The real path runs, not the name that was checked: a symlink changed in between
        // cannot point the spawn outside the directory.
        file: config.realPath as string,
        args: config.argv,
        stdin: config.stdin,
        env: scriptEnvironment(config, context),
        cwd: scriptsDir, // µTask runs scripts from its scripts folder
        timeoutMs: config.timeoutMs,
        outputCapBytes: OUTPUT_CAP_BYTES,
        killGraceMs: KILL_GRACE_MS,
        signal: context.signal,
        onSpawn: (pid) => context.recordProcess?.(pid, processStartOf(pid)),
        onStdoutLine: (text) => gathered.onStdoutLine(text),
        onLine: (line) => {
          gathered.lines.push(line.text);
          context.log(line.stream, line.text);
        },
      });
      return judgeScript(config, end, gathered);
    },
  };
}
