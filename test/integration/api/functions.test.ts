import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { loadTemplateCatalog } from '../../../src/api/template-catalog.ts';
import { BUILTIN_ACTIONS } from '../../../src/plugins/builtins.ts';
import { startTestServer, type ErrorBody } from '../../helpers/api-server.ts';

/** µTask's function routes over real HTTP: the list (paged by name), one function, a 404. */

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'taskhost-api-functions-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
fs.mkdirSync(path.join(dir, 'functions'));
for (const name of ['notify::slack', 'http::get', 'http::post']) {
  fs.writeFileSync(
    path.join(dir, 'functions', `${name.replace('::', '-')}.yaml`),
    `name: ${name}
description: calls ${name}
action:
  type: echo
  configuration: {output: {to: '{{function_args.target}}'}}
`,
  );
}

const server = await startTestServer(
  {},
  {
    templates: async () => {
      const { catalog, issues } = await loadTemplateCatalog(
        dir,
        path.join(dir, 'functions'),
        BUILTIN_ACTIONS,
      );
      assert.deepEqual(issues, []);
      return catalog;
    },
  },
);

test('GET /function lists the functions by name, page by page, with µTask paging headers', async () => {
  const first = await server.request<{ name: string }[]>('GET', '/function?page_size=2');
  assert.equal(first.status, 200);
  assert.deepEqual(
    first.body.map((fn) => fn.name),
    ['http::get', 'http::post'],
  );
  assert.equal(first.headers.get('x-paging-pagesize'), '2');
  assert.equal(first.headers.get('link'), '</function?page_size=2&last=http%3A%3Apost>; rel="next"');
  const second = await server.request<{ name: string }[]>('GET', '/function?page_size=2&last=http%3A%3Apost');
  assert.deepEqual(
    second.body.map((fn) => fn.name),
    ['notify::slack'],
  );
  assert.equal(second.headers.get('link'), null);
});

test('GET /function/:name is the function as loaded; an unknown name is 404 TH_FUNCTION_NOT_FOUND', async () => {
  const one = await server.request<Record<string, unknown>>('GET', '/function/http%3A%3Aget');
  assert.equal(one.status, 200);
  assert.equal(one.body.name, 'http::get');
  assert.equal(one.body.description, 'calls http::get');
  assert.deepEqual(one.body.action, {
    type: 'echo',
    configuration: { output: { to: '{{function_args.target}}' } },
  });
  assert.deepEqual(one.body.function_args, ['target']);
  const missing = await server.request<ErrorBody>('GET', '/function/nope');
  assert.deepEqual([missing.status, missing.body.code], [404, 'TH_FUNCTION_NOT_FOUND']);
  const spec = await server.request<{ paths: Record<string, unknown> }>('GET', '/unsecured/spec.json');
  assert.ok(spec.body.paths['/function'] && spec.body.paths['/function/{name}']);
});
