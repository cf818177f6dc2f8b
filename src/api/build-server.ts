import swagger from '@fastify/swagger';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyInstance } from 'fastify';
import { installErrorHandler } from './error-handler.ts';
import { monitoringRoutes } from './routes/monitoring.ts';
import { pluginRoutes } from './routes/plugins.ts';
import { runRoutes } from './routes/runs.ts';
import { streamRoutes } from './routes/stream.ts';
import { InflightRuns, type ServerDeps } from './services.ts';

/**
 * Builds the API without listening (tests drive it over a real socket on port 0; `serve`
 * listens on the configured address). Closing it aborts and awaits the runs it started.
 */
export async function buildServer(deps: ServerDeps): Promise<FastifyInstance> {
  const app = Fastify({
    logger: { level: deps.config.logLevel },
    ajv: { customOptions: { allErrors: true, coerceTypes: 'array', removeAdditional: false } },
  });
  installErrorHandler(app);
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'taskhost',
        description: 'Action plugins, runs and their live streams.',
        version: '0.1.0',
      },
    },
  });
  await app.register(websocket, { options: { maxPayload: 64 * 1024 } });
  // @fastify/websocket hides WebSocket routes from the spec; the streams belong in it.
  app.addHook('onRoute', (route) => {
    if (route.websocket && route.schema) route.schema.hide = false;
  });

  const inflight = new InflightRuns();
  app.addHook('onClose', async () => {
    await inflight.abortAll();
  });
  monitoringRoutes(app);
  pluginRoutes(app, deps, inflight);
  runRoutes(app, deps);
  streamRoutes(app, deps);
  return app;
}
