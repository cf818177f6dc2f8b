import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { readUsersFile, verifyPassword } from '../../../src/api/auth/users-file.ts';
import { CHALLENGE } from '../../../src/api/auth/authenticate.ts';
import { basic } from '../../helpers/auth.ts';
import {
  assertExit,
  assertOneLineError,
  cliEnv,
  startTaskhost,
  stdoutJson,
  taskhost,
} from '../../helpers/cli.ts';
import { fixturePath, tempDir } from '../../helpers/plugin-fixtures.ts';
import { createTestDatabase } from '../../helpers/store.ts';

/**
 * `taskhost user add|remove|list` through the real `bin/taskhost` (SPEC section 8 "Auth"):
 * the password read from stdin and stored as a scrypt hash in a 0600 file, groups, clear
 * one-line errors; and `taskhost serve` with that file: auth on, a non-loopback bind
 * allowed, 401 without the password, admins from TASKHOST_ADMINS. Without a users file a
 * non-loopback bind is refused.
 */

const database = await createTestDatabase();
const env = cliEnv({ DATABASE_URL: database.url });

const user = (cwd: string, args: string[], input?: string) =>
  taskhost(['user', ...args], { cwd, env, ...(input === undefined ? {} : { input }) });

const usersFile = (cwd: string): string => path.join(cwd, '.taskhost', 'users');

test('user add reads the password from stdin and stores a scrypt hash with a random salt, file mode 0600', async (t) => {
  const cwd = tempDir(t);
  const added = await user(cwd, ['add', 'alice', '--groups', 'ops, leads'], 's3cret pass\n');
  assertExit(added, 0);
  assert.match(added.stderr, /^taskhost: user alice added to \.taskhost\/users \(groups: ops, leads\)\n$/);
  assertExit(await user(cwd, ['add', 'bob'], 's3cret pass'), 0);

  const file = usersFile(cwd);
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  const text = fs.readFileSync(file, 'utf8');
  assert.ok(!text.includes('s3cret'), 'the password is not stored');
  const stored = readUsersFile(file);
  assert.deepEqual(stored?.users.alice?.groups, ['ops', 'leads']);
  const [aliceHash, bobHash] = [stored?.users.alice?.hash ?? '', stored?.users.bob?.hash ?? ''];
  assert.match(aliceHash, /^scrypt\$16384\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
  assert.notEqual(aliceHash, bobHash, 'the same password hashes differently (its own salt)');
  // Only the line break that ends stdin is dropped.
  assert.equal(await verifyPassword('s3cret pass', aliceHash), true);
  assert.equal(await verifyPassword('s3cret pass\n', aliceHash), false);
  assert.equal(await verifyPassword('s3cret pass', bobHash), true);
});

test('user list shows names and groups (table and --json); add again changes the password, keeping the groups', async (t) => {
  const cwd = tempDir(t);
  const empty = await user(cwd, ['list']);
  assertExit(empty, 0);
  assert.match(empty.stderr, /no users in \.taskhost\/users/);
  assertExit(await user(cwd, ['add', 'carol', '--groups', 'ops'], 'first'), 0);
  assertExit(await user(cwd, ['add', 'alice'], 'pw'), 0);
  const table = await user(cwd, ['list']);
  assertExit(table, 0);
  assert.equal(table.stdout, 'NAME   GROUPS\nalice\ncarol  ops\n');

  const again = await user(cwd, ['add', 'carol'], 'second');
  assertExit(again, 0);
  assert.match(again.stderr, /user carol updated in/);
  const hash = readUsersFile(usersFile(cwd))?.users.carol?.hash ?? '';
  assert.equal(await verifyPassword('second', hash), true);
  assert.equal(await verifyPassword('first', hash), false);
  assert.deepEqual(stdoutJson(await user(cwd, ['list', '--json'])), [
    { name: 'alice', groups: [] },
    { name: 'carol', groups: ['ops'] },
  ]);
});

test('user remove takes a user out; the file stays 0600; --users-file and TASKHOST_USERS_FILE name another file', async (t) => {
  const cwd = tempDir(t);
  assertExit(await user(cwd, ['add', 'alice'], 'pw'), 0);
  assertExit(await user(cwd, ['add', 'bob'], 'pw'), 0);
  const removed = await user(cwd, ['remove', 'alice']);
  assertExit(removed, 0);
  assert.deepEqual(Object.keys(readUsersFile(usersFile(cwd))?.users ?? {}), ['bob']);
  assert.equal(fs.statSync(usersFile(cwd)).mode & 0o777, 0o600);
  const last = await user(cwd, ['remove', 'bob']);
  assert.match(last.stderr, /no user is left, and basic auth stays on while the file exists/);

  assertExit(await user(cwd, ['add', 'dan', '--users-file', 'elsewhere/users'], 'pw'), 0);
  assert.deepEqual(Object.keys(readUsersFile(path.join(cwd, 'elsewhere', 'users'))?.users ?? {}), ['dan']);
  const viaEnv = await taskhost(['user', 'list', '--json'], {
    cwd,
    env: { ...env, TASKHOST_USERS_FILE: 'elsewhere/users' },
  });
  assert.deepEqual(stdoutJson(viaEnv), [{ name: 'dan', groups: [] }]);
});

test('bad usage is one clear line, exit 2, and leaves the file as it was', async (t) => {
  const cwd = tempDir(t);
  assertExit(await user(cwd, ['add', 'alice'], 'pw'), 0);
  const before = fs.readFileSync(usersFile(cwd), 'utf8');
  const cases: [string[], string | undefined, RegExp][] = [
    [['add', 'bob'], '', /^taskhost: no password for bob: write it on stdin/],
    [['add', 'bob'], '\n', /^taskhost: no password for bob/],
    [['add', 'a:b'], 'pw', /^taskhost: user name "a:b" is not valid: 1 to 128 characters, no colon/],
    [['add', 'bob', '--groups', 'a b'], 'pw', /^taskhost: group "a b" is not valid/],
    [['remove', 'nobody'], undefined, /^taskhost: no user "nobody" in \.taskhost\/users$/],
  ];
  for (const [args, input, message] of cases) {
    assert.match(assertOneLineError(await user(cwd, args, input), 2), message, args.join(' '));
  }
  assert.equal(fs.readFileSync(usersFile(cwd), 'utf8'), before);

  fs.writeFileSync(path.join(cwd, 'broken'), '{"users": []}');
  assert.match(
    assertOneLineError(await user(cwd, ['list', '--users-file', 'broken']), 2),
    /^taskhost: broken: not a taskhost users file/,
  );
});

/** Starts `taskhost serve` with `args`; resolves with its port once it listens. */
async function serve(
  t: TestContext,
  cwd: string,
  args: string[],
  extra: Record<string, string> = {},
): Promise<number> {
  const child = startTaskhost(['serve', '--port', '0', ...args], {
    cwd,
    env: { ...env, ...extra },
    timeoutMs: 120_000,
  });
  t.after(async () => {
    child.kill('SIGTERM');
    await child;
  });
  let text = '';
  return new Promise<number>((resolve, reject) => {
    child.stderr?.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const port = /listening on http:\/\/[^\n]*:(\d+)\n/.exec(text)?.[1];
      if (port && /API spec/.test(text)) resolve(Number(port));
    });
    void child.then((result) =>
      reject(new Error(`serve exited (${result.exitCode}) before listening: ${text}`)),
    );
  });
}

test('serve: no users file, a non-loopback --host is refused; with one, it binds, and asks for the password', async (t) => {
  const cwd = tempDir(t);
  fs.mkdirSync(path.join(cwd, 'tasks'));
  fs.copyFileSync(fixturePath('echo-data.sh'), path.join(cwd, 'tasks', 'echo-data.sh'));
  fs.chmodSync(path.join(cwd, 'tasks', 'echo-data.sh'), 0o755);
  const refused = assertOneLineError(
    await taskhost(['serve', '--host', '0.0.0.0', '--port', '0'], { cwd, env }),
    2,
  );
  assert.match(refused, /refusing to listen on 0\.0\.0\.0: no authentication is configured/);

  assertExit(await user(cwd, ['add', 'alice'], 'alice-pw'), 0);
  assertExit(await user(cwd, ['add', 'bob'], 'bob-pw'), 0);
  const port = await serve(t, cwd, ['--host', '0.0.0.0'], { TASKHOST_ADMINS: 'alice' });
  const url = `http://127.0.0.1:${port}`;
  const anonymous = await fetch(`${url}/plugin`);
  assert.equal(anonymous.status, 401);
  assert.equal(anonymous.headers.get('www-authenticate'), CHALLENGE);
  assert.equal((await fetch(`${url}/plugin`, { headers: basic('alice', 'wrong') })).status, 401);
  assert.equal((await fetch(`${url}/plugin`, { headers: basic('bob', 'bob-pw') })).status, 200);
  // alice is an admin (TASKHOST_ADMINS), bob is not: only she registers plugins.
  const register = (who: string, password: string) =>
    fetch(`${url}/plugin`, {
      method: 'POST',
      headers: { ...basic(who, password), 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'nope', location: '/nonexistent' }),
    });
  assert.equal((await register('bob', 'bob-pw')).status, 403);
  assert.equal((await register('alice', 'alice-pw')).status, 400, 'past the right: the file is checked');
  // The CLI's client commands take the credentials in --server's URL, HTTP and WebSocket.
  const withPassword = `http://bob:bob-pw@127.0.0.1:${port}`;
  assert.deepEqual(
    stdoutJson(await taskhost(['task', 'list', '--json', '--server', withPassword], { cwd, env })),
    [],
  );
  const executed = await taskhost(
    ['execute', '--name', 'echo-data', '--args', '{"who": "bob"}', '--server', withPassword, '--async'],
    { cwd, env },
  );
  assertExit(executed, 0);
  assert.deepEqual((stdoutJson(executed) as { payload: unknown }).payload, { who: 'bob' });
  assert.match(
    assertOneLineError(await taskhost(['task', 'list', '--server', url], { cwd, env }), 1),
    /^taskhost: server: authentication required/,
  );
  // A user added while serving logs in at the next request.
  assertExit(await user(cwd, ['add', 'carol'], 'carol-pw'), 0);
  assert.equal((await fetch(`${url}/plugin`, { headers: basic('carol', 'carol-pw') })).status, 200);
});
