import type { FastifyInstance } from 'fastify';
import { Gauge, Registry } from 'prom-client';
import type { Store } from '../../store/store.ts';

/**
 * `GET /metrics` in Prometheus' text format (prom-client). Counts come from the store at
 * scrape time, so every instance reports the shared state the same way, and an instance
 * that restarts loses nothing: tasks by state, plugin and step runs by state and action,
 * resolutions due but not claimed (and how late the oldest is: the claim lag), and the
 * heartbeat age of every instance, so an operator sees where work runs and whether an
 * instance went quiet.
 */
export function metricsRoutes(app: FastifyInstance, deps: { store: Store }): void {
  const registry = new Registry();
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
  const heartbeat = new Gauge({
    name: 'taskhost_instance_heartbeat_age_seconds',
    help: 'Seconds since each instance last said it is alive',
    labelNames: ['instance', 'hostname', 'kind'],
    registers: [registry],
  });

  const collect = async (): Promise<void> => {
    const [taskRows, runRows, dueRows, instanceRows] = await Promise.all([
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
    ]);
    tasks.reset();
    for (const row of taskRows.rows) tasks.set({ state: row.state }, Number(row.n));
    runs.reset();
    for (const row of runRows.rows) runs.set({ state: row.state, action: row.action }, Number(row.n));
    due.set(Number(dueRows.rows[0]?.n ?? 0));
    claimLag.set(Math.max(0, dueRows.rows[0]?.lag ?? 0));
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
