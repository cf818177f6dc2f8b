import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import WebSocket from 'ws';
import { addUser } from '../../src/api/auth/users-file.ts';

/** The Authorization header of basic auth. */
export function basic(username: string, password: string): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}` };
}

/**
 * A users file holding `users` (name → groups), each with the password `NAME-password`,
 * written as `taskhost user add` writes it, in a temporary directory removed after the file's tests.
 */
export async function usersFileWith(users: Record<string, string[]>): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'taskhost-users-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'users');
  for (const [name, groups] of Object.entries(users)) await addUser(file, name, passwordOf(name), groups);
  return file;
}

export function passwordOf(username: string): string {
  return `${username}-password`;
}

/** How a WebSocket upgrade went: 101 with the first message, or the HTTP answer that refused it. */
export interface UpgradeOutcome {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The first message (the snapshot) when upgraded; the refusal's body otherwise. */
  first: Record<string, unknown> | null;
}

/**
 * Opens a stream at `url` with `headers` (from `localAddress`, when given), reads its first
 * message (or the refusal), and closes it.
 */
export function openStream(
  url: string,
  headers: Record<string, string> = {},
  localAddress?: string,
): Promise<UpgradeOutcome> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers, localAddress });
    socket.once('unexpected-response', (_request, response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => {
        let parsed: Record<string, unknown> | null = null;
        try {
          parsed = JSON.parse(body) as Record<string, unknown>;
        } catch {
          parsed = null;
        }
        resolve({ status: response.statusCode ?? 0, headers: response.headers, first: parsed });
        socket.terminate();
      });
    });
    socket.once('message', (data) => {
      resolve({ status: 101, headers: {}, first: JSON.parse(String(data)) as Record<string, unknown> });
      socket.close();
    });
    // After an answer, a late error changes nothing (a promise settles once).
    socket.on('error', reject);
  });
}
