import { keyValuePairs } from '../flag-values.ts';
import { requestJson } from '../http-client.ts';
import { formatTable, paint, printJson, useColour } from '../output.ts';
import { followStream } from '../stream-client.ts';

/**
 * `taskhost task create|list|show|watch`: the task API of a running server (`--server`,
 * TASKHOST_SERVER), as µTask's CLI users know it. `watch` follows the task's stream: its
 * steps' state changes and their plugins' lines, live; the exit code says how it ended.
 */

interface ServerFlags {
  server: string;
}

export async function taskCreate(
  template: string,
  flags: ServerFlags & { input?: string[]; watch?: boolean; json?: boolean },
): Promise<number> {
  const { body } = await requestJson(flags.server, 'POST', '/task', {
    template_name: template,
    input: keyValuePairs(flags.input, '--input'),
  });
  const id = String(body.id);
  if (flags.json && !flags.watch) printJson(body);
  else if (!flags.watch) process.stdout.write(`${id}\n`);
  if (!flags.watch) return 0;
  process.stderr.write(`taskhost: task ${id}\n`);
  return taskWatch(id, flags);
}

export async function taskList(
  flags: ServerFlags & { state?: string; template?: string; json?: boolean },
): Promise<number> {
  const query = new URLSearchParams();
  if (flags.state) query.set('state', flags.state);
  if (flags.template) query.set('template', flags.template);
  const { body } = await requestJson(flags.server, 'GET', `/task${query.size > 0 ? `?${query}` : ''}`);
  const tasks = (Array.isArray(body) ? body : []) as Record<string, unknown>[];
  if (flags.json) {
    printJson(tasks);
    return 0;
  }
  if (tasks.length === 0) {
    process.stdout.write('no tasks\n');
    return 0;
  }
  process.stdout.write(
    `${formatTable(
      ['ID', 'STATE', 'TEMPLATE', 'TITLE', 'CREATED'],
      tasks.map((task) => [
        String(task.id),
        String(task.state),
        String(task.template_name),
        String(task.title),
        String(task.created),
      ]),
    )}\n`,
  );
  return 0;
}

export async function taskShow(id: string, flags: ServerFlags & { json?: boolean }): Promise<number> {
  const { body } = await requestJson(flags.server, 'GET', `/task/${encodeURIComponent(id)}`);
  if (flags.json) {
    printJson(body);
    return 0;
  }
  const resolution = (body.resolution ?? {}) as Record<string, unknown>;
  process.stdout.write(
    `task ${String(body.id)} · ${String(body.template_name)} · ${String(body.state)} (resolution ${String(resolution.state)})\n` +
      `title: ${String(body.title)}\n`,
  );
  const steps = Object.entries((body.steps ?? {}) as Record<string, Record<string, unknown>>);
  if (steps.length > 0) {
    process.stdout.write(
      `${formatTable(
        ['STEP', 'STATE', 'TRIES', 'ERROR'],
        steps.map(([name, step]) => [
          name,
          String(step.state),
          String(step.try_count),
          String(step.error ?? ''),
        ]),
      )}\n`,
    );
  }
  return body.state === 'DONE' ? 0 : 1;
}

/**
 * Why a TODO task may wait for ever: its template is not auto_runnable, so it waits for
 * someone to run its resolution. Null when it will start by itself, or when the task or its
 * template cannot be read (the stream then says what is wrong).
 */
async function waitingHint(server: string, id: string): Promise<string | null> {
  try {
    const { body: task } = await requestJson(server, 'GET', `/task/${encodeURIComponent(id)}`);
    const resolution = (task.resolution ?? {}) as Record<string, unknown>;
    if (task.state !== 'TODO' || resolution.state !== 'TODO') return null;
    const name = String(task.template_name);
    const { body: template } = await requestJson(server, 'GET', `/template/${encodeURIComponent(name)}`);
    if (template.auto_runnable === true) return null;
    return `waiting: ${name} is not auto_runnable, so the task waits until its resolution is run (POST /resolution/${String(resolution.id)}/run, or Run on its dashboard page)`;
  } catch {
    return null;
  }
}

export async function taskWatch(id: string, flags: ServerFlags): Promise<number> {
  const colour = useColour(process.stdout);
  const out = (text: string): boolean => process.stdout.write(`${text}\n`);
  const tint = (state: string) =>
    state === 'DONE' ? 'green' : /ERROR|CRASHED|BLOCKED|CANCELLED/.test(state) ? 'red' : 'cyan';
  let finalState: string | undefined;
  const hint = await waitingHint(flags.server, id);
  const followed = await followStream(flags.server, `/task/${encodeURIComponent(id)}/stream`, 0, {
    onSnapshot: (message) => {
      const task = (message.task ?? {}) as Record<string, unknown>;
      out(
        paint(
          colour,
          'bold',
          `task ${String(task.id)} · ${String(task.template_name)} · ${String(task.state)}`,
        ),
      );
      if (hint && task.state === 'TODO') out(paint(colour, 'dim', hint));
    },
    onEvent: (event) => {
      const state = event.state ?? '';
      if (event.type === 'log') {
        const text = `${paint(colour, 'dim', `[${event.step ?? ''}]`)} ${event.line ?? ''}`;
        out(event.stream === 'stderr' ? paint(colour, 'yellow', text) : text);
      } else if (event.type === 'step') {
        const error =
          typeof event.data?.error === 'string' && event.data.error ? `: ${event.data.error}` : '';
        out(
          `${paint(colour, 'dim', '── step')} ${event.step ?? ''} ${paint(colour, tint(state), state)}${error}`,
        );
      } else {
        out(`${paint(colour, 'dim', `── ${event.type}`)} ${paint(colour, tint(state), state)}`);
        if (event.type === 'task') finalState = state;
      }
    },
  });
  const state = finalState ?? (followed.snapshot?.task as Record<string, unknown> | undefined)?.state;
  return state === 'DONE' ? 0 : 1;
}
