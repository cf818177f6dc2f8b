import { exitCodeOf, toTaskhostError } from '../errors.ts';

/**
 * Ends the process on an error. Errors print as one line, `taskhost: message`,
 * never a stack trace (set TASKHOST_DEBUG=1 to see the cause of an internal error).
 */
export function failAndExit(error: unknown): never {
  const known = toTaskhostError(error);
  process.stderr.write(`taskhost: ${known.message.split('\n')[0]}\n`);
  if (process.env.TASKHOST_DEBUG && known.code === 'TH_INTERNAL') {
    process.stderr.write(`${(known.cause as Error | undefined)?.stack ?? known.stack}\n`);
  }
  process.exit(exitCodeOf(known.code));
}
