import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StdoutScan } from '../../../../src/plugins/check/stdout-scan.ts';

/** Issue 16, what `plugin check` sees on a run's stdout (fed line by line, bounded memory). */

function scan(lines: readonly string[]): ReturnType<StdoutScan['summary']> {
  const scanner = new StdoutScan();
  for (const line of lines) scanner.push(line);
  return scanner.summary();
}

test('the last result line is the result; lines after it are counted (blank ones aside)', () => {
  const summary = scan([
    'log',
    '{"status": 0, "reason": "early"}',
    '{"status": 1}',
    '',
    'cleanup',
    '{"note": 1}',
  ]);
  assert.deepEqual(summary.result, { line: 3, text: '{"status": 1}' });
  assert.equal(summary.after, 2);
  assert.deepEqual(summary.firstAfter, { line: 5, text: 'cleanup' });
  assert.equal(summary.statusLike, 1, 'the superseded result is a log line with a "status" key');
  assert.deepEqual(summary.firstStatusLike, { line: 2, text: '{"status": 0, "reason": "early"}' });
  assert.equal(summary.lines, 6);
});

test('a later result resets what came after; the final result is not a status-like log line', () => {
  const summary = scan(['{"status": 1}', 'between', '{"status": 1, "reason": "last"}']);
  assert.equal(summary.after, 0);
  assert.equal(summary.firstAfter, null);
  assert.equal(summary.statusLike, 1);
  assert.equal(summary.firstStatusLike?.line, 1);
});

test('near misses say why they are not results: a non-integer status, invalid JSON', () => {
  const strings = scan(['{"status": "1"}']);
  assert.equal(strings.result, null);
  assert.match(strings.nearMiss?.why ?? '', /the string "1", not an integer/);
  assert.equal(strings.statusLike, 1);
  assert.match(scan(['{"status": 1.5}']).nearMiss?.why ?? '', /the number 1\.5/);
  assert.match(scan(["{'status': 1}"]).nearMiss?.why ?? '', /not valid JSON/);
  assert.equal(scan(['{"other": "json"}', 'text']).nearMiss, null);
  assert.equal(scan([]).result, null);
});
