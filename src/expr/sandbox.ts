/**
 * JavaScript expressions of template variables, run in QuickJS compiled to WebAssembly
 * (quickjs-emscripten): a separate heap and interpreter, so an expression sees no `require`,
 * `process`, file, network or timer of the host, only the JSON values it is given.
 *
 * Limits, each enforced by QuickJS itself:
 * - time: an interrupt handler polled by the interpreter (also inside regular expressions)
 *   stops the expression at its deadline (`expression_timeout`, default 1 s, at most 10 s).
 *   Evaluation is synchronous, on the caller's thread, so the cap keeps one bad variable
 *   from stalling the engine's event loop for long; µTask's otto default was 10 s, and
 *   QuickJS does in 1 s what otto did in far more.
 * - memory: two bounds. The runtime's allocator refuses to pass `memoryBytes` (default
 *   32 MiB) for ordinary objects, which the expression sees as "out of memory". That count
 *   misses large strings and array buffers in the prebuilt WebAssembly (its allocator
 *   reports no usable size, quickjs-emscripten issues #255 and #271), so the module's whole
 *   heap is also capped: it gets a WebAssembly.Memory of at most 96 MiB, and an allocation
 *   past that fails inside QuickJS as an out-of-memory error instead of growing the heap
 *   towards 2 GiB. Batches never overlap (each lives within one synchronous render), so the
 *   cap is in effect per expression.
 * - stack: QuickJS's own stack limit (32 KiB, about 180 nested calls). It must stay small:
 *   QuickJS's frames also live on V8's native stack, and past about 64 KiB a deep
 *   recursion can overflow V8's stack before QuickJS notices, which unwinds through the
 *   WebAssembly and leaves that module unusable. If that happens anyway, the module is
 *   dropped (never disposed: disposing it would abort) and the next batch loads a new one.
 *
 * The WebAssembly module loads once (about 30 ms) and serves every batch; a batch is one
 * runtime with the limits set, reused for every expression of one render call, each
 * expression in a fresh context so none sees another's globals. Everything created is
 * disposed: a runtime freed with a live handle would fail an assertion in QuickJS.
 */
import { randomBytes } from 'node:crypto';
// Types only: quickjs-emscripten itself is imported on the first expression (a template
// without expressions, and every command that loads templates, never pays for it).
import type { QuickJSContext, QuickJSHandle, QuickJSRuntime, QuickJSWASMModule } from 'quickjs-emscripten';

export interface ExpressionLimits {
  /** Default time an expression may run when its variable sets no `expression_timeout`. */
  readonly timeoutMs: number;
  /** The runtime's heap limit: the globals given and everything the expression allocates. */
  readonly memoryBytes: number;
  /** QuickJS's stack limit (see above for why it is small). */
  readonly stackBytes: number;
}

export const DEFAULT_EXPRESSION_LIMITS: ExpressionLimits = {
  timeoutMs: 1_000,
  memoryBytes: 32 * 1024 * 1024,
  stackBytes: 32 * 1024,
};

/** No variable may ask for more: evaluation blocks the event loop while it runs. */
export const MAX_EXPRESSION_TIMEOUT_MS = 10_000;

/** The hard cap on the module's WebAssembly heap (pages of 64 KiB): 96 MiB. */
export const HEAP_LIMIT_BYTES = 96 * 1024 * 1024;
const PAGE = 64 * 1024;

export type ExpressionOutcome =
  | { readonly ok: true; readonly value: string }
  | {
      readonly ok: false;
      readonly reason: 'timeout' | 'memory' | 'stack' | 'error';
      readonly message: string;
    };

let loading: Promise<QuickJSWASMModule> | undefined;
let current: QuickJSWASMModule | undefined;

/** The shared QuickJS module, loaded on first use (again after one was dropped). */
export async function loadExpressionEngine(): Promise<ExpressionEngine> {
  if (!loading) {
    // lib ES2023 has no WebAssembly types (they come with the DOM lib); Node has the global.
    const { Memory } = (globalThis as unknown as { WebAssembly: { Memory: new (size: object) => never } })
      .WebAssembly;
    const memory = new Memory({ initial: (16 * 1024 * 1024) / PAGE, maximum: HEAP_LIMIT_BYTES / PAGE });
    loading = import('quickjs-emscripten')
      .then(({ newQuickJSWASMModule, newVariant, RELEASE_SYNC }) =>
        newQuickJSWASMModule(newVariant(RELEASE_SYNC, { wasmMemory: memory })),
      )
      .then((module) => {
        current = module;
        return module;
      });
    loading.catch(() => {
      loading = undefined;
    });
  }
  return new ExpressionEngine(await loading);
}

/** Forgets a module whose state can no longer be trusted; the next load makes a new one. */
function dropModule(module: QuickJSWASMModule): void {
  if (current === module) {
    current = undefined;
    loading = undefined;
  }
}

/** The WebAssembly heap of the shared module, in bytes (for leak tests); undefined if none. */
export function expressionHeapBytes(): number | undefined {
  const internals = current as unknown as { module?: { HEAPU8?: Uint8Array } } | undefined;
  return internals?.module?.HEAPU8?.byteLength;
}

export class ExpressionEngine {
  readonly #module: QuickJSWASMModule;

  constructor(module: QuickJSWASMModule) {
    this.#module = module;
  }

  /** A runtime for the expressions of one render call; dispose it when the call ends. */
  openBatch(limits: ExpressionLimits = DEFAULT_EXPRESSION_LIMITS): ExpressionBatch {
    return new ExpressionBatch(this.#module, limits);
  }
}

function classify(name: string, message: string): 'timeout' | 'memory' | 'stack' | 'error' {
  if (name === 'InternalError' && message === 'interrupted') return 'timeout';
  if (message === 'out of memory' || message === 'string too long') return 'memory';
  if (message === 'stack overflow' || message === 'Maximum call stack size exceeded') return 'stack';
  return 'error';
}

/** A string property of a QuickJS object, or undefined when absent or unreadable. */
function readString(context: QuickJSContext, handle: QuickJSHandle, key: string): string | undefined {
  const property = context.getProp(handle, key);
  try {
    return context.typeof(property) === 'string' ? context.getString(property) : undefined;
  } catch {
    return undefined;
  } finally {
    property.dispose();
  }
}

export class ExpressionBatch {
  readonly #module: QuickJSWASMModule;
  readonly #limits: ExpressionLimits;
  #runtime: QuickJSRuntime | undefined;
  #broken = false;

  constructor(module: QuickJSWASMModule, limits: ExpressionLimits) {
    this.#module = module;
    this.#limits = limits;
  }

  #runtimeFor(): QuickJSRuntime {
    if (!this.#runtime) {
      this.#runtime = this.#module.newRuntime();
      this.#runtime.setMemoryLimit(Math.min(this.#limits.memoryBytes, HEAP_LIMIT_BYTES - 16 * 1024 * 1024));
      this.#runtime.setMaxStackSize(this.#limits.stackBytes);
    }
    return this.#runtime;
  }

  /**
   * Runs `source` with `globals` (name → JSON text) defined, and returns its completion
   * value as `String(value)` gives it, as µTask's otto variables did (`2 + 2` gives "4";
   * return `JSON.stringify(x)` and read it with fromJson for structured values).
   */
  evaluate(source: string, globals: Readonly<Record<string, string>>, timeoutMs: number): ExpressionOutcome {
    if (this.#broken) {
      return { ok: false, reason: 'error', message: 'expression engine unavailable after a failure' };
    }
    const runtime = this.#runtimeFor();
    const context = runtime.newContext();
    const deadline = Date.now() + timeoutMs;
    runtime.setInterruptHandler(() => Date.now() > deadline);
    try {
      return this.#run(context, source, globals);
    } catch (error) {
      // Only a failure of the host itself gets here (V8's stack overflowing inside the
      // WebAssembly): the module's state is unknown, so it is abandoned, not disposed.
      this.#broken = true;
      dropModule(this.#module);
      const message = error instanceof Error ? error.message : String(error);
      return { ok: false, reason: classify('', message) === 'stack' ? 'stack' : 'error', message };
    } finally {
      if (!this.#broken) {
        runtime.removeInterruptHandler();
        context.dispose();
      }
    }
  }

  #run(
    context: QuickJSContext,
    source: string,
    globals: Readonly<Record<string, string>>,
  ): ExpressionOutcome {
    // QuickJS seeds Math.random from the clock when a context is made, so two contexts
    // made within the same tick would draw the same numbers: reseed from the host's CSPRNG.
    const [a, b, c, d] = randomBytes(16).toString('hex').match(/.{8}/g) ?? [];
    const seeded = context.evalCode(
      `(() => { const s = [0x${a}, 0x${b}, 0x${c}, 0x${d} | 1]; Math.random = () => { let t = s[3]; const r = s[0]; s[3] = s[2]; s[2] = s[1]; s[1] = r; t ^= t << 11; t ^= t >>> 8; s[0] = (t ^ r ^ (r >>> 19)) >>> 0; return s[0] / 4294967296; }; })()`,
      'random.js',
    );
    if (seeded.error) return this.#failure(context, seeded.error);
    seeded.value.dispose();
    for (const [name, json] of Object.entries(globals)) {
      const failure = this.#define(context, name, json);
      if (failure) return failure;
    }
    const result = context.evalCode(source, 'expression.js');
    if (result.error) return this.#failure(context, result.error);
    const value = result.value;
    try {
      if (context.typeof(value) === 'string') return { ok: true, value: context.getString(value) };
      const toString = context.getProp(context.global, 'String');
      try {
        const text = context.callFunction(toString, context.undefined, value);
        if (text.error) return this.#failure(context, text.error);
        try {
          return { ok: true, value: context.getString(text.value) };
        } finally {
          text.value.dispose();
        }
      } finally {
        toString.dispose();
      }
    } finally {
      value.dispose();
    }
  }

  /** Defines a global from JSON text with JSON.parse inside QuickJS (so "__proto__" stays a key). */
  #define(context: QuickJSContext, name: string, json: string): ExpressionOutcome | undefined {
    const text = context.newString(json);
    try {
      const parse = context.evalCode('(s) => JSON.parse(s)', 'globals.js');
      if (parse.error) return this.#failure(context, parse.error);
      try {
        const parsed = context.callFunction(parse.value, context.undefined, text);
        if (parsed.error) return this.#failure(context, parsed.error);
        context.setProp(context.global, name, parsed.value);
        parsed.value.dispose();
        return undefined;
      } finally {
        parse.value.dispose();
      }
    } finally {
      text.dispose();
    }
  }

  #failure(context: QuickJSContext, handle: QuickJSHandle): ExpressionOutcome {
    let name = 'Error';
    let message: string | undefined;
    try {
      if (context.typeof(handle) === 'object') {
        name = readString(context, handle, 'name') ?? 'Error';
        message = readString(context, handle, 'message');
        // An error whose message cannot even be read: the heap is full (its cap was hit
        // while the expression's objects are still alive), which is an out-of-memory.
        if (message === undefined) return { ok: false, reason: 'memory', message: 'out of memory' };
      } else {
        const dumped: unknown = context.dump(handle);
        message = `uncaught ${JSON.stringify(dumped) ?? String(dumped)}`;
        return { ok: false, reason: 'error', message };
      }
    } finally {
      handle.dispose();
    }
    const reason = classify(name, message);
    return { ok: false, reason, message: reason === 'error' ? `${name}: ${message}` : message };
  }

  dispose(): void {
    if (!this.#runtime || this.#broken) return;
    try {
      this.#runtime.dispose();
    } catch {
      // A runtime that fails its own consistency check taints the module: drop it.
      dropModule(this.#module);
    }
    this.#runtime = undefined;
  }
}
