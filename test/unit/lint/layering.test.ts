import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';

/**
 * The layering rule of eslint.config.js, proved on real files: a probe module written into
 * a layer's folder and linted with the project's own configuration (what `npm run check`
 * runs) fails for an import against the flow and passes for one along it.
 */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

async function lintProbe(folder: string, source: string): Promise<string[]> {
  const file = path.join(ROOT, 'src', folder, `layering-probe-${process.pid}.ts`);
  fs.writeFileSync(file, source);
  try {
    const eslint = new ESLint({ cwd: ROOT });
    const [result] = await eslint.lintFiles([file]);
    return (result?.messages ?? []).map((message) => `${message.ruleId ?? 'parse'}: ${message.message}`);
  } finally {
    fs.rmSync(file, { force: true });
  }
}

const forbidden: [string, string][] = [
  ['store', "import { buildServer } from '../api/build-server.ts';\nexport const probe = buildServer;\n"],
  ['store', "import { EventHub } from '../stream/hub.ts';\nexport const probe = EventHub;\n"],
  ['stream', "import { executeRun } from '../runs/execute.ts';\nexport const probe = executeRun;\n"],
  ['plugins', "import { createBatch } from '../runs/batch.ts';\nexport const probe = createBatch;\n"],
  ['runs', "import { failAndExit } from '../cli/exit.ts';\nexport const probe = failAndExit;\n"],
  ['api', "import { withStore } from '../cli/context.ts';\nexport const probe = withStore;\n"],
  ['protocol', "import { spawnPlugin } from '../plugins/spawn.ts';\nexport const probe = spawnPlugin;\n"],
  ['protocol', "import fs from 'node:fs';\nexport const probe = fs;\n"],
];

for (const [folder, source] of forbidden) {
  const imported = /from '([^']+)'/.exec(source)?.[1];
  test(`lint: src/${folder}/ importing ${imported} fails`, async () => {
    const messages = await lintProbe(folder, source);
    assert.ok(
      messages.some((message) => message.startsWith('no-restricted-imports:')),
      `expected a layering error, got: ${messages.join(' | ') || 'none'}`,
    );
  });
}

test('lint: imports along the flow pass (runs from plugins, api from runs, plugins from store)', async () => {
  for (const [folder, source] of [
    ['runs', "import { spawnPlugin } from '../plugins/spawn.ts';\nexport const probe = spawnPlugin;\n"],
    ['api', "import { executeRun } from '../runs/execute.ts';\nexport const probe = executeRun;\n"],
    ['plugins', "import { getRun } from '../store/queries/runs.ts';\nexport const probe = getRun;\n"],
  ] as const) {
    assert.deepEqual(await lintProbe(folder, source), [], `src/${folder}: ${source}`);
  }
});
