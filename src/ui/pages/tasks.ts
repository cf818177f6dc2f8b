import { html } from 'htm/preact';
import type { VNode } from 'preact';
import { useEffect } from 'preact/hooks';
import { getJson, getPage } from '../api.ts';
import { ErrorBox, Loading, StateBadge, Time, useLoad, useTitle } from '../components/common.ts';
import { navigate, segment, withQuery, type Route } from '../router.ts';
import type { Task, Template } from '../types.ts';

const TASK_STATES = ['TODO', 'RUNNING', 'BLOCKED', 'WAITING', 'DELAYED', 'DONE', 'CANCELLED', 'WONTFIX'];
const TYPES = [
  { value: 'own', name: 'mine (requested or watched)' },
  { value: 'resolvable', name: 'mine to resolve' },
  { value: 'all', name: 'all I may see' },
];
const PAGE_SIZE = 20;
/** How often the list is read again while it is shown (there is no list stream). */
const REFRESH_MS = 2000;

/** Tasks, newest first, filtered by audience, state and template, a page at a time, kept up to date. */
export function TasksPage({ route }: { route: Route }): VNode {
  useTitle('Tasks');
  const type = route.query.get('type') ?? 'own';
  const state = route.query.get('state') ?? '';
  const template = route.query.get('template') ?? '';
  const last = route.query.get('last') ?? '';
  const templates = useLoad(() => getJson<Template[]>('template', { page_size: '1000' }), []);
  const tasks = useLoad(
    () => getPage<Task[]>('task', { type, state, template, last, page_size: String(PAGE_SIZE) }),
    [type, state, template, last],
  );
  useEffect(() => {
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') tasks.reload();
    }, REFRESH_MS);
    return () => clearInterval(timer);
  }, [type, state, template, last]);

  const filter = (key: string) => (event: Event) =>
    navigate(withQuery(route, { [key]: (event.target as HTMLSelectElement).value, last: undefined }));
  const items = tasks.value?.items;
  const next = items && items.length === PAGE_SIZE ? items.at(-1) : undefined;

  return html`<section>
    <h1>Tasks</h1>
    <form class="filters" aria-label="Filter tasks" onSubmit=${(event: Event) => event.preventDefault()}>
      <label for="task-type">Whose</label>
      <select id="task-type" value=${type} onChange=${filter('type')}>
        ${TYPES.map((entry) => html`<option value=${entry.value}>${entry.name}</option>`)}
      </select>
      <label for="task-state">State</label>
      <select id="task-state" value=${state} onChange=${filter('state')}>
        <option value="">any</option>
        ${TASK_STATES.map((name) => html`<option value=${name}>${name}</option>`)}
      </select>
      <label for="task-template">Template</label>
      <select id="task-template" value=${template} onChange=${filter('template')}>
        <option value="">any</option>
        ${(templates.value ?? []).map((entry) => html`<option value=${entry.name}>${entry.name}</option>`)}
        ${template && !(templates.value ?? []).some((entry) => entry.name === template) ? html`<option value=${template}>${template}</option>` : null}
      </select>
    </form>
    ${tasks.error ? html`<${ErrorBox} error=${tasks.error} />` : null}
    ${items === undefined && !tasks.error ? html`<${Loading} what="tasks" />` : null}
    ${
      items
        ? items.length === 0
          ? html`<p>No tasks here. <a href="templates">Create one from a template</a>.</p>`
          : html`<table class="list" id="task-list">
              <thead>
                <tr>
                  <th scope="col">Task</th>
                  <th scope="col">Template</th>
                  <th scope="col">State</th>
                  <th scope="col">Requester</th>
                  <th scope="col">Created</th>
                  <th scope="col">Last activity</th>
                </tr>
              </thead>
              <tbody>
                ${items.map(
                  (task) =>
                    html`<tr key=${task.id} data-task=${task.id}>
                      <td><a href=${`tasks/${segment(task.id)}`}>${task.title || task.id}</a></td>
                      <td><a href=${`templates/${segment(task.template_name)}`}>${task.template_name}</a></td>
                      <td><${StateBadge} state=${task.state} /></td>
                      <td>${task.requester}</td>
                      <td><${Time} value=${task.created} /></td>
                      <td><${Time} value=${task.last_activity} /></td>
                    </tr>`,
                )}
              </tbody>
            </table>`
        : null
    }
    <nav class="pager" aria-label="Pages of tasks">
      ${last ? html`<a href=${withQuery(route, { last: undefined })}>First page</a>` : null}
      ${next ? html`<a href=${withQuery(route, { last: next.id })}>Next page</a>` : null}
    </nav>
  </section>`;
}
