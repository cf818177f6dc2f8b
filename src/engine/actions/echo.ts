import { parse as parseYaml } from 'yaml';
import {
  ConfigProblem,
  ConfigReader,
  describe,
  parseRendered,
  problemIn,
  type ConfigStage,
} from './config.ts';
import { ActionError, type ActionErrorKind, type ActionResult, type ActionRunner } from './types.ts';

/**
 * µTask's `echo` builtin: the step's output is what its configuration says, with no work
 * done. Templates use it to reshape earlier results, and tests use it to make a step fail
 * on purpose:
 *
 *   output         anything: the step's output
 *   metadata       a map: the step's metadata
 *   unmarshal      true: `output` is a string of JSON (or YAML) to decode, since rendering
 *                  can only produce strings
 *   error_message  when set, the step fails with this error (output and metadata are kept)
 *   error_type     client → CLIENT_ERROR; server (the default) → SERVER_ERROR, retried.
 *                  taskhost also accepts fatal → FATAL_ERROR (µTask's echo has no way to
 *                  reach that state, which engine scenarios need).
 */

const FIELDS = ['output', 'metadata', 'unmarshal', 'error_message', 'error_type'] as const;

const ERROR_TYPES: Readonly<Record<string, ActionErrorKind>> = {
  client: 'client',
  server: 'server',
  fatal: 'fatal',
};

interface EchoConfig {
  output: unknown;
  metadata: Record<string, unknown> | undefined;
  unmarshal: boolean;
  /** Set when the step is to fail. */
  failure: { message: string; kind: ActionErrorKind } | undefined;
}

function parseEchoConfig(configuration: unknown, stage: ConfigStage): EchoConfig {
  const read = new ConfigReader(configuration, FIELDS, stage);
  const errorType = read.text('error_type');
  let kind: ActionErrorKind = 'server';
  if (errorType !== undefined && !read.pending(errorType)) {
    const known = ERROR_TYPES[errorType];
    if (known === undefined) {
      throw new ConfigProblem('error_type', `must be client, server or fatal, not "${errorType}"`);
    }
    kind = known;
  }
  const message = read.text('error_message');
  return {
    output: read.raw('output'),
    metadata: read.map('metadata'),
    unmarshal: read.bool('unmarshal') ?? false,
    failure: message === undefined ? undefined : { message, kind },
  };
}

/**
 * `output` decoded from its text. µTask decodes it as YAML (of which JSON is a subset), and a
 * failure is a SERVER_ERROR there, so it is here too.
 */
function unmarshalOutput(output: unknown): unknown {
  if (typeof output !== 'string') {
    throw new ActionError(
      'server',
      `configuration.output: cannot unmarshal ${describe(output)}: expected a string`,
    );
  }
  try {
    return parseYaml(output) as unknown;
  } catch (error) {
    const reason = (error as Error).message.split('\n')[0] ?? '';
    throw new ActionError('server', `configuration.output: failed to unmarshal: ${reason}`);
  }
}

export const echoAction: ActionRunner = {
  type: 'echo',

  validateConfig(configuration) {
    return problemIn(() => parseEchoConfig(configuration, 'unrendered'));
  },

  // async: a configuration problem rejects the promise rather than throwing at the call.
  async run(configuration) {
    const config = parseRendered(() => parseEchoConfig(configuration, 'rendered'));
    const output = config.unmarshal ? unmarshalOutput(config.output) : config.output;
    if (config.failure) {
      throw new ActionError(config.failure.kind, config.failure.message, {
        output,
        metadata: config.metadata,
      });
    }
    const result: ActionResult = { output, metadata: config.metadata };
    return result;
  },
};
