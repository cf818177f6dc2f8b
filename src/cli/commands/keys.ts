import { TaskhostError } from '../../errors.ts';
import type { Store } from '../../store/store.ts';
import type { RingCodec } from '../../store/crypto/codec.ts';
import { withStore, type StoreFlags } from '../context.ts';
import { formatTable, printJson } from '../output.ts';

/**
 * `taskhost key add|list|remove|rotate`: the key ring of encryption at rest (SPEC section 8,
 * "Data at rest"; store/crypto/). They open the store like any command, which loads and
 * checks the ring first.
 */

async function withRing<T>(
  flags: StoreFlags,
  fn: (store: Store, codec: RingCodec) => Promise<T>,
): Promise<T> {
  const { RingCodec } = await import('../../store/crypto/codec.ts');
  return withStore(flags, async ({ store }) => {
    if (!(store.codec instanceof RingCodec)) {
      throw new TaskhostError('TH_INTERNAL', 'the store has no key ring');
    }
    return fn(store, store.codec);
  });
}

export async function keyAdd(flags: StoreFlags): Promise<number> {
  const { addKey } = await import('../../store/crypto/encryption.ts');
  return withRing(flags, async (store, codec) => {
    const label = await addKey(store, codec);
    process.stdout.write(
      `added key ${label} to ${codec.keyRing.file}: it encrypts new values; "taskhost key rotate" re-encrypts the stored ones\n`,
    );
    return 0;
  });
}

export async function keyList(flags: StoreFlags & { json?: boolean }): Promise<number> {
  const { listKeys } = await import('../../store/crypto/encryption.ts');
  return withRing(flags, async (store, codec) => {
    const { keys, clear } = await listKeys(store, codec);
    if (flags.json) {
      printJson(keys);
      return 0;
    }
    const rows = keys.map((key) => [
      key.label,
      String(key.rows),
      key.newest ? 'newest: encrypts new values' : '',
    ]);
    process.stdout.write(`${formatTable(['LABEL', 'ROWS', ''], rows)}\n`);
    if (clear > 0) process.stdout.write(`${clear} row(s) still in clear\n`);
    return 0;
  });
}

export async function keyRemove(label: string, flags: StoreFlags): Promise<number> {
  const { removeKey } = await import('../../store/crypto/encryption.ts');
  return withRing(flags, async (store, codec) => {
    await removeKey(store, codec, label);
    process.stdout.write(`removed key ${label} from ${codec.keyRing.file}\n`);
    return 0;
  });
}

export async function keyRotate(flags: StoreFlags): Promise<number> {
  const { rotateKeys } = await import('../../store/crypto/rotate.ts');
  return withRing(flags, async (store, codec) => {
    codec.reload();
    const progress = process.stderr.isTTY
      ? ({ table, rows }: { table: string; rows: number }) =>
          process.stderr.write(`\rtaskhost: ${table}: ${rows} row(s) re-encrypted`)
      : undefined;
    const result = await rotateKeys(store, codec, { onBatch: progress });
    if (progress) process.stderr.write('\n');
    process.stdout.write(`re-encrypted ${result.rows} row(s) under key ${codec.newestLabel}\n`);
    return 0;
  });
}
