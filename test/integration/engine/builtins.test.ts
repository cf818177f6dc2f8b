import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { reply, startHttpServer } from '../../helpers/actions.ts';
import { registerFixture, runYaml, statesOf, taskEvents } from '../../helpers/engine.ts';
import { tempDir } from '../../helpers/plugin-fixtures.ts';
import { createTestDatabase } from '../../helpers/store.ts';

/** The builtins script and notify, driven through templates and the engine. */

const { store } = await createTestDatabase();

test('script: a file of the scripts directory runs with its argv and environment, µTask variables, never the host secrets', async (t) => {
  const scriptsDir = tempDir(t);
  fs.writeFileSync(
    path.join(scriptsDir, 'report.sh'),
    `#!/usr/bin/env bash
echo "report: starting for $1"
printf '{"who": "%s", "task": "%s", "step": "%s", "colour": "%s", "secret": "%s"}\\n' \\
  "$1" "$UTASK_TASK_ID" "$UTASK_STEP_NAME" "$COLOUR" "\${TASKHOST_TEST_SECRET:-}"
`,
    { mode: 0o755 },
  );
  process.env.TASKHOST_TEST_SECRET = 'do-not-leak';
  t.after(() => delete process.env.TASKHOST_TEST_SECRET);
  const run = await runYaml(
    store,
    `
name: scripted
description: runs a script
inputs: [{name: who}]
steps:
  report:
    action:
      type: script
      configuration:
        file_path: report.sh
        argv: ['{{input.who}}']
        environment: {COLOUR: blue}
`,
    { input: { who: 'zoe' }, scriptsDir },
  );
  assert.deepEqual(statesOf(run.document), { report: 'DONE' });
  assert.deepEqual(run.document.steps.report?.output, {
    who: 'zoe',
    task: run.taskId,
    step: 'report',
    colour: 'blue',
    secret: '',
  });
  const lines = (await taskEvents(store, run.taskId)).filter((event) => event.type === 'log');
  assert.ok(lines.some((event) => event.step === 'report' && event.line === 'report: starting for zoe'));
});

test('script: a file outside the scripts directory is refused and never run', async (t) => {
  const scriptsDir = tempDir(t);
  const outside = path.join(tempDir(t), 'evil.sh');
  const marker = `${outside}.ran`;
  fs.writeFileSync(outside, `#!/usr/bin/env bash\ntouch '${marker}'\necho '{}'\n`, { mode: 0o755 });
  const run = await runYaml(
    store,
    `
name: escaping
description: a script path leaving the directory
steps:
  escape:
    action: {type: script, configuration: {file_path: '../${path.basename(path.dirname(outside))}/evil.sh'}}
`,
    { scriptsDir },
  );
  assert.notEqual(run.document.steps.escape?.state, 'DONE');
  assert.match(run.document.steps.escape?.error ?? '', /scripts directory|outside/);
  assert.equal(fs.existsSync(marker), false);
});

test('notify: the rendered message is POSTed to the webhook; a refusal fails the step as SERVER_ERROR', async (t) => {
  let status = 204;
  const hook = await startHttpServer(t, (_request, response) => reply(response, status, ''));
  const template = `
name: notifying
description: tells a webhook
inputs: [{name: who}]
steps:
  tell:
    action:
      type: notify
      configuration:
        url: '${hook.url}/hooks/team'
        message: '{{input.who}} joined'
        fields: {team: ops}
`;
  const run = await runYaml(store, template, { input: { who: 'ann' } });
  assert.deepEqual(statesOf(run.document), { tell: 'DONE' });
  assert.equal(hook.requests.length, 1);
  assert.equal(hook.requests[0]?.method, 'POST');
  assert.equal(hook.requests[0]?.url, '/hooks/team');
  const body = JSON.parse(hook.requests[0]?.body ?? '{}') as Record<string, unknown>;
  assert.equal(body.message, 'ann joined');
  assert.equal(body.team, 'ops');
  status = 500;
  const refused = await runYaml(store, template, { input: { who: 'bob' } });
  assert.equal(refused.document.steps.tell?.state, 'SERVER_ERROR');
  assert.equal(refused.outcomes[0]?.state, 'ERROR');
});

test('named resources: steps sharing a resource limited to 1 never run at once; without the limit they do', async (t) => {
  await registerFixture(store, 'meet-or-not', 'meet-or-not.sh');
  const template = (dir: string, wait: number) => `
name: resources
description: two steps holding one resource
steps:
  first:
    resources: [database]
    action: {type: meet-or-not, configuration: {dir: '${dir}', mine: first, other: second, wait: ${wait}}}
  second:
    resources: [database]
    action: {type: meet-or-not, configuration: {dir: '${dir}', mine: second, other: first, wait: ${wait}}}
`;
  const limited = await runYaml(store, template(tempDir(t), 1), { resourceLimits: { database: 1 } });
  assert.deepEqual(statesOf(limited.document), { first: 'DONE', second: 'DONE' });
  assert.deepEqual(
    [limited.document.steps.first?.output, limited.document.steps.second?.output],
    [{ met: false }, { met: false }],
  );
  const free = await runYaml(store, template(tempDir(t), 20), { resourceLimits: { other: 1 } });
  assert.deepEqual(
    [free.document.steps.first?.output, free.document.steps.second?.output],
    [{ met: true }, { met: true }],
  );
});
