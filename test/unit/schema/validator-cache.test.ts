import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { SCHEMAS_DIR } from '../../../src/paths.ts';
import { tempDir } from '../../helpers/plugin-fixtures.ts';

/**
 * Validators are compiled from the schema and cached as ajv's code in the user's own cache
 * directory: used when the directory and the file are private to the user, ignored (and
 * compiled again) when they are not. Each case runs in a fresh process (empty memory cache).
 */

const run = promisify(execFile);
const PROBE = fileURLToPath(new URL('../../helpers/validator-probe.ts', import.meta.url));
const ajvVersion = (createRequire(import.meta.url)('ajv/package.json') as { version: string }).version;
const schema = { type: 'object', required: ['n'], properties: { n: { type: 'integer', minimum: 1 } } };

async function probe(cacheHome: string, data: unknown): Promise<string> {
  return probeWith(cacheHome, [JSON.stringify(schema), JSON.stringify(data)]);
}

async function probeWith(cacheHome: string, args: readonly string[]): Promise<string> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', PROBE, ...args], {
    env: { ...process.env, XDG_CACHE_HOME: cacheHome },
  });
  return stdout;
}

function cachedFile(cacheHome: string, of: unknown = schema): string {
  const key = createHash('sha256').update(JSON.stringify(of)).digest('base64url');
  return path.join(cacheHome, 'taskhost', `validators-ajv-${ajvVersion}`, `${key}.cjs`);
}

/** Code that a validator would be if someone had written it: says everything is valid. */
const ACCEPTS_ALL = 'module.exports = function () { return true; };';

test('a compiled validator is kept as a private file, and the next process loads it from there', async (t) => {
  const home = tempDir(t);
  assert.equal(await probe(home, { n: 0 }), 'invalid');
  const file = cachedFile(home);
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  assert.equal(fs.statSync(path.dirname(file)).mode & 0o777, 0o700);
  assert.match(fs.readFileSync(file, 'utf8'), /minimum|limit/i, 'ajv code for this schema');
  // Proof that the next process reads the file rather than compiling: replace what it holds.
  fs.writeFileSync(file, ACCEPTS_ALL);
  assert.equal(await probe(home, { n: 0 }), 'valid');
});

test('a cache file others could write, or a directory others could enter, is never loaded', async (t) => {
  const home = tempDir(t);
  await probe(home, { n: 5 });
  const file = cachedFile(home);
  fs.writeFileSync(file, ACCEPTS_ALL);
  fs.chmodSync(file, 0o666);
  assert.equal(await probe(home, { n: 0 }), 'invalid', 'a file writable by others is ignored');
  fs.chmodSync(file, 0o600);
  fs.writeFileSync(file, ACCEPTS_ALL);
  fs.chmodSync(path.dirname(file), 0o777);
  assert.equal(await probe(home, { n: 0 }), 'invalid', 'a directory open to others is ignored');
});

test('a damaged cache file is compiled again and replaced', async (t) => {
  const home = tempDir(t);
  await probe(home, { n: 5 });
  const file = cachedFile(home);
  fs.writeFileSync(file, 'this is not javascript {');
  assert.equal(await probe(home, { n: 0 }), 'invalid');
  assert.notEqual(fs.readFileSync(file, 'utf8'), 'this is not javascript {');
});

test("the template checker's validator of schemas/template.schema.json is kept there too, and loaded by the next process", async (t) => {
  const home = tempDir(t);
  const template =
    'name: probe-template\ndescription: a probe template\nsteps:\n  a:\n    action: {type: echo}\n    colour: red\n';
  const first = await probeWith(home, ['--template', template]);
  assert.match(first, /^invalid\nunknown key "colour"/);
  const templateSchema = JSON.parse(
    fs.readFileSync(path.join(SCHEMAS_DIR, 'template.schema.json'), 'utf8'),
  ) as unknown;
  const file = cachedFile(home, templateSchema);
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  // The next process takes the cached code rather than compiling the schema again (~75 ms).
  fs.writeFileSync(file, ACCEPTS_ALL);
  assert.equal(await probeWith(home, ['--template', template]), 'valid');
});
