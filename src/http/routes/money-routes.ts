import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { CustodyError } from '../../errors.js';
import { limits } from '../../limits.js';
import type { Runtime } from '../../runtime.js';
import { platformAccess, platformOf } from '../auth.js';
import * as present from '../present.js';
import { Amount, Balance, errorResponses, IdParams, List, ListQuery, StringEnum, Timestamp } from '../schemas.js';
import { internalId } from './ops-routes.js';
import { actorOf, Event } from './order-routes.js';

const Payin = Type.Object({
  id: Type.String(),
  object: Type.Literal('payin'),
  order_no: Type.String(),
  purpose: Type.String(),
  status: StringEnum(['pending', 'succeeded', 'failed'] as const),
  amount: Balance,
  currency: Type.String(),
  channel: Type.String(),
  channel_txn_id: Type.Union([Type.String(), Type.Null()]),
  member_id: Type.Union([Type.String(), Type.Null()]),
  account: Type.Union([Type.String(), Type.Null()]),
  order_id: Type.Union([Type.String(), Type.Null()]),
  failure_reason: Type.Union([Type.String(), Type.Null()]),
  business_date: Type.String(),
  created: Timestamp,
  decided_at: Type.Union([Timestamp, Type.Null()]),
});

const Transfer = Type.Object({
  id: Type.String(),
  object: Type.Literal('transfer'),
  order_no: Type.String(),
  purpose: Type.String(),
  from: Type.String(),
  to: Type.String(),
  amount: Balance,
  status: Type.String(),
  entry_id: Type.String(),
  created: Timestamp,
});

const SuspenseItem = Type.Object({
  id: Type.String(),
  object: Type.Literal('suspense_item'),
  bank_credit_id: Type.String(),
  amount: Balance,
  allocated: Balance,
  reversed: Balance,
  remaining: Balance,
  status: Type.String(),
  created: Timestamp,
});

const OrderNo = Type.String({ minLength: 1, maxLength: 64 });

/** Money in, platform transfers, suspense: for the platform they belong to. */
export function moneyRoutes(runtime: Runtime): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post(
      '/payins',
      {
        config: { access: platformAccess },
        schema: {
          operationId: 'createPayin',
          summary: "Recharge a member through a channel (their spendable grows when the channel succeeds), or fund the platform's marketing or own-funds account.",
          tags: ['payins'],
          security: [{ platformKey: [] }],
          body: Type.Object(
            {
              order_no: OrderNo,
              amount: Amount,
              channel: Type.String({ minLength: 1, maxLength: 32 }),
              member_id: Type.Optional(Type.String({ maxLength: 64 })),
              account: Type.Optional(StringEnum(['marketing', 'own_funds'] as const)),
            },
            { additionalProperties: false },
          ),
          response: { 201: Payin, ...errorResponses(409, 422) },
        },
      },
      async (request, reply) => {
        const body = request.body;
        const payin = await runtime.payins.create(
          platformOf(request),
          {
            orderNo: body.order_no,
            amountMinor: BigInt(body.amount),
            channel: body.channel,
            memberId: body.member_id === undefined ? undefined : internalId('member', body.member_id, 'member_id'),
            account: body.account,
          },
          actorOf(request),
        );
        return reply.code(201).send(present.payin(payin));
      },
    );

    app.get(
      '/payins/:id',
      {
        config: { access: platformAccess },
        schema: { operationId: 'getPayin', tags: ['payins'], security: [{ platformKey: [] }], params: IdParams, response: { 200: Payin, ...errorResponses() } },
      },
      async (request) => present.payin(await runtime.payins.get(platformOf(request), internalId('payin', request.params.id))),
    );

    app.get(
      '/payins/:id/events',
      {
        config: { access: platformAccess },
        schema: { operationId: 'listPayinEvents', tags: ['payins'], security: [{ platformKey: [] }], params: IdParams, response: { 200: List(Event), ...errorResponses() } },
      },
      async (request) => {
        const platformId = platformOf(request);
        const payin = await runtime.payins.get(platformId, internalId('payin', request.params.id));
        const events = await runtime.trades.events(platformId, payin.id);
        return present.list(events, events.length, present.objectEvent);
      },
    );

    app.post(
      '/transfers',
      {
        config: { access: platformAccess },
        schema: {
          operationId: 'createTransfer',
          summary: 'subsidy (marketing → member), pay_to_platform (member → fees, with the member\'s SMS code), same_name (one person\'s merchant ↔ ordinary sub-accounts).',
          tags: ['transfers'],
          security: [{ platformKey: [] }],
          body: Type.Object(
            {
              order_no: OrderNo,
              purpose: StringEnum(['subsidy', 'pay_to_platform', 'same_name'] as const),
              from: Type.String({ minLength: 1, maxLength: 64 }),
              to: Type.String({ minLength: 1, maxLength: 64 }),
              amount: Amount,
              sms_code: Type.Optional(Type.String({ minLength: 1, maxLength: 12 })),
            },
            { additionalProperties: false },
          ),
          response: { 201: Transfer, ...errorResponses(409, 422) },
        },
      },
      async (request, reply) => {
        const body = request.body;
        const end = (value: string, param: string) =>
          value.startsWith('mbr_') ? { memberId: internalId('member', value, param) } : { account: value };
        const transfer = await runtime.transfers.create(
          platformOf(request),
          {
            orderNo: body.order_no,
            purpose: body.purpose,
            from: end(body.from, 'from'),
            to: end(body.to, 'to'),
            amountMinor: BigInt(body.amount),
            smsCode: body.sms_code,
          },
          actorOf(request),
        );
        return reply.code(201).send(present.transfer(transfer));
      },
    );

    app.get(
      '/transfers/:id',
      {
        config: { access: platformAccess },
        schema: { operationId: 'getTransfer', tags: ['transfers'], security: [{ platformKey: [] }], params: IdParams, response: { 200: Transfer, ...errorResponses() } },
      },
      async (request) => present.transfer(await runtime.transfers.get(platformOf(request), internalId('transfer', request.params.id))),
    );

    app.get(
      '/transfers/:id/events',
      {
        config: { access: platformAccess },
        schema: { operationId: 'listTransferEvents', tags: ['transfers'], security: [{ platformKey: [] }], params: IdParams, response: { 200: List(Event), ...errorResponses() } },
      },
      async (request) => {
        const platformId = platformOf(request);
        const transfer = await runtime.transfers.get(platformId, internalId('transfer', request.params.id));
        const events = await runtime.trades.events(platformId, transfer.id);
        return present.list(events, events.length, present.objectEvent);
      },
    );

    app.post(
      '/members/:id/consents',
      {
        config: { access: platformAccess },
        schema: {
          operationId: 'requestConsent',
          summary: 'Send the member an SMS code that consents to one payment to the platform of this amount.',
          tags: ['transfers'],
          security: [{ platformKey: [] }],
          params: IdParams,
          body: Type.Object({ purpose: Type.Literal('pay_to_platform'), amount: Amount }, { additionalProperties: false }),
          response: {
            201: Type.Object({
              id: Type.String(),
              object: Type.Literal('consent'),
              expires_at: Timestamp,
              sandbox: Type.Optional(Type.Object({ sms_code: Type.String() })),
            }),
            ...errorResponses(),
          },
        },
      },
      async (request, reply) => {
        const consent = await runtime.transfers.requestConsent(
          platformOf(request),
          internalId('member', request.params.id),
          BigInt(request.body.amount),
          actorOf(request),
        );
        return reply.code(201).send({
          id: `cns_${consent.id}`,
          object: 'consent' as const,
          expires_at: present.time(consent.expiresAtMs),
          ...(consent.sandboxCode === undefined ? {} : { sandbox: { sms_code: consent.sandboxCode } }),
        });
      },
    );

    app.get(
      '/suspense',
      {
        config: { access: platformAccess },
        schema: { operationId: 'listSuspense', summary: 'Unmatched credits (挂账).', tags: ['suspense'], security: [{ platformKey: [] }], querystring: ListQuery, response: { 200: List(SuspenseItem), ...errorResponses() } },
      },
      async (request) => {
        const limit = request.query.limit ?? limits.pageSizeDefault;
        const after = request.query.starting_after === undefined ? undefined : internalId('suspense', request.query.starting_after, 'starting_after');
        return present.list(await runtime.suspense.list(platformOf(request), limit + 1, after), limit, present.suspenseItem);
      },
    );

    app.get(
      '/suspense/:id',
      {
        config: { access: platformAccess },
        schema: { operationId: 'getSuspense', tags: ['suspense'], security: [{ platformKey: [] }], params: IdParams, response: { 200: SuspenseItem, ...errorResponses() } },
      },
      async (request) => present.suspenseItem(await runtime.suspense.get(platformOf(request), internalId('suspense', request.params.id))),
    );

    app.get(
      '/suspense/:id/events',
      {
        config: { access: platformAccess },
        schema: { operationId: 'listSuspenseEvents', tags: ['suspense'], security: [{ platformKey: [] }], params: IdParams, response: { 200: List(Event), ...errorResponses() } },
      },
      async (request) => {
        const platformId = platformOf(request);
        const item = await runtime.suspense.get(platformId, internalId('suspense', request.params.id));
        const events = await runtime.trades.events(platformId, item.id);
        return present.list(events, events.length, present.objectEvent);
      },
    );

    app.post(
      '/suspense/:id/allocate',
      {
        config: { access: platformAccess },
        schema: {
          operationId: 'allocateSuspense',
          summary: "Give (part of) an unmatched credit to a member's spendable.",
          tags: ['suspense'],
          security: [{ platformKey: [] }],
          params: IdParams,
          body: Type.Object({ member_id: Type.String({ maxLength: 64 }), amount: Type.Optional(Amount) }, { additionalProperties: false }),
          response: { 200: SuspenseItem, ...errorResponses(422) },
        },
      },
      async (request) =>
        present.suspenseItem(
          await runtime.suspense.allocate(
            platformOf(request),
            internalId('suspense', request.params.id),
            internalId('member', request.body.member_id, 'member_id'),
            request.body.amount === undefined ? undefined : BigInt(request.body.amount),
            actorOf(request),
          ),
        ),
    );

    app.post(
      '/suspense/:id/reverse',
      {
        config: { access: platformAccess },
        schema: {
          operationId: 'reverseSuspense',
          summary: 'Send (part of) an unmatched credit back to the payer.',
          tags: ['suspense'],
          security: [{ platformKey: [] }],
          params: IdParams,
          body: Type.Object({ amount: Type.Optional(Amount) }, { additionalProperties: false }),
          response: { 200: SuspenseItem, ...errorResponses(422) },
        },
      },
      async (request) =>
        present.suspenseItem(
          await runtime.suspense.reverse(
            platformOf(request),
            internalId('suspense', request.params.id),
            request.body.amount === undefined ? undefined : BigInt(request.body.amount),
            actorOf(request),
          ),
        ),
    );

    app.get(
      '/events',
      {
        config: { access: platformAccess },
        schema: { operationId: 'listEvents', summary: 'Every event of the platform, oldest first, for replay.', tags: ['events'], security: [{ platformKey: [] }], querystring: ListQuery, response: { 200: List(Event), ...errorResponses() } },
      },
      async (request) => {
        const limit = request.query.limit ?? limits.pageSizeDefault;
        const after = request.query.starting_after === undefined ? undefined : internalId('event', request.query.starting_after, 'starting_after');
        return present.list(await runtime.trades.platformEvents(platformOf(request), limit + 1, after), limit, present.objectEvent);
      },
    );
  };
}

/** Signed callbacks from acquiring channels: public, trusted only by their signature. */
export function callbackRoutes(runtime: Runtime): FastifyPluginAsyncTypebox {
  return async (app) => {
    // The signature covers the exact bytes sent, so the body is kept as the raw string.
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => done(null, body));
    app.post(
      '/channels/:channel/callbacks',
      {
        config: { access: { kind: 'public' } },
        schema: {
          operationId: 'channelCallback',
          summary: 'Where acquiring channels deliver payment results (signed with Custos-Signature).',
          tags: ['channels'],
          params: Type.Object({ channel: Type.String({ maxLength: 32 }) }),
          response: { 200: Type.Object({ received: Type.Boolean(), result: Type.String() }), ...errorResponses() },
        },
      },
      async (request) => {
        const signature = request.headers['custos-signature'];
        const outcome = await runtime.payins.handleCallback({
          channel: request.params.channel,
          body: typeof request.body === 'string' ? request.body : '',
          signature: typeof signature === 'string' ? signature : '',
        });
        if (outcome === 'rejected') throw new CustodyError('unauthenticated', 'The callback signature is missing, wrong or expired.');
        return { received: true, result: outcome };
      },
    );
  };
}
