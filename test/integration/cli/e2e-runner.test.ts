import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { execa } from 'execa';

/** `npm run test:e2e` without a browser: one line naming what is missing and how to get it, exit 2. */

const RUNNER = fileURLToPath(new URL('../../e2e/run.ts', import.meta.url));

test('the browser tests name a missing Chromium in one line and exit 2, before starting anything', async () => {
  const result = await execa(process.execPath, ['--import', 'tsx', RUNNER], {
    env: { ...process.env, TASKHOST_CHROMIUM: '/nonexistent/chromium' },
    reject: false,
  });
  assert.equal(result.exitCode, 2);
  assert.equal(result.stdout, '');
  assert.equal(
    result.stderr,
    'npm run test:e2e: no Chromium found at TASKHOST_CHROMIUM=/nonexistent/chromium (Debian: apt-get install chromium)',
  );
});
