import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { pathWithout, pythonFirstPath, tempDir } from '../../helpers/plugin-fixtures.ts';

/**
 * Issue 16, the plugin helpers an author vendors (src/plugins/helpers/): taskhost.sh with jq
 * on PATH and without it (python3 then), and taskhost_plugin.py, which must stay Python 3.8
 * syntax. Each is driven through a small plugin that uses it, run as taskhost runs plugins:
 * its own directory as cwd, a minimal environment, the request on stdin.
 */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const HELPERS = path.join(ROOT, 'src', 'plugins', 'helpers');
/** The interpreter rather than a version manager's shim: many starts, and speed is not the point. */
const BASE_PATH = pythonFirstPath();

/** One PATH without jq for every test here (it holds a link to each program on PATH). */
let noJqPath = '';
before(() => {
  noJqPath = pathWithout(fs.mkdtempSync(path.join(os.tmpdir(), 'taskhost-nojq-')), ['jq'], BASE_PATH);
});
after(() => fs.rmSync(noJqPath, { recursive: true, force: true }));

interface Ran {
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
  /** The last stdout line, parsed: the result taskhost would take. */
  result: Record<string, unknown> | null;
}

async function runPlugin(
  file: string,
  options: { pathValue: string; data?: unknown; input?: string; args?: string[] },
): Promise<Ran> {
  const input =
    options.input ??
    JSON.stringify({
      meta: { protocol: 'v1', caller: 'taskhost', taskName: 'probe' },
      data: options.data ?? {},
    });
  const ran = await execa(file, options.args ?? [], {
    cwd: path.dirname(file),
    env: { PATH: options.pathValue, HOME: process.env.HOME ?? '/', LANG: 'C.UTF-8', TASKHOST_PROTOCOL: 'v1' },
    extendEnv: false,
    input,
    reject: false,
    timeout: 30_000,
  });
  const stdout = String(ran.stdout);
  const last = stdout.trimEnd().split('\n').at(-1) ?? '';
  let result: Record<string, unknown> | null = null;
  try {
    result = JSON.parse(last) as Record<string, unknown>;
  } catch {
    result = null;
  }
  return { exitCode: ran.exitCode, stdout, stderr: String(ran.stderr), result };
}

/** A plugin `name` in a fresh directory, next to a copy of `helper`. */
function writePlugin(t: TestContext, helper: string, name: string, source: string): string {
  const dir = tempDir(t);
  fs.copyFileSync(path.join(HELPERS, helper), path.join(dir, helper));
  const file = path.join(dir, name);
  fs.writeFileSync(file, source, { mode: 0o755 });
  return file;
}

const BASH_PROBE = `#!/usr/bin/env bash
set -euo pipefail
source "$(dirname "$(readlink -f "\${BASH_SOURCE[0]}")")/taskhost.sh"
th_schema <<'EOF'
{"name": "probe", "description": "Exercises taskhost.sh.", "inputs": {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"}}
EOF
case $(th_input mode) in
  input)
    th_ok "$(th_json text="$(th_input text)" number:="$(th_input number)" nested="$(th_input obj.list.1)" \\
      object:="$(th_input obj)" flag:="$(th_input flag)" fallback="$(th_input nope fallback)" absent="$(th_input nope)")"
    ;;
  ok-options) th_ok '{"a": 1}' --reason "all good" --metadata '{"m": true}' --state ALREADY_DONE ;;
  ok-stdin) th_ok - <<<'{"from": "stdin"}' ;;
  ok-bare) th_ok ;;
  ok-invalid) th_ok '{"broken":' ;;
  fail-default) th_fail "$(th_input text)" ;;
  fail-state) th_fail "upstream down" SERVER_ERROR '{"tries": 3}' ;;
  fail-bad-state) th_fail "weird" RUNNING ;;
  log) th_log "to" "stderr"; th_ok null ;;
  json-invalid) th_json 'n:=nope' || th_fail "th_json refused it" SERVER_ERROR ;;
  request) th_ok "$TH_REQUEST" ;;
esac
echo "not reached"
`;

/** A tricky string: quotes, a backslash, a newline, non-ASCII, and something that looks like shell. */
const TRICKY = 'O\'Brien "the one" \\ é 天気\nsecond line $(touch /tmp/nope) `x`';

for (const withJq of [true, false]) {
  describe(`taskhost.sh, ${withJq ? 'with jq' : 'without jq (python3)'}`, () => {
    const pathFor = (): string => (withJq ? BASE_PATH : noJqPath);

    test('th_schema prints the description with `schema` and exits 0, before reading stdin', async (t) => {
      const file = writePlugin(t, 'taskhost.sh', 'probe.sh', BASH_PROBE);
      const ran = await runPlugin(file, { pathValue: pathFor(), args: ['schema'], input: '' });
      assert.equal(ran.exitCode, 0, ran.stderr);
      assert.equal((ran.result as { name?: unknown }).name, 'probe');
      assert.equal(ran.stderr, '');
    });

    test('th_input reads data fields (strings raw, the rest as JSON, a default), th_json encodes them', async (t) => {
      const file = writePlugin(t, 'taskhost.sh', 'probe.sh', BASH_PROBE);
      const ran = await runPlugin(file, {
        pathValue: pathFor(),
        data: { mode: 'input', text: TRICKY, number: 42, obj: { list: ['a', 'b'], k: null }, flag: false },
      });
      assert.equal(ran.exitCode, 0, ran.stderr);
      assert.deepEqual(ran.result, {
        status: 1,
        reason: 'ok',
        payload: {
          text: TRICKY,
          number: 42,
          nested: 'b',
          object: { list: ['a', 'b'], k: null },
          flag: false,
          fallback: 'fallback',
          absent: '',
        },
      });
      assert.equal(fs.existsSync('/tmp/nope'), false, 'data never runs as shell');
    });

    test('th_ok takes a reason, metadata and a state, a payload on stdin, or none', async (t) => {
      const file = writePlugin(t, 'taskhost.sh', 'probe.sh', BASH_PROBE);
      const pathValue = pathFor();
      const options = await runPlugin(file, { pathValue, data: { mode: 'ok-options' } });
      assert.equal(options.exitCode, 0, options.stderr);
      assert.deepEqual(options.result, {
        status: 1,
        reason: 'all good',
        state: 'ALREADY_DONE',
        metadata: { m: true },
        payload: { a: 1 },
      });
      assert.doesNotMatch(options.stdout, /not reached/, 'th_ok ends the plugin');
      const stdin = await runPlugin(file, { pathValue, data: { mode: 'ok-stdin' } });
      assert.deepEqual(stdin.result, { status: 1, reason: 'ok', payload: { from: 'stdin' } });
      const bare = await runPlugin(file, { pathValue, data: { mode: 'ok-bare' } });
      assert.deepEqual(bare.result, { status: 1, reason: 'ok', payload: null });
      const request = await runPlugin(file, { pathValue, data: { mode: 'request', x: 1 } });
      assert.deepEqual((request.result?.payload as { data?: unknown }).data, { mode: 'request', x: 1 });
    });

    test('a payload that is not JSON becomes a SERVER_ERROR result naming it, still with exit 0', async (t) => {
      const file = writePlugin(t, 'taskhost.sh', 'probe.sh', BASH_PROBE);
      const ran = await runPlugin(file, { pathValue: pathFor(), data: { mode: 'ok-invalid' } });
      assert.equal(ran.exitCode, 0, ran.stderr);
      assert.equal(ran.result?.status, 0);
      assert.equal(ran.result?.state, 'SERVER_ERROR');
      assert.match(String(ran.result?.reason), /^th_ok: /);
      const json = await runPlugin(file, { pathValue: pathFor(), data: { mode: 'json-invalid' } });
      assert.deepEqual(json.result, {
        status: 0,
        reason: 'th_json refused it',
        state: 'SERVER_ERROR',
        payload: null,
      });
      assert.match(json.stderr, /th_json: the value of n is not JSON/);
    });

    test('th_fail: CLIENT_ERROR by default, any reason encoded, a state and a payload, exit 0', async (t) => {
      const file = writePlugin(t, 'taskhost.sh', 'probe.sh', BASH_PROBE);
      const pathValue = pathFor();
      const plain = await runPlugin(file, { pathValue, data: { mode: 'fail-default', text: TRICKY } });
      assert.equal(plain.exitCode, 0, plain.stderr);
      assert.deepEqual(plain.result, { status: 0, reason: TRICKY, state: 'CLIENT_ERROR', payload: null });
      const state = await runPlugin(file, { pathValue, data: { mode: 'fail-state' } });
      assert.deepEqual(state.result, {
        status: 0,
        reason: 'upstream down',
        state: 'SERVER_ERROR',
        payload: { tries: 3 },
      });
      const bad = await runPlugin(file, { pathValue, data: { mode: 'fail-bad-state' } });
      assert.equal(bad.result?.state, 'SERVER_ERROR', 'a state that is not a failure is not printed');
      assert.match(bad.stderr, /th_fail: RUNNING is not CLIENT_ERROR, SERVER_ERROR or FATAL_ERROR/);
    });

    test('th_log writes to stderr only', async (t) => {
      const file = writePlugin(t, 'taskhost.sh', 'probe.sh', BASH_PROBE);
      const ran = await runPlugin(file, { pathValue: pathFor(), data: { mode: 'log' } });
      assert.equal(ran.stderr, 'to stderr');
      assert.equal(ran.stdout.trim().split('\n').length, 1, 'stdout holds the result line only');
    });

    test('stdin that is not a request ends the run with a CLIENT_ERROR result', async (t) => {
      const file = writePlugin(t, 'taskhost.sh', 'probe.sh', BASH_PROBE);
      for (const input of ['not json', '', '[1, 2]']) {
        const ran = await runPlugin(file, { pathValue: pathFor(), input });
        assert.equal(ran.exitCode, 0, ran.stderr);
        assert.equal(ran.result?.state, 'CLIENT_ERROR', JSON.stringify(input));
        assert.match(String(ran.result?.reason), /stdin is not a protocol v1 request/);
      }
    });

    test('th_schema reads a file next to the plugin, refuses invalid JSON, and warns of an empty key', async (t) => {
      const pathValue = pathFor();
      const fromFile = writePlugin(
        t,
        'taskhost.sh',
        'from-file.sh',
        `#!/usr/bin/env bash\nsource "$(dirname "$0")/taskhost.sh"\nth_schema description.json\nth_ok\n`,
      );
      fs.writeFileSync(
        path.join(path.dirname(fromFile), 'description.json'),
        '{"name": "from-file", "description": "d", "inputs": {}}\n',
      );
      // Run from another directory: the file is found next to the plugin, not in the cwd.
      const described = await execa(fromFile, ['schema'], {
        cwd: '/',
        env: { PATH: pathValue },
        extendEnv: false,
        reject: false,
      });
      assert.equal(described.exitCode, 0, String(described.stderr));
      assert.equal(JSON.parse(String(described.stdout)).name, 'from-file');

      const broken = writePlugin(
        t,
        'taskhost.sh',
        'broken.sh',
        `#!/usr/bin/env bash\nsource "$(dirname "$0")/taskhost.sh"\nth_schema <<'EOF'\n{"name": "broken",\nEOF\nth_ok\n`,
      );
      const refused = await runPlugin(broken, { pathValue, args: ['schema'], input: '' });
      assert.equal(refused.exitCode, 1);
      assert.equal(refused.stdout, '');
      assert.match(refused.stderr, /th_schema: the description is not valid JSON/);

      const unquoted = writePlugin(
        t,
        'taskhost.sh',
        'unquoted.sh',
        `#!/usr/bin/env bash\nsource "$(dirname "$0")/taskhost.sh"\nth_schema <<EOF\n{"name": "unquoted", "description": "d", "inputs": {"$schema": "x"}}\nEOF\nth_ok\n`,
      );
      const warned = await runPlugin(unquoted, { pathValue, args: ['schema'], input: '' });
      assert.equal(warned.exitCode, 0);
      assert.match(warned.stderr, /empty key: quote the heredoc delimiter/);
    });
  });
}

test('taskhost.sh with neither jq nor python3: a run ends with a FATAL_ERROR result saying so', async (t) => {
  const file = writePlugin(t, 'taskhost.sh', 'probe.sh', BASH_PROBE);
  const ran = await runPlugin(file, {
    pathValue: pathWithout(tempDir(t), ['jq', 'python3'], BASE_PATH),
    data: { mode: 'ok-bare' },
  });
  assert.equal(ran.exitCode, 0, ran.stderr);
  assert.deepEqual(ran.result, {
    status: 0,
    reason: 'taskhost.sh needs jq or python3 on PATH',
    state: 'FATAL_ERROR',
    payload: null,
  });
});

const PYTHON_PROBE = `#!/usr/bin/env python3
import sys

sys.dont_write_bytecode = True
from taskhost_plugin import describe, fail, log, ok, read_request  # noqa: E402

describe({"name": "probe", "description": "Exercises taskhost_plugin.py.", "inputs": {"type": "object"}})
request = read_request()
assert read_request() is request, "read once"
data = request["data"]
mode = data.get("mode")
if mode == "ok":
    ok({"echo": data.get("text")}, reason="fine", metadata={"m": 1}, state="ALREADY_DONE")
elif mode == "ok-bare":
    ok()
elif mode == "fail-default":
    fail(data["text"])
elif mode == "fail-state":
    fail("down", state="SERVER_ERROR", payload={"tries": 3})
elif mode == "fail-bad-state":
    fail("weird", state="RUNNING")
elif mode == "unencodable":
    ok({"when": object()})
elif mode == "nan":
    ok({"x": float("nan")})
elif mode == "log":
    log("to", "stderr")
    ok(None)
print("not reached")
`;

describe('taskhost_plugin.py', () => {
  const pathValue = BASE_PATH;

  test('is Python 3.8 syntax (py_compile, and ast with feature_version 3.8) from the standard library', async (t) => {
    const file = path.join(HELPERS, 'taskhost_plugin.py');
    // Its bytecode goes to a private directory, not next to the source.
    const compiled = await execa('python3', ['-m', 'py_compile', file], {
      env: { PYTHONPYCACHEPREFIX: tempDir(t) },
      reject: false,
    });
    assert.equal(compiled.exitCode, 0, String(compiled.stderr));
    // feature_version=(3, 8) refuses the grammar of later versions (match, parenthesised
    // context managers, the f-strings of 3.12 cannot even reach it on 3.11).
    const checked = await execa(
      'python3',
      ['-c', 'import ast, sys; ast.parse(open(sys.argv[1]).read(), feature_version=(3, 8))', file],
      { reject: false },
    );
    assert.equal(checked.exitCode, 0, String(checked.stderr));
    const source = fs.readFileSync(file, 'utf8');
    const imports = [...source.matchAll(/^(?:import|from) (\w+)/gm)].map((match) => match[1]);
    assert.deepEqual([...new Set(imports)].sort(), ['json', 'sys']);
    // Later additions a syntax check does not see: builtin generics in annotations, str methods.
    assert.doesNotMatch(source, /removeprefix|removesuffix|\b(?:list|dict|tuple|set)\[|\| None/);
  });

  test('describe answers `schema` and exits 0', async (t) => {
    const file = writePlugin(t, 'taskhost_plugin.py', 'probe.py', PYTHON_PROBE);
    const ran = await runPlugin(file, { pathValue, args: ['schema'], input: '' });
    assert.equal(ran.exitCode, 0, ran.stderr);
    assert.equal(JSON.parse(ran.stdout).name, 'probe');
    assert.equal(
      fs.existsSync(path.join(path.dirname(file), '__pycache__')),
      false,
      'no bytecode next to the plugin',
    );
  });

  test('ok: payload, reason, metadata and state; the result line ends the plugin with exit 0', async (t) => {
    const file = writePlugin(t, 'taskhost_plugin.py', 'probe.py', PYTHON_PROBE);
    const ran = await runPlugin(file, { pathValue, data: { mode: 'ok', text: TRICKY } });
    assert.equal(ran.exitCode, 0, ran.stderr);
    assert.deepEqual(ran.result, {
      status: 1,
      reason: 'fine',
      state: 'ALREADY_DONE',
      metadata: { m: 1 },
      payload: { echo: TRICKY },
    });
    assert.doesNotMatch(ran.stdout, /not reached/);
    const bare = await runPlugin(file, { pathValue, data: { mode: 'ok-bare' } });
    assert.deepEqual(bare.result, { status: 1, reason: 'ok', payload: null });
  });

  test('fail: CLIENT_ERROR by default, a state and a payload; a state that is not a failure is replaced', async (t) => {
    const file = writePlugin(t, 'taskhost_plugin.py', 'probe.py', PYTHON_PROBE);
    const plain = await runPlugin(file, { pathValue, data: { mode: 'fail-default', text: TRICKY } });
    assert.equal(plain.exitCode, 0, plain.stderr);
    assert.deepEqual(plain.result, { status: 0, reason: TRICKY, state: 'CLIENT_ERROR', payload: null });
    const state = await runPlugin(file, { pathValue, data: { mode: 'fail-state' } });
    assert.deepEqual(state.result, {
      status: 0,
      reason: 'down',
      state: 'SERVER_ERROR',
      payload: { tries: 3 },
    });
    const bad = await runPlugin(file, { pathValue, data: { mode: 'fail-bad-state' } });
    assert.equal(bad.result?.state, 'SERVER_ERROR');
    assert.match(bad.stderr, /use CLIENT_ERROR, SERVER_ERROR or FATAL_ERROR/);
  });

  test('a payload JSON cannot carry (an object, NaN) becomes a SERVER_ERROR result, exit 0', async (t) => {
    const file = writePlugin(t, 'taskhost_plugin.py', 'probe.py', PYTHON_PROBE);
    for (const mode of ['unencodable', 'nan']) {
      const ran = await runPlugin(file, { pathValue, data: { mode } });
      assert.equal(ran.exitCode, 0, ran.stderr);
      assert.equal(ran.result?.state, 'SERVER_ERROR', mode);
      assert.match(String(ran.result?.reason), /cannot be encoded as JSON/);
    }
  });

  test('log writes to stderr; stdin that is not a request (or holds NaN) is a CLIENT_ERROR result', async (t) => {
    const file = writePlugin(t, 'taskhost_plugin.py', 'probe.py', PYTHON_PROBE);
    const logged = await runPlugin(file, { pathValue, data: { mode: 'log' } });
    assert.equal(logged.stderr, 'to stderr');
    for (const input of ['not json', '[1]', '{"meta": {}, "data": {"x": NaN}}']) {
      const ran = await runPlugin(file, { pathValue, input });
      assert.equal(ran.exitCode, 0, ran.stderr);
      assert.equal(ran.result?.state, 'CLIENT_ERROR', input);
      assert.match(String(ran.result?.reason), /stdin is not a protocol v1 request/);
    }
  });
});

test('tasks/ vendors the shipped helpers, byte for byte, and not executable', () => {
  for (const helper of ['taskhost.sh', 'taskhost_plugin.py']) {
    const vendored = path.join(ROOT, 'tasks', helper);
    assert.equal(
      fs.readFileSync(vendored, 'utf8'),
      fs.readFileSync(path.join(HELPERS, helper), 'utf8'),
      helper,
    );
    assert.equal(fs.statSync(vendored).mode & 0o111, 0, `tasks/${helper} is not executable`);
    assert.equal(fs.statSync(path.join(HELPERS, helper)).mode & 0o111, 0, `src/plugins/helpers/${helper}`);
  }
});
