import { maskerOf } from '../engine/secrets.ts';
import helmet from '@fastify/helmet';
import swagger from '@fastify/swagger';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyInstance } from 'fastify';
import { TaskhostError } from '../errors.ts';
import { VERSION } from '../version.ts';
import { installAuthentication } from './auth/authenticate.ts';
import { installBodyRules, installHostCheck } from './auth/request-guard.ts';
import { authModesOf, DEFAULT_SECURITY } from './auth/security.ts';
import { installErrorHandler } from './error-handler.ts';
import { errorResponses } from './error-schema.ts';
import { batchRoutes } from './routes/batches.ts';
import { callbackRoutes } from './routes/callbacks.ts';
import { commentRoutes } from './routes/comments.ts';
import { functionRoutes } from './routes/functions.ts';
import { KEY_ROTATE_ROUTE, keyRoutes } from './routes/keys.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { monitoringRoutes } from './routes/monitoring.ts';
import { pluginRoutes } from './routes/plugins.ts';
import { resolutionRoutes } from './routes/resolutions.ts';
import { runRoutes } from './routes/runs.ts';
import { streamRoutes } from './routes/stream.ts';
import { taskEditRoutes } from './routes/task-edits.ts';
import { taskStreamRoutes } from './routes/task-stream.ts';
import { taskRoutes } from './routes/tasks.ts';
import { templateRoutes } from './routes/templates.ts';
import { meRoutes } from './routes/me.ts';
import { uiRoutes } from './ui.ts';
import { RunSupervisor } from '../runs/supervisor.ts';
import type { ServerDeps } from './services.ts';

/** What maintenance mode lets through. */
const READ_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Builds the API without listening (tests drive it over a real socket on port 0; `serve`
 * listens on the configured address). Closing it cancels and awaits the runs it started.
 */
export async function buildServer(deps: ServerDeps): Promise<FastifyInstance> {
  const app = Fastify({
    logger: { level: deps.config.logLevel, stream: logDestination(deps) },
    ajv: { customOptions: { allErrors: true, coerceTypes: 'array', removeAdditional: false } },
    // A caller's X-Request-Id is kept (a proxy's, to follow one request across systems);
    // otherwise fastify numbers them. Every log line of the request carries it as reqId.
    requestIdHeader: 'x-request-id',
    // Behind a proxy that keeps the path prefix (`--base-path /ops`), /ops/task is /task.
    rewriteUrl: deps.config.basePath
      ? (request) => stripPrefix(request.url ?? '/', deps.config.basePath)
      : undefined,
  });
  installErrorHandler(app);
  app.addHook('onRequest', async (request, reply) => {
    void reply.header('x-request-id', request.id);
  });
  // First: its hooks mark upgrade requests, so an upgrade refused by any later hook (421,
  // 401) has its socket closed once answered.
  await app.register(websocket, { options: { maxPayload: 64 * 1024 } });
  // Security headers on every answer, refusals and the dashboard's pages included. Served
  // over plain HTTP on a loopback address as often as behind TLS: no upgrade of requests,
  // and HSTS is the TLS proxy's to send.
  await app.register(helmet, {
    contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } },
    strictTransportSecurity: false,
  });
  // In this order, on every request, WebSocket upgrades included: the Host, who calls
  // (401 without an identity), then the body's origin and type (SPEC section 8).
  const security = deps.security ?? DEFAULT_SECURITY;
  installHostCheck(app, security.allowedHosts);
  await installAuthentication(app, security, deps.authModes ?? authModesOf(security));
  installBodyRules(app, security.allowedHosts);
  app.addHook('onRequest', async (request) => {
    const exempt = request.method === 'POST' && request.url.split('?')[0] === KEY_ROTATE_ROUTE;
    if (deps.config.maintenanceMode && !READ_METHODS.has(request.method) && !exempt) {
      throw new TaskhostError(
        'TH_MAINTENANCE',
        'taskhost is in maintenance mode: nothing can be changed for now (reads still work); try again later',
      );
    }
  });
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'taskhost',
        description: 'Templates, tasks, action plugins, runs and their live streams.',
        version: VERSION,
      },
      // With auth on (SPEC section 8): basic auth, or an identity a trusted proxy sets.
      components: { securitySchemes: { basic: { type: 'http', scheme: 'basic' } } },
      security: [{ basic: [] }],
    },
  });
  // @fastify/websocket hides WebSocket routes from the spec; the streams belong in it.
  app.addHook('onRoute', (route) => {
    if (route.websocket && route.schema) route.schema.hide = false;
    if (!route.schema) return;
    if (route.url.startsWith('/unsecured/')) {
      route.schema.security = [];
    } else if (!route.websocket) {
      route.schema.response = { ...(route.schema.response as object), ...errorResponses(401) };
    }
  });

  // Runs that fail in the background are logged, never swallowed.
  const supervisor =
    deps.supervisor ?? new RunSupervisor((error) => app.log.error({ err: error }, 'run failed'));
  app.addHook('preClose', async () => {
    // Cancel every run (plugins terminated, unstarted batch items recorded as cancelled)
    // before fastify waits for open requests, so a sync run does not hold the close.
    supervisor.cancelAll('the server is stopping');
    if (!(await supervisor.settle(deps.config.shutdownGraceMs))) {
      app.log.error(`runs still not recorded ${deps.config.shutdownGraceMs} ms after the stop; leaving them`);
    }
  });
  monitoringRoutes(app);
  metricsRoutes(app, deps);
  pluginRoutes(app, { ...deps, supervisor });
  runRoutes(app, deps);
  streamRoutes(app, deps);
  templateRoutes(app, deps);
  functionRoutes(app, deps);
  taskRoutes(app, deps);
  taskEditRoutes(app, deps);
  commentRoutes(app, deps);
  batchRoutes(app, deps);
  taskStreamRoutes(app, deps);
  resolutionRoutes(app, deps);
  callbackRoutes(app, deps);
  keyRoutes(app, deps);
  meRoutes(app, deps);
  await uiRoutes(app, { basePath: deps.config.basePath });
  return app;
}

/**
 * Where the log lines go (`logStream`, else stdout), each with the secret `config` values
 * concealed as `***` (in their JSON-escaped form too: pino writes JSON lines).
 */
function logDestination(deps: ServerDeps): { write: (line: string) => void } {
  const target = deps.logStream ?? process.stdout;
  const secrets = deps.secrets ?? [];
  if (secrets.length === 0) return target;
  const mask = maskerOf([...secrets, ...secrets.map((text) => JSON.stringify(text).slice(1, -1))]);
  return { write: (line: string) => target.write(mask(line)) };
}

/** `url` without `prefix` when it starts with it (`/ops/task?x` → `/task?x`, `/ops` → `/`). */
export function stripPrefix(url: string, prefix: string): string {
  if (url === prefix) return '/';
  if (url.startsWith(prefix) && /^[/?]/.test(url.slice(prefix.length))) {
    const rest = url.slice(prefix.length);
    return rest.startsWith('?') ? `/${rest}` : rest;
  }
  return url;
}
