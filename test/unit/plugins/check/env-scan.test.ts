import { test } from 'node:test';
import assert from 'node:assert/strict';
import { environmentReads, languageOf } from '../../../../src/plugins/check/env-scan.ts';

/** Issue 16, `plugin check`'s environment rule: which variables a plugin's source reads that taskhost does not pass. */

test('shell: $VAR and ${VAR} outside PATH, HOME, LANG and TASKHOST_* are reads; ${VAR:?} is one too', () => {
  const source = [
    'echo "$API_TOKEN" "${REGION}" "${DB_PASSWORD:?set it}"',
    'echo "$PATH $HOME $LANG $TASKHOST_RUN_ID ${TASKHOST_PLUGIN}"',
  ].join('\n');
  assert.deepEqual(environmentReads(source, 'shell'), ['API_TOKEN', 'DB_PASSWORD', 'REGION']);
});

test('shell: defaults, assignments, the shell own variables, the helper variables and embedded awk/jq are not', () => {
  const source = [
    'tmp=${TMPDIR:-/tmp} ${COLOR-none} ${MODE:=fast} ${VERBOSE:+-v}',
    'readonly PLUGIN_NAME=x; export LC_ALL=C; OUT=1; declare -a ITEMS; local -r LIMIT=3',
    'for NAME in a b; do echo "$NAME"; done; read -r ANSWER REST <<<"x y"',
    'echo "$PLUGIN_NAME $LC_ALL $OUT ${ITEMS[@]} $LIMIT $ANSWER $REST"',
    'echo "$BASH_SOURCE $RANDOM $PWD $UID $HOSTNAME $IFS $LINENO ${PIPESTATUS[0]} $SECONDS $SHELL"',
    'echo "$TH_REQUEST $TH_MODE"',
    "awk '{ print $NF, $NR }'; jq -n '$ENV.HOME, $ARGS'",
    'echo "$lower_case_local ${another_one}"',
  ].join('\n');
  assert.deepEqual(environmentReads(source, 'shell'), []);
});

test('python: os.environ["X"], environ.get("X") and getenv("X") without a default are reads', () => {
  const source = [
    'import os',
    "token = os.environ['API_TOKEN']",
    'region = os.environ.get("REGION")',
    'user = os.getenv("DB_USER")',
    'level = os.environ.get("LOG_LEVEL", "info")',
    'home = os.getenv("NOPE", None)',
    'path = os.environ["PATH"]; run = os.environ["TASKHOST_RUN_ID"]',
    'flag = "DEBUG" in os.environ',
  ].join('\n');
  assert.deepEqual(environmentReads(source, 'python'), ['API_TOKEN', 'DB_USER', 'REGION']);
  assert.deepEqual(environmentReads(source, 'shell'), [], 'a python file is not scanned as shell');
});

test('an unknown language is scanned both ways; the #! program names the language', () => {
  assert.deepEqual(environmentReads('x = os.environ["A_VAR"]\necho $B_VAR', 'unknown'), ['A_VAR', 'B_VAR']);
  assert.equal(languageOf('bash'), 'shell');
  assert.equal(languageOf('/bin/sh'), 'shell');
  assert.equal(languageOf('/usr/bin/zsh'), 'shell');
  assert.equal(languageOf('python3'), 'python');
  assert.equal(languageOf('/usr/bin/python3.11'), 'python');
  assert.equal(languageOf('node'), 'unknown');
  assert.equal(languageOf(null), 'unknown');
});
