import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { addDays, businessDate, isBusinessDate, startOfBusinessDate } from '../../business-date.js';
import { CustodyError } from '../../errors.js';
import type { Id } from '../../ledger/index.js';
import { limits } from '../../limits.js';
import { fromPublicId, toPublicId } from '../../public-ids.js';
import type { IdKind } from '../../public-ids.js';
import type { Runtime } from '../../runtime.js';
import { operatorAccess } from '../auth.js';
import * as present from '../present.js';
import { AccountView, Amount, Balance, errorResponses, ListQuery, List, Role, StringEnum, Timestamp } from '../schemas.js';
import { actorOf } from './order-routes.js';

export function internalId(kind: IdKind, publicId: string, param = 'id'): Id {
  const id = fromPublicId(kind, publicId);
  if (id === null) throw new CustodyError('not_found', `No such ${kind}.`, param);
  return id;
}

/** The platform a request names in `platform_id` (or `param`): 404 naming that field when there is none. */
export async function platformParam(runtime: Runtime, publicId: string, param = 'platform_id'): Promise<Id> {
  const id = internalId('platform', publicId, param);
  await runtime.platforms.record(id, param);
  return id;
}

/**
 * A page of a short list kept whole in memory (keys, operators, a member's cards: each
 * bounded by a limit), ordered by id like every list.
 */
export function pageOf<T extends { id: Id }, R>(items: readonly T[], afterId: Id | undefined, limit: number | undefined, show: (item: T) => R) {
  const size = limit ?? limits.pageSizeDefault;
  const sorted = [...items].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const rest = afterId === undefined ? sorted : sorted.filter((item) => item.id > afterId);
  return present.list(rest.slice(0, size + 1), size, show);
}

const Platform = Type.Object({
  id: Type.String(),
  object: Type.Literal('platform'),
  name: Type.String(),
  escrow_mode: Type.Union([Type.Literal('intermediate'), Type.Literal('buyer'), Type.Literal('seller')]),
  auto_confirm_seconds: Type.Integer(),
  status: Type.String(),
  created: Timestamp,
  accounts: Type.Array(AccountView),
});

const SignPlatformBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: limits.platformNameLengthMax }),
    escrow_mode: Type.Optional(Type.Union([Type.Literal('intermediate'), Type.Literal('buyer'), Type.Literal('seller')])),
    auto_confirm_seconds: Type.Optional(
      Type.Integer({ minimum: limits.autoConfirmSecondsMin, maximum: limits.autoConfirmSecondsMax }),
    ),
    legal_id_number: Type.Optional(Type.String({ minLength: 15, maxLength: 18 })),
  },
  { additionalProperties: false },
);

const ApiKey = Type.Object({
  id: Type.String(),
  object: Type.Literal('api_key'),
  platform_id: Type.String(),
  name: Type.String(),
  prefix: Type.String(),
  created: Timestamp,
  revoked_at: Type.Union([Timestamp, Type.Null()]),
});

const Operator = Type.Object({
  id: Type.String(),
  object: Type.Literal('operator'),
  name: Type.String(),
  role: Role,
  prefix: Type.String(),
  created: Timestamp,
  revoked_at: Type.Union([Timestamp, Type.Null()]),
});

const Clock = Type.Object({ now: Timestamp, sandbox: Type.Boolean() });

const FeeReport = Type.Object({
  object: Type.Literal('verification_fee_report'),
  platform_id: Type.String(),
  from: Type.String(),
  to: Type.String(),
  calls: Type.Integer(),
  total_fee: Type.Integer(),
  lines: Type.Array(Type.Object({ kind: Type.String(), provider: Type.String(), calls: Type.Integer(), fee: Type.Integer() })),
});

const PlatformParams = Type.Object({ id: Type.String({ maxLength: 64 }) });

/** The bank's operators: platforms, credentials, the sandbox clock, reports. */
export function opsRoutes(runtime: Runtime): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post(
      '/platforms',
      {
        config: { access: operatorAccess('admin') },
        schema: {
          operationId: 'signPlatform',
          summary: 'Sign a platform: its chart of accounts and its first API key (shown once).',
          tags: ['ops'],
          security: [{ operatorToken: [] }],
          body: SignPlatformBody,
          response: { 201: Type.Intersect([Platform, Type.Object({ api_key: Type.String() })]), ...errorResponses(409) },
        },
      },
      async (request, reply) => {
        const { platform, apiKey } = await runtime.platforms.sign({
          name: request.body.name,
          escrowMode: request.body.escrow_mode,
          autoConfirmSeconds: request.body.auto_confirm_seconds,
          legalIdNumber: request.body.legal_id_number,
        });
        return reply.code(201).send({ ...present.platform(platform), api_key: apiKey });
      },
    );

    app.get(
      '/platforms',
      {
        config: { access: operatorAccess('viewer') },
        schema: { operationId: 'listPlatforms', tags: ['ops'], security: [{ operatorToken: [] }], querystring: ListQuery, response: { 200: List(Platform), ...errorResponses() } },
      },
      async (request) => {
        const limit = request.query.limit ?? limits.pageSizeDefault;
        const afterId = request.query.starting_after === undefined ? undefined : internalId('platform', request.query.starting_after, 'starting_after');
        const platforms = await runtime.platforms.list({ limit: limit + 1, afterId });
        return present.list(platforms, limit, present.platform);
      },
    );

    app.get(
      '/platforms/:id',
      {
        config: { access: operatorAccess('viewer') },
        schema: { operationId: 'getPlatform', tags: ['ops'], security: [{ operatorToken: [] }], params: PlatformParams, response: { 200: Platform, ...errorResponses() } },
      },
      async (request) => present.platform(await runtime.platforms.get(internalId('platform', request.params.id))),
    );

    app.post(
      '/platforms/:id/api-keys',
      {
        config: { access: operatorAccess('admin') },
        schema: {
          operationId: 'createApiKey',
          summary: "Issue another API key for a platform (shown once), e.g. to rotate keys.",
          tags: ['ops'],
          security: [{ operatorToken: [] }],
          params: PlatformParams,
          body: Type.Object({ name: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })) }, { additionalProperties: false }),
          response: { 201: Type.Intersect([ApiKey, Type.Object({ api_key: Type.String() })]), ...errorResponses() },
        },
      },
      async (request, reply) => {
        const platformId = internalId('platform', request.params.id);
        await runtime.platforms.record(platformId);
        const issued = await runtime.credentials.issueApiKey(platformId, request.body.name ?? 'api key');
        return reply.code(201).send({ ...present.apiKey(issued.record), api_key: issued.secret });
      },
    );

    app.get(
      '/platforms/:id/api-keys',
      {
        config: { access: operatorAccess('viewer') },
        schema: { operationId: 'listApiKeys', tags: ['ops'], security: [{ operatorToken: [] }], params: PlatformParams, querystring: ListQuery, response: { 200: List(ApiKey), ...errorResponses() } },
      },
      async (request) => {
        const platformId = internalId('platform', request.params.id);
        await runtime.platforms.record(platformId);
        const after = request.query.starting_after === undefined ? undefined : internalId('apiKey', request.query.starting_after, 'starting_after');
        return pageOf(await runtime.credentials.listApiKeys(platformId), after, request.query.limit, present.apiKey);
      },
    );

    app.delete(
      '/platforms/:id/api-keys/:key_id',
      {
        config: { access: operatorAccess('admin') },
        schema: {
          operationId: 'revokeApiKey',
          tags: ['ops'],
          security: [{ operatorToken: [] }],
          params: Type.Object({ id: Type.String({ maxLength: 64 }), key_id: Type.String({ maxLength: 64 }) }),
          response: { 200: ApiKey, ...errorResponses() },
        },
      },
      async (request) => {
        const platform = await runtime.platforms.record(internalId('platform', request.params.id));
        return present.apiKey(await runtime.credentials.revokeApiKey(platform.id, internalId('apiKey', request.params.key_id, 'key_id')));
      },
    );

    app.post(
      '/operators',
      {
        config: { access: operatorAccess('admin') },
        schema: {
          operationId: 'createOperator',
          summary: 'Create an operator; the token is shown once.',
          tags: ['ops'],
          security: [{ operatorToken: [] }],
          body: Type.Object({ name: Type.String({ minLength: 1, maxLength: 64 }), role: Role }, { additionalProperties: false }),
          response: { 201: Type.Intersect([Operator, Type.Object({ token: Type.String() })]), ...errorResponses() },
        },
      },
      async (request, reply) => {
        const issued = await runtime.credentials.issueOperatorToken(request.body.name, request.body.role);
        return reply.code(201).send({ ...present.operator(issued.record), token: issued.secret });
      },
    );

    app.get(
      '/operators',
      {
        config: { access: operatorAccess('viewer') },
        schema: { operationId: 'listOperators', tags: ['ops'], security: [{ operatorToken: [] }], querystring: ListQuery, response: { 200: List(Operator), ...errorResponses() } },
      },
      async (request) => {
        const after = request.query.starting_after === undefined ? undefined : internalId('operator', request.query.starting_after, 'starting_after');
        return pageOf(await runtime.credentials.listOperators(), after, request.query.limit, present.operator);
      },
    );

    app.delete(
      '/operators/:id',
      {
        config: { access: operatorAccess('admin') },
        schema: { operationId: 'revokeOperator', tags: ['ops'], security: [{ operatorToken: [] }], params: PlatformParams, response: { 200: Operator, ...errorResponses() } },
      },
      async (request) => present.operator(await runtime.credentials.revokeOperator(internalId('operator', request.params.id))),
    );

    app.get(
      '/clock',
      {
        config: { access: operatorAccess('viewer') },
        schema: { operationId: 'getClock', tags: ['ops'], security: [{ operatorToken: [] }], response: { 200: Clock, ...errorResponses() } },
      },
      async () => ({ now: present.time(runtime.clock.nowMs()), sandbox: runtime.sandboxClock !== null }),
    );

    app.post(
      '/clock/advance',
      {
        config: { access: operatorAccess('operator') },
        schema: {
          operationId: 'advanceClock',
          summary: 'Sandbox only: move the clock forward, then run everything that fell due.',
          tags: ['ops'],
          security: [{ operatorToken: [] }],
          body: Type.Object({ seconds: Type.Integer({ minimum: 1, maximum: 366 * 24 * 3600 }) }, { additionalProperties: false }),
          response: { 200: Clock, ...errorResponses() },
        },
      },
      async (request) => {
        if (runtime.sandboxClock === null) throw new CustodyError('forbidden', 'The clock moves only in a sandbox (custos serve --sandbox).');
        await runtime.advanceClock(request.body.seconds);
        return { now: present.time(runtime.clock.nowMs()), sandbox: true };
      },
    );

    app.post(
      '/bank-credits',
      {
        config: { access: operatorAccess('operator') },
        schema: {
          operationId: 'recordBankCredit',
          summary: "Record an incoming credit to a platform's real custody account: a memo naming a member's sub_account_no credits that member's spendable, anything else becomes a suspense item.",
          tags: ['ops'],
          security: [{ operatorToken: [] }],
          body: Type.Object(
            {
              platform_id: Type.String({ maxLength: 64 }),
              amount: Amount,
              payer_account: Type.String({ minLength: 1, maxLength: 64 }),
              payer_name: Type.String({ minLength: 1, maxLength: 128 }),
              memo: Type.String({ maxLength: 256 }),
              bank_txn_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
            },
            { additionalProperties: false },
          ),
          response: {
            201: Type.Object({
              id: Type.String(),
              object: Type.Literal('bank_credit'),
              platform_id: Type.String(),
              status: StringEnum(['credited', 'suspense'] as const),
              amount: Balance,
              member_id: Type.Union([Type.String(), Type.Null()]),
              suspense_id: Type.Union([Type.String(), Type.Null()]),
              memo: Type.String(),
              bank_txn_id: Type.Union([Type.String(), Type.Null()]),
              created: Timestamp,
            }),
            ...errorResponses(422),
          },
        },
      },
      async (request, reply) => {
        const body = request.body;
        const credit = await runtime.suspense.recordBankCredit(
          await platformParam(runtime, body.platform_id),
          { amountMinor: BigInt(body.amount), payerAccount: body.payer_account, payerName: body.payer_name, memo: body.memo, bankTxnId: body.bank_txn_id },
          actorOf(request),
        );
        return reply.code(201).send(present.bankCredit(credit));
      },
    );

    app.get(
      '/invariants',
      {
        config: { access: operatorAccess('viewer') },
        schema: {
          operationId: 'checkInvariants',
          summary: "The books' invariants, checked now from stored balances, open orders and the journal.",
          tags: ['ops'],
          security: [{ operatorToken: [] }],
          querystring: Type.Object({ platform_id: Type.Optional(Type.String({ maxLength: 64 })) }, { additionalProperties: false }),
          response: {
            200: Type.Object({
              ok: Type.Boolean(),
              checks: Type.Array(Type.Object({ name: Type.String(), ok: Type.Boolean(), detail: Type.String(), platform_id: Type.String() })),
            }),
            ...errorResponses(),
          },
        },
      },
      async (request) => {
        const platformIds =
          request.query.platform_id === undefined
            ? (await runtime.platforms.list({ limit: 10_000 })).map((p) => p.id)
            : [(await runtime.platforms.record(await platformParam(runtime, request.query.platform_id))).id];
        const checks = [];
        for (const platformId of platformIds) {
          const result = await runtime.invariants.check(platformId);
          checks.push(...result.checks.map((c) => ({ ...c, platform_id: toPublicId('platform', platformId) })));
        }
        return { ok: checks.every((c) => c.ok), checks };
      },
    );

    app.get(
      '/channels/:channel/statement',
      {
        config: { access: operatorAccess('viewer') },
        schema: {
          operationId: 'getChannelStatement',
          summary: "Sandbox: the simulated channel's statement CSV for a platform's business date.",
          tags: ['ops'],
          security: [{ operatorToken: [] }],
          params: Type.Object({ channel: Type.String({ maxLength: 32 }) }),
          querystring: Type.Object({ platform_id: Type.String({ maxLength: 64 }), date: Type.String() }, { additionalProperties: false }),
        },
      },
      async (request, reply) => {
        const simulator = runtime.acquiringSimulator;
        if (simulator === null) throw new CustodyError('forbidden', 'Channel statements come from the simulator in sandbox mode only.');
        const platform = await runtime.platforms.record(await platformParam(runtime, request.query.platform_id));
        const [from, to] = businessDayBounds(request.query.date);
        if (!simulator.channelNames.includes(request.params.channel)) throw new CustodyError('not_found', 'No such channel.', 'channel');
        return reply
          .header('content-type', 'text/csv; charset=utf-8')
          .send(simulator.statement(request.params.channel, from, to, undefined, platform.id));
      },
    );

    app.get(
      '/bank/statement',
      {
        config: { access: operatorAccess('viewer') },
        schema: {
          operationId: 'getBankStatement',
          summary: "Sandbox: the custody account's simulated bank statement CSV (payouts and their returns) for a platform's business date.",
          tags: ['ops'],
          security: [{ operatorToken: [] }],
          querystring: Type.Object({ platform_id: Type.String({ maxLength: 64 }), date: Type.String() }, { additionalProperties: false }),
        },
      },
      async (request, reply) => {
        const simulator = runtime.payoutSimulator;
        if (simulator === null) throw new CustodyError('forbidden', 'Bank statements come from the simulator in sandbox mode only.');
        const platform = await runtime.platforms.record(await platformParam(runtime, request.query.platform_id));
        const [from, to] = businessDayBounds(request.query.date);
        return reply.header('content-type', 'text/csv; charset=utf-8').send(simulator.statement(from, to, platform.id));
      },
    );

    app.get(
      '/verification-fees',
      {
        config: { access: operatorAccess('viewer') },
        schema: {
          operationId: 'getVerificationFees',
          summary: "Identity-verification calls and their fees for a platform, over business dates from..to (inclusive).",
          tags: ['ops'],
          security: [{ operatorToken: [] }],
          querystring: Type.Object(
            { platform_id: Type.String({ maxLength: 64 }), from: Type.Optional(Type.String()), to: Type.Optional(Type.String()) },
            { additionalProperties: false },
          ),
          response: { 200: FeeReport, ...errorResponses() },
        },
      },
      async (request) => {
        const platformId = await platformParam(runtime, request.query.platform_id);
        await runtime.platforms.record(platformId);
        const today = businessDate(runtime.clock.nowMs());
        const from = request.query.from ?? today;
        const to = request.query.to ?? today;
        for (const [param, value] of [['from', from], ['to', to]] as const) {
          if (!isBusinessDate(value)) throw new CustodyError('invalid_request', `${param} must be a date YYYY-MM-DD.`, param);
        }
        const dayAfter = businessDate(startOfBusinessDate(to) + 36 * 3600 * 1000);
        const lines = await runtime.cards.fees(platformId, startOfBusinessDate(from), startOfBusinessDate(dayAfter));
        return {
          object: 'verification_fee_report' as const,
          platform_id: toPublicId('platform', platformId),
          from,
          to,
          calls: lines.reduce((sum, line) => sum + line.calls, 0),
          total_fee: present.amount(lines.reduce((sum, line) => sum + line.feeMinor, 0n)),
          lines: lines.map((line) => ({ kind: line.kind, provider: line.provider, calls: line.calls, fee: present.amount(line.feeMinor) })),
        };
      },
    );
  };
}

/** [start, end) of a business date given as a query parameter `date`. */
function businessDayBounds(date: string): [number, number] {
  if (!isBusinessDate(date)) throw new CustodyError('invalid_request', 'date must be YYYY-MM-DD.', 'date');
  const from = startOfBusinessDate(date);
  return [from, startOfBusinessDate(addDays(date, 1))];
}
