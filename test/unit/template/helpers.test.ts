import { test } from 'node:test';
import assert from 'node:assert/strict';
import { helperNames, renderString, type ValueContext } from '../../../src/template/render.ts';

/**
 * One case (at least) per helper, by sprig's families, most from sprig's documentation.
 * Each case is [template, expected], expected being a string or a RegExp; the last test
 * checks that every helper the renderer knows appears in some case here.
 */

type Case = readonly [template: string, expected: string | RegExp];

const context: ValueContext = {
  input: { name: 'World', n: 12, list: ['a', 'b', 'c'], nested: { 'a.b': 'dotted' }, empty: '' },
  step: {
    first: {
      output: { result: { 'my-payload': '{"common-name":"utask.example.org","id":32,"foo":{"bar":1}}' } },
      state: 'DONE',
    },
  },
  config: { 'foo.bar': { url: 'https://x' } },
};

const families: Record<string, readonly Case[]> = {
  'Go text/template builtins': [
    ['{{and 1 "x" 0 2}}', '0'],
    ['{{and 1 "x"}}', 'x'],
    ['{{or 0 "" "first" "second"}}', 'first'],
    ['{{or 0 ""}}', ''],
    ['{{not 0}} {{not "x"}} {{not (list)}} {{not (dict)}}', 'true false true true'],
    ['{{eq 1 1}} {{eq "a" "b"}} {{eq input.name "x" "World"}}', 'true false true'],
    ['{{eq input.missing "x"}}', 'false'],
    ['{{ne 1 2}} {{ne "a" "a"}}', 'true false'],
    ['{{lt 1 2}} {{lt "b" "a"}} {{le 2 2}} {{le 3 2}}', 'true false true false'],
    ['{{gt 2 1}} {{gt 1 1}} {{ge 1 1}} {{ge 0 1}}', 'true false true false'],
    ['{{len input.list}} {{len "héllo"}} {{len (dict "a" 1)}}', '3 6 1'],
    ['{{index input.list 1}} {{index step "first" "state"}}', 'b DONE'],
    ['{{index input "nope"}}', ''],
    ['{{print 1 2 "a" 3 "b"}}', '1 2a3b'],
    ['{{println "a" 1}}', 'a 1\n'],
    ['{{printf "%s-%d" "a" 5}}', 'a-5'],
    ['{{html "<a href=\'x\'>&</a>"}}', '&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;'],
    ['{{js "it\'s <b>"}}', "it\\'s \\u003Cb\\u003E"],
    ['{{urlquery "a b&c=d"}}', 'a+b%26c%3Dd'],
  ],
  'defaults and JSON': [
    [
      '{{default "foo" input.missing}} {{default "foo" "bar"}} {{default "foo" 0}} {{default "foo" (list)}}',
      'foo bar foo foo',
    ],
    ['{{default 42}}', '42'],
    [
      '{{empty 0}} {{empty ""}} {{empty (dict)}} {{empty input.missing}} {{empty false}} {{empty "0"}}',
      'true true true true true false',
    ],
    ['{{coalesce 0 input.missing "" "first" "second"}}', 'first'],
    ['{{all 1 "a" (list 1)}} {{all 1 ""}}', 'true false'],
    ['{{any 0 "" "a"}} {{any 0 ""}}', 'true false'],
    ['{{compact (list 1 "a" "foo" "")}} {{mustCompact (list 0 1)}}', '[1 a foo] [1]'],
    ['{{ternary "yes" "no" true}} {{ternary "yes" "no" 0}} {{ternary "yes" "no" "x"}}', 'yes no yes'],
    ['{{lookup (fromJson "{\\"a\\":{\\"b\\":[1,2]}}") "a"}}', 'map[b:[1 2]]'],
    ['{{fromJson "not json"}}', ''],
    ['{{lookup (mustFromJson "{\\"a\\":1}") "a"}}', '1'],
    ['{{toJson (dict "b" 1 "a" "<x>")}}', '{"a":"\\u003cx\\u003e","b":1}'],
    ['{{mustToJson (list 1 "a")}}', '[1,"a"]'],
    ['{{toRawJson (dict "a" "<x>")}} {{mustToRawJson "&"}}', '{"a":"<x>"} "&"'],
    ['{{toPrettyJson (dict "a" (list 1 2) "b" (dict))}}', '{\n  "a": [\n    1,\n    2\n  ],\n  "b": {}\n}'],
    ['{{mustToPrettyJson (list)}}', '[]'],
    ['{{deepCopy (dict "a" (list 1))}} {{mustDeepCopy (list 1)}}', 'map[a:[1]] [1]'],
  ],
  strings: [
    ['{{hello}}', 'Hello!'],
    ['{{trim "   hello    "}}', 'hello'],
    ['{{trimAll "$" "$5.00$"}} {{trimall "$" "$5$"}}', '5.00 5'],
    ['{{trimSuffix "-" "hello-"}} {{trimSuffix "x" "hello"}}', 'hello hello'],
    ['{{trimPrefix "-" "-hello"}} {{trimPrefix "v" "1.0"}}', 'hello 1.0'],
    ['{{upper "hello"}} {{lower "HELLO"}}', 'HELLO hello'],
    ['{{title "hello world-wide"}} {{untitle "Hello World"}}', 'Hello World-Wide hello world'],
    ['{{repeat 3 "hello"}}', 'hellohellohello'],
    ['{{substr 0 5 "hello world"}} {{substr 6 -1 "hello world"}}', 'hello world'],
    ['{{nospace "hello w o r l d"}}', 'helloworld'],
    ['{{trunc 5 "hello world"}} {{trunc -5 "hello world"}}', 'hello world'],
    ['{{abbrev 5 "hello world"}}', 'he...'],
    ['{{abbrevboth 5 10 "1234 5678 9123"}}', '...5678...'],
    ['{{initials "First Try"}}', 'FT'],
    ['{{randAlphaNum 12}}', /^[A-Za-z0-9]{12}$/],
    ['{{randAlpha 8}}', /^[A-Za-z]{8}$/],
    ['{{randNumeric 6}}', /^\d{6}$/],
    ['{{randAscii 10}}', /^[ -~]{10}$/],
    ['{{swapcase "This Is A.Test"}}', 'tHIS iS a.tEST'],
    ['{{len (shuffle "hello")}} {{sortAlpha (splitList "" (shuffle "hello"))}}', '5 [e h l l o]'],
    [
      '{{snakecase "FirstName"}} {{snakecase "HTTPServer"}} {{snakecase "http2xx"}}',
      'first_name http_server http_2xx',
    ],
    ['{{camelcase "http_server"}} {{kebabcase "FirstName"}}', 'HttpServer first-name'],
    ['{{wrap 5 "Hello World"}}', 'Hello\nWorld'],
    ['{{wrapWith 5 "\t" "Hello World"}}', 'Hello\tWorld'],
    ['{{contains "cat" "catch"}} {{contains "dog" "catch"}}', 'true false'],
    ['{{hasPrefix "cat" "catch"}} {{hasSuffix "ch" "catch"}} {{hasPrefix "ch" "catch"}}', 'true true false'],
    ['{{quote "a" 1 input.missing "b\\"c"}}', '"a" "1" "b\\"c"'],
    ['{{squote "a" 1}}', "'a' '1'"],
    ['{{cat "hello" "beautiful" input.missing "world"}}', 'hello beautiful world'],
    ['{{indent 2 "a\nb"}}|{{nindent 2 "a"}}', '  a\n  b|\n  a'],
    ['{{replace " " "-" "I Am Henry VIII"}}', 'I-Am-Henry-VIII'],
    ['{{plural "one anchovy" "many anchovies" 2}} {{plural "one" "many" 1}}', 'many anchovies one'],
    ['{{toString 5}} {{toString (list 1 2)}} {{toString input.missing}}', '5 [1 2] <nil>'],
    ['{{toStrings (list 1 "a" input.missing)}}', '[1 a]'],
    [
      '{{split "$" "foo$bar$baz"}} {{lookup (split "$" "foo$bar$baz") "_1"}}',
      'map[_0:foo _1:bar _2:baz] bar',
    ],
    ['{{splitn "$" 2 "foo$bar$baz"}}', 'map[_0:foo _1:bar$baz]'],
    ['{{splitList "," "a,b,,c"}} {{len (splitList "," "a,b,,c")}}', '[a b  c] 4'],
    ['{{join "_" (list "a" "b" 3)}} {{join "," input.list}}', 'a_b_3 a,b,c'],
    ['{{sortAlpha (list "c" "a" "B")}}', '[B a c]'],
  ],
  lists: [
    ['{{list 1 "two" 3}} {{tuple 1 2}}', '[1 two 3] [1 2]'],
    ['{{first input.list}} {{mustFirst (list)}}', 'a '],
    ['{{rest input.list}} {{mustRest (list 1)}}', '[b c] []'],
    ['{{last input.list}} {{mustLast (list 9)}}', 'c 9'],
    ['{{initial input.list}} {{mustInitial (list 1 2)}}', '[a b] [1]'],
    ['{{append input.list "d"}} {{input.list}} {{mustAppend (list) 1}}', '[a b c d] [a b c] [1]'],
    ['{{push (list 1) 2}} {{mustPush (list) 0}}', '[1 2] [0]'],
    ['{{prepend input.list "z"}} {{mustPrepend (list 2) 1}}', '[z a b c] [1 2]'],
    ['{{concat (list 1 2) (list 3) input.list}}', '[1 2 3 a b c]'],
    ['{{reverse (list 1 2 3)}} {{mustReverse (list)}}', '[3 2 1] []'],
    ['{{uniq (list 1 1 1 2 (dict "a" 1) (dict "a" 1))}} {{mustUniq (list "a" "a")}}', '[1 2 map[a:1]] [a]'],
    ['{{without (list 1 2 3 4) 3 1}} {{mustWithout (list 1 2) 2}}', '[2 4] [1]'],
    [
      '{{has 4 (list 1 2 3 4)}} {{has "x" input.list}} {{has 1 input.missing}} {{mustHas "a" input.list}}',
      'true false false true',
    ],
    [
      '{{slice (list 1 2 3 4 5) 1 3}} {{slice (list 1 2 3) 1}} {{mustSlice (list 1 2 3)}}',
      '[2 3] [2 3] [1 2 3]',
    ],
    ['{{until 5}} {{until -3}}', '[0 1 2 3 4] [0 -1 -2]'],
    ['{{untilStep 3 6 2}} {{untilStep 6 3 -1}}', '[3 5] [6 5 4]'],
    ['{{chunk 2 (list 1 2 3 4 5)}} {{mustChunk 3 (list 1 2)}}', '[[1 2] [3 4] [5]] [[1 2]]'],
  ],
  dicts: [
    [
      '{{dict "name1" "value1" "name2" 2}} {{dict "odd"}} {{dict a=1}}',
      'map[name1:value1 name2:2] map[odd:] map[a:1]',
    ],
    ['{{get (dict "a" 1) "a"}}|{{get (dict "a" 1) "b"}}', '1|'],
    ['{{set (dict "a" 1) "b" 2}} {{unset (dict "a" 1 "b" 2) "a"}}', 'map[a:1 b:2] map[b:2]'],
    ['{{hasKey (dict "a" 1) "a"}} {{hasKey (dict "a" 1) "b"}}', 'true false'],
    ['{{pluck "a" (dict "a" 1) (dict "b" 2) (dict "a" 3)}}', '[1 3]'],
    ['{{sortAlpha (keys (dict "b" 1 "a" 2) (dict "c" 3))}}', '[a b c]'],
    ['{{values (dict "a" 1)}}', '[1]'],
    [
      '{{pick (dict "a" 1 "b" 2 "c" 3) "a" "c" "z"}} {{omit (dict "a" 1 "b" 2) "a"}}',
      'map[a:1 c:3] map[b:2]',
    ],
    [
      '{{merge (dict "a" 1 "b" "" "n" (dict "x" 1)) (dict "b" 2 "c" 3 "n" (dict "x" 9 "y" 2))}}',
      'map[a:1 b:2 c:3 n:map[x:1 y:2]]',
    ],
    ['{{mustMerge (dict "a" 1) (dict "a" 2 "b" 3)}}', 'map[a:1 b:3]'],
    ['{{mergeOverwrite (dict "a" 1 "k" true) (dict "a" 2 "k" false)}}', 'map[a:2 k:true]'],
    ['{{mustMergeOverwrite (dict "a" 1) (dict "a" "x")}}', 'map[a:x]'],
    [
      '{{dig "a" "b" "none" (dict "a" (dict "b" "found"))}} {{dig "a" "z" "none" (dict "a" (dict))}}',
      'found none',
    ],
  ],
  math: [
    ['{{add 1 2 3}} {{add 1 "2" 3.9}} {{add}}', '6 6 0'],
    ['{{add1 41}} {{add1f 1.5}}', '42 2.5'],
    ['{{sub 5 7}} {{mul 2 3 4}} {{div 7 2}} {{div -7 2}} {{mod 7 3}}', '-2 24 3 -3 1'],
    ['{{max 1 5 3}} {{biggest 2 8}} {{min 4 -1 2}}', '5 8 -1'],
    ['{{maxf 1.5 2.5}} {{minf 1.5 -2.5}}', '2.5 -2.5'],
    [
      '{{floor 1.7}} {{ceil 1.2}} {{round 123.555555 3}} {{round 1.4 0}} {{round 1.4 0 0.3}}',
      '1 2 123.556 1 2',
    ],
    [
      '{{addf 1.1 2.2}} {{subf 7.5 2 3}} {{mulf 1.5 2 2}} {{divf 10 2 4}} {{divf 1 3}}',
      '3.3 2.5 6 1.25 0.3333333333333333',
    ],
    ['{{randInt 5 6}}', '5'],
    ['{{atoi "42"}} {{atoi "4x"}} {{atoi "-7"}}', '42 0 -7'],
    ['{{int "12"}} {{int 3.9}} {{int "0x1F"}} {{int "12.0"}} {{int "junk"}} {{int64 "9"}}', '12 3 31 12 0 9'],
    ['{{float64 "1.5"}} {{float64 2}}', '1.5 2'],
    ['{{toDecimal "0777"}} {{toDecimal "8"}}', '511 0'],
    ['{{seq 5}}|{{seq 2 5}}|{{seq 0 2 10}}|{{seq 3 1}}', '1 2 3 4 5|2 3 4 5|0 2 4 6 8 10|3 2 1'],
  ],
  dates: [
    ['{{dateInZone "2006-01-02 15:04:05 MST" 0 "UTC"}}', '1970-01-01 00:00:00 UTC'],
    [
      '{{dateInZone "Jan _2 03:04PM -07:00 Monday" 1700000000 "Asia/Kolkata"}}',
      'Nov 15 03:43AM +05:30 Wednesday',
    ],
    ['{{date_in_zone "2006-01-02T15:04:05.000Z07:00" 1700000000 "UTC"}}', '2023-11-14T22:13:20.000Z'],
    ['{{date "2006" 1700000000}}', '2023'],
    ['{{htmlDate 1700000000}}', /^2023-11-1[45]$/],
    ['{{htmlDateInZone 1700000000 "UTC"}} {{htmlDateInZone 1700000000 "No/Such"}}', '2023-11-14 2023-11-14'],
    ['{{date "02/01/2006" (toDate "2006-01-02" "2017-12-31")}}', '31/12/2017'],
    [
      '{{date "2006-01-02 15:04" (dateModify "-1.5h" (toDate "2006-01-02 15:04" "2017-12-31 01:00"))}}',
      '2017-12-30 23:30',
    ],
    ['{{date "15:04" (date_modify "bad" (toDate "15:04" "10:30"))}}', '10:30'],
    ['{{date "15:04" (mustDateModify "90m" (toDate "15:04" "10:30"))}}', '12:00'],
    ['{{date "15:04" (must_date_modify "1h" (toDate "15:04" "10:30"))}}', '11:30'],
    ['{{unixEpoch (toDate "2006-01-02T15:04:05Z07:00" "2017-12-31T00:00:00Z")}}', '1514678400'],
    ['{{unixEpoch (mustToDate "2006-01-02 15:04:05 -0700" "2017-12-31 02:00:00 +0200")}}', '1514678400'],
    ['{{toDate "2006-01-02" "garbage"}}', '0001-01-01 00:00:00 +0000 UTC'],
    ['{{duration 95}} {{duration "3661"}} {{duration 0}}', '1m35s 1h1m1s 0s'],
    ['{{durationRound "2h10m5s"}} {{durationRound "400s"}} {{durationRound "2400h"}}', '2h 6m 3mo'],
    ['{{ago now}}', '0s'],
    ['{{now}}', /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? [+-]\d{4} \S+$/],
    ['{{typeOf now}}', 'time.Time'],
    [
      '{{toJson (toDate "2006-01-02T15:04:05Z07:00" "2017-12-31T10:00:00+02:00")}}',
      '"2017-12-31T10:00:00+02:00"',
    ],
  ],
  encodings: [
    ['{{b64enc "hello"}} {{b64dec "aGVsbG8="}}', 'aGVsbG8= hello'],
    ['{{b64dec "aGVsbG8"}}', 'illegal base64 data at input byte 4'],
    ['{{b64RawEnc "raw message"}} {{b64RawDec "cmF3IG1lc3NhZ2U"}}', 'cmF3IG1lc3NhZ2U raw message'],
    ['{{b32enc "hello"}} {{b32dec "NBSWY3DP"}}', 'NBSWY3DP hello'],
    ['{{sha1sum "Hello world!"}}', 'd3486ae9136e7856bc42212385ea797094475802'],
    ['{{sha256sum "Hello world!"}}', 'c0535e4be2b79ffd93291305436bf889314e4a3faec05ecffcbb7df31ad9e51a'],
    [
      '{{sha512sum ""}}',
      'cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e',
    ],
    ['{{adler32sum "Wikipedia"}}', '300286872'],
    [
      '{{uuid}} {{uuidv4}}',
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12} [0-9a-f-]{36}$/,
    ],
    ['{{len (b64dec (randBytes 24))}}', /^\d+$/],
    ['{{randBytes 24}}', /^[A-Za-z0-9+/]{32}$/],
    ['{{decryptAES "secretkey" (encryptAES "secretkey" "plaintext")}}', 'plaintext'],
  ],
  regex: [
    ['{{regexMatch "^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\\.[A-Za-z]{2,}$" "test@acme.com"}}', 'true'],
    ['{{regexMatch "(" "x"}} {{regexMatch "(?i)^ABC$" "abc"}}', 'false true'],
    ['{{mustRegexMatch "^a" "abc"}}', 'true'],
    [
      '{{regexFindAll "[2,4,6,8]" "123456789" -1}} {{regexFindAll "[2,4,6,8]" "123456789" 2}}',
      '[2 4 6 8] [2 4]',
    ],
    ['{{mustRegexFindAll "a*" "baaab" -1}}', '[ aaa ]'],
    ['{{regexFind "[a-zA-Z][1-9]" "abcd1234"}} {{mustRegexFind "z" "abc"}}|', 'd1 |'],
    [
      '{{regexReplaceAll "a(x*)b" "-ab-axxb-" "${1}W"}} {{regexReplaceAll "a(x*)b" "-ab-axxb-" "$1W"}}',
      '-W-xxW- ---',
    ],
    [
      '{{mustRegexReplaceAll "(?P<first>\\w+) (?P<last>\\w+)" "Ada Lovelace" "${last}, $first"}}',
      'Lovelace, Ada',
    ],
    [
      '{{regexReplaceAllLiteral "a(x*)b" "-ab-axxb-" "${1}"}} {{mustRegexReplaceAllLiteral "a" "aa" "$"}}',
      '-${1}-${1}- $$',
    ],
    [
      '{{regexSplit "z+" "pizza" -1}} {{regexSplit "z+" "pizza" 1}} {{mustRegexSplit "," "a,b,c" 2}}',
      '[pi a] [pizza] [a b,c]',
    ],
    ['{{regexQuoteMeta "1.2.3"}}', '1\\.2\\.3'],
  ],
  semver: [
    [
      '{{semver "v1.2.3-alpha.1+build"}} {{lookup (semver "1.2") "Minor"}} {{lookup (semver "1.2.3-beta") "Prerelease"}}',
      '1.2.3-alpha.1+build 2 beta',
    ],
    [
      '{{semverCompare "1.2.3" "1.2.3"}} {{semverCompare "^1.2.0" "1.9.0"}} {{semverCompare "^1.2.0" "2.0.0"}}',
      'true true false',
    ],
    [
      '{{semverCompare "~1.2.0" "1.3.0"}} {{semverCompare ">= 1.2, < 3.0" "2.5.0"}} {{semverCompare ">=1.2 <3.0 || 4.x" "4.1.0"}}',
      'false true true',
    ],
    ['{{semverCompare "!= 1.2.3" "1.2.3"}} {{semverCompare "1.2 - 1.4" "1.3.9"}}', 'false true'],
  ],
  'paths, URLs and reflection': [
    [
      '{{base "foo/bar/baz/"}} {{dir "foo/bar/baz"}} {{clean "foo/bar/../baz/"}} {{ext "foo.bar.tgz"}} {{isAbs "/x"}}',
      'baz foo/bar foo/baz .tgz true',
    ],
    [
      '{{osBase "/a/b"}} {{osDir "/a/b"}} {{osClean "a//b"}} {{osExt "x.y"}} {{osIsAbs "a"}} {{base ""}} {{dir "x"}}',
      'b /a a/b .y false . .',
    ],
    [
      '{{#with (urlParse "proto://user:pass@host:80/p%20ath?query=1#frag")}}{{scheme}}|{{host}}|{{hostname}}|{{path}}|{{query}}|{{fragment}}|{{userinfo}}{{/with}}',
      'proto|host:80|host|/p ath|query=1|frag|user:pass',
    ],
    [
      '{{urlJoin (dict "host" "localhost:80" "path" "/path" "query" "q=1" "scheme" "http")}}',
      'http://localhost:80/path?q=1',
    ],
    [
      '{{typeOf 1}} {{typeOf 1.5}} {{typeOf "a"}} {{typeOf (list)}} {{typeOf (dict)}} {{typeOf input.missing}}',
      'int float64 string []interface {} map[string]interface {} <nil>',
    ],
    ['{{typeIs "string" "x"}} {{typeIsLike "semver.Version" (semver "1.0.0")}}', 'true true'],
    [
      '{{kindOf (list)}} {{kindOf (dict)}} {{kindIs "bool" true}} {{kindIs "int" "1"}}',
      'slice map true false',
    ],
    ['{{deepEqual (list 1 (dict "a" 2)) (list 1 (dict "a" 2))}} {{deepEqual 1 "1"}}', 'true false'],
  ],
  'µTask functions': [
    ['{{field "input" "nested" "a.b"}}', 'dotted'],
    ['{{field "config" "foo.bar" "url"}}|{{field "input" "none" "x"}}', 'https://x|'],
    [
      '{{field "step" "first" "output" "result" "my-payload"}}',
      '{"common-name":"utask.example.org","id":32,"foo":{"bar":1}}',
    ],
    [
      '{{fieldFrom "common-name" (fromJson (field "step" "first" "output" "result" "my-payload"))}}',
      'utask.example.org',
    ],
    ['{{fieldFrom "foo" "bar" (fromJson (field "step" "first" "output" "result" "my-payload"))}}', '1'],
    ['{{default "example.org" (fieldFrom "invalid" (fromJson "{\\"id\\":32}"))}}', 'example.org'],
    ['{{jsonPath "$.result.my-payload" step.first.output}}', /^\{"common-name"/],
    [
      '{{jsonPath "$[*].id" (fromJson "[{\\"id\\":1},{\\"id\\":2}]")}} {{jsonPath "$[?(@.id>1)].id" (fromJson "[{\\"id\\":1},{\\"id\\":2}]")}}',
      '[1 2] [2]',
    ],
    ['{{jsonPath "$.nope" input}}|', '|'],
  ],
  'Handlebars built-ins kept': [
    ['{{#each input.list}}{{@index}}={{this}};{{/each}}', '0=a;1=b;2=c;'],
    ['{{#with input}}{{name}}{{/with}} {{lookup input.list 2}}', 'World c'],
    ['{{#if input.empty}}yes{{else}}no{{/if}} {{#unless input.empty}}none{{/unless}}', 'no none'],
    ['{{#if (eq input.n 12)}}twelve{{else if (eq input.n 13)}}thirteen{{/if}}', 'twelve'],
  ],
};

for (const [family, cases] of Object.entries(families)) {
  test(`helpers, ${family}`, async () => {
    for (const [template, expected] of cases) {
      const actual = await renderString(template, context);
      if (expected instanceof RegExp) assert.match(actual, expected, template);
      else assert.equal(actual, expected, template);
    }
  });
}

test('every helper has a case here, and SPEC section 5 names none that is missing', () => {
  const used = new Set<string>();
  for (const cases of Object.values(families)) {
    for (const [template] of cases) {
      for (const match of template.matchAll(/[{(#]\s*([A-Za-z_][\w]*)/g)) used.add(match[1] ?? '');
    }
  }
  used.add('printf'); // go-fmt.test.ts
  used.add('eval'); // variables.test.ts
  used.add('evalCache');
  used.add('fail'); // errors.test.ts
  used.add('log');
  used.add('blockHelperMissing');
  const missing = helperNames().filter((name) => !used.has(name));
  assert.deepEqual(missing, []);
  const spec =
    'field fieldFrom eval evalCache toJson toPrettyJson fromJson mustFromJson default coalesce empty ternary eq ne lt le gt ge and or not add sub mul div mod len index list dict get keys has upper lower trim trimPrefix trimSuffix replace split splitList join contains hasPrefix hasSuffix quote printf b64enc b64dec b64RawEnc b64RawDec sha1sum sha256sum regexMatch regexFind regexReplaceAll uuid now date toString atoi int float64 first last rest append uniq sortAlpha jsonPath';
  const names = new Set(helperNames());
  assert.deepEqual(
    spec.split(' ').filter((name) => !names.has(name)),
    [],
  );
  for (const host of ['env', 'expandenv', 'getHostByName']) assert.equal(names.has(host), false, host);
});
