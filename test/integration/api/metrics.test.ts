import assert from 'node:assert/strict';
import os from 'node:os';
import { test } from 'node:test';
import WebSocket from 'ws';
import { ServerMetrics } from '../../../src/api/routes/metrics.ts';
import type { RunDocument } from '../../../src/runs/document.ts';
import { Instance } from '../../../src/runs/instance.ts';
import { startTestServer } from '../../helpers/api-server.ts';
import { createFromYaml, documentOf, registerFixture, runOnce } from '../../helpers/engine.ts';

const metrics = new ServerMetrics();
const server = await startTestServer({}, { metrics });
const { store } = server.db;
await registerFixture(store, 'echo-data', 'echo-data.sh');
await registerFixture(store, 'exit-after-result', 'exit-after-result.sh');

/** The histogram of the steps this instance ran. */
const STEP_HISTOGRAM = 'taskhost_step_duration_seconds';

function sample(text: string, metric: string, labels: string): number | undefined {
  const line = text.split('\n').find((entry) => entry.startsWith(`${metric}{${labels}}`));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

test('GET /metrics: tasks by state, runs by state and action, due resolutions and claim lag, instance heartbeats', async () => {
  const yaml = `
name: measured
description: an echo step, a plugin step, then a failing plugin step
steps:
  said:
    action: {type: echo, configuration: {output: {}}}
  fine:
    dependencies: [said]
    action: {type: echo-data, configuration: {n: 1}}
  broken:
    dependencies: [fine]
    action: {type: exit-after-result}
`;
  const done = await createFromYaml(store, yaml.replace('type: exit-after-result', 'type: echo-data'));
  await runOnce(store, done.resolutionId);
  const failing = await createFromYaml(store, yaml);
  await runOnce(store, failing.resolutionId);
  await store.query(`UPDATE resolution SET next_retry = now() - interval '5 seconds' WHERE id = $1`, [
    failing.resolutionId,
  ]);
  await store.query(
    `INSERT INTO instance (id, kind, hostname, pid, version, heartbeat_at)
     VALUES (gen_random_uuid(), 'server', 'far-away', 42, 'x', now() - interval '90 seconds')`,
  );

  const response = await fetch(`${server.url}/metrics`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = await response.text();
  assert.equal(sample(text, 'taskhost_tasks', 'state="DONE"'), 1);
  assert.equal(sample(text, 'taskhost_tasks', 'state="RUNNING"'), 1);
  // Runs are executions of plugins: the echo steps, which execute nothing, have none.
  assert.equal(sample(text, 'taskhost_runs', 'state="DONE",action="echo-data"'), 3);
  assert.equal(sample(text, 'taskhost_runs', 'state="SERVER_ERROR",action="exit-after-result"'), 1);
  assert.equal(sample(text, 'taskhost_runs', 'state="DONE",action="echo"'), undefined);
  assert.match(text, /^taskhost_resolutions_due 1$/m);
  const lag = Number(/^taskhost_claim_lag_seconds (\S+)$/m.exec(text)?.[1]);
  assert.ok(lag >= 5, `claim lag ${lag}`);
  const age = Number(
    /^taskhost_instance_heartbeat_age_seconds\{[^}]*hostname="far-away"[^}]*\} (\S+)$/m.exec(text)?.[1],
  );
  assert.ok(age >= 90, `heartbeat age ${age}`);
  const spec = (await server.request<{ paths: Record<string, unknown> }>('GET', '/unsecured/spec.json')).body;
  assert.ok(spec.paths['/metrics']);
});

test('where work ran: each step and run names its instance (HOSTNAME/PID), the instance counts its step durations, runs under way and subscribers', async (t) => {
  const owner = new Instance(store, 'server');
  await owner.start();
  t.after(() => owner.stop());
  const here = `${os.hostname()}/${process.pid}`;
  const yaml = `
name: located
description: a plugin step and a failing echo step run by a server instance
steps:
  first:
    action: {type: echo-data, configuration: {n: 1}}
  second:
    dependencies: [first]
    action: {type: echo, configuration: {output: {}, error_message: down, error_type: server}}
`;
  const { taskId, resolutionId } = await createFromYaml(store, yaml);
  await runOnce(store, resolutionId, {
    owner,
    onStepRun: (action, state, seconds) => metrics.observeStep(action, state, seconds),
  });

  const document = await documentOf(store, taskId);
  assert.deepEqual(
    Object.fromEntries(
      Object.entries(document.steps).map(([name, step]) => [name, [step.state, step.instance]]),
    ),
    { first: ['DONE', here], second: ['SERVER_ERROR', here] },
  );
  const viaApi = await server.request<{ steps: Record<string, { instance: string | null }> }>(
    'GET',
    `/task/${taskId}`,
  );
  assert.equal(viaApi.body.steps.first?.instance, here);
  const { rows } = await store.query<{ id: string }>(
    "SELECT id FROM run WHERE task_id = $1 AND step_name = 'first'",
    [taskId],
  );
  const run = await server.request<RunDocument>('GET', `/run/${rows[0]?.id}`);
  assert.equal(run.body.instance, here);
  // The echo step executed nothing: no run, and its step still names where it ran.
  const { rows: echoRuns } = await store.query(
    "SELECT id FROM run WHERE task_id = $1 AND step_name = 'second'",
    [taskId],
  );
  assert.deepEqual(echoRuns, []);

  // A run under way elsewhere, and one subscriber of the (unfinished) task's stream here.
  await store.query(
    `INSERT INTO run (id, plugin_name, origin, state, ran_on, started_at)
     VALUES (gen_random_uuid(), 'far-plugin', 'api', 'RUNNING', 'far-away/42', now())`,
  );
  const socket = new WebSocket(`ws://127.0.0.1:${server.port}/task/${taskId}/stream`);
  t.after(() => socket.close());
  await new Promise((resolve, reject) => {
    socket.once('message', resolve);
    socket.once('error', reject);
  });

  const text = await (await fetch(`${server.url}/metrics`)).text();
  // Observations counted per action and end state (how many, not how long).
  const counted = `${STEP_HISTOGRAM}_count`;
  assert.deepEqual(
    ['action="echo-data",state="DONE"', 'action="echo",state="SERVER_ERROR"'].map((labels) =>
      sample(text, counted, labels),
    ),
    [1, 1],
  );
  assert.equal(sample(text, 'taskhost_runs_running', 'instance="far-away/42"'), 1);
  assert.match(text, /^taskhost_websocket_subscribers 1$/m);
});
