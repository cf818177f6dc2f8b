import assert from 'node:assert/strict';
import { test } from 'node:test';
import { normalisePrefix } from '../../../src/api/ui.ts';
import { stripPrefix } from '../../../src/api/build-server.ts';
import { startTestServer } from '../../helpers/api-server.ts';
import { LOCAL_USER } from '../../helpers/task-server.ts';

/**
 * The dashboard's serving (src/api/ui.ts), without a browser: `/` redirects to `/ui/`, every
 * page URL answers the app's one page with its `<base href>`, under `--base-path` or a proxy's
 * `X-Forwarded-Prefix`; its assets are served as files; `/me` tells who the caller is.
 */

const server = await startTestServer();
const behind = await startTestServer({ basePath: '/ops' });

const baseOf = (html: string): string | undefined => /<base href="([^"]*)">/.exec(html)?.[1];

test('/ redirects to /ui/, and every page of the app loads directly with its base', async () => {
  const root = await fetch(`${server.url}/`, { redirect: 'manual' });
  assert.equal(root.status, 302);
  assert.equal(root.headers.get('location'), '/ui/');
  for (const page of [
    '/ui/',
    '/ui/plugins',
    '/ui/runs/0b5c1f9e-0000-4000-8000-000000000000',
    '/ui/tasks?type=all',
  ]) {
    const response = await fetch(`${server.url}${page}`);
    assert.equal(response.status, 200, page);
    assert.match(response.headers.get('content-type') ?? '', /^text\/html/);
    const html = await response.text();
    assert.equal(baseOf(html), '/ui/', page);
    assert.match(html, /<script type="module" src="assets\/main\.js"><\/script>/);
  }
});

test('the assets are files of the build; a missing one is a 404, never the page', async () => {
  const script = await fetch(`${server.url}/ui/assets/main.js`);
  assert.equal(script.status, 200);
  assert.match(script.headers.get('content-type') ?? '', /javascript/);
  assert.ok((await script.text()).length > 1000);
  const style = await fetch(`${server.url}/ui/assets/main.css`);
  assert.equal(style.status, 200);
  assert.match(style.headers.get('content-type') ?? '', /^text\/css/);
  const missing = await fetch(`${server.url}/ui/assets/nothing.js`);
  assert.equal(missing.status, 404);
  await missing.arrayBuffer();
});

test('X-Forwarded-Prefix puts the page, its links and calls under the prefix; a malformed one is ignored', async () => {
  const page = await fetch(`${server.url}/ui/plugins`, { headers: { 'x-forwarded-prefix': '/team/ops/' } });
  assert.equal(baseOf(await page.text()), '/team/ops/ui/');
  const root = await fetch(`${server.url}/`, {
    redirect: 'manual',
    headers: { 'x-forwarded-prefix': '/team/ops' },
  });
  assert.equal(root.headers.get('location'), '/team/ops/ui/');
  for (const hostile of ['"><script>alert(1)</script>', '//evil.example', '/a/../b', 'javascript:alert(1)']) {
    const answered = await fetch(`${server.url}/ui/`, { headers: { 'x-forwarded-prefix': hostile } });
    assert.equal(baseOf(await answered.text()), '/ui/', hostile);
  }
});

test('--base-path: the server answers under the prefix (and without it), and the page names it', async () => {
  const page = await fetch(`${behind.url}/ops/ui/tasks`);
  assert.equal(page.status, 200);
  assert.equal(baseOf(await page.text()), '/ops/ui/');
  const root = await fetch(`${behind.url}/ops`, { redirect: 'manual' });
  assert.equal(root.headers.get('location'), '/ops/ui/');
  const plugins = await fetch(`${behind.url}/ops/plugin?format=json`);
  assert.equal(plugins.status, 200);
  assert.deepEqual(await plugins.json(), []);
  // A proxy that strips the prefix reaches the same routes.
  assert.equal((await fetch(`${behind.url}/plugin`)).status, 200);
  assert.equal(baseOf(await (await fetch(`${behind.url}/ui/`)).text()), '/ops/ui/');
});

test('GET /me: the caller as the routes see it', async () => {
  const me = await server.request<{ username: string; admin: boolean; groups: string[] }>('GET', '/me');
  assert.equal(me.status, 200);
  assert.deepEqual(me.body, { username: LOCAL_USER, admin: true, groups: [] });
  const missing = await server.request('GET', '/me/task/0b5c1f9e-0000-4000-8000-000000000000');
  assert.equal(missing.status, 404);
});

test('prefixes: normalised to /a/b, refused when they are not plain paths; stripped only at a segment boundary', () => {
  assert.equal(normalisePrefix(''), '');
  assert.equal(normalisePrefix('/'), '');
  assert.equal(normalisePrefix('ops/'), '/ops');
  assert.equal(normalisePrefix('/a/b//'), '/a/b');
  assert.equal(normalisePrefix('/a b'), null);
  assert.equal(normalisePrefix('/a/../b'), null);
  assert.equal(stripPrefix('/ops/task?x=1', '/ops'), '/task?x=1');
  assert.equal(stripPrefix('/ops?x=1', '/ops'), '/?x=1');
  assert.equal(stripPrefix('/ops', '/ops'), '/');
  assert.equal(stripPrefix('/opsx/task', '/ops'), '/opsx/task');
});
