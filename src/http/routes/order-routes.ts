import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { limits } from '../../limits.js';
import type { Runtime } from '../../runtime.js';
import { platformAccess, platformOf } from '../auth.js';
import * as present from '../present.js';
import { Amount, Balance, errorResponses, IdParams, List, ListQuery, orderModes, orderStatuses, StringEnum, Timestamp } from '../schemas.js';
import { internalId } from './ops-routes.js';

const PayeeOut = Type.Object({
  member_id: Type.String(),
  amount: Balance,
  fee: Balance,
  escrowed: Balance,
  released: Balance,
  refunded: Balance,
});

export const Order = Type.Object({
  id: Type.String(),
  object: Type.Literal('order'),
  order_no: Type.String(),
  status: StringEnum(orderStatuses),
  mode: StringEnum(orderModes),
  amount: Balance,
  escrowed_amount: Balance,
  released_amount: Balance,
  refunded_amount: Balance,
  buyer_id: Type.Union([Type.String(), Type.Null()]),
  funding: Type.Union([Type.Literal('balance'), Type.Object({ channel: Type.String() })]),
  payees: Type.Array(PayeeOut),
  auto_confirm_at: Type.Union([Timestamp, Type.Null()]),
  business_date: Type.String(),
  created: Timestamp,
});

const Refund = Type.Object({
  id: Type.String(),
  object: Type.Literal('refund'),
  order_id: Type.String(),
  member_id: Type.String(),
  amount: Balance,
  from_escrow: Balance,
  from_payee: Balance,
  from_fees: Balance,
  entry_id: Type.String(),
  created: Timestamp,
});

export const Event = Type.Object({
  id: Type.String(),
  object: Type.Literal('event'),
  type: Type.String(),
  object_type: Type.String(),
  object_id: Type.String(),
  sequence: Type.Integer(),
  actor: Type.String(),
  reason: Type.Union([Type.String(), Type.Null()]),
  created: Timestamp,
});

const CreateOrderBody = Type.Object(
  {
    order_no: Type.String({ minLength: 1, maxLength: 64 }),
    buyer_id: Type.Optional(Type.String({ maxLength: 64 })),
    mode: Type.Union([Type.Literal('guaranteed'), Type.Literal('direct_t0'), Type.Literal('direct_t1')]),
    payees: Type.Array(
      Type.Object(
        { member_id: Type.String({ maxLength: 64 }), amount: Amount, fee: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })) },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 100 },
    ),
    funding: Type.Optional(
      Type.Union([Type.Literal('balance'), Type.Object({ channel: Type.String({ minLength: 1, maxLength: 32 }) }, { additionalProperties: false })]),
    ),
    auto_confirm_seconds: Type.Optional(Type.Integer({ minimum: limits.autoConfirmSecondsMin, maximum: limits.autoConfirmSecondsMax })),
  },
  { additionalProperties: false },
);

/** Who did it, as the audit trail names them. */
export function actorOf(request: FastifyRequest): string {
  const principal = request.principal;
  if (principal === null) return 'anonymous';
  return principal.kind === 'platform' ? `key:${principal.credentialId}` : `operator:${principal.credentialId}`;
}

/** Witnessed trades for the platform they belong to. */
export function orderRoutes(runtime: Runtime): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post(
      '/orders',
      {
        config: { access: platformAccess },
        schema: {
          operationId: 'createOrder',
          summary: 'A witnessed trade: guaranteed (escrow), direct_t0 or direct_t1, up to 30 payees each with its fee.',
          tags: ['orders'],
          security: [{ platformKey: [] }],
          body: CreateOrderBody,
          response: { 201: Order, ...errorResponses(409, 422) },
        },
      },
      async (request, reply) => {
        const platformId = platformOf(request);
        const body = request.body;
        const funding = body.funding;
        const created = await runtime.orders.create(
          platformId,
          {
            orderNo: body.order_no,
            buyerId: body.buyer_id === undefined ? undefined : internalId('member', body.buyer_id, 'buyer_id'),
            mode: body.mode,
            payees: body.payees.map((p, index) => ({
              memberId: internalId('member', p.member_id, `payees[${index}].member_id`),
              amountMinor: BigInt(p.amount),
              feeMinor: p.fee === undefined ? undefined : BigInt(p.fee),
            })),
            channel: funding === undefined || funding === 'balance' ? undefined : funding.channel,
            autoConfirmSeconds: body.auto_confirm_seconds,
          },
          actorOf(request),
        );
        const order = created.funding === 'channel' ? await runtime.payins.startOrderPayment(created, actorOf(request)) : created;
        return reply.code(201).send(present.order(order));
      },
    );

    app.get(
      '/orders',
      {
        config: { access: platformAccess },
        schema: { operationId: 'listOrders', tags: ['orders'], security: [{ platformKey: [] }], querystring: ListQuery, response: { 200: List(Order), ...errorResponses() } },
      },
      async (request) => {
        const limit = request.query.limit ?? limits.pageSizeDefault;
        const after = request.query.starting_after === undefined ? undefined : internalId('order', request.query.starting_after, 'starting_after');
        return present.list(await runtime.orders.list(platformOf(request), limit + 1, after), limit, present.order);
      },
    );

    app.get(
      '/orders/:id',
      {
        config: { access: platformAccess },
        schema: { operationId: 'getOrder', tags: ['orders'], security: [{ platformKey: [] }], params: IdParams, response: { 200: Order, ...errorResponses() } },
      },
      async (request) => present.order(await runtime.orders.get(platformOf(request), internalId('order', request.params.id))),
    );

    app.post(
      '/orders/:id/confirm',
      {
        config: { access: platformAccess },
        schema: {
          operationId: 'confirmOrder',
          summary: "Release escrow to payees (all, or part per payee); each payee's pending grows by amount − fee.",
          tags: ['orders'],
          security: [{ platformKey: [] }],
          params: IdParams,
          body: Type.Object(
            {
              payees: Type.Optional(
                Type.Array(Type.Object({ member_id: Type.String({ maxLength: 64 }), amount: Amount }, { additionalProperties: false }), {
                  minItems: 1,
                  maxItems: limits.payeesPerOrderMax,
                }),
              ),
            },
            { additionalProperties: false },
          ),
          response: { 200: Order, ...errorResponses(409, 422) },
        },
      },
      async (request) => {
        const platformId = platformOf(request);
        const releases = request.body.payees?.map((p, index) => ({
          memberId: internalId('member', p.member_id, `payees[${index}].member_id`),
          amountMinor: BigInt(p.amount),
        }));
        return present.order(await runtime.orders.confirm(platformId, internalId('order', request.params.id), releases, actorOf(request)));
      },
    );

    app.post(
      '/orders/:id/refunds',
      {
        config: { access: platformAccess },
        schema: {
          operationId: 'refundOrder',
          summary: "Refund to the buyer's spendable: from escrow, or after release from the payee and the fees.",
          tags: ['orders'],
          security: [{ platformKey: [] }],
          params: IdParams,
          body: Type.Object({ amount: Amount, member_id: Type.Optional(Type.String({ maxLength: 64 })) }, { additionalProperties: false }),
          response: { 201: Refund, ...errorResponses(409, 422) },
        },
      },
      async (request, reply) => {
        const refund = await runtime.orders.refund(
          platformOf(request),
          internalId('order', request.params.id),
          BigInt(request.body.amount),
          request.body.member_id === undefined ? undefined : internalId('member', request.body.member_id, 'member_id'),
          actorOf(request),
        );
        return reply.code(201).send(present.refundOf(refund));
      },
    );

    app.get(
      '/orders/:id/refunds',
      {
        config: { access: platformAccess },
        schema: { operationId: 'listOrderRefunds', tags: ['orders'], security: [{ platformKey: [] }], params: IdParams, response: { 200: List(Refund), ...errorResponses() } },
      },
      async (request) => {
        const platformId = platformOf(request);
        const order = await runtime.orders.get(platformId, internalId('order', request.params.id));
        const refunds = await runtime.orders.refundsOf(platformId, order.id);
        return present.list(refunds, refunds.length, present.refundOf);
      },
    );

    app.get(
      '/orders/:id/events',
      {
        config: { access: platformAccess },
        schema: { operationId: 'listOrderEvents', summary: "The order's audit trail: every state change with its actor, time and reason.", tags: ['orders'], security: [{ platformKey: [] }], params: IdParams, response: { 200: List(Event), ...errorResponses() } },
      },
      async (request) => {
        const platformId = platformOf(request);
        const order = await runtime.orders.get(platformId, internalId('order', request.params.id));
        const events = await runtime.trades.events(platformId, order.id);
        return present.list(events, events.length, present.objectEvent);
      },
    );
  };
}
