import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createFromYaml } from '../../helpers/engine.ts';
import { createTestDatabase } from '../../helpers/store.ts';

const run = promisify(execFile);
const PROBE = fileURLToPath(new URL('../../helpers/task-log-probe.ts', import.meta.url));
const { store, url } = await createTestDatabase();

test('a transition that takes the waiting lines and process groups leaves no timer to hold the process (a CLI exits at once)', async () => {
  const { taskId } = await createFromYaml(
    store,
    `
name: task-log-timers
description: a task for its log
steps:
  step:
    action: {type: echo, configuration: {output: {}}}
`,
  );
  const { stdout } = await run(process.execPath, ['--import', 'tsx', PROBE, url, taskId]);
  const open = JSON.parse(stdout) as string[];
  assert.deepEqual(
    open.filter((resource) => resource === 'Timeout'),
    [],
    `still open: ${open.join(', ')}`,
  );
  const { rows } = await store.query<{ type: string; state: string | null }>(
    'SELECT type, state FROM event WHERE stream_id = $1 ORDER BY seq',
    [taskId],
  );
  assert.deepEqual(
    rows.slice(-2).map((row) => row.type + ':' + (row.state ?? '')),
    ['log:', 'step:DONE'],
    'the line went with the transition',
  );
});
