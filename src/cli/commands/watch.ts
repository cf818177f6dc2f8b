import { TaskhostError } from '../../errors.ts';
import { isFailedState, isFinalRunState } from '../../protocol/states.ts';
import { paint, useColour } from '../output.ts';
import { followStream } from '../stream-client.ts';

/**
 * `taskhost run watch ID`: the run's snapshot, then its lines and state changes as they
 * happen, until it ends. Colours on a TTY, plain when piped; exit 0 when the run succeeded.
 */
export async function watchRun(id: string, flags: { server: string; since: string }): Promise<number> {
  const since = Number(flags.since);
  if (!Number.isInteger(since) || since < 0) {
    throw new TaskhostError('TH_CLI_USAGE', '--since must be a whole number');
  }
  const colour = useColour(process.stdout);
  const out = (text: string): boolean => process.stdout.write(`${text}\n`);
  const followed = await followStream(flags.server, `/run/${encodeURIComponent(id)}/stream`, since, {
    onSnapshot: (message) => {
      const run = (message.run ?? {}) as Record<string, unknown>;
      out(
        paint(colour, 'bold', `run ${String(run.id)} · plugin ${String(run.plugin)} · ${String(run.state)}`),
      );
    },
    onEvent: (event) => {
      if (event.type === 'log') {
        const text = event.line ?? '';
        if (event.stream === 'stderr') out(paint(colour, 'yellow', text));
        else if (event.stream === 'taskhost') out(paint(colour, 'magenta', `[taskhost] ${text}`));
        else out(text);
        return;
      }
      const state = event.state ?? '';
      const painted = paint(
        colour,
        isFailedState(state) ? 'red' : state === 'DONE' ? 'green' : 'cyan',
        state,
      );
      const error = typeof event.data?.error === 'string' ? `: ${event.data.error}` : '';
      out(`${paint(colour, 'dim', `── ${event.type}`)} ${painted}${error}`);
      if (event.data && event.data.result) out(JSON.stringify(event.data.result));
    },
  });
  // Resumed at or past the end, no event comes: the run's own state (in the snapshot) decides.
  const state = followed.last?.state ?? (followed.snapshot?.state as string | undefined);
  return state && isFinalRunState(state) && !isFailedState(state) ? 0 : 1;
}
