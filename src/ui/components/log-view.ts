import { AnsiUp } from 'ansi_up';
import { html } from 'htm/preact';
import type { VNode } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { StreamEvent } from '../types.ts';

/**
 * A plugin's output as it is written: numbered lines (each one linkable, `#L12`), ANSI colours
 * rendered by ansi_up as classes (escaped HTML, no inline style), stderr marked, and a follow
 * mode that keeps the newest line in view until the reader scrolls up or pauses it.
 */

export interface LogLine {
  seq: number;
  stream: string | null;
  html: string;
}

/** Turns log events into lines; one converter a log, since colours may span lines. */
export function logConverter(): (events: readonly StreamEvent[]) => LogLine[] {
  const ansi = new AnsiUp();
  ansi.use_classes = true;
  return (events) =>
    events
      .filter((event) => event.type === 'log' && event.line !== null)
      .map((event) => ({ seq: event.seq, stream: event.stream, html: ansi.ansi_to_html(event.line ?? '') }));
}

export function LogView(props: {
  lines: LogLine[];
  label: string;
  live: boolean;
  anchorPrefix?: string;
}): VNode {
  const [follow, setFollow] = useState(true);
  const box = useRef<HTMLDivElement>(null);
  const prefix = props.anchorPrefix ?? 'L';
  const here = `${window.location.pathname}${window.location.search}`;

  useEffect(() => {
    const element = box.current;
    if (follow && element) element.scrollTop = element.scrollHeight;
  }, [props.lines.length, follow]);

  const onScroll = (): void => {
    const element = box.current;
    if (!element || !follow) return;
    const atBottom = element.scrollHeight - element.scrollTop - element.clientHeight < 24;
    if (!atBottom) setFollow(false);
  };

  return html`<section class="log" aria-label=${props.label}>
    <div class="log-tools">
      <span role="status" aria-live="off"
        >${props.lines.length} line${props.lines.length === 1 ? '' : 's'}</span
      >
      ${
        props.live
          ? html`<button type="button" aria-pressed=${follow} onClick=${() => setFollow(!follow)}>
              ${follow ? 'Pause following' : 'Follow log'}
            </button>`
          : null
      }
    </div>
    <div
      class="log-lines"
      ref=${box}
      onScroll=${onScroll}
      tabindex="0"
      aria-label=${`${props.label}, scrollable`}
    >
      ${
        props.lines.length === 0
          ? html`<p class="muted">${props.live ? 'No output yet.' : 'No output.'}</p>`
          : html`<ol>
              ${props.lines.map(
                (line, index) =>
                  html`<li
                    id=${`${prefix}${index + 1}`}
                    class=${line.stream === 'stderr' ? 'stderr' : ''}
                    key=${line.seq}
                  >
                    <a class="ln" href=${`${here}#${prefix}${index + 1}`} aria-label=${`line ${index + 1}`}
                      >${index + 1}</a
                    >
                    <span class="text" dangerouslySetInnerHTML=${{ __html: line.html }}></span>
                  </li>`,
              )}
            </ol>`
      }
    </div>
  </section>`;
}
