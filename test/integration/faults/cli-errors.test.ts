import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { WebSocketServer } from 'ws';
import { embeddedPlatformProblem } from '../../../src/store/embedded.ts';
import { startTestServer, type Envelope } from '../../helpers/api-server.ts';
import {
  assertExit,
  assertOneLineError,
  cliEnv,
  stdoutJson,
  taskhost,
  type CliResult,
} from '../../helpers/cli.ts';
import { tempDir } from '../../helpers/plugin-fixtures.ts';

/**
 * Issue "plugin host under faults", items 11, 15, 16 and 17, through the real `bin/taskhost`:
 * socket directories someone else could control, one-line errors checked before any store
 * is opened, `run watch` at the end of a run and on a malformed frame, single-dash flags,
 * and the platforms the embedded store runs on.
 */

const server = await startTestServer();
const env = cliEnv({ DATABASE_URL: server.db.url });

test('15: register of a missing file fails in one line, before any store is opened (no initdb)', async (t) => {
  const dir = tempDir(t);
  const result = await taskhost(['register', '-name', 'ghost', '-location', './ghost.sh'], {
    cwd: dir,
    env: cliEnv(),
  });
  assert.match(assertOneLineError(result, 2), /ghost\.sh: no such file/);
  assert.equal(fs.existsSync(path.join(dir, '.taskhost')), false, 'no embedded cluster was created');
});

test('15: on a fresh directory a failing command prints its error alone: progress notices go to terminals only', async (t) => {
  const dir = tempDir(t);
  fs.chmodSync(dir, 0o755);
  const result = await taskhost(['execute', '-name', 'nope', '-taskArgs', '{}'], {
    cwd: dir,
    env: cliEnv(),
    timeoutMs: 120_000,
  });
  assert.match(assertOneLineError(result, 2), /no plugin named "nope"/);
  assert.ok(
    fs.existsSync(path.join(dir, '.taskhost', 'pg', 'PG_VERSION')),
    'the cluster was created, silently',
  );
});

test('11: a socket directory that others can write, or that belongs to someone else, is refused in one line', async (t) => {
  // A project path too long for a socket address puts the socket under $TMPDIR, by a
  // predictable name: another local user could make that directory first.
  const temp = tempDir(t);
  const parent = tempDir(t);
  // As root, the postmaster runs as another user, who must be able to reach both.
  fs.chmodSync(temp, 0o755);
  fs.chmodSync(parent, 0o755);
  const project = path.join(parent, 'a-project-directory-whose-name-is-long'.repeat(2));
  fs.mkdirSync(project);
  const dataDir = path.join(project, '.taskhost', 'pg');
  const socketDir = path.join(
    temp,
    `taskhost-${createHash('sha256').update(dataDir).digest('hex').slice(0, 16)}`,
  );
  fs.mkdirSync(socketDir);
  fs.chmodSync(socketDir, 0o777);
  const run = (): Promise<CliResult> =>
    taskhost(['list'], { cwd: project, env: cliEnv({ TMPDIR: temp }), timeoutMs: 120_000 });
  const open = await run();
  assert.match(assertOneLineError(open, 1), /refusing .*socket directory .*can be written by others/);
  fs.chmodSync(socketDir, 0o700);
  fs.chownSync(socketDir, 65534, 65534);
  const foreign = await run();
  assert.match(assertOneLineError(foreign, 1), /refusing .*socket directory .*belongs to uid 65534/);
  assert.equal(fs.existsSync(path.join(dataDir, 'PG_VERSION')), false, 'refused before initdb');
  fs.rmSync(socketDir, { recursive: true });
  const fresh = await run();
  assertExit(fresh, 0);
  assert.equal(fs.statSync(socketDir).mode & 0o777, 0o700, 'made private when taskhost makes it');
});

test('16: run watch --since at or past the last event of a run that succeeded exits 0', async () => {
  await server.register('ok', 'ok.sh');
  const ran = await server.request<Envelope>('POST', '/plugin/ok/run', { data: { name: 'ada' } });
  assert.equal(ran.body.state, 'DONE');
  const { body: run } = await server.request<{ last_seq: number }>('GET', `/run/${ran.body.run_id}`);
  for (const since of [run.last_seq, run.last_seq + 5]) {
    const watched = await taskhost(
      ['run', 'watch', ran.body.run_id, '--server', server.url, '--since', String(since)],
      { env },
    );
    assertExit(watched, 0);
  }
});

test('16: a malformed frame from the server is a one-line error, not a stack trace', async (t) => {
  const fake = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  t.after(() => fake.close());
  fake.on('connection', (socket) => socket.send('this is not a stream frame'));
  await new Promise((resolve) => fake.once('listening', resolve));
  const url = `http://127.0.0.1:${(fake.address() as AddressInfo).port}`;
  const result = await taskhost(['run', 'watch', 'some-run', '--server', url], { env });
  assert.match(assertOneLineError(result, 1), /malformed stream frame/);
});

test('16: every long flag has its single-dash form (-args-file, -quiet, -data-dir)', async (t) => {
  const dir = tempDir(t);
  fs.chmodSync(dir, 0o755);
  const argsFile = path.join(dir, 'args.json');
  fs.writeFileSync(argsFile, '{"name": "grace"}');
  const quiet = await taskhost(['execute', '-name', 'ok', '-args-file', argsFile, '-quiet'], { env });
  assertExit(quiet, 0);
  assert.equal(stdoutJson<Envelope>(quiet).state, 'DONE');
  assert.equal(quiet.stderr, '', '-quiet: no log lines');
  const dataDir = path.join(dir, 'elsewhere');
  const listed = await taskhost(['list', '-data-dir', dataDir], {
    cwd: dir,
    env: cliEnv(),
    timeoutMs: 120_000,
  });
  assertExit(listed, 0);
  assert.ok(fs.existsSync(path.join(dataDir, 'pg', 'PG_VERSION')), '-data-dir moved the embedded store');
});

test('17: the embedded store names the platforms it runs on, and the README says so too', () => {
  assert.equal(embeddedPlatformProblem('linux'), null);
  for (const platform of ['darwin', 'win32', 'freebsd']) {
    const problem = embeddedPlatformProblem(platform) ?? '';
    assert.match(problem, /runs on Linux only/);
    assert.match(problem, new RegExp(`this is ${platform}`));
    assert.match(problem, /set DATABASE_URL/);
  }
  const readme = fs.readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  assert.match(readme, /embedded PostgreSQL runs on Linux/);
});
