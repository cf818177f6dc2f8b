import { html } from 'htm/preact';
import type { VNode } from 'preact';
import { useEffect, useState } from 'preact/hooks';

/** What a state looks like: a word always, an icon, and a colour family (never colour alone). */
const STATE_LOOKS: Record<string, { icon: string; tone: string }> = {
  DONE: { icon: '✔', tone: 'ok' },
  RUNNING: { icon: '▶', tone: 'busy' },
  AUTORUNNING: { icon: '▶', tone: 'busy' },
  TODO: { icon: '○', tone: 'idle' },
  TO_AUTORUN: { icon: '○', tone: 'idle' },
  WAITING: { icon: '⏸', tone: 'wait' },
  PAUSED: { icon: '⏸', tone: 'wait' },
  DELAYED: { icon: '⏱', tone: 'wait' },
  TO_RETRY: { icon: '↻', tone: 'wait' },
  RETRY: { icon: '↻', tone: 'wait' },
  RETRY_NOW: { icon: '↻', tone: 'wait' },
  EXPANDED: { icon: '⋯', tone: 'ok' },
  PRUNE: { icon: '–', tone: 'idle' },
  BLOCKED: { icon: '⛔', tone: 'bad' },
  CANCELLED: { icon: '✕', tone: 'idle' },
  WONTFIX: { icon: '✕', tone: 'idle' },
  CLIENT_ERROR: { icon: '✖', tone: 'bad' },
  SERVER_ERROR: { icon: '✖', tone: 'bad' },
  FATAL_ERROR: { icon: '✖', tone: 'bad' },
  AFTERRUN_ERROR: { icon: '✖', tone: 'bad' },
  CRASHED: { icon: '✖', tone: 'bad' },
  ERROR: { icon: '✖', tone: 'bad' },
};

export function stateLook(state: string): { icon: string; tone: string } {
  if (STATE_LOOKS[state]) return STATE_LOOKS[state];
  if (state.startsWith('BLOCKED')) return { icon: '⛔', tone: 'bad' };
  return { icon: '●', tone: 'other' };
}

/** A state as a word with an icon, coloured by its family. */
export function StateBadge({ state }: { state: string }): VNode {
  const look = stateLook(state);
  return html`<span class=${`state tone-${look.tone}`} data-state=${state}
    ><span aria-hidden="true">${look.icon} </span>${state}</span
  >`;
}

export function ErrorBox({ error }: { error: unknown }): VNode {
  const message = error instanceof Error ? error.message : String(error);
  return html`<p class="error" role="alert">${message}</p>`;
}

export function Loading({ what }: { what: string }): VNode {
  return html`<p class="loading" role="status">Loading ${what}…</p>`;
}

/** A JSON value, pretty-printed. */
export function JsonBlock({ value, label }: { value: unknown; label: string }): VNode {
  return html`<pre class="json" aria-label=${label}>${JSON.stringify(value, null, 2)}</pre>`;
}

/** A timestamp as the reader's local time, with the exact value in `<time datetime>`. */
export function Time({ value }: { value: string | null | undefined }): VNode {
  if (!value) return html`<span>—</span>`;
  return html`<time datetime=${value}>${new Date(value).toLocaleString()}</time>`;
}

export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/** Loads something once per `key`, with its loading and error states. */
export function useLoad<T>(
  load: () => Promise<T>,
  key: readonly unknown[],
): { value: T | undefined; error: unknown; reload: () => void } {
  const [state, setState] = useState<{ value: T | undefined; error: unknown }>({
    value: undefined,
    error: undefined,
  });
  const [round, setRound] = useState(0);
  useEffect(() => {
    let live = true;
    load().then(
      (value) => live && setState({ value, error: undefined }),
      (error: unknown) => live && setState({ value: undefined, error }),
    );
    return () => {
      live = false;
    };
  }, [...key, round]);
  return { ...state, reload: () => setRound((n) => n + 1) };
}

/** Sets the document title of a page. */
export function useTitle(title: string): void {
  useEffect(() => {
    document.title = `${title} · taskhost`;
  }, [title]);
}
