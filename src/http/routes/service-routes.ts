import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Runtime } from '../../runtime.js';
import { publicAccess } from '../auth.js';

/** Liveness, readiness and metrics: what a load balancer and Prometheus ask. */
export function serviceRoutes(runtime: Runtime): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/healthz',
      { config: { access: publicAccess }, schema: { hide: true, response: { 200: Type.Object({ status: Type.Literal('ok') }) } } },
      async () => ({ status: 'ok' as const }),
    );
    app.get('/readyz', { config: { access: publicAccess }, schema: { hide: true } }, async (_request, reply) => {
      const ready = await runtime.ready();
      return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready' });
    });
    app.get('/metrics', { config: { access: publicAccess }, schema: { hide: true } }, async (_request, reply) => {
      return reply.header('content-type', runtime.metrics.registry.contentType).send(await runtime.metrics.registry.metrics());
    });
  };
}
