import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { CustodyError } from '../../errors.js';
import { limits } from '../../limits.js';
import type { Runtime } from '../../runtime.js';
import { deliveryIdOf, webhookEventTypes, webhookLimits } from '../../custody/webhook-service.js';
import type { WebhookService } from '../../custody/webhook-service.js';
import { operatorAccess, platformAccess, platformOf } from '../auth.js';
import { eventWithObject } from '../event-objects.js';
import * as present from '../present.js';
import { errorResponses, IdParams, List, ListQuery, listQueryWith, StringEnum, Timestamp } from '../schemas.js';
import { internalId } from './ops-routes.js';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()]);

const endpointStatuses = ['active', 'disabled', 'failing'] as const;

const endpointFields = {
  id: Type.String(),
  object: Type.Literal('webhook_endpoint'),
  url: Type.String(),
  events: Type.Array(Type.String()),
  status: StringEnum(endpointStatuses, '`failing`: a delivery failed for good (3 days of retries); the next success makes it `active` again.'),
  failing_since: Nullable(Timestamp),
  previous_secret_expires_at: Nullable(Timestamp),
  created: Timestamp,
  updated: Timestamp,
};

const WebhookEndpoint = Type.Object(endpointFields);
const WebhookEndpointWithSecret = Type.Object({
  ...endpointFields,
  secret: Type.String({ description: 'The signing secret (`whsec_…`), shown this once only.' }),
});
const OpsWebhookEndpoint = Type.Object({ ...endpointFields, platform_id: Type.String() });

const WebhookDelivery = Type.Object({
  id: Type.String(),
  object: Type.Literal('webhook_delivery'),
  endpoint_id: Type.String(),
  event_id: Type.String(),
  event_type: Type.String(),
  sequence: Type.Integer(),
  redelivery: Type.Integer({ description: '0 for the first delivery of the event to this endpoint, then 1, 2 … per redelivery.' }),
  status: StringEnum(['pending', 'succeeded', 'failed'] as const),
  attempt_count: Type.Integer(),
  first_attempt_at: Nullable(Timestamp),
  next_attempt_at: Nullable(Timestamp),
  delivered_at: Nullable(Timestamp),
  last_status_code: Nullable(Type.Integer()),
  last_error: Nullable(Type.String()),
  last_latency_ms: Nullable(Type.Integer()),
  created: Timestamp,
  attempts: Type.Array(
    Type.Object({
      attempt: Type.Integer(),
      status_code: Nullable(Type.Integer()),
      latency_ms: Type.Integer(),
      error: Nullable(Type.String()),
      attempted_at: Timestamp,
    }),
  ),
});

const EventWithObject = Type.Object({
  id: Type.String(),
  object: Type.Literal('event'),
  type: Type.String(),
  object_type: Type.String(),
  object_id: Type.String(),
  sequence: Type.Integer(),
  actor: Type.String(),
  reason: Nullable(Type.String()),
  created: Timestamp,
  data: Type.Object({ object: Type.Unknown({ description: 'The object after the change, as `GET` of it shows it.' }) }),
});

const CreateEndpointBody = Type.Object(
  {
    url: Type.String({ minLength: 1, maxLength: webhookLimits.urlLengthMax, description: '`https://` (in sandbox also `http://` to 127.0.0.1, localhost or [::1]).' }),
    events: Type.Array(Type.String({ maxLength: 64 }), {
      minItems: 1,
      maxItems: webhookEventTypes.length,
      description: `Event types, or ["*"] for all: ${webhookEventTypes.join(', ')}.`,
    }),
  },
  { additionalProperties: false },
);

const RotateBody = Type.Object(
  {
    overlap_seconds: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: webhookLimits.secretOverlapSecondsMax,
        description: `How long the old secret keeps signing beside the new one (default ${webhookLimits.secretOverlapSecondsDefault}).`,
      }),
    ),
  },
  { additionalProperties: false },
);

const RedeliverBody = Type.Object({ endpoint_id: Type.Optional(Type.String({ maxLength: 64 })) }, { additionalProperties: false });

const security = [{ platformKey: [] }];

/** Webhook endpoints and events of the platform the key belongs to (prefix `/v1`). */
export function webhookRoutes(runtime: Runtime, service: WebhookService): FastifyPluginAsyncTypebox {
  // The runtime is taken like every route factory's; webhooks need only their service.
  void runtime;
  return async (app) => {
    app.post(
      '/webhook-endpoints',
      {
        config: { access: platformAccess },
        schema: {
          operationId: 'createWebhookEndpoint',
          summary: 'Register a URL for events (signed with Custos-Signature); the secret is shown once.',
          tags: ['webhooks'],
          security,
          body: CreateEndpointBody,
          response: { 201: WebhookEndpointWithSecret, ...errorResponses() },
        },
      },
      async (request, reply) => {
        const { endpoint, secret } = await service.create(platformOf(request), { url: request.body.url, events: request.body.events });
        return reply.code(201).send({ ...present.webhookEndpoint(endpoint), secret });
      },
    );

    app.get(
      '/webhook-endpoints',
      {
        config: { access: platformAccess },
        schema: { operationId: 'listWebhookEndpoints', tags: ['webhooks'], security, querystring: ListQuery, response: { 200: List(WebhookEndpoint), ...errorResponses() } },
      },
      async (request) => {
        const limit = request.query.limit ?? limits.pageSizeDefault;
        const after = request.query.starting_after === undefined ? undefined : internalId('webhookEndpoint', request.query.starting_after, 'starting_after');
        return present.list(await service.list(platformOf(request), limit + 1, after), limit, present.webhookEndpoint);
      },
    );

    app.get(
      '/webhook-endpoints/:id',
      {
        config: { access: platformAccess },
        schema: { operationId: 'getWebhookEndpoint', tags: ['webhooks'], security, params: IdParams, response: { 200: WebhookEndpoint, ...errorResponses() } },
      },
      async (request) => present.webhookEndpoint(await service.get(platformOf(request), internalId('webhookEndpoint', request.params.id))),
    );

    app.post(
      '/webhook-endpoints/:id/disable',
      {
        config: { access: platformAccess },
        schema: {
          operationId: 'disableWebhookEndpoint',
          summary: 'Stop sending to the endpoint for good; its pending deliveries end as failed.',
          tags: ['webhooks'],
          security,
          params: IdParams,
          response: { 200: WebhookEndpoint, ...errorResponses() },
        },
      },
      async (request) => present.webhookEndpoint(await service.disable(platformOf(request), internalId('webhookEndpoint', request.params.id))),
    );

    app.post(
      '/webhook-endpoints/:id/rotate-secret',
      {
        config: { access: platformAccess },
        schema: {
          operationId: 'rotateWebhookSecret',
          summary: 'A new signing secret (shown once); the old one keeps signing beside it for overlap_seconds.',
          tags: ['webhooks'],
          security,
          params: IdParams,
          body: RotateBody,
          response: { 200: WebhookEndpointWithSecret, ...errorResponses(409) },
        },
        preValidation: emptyBody,
      },
      async (request) => {
        const { endpoint, secret } = await service.rotateSecret(
          platformOf(request),
          internalId('webhookEndpoint', request.params.id),
          request.body.overlap_seconds,
        );
        return { ...present.webhookEndpoint(endpoint), secret };
      },
    );

    app.get(
      '/webhook-endpoints/:id/deliveries',
      {
        config: { access: platformAccess },
        schema: {
          operationId: 'listWebhookDeliveries',
          summary: 'What was sent to the endpoint, oldest first, each delivery with its attempts.',
          tags: ['webhooks'],
          security,
          params: IdParams,
          querystring: ListQuery,
          response: { 200: List(WebhookDelivery), ...errorResponses() },
        },
      },
      async (request) => {
        const limit = request.query.limit ?? limits.pageSizeDefault;
        const after = request.query.starting_after === undefined ? undefined : deliveryId(request.query.starting_after);
        const deliveries = await service.deliveries(platformOf(request), internalId('webhookEndpoint', request.params.id), limit + 1, after);
        return present.list(deliveries, limit, present.webhookDelivery);
      },
    );

    app.get(
      '/events/:id',
      {
        config: { access: platformAccess },
        schema: { operationId: 'getEvent', summary: 'One event with its object after the change (`data.object`).', tags: ['events'], security, params: IdParams, response: { 200: EventWithObject, ...errorResponses() } },
      },
      async (request) => eventWithObject(await service.event(platformOf(request), internalId('event', request.params.id))),
    );

    app.post(
      '/events/:id/redeliver',
      {
        config: { access: platformAccess },
        schema: {
          operationId: 'redeliverEvent',
          summary: 'Send an event again, as a new delivery: to one endpoint, or to every endpoint subscribed to its type.',
          tags: ['events'],
          security,
          params: IdParams,
          body: RedeliverBody,
          response: { 201: List(WebhookDelivery), ...errorResponses(409) },
        },
        preValidation: emptyBody,
      },
      async (request, reply) => {
        const endpointId = request.body.endpoint_id === undefined ? undefined : internalId('webhookEndpoint', request.body.endpoint_id, 'endpoint_id');
        const created = await service.redeliver(platformOf(request), internalId('event', request.params.id), endpointId);
        const views = created.map((delivery) => ({ delivery, attempts: [] }));
        return reply.code(201).send(present.list(views, views.length, present.webhookDelivery));
      },
    );
  };
}

/** Operators (viewer and up) see webhook endpoints across platforms, the failing ones first of all (prefix `/v1/ops`). */
export function opsWebhookRoutes(runtime: Runtime, service: WebhookService): FastifyPluginAsyncTypebox {
  void runtime;
  return async (app) => {
    app.get(
      '/webhook-endpoints',
      {
        config: { access: operatorAccess('viewer') },
        schema: {
          operationId: 'listAllWebhookEndpoints',
          summary: 'Webhook endpoints of every platform; `?status=failing` lists those whose deliveries failed for good.',
          tags: ['ops'],
          security: [{ operatorToken: [] }],
          querystring: listQueryWith({
            status: Type.Optional(StringEnum(endpointStatuses)),
            platform_id: Type.Optional(Type.String({ maxLength: 64 })),
          }),
          response: { 200: List(OpsWebhookEndpoint), ...errorResponses() },
        },
      },
      async (request) => {
        const limit = request.query.limit ?? limits.pageSizeDefault;
        const platformId = request.query.platform_id === undefined ? undefined : internalId('platform', request.query.platform_id, 'platform_id');
        const after = request.query.starting_after === undefined ? undefined : internalId('webhookEndpoint', request.query.starting_after, 'starting_after');
        const filter = { ...(request.query.status === undefined ? {} : { status: request.query.status }), ...(platformId === undefined ? {} : { platformId }) };
        return present.list(await service.listAll(filter, limit + 1, after), limit, present.opsWebhookEndpoint);
      },
    );
  };
}

/** A POST whose fields are all optional may come without a body: it means `{}`. */
async function emptyBody(request: FastifyRequest): Promise<void> {
  if (request.body === undefined || request.body === null) request.body = {};
}

function deliveryId(publicId: string): string {
  const id = deliveryIdOf(publicId);
  if (id === null) throw new CustodyError('not_found', 'No such webhook delivery.', 'starting_after');
  return id;
}
