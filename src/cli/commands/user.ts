import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import type { Command } from 'commander';
import { addUser, parseGroups, readUsersFile, removeUser } from '../../api/auth/users-file.ts';
import { TaskhostError } from '../../errors.ts';
import { settingsOf } from '../config.ts';
import { formatTable, printJson } from '../output.ts';

/**
 * `taskhost user add|remove|list`: the basic-auth users file (SPEC section 8). Its path is
 * `--users-file` (TASKHOST_USERS_FILE), else taskhost.yaml's `auth.users_file`
 * (.taskhost/users). Basic auth is on for `taskhost serve` once the file exists.
 */

interface UserFlags {
  usersFile?: string;
  groups?: string;
  json?: boolean;
}

async function usersFileOf(flags: UserFlags, command: Command): Promise<string> {
  return flags.usersFile ?? (await settingsOf(command)).auth.usersFile;
}

/** A password typed on a terminal, not echoed. */
function promptHidden(question: string): Promise<string> {
  process.stderr.write(question);
  const muted = new Writable({ write: (_chunk, _encoding, done) => done() });
  const reader = createInterface({ input: process.stdin, output: muted, terminal: true });
  return new Promise((resolve) => {
    reader.question('', (answer) => {
      reader.close();
      process.stderr.write('\n');
      resolve(answer);
    });
  });
}

/** The password: all of stdin without its final line break, or typed at a prompt on a terminal. */
async function readPassword(): Promise<string> {
  if (process.stdin.isTTY) return promptHidden('password: ');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

export async function userAdd(name: string, flags: UserFlags, command: Command): Promise<number> {
  const file = await usersFileOf(flags, command);
  const groups = flags.groups === undefined ? undefined : parseGroups(flags.groups);
  const password = await readPassword();
  if (password === '') {
    throw new TaskhostError(
      'TH_CLI_USAGE',
      `no password for ${name}: write it on stdin (printf '%s' "$PASSWORD" | taskhost user add ${name})`,
    );
  }
  const added = await addUser(file, name, password, groups);
  const entry = readUsersFile(file)?.users[name];
  const shownGroups = entry?.groups.length ? ` (groups: ${entry.groups.join(', ')})` : '';
  process.stderr.write(`taskhost: user ${name} ${added ? 'added to' : 'updated in'} ${file}${shownGroups}\n`);
  return 0;
}

export async function userRemove(name: string, flags: UserFlags, command: Command): Promise<number> {
  const file = await usersFileOf(flags, command);
  removeUser(file, name);
  const left = Object.keys(readUsersFile(file)?.users ?? {}).length;
  process.stderr.write(
    `taskhost: user ${name} removed from ${file}` +
      (left === 0 ? '; no user is left, and basic auth stays on while the file exists\n' : '\n'),
  );
  return 0;
}

export async function userList(flags: UserFlags, command: Command): Promise<number> {
  const file = await usersFileOf(flags, command);
  const users = Object.entries(readUsersFile(file)?.users ?? {})
    .map(([name, entry]) => ({ name, groups: entry.groups }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (flags.json) {
    printJson(users);
  } else if (users.length === 0) {
    process.stderr.write(`taskhost: no users in ${file} (add one with: taskhost user add NAME)\n`);
  } else {
    process.stdout.write(
      `${formatTable(
        ['NAME', 'GROUPS'],
        users.map((user) => [user.name, user.groups.join(',')]),
      )}\n`,
    );
  }
  return 0;
}
