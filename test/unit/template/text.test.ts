import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseGoDurationMs as parseGoDuration } from '../../../src/expr/duration.ts';
import { parseExpression } from '../../../src/template/expressions.ts';
import { compileGoRegex } from '../../../src/expr/go-regex.ts';
import { closest, didYouMean, editDistance } from '../../../src/template/suggest.ts';

/** The small readers of template text: suggestions, Go regexes and durations, Handlebars checks. */

test('editDistance counts a swap of neighbours as one edit; closest ignores case and far words', () => {
  assert.equal(editDistance('fecth', 'fetch'), 1);
  assert.equal(editDistance('dependecies', 'dependencies'), 1);
  assert.equal(editDistance('', 'abc'), 3);
  assert.equal(closest('done', ['DONE', 'PRUNE']), 'DONE');
  assert.equal(closest('zzzz', ['DONE', 'PRUNE']), undefined);
  assert.equal(closest('a', ['b']), 'b');
  assert.equal(didYouMean('minute', ['seconds', 'minutes', 'hours']), ' (did you mean "minutes"?)');
  assert.equal(didYouMean('fetch', ['fetch']), '');
});

test('compileGoRegex: Go flags, named groups, \\A \\z and POSIX classes; (?U) refused', () => {
  assert.equal(compileGoRegex('(?i)^abc$').test('ABC'), true);
  assert.equal(compileGoRegex('(?P<year>\\d{4})').exec('in 2024')?.groups?.year, '2024');
  assert.equal(compileGoRegex('\\Aab\\z').test('ab'), true);
  assert.equal(compileGoRegex('\\Aab\\z').test('xab'), false);
  assert.equal(compileGoRegex('^[[:alpha:]]+$').test('abc'), true);
  assert.equal(compileGoRegex('^[[:alpha:]]+$').test('ab1'), false);
  assert.equal(compileGoRegex('b').test('abc'), true, 'unanchored, like MatchString');
  assert.throws(() => compileGoRegex('(?U)a+'), /ungreedy flag/);
  assert.throws(() => compileGoRegex('(a'), /^Error: Unterminated group$/);
});

test('parseGoDuration: Go units and fractions, in milliseconds', () => {
  assert.equal(parseGoDuration('1h30m'), 5_400_000);
  assert.equal(parseGoDuration('1.5s'), 1500);
  assert.equal(parseGoDuration('500ms'), 500);
  assert.equal(parseGoDuration('2us'), 0.002);
  assert.equal(parseGoDuration('0'), 0);
  assert.equal(parseGoDuration('-2m'), -120_000);
});

test('parseExpression: plain text is not parsed; step.this is accepted; offsets point into the text as written', () => {
  assert.deepEqual(parseExpression('no expression here'), { references: [] });
  const { problem, references } = parseExpression('a {{step.this.output}} b {{input.x}}');
  assert.equal(problem, undefined);
  assert.deepEqual(
    references.map(({ original, offset }) => [original, offset]),
    [
      ['step.this.output', 4],
      ['input.x', 27],
    ],
  );
  // After a rewritten `.this`, offsets still count the characters as written.
  const broken = parseExpression('{{step.this.output}} {{.input.x}}');
  assert.equal(broken.problem?.offset, 23);
});

test('parseExpression: paths read in the root context only (not inside each/with), helpers excluded', () => {
  const { references } = parseExpression(
    '{{#each step.a.children}}{{output.x}}{{else}}{{input.none}}{{/each}}' +
      '{{#if (eq input.kind "x")}}{{step.b.state}}{{/if}}{{#with input.obj}}{{name}}{{/with}}{{@index}}',
  );
  assert.deepEqual(
    references.map((reference) => reference.original),
    ['step.a.children', 'input.none', 'input.kind', 'step.b.state', 'input.obj'],
  );
});

test('parseExpression: syntax errors say where and hint at µTask Go forms', () => {
  const cases: [string, number, string][] = [
    [
      'x {{.input.x}}',
      4,
      `invalid Handlebars in {{.input.x}}: unexpected "." (µTask's {{.input.x}} is written {{input.x}} here)`,
    ],
    [
      '{{ eval `v` }}',
      8,
      'invalid Handlebars in {{ eval `v` }}: unexpected "`v`" (a Go raw string `x` is written "x" here)',
    ],
    [
      '{{ x | toJson }}',
      5,
      'invalid Handlebars in {{ x | toJson }}: unexpected "|" (a Go pipe {{x | f a}} is written {{f a x}} here)',
    ],
    ['line\n{{#each l}}{{x}}', 5, 'invalid Handlebars: {{#each l}} is not closed (add {{/each}})'],
    ['ok {{foo', 3, 'invalid Handlebars: {{foo is not closed (add }})'],
    [
      '{{if a}}x{{else}}y{{end}}',
      9,
      'invalid Handlebars in {{else}}: unexpected "{{else}}" (Go\'s {{if}}…{{else}}…{{end}} is written {{#if}}…{{else}}…{{/if}} here)',
    ],
  ];
  for (const [text, offset, message] of cases) {
    assert.deepEqual(parseExpression(text).problem, { offset, message }, text);
  }
});
