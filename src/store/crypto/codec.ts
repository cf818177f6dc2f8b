import {
  createCipheriv,
  createDecipheriv,
  createSecretKey,
  randomFillSync,
  type KeyObject,
} from 'node:crypto';
import { TaskhostError } from '../../errors.ts';
import { readKeyRing, type KeyRing } from './key-ring.ts';

/**
 * How the store writes and reads the values SPEC section 8 encrypts (inputs, outputs, errors,
 * log lines, comments…). A stored ciphertext is one string that names its key:
 *
 *     th1:<label>:<base64 of 12-byte IV | 16-byte GCM tag | AES-256-GCM ciphertext>
 *
 * In a `text` column it is the value; in a `jsonb` column it is a JSON string, so the
 * column keeps its type and the SQL that moves whole values (jsonb_to_recordset, unnest)
 * stays as it was. The label is also the GCM associated data: a ciphertext relabelled
 * by hand fails to decrypt rather than decrypting under the wrong name.
 *
 * Migration 0009 reads the labels back in SQL (`taskhost_key_label`) into each table's
 * `key_label`, which the rotation's index searches.
 */

export const CIPHER_PREFIX = 'th1:';

const IV_BYTES = 12;
const TAG_BYTES = 16;
/** IVs are cut from a buffer refilled by the CSPRNG 1024 at a time: one call per 1024 values. */
const IV_POOL = IV_BYTES * 1024;

export interface ValueCodec {
  /** False for the plaintext codec (stores opened without a key ring: tests and benches). */
  readonly encrypts: boolean;
  /** A text value as its column stores it. */
  text(value: string): string;
  text(value: string | null | undefined): string | null;
  /** A JSON value as a jsonb parameter (JSON text); SQL NULL for null and undefined. */
  json(value: unknown): string | null;
  /** A JSON value as it sits inside a JSON document handed to SQL (jsonb_to_recordset); null stays null. */
  jsonField(value: unknown): unknown;
  /** A text column's value as written. */
  readText(stored: string): string;
  readText(stored: string | null): string | null;
  /** A jsonb column's value (as pg parsed it) as written. */
  readJson<T = unknown>(stored: unknown): T;
}

/** Writes and reads values in clear: the codec of a store opened without a key ring. */
export const PLAINTEXT_CODEC: ValueCodec = {
  encrypts: false,
  text: ((value: string | null | undefined) => value ?? null) as ValueCodec['text'],
  json: (value) => (value === undefined || value === null ? null : JSON.stringify(value)),
  jsonField: (value) => value ?? null,
  readText: ((stored: string | null) => stored) as ValueCodec['readText'],
  readJson: <T>(stored: unknown) => stored as T,
};

interface CachedKey {
  label: string;
  key: KeyObject;
  aad: Buffer;
}

/** AES-256-GCM under a key ring: the newest key encrypts, any key of the ring decrypts. */
export class RingCodec implements ValueCodec {
  readonly encrypts = true;
  private ring: KeyRing;
  private keys = new Map<string, CachedKey>();
  private current!: CachedKey;
  private ivs = Buffer.alloc(0);
  private ivOffset = IV_POOL;

  constructor(ring: KeyRing) {
    this.ring = ring;
    this.load(ring);
  }

  get keyRing(): KeyRing {
    return this.ring;
  }

  /** The label new values are encrypted under. */
  get newestLabel(): string {
    return this.current.label;
  }

  /** Takes the ring as its file holds it now (after `taskhost key add`, before a rotation). */
  reload(): KeyRing {
    const ring = readKeyRing(this.ring.file);
    if (ring) this.load(ring);
    return this.ring;
  }

  private load(ring: KeyRing): void {
    const keys = new Map<string, CachedKey>();
    for (const entry of ring.keys) {
      keys.set(entry.label, {
        label: entry.label,
        key: createSecretKey(entry.key),
        aad: Buffer.from(entry.label),
      });
    }
    this.ring = ring;
    this.keys = keys;
    this.current = keys.get(ring.newest.label) as CachedKey;
  }

  private nextIv(): Buffer {
    if (this.ivOffset >= IV_POOL) {
      this.ivs = randomFillSync(Buffer.allocUnsafe(IV_POOL));
      this.ivOffset = 0;
    }
    const iv = this.ivs.subarray(this.ivOffset, this.ivOffset + IV_BYTES);
    this.ivOffset += IV_BYTES;
    return iv;
  }

  private seal(plain: string): string {
    const { label, key, aad } = this.current;
    const iv = this.nextIv();
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(aad);
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return `${CIPHER_PREFIX}${label}:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`;
  }

  private open(stored: string): string {
    const end = stored.indexOf(':', CIPHER_PREFIX.length);
    const label = stored.slice(CIPHER_PREFIX.length, end);
    let entry = this.keys.get(label);
    if (!entry) {
      // Another process may have added the key since this one read the ring.
      this.reload();
      entry = this.keys.get(label);
      if (!entry) throw missingKey(this.ring.file, [label]);
    }
    const bytes = Buffer.from(stored.slice(end + 1), 'base64');
    const decipher = createDecipheriv('aes-256-gcm', entry.key, bytes.subarray(0, IV_BYTES));
    decipher.setAAD(entry.aad);
    decipher.setAuthTag(bytes.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    try {
      return Buffer.concat([
        decipher.update(bytes.subarray(IV_BYTES + TAG_BYTES)),
        decipher.final(),
      ]).toString('utf8');
    } catch (error) {
      throw new TaskhostError(
        'TH_KEY_MISSING',
        `a value encrypted under key ${label} does not decrypt with the key of that label in ${this.ring.file}: the ring holds another key under that name`,
        { cause: error },
      );
    }
  }

  text(value: string): string;
  text(value: string | null | undefined): string | null;
  text(value: string | null | undefined): string | null {
    return value === null || value === undefined ? null : this.seal(value);
  }

  json(value: unknown): string | null {
    return value === undefined || value === null ? null : JSON.stringify(this.seal(JSON.stringify(value)));
  }

  jsonField(value: unknown): unknown {
    return value === undefined || value === null ? null : this.seal(JSON.stringify(value));
  }

  readText(stored: string): string;
  readText(stored: string | null): string | null;
  readText(stored: string | null): string | null {
    // A value written before the database was converted (migration 0009) reads as it is.
    return stored !== null && stored.startsWith(CIPHER_PREFIX) ? this.open(stored) : stored;
  }

  readJson<T = unknown>(stored: unknown): T {
    return (
      typeof stored === 'string' && stored.startsWith(CIPHER_PREFIX) ? JSON.parse(this.open(stored)) : stored
    ) as T;
  }
}

/** TH_KEY_MISSING naming the labels the ring lacks. */
export function missingKey(file: string, labels: readonly string[]): TaskhostError {
  const named = labels.map((label) => (label === '' ? '(none)' : label)).join(', ');
  return new TaskhostError(
    'TH_KEY_MISSING',
    `the key ring ${file} lacks key ${named}, which the database uses; restore that key to the ring`,
  );
}
