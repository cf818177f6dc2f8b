import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { FifoPool } from '../../../src/plugins/fifo-pool.ts';
import { tempDir } from '../../helpers/plugin-fixtures.ts';

test('pools sharing a directory (two processes) never hand out the same FIFO', async (t) => {
  const dir = tempDir(t);
  fs.chmodSync(dir, 0o700);
  const a = new FifoPool(8, dir);
  const b = new FifoPool(8, dir);
  const taken = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? a : b).take()));
  await Promise.all([a.settle(), b.settle()]);
  assert.equal(new Set(taken).size, taken.length, 'every FIFO handed out once');
  for (const file of taken) assert.ok(fs.statSync(file).isFIFO(), `${file} is a FIFO`);
  assert.ok(
    fs
      .readdirSync(dir)
      .every((name) => name.startsWith('ready-') || taken.some((file) => file.endsWith(name))),
    'the directory holds only ready FIFOs and the ones just claimed',
  );
});
