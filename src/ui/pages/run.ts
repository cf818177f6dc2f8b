import { html } from 'htm/preact';
import type { VNode } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { getJson } from '../api.ts';
import {
  ErrorBox,
  formatDuration,
  JsonBlock,
  Loading,
  StateBadge,
  Time,
  useTitle,
} from '../components/common.ts';
import { logConverter, LogView, type LogLine } from '../components/log-view.ts';
import { followStream, type StreamStatus } from '../stream.ts';
import { segment } from '../router.ts';
import type { Run } from '../types.ts';

const isFinal = (state: string): boolean => state !== 'TODO' && state !== 'RUNNING';

/**
 * A run: its log as the plugin writes it (run/:id/stream; resumed with `since` after a drop),
 * then its result, error, exit code and timings. The stream's end comes before the row's final
 * update, so the document is read again once the stream ended.
 */
export function RunPage({ id }: { id: string }): VNode {
  useTitle(`Run ${id.slice(0, 8)}`);
  const [run, setRun] = useState<Run | null>(null);
  const [lines, setLines] = useState<LogLine[]>([]);
  const [status, setStatus] = useState<{ status: StreamStatus; detail?: string }>({ status: 'connecting' });
  const [error, setError] = useState<unknown>(null);
  const convert = useRef(logConverter());

  useEffect(() => {
    convert.current = logConverter();
    setLines([]);
    let live = true;
    const refresh = async (tries: number): Promise<void> => {
      try {
        const document = await getJson<Run>(`run/${segment(id)}`);
        if (!live) return;
        setRun(document);
        if (!isFinal(document.state) && tries > 0) setTimeout(() => void refresh(tries - 1), 200);
      } catch (failure) {
        if (live) setError(failure);
      }
    };
    const stream = followStream<Run>(`run/${segment(id)}/stream`, (message) => message.run as Run, {
      onSnapshot: (snapshot) => setRun(snapshot),
      onEvents: (events) => {
        const added = convert.current(events);
        if (added.length > 0) setLines((old) => old.concat(added));
        const state = events.filter((event) => event.type === 'run' && event.state).at(-1)?.state;
        if (state) setRun((old) => (old ? { ...old, state } : old));
      },
      onStatus: (next, detail) => {
        setStatus({ status: next, detail });
        if (next === 'ended') void refresh(25);
        if (next === 'failed') void refresh(0);
      },
    });
    return () => {
      live = false;
      stream.close();
    };
  }, [id]);

  if (error) {
    return html`<section>
      <h1>Run ${id}</h1>
      <${ErrorBox} error=${error} />
    </section>`;
  }
  if (!run) return html`<${Loading} what=${`run ${id}`} />`;
  const final = isFinal(run.state);
  return html`<section>
    <p class="crumbs"><a href="runs">Runs</a> ›</p>
    <h1>
      Run of <a href=${`plugins/${segment(run.plugin)}`}>${run.plugin}</a>
      <${StateBadge} state=${run.state} />
    </h1>
    <p class="muted">
      <code>${run.id}</code
      >${run.task_id ? html` · step ${run.step_name} of <a href=${`tasks/${segment(run.task_id)}`}>task ${run.task_id.slice(0, 8)}</a>` : null}
    </p>
    <p class="stream-status" role="status" data-status=${status.status}>
      ${{ connecting: 'Connecting…', live: 'Live: following the run', reconnecting: `Connection lost${status.detail ? ` (${status.detail})` : ''}: resuming…`, ended: 'Finished', failed: `Not following: ${status.detail ?? 'the connection failed'}` }[status.status]}
    </p>
    <${LogView} lines=${lines} label="Log" live=${!final && status.status !== 'ended'} />
    <h2>Outcome</h2>
    <dl class="facts" id="run-outcome">
      <dt>State</dt>
      <dd><${StateBadge} state=${run.state} /></dd>
      <dt>Exit code</dt>
      <dd id="run-exit-code">
        ${run.exit_code ?? '—'}${run.signal ? ` (signal ${run.signal})` : ''}${run.kill_reason ? ` · killed: ${run.kill_reason}` : ''}
      </dd>
      <dt>Error</dt>
      <dd class=${run.error ? 'error-text' : ''}>${run.error ?? '—'}</dd>
      <dt>Created</dt>
      <dd><${Time} value=${run.created} /></dd>
      <dt>Started</dt>
      <dd><${Time} value=${run.started} /></dd>
      <dt>Finished</dt>
      <dd><${Time} value=${run.finished} /></dd>
      <dt>Took</dt>
      <dd>${formatDuration(run.duration_ms)}</dd>
      ${
        run.output_dropped && run.output_dropped.lines > 0
          ? html`<dt>Output dropped</dt>
              <dd>${run.output_dropped.lines} lines (${run.output_dropped.bytes} bytes) over the cap</dd>`
          : null
      }
    </dl>
    ${
      run.result
        ? html`<h3>Result</h3>
            <${JsonBlock} value=${run.result} label="result" />`
        : final
          ? html`<p>No result.</p>`
          : null
    }
    ${
      run.data !== undefined
        ? html`<details>
            <summary>Input data</summary>
            <${JsonBlock} value=${run.data} label="input data" />
          </details>`
        : null
    }
  </section>`;
}
