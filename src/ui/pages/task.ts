import { html } from 'htm/preact';
import type { VNode } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ApiError, getJson, postJson } from '../api.ts';
import { ErrorBox, JsonBlock, Loading, StateBadge, Time, useLoad, useTitle } from '../components/common.ts';
import { JsonForm, type JsonFormHandle } from '../components/json-form.ts';
import { logConverter, LogView, type LogLine } from '../components/log-view.ts';
import { preloadGraphLayout, StepGraph } from '../components/step-graph.ts';
import { graphOf } from '../graph-model.ts';
import { segment, withQuery, type Route } from '../router.ts';
import { followStream, type StreamStatus } from '../stream.ts';
import { inputsSchema } from '../template-schema.ts';
import type {
  Caller,
  Comment,
  Resolution,
  StepState,
  StreamEvent,
  Task,
  TaskRights,
  Template,
} from '../types.ts';

/**
 * A task: its step graph coloured by live state (task/:id/stream), the selected step's details
 * and log, the resolver-input form while it waits for a human, comments, and the actions the
 * caller has the right to take (GET /me/task/:id, the same rules the routes apply).
 */

/** Resolution states a run request moves on (µTask's run: TODO, paused, blocked, crashed…). */
const RUNNABLE = new Set([
  'TODO',
  'PAUSED',
  'BLOCKED_TOCHECK',
  'BLOCKED_BADREQUEST',
  'BLOCKED_DEADLOCK',
  'BLOCKED_MAXRETRIES',
  'BLOCKED_FATAL',
  'CRASHED',
  'RETRY',
  'ERROR',
]);
const PAUSABLE = new Set([
  'TODO',
  'TO_AUTORUN',
  'TO_AUTORUN_DELAYED',
  'RETRY',
  'WAITING',
  'BLOCKED_TOCHECK',
  'BLOCKED_BADREQUEST',
  'BLOCKED_DEADLOCK',
  'BLOCKED_MAXRETRIES',
  'BLOCKED_FATAL',
  'CRASHED',
  'ERROR',
]);
const OVER = new Set(['DONE', 'CANCELLED']);

/** Waits `ms`, then calls `run` once, however many times it was asked meanwhile. */
function useDebounced(run: () => void, ms: number): () => void {
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const latest = useRef(run);
  latest.current = run;
  useEffect(() => () => clearTimeout(timer.current), []);
  return () => {
    if (timer.current !== undefined) return;
    timer.current = setTimeout(() => {
      timer.current = undefined;
      latest.current();
    }, ms);
  };
}

function StepDetails(props: {
  name: string;
  step: StepState | undefined;
  state: string;
  nextRetry: string | null;
  lines: LogLine[];
  live: boolean;
}): VNode {
  const { step } = props;
  return html`<section class="step-details" aria-labelledby="step-heading">
    <h2 id="step-heading">Step ${props.name} <${StateBadge} state=${props.state} /></h2>
    <dl class="facts">
      <dt>Tries</dt>
      <dd>${step?.try_count ?? 0}</dd>
      <dt>Last run</dt>
      <dd><${Time} value=${step?.last_run} /></dd>
      ${
        props.state === 'TO_RETRY' || props.state === 'SERVER_ERROR'
          ? html`<dt>Next retry</dt>
              <dd><${Time} value=${props.nextRetry} /></dd>`
          : null
      }
      <dt>Error</dt>
      <dd class=${step?.error ? 'error-text' : ''}>${step?.error ?? '—'}</dd>
    </dl>
    ${
      step?.output !== null && step?.output !== undefined
        ? html`<h3>Output</h3>
            <${JsonBlock} value=${step.output} label=${`output of ${props.name}`} />`
        : null
    }
    ${
      step?.metadata !== null && step?.metadata !== undefined
        ? html`<h3>Metadata</h3>
            <${JsonBlock} value=${step.metadata} label=${`metadata of ${props.name}`} />`
        : null
    }
    <h3>Log</h3>
    <${LogView}
      lines=${props.lines}
      label=${`Log of step ${props.name}`}
      live=${props.live}
      anchorPrefix=${`${props.name}-L`}
    />
  </section>`;
}

function ResolverForm(props: { task: Task; template: Template; onDone: () => void }): VNode {
  const form = useRef<JsonFormHandle | null>(null);
  const [failure, setFailure] = useState<unknown>(null);
  const schema = useMemo(
    () => inputsSchema(props.template.resolver_inputs ?? [], 'Resolver inputs'),
    [props.template],
  );
  const onSubmit = async (event: Event): Promise<void> => {
    event.preventDefault();
    const values = form.current?.submit();
    if (values === null || values === undefined) return;
    setFailure(null);
    try {
      await postJson('resolution', { task_id: props.task.id, resolver_inputs: values });
      props.onDone();
    } catch (error) {
      setFailure(error);
    }
  };
  return html`<form class="resolver-form" aria-labelledby="resolver-heading" onSubmit=${onSubmit} novalidate>
    <h2 id="resolver-heading">Waiting for a resolver</h2>
    <p>This task needs a person's answers before it runs.</p>
    <${JsonForm} schema=${schema} title="Resolver inputs" name="resolver" handle=${form} />
    <button type="submit" class="primary">Resolve and run</button>
    ${failure ? html`<${ErrorBox} error=${failure} />` : null}
  </form>`;
}

function Comments(props: { taskId: string; canComment: boolean; round: number }): VNode {
  const comments = useLoad(
    () => getJson<Comment[]>(`task/${segment(props.taskId)}/comment`),
    [props.taskId, props.round],
  );
  const [text, setText] = useState('');
  const [failure, setFailure] = useState<unknown>(null);
  const onSubmit = async (event: Event): Promise<void> => {
    event.preventDefault();
    setFailure(null);
    try {
      await postJson(`task/${segment(props.taskId)}/comment`, { content: text });
      setText('');
      comments.reload();
    } catch (error) {
      setFailure(error);
    }
  };
  return html`<section aria-labelledby="comments-heading">
    <h2 id="comments-heading">Comments</h2>
    ${comments.error ? html`<${ErrorBox} error=${comments.error} />` : null}
    ${(comments.value ?? []).length === 0 ? html`<p class="muted">No comments.</p>` : null}
    <ol class="comments">
      ${(comments.value ?? []).map(
        (comment) =>
          html`<li key=${comment.id}>
            <strong>${comment.username}</strong> · <${Time} value=${comment.created} />
            <p>${comment.content}</p>
          </li>`,
      )}
    </ol>
    ${
      props.canComment
        ? html`<form onSubmit=${onSubmit} class="comment-form">
            <label for="comment-text">Comment</label>
            <textarea
              id="comment-text"
              rows="3"
              value=${text}
              required
              minlength="3"
              onInput=${(event: Event) => setText((event.target as HTMLTextAreaElement).value)}
            ></textarea>
            <button type="submit">Add comment</button>
            ${failure ? html`<${ErrorBox} error=${failure} />` : null}
          </form>`
        : null
    }
  </section>`;
}

export function TaskPage(props: { id: string; route: Route; me: Caller | null }): VNode {
  const { id, route } = props;
  const [task, setTask] = useState<Task | null>(null);
  const [states, setStates] = useState<Record<string, string>>({});
  const [logs, setLogs] = useState<Record<string, LogLine[]>>({});
  const [status, setStatus] = useState<StreamStatus>('connecting');
  const [failure, setFailure] = useState<unknown>(null);
  const [actionError, setActionError] = useState<unknown>(null);
  const [round, setRound] = useState(0);
  const converters = useRef(new Map<string, ReturnType<typeof logConverter>>());
  useTitle(task ? task.title || `Task ${id.slice(0, 8)}` : `Task ${id.slice(0, 8)}`);

  const rights = useLoad(() => getJson<TaskRights>(`me/task/${segment(id)}`), [id, round]);
  // The resolution (the steps' definitions) is read as soon as its id is known: from the
  // caller's rights, which come before the stream's snapshot of a large task.
  const resolutionId = rights.value?.resolution_id ?? task?.resolution?.id ?? null;
  const resolution = useLoad(
    async () => (resolutionId ? getJson<Resolution>(`resolution/${segment(resolutionId)}`) : null),
    [resolutionId, round],
  );
  useEffect(() => {
    void preloadGraphLayout();
  }, []);
  const templateName = task?.template_name ?? null;
  const template = useLoad(
    async () =>
      templateName ? getJson<Template>(`template/${segment(templateName)}`).catch(() => null) : null,
    [templateName],
  );
  const refreshResolution = useDebounced(() => resolution.reload(), 250);

  // The stream opens once the resolution is read: a large task's snapshot and replayed events
  // would otherwise hold the page's thread while the graph waits for its steps.
  const resolutionSettled =
    rights.error !== undefined ||
    resolution.error !== undefined ||
    (rights.value !== undefined &&
      (rights.value.resolution_id === null || resolution.value?.id === rights.value.resolution_id));
  useEffect(() => {
    if (!resolutionSettled) return;
    converters.current = new Map();
    setLogs({});
    const stream = followStream<Task>(`task/${segment(id)}/stream`, (message) => message.task as Task, {
      onSnapshot: (snapshot) => {
        setTask(snapshot);
        setStates((old) => ({
          ...old,
          ...Object.fromEntries(
            Object.entries(snapshot.steps ?? {}).map(([name, step]) => [name, step.state]),
          ),
        }));
      },
      onEvents: (events: StreamEvent[]) => {
        const stepStates: Record<string, string> = {};
        let taskState: string | null = null;
        const byStep = new Map<string, StreamEvent[]>();
        for (const event of events) {
          if (event.type === 'step' && event.step && event.state) stepStates[event.step] = event.state;
          else if (event.type === 'task' && event.state) taskState = event.state;
          else if (event.type === 'log' && event.step) {
            byStep.set(event.step, [...(byStep.get(event.step) ?? []), event]);
          }
        }
        if (Object.keys(stepStates).length > 0) setStates((old) => ({ ...old, ...stepStates }));
        if (taskState) setTask((old) => (old ? { ...old, state: taskState as string } : old));
        if (byStep.size > 0) {
          setLogs((old) => {
            const next = { ...old };
            for (const [step, stepEvents] of byStep) {
              let convert = converters.current.get(step);
              if (!convert) converters.current.set(step, (convert = logConverter()));
              next[step] = (next[step] ?? []).concat(convert(stepEvents));
            }
            return next;
          });
        }
        if (Object.keys(stepStates).length > 0 || taskState) refreshResolution();
      },
      onStatus: (next) => {
        setStatus(next);
        if (next === 'ended') {
          refreshResolution();
          getJson<Task>(`task/${segment(id)}`).then(setTask, setFailure);
        }
      },
    });
    return () => stream.close();
  }, [id, round, resolutionSettled]);

  if (failure) {
    return html`<section>
      <h1>Task ${id}</h1>
      <${ErrorBox} error=${failure} />
    </section>`;
  }
  const steps = resolution.value?.steps ?? {};
  const model = graphOf(steps);
  for (const node of model.nodes) node.state = states[node.id] ?? node.state;
  const selected = route.query.get('step');
  // The graph needs the resolution only: it is drawn before the stream's snapshot of a large
  // task has come, and stays the same element once it has.
  const graph = html`${resolution.error ? html`<${ErrorBox} error=${resolution.error} />` : null}
  ${
    resolution.value
      ? html`<${StepGraph}
          key="graph"
          model=${model}
          label=${`Steps of task ${task?.title || id}`}
          selected=${selected}
          hrefOf=${(step: string) => withQuery(route, { step })}
        />`
      : html`<${Loading} what="the steps" />`
  }`;
  if (!task) {
    return html`<section>
      <p class="crumbs"><a href="tasks">Tasks</a> ›</p>
      <h1>Task ${id}</h1>
      <${Loading} what=${`task ${id}`} />
      <h2>Steps</h2>
      ${graph}
    </section>`;
  }
  const can = rights.value?.can;
  const resolutionState = resolution.value?.state ?? task.resolution?.state ?? '';
  const waitingForResolver =
    task.state === 'TODO' &&
    resolutionState === 'TODO' &&
    (resolution.value?.run_count ?? 0) === 0 &&
    (template.value?.resolver_inputs?.length ?? 0) > 0;

  const act = async (path: string, body: unknown = {}): Promise<void> => {
    setActionError(null);
    try {
      await postJson(path, body);
      setRound((n) => n + 1); // a new stream (a finished one ended), the resolution and rights again
    } catch (error) {
      setActionError(error instanceof ApiError ? error : new Error(String(error)));
    }
  };
  const rid = resolutionId ? segment(resolutionId) : '';
  const buttons = [
    can?.resolve && resolutionId && RUNNABLE.has(resolutionState) && !waitingForResolver
      ? html`<button type="button" onClick=${() => void act(`resolution/${rid}/run`)}>Run</button>`
      : null,
    can?.resolve && resolutionId && PAUSABLE.has(resolutionState)
      ? html`<button type="button" onClick=${() => void act(`resolution/${rid}/pause`)}>Pause</button>`
      : null,
    can?.resolve && resolutionId && !OVER.has(resolutionState) && resolutionState !== 'RUNNING'
      ? html`<button type="button" class="danger" onClick=${() => void act(`resolution/${rid}/cancel`)}>
          Cancel
        </button>`
      : null,
    can?.wontfix && task.state === 'TODO'
      ? html`<button type="button" onClick=${() => void act(`task/${segment(id)}/wontfix`)}>
          Won't fix
        </button>`
      : null,
  ].filter(Boolean);

  return html`<section>
    <p class="crumbs"><a href="tasks">Tasks</a> ›</p>
    <h1>${task.title || `Task ${id}`} <${StateBadge} state=${task.state} /></h1>
    <p class="muted">
      ${[
        html`<code>${task.id}</code>`,
        ' · from ',
        html`<a href=${`templates/${segment(task.template_name)}`}>${task.template_name}</a>`,
        ` · requested by ${task.requester} · `,
        html`<${Time} value=${task.created} />`,
      ]}
    </p>
    <p class="stream-status" role="status" data-status=${status}>
      ${{ connecting: 'Connecting…', live: 'Live', reconnecting: 'Connection lost: resuming…', ended: 'Not changing any more (reload to follow a new run)', failed: 'Not following: the connection failed' }[status]}
      ${resolution.value ? html` · resolution <${StateBadge} state=${resolution.value.state} />, ${resolution.value.run_count} of ${resolution.value.run_max} runs` : null}
      ${resolution.value?.next_retry && !OVER.has(resolution.value.state) ? html` · next retry <${Time} value=${resolution.value.next_retry} />` : null}
    </p>
    ${buttons.length > 0 ? html`<div class="actions" role="group" aria-label="Task actions">${buttons}</div>` : null}
    ${actionError ? html`<${ErrorBox} error=${actionError} />` : null}
    ${
      waitingForResolver && can?.resolve && template.value
        ? html`<${ResolverForm}
            task=${task}
            template=${template.value}
            onDone=${() => setRound((n) => n + 1)}
          />`
        : waitingForResolver
          ? html`<p class="note">Waiting for a resolver's inputs.</p>`
          : null
    }
    <h2>Steps</h2>
    ${graph}
    ${
      selected
        ? html`<${StepDetails}
            name=${selected}
            step=${steps[selected] ?? task.steps?.[selected]}
            state=${states[selected] ?? steps[selected]?.state ?? 'TODO'}
            nextRetry=${resolution.value?.next_retry ?? null}
            lines=${logs[selected] ?? []}
            live=${status === 'live'}
          />`
        : html`<p class="muted">Choose a step to see its output and log.</p>`
    }
    ${
      task.input && Object.keys(task.input).length > 0
        ? html`<h2>Input</h2>
            <${JsonBlock} value=${task.input} label="task input" />`
        : null
    }
    ${
      task.result !== undefined && task.result !== null
        ? html`<h2>Result</h2>
            <${JsonBlock} value=${task.result} label="task result" />`
        : null
    }
    <${Comments} taskId=${id} canComment=${can?.comment === true} round=${round} />
  </section>`;
}
