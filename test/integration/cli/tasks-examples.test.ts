import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { registerDirectory } from '../../../src/plugins/registry.ts';
import { assertExit, cliEnv, stdoutJson, taskhost } from '../../helpers/cli.ts';
import { pathWithout, pythonFirstPath, tempDir } from '../../helpers/plugin-fixtures.ts';
import { createTestDatabase } from '../../helpers/store.ts';

/**
 * Issue 16: the example plugins in tasks/ use the vendored helpers and still run with nothing
 * but bash, python3 and their own tools: each passes `plugin check` with no jq on PATH. The
 * helpers next to them are not plugins: registering the folder, as `taskhost serve` does,
 * finds the three examples and nothing else.
 */

const TASKS = fileURLToPath(new URL('../../../tasks/', import.meta.url));

interface Report {
  ok: boolean;
  rules: { id: string; verdict: string; message: string }[];
}

test('every example in tasks/ passes plugin check without jq on PATH', async (t) => {
  // check-url needs something to check: a local server that answers 200 with a body.
  const server = http.createServer((_request, response) => response.end('taskhost example: healthy\n'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/healthz`;

  const env = cliEnv({ PATH: pathWithout(tempDir(t), ['jq'], pythonFirstPath()) });
  const examples: [string, string[]][] = [
    ['check-url.sh', ['--data', JSON.stringify({ url, contains: 'healthy' })]],
    ['fraud-score.py', []], // data from the schema's examples
    ['generate-csr.sh', []],
  ];
  await Promise.all(
    examples.map(async ([file, args]) => {
      const result = await taskhost(['plugin', 'check', path.join(TASKS, file), '--json', ...args], {
        env,
        timeoutMs: 60_000,
      });
      assertExit(result, 0);
      const report = stdoutJson<Report>(result);
      assert.deepEqual(
        report.rules.filter((rule) => rule.verdict !== 'pass').map((rule) => `${rule.id}: ${rule.message}`),
        [],
        file,
      );
    }),
  );
});

test('registering tasks/ as serve does finds the three examples, not the helpers next to them', async () => {
  const { store } = await createTestDatabase();
  const found = await registerDirectory(store, TASKS);
  assert.deepEqual(found.failed, []);
  assert.deepEqual(
    found.registered.map((row) => row.name),
    ['check-url', 'fraud-score', 'generate-csr'],
  );
});
