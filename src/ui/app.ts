import { html } from 'htm/preact';
import type { VNode } from 'preact';
import { getJson } from './api.ts';
import { useLoad } from './components/common.ts';
import { Nav } from './components/nav.ts';
import { PluginPage } from './pages/plugin.ts';
import { PluginsPage } from './pages/plugins.ts';
import { RunPage } from './pages/run.ts';
import { RunsPage } from './pages/runs.ts';
import { TaskPage } from './pages/task.ts';
import { TasksPage } from './pages/tasks.ts';
import { TemplatePage } from './pages/template.ts';
import { TemplatesPage } from './pages/templates.ts';
import { useRoute, type Route } from './router.ts';
import type { Caller } from './types.ts';

/** Route → page; every page has its own URL (below the base), so each one loads directly. */
function page(route: Route, me: Caller | null): VNode {
  const [section = 'plugins', id, sub] = route.parts;
  switch (section) {
    case 'plugins':
      return id ? html`<${PluginPage} name=${id} key=${id} />` : html`<${PluginsPage} route=${route} />`;
    case 'runs':
      return id ? html`<${RunPage} id=${id} key=${id} />` : html`<${RunsPage} route=${route} />`;
    case 'templates':
      return id
        ? html`<${TemplatePage} name=${id} key=${id} newTask=${sub === 'new'} />`
        : html`<${TemplatesPage} />`;
    case 'tasks':
      return id
        ? html`<${TaskPage} id=${id} key=${id} route=${route} me=${me} />`
        : html`<${TasksPage} route=${route} />`;
    default:
      return html`<section>
        <h1>Not found</h1>
        <p>No page here. <a href="plugins">See the plugins</a>.</p>
      </section>`;
  }
}

export function App(): VNode {
  const route = useRoute();
  const me = useLoad(() => getJson<Caller>('me'), []);
  const section = route.parts[0] ?? 'plugins';
  return html`<${Nav} section=${section} me=${me.value ?? null} />
    <main id="main" tabindex="-1">${page(route, me.value ?? null)}</main>`;
}
