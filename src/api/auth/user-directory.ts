import { createHmac, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { readUsersFile, verifyPassword, type UserEntry } from './users-file.ts';

/** Logins remembered as checked (a bound on memory; the oldest is forgotten first). */
const REMEMBERED = 1000;

/**
 * The users of the users file as the server checks them: re-read when the file changes
 * (`taskhost user add` on a running server takes effect at the next request), and a
 * password checked once per process while it stays the same. scrypt costs tens of
 * milliseconds by design, and basic auth sends the password with every request; what is
 * remembered is an HMAC of name and password under a key of this process, never the
 * password, and only as long as the user's stored hash is the one it was checked against.
 */
export class UserDirectory {
  readonly #file: string;
  #users: Record<string, UserEntry> = {};
  #stamp = '';
  readonly #key = randomBytes(32);
  readonly #checked = new Map<string, string>();

  constructor(file: string) {
    this.#file = file;
  }

  /** The user's groups when name and password match, else null. */
  async authenticate(name: string, password: string): Promise<{ groups: string[] } | null> {
    await this.#refresh();
    const entry = Object.hasOwn(this.#users, name) ? this.#users[name] : undefined;
    if (!entry) return null;
    const token = createHmac('sha256', this.#key).update(name).update('\0').update(password).digest('base64');
    if (this.#checked.get(token) === entry.hash) return { groups: entry.groups };
    if (!(await verifyPassword(password, entry.hash))) return null;
    if (this.#checked.size >= REMEMBERED) this.#checked.delete(this.#checked.keys().next().value as string);
    this.#checked.set(token, entry.hash);
    return { groups: entry.groups };
  }

  async #refresh(): Promise<void> {
    let stamp: string;
    try {
      const stat = await fs.promises.stat(this.#file);
      stamp = `${stat.ino}:${stat.size}:${stat.mtimeMs}`;
    } catch {
      // Removed while serving: nobody logs in by password (auth stays on until a restart).
      stamp = 'none';
    }
    if (stamp === this.#stamp) return;
    this.#users = stamp === 'none' ? {} : (readUsersFile(this.#file)?.users ?? {});
    this.#stamp = stamp;
  }
}
