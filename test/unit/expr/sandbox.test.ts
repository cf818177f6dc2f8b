import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  expressionHeapBytes,
  HEAP_LIMIT_BYTES,
  loadExpressionEngine,
  type ExpressionOutcome,
} from '../../../src/expr/sandbox.ts';

/** QuickJS variables: results as µTask's otto gave them, limits enforced, no host reachable. */

async function evaluate(
  source: string,
  globals: Record<string, string> = {},
  timeoutMs = 1_000,
): Promise<ExpressionOutcome> {
  const batch = (await loadExpressionEngine()).openBatch();
  try {
    return batch.evaluate(source, globals, timeoutMs);
  } finally {
    batch.dispose();
  }
}

test('arithmetic and strings give String(value), as otto did', async () => {
  assert.deepEqual(await evaluate('2 + 2; // javascript'), { ok: true, value: '4' });
  assert.deepEqual(await evaluate("var h = 'Hola'; var m = 'mundo'; h + ' ' + m + '!';"), {
    ok: true,
    value: 'Hola mundo!',
  });
  assert.deepEqual(await evaluate('0.1 + 0.2'), { ok: true, value: '0.30000000000000004' });
  assert.deepEqual(await evaluate('[1, 2, 3]'), { ok: true, value: '1,2,3' });
  assert.deepEqual(await evaluate('undefined'), { ok: true, value: 'undefined' });
  assert.deepEqual(await evaluate('JSON.stringify({"a":"utask","d":["1"]})'), {
    ok: true,
    value: '{"a":"utask","d":["1"]}',
  });
});

test('globals are given as JSON and read as plain values', async () => {
  const globals = {
    input: JSON.stringify({ count: 21, list: [1, 2, 3], __proto__: 'kept as a key' }),
    step: '{"this":{"output":{"n":"x"}}}',
  };
  assert.deepEqual(await evaluate('input.count * 2 + input.list.length', globals), { ok: true, value: '45' });
  assert.deepEqual(await evaluate('step.this.output.n + Object.keys(input).length', globals), {
    ok: true,
    value: 'x2',
  });
});

test('an expression that loops forever is interrupted at its deadline', async () => {
  const outcome = await evaluate('while (true) {}', {}, 50);
  assert.equal(outcome.ok, false);
  assert.equal(!outcome.ok && outcome.reason, 'timeout');
  const regexBomb = await evaluate('/(a+)+$/.test("a".repeat(40) + "b")', {}, 50);
  assert.equal(!regexBomb.ok && regexBomb.reason, 'timeout', 'a catastrophic regular expression too');
});

test('an allocation bomb is stopped by the memory limit', async () => {
  const arrays = await evaluate('var a = []; for (;;) a.push(new Array(100000).fill(1));', {}, 10_000);
  assert.equal(!arrays.ok && arrays.reason, 'memory');
  const strings = await evaluate('var s = "x"; for (;;) s += s;', {}, 10_000);
  assert.equal(!strings.ok && strings.reason, 'memory');
  const manyStrings = await evaluate(
    'var a = []; for (;;) a.push("x".repeat(10000) + a.length);',
    {},
    10_000,
  );
  assert.equal(
    !manyStrings.ok && manyStrings.reason,
    'memory',
    'large strings are not counted by QuickJS: the heap cap stops them',
  );
  const buffers = await evaluate('var a = []; for (;;) a.push(new Uint8Array(1e6));', {}, 10_000);
  assert.equal(!buffers.ok && buffers.reason, 'memory');
  assert.ok((expressionHeapBytes() ?? Infinity) <= HEAP_LIMIT_BYTES);
  assert.deepEqual(await evaluate('6 * 7'), { ok: true, value: '42' }, 'the module is still usable');
});

test('a runaway recursion is stopped by the stack limit, the module staying usable', async () => {
  const outcome = await evaluate('function f() { return f(); } f();');
  assert.equal(!outcome.ok && outcome.reason, 'stack');
  const deep = await evaluate('JSON.parse("[".repeat(100000))');
  assert.equal(!deep.ok && deep.reason, 'stack');
  assert.deepEqual(await evaluate('1 + 1'), { ok: true, value: '2' });
});

test('no host access: no require, process, timers, network or module loading', async () => {
  assert.deepEqual(
    await evaluate(
      '[typeof require, typeof process, typeof setTimeout, typeof fetch, typeof module, typeof Buffer].join(" ")',
    ),
    { ok: true, value: 'undefined undefined undefined undefined undefined undefined' },
  );
  const viaEval = await evaluate("eval(\"require('fs').readFileSync('/etc/passwd', 'utf8')\")");
  assert.deepEqual(viaEval, {
    ok: false,
    reason: 'error',
    message: "ReferenceError: 'require' is not defined",
  });
  const viaFunction = await evaluate('Function("return this")().process.exit(1)');
  assert.equal(!viaFunction.ok && viaFunction.reason, 'error');
  assert.match(!viaFunction.ok ? viaFunction.message : '', /^TypeError: /);
  const viaImport = await evaluate('import("fs")');
  assert.equal(
    viaImport.ok ? viaImport.value : 'rejected',
    '[object Promise]',
    'nothing is loaded; the promise never settles',
  );
  assert.deepEqual(await evaluate('throw new Error("boom")'), {
    ok: false,
    reason: 'error',
    message: 'Error: boom',
  });
  assert.deepEqual(await evaluate('throw 42'), { ok: false, reason: 'error', message: 'uncaught 42' });
  const syntax = await evaluate('var = 1');
  assert.equal(!syntax.ok && syntax.reason, 'error');
  assert.match(!syntax.ok ? syntax.message : '', /^SyntaxError: /);
});

test('a batch reuses one runtime, each expression in a fresh context', async () => {
  const batch = (await loadExpressionEngine()).openBatch();
  try {
    assert.deepEqual(batch.evaluate('var leaked = 1; leaked', {}, 1_000), { ok: true, value: '1' });
    assert.deepEqual(batch.evaluate('typeof leaked', {}, 1_000), { ok: true, value: 'undefined' });
    assert.equal(batch.evaluate('while (true) {}', {}, 20).ok, false);
    assert.deepEqual(batch.evaluate('"after a timeout"', {}, 1_000), { ok: true, value: 'after a timeout' });
  } finally {
    batch.dispose();
  }
});

test('memory does not grow with the number of evaluations', async () => {
  const engine = await loadExpressionEngine();
  const round = (i: number): void => {
    const batch = engine.openBatch();
    try {
      for (let j = 0; j < 5; j++) {
        batch.evaluate(`input.list.map((x) => x * ${j}).join(",")`, { input: '{"list":[1,2,3]}' }, 1_000);
      }
      if (i % 50 === 0) batch.evaluate('var a = []; for (;;) a.push(new Uint8Array(1e6));', {}, 10_000);
    } finally {
      batch.dispose();
    }
  };
  for (let i = 0; i < 60; i++) round(i);
  const warm = expressionHeapBytes();
  assert.ok(warm !== undefined && warm > 0);
  for (let i = 0; i < 300; i++) round(i);
  const after = expressionHeapBytes() ?? 0;
  assert.ok(after - warm <= 8 * 1024 * 1024, `heap grew from ${warm} to ${after} bytes`);
  assert.ok(after <= HEAP_LIMIT_BYTES, `heap is ${after} bytes`);
});
