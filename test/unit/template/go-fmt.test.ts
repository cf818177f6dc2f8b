import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sprintf } from '../../../src/template/helpers/go-fmt.ts';
import { renderString } from '../../../src/template/render.ts';

/** `printf` is Go's fmt.Sprintf: the verbs, flags and in-band errors µTask templates meet. */

test('printf: the common verbs', () => {
  assert.equal(
    sprintf('%s %d %v %q %f %x %X %t %%', ['a', 5, [1, 2], 'b"c', 1.5, 255, 'hi', true]),
    'a 5 [1 2] "b\\"c" 1.500000 ff 6869 true %',
  );
  assert.equal(sprintf('%v|%v|%v|%+v', [{ b: 1, a: 'x' }, null, 1.25, 3]), 'map[a:x b:1]|<nil>|1.25|+3');
  assert.equal(sprintf('%T %T %T %T', ['s', 1, 1.5, [1]]), 'string int float64 []interface {}');
  assert.equal(
    sprintf('%e|%E|%g|%g|%g|%.3g', [1234.5678, 0.000123, 1e6, 100000, 0.000012345, 3.14159]),
    '1.234568e+03|1.230000E-04|1e+06|100000|1.2345e-05|3.14',
  );
  assert.equal(sprintf('%o %b %c %U %#x %#o', [8, 5, 65, 0x1f600, 255, 8]), '10 101 A U+1F600 0xff 010');
  assert.equal(sprintf('%q %#q', ['é\n\x01', 'raw']), '"é\\n\\x01" `raw`');
});

test('printf: width, precision and flags', () => {
  assert.equal(
    sprintf('[%5s][%-5s][%.2s][%05d][%+d][% d][%8.3f][%-8.2f][%x]', [
      'ab',
      'ab',
      'abcdef',
      42,
      7,
      7,
      3.14159,
      2.5,
      -255,
    ]),
    '[   ab][ab   ][ab][00042][+7][ 7][   3.142][2.50    ][-ff]',
  );
  assert.equal(sprintf('%*d|%-*d|%.*f', [4, 7, 3, 1, 2, 1.005]), '   7|1  |1.00');
  assert.equal(sprintf('%6.2f%%', [99.5]), ' 99.50%');
});

test("printf: Go's in-band errors for a wrong type, a missing and an extra argument", () => {
  assert.equal(sprintf('%d', ['x']), '%!d(string=x)');
  assert.equal(sprintf('%d', [1.5]), '%!d(float64=1.5)');
  assert.equal(sprintf('%t', [1]), '%!t(int=1)');
  assert.equal(sprintf('%s %s', ['a']), 'a %!s(MISSING)');
  assert.equal(sprintf('%s', ['a', 1, 'b']), 'a%!(EXTRA int=1, string=b)');
  assert.equal(sprintf('%s', [null]), '%!s(<nil>)');
  assert.equal(sprintf('%z', [1]), '%!z(int=1)');
  assert.equal(sprintf('100%', []), '100%!(NOVERB)');
  assert.equal(sprintf('%d', [[1, 2]]), '[1 2]');
});

test('printf in a template, with the µTask README signature example rewritten from its pipes', async () => {
  const context = {
    config: { apiovh: { applicationSecret: 'secret', consumerKey: 'ck', basePath: 'https://api' } },
    function_args: { method: 'GET', path: '/me', body: '' },
    pre_hook: { output: 1700000000 },
  };
  // Go: {{ printf "%s+%s+%s+%s%s+%s+%v" a b c d e f g | sha1sum | printf "$1$%s"}}
  const rendered = await renderString(
    '{{printf "$1$%s" (sha1sum (printf "%s+%s+%s+%s%s+%s+%v" config.apiovh.applicationSecret config.apiovh.consumerKey function_args.method config.apiovh.basePath function_args.path function_args.body pre_hook.output))}}',
    context,
  );
  const { createHash } = await import('node:crypto');
  const expected = createHash('sha1').update('secret+ck+GET+https://api/me++1700000000').digest('hex');
  assert.equal(rendered, `$1$${expected}`);
});
