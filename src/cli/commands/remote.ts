import type { OutputLine } from '../../plugins/output.ts';
import { isFailedState } from '../../protocol/states.ts';
import { resultEnvelope } from '../../runs/envelope.ts';
import { requestJson } from '../http-client.ts';
import { printJson } from '../output.ts';
import { followStream } from '../stream-client.ts';

/**
 * `execute --server URL`: the run happens on the server. Synchronously, the server answers
 * with the envelope; with --async it answers at once and the run's stream is followed,
 * its lines printed as they come.
 */
export async function executeRemote(
  server: string,
  name: string,
  data: unknown,
  async: boolean,
  printLine: (line: OutputLine) => void,
): Promise<number> {
  const path = `/plugin/${encodeURIComponent(name)}/run`;
  if (!async) {
    const { body } = await requestJson(server, 'POST', path, { data });
    printJson(body);
    return typeof body.state === 'string' && !isFailedState(body.state) ? 0 : 1;
  }
  const { body } = await requestJson(server, 'POST', `${path}?async=true`, { data });
  const runId = String(body.run_id);
  process.stderr.write(`run ${runId} started on ${server}\n`);
  const { last: final } = await followStream(server, String(body.stream ?? `/run/${runId}/stream`), 0, {
    onEvent: (event) => {
      if (event.type === 'log') {
        printLine({ stream: (event.stream ?? 'stdout') as OutputLine['stream'], text: event.line ?? '' });
      }
    },
  });
  const state = final?.state ?? 'SERVER_ERROR';
  const end = (final?.data ?? {}) as { result?: Record<string, unknown> | null; error?: string | null };
  printJson(resultEnvelope({ state, result: end.result ?? null, error: end.error ?? null }, runId));
  return isFailedState(state) ? 1 : 0;
}
