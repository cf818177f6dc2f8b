import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ResultPromise } from 'execa';
import { EmbeddedCluster } from '../../../src/store/embedded.ts';
import { listMigrations } from '../../../src/store/migrate.ts';
import { Store } from '../../../src/store/store.ts';
import {
  assertExit,
  assertOneLineError,
  cliEnv,
  startServe,
  stdoutJson,
  taskhost,
  type CliResult,
  type ListedPlugin,
  type ServeProcess,
} from '../../helpers/cli.ts';
import { pgCtl, postgresProcesses, stopLeftoverPostgres } from '../../helpers/pg-cluster.ts';
import { readPostmasterPid } from '../../../src/store/processes.ts';
import { eventually, fixturePath, isAlive } from '../../helpers/plugin-fixtures.ts';

/**
 * SPEC section 2, the embedded cluster's life, through the real `bin/taskhost` with no
 * DATABASE_URL: created on first use, shared by every taskhost process of a directory (a
 * server and CLI commands side by side), stopped by its last user, reused after its owner
 * is SIGKILLed, migrated once, and the one-line message when root's postgres user cannot
 * reach the project. Each test has its own fresh project directory, so its own cluster.
 */

const env = cliEnv();
const TEST_TIMEOUT = 90_000;

/** A fresh project directory (0755) for one test; its processes and cluster are stopped after it. */
class Project {
  readonly dir: string;
  readonly dataDir: string;
  private readonly children = new Set<ResultPromise>();

  constructor(t: TestContext, parent = os.tmpdir()) {
    this.dir = fs.mkdtempSync(path.join(parent, 'taskhost-embedded-'));
    fs.chmodSync(this.dir, 0o755);
    this.dataDir = path.join(this.dir, '.taskhost', 'pg');
    t.after(() => this.cleanup());
  }

  run(args: readonly string[], timeoutMs = 60_000): Promise<CliResult> {
    return taskhost(args, { cwd: this.dir, env, timeoutMs });
  }

  /** Starts `taskhost serve` on a free port and waits until it listens. */
  async serve(): Promise<ServeProcess> {
    const server = await startServe(['--tasks', path.join(this.dir, 'no-tasks')], {
      cwd: this.dir,
      env,
      timeoutMs: 120_000,
    });
    this.children.add(server.child);
    return server;
  }

  /**
   * Asserts that no postmaster is left for this project, waiting for a stop in progress (polled:
   * the postmaster is not our child; the limit is a hang guard).
   */
  async assertNoPostgres(when: string): Promise<void> {
    const gone = await eventually(
      () =>
        !fs.existsSync(path.join(this.dataDir, 'postmaster.pid')) &&
        postgresProcesses(this.dataDir).length === 0,
      30_000,
    );
    assert.ok(
      gone,
      `${when}: postgres left behind: postmaster.pid ${readPostmasterPid(this.dataDir)}, processes ${postgresProcesses(this.dataDir).join(' ')}`,
    );
  }

  /** Opens the project's cluster from this test process (its own anchor), runs `fn`, leaves it. */
  async withStore<T>(fn: (store: Store) => Promise<T>): Promise<T> {
    const cluster = await EmbeddedCluster.acquire(path.join(this.dir, '.taskhost'));
    const store = new Store(
      { ...cluster.connection, application_name: `taskhost/${process.pid}`, max: 2 },
      () => cluster.release(),
    );
    try {
      return await fn(store);
    } finally {
      await store.close();
    }
  }

  private async cleanup(): Promise<void> {
    for (const child of this.children) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await child;
    }
    await stopLeftoverPostgres(this.dataDir);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

async function listed(project: Project): Promise<ListedPlugin[]> {
  const result = await project.run(['list', '--json']);
  assertExit(result, 0);
  return stdoutJson<ListedPlugin[]>(result);
}

async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

test(
  'a command on a fresh directory creates the cluster and leaves no postgres behind',
  { timeout: TEST_TIMEOUT },
  async (t) => {
    const project = new Project(t);
    assert.equal(fs.existsSync(path.join(project.dir, '.taskhost')), false);
    const result = await project.run(['register', '-name', 'fresh', '-location', fixturePath('ok.sh')]);
    assertExit(result, 0);
    assert.ok(
      fs.existsSync(path.join(project.dataDir, 'PG_VERSION')),
      'the cluster was created in .taskhost/pg',
    );
    await project.assertNoPostgres('after register');

    // The data outlives the postmaster: the next command starts it again and finds the entry.
    const rows = await listed(project);
    assert.deepEqual(
      rows.map((row) => [row.name, row.location]),
      [['fresh', fixturePath('ok.sh')]],
    );
    const execute = await project.run(['execute', '-name', 'fresh', '-taskArgs', '{"name": "embedded"}']);
    assertExit(execute, 0);
    assert.equal(stdoutJson<{ payload: { greeting: string } }>(execute).payload.greeting, 'hello embedded');
    await project.assertNoPostgres('after list and execute');
  },
);

test(
  'acquire says once that PostgreSQL is on its way, whether it creates the cluster, starts it or finds it running',
  { timeout: TEST_TIMEOUT },
  async (t) => {
    const project = new Project(t);
    const root = path.join(project.dir, '.taskhost');
    const acquire = async (): Promise<{ cluster: EmbeddedCluster; calls: number }> => {
      let calls = 0;
      const cluster = await EmbeddedCluster.acquire(root, undefined, () => (calls += 1));
      return { cluster, calls };
    };
    const created = await acquire();
    assert.equal(created.calls, 1, 'a new cluster');
    await created.cluster.release();
    await project.assertNoPostgres('after the first release');

    const started = await acquire();
    assert.equal(started.calls, 1, 'a stopped cluster started');
    const attached = await acquire();
    assert.equal(attached.calls, 1, 'a running cluster found');
    await attached.cluster.release();
    await started.cluster.release();
    await project.assertNoPostgres('after both releases');
  },
);

test(
  'processes starting together on a fresh directory all succeed on one cluster',
  { timeout: TEST_TIMEOUT },
  async (t) => {
    const project = new Project(t);
    const results = await Promise.all([
      project.run(['register', '-name', 'first', '-location', fixturePath('ok.sh')]),
      project.run(['register', '-name', 'second', '-location', fixturePath('echo-data.sh')]),
      project.run(['list', '--json']),
    ]);
    for (const result of results) assertExit(result, 0);
    await project.assertNoPostgres('after the parallel commands');
    assert.deepEqual(
      (await listed(project)).map((row) => row.name),
      ['first', 'second'],
    );
    await project.assertNoPostgres('after list');
  },
);

test(
  'a server and CLI commands share one cluster; the server stops it on SIGINT',
  { timeout: TEST_TIMEOUT },
  async (t) => {
    const project = new Project(t);
    const server = await project.serve();
    const postmaster = readPostmasterPid(project.dataDir);
    assert.ok(postmaster !== null && isAlive(postmaster), 'the server started a postmaster');
    assert.deepEqual(postgresProcesses(project.dataDir), [postmaster], 'one postmaster for the directory');

    const register = await project.run(['register', '-name', 'shared', '-location', fixturePath('ok.sh')]);
    assertExit(register, 0);
    const execute = await project.run([
      'execute',
      '-name',
      'shared',
      '-taskArgs',
      '{"name": "side by side"}',
    ]);
    assertExit(execute, 0);
    const runId = stdoutJson<{ run_id: string }>(execute).run_id;
    const both = await Promise.all([project.run(['list', '--json']), project.run(['list'])]);
    for (const result of both) assertExit(result, 0);
    assert.deepEqual(
      stdoutJson<ListedPlugin[]>(both[0]).map((row) => row.name),
      ['shared'],
    );

    // The CLI commands left; the server's postmaster is the same one, still running.
    assert.equal(readPostmasterPid(project.dataDir), postmaster, 'postmaster.pid unchanged');
    assert.ok(isAlive(postmaster), 'the postmaster survived the CLI commands');
    assert.deepEqual(postgresProcesses(project.dataDir), [postmaster]);

    // The server still answers, and sees what the CLI stored.
    const ping = await getJson(`${server.url}/unsecured/mon/ping`);
    assert.deepEqual(ping, { status: 200, body: { status: 'pong' } });
    const plugin = await getJson(`${server.url}/plugin/shared`);
    assert.equal(plugin.status, 200);
    assert.equal(plugin.body.name, 'shared');
    const run = await getJson(`${server.url}/run/${runId}`);
    assert.equal(run.status, 200);
    assert.equal(run.body.state, 'DONE');

    server.child.kill('SIGINT');
    const ended = await server.child;
    assert.equal(ended.timedOut, false);
    assert.ok(!server.stderr().includes('    at '), `no stack trace: ${server.stderr()}`);
    await project.assertNoPostgres('after the server stopped');
    assert.equal(isAlive(postmaster), false);
  },
);

test(
  'after its owner is SIGKILLed, the next command reuses the cluster, sees the data, and stops it',
  { timeout: TEST_TIMEOUT },
  async (t) => {
    const project = new Project(t);
    assertExit(await project.run(['register', '-name', 'survivor', '-location', fixturePath('ok.sh')]), 0);
    const before = await project.run(['execute', '-name', 'survivor', '-taskArgs', '{"name": "before"}']);
    assertExit(before, 0);
    const firstRun = stdoutJson<{ run_id: string }>(before).run_id;

    const server = await project.serve();
    const postmaster = readPostmasterPid(project.dataDir);
    assert.ok(postmaster !== null && isAlive(postmaster));
    const during = await project.run(['execute', '-name', 'survivor', '-taskArgs', '{"name": "during"}']);
    assertExit(during, 0);
    const secondRun = stdoutJson<{ run_id: string }>(during).run_id;

    server.child.kill('SIGKILL');
    const killed = await server.child;
    assert.equal(killed.signal, 'SIGKILL');

    const rows = await listed(project);
    assert.deepEqual(
      rows.map((row) => [row.name, row.location]),
      [['survivor', fixturePath('ok.sh')]],
    );
    await project.assertNoPostgres('after the command that followed the kill');

    const runs = await project.withStore(async (store) => {
      const { rows: found } = await store.query<{ id: string; state: string; events: number }>(
        `SELECT run.id, run.state, (SELECT count(*)::int FROM event WHERE stream_id = run.id) AS events
         FROM run WHERE run.id = ANY($1::uuid[]) ORDER BY run.created_at`,
        [[firstRun, secondRun]],
      );
      return found;
    });
    assert.deepEqual(
      runs.map((row) => [row.id, row.state]),
      [
        [firstRun, 'DONE'],
        [secondRun, 'DONE'],
      ],
    );
    for (const row of runs) assert.ok(row.events >= 3, `run ${row.id} kept its events (${row.events})`);
    await project.assertNoPostgres('after reading the runs');
  },
);

test(
  'migrations are applied once: a second command leaves taskhost_migration unchanged',
  { timeout: TEST_TIMEOUT },
  async (t) => {
    const project = new Project(t);
    const readMigrations = (): Promise<unknown[]> =>
      project.withStore(async (store) => {
        const { rows } = await store.query(
          'SELECT version, name, applied_at FROM taskhost_migration ORDER BY version',
        );
        return rows;
      });

    assertExit(await project.run(['register', '-name', 'migrated', '-location', fixturePath('ok.sh')]), 0);
    const first = await readMigrations();
    assert.deepEqual(
      first.map((row) => (row as { version: number }).version),
      listMigrations().map((migration) => migration.version),
      'every migration applied',
    );

    assertExit(await project.run(['list', '--json']), 0);
    assertExit(await project.run(['execute', '-name', 'migrated']), 0);
    const second = await readMigrations();
    assert.deepEqual(second, first, 'nothing applied again');
    await project.assertNoPostgres('after the migration checks');
  },
);

test(
  'as root, a project the postgres user cannot reach fails in one line naming the fix',
  { timeout: TEST_TIMEOUT },
  async (t) => {
    const outer = fs.mkdtempSync(path.join(os.tmpdir(), 'taskhost-x700-'));
    fs.chmodSync(outer, 0o700);
    t.after(() => fs.rmSync(outer, { recursive: true, force: true }));
    const project = new Project(t, outer);
    const result = await project.run(['list', '--json']);

    if (process.getuid?.() === 0) {
      const line = assertOneLineError(result, 1);
      assert.match(line, /chmod/);
      assert.match(line, /DATABASE_URL/);
      assert.ok(line.includes(outer), `names the blocking directory ${outer}: ${line}`);
      assert.equal(result.stdout, '');
      assert.equal(fs.existsSync(path.join(project.dataDir, 'PG_VERSION')), false, 'no cluster was made');
    } else {
      // Not root: postgres runs as this user, who owns the 0700 directory.
      assertExit(result, 0);
      assert.deepEqual(stdoutJson<ListedPlugin[]>(result), []);
    }
    await project.assertNoPostgres('after the refused command');
  },
);

test(
  'the embedded cluster restarted under a server: the server goes on, and when it stops the cluster stops',
  { timeout: TEST_TIMEOUT },
  async (t) => {
    const project = new Project(t);
    const server = await project.serve();
    await pgCtl(project.dataDir, ['restart', '-m', 'fast', '-l', path.join(project.dataDir, 'restart.log')]);
    const postmaster = readPostmasterPid(project.dataDir);
    assert.ok(postmaster !== null && isAlive(postmaster), 'restarted');
    // Its pool reconnects: a route that reads the store answers again. Should the request
    // fail, what the server said (and whether it is still running) goes with the failure.
    const plugins = await getJson(`${server.url}/plugin`).catch((error: unknown) => {
      throw new Error(
        `GET /plugin after the restart: ${(error as Error).message}; server exit code ${server.child.exitCode}; stderr: ${server.stderr()}`,
      );
    });
    assert.equal(plugins.status, 200);
    process.kill(server.child.pid as number, 'SIGINT');
    const ended = await server.child;
    assert.equal(ended.exitCode, 130, server.stderr());
    // Its anchor connection died with the restart: it asked on a fresh one, found itself the
    // last user, and stopped the cluster.
    await project.assertNoPostgres('after the server stopped');
  },
);
