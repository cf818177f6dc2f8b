import type { FastifyInstance } from 'fastify';

export function monitoringRoutes(app: FastifyInstance): void {
  app.get(
    '/unsecured/mon/ping',
    {
      schema: {
        summary: 'Liveness',
        tags: ['monitoring'],
        response: { 200: { type: 'object', properties: { status: { type: 'string' } } } },
      },
    },
    async () => ({ status: 'pong' }),
  );
  app.get(
    '/unsecured/spec.json',
    { schema: { summary: 'This OpenAPI 3 document', tags: ['monitoring'] } },
    async () => app.swagger(),
  );
}
