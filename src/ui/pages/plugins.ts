import { html } from 'htm/preact';
import type { VNode } from 'preact';
import { getJson } from '../api.ts';
import { ErrorBox, Loading, useLoad, useTitle } from '../components/common.ts';
import { navigate, segment, withQuery, type Route } from '../router.ts';
import type { Plugin } from '../types.ts';

/** A plugin's `dangerous` as words: its own text, or a generic warning for `true`. */
export function dangerText(plugin: Plugin): string | null {
  if (plugin.dangerous === null || plugin.dangerous === undefined || plugin.dangerous === false) return null;
  return typeof plugin.dangerous === 'string' && plugin.dangerous.trim() !== ''
    ? plugin.dangerous
    : 'this plugin may change or destroy things';
}

export function PluginBadges({ plugin }: { plugin: Plugin }): VNode {
  const danger = dangerText(plugin);
  return html`${danger ? html`<span class="badge danger" title=${danger}>⚠ Dangerous</span>` : null}
  ${plugin.expensive ? html`<span class="badge expensive">$ Expensive</span>` : null}`;
}

function matches(plugin: Plugin, words: string[]): boolean {
  const text = [plugin.name, plugin.title, plugin.description, plugin.category, ...plugin.tags.map(String)]
    .join(' ')
    .toLowerCase();
  return words.every((word) => text.includes(word));
}

/** The catalogue: every registered plugin by category, searchable (the search is in the URL). */
export function PluginsPage({ route }: { route: Route }): VNode {
  useTitle('Plugins');
  const plugins = useLoad(() => getJson<Plugin[]>('plugin'), []);
  const search = route.query.get('q') ?? '';
  const words = search.toLowerCase().split(/\s+/).filter(Boolean);
  const shown = (plugins.value ?? [])
    .filter((plugin) => matches(plugin, words))
    .sort((a, b) => (a.category ?? '~').localeCompare(b.category ?? '~') || a.name.localeCompare(b.name));

  return html`<section>
    <h1>Plugins</h1>
    <form role="search" class="filters" onSubmit=${(event: Event) => event.preventDefault()}>
      <label for="plugin-search">Search plugins</label>
      <input
        id="plugin-search"
        type="search"
        value=${search}
        placeholder="name, title, category, tag"
        onInput=${(event: Event) => navigate(withQuery(route, { q: (event.target as HTMLInputElement).value }), true)}
      />
    </form>
    ${plugins.error ? html`<${ErrorBox} error=${plugins.error} />` : null}
    ${plugins.value === undefined && !plugins.error ? html`<${Loading} what="plugins" />` : null}
    ${
      plugins.value
        ? html`<p role="status">${shown.length} of ${plugins.value.length} plugins</p>
            <table class="list" id="plugin-list">
              <thead>
                <tr>
                  <th scope="col">Plugin</th>
                  <th scope="col">Category</th>
                  <th scope="col">Tags</th>
                  <th scope="col">Description</th>
                </tr>
              </thead>
              <tbody>
                ${shown.map(
                  (plugin) =>
                    html`<tr key=${plugin.name}>
                      <td>
                        <a href=${`plugins/${segment(plugin.name)}`}>${plugin.title ?? plugin.name}</a>
                        ${plugin.title ? html` <code>${plugin.name}</code>` : null}
                        <${PluginBadges} plugin=${plugin} />
                      </td>
                      <td>${plugin.category ?? '—'}</td>
                      <td>${plugin.tags.map((tag) => html`<span class="tag">${String(tag)}</span> `)}</td>
                      <td>${plugin.description}</td>
                    </tr>`,
                )}
              </tbody>
            </table>`
        : null
    }
  </section>`;
}
