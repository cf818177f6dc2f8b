import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startTestServer } from '../../helpers/api-server.ts';
import { createFromYaml, runOnce } from '../../helpers/engine.ts';

const server = await startTestServer();
const { store } = server.db;

function sample(text: string, metric: string, labels: string): number | undefined {
  const line = text.split('\n').find((entry) => entry.startsWith(`${metric}{${labels}}`));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

test('GET /metrics: tasks by state, runs by state and action, due resolutions and claim lag, instance heartbeats', async () => {
  const yaml = `
name: measured
description: one echo step, then a failing one
steps:
  fine:
    action: {type: echo, configuration: {output: {}}}
  broken:
    dependencies: [fine]
    action: {type: echo, configuration: {output: {}, error_message: down, error_type: server}}
`;
  const done = await createFromYaml(store, yaml.replace(', error_message: down, error_type: server', ''));
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
  assert.equal(sample(text, 'taskhost_runs', 'state="DONE",action="echo"'), 3);
  assert.equal(sample(text, 'taskhost_runs', 'state="SERVER_ERROR",action="echo"'), 1);
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
