import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LineSplitter, OutputLimiter, type OutputLine } from '../../../src/plugins/output.ts';

function split(chunks: Array<string | Buffer>, maxLineBytes = 1024): string[] {
  const lines: string[] = [];
  const splitter = new LineSplitter(maxLineBytes, (line) => lines.push(line));
  for (const chunk of chunks) splitter.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  splitter.end();
  return lines;
}

function stdout(text: string): OutputLine {
  return { stream: 'stdout', text };
}

const cost = (line: OutputLine): number => Buffer.byteLength(line.text) + 1;

test('LineSplitter: lines are cut at newlines, across chunk boundaries', () => {
  assert.deepEqual(split(['one\ntw', 'o\nthr', 'ee\n']), ['one', 'two', 'three']);
});

test('LineSplitter: a last line without a trailing newline is emitted by end()', () => {
  const lines: string[] = [];
  const splitter = new LineSplitter(1024, (line) => lines.push(line));
  splitter.push(Buffer.from('log\n{"status": 1}'));
  assert.deepEqual(lines, ['log']);
  splitter.end();
  assert.deepEqual(lines, ['log', '{"status": 1}']);
});

test('LineSplitter: empty lines are kept, CRLF loses its CR, and end() adds no phantom line', () => {
  assert.deepEqual(split(['a\n\nb\r\n', '\n']), ['a', '', 'b', '']);
  assert.deepEqual(split([]), []);
});

test('LineSplitter: a UTF-8 character split across chunks is decoded whole', () => {
  const bytes = Buffer.from('héllo ✓\n');
  const at = bytes.indexOf(0xa9); // the second byte of "é"
  assert.deepEqual(split([bytes.subarray(0, at), bytes.subarray(at)]), ['héllo ✓']);
});

test('LineSplitter: a line longer than the limit is cut there and marked; the next line is whole', () => {
  const lines = split(['x'.repeat(30), 'y'.repeat(30), '\nnext\n'], 40);
  assert.equal(lines.length, 2);
  assert.equal(lines[0], `${'x'.repeat(30)}${'y'.repeat(10)} [taskhost: line cut at 40 bytes]`);
  assert.equal(lines[1], 'next');
  assert.deepEqual(split(['z'.repeat(40), '\n'], 40), ['z'.repeat(40)], 'exactly the limit is not cut');
});

test('OutputLimiter: under the cap every line is delivered live, with no notice', () => {
  const delivered: OutputLine[] = [];
  const limiter = new OutputLimiter(1000, (line) => delivered.push(line));
  const lines = Array.from({ length: 20 }, (_, i) => stdout(`line ${i}`));
  for (const line of lines) limiter.push(line);
  assert.deepEqual(delivered, lines, 'delivered as pushed, before finish()');
  assert.deepEqual(limiter.finish(), { lines: 0, bytes: 0 });
  assert.deepEqual(delivered, lines);
});

test('OutputLimiter: over the cap it delivers the head live, then a notice and the tail', () => {
  const cap = 400; // head 300 bytes, tail 100 bytes
  const delivered: OutputLine[] = [];
  const limiter = new OutputLimiter(cap, (line) => delivered.push(line));
  const lines = Array.from({ length: 200 }, (_, i) => stdout(`line ${String(i).padStart(3, '0')}`)); // 9 bytes each
  for (const line of lines) limiter.push(line);
  const live = delivered.length;
  assert.ok(live > 0 && live < lines.length, `${live} lines delivered live`);
  assert.deepEqual(delivered, lines.slice(0, live), 'the head is the first lines, in order');

  const dropped = limiter.finish();
  const notice = delivered[live];
  const tail = delivered.slice(live + 1);
  assert.equal(notice?.stream, 'taskhost');
  assert.match(
    notice?.text ?? '',
    new RegExp(
      `^output cap reached: ${dropped.lines} lines \\(${dropped.bytes} bytes\\) dropped; the last ${tail.length} lines follow$`,
    ),
  );
  assert.deepEqual(tail, lines.slice(lines.length - tail.length), 'the tail is the last lines, in order');
  assert.equal(live + dropped.lines + tail.length, lines.length, 'every line is delivered or counted');
  assert.equal(dropped.bytes, dropped.lines * 9);
  const deliveredBytes = [...delivered.slice(0, live), ...tail].reduce((sum, line) => sum + cost(line), 0);
  assert.ok(deliveredBytes <= cap, `${deliveredBytes} bytes delivered over a ${cap}-byte cap`);
  assert.ok(deliveredBytes > cap - 20, `only ${deliveredBytes} bytes of a ${cap}-byte cap used`);
});

test('OutputLimiter: the tail is bounded at 256 KiB however large the cap and the output', () => {
  let delivered = 0;
  let afterNotice = 0;
  let notices = 0;
  const cap = 8 * 1024 * 1024;
  const limiter = new OutputLimiter(cap, (line) => {
    if (line.stream === 'taskhost') notices += 1;
    else {
      delivered += cost(line);
      if (notices > 0) afterNotice += cost(line);
    }
  });
  const line = stdout('x'.repeat(1023));
  for (let i = 0; i < 20 * 1024; i += 1) limiter.push(line); // 20 MiB
  const dropped = limiter.finish();
  assert.equal(notices, 1);
  assert.ok(delivered <= cap, `${delivered} bytes delivered`);
  assert.equal(delivered + dropped.bytes, 20 * 1024 * 1024);
  assert.ok(dropped.bytes >= 20 * 1024 * 1024 - cap);
  assert.ok(afterNotice <= 256 * 1024 && afterNotice > 250 * 1024, `tail of ${afterNotice} bytes`);
});

test('OutputLimiter: once a line went to the tail, later small lines do not jump ahead of it', () => {
  const delivered: OutputLine[] = [];
  const limiter = new OutputLimiter(100, (line) => delivered.push(line)); // head 75, tail 25
  limiter.push(stdout('a'.repeat(60)));
  limiter.push(stdout('b'.repeat(20))); // does not fit the head: goes to the tail
  limiter.push(stdout('c')); // would fit the head, but must stay after "b"
  assert.deepEqual(
    delivered.map((line) => line.text),
    ['a'.repeat(60)],
  );
  assert.deepEqual(limiter.finish(), { lines: 0, bytes: 0 });
  assert.deepEqual(
    delivered.map((line) => line.text),
    ['a'.repeat(60), 'b'.repeat(20), 'c'],
  );
});
