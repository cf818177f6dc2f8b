import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { engineServices } from '../../../src/engine/engine.ts';
import { DUE_CHANNEL, notifyDue, Scheduler } from '../../../src/engine/scheduler.ts';
import { Instance } from '../../../src/runs/instance.ts';
import { Store } from '../../../src/store/store.ts';
import { createFromYaml, documentOf } from '../../helpers/engine.ts';
import { until } from '../../helpers/processes.ts';
import { createTestDatabase } from '../../helpers/store.ts';

/**
 * A new auto_runnable task is handed to this process's scheduler when it has room, without a
 * NOTIFY (engine/local-due.ts); other instances are notified only when it has none. The
 * notifications are read by an observer: they arrive in commit order, so once a marker sent
 * after the creation is here, a notification of the creation would be too.
 */

const { store } = await createTestDatabase();
const HANG_GUARD = 20_000;

const AUTO = `
name: auto
description: runs at creation
auto_runnable: true
steps:
  one:
    action: {type: echo, configuration: {output: {n: 1}}}
`;

async function observeDue(t: TestContext): Promise<{ payloads: string[]; settle: () => Promise<void> }> {
  const observer = new Store({ ...store.pool.options, application_name: 'taskhost/test-observer' });
  t.after(() => observer.close());
  const payloads: string[] = [];
  await observer.listen(DUE_CHANNEL, (payload) => payloads.push(payload));
  const settle = async (): Promise<void> => {
    await notifyDue(observer);
    assert.ok(
      await until(() => (payloads.includes('') ? true : undefined), HANG_GUARD),
      'the marker notification arrived',
    );
  };
  return { payloads, settle };
}

async function startScheduler(t: TestContext, maxConcurrent: number): Promise<Scheduler> {
  const owner = new Instance(store, 'server');
  await owner.start();
  const scheduler = new Scheduler(
    engineServices({ store, owner, scriptsDir: path.join(os.tmpdir(), 'no-scripts') }),
    { maxConcurrent, pollIntervalMs: 60_000, onError: (error) => assert.fail(error as Error) },
  );
  await scheduler.start();
  t.after(async () => {
    await scheduler.stop();
    await owner.stop();
  });
  return scheduler;
}

test('a task created beside a scheduler with room runs there at once, and no instance is notified', async (t) => {
  const { payloads, settle } = await observeDue(t);
  await startScheduler(t, 10);
  const { taskId } = await createFromYaml(store, AUTO);
  const done = await until(
    async () => ((await documentOf(store, taskId)).state === 'DONE' ? true : undefined),
    HANG_GUARD,
  );
  assert.ok(done, 'the task ran to DONE');
  await settle();
  assert.deepEqual(payloads, ['']);
});

test('a task created where no scheduler has room notifies every instance, naming its resolution', async (t) => {
  const { payloads, settle } = await observeDue(t);
  await startScheduler(t, 0);
  const { resolutionId } = await createFromYaml(store, AUTO);
  await settle();
  assert.deepEqual(payloads, [resolutionId, '']);
});
