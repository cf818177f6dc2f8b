import { html } from 'htm/preact';
import type { VNode } from 'preact';
import { getJson } from '../api.ts';
import {
  ErrorBox,
  formatDuration,
  Loading,
  StateBadge,
  Time,
  useLoad,
  useTitle,
} from '../components/common.ts';
import { navigate, segment, withQuery, type Route } from '../router.ts';
import type { Plugin, Run } from '../types.ts';

const RUN_STATES = ['TODO', 'RUNNING', 'DONE', 'CLIENT_ERROR', 'SERVER_ERROR', 'FATAL_ERROR', 'CRASHED'];
const PAGE_SIZE = 50;

/** Run history, newest first, filtered by plugin and state, a page at a time (all in the URL). */
export function RunsPage({ route }: { route: Route }): VNode {
  useTitle('Runs');
  const plugin = route.query.get('plugin') ?? '';
  const state = route.query.get('state') ?? '';
  const last = route.query.get('last') ?? '';
  const plugins = useLoad(() => getJson<Plugin[]>('plugin'), []);
  const runs = useLoad(
    () => getJson<Run[]>('run', { plugin, state, last, page_size: String(PAGE_SIZE) }),
    [plugin, state, last],
  );
  const filter = (key: string) => (event: Event) =>
    navigate(withQuery(route, { [key]: (event.target as HTMLSelectElement).value, last: undefined }));
  const lastRun = runs.value?.at(-1);

  return html`<section>
    <h1>Runs</h1>
    <form class="filters" aria-label="Filter runs" onSubmit=${(event: Event) => event.preventDefault()}>
      <label for="run-plugin">Plugin</label>
      <select id="run-plugin" value=${plugin} onChange=${filter('plugin')}>
        <option value="">any</option>
        ${(plugins.value ?? []).map((entry) => html`<option value=${entry.name}>${entry.name}</option>`)}
        ${plugin && !(plugins.value ?? []).some((entry) => entry.name === plugin) ? html`<option value=${plugin}>${plugin}</option>` : null}
      </select>
      <label for="run-state">State</label>
      <select id="run-state" value=${state} onChange=${filter('state')}>
        <option value="">any</option>
        ${RUN_STATES.map((name) => html`<option value=${name}>${name}</option>`)}
      </select>
    </form>
    ${runs.error ? html`<${ErrorBox} error=${runs.error} />` : null}
    ${runs.value === undefined && !runs.error ? html`<${Loading} what="runs" />` : null}
    ${
      runs.value
        ? runs.value.length === 0
          ? html`<p>No runs${plugin || state ? ' match these filters' : ' yet'}.</p>`
          : html`<table class="list" id="run-list">
              <thead>
                <tr>
                  <th scope="col">Run</th>
                  <th scope="col">Plugin</th>
                  <th scope="col">State</th>
                  <th scope="col">From</th>
                  <th scope="col">Created</th>
                  <th scope="col">Took</th>
                </tr>
              </thead>
              <tbody>
                ${runs.value.map(
                  (run) =>
                    html`<tr key=${run.id}>
                      <td>
                        <a href=${`runs/${segment(run.id)}`}
                          ><code>${run.id.slice(0, 8)}</code
                          ><span class="visually-hidden"> run ${run.id}</span></a
                        >
                      </td>
                      <td><a href=${`plugins/${segment(run.plugin)}`}>${run.plugin}</a></td>
                      <td><${StateBadge} state=${run.state} /></td>
                      <td>
                        ${run.task_id ? html`<a href=${`tasks/${segment(run.task_id)}`}>task, step ${run.step_name}</a>` : run.origin}
                      </td>
                      <td><${Time} value=${run.created} /></td>
                      <td>${formatDuration(run.duration_ms)}</td>
                    </tr>`,
                )}
              </tbody>
            </table>`
        : null
    }
    <nav class="pager" aria-label="Pages of runs">
      ${last ? html`<a href=${withQuery(route, { last: undefined })}>First page</a>` : null}
      ${lastRun && runs.value?.length === PAGE_SIZE ? html`<a href=${withQuery(route, { last: lastRun.id })}>Next page</a>` : null}
    </nav>
  </section>`;
}
