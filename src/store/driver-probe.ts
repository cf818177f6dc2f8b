/**
 * pg asks at import time whether it runs in a Cloudflare Worker: without a `navigator`
 * global (Node 20 has none; Node 21+ does) it builds a `Response`, which makes Node load its
 * whole fetch implementation, about 15 ms of every CLI start. While pg loads, a plain
 * `navigator` answers the question instead; driver.ts removes it right after, and module
 * evaluation is synchronous, so no other code ever sees it.
 */
const added = typeof (globalThis as { navigator?: unknown }).navigator === 'undefined';
if (added) {
  Object.defineProperty(globalThis, 'navigator', { value: { userAgent: 'Node.js' }, configurable: true });
}

export function endDriverProbe(): void {
  if (added) delete (globalThis as { navigator?: unknown }).navigator;
}
