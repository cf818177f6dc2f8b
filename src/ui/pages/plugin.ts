import { html } from 'htm/preact';
import type { VNode } from 'preact';
import { useRef, useState } from 'preact/hooks';
import { getJson, postJson } from '../api.ts';
import { ErrorBox, JsonBlock, Loading, useLoad, useTitle } from '../components/common.ts';
import { JsonForm, type JsonFormHandle } from '../components/json-form.ts';
import { navigate, segment } from '../router.ts';
import type { Plugin } from '../types.ts';
import { dangerText, PluginBadges } from './plugins.ts';

/**
 * A plugin: its description and a run form generated from its `inputs`. Running starts an
 * asynchronous run (POST /plugin/:name/run?async=true) and opens its page, which follows it
 * live. A dangerous plugin asks first, in the page (keyboard and screen readers included).
 */
export function PluginPage({ name }: { name: string }): VNode {
  useTitle(name);
  const plugin = useLoad(() => getJson<Plugin>(`plugin/${segment(name)}`), [name]);
  const form = useRef<JsonFormHandle | null>(null);
  const [confirming, setConfirming] = useState<unknown>(undefined);
  const [sending, setSending] = useState(false);
  const [failure, setFailure] = useState<unknown>(null);

  if (plugin.error) {
    return html`<section>
      <h1>Plugin ${name}</h1>
      <${ErrorBox} error=${plugin.error} />
    </section>`;
  }
  if (!plugin.value) return html`<${Loading} what=${`plugin ${name}`} />`;
  const current = plugin.value;
  const danger = dangerText(current);

  const start = async (data: unknown): Promise<void> => {
    setSending(true);
    setFailure(null);
    try {
      const started = await postJson<{ run_id: string }>(
        `plugin/${segment(name)}/run`,
        { data },
        { async: 'true' },
      );
      if (started) navigate(`runs/${segment(started.run_id)}`);
    } catch (error) {
      setFailure(error);
      setSending(false);
    }
  };

  const onSubmit = (event: Event): void => {
    event.preventDefault();
    const data = form.current?.submit();
    if (data === null || data === undefined) return;
    if (danger) setConfirming(data);
    else void start(data);
  };

  return html`<section>
    <p class="crumbs"><a href="plugins">Plugins</a> ›</p>
    <h1>${current.title ?? current.name} <${PluginBadges} plugin=${current} /></h1>
    <p>
      <code>${current.name}</code>${current.category ? html` · ${current.category}` : null}
      ${current.tags.map((tag) => html` <span class="tag">${String(tag)}</span>`)}
    </p>
    <p class="description">${current.description}</p>
    ${danger ? html`<p class="warning" role="note"><strong>Dangerous:</strong> ${danger}</p>` : null}
    ${current.expensive ? html`<p class="note">Expensive: each run costs something (time, money or quota).</p>` : null}
    <p><a href=${`runs?plugin=${encodeURIComponent(current.name)}`}>Runs of this plugin</a></p>
    <h2 id="run-heading">Run it</h2>
    <form class="run-form" aria-labelledby="run-heading" onSubmit=${onSubmit} novalidate>
      <${JsonForm} schema=${current.inputs} title="Input" name=${`plugin-${current.name}`} handle=${form} />
      ${
        confirming === undefined
          ? html`<button type="submit" class="primary" disabled=${sending}>Run ${current.name}</button>`
          : html`<div class="confirm" role="alertdialog" aria-labelledby="confirm-text">
              <p id="confirm-text">
                <strong>${current.name} is dangerous:</strong> ${danger}. Run it anyway?
              </p>
              <button
                type="button"
                class="danger"
                autofocus
                onClick=${() => void start(confirming)}
                disabled=${sending}
              >
                Yes, run ${current.name}
              </button>
              <button type="button" onClick=${() => setConfirming(undefined)}>Cancel</button>
            </div>`
      }
    </form>
    ${failure ? html`<${ErrorBox} error=${failure} />` : null}
    <details>
      <summary>Self-description</summary>
      <${JsonBlock}
        value=${{ inputs: current.inputs, outputs: current.outputs, timeout: current.timeout, idempotent: current.idempotent, location: current.location }}
        label="self-description"
      />
    </details>
  </section>`;
}
