import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { riskRuleKinds } from '../../custody/risk-rules.js';
import { limits } from '../../limits.js';
import type { Runtime } from '../../runtime.js';
import { operatorAccess, platformAccess, platformOf } from '../auth.js';
import * as present from '../present.js';
import { Amount, Balance, errorResponses, IdParams, List, ListQuery, listQueryWith, StringEnum, Timestamp } from '../schemas.js';
import { internalId, platformParam } from './ops-routes.js';
import { actorOf, Event } from './order-routes.js';

const Withdrawal = Type.Object({
  id: Type.String(),
  object: Type.Literal('withdrawal'),
  order_no: Type.String(),
  member_id: Type.String(),
  card_id: Type.String(),
  card_last4: Type.String(),
  amount: Balance,
  fee: Balance,
  currency: Type.String(),
  rail: Type.String(),
  status: StringEnum(['processing', 'held', 'succeeded', 'failed', 'returned', 'rejected'] as const),
  risk: Type.Object({
    decision: StringEnum(['allow', 'hold', 'reject'] as const),
    rules: Type.Array(Type.Object({ id: Type.String(), version: Type.Integer(), reason: Type.String() })),
  }),
  failure_reason: Type.Union([Type.String(), Type.Null()]),
  review: Type.Union([Type.Object({ by: Type.String(), reason: Type.Union([Type.String(), Type.Null()]) }), Type.Null()]),
  business_date: Type.String(),
  created: Timestamp,
  decided_at: Type.Union([Timestamp, Type.Null()]),
  returned_at: Type.Union([Timestamp, Type.Null()]),
});

const Adjustment = Type.Object({
  id: Type.String(),
  object: Type.Literal('adjustment'),
  platform_id: Type.String(),
  debit_account_id: Type.String(),
  credit_account_id: Type.String(),
  amount: Balance,
  reason: Type.String(),
  status: StringEnum(['pending_approval', 'applied', 'rejected'] as const),
  maker: Type.String(),
  checker: Type.Union([Type.String(), Type.Null()]),
  decision_reason: Type.Union([Type.String(), Type.Null()]),
  entry_id: Type.Union([Type.String(), Type.Null()]),
  created: Timestamp,
  decided_at: Type.Union([Timestamp, Type.Null()]),
});

const RiskRuleView = Type.Object({
  id: StringEnum(riskRuleKinds),
  version: Type.Integer(),
  action: StringEnum(['hold', 'reject'] as const),
  enabled: Type.Boolean(),
  params: Type.Record(Type.String(), Type.Union([Type.String(), Type.Integer()])),
});

const Reason = Type.Object({ reason: Type.String({ minLength: 1, maxLength: limits.adjustmentReasonLengthMax }) }, { additionalProperties: false });

/** Money out, for the platform it belongs to. */
export function withdrawalRoutes(runtime: Runtime): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post(
      '/withdrawals',
      {
        config: { access: platformAccess },
        schema: {
          operationId: 'createWithdrawal',
          summary: "A member's settled proceeds to the member's own bound card, past the risk rules: processing, held for review, or rejected.",
          tags: ['withdrawals'],
          security: [{ platformKey: [] }],
          body: Type.Object(
            { order_no: Type.String({ minLength: 1, maxLength: 64 }), member_id: Type.String({ maxLength: 64 }), card_id: Type.String({ maxLength: 64 }), amount: Amount },
            { additionalProperties: false },
          ),
          response: { 201: Withdrawal, ...errorResponses(409, 422) },
        },
      },
      async (request, reply) => {
        const platformId = platformOf(request);
        const body = request.body;
        const created = await runtime.withdrawals.create(
          platformId,
          {
            orderNo: body.order_no,
            memberId: internalId('member', body.member_id, 'member_id'),
            cardId: internalId('card', body.card_id, 'card_id'),
            amountMinor: BigInt(body.amount),
          },
          actorOf(request),
        );
        // Hand it to the rail at once; the answer does not wait for the rail.
        if (created.status === 'processing') void runtime.payouts.step(platformId, created.id).catch((error: unknown) => request.log.warn({ err: error }, 'payout step failed; the sweep retries'));
        return reply.code(201).send(present.withdrawal(created));
      },
    );

    app.get(
      '/withdrawals',
      {
        config: { access: platformAccess },
        schema: { operationId: 'listWithdrawals', tags: ['withdrawals'], security: [{ platformKey: [] }], querystring: ListQuery, response: { 200: List(Withdrawal), ...errorResponses() } },
      },
      async (request) => {
        const limit = request.query.limit ?? limits.pageSizeDefault;
        const after = request.query.starting_after === undefined ? undefined : internalId('withdrawal', request.query.starting_after, 'starting_after');
        return present.list(await runtime.withdrawals.list(platformOf(request), limit + 1, after), limit, present.withdrawal);
      },
    );

    app.get(
      '/withdrawals/:id',
      {
        config: { access: platformAccess },
        schema: { operationId: 'getWithdrawal', tags: ['withdrawals'], security: [{ platformKey: [] }], params: IdParams, response: { 200: Withdrawal, ...errorResponses() } },
      },
      async (request) => present.withdrawal(await runtime.withdrawals.get(platformOf(request), internalId('withdrawal', request.params.id))),
    );

    app.get(
      '/withdrawals/:id/lineage',
      {
        config: { access: platformAccess },
        schema: {
          operationId: 'getWithdrawalLineage',
          summary: 'Which trades funded this withdrawal: first in, first out over the member\'s settled proceeds.',
          tags: ['withdrawals'],
          security: [{ platformKey: [] }],
          params: IdParams,
          response: {
            200: Type.Object({
              withdrawal_id: Type.String(),
              sources: Type.Array(Type.Object({ order_id: Type.Union([Type.String(), Type.Null()]), order_no: Type.Union([Type.String(), Type.Null()]), amount: Balance })),
            }),
            ...errorResponses(),
          },
        },
      },
      async (request) => {
        const id = internalId('withdrawal', request.params.id);
        const sources = await runtime.withdrawals.lineage(platformOf(request), id);
        return {
          withdrawal_id: request.params.id,
          sources: sources.map((s) => ({
            order_id: s.orderId === null ? null : present.publicOrderId(s.orderId),
            order_no: s.orderNo,
            amount: present.amount(s.amountMinor),
          })),
        };
      },
    );

    app.get(
      '/withdrawals/:id/events',
      {
        config: { access: platformAccess },
        schema: { operationId: 'listWithdrawalEvents', tags: ['withdrawals'], security: [{ platformKey: [] }], params: IdParams, response: { 200: List(Event), ...errorResponses() } },
      },
      async (request) => {
        const platformId = platformOf(request);
        const withdrawal = await runtime.withdrawals.get(platformId, internalId('withdrawal', request.params.id));
        const events = await runtime.trades.events(platformId, withdrawal.id);
        return present.list(events, events.length, present.objectEvent);
      },
    );
  };
}

/** The bank's side of money out: reviews, adjustments under maker-checker, risk configuration. */
export function opsWithdrawalRoutes(runtime: Runtime): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/reviews',
      {
        config: { access: operatorAccess('viewer') },
        schema: {
          operationId: 'listReviews',
          summary: 'Withdrawals held by the risk rules, waiting for an approver.',
          tags: ['ops'],
          security: [{ operatorToken: [] }],
          querystring: listQueryWith({ platform_id: Type.Optional(Type.String({ maxLength: 64 })) }),
          response: { 200: List(Withdrawal), ...errorResponses() },
        },
      },
      async (request) => {
        const limit = request.query.limit ?? limits.pageSizeDefault;
        const platformId = request.query.platform_id === undefined ? undefined : await platformParam(runtime, request.query.platform_id);
        const after = request.query.starting_after === undefined ? undefined : internalId('withdrawal', request.query.starting_after, 'starting_after');
        return present.list(await runtime.withdrawals.reviews(platformId, limit + 1, after), limit, present.withdrawal);
      },
    );

    for (const decision of ['approve', 'reject'] as const) {
      app.post(
        `/withdrawals/:id/${decision}`,
        {
          config: { access: operatorAccess('approver') },
          schema: {
            operationId: decision === 'approve' ? 'approveWithdrawal' : 'rejectWithdrawal',
            summary: decision === 'approve' ? 'Let a held withdrawal go on to the rail.' : 'Refuse a held withdrawal; its money is withdrawable again.',
            tags: ['ops'],
            security: [{ operatorToken: [] }],
            params: IdParams,
            body: Reason,
            response: { 200: Withdrawal, ...errorResponses(409) },
          },
        },
        async (request) => {
          const id = internalId('withdrawal', request.params.id);
          const actor = actorOf(request);
          const row =
            decision === 'approve'
              ? await runtime.withdrawals.approve(id, actor, request.body.reason)
              : await runtime.withdrawals.reject(id, actor, request.body.reason);
          if (row.status === 'processing') void runtime.payouts.step(row.platform_id, row.id).catch(() => undefined);
          return present.withdrawal(row);
        },
      );
    }

    app.post(
      '/adjustments',
      {
        config: { access: operatorAccess('operator') },
        schema: {
          operationId: 'proposeAdjustment',
          summary: 'A manual adjustment (调账/补账): applied only when a second, different approver approves it.',
          tags: ['ops'],
          security: [{ operatorToken: [] }],
          body: Type.Object(
            {
              platform_id: Type.String({ maxLength: 64 }),
              debit_account_id: Type.String({ maxLength: 64 }),
              credit_account_id: Type.String({ maxLength: 64 }),
              amount: Amount,
              reason: Type.String({ minLength: 1, maxLength: limits.adjustmentReasonLengthMax }),
            },
            { additionalProperties: false },
          ),
          response: { 201: Adjustment, ...errorResponses(422) },
        },
      },
      async (request, reply) => {
        const body = request.body;
        const row = await runtime.adjustments.propose(
          {
            platformId: await platformParam(runtime, body.platform_id),
            debitAccountId: internalId('account', body.debit_account_id, 'debit_account_id'),
            creditAccountId: internalId('account', body.credit_account_id, 'credit_account_id'),
            amountMinor: BigInt(body.amount),
            reason: body.reason,
          },
          actorOf(request),
        );
        return reply.code(201).send(present.adjustment(row));
      },
    );

    app.get(
      '/adjustments',
      {
        config: { access: operatorAccess('viewer') },
        schema: {
          operationId: 'listAdjustments',
          tags: ['ops'],
          security: [{ operatorToken: [] }],
          querystring: listQueryWith({
            platform_id: Type.Optional(Type.String({ maxLength: 64 })),
            status: Type.Optional(StringEnum(['pending_approval', 'applied', 'rejected'] as const)),
          }),
          response: { 200: List(Adjustment), ...errorResponses() },
        },
      },
      async (request) => {
        const limit = request.query.limit ?? limits.pageSizeDefault;
        const platformId = request.query.platform_id === undefined ? undefined : await platformParam(runtime, request.query.platform_id);
        const after = request.query.starting_after === undefined ? undefined : internalId('adjustment', request.query.starting_after, 'starting_after');
        return present.list(await runtime.adjustments.list(platformId, request.query.status, limit + 1, after), limit, present.adjustment);
      },
    );

    app.get(
      '/adjustments/:id',
      {
        config: { access: operatorAccess('viewer') },
        schema: { operationId: 'getAdjustment', tags: ['ops'], security: [{ operatorToken: [] }], params: IdParams, response: { 200: Adjustment, ...errorResponses() } },
      },
      async (request) => present.adjustment(await runtime.adjustments.byId(internalId('adjustment', request.params.id))),
    );

    for (const decision of ['approve', 'reject'] as const) {
      app.post(
        `/adjustments/:id/${decision}`,
        {
          config: { access: operatorAccess('approver') },
          schema: {
            operationId: decision === 'approve' ? 'approveAdjustment' : 'rejectAdjustment',
            tags: ['ops'],
            security: [{ operatorToken: [] }],
            params: IdParams,
            body: Type.Optional(Type.Object({ reason: Type.Optional(Type.String({ maxLength: limits.adjustmentReasonLengthMax })) }, { additionalProperties: false })),
            response: { 200: Adjustment, ...errorResponses(409, 422) },
          },
        },
        async (request) => {
          const id = internalId('adjustment', request.params.id);
          const actor = actorOf(request);
          const row = decision === 'approve' ? await runtime.adjustments.approve(id, actor) : await runtime.adjustments.reject(id, actor, request.body?.reason ?? null);
          return present.adjustment(row);
        },
      );
    }

    app.get(
      '/platforms/:id/risk-rules',
      {
        config: { access: operatorAccess('viewer') },
        schema: { operationId: 'listRiskRules', tags: ['ops'], security: [{ operatorToken: [] }], params: IdParams, response: { 200: List(RiskRuleView), ...errorResponses() } },
      },
      async (request) => {
        const rules = await runtime.riskConfig.rules(internalId('platform', request.params.id));
        return present.list(rules, rules.length, (rule) => ({ ...rule, params: { ...rule.params } }));
      },
    );

    app.put(
      '/platforms/:id/risk-rules/:rule_id',
      {
        config: { access: operatorAccess('approver') },
        schema: {
          operationId: 'updateRiskRule',
          summary: "Change a rule's threshold, action or switch for one platform: a new version of the rule.",
          tags: ['ops'],
          security: [{ operatorToken: [] }],
          params: Type.Object({ id: Type.String({ maxLength: 64 }), rule_id: Type.String({ maxLength: 64 }) }),
          body: Type.Object(
            {
              action: Type.Optional(StringEnum(['hold', 'reject'] as const)),
              enabled: Type.Optional(Type.Boolean()),
              params: Type.Optional(Type.Record(Type.String(), Type.Union([Type.String({ pattern: '^[0-9]+$' }), Type.Integer({ minimum: 0 })]))),
            },
            { additionalProperties: false },
          ),
          response: { 200: RiskRuleView, ...errorResponses(409) },
        },
      },
      async (request) => {
        const rule = await runtime.riskConfig.update(internalId('platform', request.params.id), request.params.rule_id, request.body, actorOf(request));
        return { ...rule, params: { ...rule.params } };
      },
    );

    app.put(
      '/platforms/:id/members/:member_id/flags',
      {
        config: { access: operatorAccess('approver') },
        schema: {
          operationId: 'flagMember',
          summary: 'Mark a member as linked to its platform (its withdrawals are then held for review).',
          tags: ['ops'],
          security: [{ operatorToken: [] }],
          params: Type.Object({ id: Type.String({ maxLength: 64 }), member_id: Type.String({ maxLength: 64 }) }),
          body: Type.Object({ linked_to_platform: Type.Boolean(), reason: Type.Optional(Type.String({ maxLength: 500 })) }, { additionalProperties: false }),
          response: { 200: Type.Object({ member_id: Type.String(), linked_to_platform: Type.Boolean() }), ...errorResponses() },
        },
      },
      async (request) => {
        const platformId = internalId('platform', request.params.id);
        await runtime.riskConfig.flagMember(platformId, internalId('member', request.params.member_id, 'member_id'), request.body.linked_to_platform, request.body.reason ?? null, actorOf(request));
        return { member_id: request.params.member_id, linked_to_platform: request.body.linked_to_platform };
      },
    );
  };
}
