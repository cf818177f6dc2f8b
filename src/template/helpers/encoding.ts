/**
 * Encodings, digests and random values: sprig's b64enc/b64dec/b32enc/b32dec (a decoding
 * error is returned as the text, as sprig does), µTask's b64RawEnc/b64RawDec (unpadded),
 * sha1sum/sha256sum/sha512sum/adler32sum, µTask's `uuid` and sprig's `uuidv4`,
 * randBytes, and encryptAES/decryptAES (AES-256-CBC, the key being the password's bytes
 * padded with zeros to 32, a random IV in front: sprig's format, so values interoperate).
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes, randomUUID } from 'node:crypto';
import { fixed, HelperError, int, str, type HelperTable } from './helper.ts';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** Go's base64 decoders' strictness: the alphabet, then padding (or its absence when raw). */
function base64Decode(text: string, raw: boolean): string {
  const invalid = text.search(/[^A-Za-z0-9+/=]/);
  if (invalid >= 0) return `illegal base64 data at input byte ${invalid}`;
  const body = text.replace(/=+$/, '');
  const padding = text.length - body.length;
  const bodyError = body.indexOf('=');
  if (bodyError >= 0) return `illegal base64 data at input byte ${bodyError}`;
  if (raw ? padding > 0 || body.length % 4 === 1 : text.length % 4 !== 0 || padding > 2) {
    return `illegal base64 data at input byte ${raw && padding > 0 ? body.length : Math.max(body.length - (body.length % 4), 0)}`;
  }
  return Buffer.from(body, 'base64').toString('utf8');
}

function base32Encode(bytes: Buffer): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out + '='.repeat((8 - (out.length % 8)) % 8);
}

function base32Decode(text: string): string {
  if (text.length % 8 !== 0) return `illegal base32 data at input byte ${text.length - (text.length % 8)}`;
  const body = text.replace(/=+$/, '');
  const invalid = body.search(/[^A-Z2-7]/);
  if (invalid >= 0) return `illegal base32 data at input byte ${invalid}`;
  const bytes: number[] = [];
  let bits = 0;
  let value = 0;
  for (const char of body) {
    value = (value << 5) | BASE32.indexOf(char);
    bits += 5;
    if (bits >= 8) {
      bytes.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

function adler32(text: string): number {
  let a = 1;
  let b = 0;
  for (const byte of Buffer.from(text)) {
    a = (a + byte) % 65521;
    b = (b + a) % 65521;
  }
  return b * 65536 + a;
}

function aesKey(password: string): Buffer {
  const key = Buffer.alloc(32);
  Buffer.from(password).copy(key, 0, 0, 32);
  return key;
}

const digest = (algorithm: string) =>
  fixed(1, (value) => createHash(algorithm).update(str(value)).digest('hex'));

export const encodingHelpers: HelperTable = {
  b64enc: fixed(1, (value) => Buffer.from(str(value)).toString('base64')),
  b64dec: fixed(1, (value) => base64Decode(str(value), false)),
  b64RawEnc: fixed(1, (value) => Buffer.from(str(value)).toString('base64').replace(/=+$/, '')),
  b64RawDec: fixed(1, (value) => base64Decode(str(value), true)),
  b32enc: fixed(1, (value) => base32Encode(Buffer.from(str(value)))),
  b32dec: fixed(1, (value) => base32Decode(str(value))),
  sha1sum: digest('sha1'),
  sha256sum: digest('sha256'),
  sha512sum: digest('sha512'),
  adler32sum: fixed(1, (value) => String(adler32(str(value)))),
  uuid: fixed(0, () => randomUUID()),
  uuidv4: fixed(0, () => randomUUID()),
  randBytes: fixed(1, (count) => randomBytes(Math.max(int(count), 0)).toString('base64')),
  encryptAES: fixed(2, (password, plaintext) => {
    const text = str(plaintext);
    if (text === '') return '';
    const iv = randomBytes(16);
    const cipher = createCipheriv('aes-256-cbc', aesKey(str(password)), iv);
    return Buffer.concat([iv, cipher.update(text, 'utf8'), cipher.final()]).toString('base64');
  }),
  decryptAES: fixed(2, (password, encrypted) => {
    const text = str(encrypted);
    if (text === '') return '';
    const data = Buffer.from(text, 'base64');
    if (data.length < 32 || data.length % 16 !== 0) {
      throw new HelperError('decryptAES: ciphertext is not a multiple of the block size');
    }
    try {
      const decipher = createDecipheriv('aes-256-cbc', aesKey(str(password)), data.subarray(0, 16));
      return Buffer.concat([decipher.update(data.subarray(16)), decipher.final()]).toString('utf8');
    } catch {
      throw new HelperError('decryptAES: wrong password or corrupted ciphertext');
    }
  }),
};
