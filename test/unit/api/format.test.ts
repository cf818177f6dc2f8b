import assert from 'node:assert/strict';
import { test } from 'node:test';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { toXml } from '../../../src/api/format.ts';

/** Lists as XML (`?format=xml`): what each JSON value becomes, and that any value stays XML. */

const parser = new XMLParser({
  ignoreAttributes: false,
  parseTagValue: false,
  isArray: (name) => ['run', 'item', 'entry'].includes(name),
});

test('an item per element; keys as elements; lists as <item>; null as nil; other keys as <entry key=…>', () => {
  const xml = toXml(
    [
      {
        id: 'r1',
        count: 3,
        ok: true,
        none: null,
        empty: '',
        list: ['a', 'b'],
        nested: { depth: { deeper: 1 } },
        tags: { team: 'payments', 'team name': 'x', '@_attr': 'y', entry: 'z', xmlns: 'w' },
        rows: [{ n: 1 }, [2, 3]],
        nothing: [],
        hollow: {},
      },
      { id: 'r2' },
    ],
    'run',
  );
  assert.equal(XMLValidator.validate(xml), true);
  assert.match(xml, /^<\?xml version="1\.0" encoding="UTF-8"\?>\n<runs>\n {2}<run>/);
  const [first, second] = (parser.parse(xml) as { runs: { run: Record<string, unknown>[] } }).runs.run;
  assert.deepEqual(first, {
    id: 'r1',
    count: '3',
    ok: 'true',
    none: { '@_nil': 'true' },
    empty: '',
    list: { item: ['a', 'b'] },
    nested: { depth: { deeper: '1' } },
    tags: {
      team: 'payments',
      entry: [
        { '@_key': 'team name', '#text': 'x' },
        { '@_key': '@_attr', '#text': 'y' },
        { '@_key': 'entry', '#text': 'z' },
        { '@_key': 'xmlns', '#text': 'w' },
      ],
    },
    rows: { item: [{ n: '1' }, { item: ['2', '3'] }] },
    nothing: '',
    hollow: '',
  });
  assert.deepEqual(second, { id: 'r2' });
});

test('markup is escaped and characters XML cannot carry become U+FFFD, so the document always parses', () => {
  const xml = toXml([{ text: 'a < b & "c" \u0000\u001b[31m\uD800 ok', 'k\u0001': 'v' }], 'run');
  assert.equal(XMLValidator.validate(xml), true);
  const [item] = (parser.parse(xml) as { runs: { run: Record<string, unknown>[] } }).runs.run;
  assert.deepEqual(item, {
    text: 'a < b & "c" \uFFFD\uFFFD[31m\uFFFD ok',
    entry: [{ '@_key': 'k\uFFFD', '#text': 'v' }],
  });
});

test('an empty list is an empty root element', () => {
  const xml = toXml([], 'comment');
  assert.equal(XMLValidator.validate(xml), true);
  assert.deepEqual(parser.parse(xml).comments, '');
});
