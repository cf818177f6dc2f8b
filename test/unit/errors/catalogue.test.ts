import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { ERROR_CODES } from '../../../src/errors.ts';

/** Rows of the README's error-code table: `| \`CODE\` | HTTP | exit | meaning |`. */
function documentedCodes(): Map<string, { http: number; exit: number }> {
  const readme = fs.readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  const rows = new Map<string, { http: number; exit: number }>();
  for (const match of readme.matchAll(/^\| `(TH_[A-Z_]+)` \| (\d{3}) \| (\d) \|/gm)) {
    rows.set(match[1] as string, { http: Number(match[2]), exit: Number(match[3]) });
  }
  return rows;
}

test('every error code is documented in the README with its HTTP status and exit code, and only those', () => {
  const documented = documentedCodes();
  assert.deepEqual([...documented.keys()].sort(), Object.keys(ERROR_CODES).sort());
  for (const [code, entry] of Object.entries(ERROR_CODES)) {
    assert.deepEqual(documented.get(code), { http: entry.http, exit: entry.exit }, code);
  }
});
