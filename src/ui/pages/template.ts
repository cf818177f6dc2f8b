import { html } from 'htm/preact';
import type { VNode } from 'preact';
import { useRef, useState } from 'preact/hooks';
import { getJson, postJson } from '../api.ts';
import { ErrorBox, Loading, useLoad, useTitle } from '../components/common.ts';
import { JsonForm, type JsonFormHandle } from '../components/json-form.ts';
import { StepGraph } from '../components/step-graph.ts';
import { graphOf } from '../graph-model.ts';
import { navigate, segment } from '../router.ts';
import { inputsSchema } from '../template-schema.ts';
import type { Task, Template } from '../types.ts';

/** The template as YAML (the yaml library is loaded with the first template page). */
function TemplateYaml({ template }: { template: Template }): VNode {
  const yaml = useLoad(async () => (await import('yaml')).stringify(template, { lineWidth: 0 }), [template]);
  if (yaml.error) return html`<${ErrorBox} error=${yaml.error} />`;
  return html`<pre class="yaml" tabindex="0" aria-label="Template YAML">${yaml.value ?? 'Loading…'}</pre>`;
}

/** A new task from a template: a form generated from its inputs, then the task's page. */
function NewTaskForm({ template }: { template: Template }): VNode {
  const form = useRef<JsonFormHandle | null>(null);
  const [failure, setFailure] = useState<unknown>(null);
  const [sending, setSending] = useState(false);
  const schema = useLoad(async () => inputsSchema(template.inputs ?? [], 'Inputs'), [template]);
  const onSubmit = async (event: Event): Promise<void> => {
    event.preventDefault();
    const input = form.current?.submit();
    if (input === null || input === undefined) return;
    setSending(true);
    setFailure(null);
    try {
      const task = await postJson<Task>('task', { template_name: template.name, input });
      if (task) navigate(`tasks/${segment(task.id)}`);
    } catch (error) {
      setFailure(error);
      setSending(false);
    }
  };
  if (template.blocked) return html`<p class="warning">This template is blocked: it takes no new tasks.</p>`;
  return html`<form class="task-form" aria-labelledby="new-task-heading" onSubmit=${onSubmit} novalidate>
    <h2 id="new-task-heading">New task</h2>
    ${
      schema.value
        ? html`<${JsonForm}
            schema=${schema.value}
            title="Inputs"
            name=${`task-${template.name}`}
            handle=${form}
          />`
        : null
    }
    <button type="submit" class="primary" disabled=${sending}>Create task</button>
    ${failure ? html`<${ErrorBox} error=${failure} />` : null}
  </form>`;
}

/** A template: its description, its step graph, a new-task form, and its YAML. */
export function TemplatePage({ name, newTask }: { name: string; newTask: boolean }): VNode {
  useTitle(name);
  const template = useLoad(() => getJson<Template>(`template/${segment(name)}`), [name]);
  if (template.error) {
    return html`<section>
      <h1>Template ${name}</h1>
      <${ErrorBox} error=${template.error} />
    </section>`;
  }
  if (!template.value) return html`<${Loading} what=${`template ${name}`} />`;
  const current = template.value;
  return html`<section>
    <p class="crumbs"><a href="templates">Templates</a> ›</p>
    <h1>${current.name}</h1>
    <p class="description">${current.description}</p>
    ${current.long_description ? html`<p>${current.long_description}</p>` : null}
    ${current.doc_link ? html`<p><a href=${current.doc_link} rel="noreferrer">Documentation</a></p>` : null}
    <p>
      <a href=${`tasks?template=${encodeURIComponent(current.name)}&type=all`}>Tasks from this template</a>
      ${newTask ? null : html` · <a href=${`templates/${segment(current.name)}/new`}>New task</a>`}
    </p>
    ${newTask ? html`<${NewTaskForm} template=${current} />` : null}
    <h2>Steps</h2>
    <${StepGraph} model=${graphOf(current.steps ?? {})} label=${`Steps of ${current.name}`} />
    <h2>YAML</h2>
    <${TemplateYaml} template=${current} />
  </section>`;
}
