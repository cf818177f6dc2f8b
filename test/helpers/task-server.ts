import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import type { SecurityConfig } from '../../src/api/auth/security.ts';
import { loadTemplateCatalog } from '../../src/api/template-catalog.ts';
import { BUILTIN_ACTIONS } from '../../src/plugins/builtins.ts';
import { startTestServer, type ErrorBody, type TestServer } from './api-server.ts';

/** The local user every caller is without authentication (SPEC section 8). */
export const LOCAL_USER = process.env.TASKHOST_USER || os.userInfo().username;

/**
 * A test server offering `templates` (file name → YAML), written to a temporary directory
 * removed after the file's tests. Every template must load without issue.
 */
export async function startTaskServer(
  templates: Record<string, string>,
  security?: Partial<SecurityConfig>,
): Promise<TestServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'taskhost-task-api-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  for (const [file, yaml] of Object.entries(templates)) fs.writeFileSync(path.join(dir, file), yaml);
  return startTestServer(
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
      security,
    },
  );
}

/** Asserts an error answer: its status, `{error, code}` body, and a message matching `message`. */
export function assertError(
  response: { status: number; body: unknown; text: string },
  status: number,
  code: string,
  message?: RegExp,
): void {
  assert.equal(response.status, status, response.text);
  const body = response.body as ErrorBody;
  assert.deepEqual(Object.keys(body).sort(), ['code', 'error'], response.text);
  assert.equal(body.code, code, response.text);
  assert.equal(typeof body.error, 'string');
  if (message) assert.match(body.error, message);
}
