import fs from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import type { Queryable } from '../../src/store/store.ts';

/** What the raw-database tests read: every row of every table of the schema, as text. */
export async function dumpAllRows(db: Queryable): Promise<string> {
  const { rows: tables } = await db.query<{ name: string }>(
    `SELECT quote_ident(table_name) AS name FROM information_schema.tables
      WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name`,
  );
  const parts: string[] = [];
  for (const { name } of tables) {
    const { rows } = await db.query<{ row: string }>(`SELECT t::text AS row FROM ${name} t`);
    parts.push(`-- ${name}`, ...rows.map((row) => row.row));
  }
  return parts.join('\n');
}

/** The labels of a ring file, oldest first. */
export function ringLabels(file: string): string[] {
  const ring = JSON.parse(fs.readFileSync(file, 'utf8')) as { keys: { label: string }[] };
  return ring.keys.map((key) => key.label);
}

/** The key ring `taskhost` makes in a project by default (`--data-dir` .taskhost). */
export function defaultKeysFile(cwd: string): string {
  return path.join(cwd, '.taskhost', 'keys.json');
}

/** Every message of a WebSocket stream (snapshot and events) until the server closes it. */
export function streamText(url: string): Promise<string> {
  const socket = new WebSocket(url.replace(/^http/, 'ws'));
  const messages: string[] = [];
  return new Promise((resolve, reject) => {
    socket.on('message', (data: Buffer) => messages.push(data.toString('utf8')));
    socket.on('error', reject);
    socket.on('close', () => resolve(messages.join('\n')));
  });
}
