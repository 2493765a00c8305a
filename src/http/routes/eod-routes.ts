import { Readable } from 'node:stream';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import { Type } from 'typebox';
import { businessDate } from '../../business-date.js';
import type { CloseOutcome } from '../../custody/eod-service.js';
import { statementKinds } from '../../custody/eod-service.js';
import type { Id } from '../../ledger/index.js';
import { limits } from '../../limits.js';
import { toPublicId } from '../../public-ids.js';
import type { Runtime } from '../../runtime.js';
import { operatorAccess, platformAccess, platformOf } from '../auth.js';
import * as present from '../present.js';
import { Balance, errorResponses, listQueryWith, List, StringEnum, Timestamp } from '../schemas.js';
import { internalId, platformParam } from './ops-routes.js';

const DateString = Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$', description: 'A business date, YYYY-MM-DD (Asia/Shanghai).' });
const Year = Type.Integer({ minimum: 2000, maximum: 9999 });

const Check = Type.Object({ name: Type.String(), ok: Type.Boolean(), detail: Type.String() });

const PlatformClose = Type.Object({
  platform_id: Type.String(),
  date: Type.String(),
  status: StringEnum(['closed', 'failed'] as const),
  settled: Balance,
  settlement_basis: StringEnum(['statement', 'books'] as const, "statement: per the channels' statements imported for the date (their matched payins); books: none was imported, so per channel in-transit."),
  converted_members: Type.Integer(),
  converted_amount: Balance,
  closed_at: Type.Union([Timestamp, Type.Null()]),
  checks: Type.Array(Check),
  error: Type.Union([Type.String(), Type.Null()]),
  replayed: Type.Boolean({ description: 'The date was closed before this request: nothing changed.' }),
});

const TrialBalanceView = Type.Object({
  date: Type.String(),
  platform_id: Type.String(),
  accounts: Type.Array(
    Type.Object({
      account_id: Type.String(),
      code: Type.String(),
      member_id: Type.Optional(Type.String()),
      opening: Balance,
      debits: Balance,
      credits: Balance,
      closing: Balance,
    }),
  ),
  totals: Type.Object({ debits: Balance, credits: Balance }),
});

const ReserveView = Type.Object({
  date: Type.String(),
  platform_id: Type.Union([Type.String(), Type.Null()]),
  customer_funds: Balance,
  ratio_bps: Type.Integer(),
  required_deposit: Balance,
  basis: StringEnum(['end_of_day', 'now'] as const, "end_of_day: the date's closing balances; now: the books now (the date is not closed)."),
});

const YearClose = Type.Object({
  platform_id: Type.String(),
  year: Type.Integer(),
  status: StringEnum(['closed', 'failed'] as const),
  first_date: Type.Union([Type.String(), Type.Null()]),
  last_date: Type.Union([Type.String(), Type.Null()]),
  accounts: Type.Integer(),
  debits: Balance,
  credits: Balance,
  closed_at: Type.Union([Timestamp, Type.Null()]),
  error: Type.Union([Type.String(), Type.Null()]),
});

const Alert = Type.Object({
  id: Type.String(),
  object: Type.Literal('alert'),
  platform_id: Type.Union([Type.String(), Type.Null()]),
  kind: Type.String(),
  message: Type.String(),
  detail: Type.Unknown(),
  created: Timestamp,
});

function closeView(outcome: CloseOutcome) {
  return {
    platform_id: toPublicId('platform', outcome.platformId),
    date: outcome.date,
    status: outcome.status,
    settled: present.amount(outcome.settledMinor),
    settlement_basis: outcome.settlementBasis,
    converted_members: outcome.convertedMembers,
    converted_amount: present.amount(outcome.convertedMinor),
    closed_at: outcome.closedAtMs === null ? null : new Date(outcome.closedAtMs).toISOString(),
    checks: outcome.checks.map((c) => ({ name: c.name, ok: c.ok, detail: c.detail })),
    error: outcome.error,
    replayed: outcome.replayed,
  };
}

function sendCsv(reply: FastifyReply, lines: AsyncIterable<string>, filename: string) {
  return reply
    .header('content-type', 'text/csv; charset=utf-8')
    .header('content-disposition', `attachment; filename="${filename}"`)
    .send(Readable.from(lines));
}

const csvResponse = { description: 'CSV with a header row, UTF-8, amounts in fen.', content: { 'text/csv': { schema: { type: 'string' } } } };

/** End of day, trial balance, reserve funds, year-end close and alerts, for operators (`/v1/ops`). */
export function opsEodRoutes(runtime: Runtime): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post(
      '/eod',
      {
        config: { access: operatorAccess('operator') },
        schema: {
          operationId: 'runEndOfDay',
          summary:
            "End of day for a business date that is over: settles channel in-transit money, makes the day's pending proceeds withdrawable, checks the invariants, takes the day's balances and files. Every platform when platform_id is absent; each earlier day still open closes first. Idempotent per platform and date.",
          tags: ['ops'],
          security: [{ operatorToken: [] }],
          body: Type.Object({ date: DateString, platform_id: Type.Optional(Type.String({ maxLength: 64 })) }, { additionalProperties: false }),
          response: { 200: Type.Object({ date: Type.String(), platforms: Type.Array(PlatformClose) }), ...errorResponses(409) },
        },
      },
      async (request) => {
        const platformId = request.body.platform_id === undefined ? undefined : await platformParam(runtime, request.body.platform_id);
        const outcomes = await runtime.eod.close(request.body.date, platformId);
        return { date: request.body.date, platforms: outcomes.map(closeView) };
      },
    );

    app.get(
      '/trial-balance',
      {
        config: { access: operatorAccess('viewer') },
        schema: {
          operationId: 'getTrialBalance',
          summary:
            "A closed day's trial balance: every ledger account of the platform with its opening, debits, credits and closing (opening and closing on the account's normal side); closing = opening + movement, Σ debits = Σ credits. 404 before the day is closed.",
          tags: ['ops'],
          security: [{ operatorToken: [] }],
          querystring: Type.Object({ platform_id: Type.String({ maxLength: 64 }), date: DateString }, { additionalProperties: false }),
          response: { 200: TrialBalanceView, ...errorResponses() },
        },
      },
      async (request) => {
        const platformId = await platformParam(runtime, request.query.platform_id);
        const trial = await runtime.eod.trialBalance(platformId, request.query.date);
        return {
          date: trial.date,
          platform_id: request.query.platform_id,
          accounts: trial.accounts.map((a) => ({
            account_id: toPublicId('account', a.accountId),
            code: a.code,
            ...(a.memberId === null ? {} : { member_id: toPublicId('member', a.memberId) }),
            opening: present.amount(a.openingMinor),
            debits: present.amount(a.debitsMinor),
            credits: present.amount(a.creditsMinor),
            closing: present.amount(a.closingMinor),
          })),
          totals: { debits: present.amount(trial.totals.debitsMinor), credits: present.amount(trial.totals.creditsMinor) },
        };
      },
    );

    app.get(
      '/reserve',
      {
        config: { access: operatorAccess('viewer') },
        schema: {
          operationId: 'getReserveRequirement',
          summary:
            "Reserve funds (备付金): customer funds held on a date (from that date's end-of-day balances once closed, else the books now), the ratio in force and the required deposit, round half up. All platforms when platform_id is absent.",
          tags: ['ops'],
          security: [{ operatorToken: [] }],
          querystring: Type.Object({ date: Type.Optional(DateString), platform_id: Type.Optional(Type.String({ maxLength: 64 })) }, { additionalProperties: false }),
          response: { 200: ReserveView, ...errorResponses() },
        },
      },
      async (request) => {
        const platformId = request.query.platform_id === undefined ? undefined : await platformParam(runtime, request.query.platform_id);
        const date = request.query.date ?? businessDate(runtime.clock.nowMs());
        const reserve = await runtime.eod.reserve(date, platformId);
        return {
          date: reserve.date,
          platform_id: request.query.platform_id ?? null,
          customer_funds: present.amount(reserve.customerFundsMinor),
          ratio_bps: reserve.ratioBps,
          required_deposit: present.amount(reserve.requiredDepositMinor),
          basis: reserve.basis,
        };
      },
    );

    app.post(
      '/year-end',
      {
        config: { access: operatorAccess('operator') },
        schema: {
          operationId: 'closeYear',
          summary:
            'Year-end close (年终决算) of a year that is over: closes every day still open, then records the closing trial balance and each member’s annual statement (files below). Idempotent per platform and year.',
          tags: ['ops'],
          security: [{ operatorToken: [] }],
          body: Type.Object({ year: Year, platform_id: Type.Optional(Type.String({ maxLength: 64 })) }, { additionalProperties: false }),
          response: { 200: Type.Object({ year: Type.Integer(), platforms: Type.Array(YearClose) }), ...errorResponses(409) },
        },
      },
      async (request) => {
        const platformId = request.body.platform_id === undefined ? undefined : await platformParam(runtime, request.body.platform_id);
        const closed = await runtime.eod.closeYear(request.body.year, platformId);
        return {
          year: closed.year,
          platforms: closed.platforms.map((p) =>
            p.status === 'closed'
              ? {
                  platform_id: toPublicId('platform', p.run.platformId),
                  year: p.run.year,
                  status: 'closed' as const,
                  first_date: p.run.firstDate,
                  last_date: p.run.lastDate,
                  accounts: p.run.accounts,
                  debits: present.amount(p.run.debitsMinor),
                  credits: present.amount(p.run.creditsMinor),
                  closed_at: new Date(p.run.completedAtMs).toISOString(),
                  error: null,
                }
              : {
                  platform_id: toPublicId('platform', p.platformId),
                  year: closed.year,
                  status: 'failed' as const,
                  first_date: null,
                  last_date: null,
                  accounts: 0,
                  debits: 0,
                  credits: 0,
                  closed_at: null,
                  error: `The close of ${p.outcome.date} stopped: ${p.outcome.error ?? 'unknown'}`,
                },
          ),
        };
      },
    );

    const yearFile = (file: 'trial-balance' | 'statements') =>
      app.get(
        `/year-end/:year/${file}`,
        {
          config: { access: operatorAccess('viewer') },
          schema: {
            operationId: file === 'trial-balance' ? 'getYearTrialBalance' : 'getYearStatements',
            summary:
              file === 'trial-balance'
                ? "A closed year's trial balance as a file: account_id,code,member_id,opening,debits,credits,closing."
                : "Every member's annual statement as a file, one row per bucket: member_id,external_id,sub_account_no,bucket,opening,credits,debits,closing.",
            tags: ['ops'],
            security: [{ operatorToken: [] }],
            params: Type.Object({ year: Year }),
            querystring: Type.Object({ platform_id: Type.String({ maxLength: 64 }) }, { additionalProperties: false }),
            response: { 200: csvResponse, ...errorResponses() },
          },
        },
        async (request, reply) => {
          const platformId = await platformParam(runtime, request.query.platform_id);
          const run = await runtime.eod.yearEnd(platformId, request.params.year);
          const lines = file === 'trial-balance' ? runtime.eod.yearTrialBalanceFile(run) : runtime.eod.yearStatementsFile(run);
          return sendCsv(reply, lines, `${request.params.year}-${file}.csv`);
        },
      );
    yearFile('trial-balance');
    yearFile('statements');

    app.get(
      '/alerts',
      {
        config: { access: operatorAccess('viewer') },
        schema: {
          operationId: 'listAlerts',
          summary: 'What operators must look at, newest first: a day close stopped by a failed invariant, and the like.',
          tags: ['ops'],
          security: [{ operatorToken: [] }],
          querystring: listQueryWith({ platform_id: Type.Optional(Type.String({ maxLength: 64 })) }),
          response: { 200: List(Alert), ...errorResponses() },
        },
      },
      async (request) => {
        const platformId = request.query.platform_id === undefined ? undefined : await platformParam(runtime, request.query.platform_id);
        const before = request.query.starting_after === undefined ? undefined : internalId('alert', request.query.starting_after, 'starting_after');
        const size = request.query.limit ?? limits.pageSizeDefault;
        const rows = await runtime.eod.alerts(platformId, size + 1, before);
        return present.list(rows, size, (a) => ({
          id: toPublicId('alert', a.id),
          object: 'alert' as const,
          platform_id: a.platformId === null ? null : toPublicId('platform', a.platformId),
          kind: a.kind,
          message: a.message,
          detail: a.detail,
          created: new Date(a.createdAtMs).toISOString(),
        }));
      },
    );
  };
}

/** The day's files and the annual statement, for platforms (`/v1`). */
export function statementRoutes(runtime: Runtime): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/statements/:date/:kind',
      {
        config: { access: platformAccess },
        schema: {
          operationId: 'getStatement',
          summary:
            "A closed day's file (the bank's YE/JY/CZ/TX): balances, trades, recharges or withdrawals, CSV with a header row. 404 before that day's end of day has run.",
          tags: ['statements'],
          params: Type.Object({ date: DateString, kind: StringEnum(statementKinds) }),
          response: { 200: csvResponse, ...errorResponses() },
        },
      },
      async (request, reply) => {
        const platformId: Id = platformOf(request);
        const lines = await runtime.eod.statement(platformId, request.params.date, request.params.kind);
        return sendCsv(reply, lines, `${request.params.date}-${request.params.kind}.csv`);
      },
    );

    app.get(
      '/statements/annual/:year',
      {
        config: { access: platformAccess },
        schema: {
          operationId: 'getAnnualStatement',
          summary:
            "Every member's annual statement of a closed year (年终决算), one row per bucket: member_id,external_id,sub_account_no,bucket,opening,credits,debits,closing. 404 before the year is closed.",
          tags: ['statements'],
          params: Type.Object({ year: Year }),
          response: { 200: csvResponse, ...errorResponses() },
        },
      },
      async (request, reply) => {
        const run = await runtime.eod.yearEnd(platformOf(request), request.params.year);
        return sendCsv(reply, runtime.eod.yearStatementsFile(run), `${request.params.year}-annual.csv`);
      },
    );
  };
}
