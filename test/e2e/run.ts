/**
 * `npm run test:e2e`: the dashboard's browser tests (test/e2e/*.test.ts), in headless Chromium
 * driven by playwright-core, through test/run.ts (the same throwaway PostgreSQL). They need
 * Debian's `chromium` (or TASKHOST_CHROMIUM=/path/to/chrome); without it this says so in one
 * line. `npm test` never runs them.
 *
 *   npm run test:e2e                           every browser test
 *   npm run test:e2e -- test/e2e/runs.test.ts  some of them
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { findChromium, missingChromium } from '../helpers/chromium.ts';

const chromium = findChromium();
if (!chromium) {
  console.error(missingChromium('npm run test:e2e'));
  process.exit(2);
}

const here = path.dirname(new URL(import.meta.url).pathname);
const given = process.argv.slice(2);
const files =
  given.length > 0
    ? given
    : fs
        .readdirSync(here)
        .filter((name) => name.endsWith('.test.ts'))
        .sort()
        .map((name) => path.join(here, name));

const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, '..', 'run.ts'), ...files], {
  stdio: 'inherit',
  // A file of browser tests starts a server and a browser page per test: a longer hang guard.
  env: { ...process.env, TASKHOST_CHROMIUM: chromium, TASKHOST_TEST_TIMEOUT_MS: '600000' },
});
child.on('exit', (code, signal) => process.exit(signal ? 1 : (code ?? 1)));
