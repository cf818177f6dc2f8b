import { html } from 'htm/preact';
import type { VNode } from 'preact';
import type { Caller } from '../types.ts';

const SECTIONS = [
  { href: 'plugins', name: 'Plugins' },
  { href: 'runs', name: 'Runs' },
  { href: 'templates', name: 'Templates' },
  { href: 'tasks', name: 'Tasks' },
] as const;

/** The navigation bar: one link a section, the current one marked for assistive tools too. */
export function Nav(props: { section: string; me: Caller | null }): VNode {
  return html`<header class="top">
    <a class="skip" href=${`${window.location.pathname}${window.location.search}#main`}>Skip to content</a>
    <nav aria-label="Sections">
      <a class="brand" href="plugins">taskhost</a>
      <ul>
        ${SECTIONS.map(
          (section) =>
            html`<li>
              <a href=${section.href} aria-current=${props.section === section.href ? 'page' : undefined}
                >${section.name}</a
              >
            </li>`,
        )}
      </ul>
    </nav>
    ${
      props.me
        ? html`<p class="me">
            Signed in as <strong>${props.me.username}</strong>${props.me.admin ? ' (admin)' : ''}
          </p>`
        : null
    }
  </header>`;
}
