import path from 'node:path';
import type { Instance } from '../runs/instance.ts';
import type { RunSupervisor } from '../runs/supervisor.ts';
import type { StoreOptions } from '../store/open.ts';
import type { Store } from '../store/store.ts';

/** Options every command that touches the store shares. */
export interface StoreFlags {
  dataDir?: string;
  databaseUrl?: string;
  /** `encryption.keys_file` or TASKHOST_KEYS_FILE (set from the settings: cli/config.ts). */
  keysFile?: string;
}

/**
 * Where the store is. Progress notices (creating the embedded cluster on first use) go to
 * a terminal only: a script reading stderr sees errors, and nothing else.
 */
export function storeOptions(flags: StoreFlags): StoreOptions {
  return {
    databaseUrl: flags.databaseUrl || process.env.DATABASE_URL || undefined,
    dataRoot: path.resolve(flags.dataDir ?? '.taskhost'),
    keysFile: flags.keysFile,
    notify: process.stderr.isTTY ? (message) => process.stderr.write(`taskhost: ${message}\n`) : undefined,
  };
}

/** What a command that uses the store gets. */
export interface CommandContext {
  store: Store;
  /** Aborted on the first Ctrl-C or SIGTERM. */
  signal: AbortSignal;
  /** The runs this command starts (cancelled and awaited on a signal). */
  supervisor: RunSupervisor;
  /** This process as the owner of its runs (registered with the first). */
  owner: Instance;
}

/** How long a second Ctrl-C waits for the killed plugins' runs to be recorded. */
const HURRIED_EXIT_MS = 3000;

/**
 * Opens the store for one command and always closes it (which stops the embedded cluster
 * when this process was its last user). Before the command, whatever a dead taskhost
 * process left running on this host is re-collected (runs/recollect.ts).
 *
 * Signals: the first Ctrl-C (or SIGTERM) cancels the command's runs: their plugins' groups
 * are terminated and the runs stored as cancelled, then the command ends. A second one
 * SIGKILLs every plugin group at once, gives the runs a moment to be recorded, and leaves.
 */
export async function withStore<T, P = undefined>(
  flags: StoreFlags,
  fn: (context: CommandContext, preloaded: P) => Promise<T>,
  preload?: () => Promise<P>,
): Promise<T> {
  // The store opens first, and the modules of the command (`preload`) and of this wrapper load
  // once PostgreSQL is on its way: the embedded postmaster boots in its own process meanwhile
  // (loaded before, they held its start back by ~70 ms); an external one is connected to.
  let onStarted: () => void = () => undefined;
  const started = new Promise<void>((resolve) => (onStarted = resolve));
  const opening = import('../store/open.ts').then(({ openStore }) =>
    openStore({ ...storeOptions(flags), started: onStarted }),
  );
  opening.then(onStarted, onStarted);
  await started;
  let modules;
  try {
    modules = await Promise.all([
      import('../runs/instance.ts'),
      import('../runs/supervisor.ts'),
      import('../runs/recollect.ts'),
      import('../plugins/groups.ts'),
      preload ? preload() : (undefined as P),
    ]);
  } catch (error) {
    await opening.then((store) => store.close()).catch(() => undefined);
    throw error;
  }
  const [{ Instance }, { RunSupervisor }, { recollectLocalRuns }, { killAllPluginGroups }, preloaded] =
    modules;
  const store = await opening;
  const supervisor = new RunSupervisor((error) =>
    process.stderr.write(`taskhost: ${(error as Error).message ?? String(error)}\n`),
  );
  const owner = new Instance(store, 'cli');
  let interrupted: NodeJS.Signals | null = null;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted) {
      killAllPluginGroups();
      void supervisor
        .settle(HURRIED_EXIT_MS)
        .then(() => Promise.race([store.close(), new Promise((resolve) => setTimeout(resolve, 1000))]))
        .finally(() => process.exit(130));
      return;
    }
    interrupted = signal;
    supervisor.cancelAll(`taskhost received ${signal}`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const recollected = await recollectLocalRuns(store, owner.id);
    if (recollected.runs > 0 && process.stderr.isTTY) {
      process.stderr.write(
        `taskhost: ${recollected.runs} run(s) of a taskhost process that died were marked SERVER_ERROR` +
          (recollected.groups > 0
            ? ` and ${recollected.groups} plugin(s) it left running were killed\n`
            : '\n'),
      );
    }
    return await fn({ store, signal: supervisor.signal, supervisor, owner }, preloaded);
  } finally {
    await supervisor.settle();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await owner.stop();
    await store.close();
    if (interrupted) process.exit(interrupted === 'SIGINT' ? 130 : 143);
  }
}
