import { createHash, randomBytes } from 'node:crypto';
import Fastify, { LogController } from 'fastify';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import fastifyRateLimit from '@fastify/rate-limit';
import fastifySwagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { errorCatalog, errorCodes } from '../errors.js';
import { limits } from '../limits.js';
import type { Runtime } from '../runtime.js';
import { opsEodRoutes, statementRoutes } from './routes/eod-routes.js';
import { opsWebhookRoutes, webhookRoutes } from './routes/webhook-routes.js';
import { reconciliationRoutes } from './routes/reconciliation-routes.js';
import { registerAuth } from './auth.js';
import { errorPayload, registerErrorMapping } from './error-mapping.js';
import { registerIdempotency } from './idempotency.js';
import { SnapshotRateLimitStore } from './rate-limit-store.js';
import { cardRoutes } from './routes/card-routes.js';
import { memberRoutes } from './routes/member-routes.js';
import { callbackRoutes, moneyRoutes } from './routes/money-routes.js';
import { orderRoutes } from './routes/order-routes.js';
import { opsWithdrawalRoutes, withdrawalRoutes } from './routes/withdrawal-routes.js';
import { opsRoutes } from './routes/ops-routes.js';
import { serviceRoutes } from './routes/service-routes.js';
import { ErrorBody } from './schemas.js';

export interface AppOptions {
  /** pino options, or false for silence (tests). */
  readonly logger?: FastifyServerOptions['logger'];
  readonly rateLimitPerWindow?: number;
}

/** Request ids: short, unguessable, and sent back as `request-id` and in every error. */
function requestId(): string {
  return `req_${randomBytes(9).toString('base64url')}`;
}

/**
 * Two validators: request bodies are taken as sent (an amount must be a JSON integer, never a
 * string that looks like one), while query strings and path parameters are text by nature
 * and are coerced to their declared types.
 */
function validatorCompilers() {
  const body = new Ajv({ coerceTypes: false, useDefaults: true, removeAdditional: false, allErrors: false, strict: false });
  const text = new Ajv({ coerceTypes: 'array', useDefaults: true, removeAdditional: false, allErrors: false, strict: false });
  addFormats.default(body);
  addFormats.default(text);
  return { body, text };
}

/** Secrets and personal data never reach a log line. */
const redact = {
  paths: [
    'req.headers.authorization',
    'req.headers["idempotency-key"]',
    '*.id_number',
    '*.card_number',
    '*.phone',
    '*.name',
    '*.sms_code',
    '*.api_key',
    '*.token',
  ],
  censor: '[redacted]',
};

export async function buildApp(runtime: Runtime, options: AppOptions = {}): Promise<FastifyInstance> {
  const logger: FastifyServerOptions['logger'] =
    options.logger === undefined ? { level: process.env.LOG_LEVEL ?? 'info', redact } : options.logger;
  const app = Fastify({
    logger,
    bodyLimit: limits.requestBodyBytesMax,
    genReqId: requestId,
    logController: new LogController({
      requestIdLogLabel: 'request_id',
      // Probes and scrapes would drown the log.
      disableRequestLogging: (request) => ['/healthz', '/readyz', '/metrics'].includes(request.url),
    }),
    requestTimeout: limits.requestTimeoutMs,
    return503OnClosing: true,
  }).withTypeProvider<TypeBoxTypeProvider>();

  // JSON only (a CSV import route adds its own parser): anything else is 415, not a schema error.
  app.removeContentTypeParser('text/plain');
  const { body, text } = validatorCompilers();
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? body : text).compile(schema));
  app.addHook('onSend', async (request, reply, payload) => {
    reply.header('request-id', request.id);
    return payload;
  });

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Custos API',
        version: '1',
        description:
          'Fund custody for online marketplaces: virtual sub-accounts on a double-entry ledger. ' +
          'Amounts are integer minor units (fen). Errors: `{ error: { code, message, param?, request_id } }`; ' +
          'every code is listed under `x-error-codes` and in docs/errors.md.',
      },
      components: {
        securitySchemes: {
          platformKey: { type: 'http', scheme: 'bearer', description: 'A platform API key (`ck_live_…`, `ck_test_…`).' },
          operatorToken: { type: 'http', scheme: 'bearer', description: 'A bank operator token (`cot_…`).' },
        },
      },
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
  });
  app.addSchema(ErrorBody);

  registerErrorMapping(app);
  await app.register(fastifyRateLimit, {
    max: options.rateLimitPerWindow ?? limits.rateLimitRequestsPerWindow,
    timeWindow: limits.rateLimitWindowMs,
    store: SnapshotRateLimitStore as unknown as NonNullable<Parameters<typeof fastifyRateLimit>[1]>['store'],
    // One bucket per credential (hashed; never the secret itself), or per address without one.
    keyGenerator: (request) => {
      const authorization = request.headers.authorization;
      return typeof authorization === 'string' ? createHash('sha256').update(authorization).digest('hex') : request.ip;
    },
    errorResponseBuilder: (request, context) => {
      const error = Object.assign(new Error('Too many requests for this credential; slow down.'), { statusCode: 429 });
      void context;
      void request;
      return error;
    },
  });
  registerAuth(app, runtime.credentials);
  registerIdempotency(app, runtime.custody, runtime.clock, runtime.vault);
  runtime.metrics.register(app);

  await app.register(serviceRoutes(runtime));
  await app.register(opsRoutes(runtime), { prefix: '/v1/ops' });
  await app.register(memberRoutes(runtime), { prefix: '/v1' });
  await app.register(cardRoutes(runtime), { prefix: '/v1' });
  await app.register(orderRoutes(runtime), { prefix: '/v1' });
  await app.register(moneyRoutes(runtime), { prefix: '/v1' });
  await app.register(callbackRoutes(runtime), { prefix: '/v1' });
  await app.register(withdrawalRoutes(runtime), { prefix: '/v1' });
  await app.register(opsWithdrawalRoutes(runtime), { prefix: '/v1/ops' });
  await app.register(opsEodRoutes(runtime), { prefix: '/v1/ops' });
  await app.register(reconciliationRoutes(runtime, runtime.reconciliations), { prefix: '/v1/ops' });
  await app.register(statementRoutes(runtime), { prefix: '/v1' });
  await app.register(webhookRoutes(runtime, runtime.webhooks), { prefix: '/v1' });
  await app.register(opsWebhookRoutes(runtime, runtime.webhooks), { prefix: '/v1/ops' });

  app.get('/openapi.json', { config: { access: { kind: 'public' } }, schema: { hide: true } }, async () => openApiDocument(app));
  return app;
}

/** The OpenAPI document with the error catalog attached, as the tests check it. */
export function openApiDocument(app: FastifyInstance): Record<string, unknown> {
  const document = app.swagger() as unknown as { paths?: Record<string, Record<string, { parameters?: unknown[] }>> } & Record<string, unknown>;
  for (const [path, operations] of Object.entries(document.paths ?? {})) {
    const post = operations.post;
    if (post === undefined || !path.startsWith('/v1/') || path.includes('/callbacks')) continue;
    post.parameters = [
      ...(post.parameters ?? []).filter((p) => (p as { name?: string }).name !== 'Idempotency-Key'),
      {
        name: 'Idempotency-Key',
        in: 'header',
        required: false,
        description: 'The same key and body within 24 h replay the first response (Idempotent-Replayed: true).',
        schema: { type: 'string', maxLength: limits.idempotencyKeyLengthMax },
      },
    ];
  }
  return {
    ...document,
    'x-error-codes': errorCodes.map((code) => ({ code, status: errorCatalog[code].status, description: errorCatalog[code].description })),
  };
}

export { errorPayload };
