import type { FastifyInstance } from 'fastify';
import { Gauge, Histogram, Registry } from 'prom-client';
import type { Store } from '../../store/store.ts';

/**
 * What this instance measures itself, beside the counts read from the store: how long the
 * steps it ran took, by action type and end state (the engine reports each one, see
 * EngineServices.onStepRun). `serve` makes one and hands it to the engine and the API.
 */
export class ServerMetrics {
  readonly registry = new Registry();
  private readonly stepDuration = new Histogram({
    name: 'taskhost_step_duration_seconds',
    help: 'Duration of the step executions this instance ran, by action type and end state',
    labelNames: ['action', 'state'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });

  observeStep(action: string, state: string, seconds: number): void {
    this.stepDuration.observe({ action, state }, seconds);
  }
}

/**
 * `GET /metrics` in Prometheus' text format (prom-client). Counts come from the store at
 * scrape time, so every instance reports the shared state the same way, and an instance
 * that restarts loses nothing: tasks by state, plugin and step runs by state and action,
 * runs under way by the instance running them, resolutions due but not claimed (and how late
 * the oldest is: the claim lag), and the heartbeat age of every instance, so an operator
 * sees where work runs and whether an instance went quiet. This instance's own: its step
 * durations (ServerMetrics) and its WebSocket subscribers.
 */
export function metricsRoutes(app: FastifyInstance, deps: { store: Store; metrics?: ServerMetrics }): void {
  const { registry } = deps.metrics ?? new ServerMetrics();
  const tasks = new Gauge({
    name: 'taskhost_tasks',
    help: 'Tasks by state',
    labelNames: ['state'],
    registers: [registry],
  });
  const runs = new Gauge({
    name: 'taskhost_runs',
    help: 'Plugin and step runs by state and action type',
    labelNames: ['state', 'action'],
    registers: [registry],
  });
  const due = new Gauge({
    name: 'taskhost_resolutions_due',
    help: 'Resolutions due (next_retry passed) and not claimed',
    registers: [registry],
  });
  const claimLag = new Gauge({
    name: 'taskhost_claim_lag_seconds',
    help: 'How long the oldest due resolution has waited to be claimed',
    registers: [registry],
  });
  const running = new Gauge({
    name: 'taskhost_runs_running',
    help: 'Runs under way, by the instance running them (HOSTNAME/PID)',
    labelNames: ['instance'],
    registers: [registry],
  });
  const subscribers = new Gauge({
    name: 'taskhost_websocket_subscribers',
    help: 'Run and task stream subscribers connected to this instance',
    registers: [registry],
  });
  const heartbeat = new Gauge({
    name: 'taskhost_instance_heartbeat_age_seconds',
    help: 'Seconds since each instance last said it is alive',
    labelNames: ['instance', 'hostname', 'kind'],
    registers: [registry],
  });

  const collect = async (): Promise<void> => {
    const [taskRows, runRows, dueRows, instanceRows, runningRows] = await Promise.all([
      deps.store.query<{ state: string; n: string }>('SELECT state, count(*) AS n FROM task GROUP BY state'),
      deps.store.query<{ state: string; action: string; n: string }>(
        'SELECT state, plugin_name AS action, count(*) AS n FROM run GROUP BY state, plugin_name',
      ),
      deps.store.query<{ n: string; lag: number | null }>(
        `SELECT count(*) AS n, extract(epoch FROM now() - min(next_retry))::float8 AS lag FROM resolution
          WHERE state IN ('ERROR', 'WAITING', 'TO_AUTORUN_DELAYED', 'RETRY', 'TO_AUTORUN') AND next_retry <= now()`,
      ),
      deps.store.query<{ id: string; hostname: string; kind: string; age: number }>(
        'SELECT id, hostname, kind, extract(epoch FROM now() - heartbeat_at)::float8 AS age FROM instance',
      ),
      deps.store.query<{ instance: string; n: string }>(
        `SELECT ran_on AS instance, count(*) AS n FROM run
          WHERE state = 'RUNNING' AND ran_on IS NOT NULL GROUP BY ran_on`,
      ),
    ]);
    tasks.reset();
    for (const row of taskRows.rows) tasks.set({ state: row.state }, Number(row.n));
    runs.reset();
    for (const row of runRows.rows) runs.set({ state: row.state, action: row.action }, Number(row.n));
    due.set(Number(dueRows.rows[0]?.n ?? 0));
    claimLag.set(Math.max(0, dueRows.rows[0]?.lag ?? 0));
    subscribers.set(app.websocketServer?.clients.size ?? 0);
    running.reset();
    for (const row of runningRows.rows) running.set({ instance: row.instance }, Number(row.n));
    heartbeat.reset();
    for (const row of instanceRows.rows) {
      heartbeat.set({ instance: row.id, hostname: row.hostname, kind: row.kind }, row.age);
    }
  };

  app.get(
    '/metrics',
    {
      schema: {
        summary: 'Prometheus metrics',
        tags: ['monitoring'],
        response: { 200: { type: 'string' } },
      },
    },
    async (_request, reply) => {
      await collect();
      reply.type(registry.contentType);
      return registry.metrics();
    },
  );
}
