import path from 'node:path';
import type { Command } from 'commander';
import { TaskhostError } from '../../errors.ts';
import { settingsOf } from '../config.ts';
import { withStore, storeOptions, type StoreFlags } from '../context.ts';
import { normalisePrefix } from '../../api/ui.ts';

export interface ServeFlags extends StoreFlags {
  port: string;
  host: string;
  tasks: string;
  templates: string;
  functions: string;
  scripts: string;
  outputCap: string;
  shutdownTimeout: string;
  basePath?: string;
}

/** A loopback address: the only binds allowed without authentication (SPEC section 8). */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

function positiveInteger(value: string, flag: string, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > max) {
    throw new TaskhostError('TH_CLI_USAGE', `${flag} must be a whole number up to ${max}`);
  }
  return n;
}

/** How callers are identified, for the start banner. */
function describeAuth(
  modes: { basic: boolean; trustedHeader: boolean },
  security: { usersFile: string | null; trustedHeader: string | null; admins: readonly string[] },
): string {
  const ways = [
    ...(modes.basic ? [`basic (${security.usersFile})`] : []),
    ...(modes.trustedHeader ? [`header ${security.trustedHeader} from trusted proxies`] : []),
  ];
  if (ways.length === 0) return 'off: every caller is the local user, an admin';
  return `${ways.join(', ')}; admins: ${security.admins.join(', ') || 'none'}`;
}

export async function serve(flags: ServeFlags, command: Command): Promise<number> {
  // taskhost.yaml's port, host, tasks… are in `flags` already; the rest (auth, encryption,
  // config, limits) is carried here until the server takes it.
  const settings = await settingsOf(command);
  const port = positiveInteger(flags.port, '--port', 65535);
  const outputCapBytes = positiveInteger(flags.outputCap, '--output-cap');
  const basePath = normalisePrefix(flags.basePath ?? '');
  if (basePath === null) {
    throw new TaskhostError(
      'TH_CLI_USAGE',
      `--base-path must be a URL path such as /ops, not "${flags.basePath}"`,
    );
  }
  const shutdownTimeoutMs = positiveInteger(flags.shutdownTimeout, '--shutdown-timeout', 86_400) * 1000;
  if (settings.heartbeatIntervalMs <= 0 || settings.heartbeatIntervalMs >= settings.instanceDeathTimeoutMs) {
    throw new TaskhostError(
      'TH_CONFIG_INVALID',
      `heartbeat_interval (${settings.heartbeatIntervalMs} ms) must be above zero and below instance_death_timeout (${settings.instanceDeathTimeoutMs} ms), or live instances would be taken for dead`,
    );
  }
  const { authModesOf, isAuthOn, DEFAULT_SECURITY } = await import('../../api/auth/security.ts');
  const security = {
    ...DEFAULT_SECURITY,
    admins: settings.admins,
    usersFile: settings.auth.usersFile,
    trustedHeader: settings.auth.trustedHeader,
    trustedGroupsHeader: settings.auth.trustedGroupsHeader,
    trustedProxies: settings.auth.trustedProxies,
    allowedHosts: settings.allowedHosts,
  };
  // Decided once: a users file created while serving takes effect at the next start.
  const authModes = authModesOf(security);
  if (!isAuthOn(authModes) && !isLoopback(flags.host)) {
    throw new TaskhostError(
      'TH_CONFIG_INVALID',
      `refusing to listen on ${flags.host}: no authentication is configured, so taskhost binds loopback addresses only (127.0.0.1, ::1); add a user (taskhost user add NAME) or set auth.trusted_header`,
    );
  }
  if (isAuthOn(authModes)) {
    // The proxy ranges are checked now, not at the first request.
    const { trustedPeers } = await import('../../api/auth/authenticate.ts');
    trustedPeers(security.trustedProxies);
  }
  const { buildServer } = await import('../../api/build-server.ts');
  const { DEFAULT_SERVER_CONFIG } = await import('../../api/services.ts');
  const { EventHub } = await import('../../stream/hub.ts');
  const { registerDirectory } = await import('../../plugins/registry.ts');
  const { describeStore } = await import('../../store/open.ts');
  const { Instance } = await import('../../runs/instance.ts');

  return withStore(flags, async ({ store, signal, supervisor }) => {
    const tasksDir = path.resolve(flags.tasks);
    const found = await registerDirectory(store, tasksDir);
    for (const failure of found.failed) {
      process.stderr.write(`taskhost: skipped ${failure.file}: ${failure.error}\n`);
    }

    // Templates are checked against the builtins and the plugins now registered; one with
    // errors is not served, and says why here.
    const { loadTemplateCatalog } = await import('../../api/template-catalog.ts');
    const { BUILTIN_ACTIONS } = await import('../../plugins/builtins.ts');
    const { listPlugins } = await import('../../store/queries/plugins.ts');
    const { formatIssue } = await import('../../template/errors.ts');
    const actions = new Set([...BUILTIN_ACTIONS, ...(await listPlugins(store)).map((row) => row.name)]);
    const { catalog, issues } = await loadTemplateCatalog(flags.templates, flags.functions, actions);
    for (const issue of issues) process.stderr.write(`taskhost: not served: ${formatIssue(issue)}\n`);

    const hub = new EventHub(store);
    // The server owns its runs as a heartbeating instance (the collectors of a shared
    // PostgreSQL read the beats; this host's next start re-collects it if it dies).
    const owner = new Instance(store, 'server');
    await owner.start(settings.heartbeatIntervalMs);
    const { ServerMetrics } = await import('../../api/routes/metrics.ts');
    const metrics = new ServerMetrics();
    const app = await buildServer({
      store,
      hub,
      owner,
      supervisor,
      metrics,
      templates: catalog,
      security,
      authModes,
      secrets: settings.secrets,
      config: {
        ...DEFAULT_SERVER_CONFIG,
        outputCapBytes,
        logLevel: process.env.TASKHOST_LOG_LEVEL ?? 'warn',
        maintenanceMode: settings.maintenanceMode,
        basePath,
      },
    });
    // The engine: any due resolution of the shared store may run here (engine/scheduler.ts).
    const { engineServices } = await import('../../engine/engine.ts');
    const { Scheduler } = await import('../../engine/scheduler.ts');
    // The engine's own signal: a stop first lets running steps go on (up to the shutdown
    // timeout), then cancels them; their tasks are then released to the other instances.
    const engineStop = new AbortController();
    const scheduler = new Scheduler(
      engineServices({
        store,
        hub,
        owner,
        scriptsDir: path.resolve(flags.scripts),
        config: settings.configValues,
        secrets: settings.secrets,
        resourceLimits: settings.resourceLimits,
        signal: engineStop.signal,
        findTemplate: async (name) => catalog.find(name),
        onStepRun: (action, state, seconds) => metrics.observeStep(action, state, seconds),
      }),
      {
        maxConcurrent: settings.maxConcurrentExecutions,
        deathTimeoutMs: settings.instanceDeathTimeoutMs,
        onError: (error) => app.log.error({ err: error }, 'scheduling failed'),
        onLost: (resolution, error) =>
          app.log.warn(
            { err: error, resolution },
            'resolution taken over by another instance while this one was taken for dead: its late results are dropped, its steps stopped',
          ),
      },
    );
    const { GarbageCollector } = await import('../../engine/garbage.ts');
    const garbage = new GarbageCollector(store, settings.completedTaskExpirationMs, (error) =>
      app.log.error({ err: error }, 'deleting expired tasks failed'),
    );
    try {
      await app.listen({ port, host: flags.host });
      // In maintenance mode (µTask's) this instance serves reads and claims no work.
      if (!settings.maintenanceMode) {
        await scheduler.start();
        garbage.start();
      }
    } catch (error) {
      await garbage.stop();
      await scheduler.stop();
      await app.close();
      await owner.stop();
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE') {
        throw new TaskhostError('TH_CONFIG_INVALID', `${flags.host}:${port} is already in use; pass --port`);
      }
      throw error;
    }
    const templateNames =
      catalog.templates.size > 0 ? [...catalog.templates.keys()].sort().join(', ') : 'none';
    const names = found.registered.map((row) => row.name).join(', ') || 'none';
    const address = app.server.address();
    const actualPort = address && typeof address === 'object' ? address.port : port;
    process.stderr.write(
      `taskhost listening on http://${flags.host.includes(':') ? `[${flags.host}]` : flags.host}:${actualPort}\n` +
        (settings.file ? `  settings: ${settings.file}\n` : '') +
        `  store: ${describeStore(storeOptions(flags))}\n` +
        `  auth: ${describeAuth(authModes, security)}\n` +
        `  plugins from ${path.relative(process.cwd(), tasksDir) || '.'}: ${names}\n` +
        `  templates from ${flags.templates}: ${templateNames}\n` +
        (settings.maintenanceMode ? '  maintenance mode: changes refused (503), no work claimed\n' : '') +
        `  dashboard: ${basePath}/ui/ · API spec: ${basePath}/unsecured/spec.json · stop with Ctrl-C\n`,
    );
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    process.stderr.write('taskhost: stopping\n');
    // No new claim. The resolutions under way may finish within the shutdown timeout; past
    // it their plugins are cancelled, and the unfinished tasks end CRASHED, which any other
    // instance claims at once. Either way all of it is stored before the store closes.
    const deadline = setTimeout(() => engineStop.abort('the server is stopping'), shutdownTimeoutMs);
    await garbage.stop();
    await scheduler.stop();
    clearTimeout(deadline);
    await app.close();
    await owner.stop();
    return 0;
  });
}
