import { html } from 'htm/preact';
import type { VNode } from 'preact';
import { getJson } from '../api.ts';
import { ErrorBox, Loading, useLoad, useTitle } from '../components/common.ts';
import { segment } from '../router.ts';
import type { Template } from '../types.ts';

/** The templates tasks are created from. */
export function TemplatesPage(): VNode {
  useTitle('Templates');
  const templates = useLoad(() => getJson<Template[]>('template', { page_size: '1000' }), []);
  return html`<section>
    <h1>Templates</h1>
    ${templates.error ? html`<${ErrorBox} error=${templates.error} />` : null}
    ${templates.value === undefined && !templates.error ? html`<${Loading} what="templates" />` : null}
    ${
      templates.value
        ? templates.value.length === 0
          ? html`<p>No templates are served.</p>`
          : html`<table class="list" id="template-list">
              <thead>
                <tr>
                  <th scope="col">Template</th>
                  <th scope="col">Description</th>
                  <th scope="col">Runs</th>
                  <th scope="col"><span class="visually-hidden">Actions</span></th>
                </tr>
              </thead>
              <tbody>
                ${templates.value.map(
                  (template) =>
                    html`<tr key=${template.name}>
                      <td>
                        <a href=${`templates/${segment(template.name)}`}>${template.name}</a>
                        ${template.blocked ? html` <span class="badge danger">Blocked</span>` : null}
                        ${template.hidden ? html` <span class="badge">Hidden</span>` : null}
                      </td>
                      <td>${template.description}</td>
                      <td>${template.auto_runnable ? 'at creation' : 'when a resolver runs it'}</td>
                      <td>
                        ${template.blocked ? null : html`<a href=${`templates/${segment(template.name)}/new`}>New task<span class="visually-hidden"> from ${template.name}</span></a>`}
                      </td>
                    </tr>`,
                )}
              </tbody>
            </table>`
        : null
    }
  </section>`;
}
