import { TaskhostError } from '../../errors.ts';
import type { Queryable, Store } from '../store.ts';
import { missingKey, RingCodec } from './codec.ts';
import { createKeyRing, readKeyRing, writeKeyRing } from './key-ring.ts';
import { countRowsByLabel, labelsInUse, rotateKeys } from './rotate.ts';

/**
 * Encryption at rest at start, and the key ring's commands (`taskhost key add|list|remove`).
 *
 * At start, under an advisory lock (processes starting together take turns):
 * - no ring file: when the database has never held encrypted data (no label recorded in
 *   `encryption_key`), a ring of one key is created (mode 0600); otherwise the start is
 *   refused, naming the labels the database uses;
 * - a ring that lacks a label the database records: refused, naming it;
 * - the ring's newest label is recorded (it is about to encrypt).
 * Then values still in clear (a database filled before migration 0009) are converted in
 * batches: the migration step in code, resumable like a rotation. A database created with
 * 0009 already in its schema (migrations 1 and 9 applied by one transaction) is not looked
 * at: every write goes through the codec, so it never held a value in clear (should one
 * appear, `key list` counts it and `key rotate` encrypts it), and the look (every encrypted
 * table's key_label index, on the command's fresh connection) cost 5-9 ms of each CLI command.
 */

const LOCK_KEY = 0x6b657973; // "keys"

interface Recorded {
  /** The labels the database records, oldest first. */
  labels: string[];
  /** Whether values in clear may be left: the database was filled before migration 0009. */
  clearPossible: boolean;
}

async function recorded(db: Queryable): Promise<Recorded> {
  const { rows } = await db.query<{ labels: string[]; clear_possible: boolean }>(
    `SELECT ARRAY(SELECT label FROM encryption_key ORDER BY first_used_at) AS labels,
            coalesce((SELECT min(applied_at) FILTER (WHERE version = 9) <> min(applied_at) FILTER (WHERE version = 1)
                        FROM taskhost_migration), true) AS clear_possible`,
  );
  const row = rows[0];
  return { labels: row?.labels ?? [], clearPossible: row?.clear_possible ?? true };
}

/**
 * Loads (or creates) the ring for `store`, checks it against the database, converts values in
 * clear. The usual start (a ring holding every recorded label, its newest recorded) reads
 * one row set and takes no lock; anything else is settled under the lock.
 */
export async function prepareEncryption(store: Store, keysFile: string): Promise<RingCodec> {
  const existing = readKeyRing(keysFile);
  if (existing) {
    const { labels, clearPossible } = await recorded(store);
    if (labels.includes(existing.newest.label) && labels.every((label) => existing.has(label))) {
      return convertClearValues(store, new RingCodec(existing), clearPossible);
    }
  }
  const { ring, clearPossible } = await store.transaction(async (db) => {
    await db.query('SELECT pg_advisory_xact_lock($1)', [LOCK_KEY]);
    const { labels, clearPossible } = await recorded(db);
    let found = readKeyRing(keysFile);
    if (!found) {
      if (labels.length > 0) {
        throw new TaskhostError(
          'TH_KEY_MISSING',
          `the key ring ${keysFile} does not exist, but the database holds values encrypted under key ${labels.join(', ')}; restore the ring (encryption.keys_file, TASKHOST_KEYS_FILE)`,
        );
      }
      found = createKeyRing(keysFile);
    }
    const lacking = labels.filter((label) => !found.has(label));
    if (lacking.length > 0) throw missingKey(keysFile, lacking);
    await db.query('INSERT INTO encryption_key (label) VALUES ($1) ON CONFLICT DO NOTHING', [
      found.newest.label,
    ]);
    return { ring: found, clearPossible };
  });
  return convertClearValues(store, new RingCodec(ring), clearPossible);
}

/** Values still in clear (a database filled before migration 0009) encrypted, in batches. */
async function convertClearValues(
  store: Store,
  codec: RingCodec,
  clearPossible: boolean,
): Promise<RingCodec> {
  if (clearPossible && (await labelsInUse(store, ['']))) await rotateKeys(store, codec, { stale: [''] });
  return codec;
}

/** `taskhost key add`: a new key, the newest from now on (the ring file rewritten, mode 0600). */
export async function addKey(store: Store, codec: RingCodec): Promise<string> {
  const ring = codec.reload().withNewKey();
  writeKeyRing(ring);
  await store.query('INSERT INTO encryption_key (label) VALUES ($1) ON CONFLICT DO NOTHING', [
    ring.newest.label,
  ]);
  codec.reload();
  return ring.newest.label;
}

export interface KeyUse {
  label: string;
  rows: number;
  newest: boolean;
}

/** `taskhost key list`: the ring's labels, oldest first, with how many rows each encrypts. */
export async function listKeys(store: Store, codec: RingCodec): Promise<{ keys: KeyUse[]; clear: number }> {
  const ring = codec.reload();
  const counts = await countRowsByLabel(store);
  return {
    keys: ring.keys.map((key) => ({
      label: key.label,
      rows: counts.get(key.label) ?? 0,
      newest: key.label === ring.newest.label,
    })),
    clear: counts.get('') ?? 0,
  };
}

/** `taskhost key remove LABEL`: refused for the newest key, and while any row uses the key. */
export async function removeKey(store: Store, codec: RingCodec, label: string): Promise<void> {
  const ring = codec.reload();
  if (!ring.has(label)) {
    throw new TaskhostError('TH_KEY_NOT_FOUND', `the key ring ${ring.file} has no key ${label}`);
  }
  if (ring.newest.label === label) {
    throw new TaskhostError(
      'TH_KEY_IN_USE',
      `key ${label} is the newest: it encrypts new values; add a key and rotate before removing it`,
    );
  }
  await store.transaction(async (db) => {
    await db.query('SELECT pg_advisory_xact_lock($1)', [LOCK_KEY]);
    if (await labelsInUse(db, [label])) {
      throw new TaskhostError(
        'TH_KEY_IN_USE',
        `key ${label} still encrypts stored values; rotate (taskhost key rotate) before removing it`,
      );
    }
    await db.query('DELETE FROM encryption_key WHERE label = $1', [label]);
    writeKeyRing(ring.without(label));
  });
  codec.reload();
}
