import fs from 'node:fs';
import type { OutputLine } from '../../plugins/output.ts';
import type { RunnablePlugin } from '../../plugins/run-plugin.ts';
import { isFailedState } from '../../protocol/states.ts';
import { resultEnvelope } from '../../runs/envelope.ts';
import { withStore, type CommandContext, type StoreFlags } from '../context.ts';
import { parseJson, readJsonFlag, timeoutFlag, usage } from '../flag-values.ts';
import { paint, printJson, useColour } from '../output.ts';

export interface ExecuteFlags extends StoreFlags {
  name: string;
  args?: string;
  argsFile?: string;
  batch?: string;
  concurrency: string;
  timeout?: string;
  server?: string;
  async?: boolean;
  quiet?: boolean;
}

function readData(flags: ExecuteFlags): unknown {
  const data = readJsonFlag(flags.args, flags.argsFile, { inline: '--args', file: '--args-file' });
  return data === undefined ? {} : data.value;
}

/** `TASK::NAME line` on stderr, as the reference runner logs. */
function logPrinter(prefix: string, quiet: boolean | undefined): (line: OutputLine) => void {
  if (quiet) return () => undefined;
  const colour = useColour(process.stderr);
  return (line) => {
    const text = line.stream === 'taskhost' ? paint(colour, 'magenta', `[taskhost] ${line.text}`) : line.text;
    process.stderr.write(`${paint(colour, 'dim', prefix)} ${text}\n`);
  };
}

export async function execute(flags: ExecuteFlags): Promise<number> {
  if (flags.async && !flags.server) throw usage('--async runs through a server: add --server URL');
  if (flags.batch !== undefined) {
    if (flags.args !== undefined || flags.argsFile !== undefined) {
      throw usage('--batch reads the data from its file: drop --args');
    }
    if (flags.server) throw usage('--batch runs locally; use POST /plugin/NAME/batch for a server');
    return executeBatch(flags);
  }
  const data = readData(flags);
  if (flags.server) {
    const { executeRemote } = await import('./remote.ts');
    return executeRemote(
      flags.server,
      flags.name,
      data,
      Boolean(flags.async),
      logPrinter(`TASK::${flags.name}`, flags.quiet),
    );
  }

  const timeout = timeoutFlag(flags.timeout);
  return withStore(
    flags,
    async ({ store, supervisor, owner }, [{ loadPlugin }, { executeRun }]) => {
      const plugin = await loadPlugin(store, flags.name);
      const run = await supervisor.run((signal) =>
        executeRun({
          store,
          plugin,
          data,
          origin: 'cli',
          owner,
          lastOfOwner: true,
          requester: process.env.USER ?? null,
          timeoutMs: timeout,
          signal,
          onLine: logPrinter(`TASK::${plugin.name}`, flags.quiet),
          onStoreError: storeTrouble(),
        }),
      );
      printJson(resultEnvelope(run.outcome, run.id));
      return isFailedState(run.outcome.state) ? 1 : 0;
    },
    // Loaded while the store opens (the embedded cluster boots in its own process meanwhile).
    () => {
      void import('../../plugins/fifo-pool.ts').then((pool) => pool.sharedFifoPool().prefill());
      return Promise.all([import('../../plugins/registry.ts'), import('../../runs/execute.ts')]);
    },
  );
}

/** Says once, on stderr, that the store is being waited for (PostgreSQL restarting under a run). */
function storeTrouble(): (error: unknown) => void {
  let said = false;
  return (error) => {
    if (said) return;
    said = true;
    process.stderr.write(`taskhost: the store is unavailable (${(error as Error).message}); retrying\n`);
  };
}

/** Reads a JSON Lines file: every non-blank line must be a JSON value; names the bad ones. */
function readBatch(file: string): { line: number; data: unknown }[] {
  let text: string;
  try {
    text = fs.readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (error) {
    throw usage(`--batch ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  const items: { line: number; data: unknown }[] = [];
  text.split('\n').forEach((raw, index) => {
    if (raw.trim() === '') return;
    items.push({ line: index + 1, data: parseJson(raw, `${file}:${index + 1}`) });
  });
  if (items.length === 0) throw usage(`--batch ${file}: no lines to run`);
  return items;
}

async function executeBatch(flags: ExecuteFlags): Promise<number> {
  const items = readBatch(flags.batch as string);
  const { resolveConcurrency } = await import('../../runs/batch.ts');
  const limit = resolveConcurrency(flags.concurrency);
  const timeout = timeoutFlag(flags.timeout);
  return withStore(flags, async (context) => {
    const { loadPlugin } = await import('../../plugins/registry.ts');
    const { checkRunData } = await import('../../runs/execute.ts');
    const plugin = await loadPlugin(context.store, flags.name);
    // Every line is checked before any run is stored, as the API checks a batch's items.
    for (const item of items) await checkRunData(plugin, item.data, `${flags.batch}:${item.line}: `);
    return runLocalBatch(context, plugin, items, limit, timeout, flags);
  });
}

async function runLocalBatch(
  { store, supervisor, owner }: CommandContext,
  plugin: RunnablePlugin,
  items: { line: number; data: unknown }[],
  limit: number,
  timeout: number | undefined,
  flags: ExecuteFlags,
): Promise<number> {
  const { createBatch, runBatch } = await import('../../runs/batch.ts');
  const tty = Boolean(process.stderr.isTTY);
  const colour = useColour(process.stderr);
  const results: (Record<string, unknown> | undefined)[] = new Array(items.length);
  const started = new Set<number>();
  let printed = 0;
  let running = 0;
  let finished = 0;
  let failed = 0;

  const progress = (): void => {
    if (!tty || flags.quiet) return;
    const bad = failed > 0 ? paint(colour, 'red', `${failed} failed`) : '0 failed';
    process.stderr.write(
      `\r\u001b[K${plugin.name}: ${finished}/${items.length} done, ${bad}, ${running} running`,
    );
  };
  // On a TTY the progress line replaces the logs; piped, every line is logged with its item.
  const printers = items.map((item) =>
    tty ? undefined : logPrinter(`TASK::${plugin.name}:${item.line}`, flags.quiet),
  );
  const request = {
    store,
    plugin,
    items: items.map((item) => item.data),
    limit,
    origin: 'cli' as const,
    owner,
    requester: process.env.USER ?? null,
    timeoutMs: timeout,
    signal: supervisor.signal,
    onStoreError: storeTrouble(),
    onLine: (index: number, line: OutputLine) => printers[index]?.(line),
    onStart: (index: number) => {
      started.add(index);
      running += 1;
      progress();
    },
    onResult: (index: number, envelope: Record<string, unknown>) => {
      if (started.has(index)) running -= 1;
      finished += 1;
      if (isFailedState(String(envelope.state))) failed += 1;
      results[index] = { line: items[index]?.line, ...envelope };
      // Results go out in the order of the file, each as soon as those before it are done.
      while (printed < results.length && results[printed]) {
        process.stdout.write(`${JSON.stringify(results[printed])}\n`);
        results[printed] = {};
        printed += 1;
      }
      progress();
    },
  };
  const batch = await createBatch(request);
  progress();
  await supervisor.run(() => runBatch(request, batch));
  if (tty && !flags.quiet) process.stderr.write('\n');
  process.stderr.write(
    `batch ${batch.batchId}: ${items.length} runs, ${items.length - failed} succeeded, ${failed} failed\n`,
  );
  return failed > 0 ? 1 : 0;
}
