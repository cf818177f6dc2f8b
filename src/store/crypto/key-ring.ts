import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { TaskhostError } from '../../errors.ts';
import { stagePrivateJson } from '../../system/private-file.ts';

/**
 * The key ring (SPEC section 8, "Data at rest"): a JSON file of labelled AES-256 keys, mode
 * 0600, oldest first. The newest key encrypts; every key decrypts what carries its label.
 *
 * ```json
 * {"keys": [{"label": "k1-3fa9c2", "key": "<32 bytes, base64>", "created_at": "2026-…"}]}
 * ```
 *
 * A label is `k<N>-<6 hex>`: N counts up in the file, the random tail keeps two rings made
 * apart (two hosts, a lost file recreated) from ever naming different keys alike.
 */

export interface RingKey {
  label: string;
  /** 32 bytes. */
  key: Buffer;
  created_at: string;
}

const LABEL = /^[A-Za-z0-9_-]{1,64}$/;

/** The ring as read from (or about to be written to) its file. */
export class KeyRing {
  readonly file: string;
  readonly keys: readonly RingKey[];

  constructor(file: string, keys: readonly RingKey[]) {
    if (keys.length === 0) throw new TaskhostError('TH_CONFIG_INVALID', `the key ring ${file} holds no key`);
    this.file = file;
    this.keys = keys;
  }

  /** The key new values are encrypted with. */
  get newest(): RingKey {
    return this.keys[this.keys.length - 1] as RingKey;
  }

  get labels(): string[] {
    return this.keys.map((key) => key.label);
  }

  has(label: string): boolean {
    return this.keys.some((key) => key.label === label);
  }

  /** This ring with one more key, the newest (not yet written). */
  withNewKey(): KeyRing {
    const next = Math.max(0, ...this.keys.map((key) => Number(/^k(\d+)-/.exec(key.label)?.[1] ?? 0))) + 1;
    return new KeyRing(this.file, [...this.keys, newKey(next)]);
  }

  /** This ring without `label` (not yet written). */
  without(label: string): KeyRing {
    return new KeyRing(
      this.file,
      this.keys.filter((key) => key.label !== label),
    );
  }
}

function newKey(ordinal: number): RingKey {
  return {
    label: `k${ordinal}-${randomBytes(3).toString('hex')}`,
    key: randomBytes(32),
    created_at: new Date().toISOString(),
  };
}

/** A ring of one fresh key, for a database that holds no encrypted data yet. */
export function freshRing(file: string): KeyRing {
  return new KeyRing(file, [newKey(1)]);
}

/** Reads the ring; null when the file does not exist. A malformed file is a one-line error. */
export function readKeyRing(file: string): KeyRing | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new TaskhostError(
      'TH_CONFIG_INVALID',
      `cannot read the key ring ${file}: ${(error as Error).message}`,
    );
  }
  const bad = (what: string): TaskhostError =>
    new TaskhostError('TH_CONFIG_INVALID', `the key ring ${file} is not valid: ${what}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw bad('not JSON');
  }
  const list = (parsed as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(list) || list.length === 0) throw bad('"keys" must be a list of at least one key');
  const seen = new Set<string>();
  const keys = list.map((entry: unknown, index): RingKey => {
    const { label, key, created_at } = (entry ?? {}) as Record<string, unknown>;
    if (typeof label !== 'string' || !LABEL.test(label)) {
      throw bad(`keys[${index}].label must be letters, digits, "_" or "-"`);
    }
    if (seen.has(label)) throw bad(`the label ${label} appears twice`);
    seen.add(label);
    const bytes = typeof key === 'string' ? Buffer.from(key, 'base64') : Buffer.alloc(0);
    if (bytes.length !== 32) throw bad(`keys[${index}].key (${label}) must be 32 bytes in base64`);
    return { label, key: bytes, created_at: typeof created_at === 'string' ? created_at : '' };
  });
  return new KeyRing(file, keys);
}

function stage(ring: KeyRing): string {
  const body = {
    keys: ring.keys.map((key) => ({
      label: key.label,
      key: key.key.toString('base64'),
      created_at: key.created_at,
    })),
  };
  return stagePrivateJson(ring.file, body, 0o700);
}

/**
 * Writes the ring with mode 0600 (its directory created 0700 if missing), replacing the file
 * in one rename so a reader never sees half of it.
 */
export function writeKeyRing(ring: KeyRing): void {
  fs.renameSync(stage(ring), ring.file);
}

/**
 * Creates the ring file with one fresh key, unless it exists (another process of this host
 * created it meanwhile: link() refuses to replace a file); returns the ring the file holds.
 */
export function createKeyRing(file: string): KeyRing {
  const staged = stage(freshRing(file));
  try {
    fs.linkSync(staged, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    fs.rmSync(staged, { force: true });
  }
  return readKeyRing(file) as KeyRing;
}
