import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { CIPHER_PREFIX, PLAINTEXT_CODEC, RingCodec } from '../../../src/store/crypto/codec.ts';
import {
  createKeyRing,
  freshRing,
  KeyRing,
  readKeyRing,
  writeKeyRing,
  type RingKey,
} from '../../../src/store/crypto/key-ring.ts';
import { tempDir } from '../../helpers/plugin-fixtures.ts';

test('a text value and a JSON value come back as written; each ciphertext names its key and differs every time', (t) => {
  const ring = freshRing(path.join(tempDir(t), 'keys.json'));
  const codec = new RingCodec(ring);
  const label = ring.newest.label;
  const stored = codec.text('a log line: élan 🚀');
  assert.ok(stored.startsWith(`${CIPHER_PREFIX}${label}:`), stored);
  assert.ok(!stored.includes('élan'));
  assert.notEqual(codec.text('a log line: élan 🚀'), stored, 'a fresh IV for each value');
  assert.equal(codec.readText(stored), 'a log line: élan 🚀');

  const value = { nested: [1, 'two', null, { three: true }] };
  const param = codec.json(value) as string;
  // A jsonb parameter: a JSON string holding the ciphertext, which pg hands back as that string.
  const asRead = JSON.parse(param) as string;
  assert.ok(asRead.startsWith(`${CIPHER_PREFIX}${label}:`));
  assert.deepEqual(codec.readJson(asRead), value);
  assert.deepEqual(codec.readJson(codec.jsonField('a string')), 'a string');
  assert.equal(codec.json(null), null, 'SQL NULL stays NULL');
  assert.equal(codec.text(null), null);
  assert.equal(codec.jsonField(undefined), null);
});

test('a value in clear (written before the conversion) reads as it is', (t) => {
  const codec = new RingCodec(freshRing(path.join(tempDir(t), 'keys.json')));
  assert.equal(codec.readText('plain text'), 'plain text');
  assert.deepEqual(codec.readJson({ a: 1 }), { a: 1 });
  assert.equal(PLAINTEXT_CODEC.text('x'), 'x');
  assert.equal(PLAINTEXT_CODEC.json({ a: 1 }), '{"a":1}');
});

test('a tampered ciphertext, or one relabelled, does not decrypt', (t) => {
  const dir = tempDir(t);
  const ring = freshRing(path.join(dir, 'keys.json'));
  const codec = new RingCodec(ring);
  const stored = codec.text('secret value');
  const body = stored.slice(stored.lastIndexOf(':') + 1);
  const bytes = Buffer.from(body, 'base64');
  bytes.writeUInt8((bytes.at(-1) as number) ^ 1, bytes.length - 1);
  const tampered = `${stored.slice(0, stored.lastIndexOf(':') + 1)}${bytes.toString('base64')}`;
  assert.throws(() => codec.readText(tampered), { code: 'TH_KEY_MISSING' });

  // The same key under another label: the label is authenticated data.
  const other = ring.withNewKey();
  const relabelled = new RingCodec(
    new KeyRing(ring.file, [...ring.keys, { ...(ring.keys[0] as RingKey), label: other.newest.label }]),
  );
  const moved = stored.replace(`:${ring.newest.label}:`, `:${other.newest.label}:`);
  assert.throws(() => relabelled.readText(moved), { code: 'TH_KEY_MISSING' });
});

test('a label the ring lacks is named, after the ring file is read again', (t) => {
  const dir = tempDir(t);
  const writer = new RingCodec(freshRing(path.join(dir, 'a.json')));
  const file = path.join(dir, 'b.json');
  writeKeyRing(freshRing(file));
  const reader = new RingCodec(readKeyRing(file)!);
  assert.throws(
    () => reader.readText(writer.text('x')),
    (error: Error & { code?: string }) =>
      error.code === 'TH_KEY_MISSING' &&
      error.message.includes(writer.newestLabel) &&
      error.message.includes(file),
  );
});

test('a key added to the file by another process is found when a value needs it', (t) => {
  const file = path.join(tempDir(t), 'keys.json');
  const first = createKeyRing(file);
  const reader = new RingCodec(first);
  const grown = first.withNewKey();
  writeKeyRing(grown);
  const writer = new RingCodec(grown);
  assert.equal(reader.readText(writer.text('after key add')), 'after key add');
});

test('the ring file: created 0600 with one key, kept when it exists, malformed files named in one line', (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'nested', 'keys.json');
  const ring = createKeyRing(file);
  assert.equal(ring.keys.length, 1);
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  assert.equal(ring.newest.key.length, 32);
  assert.deepEqual(createKeyRing(file).labels, ring.labels, 'an existing ring is never replaced');
  const grown = ring.withNewKey();
  assert.match(grown.newest.label, /^k2-[0-9a-f]{6}$/);
  writeKeyRing(grown);
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  assert.deepEqual(readKeyRing(file)?.labels, grown.labels);
  assert.equal(readKeyRing(path.join(dir, 'none.json')), null);

  const bad = path.join(dir, 'bad.json');
  for (const [text, message] of [
    ['not json', /not JSON/],
    ['{"keys": []}', /"keys" must be a list/],
    ['{"keys": [{"label": "a:b", "key": ""}]}', /keys\[0\]\.label/],
    ['{"keys": [{"label": "k1", "key": "c2hvcnQ="}]}', /keys\[0\]\.key \(k1\) must be 32 bytes/],
  ] as const) {
    fs.writeFileSync(bad, text);
    assert.throws(
      () => readKeyRing(bad),
      (error: Error) => message.test(error.message) && !error.message.includes('\n'),
    );
  }
});
