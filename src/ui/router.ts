import { useEffect, useState } from 'preact/hooks';

/**
 * Client-side routes under the page's base (`/ui/`, or `/ops/ui/` behind a proxy). Every link
 * of the app is a plain relative `<a href>` (so it opens in a new tab, is copied, bookmarked);
 * a click on one is turned into a history push and the app re-renders without a reload.
 */

/** The path of the dashboard's base, with its trailing slash. */
function basePath(): string {
  return new URL(document.baseURI).pathname;
}

/** The current route: the path below the base without slashes at its ends, and the query. */
export interface Route {
  path: string;
  parts: string[];
  query: URLSearchParams;
}

function currentRoute(): Route {
  const base = basePath();
  const full = window.location.pathname;
  const below = full.startsWith(base) ? full.slice(base.length) : '';
  const path = below.replace(/^\/+|\/+$/g, '');
  return {
    path,
    parts: path === '' ? [] : path.split('/').map((part) => decodeURIComponent(part)),
    query: new URLSearchParams(window.location.search),
  };
}

const listeners = new Set<() => void>();

/** Goes to `href` (relative to the base), as a new history entry or in place of the current one. */
export function navigate(href: string, replace = false): void {
  const url = new URL(href, document.baseURI);
  if (replace) window.history.replaceState(null, '', url);
  else window.history.pushState(null, '', url);
  for (const listener of listeners) listener();
  if (!url.hash) window.scrollTo(0, 0);
}

/** The route, re-rendered on every navigation (links, back and forward). */
export function useRoute(): Route {
  const [route, setRoute] = useState(currentRoute);
  useEffect(() => {
    const update = (): void => setRoute(currentRoute());
    listeners.add(update);
    window.addEventListener('popstate', update);
    return () => {
      listeners.delete(update);
      window.removeEventListener('popstate', update);
    };
  }, []);
  return route;
}

/** A path segment for a link (`runs/${segment(id)}`). */
export const segment = (value: string): string => encodeURIComponent(value);

/** Makes same-app link clicks client-side navigations; modified clicks keep the browser's behaviour. */
export function interceptLinks(root: HTMLElement): void {
  root.addEventListener('click', (event) => {
    if (event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    // SVG links (the step graph's) are <a> too; their `href` is not a string, the attribute is.
    const anchor = (event.target as Element | null)?.closest?.('a');
    const href = anchor?.getAttribute('href');
    if (!anchor || href === null || href === undefined) return;
    if (anchor.getAttribute('target') || anchor.hasAttribute('download')) return;
    const url = new URL(href, document.baseURI);
    if (url.origin !== window.location.origin || !url.pathname.startsWith(basePath())) return;
    if (url.pathname === window.location.pathname && url.search === window.location.search && url.hash) {
      return; // an anchor on this page
    }
    event.preventDefault();
    navigate(url.pathname + url.search + url.hash);
  });
}

/** `?key=value` of the current page with `changes` applied (undefined or '' removes a key). */
export function withQuery(route: Route, changes: Record<string, string | undefined>): string {
  const query = new URLSearchParams(route.query);
  for (const [key, value] of Object.entries(changes)) {
    if (value === undefined || value === '') query.delete(key);
    else query.set(key, value);
  }
  const text = query.toString();
  return `${route.path}${text ? `?${text}` : ''}`;
}
