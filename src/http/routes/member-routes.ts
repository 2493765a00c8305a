import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { CustodyError } from '../../errors.js';
import { limits } from '../../limits.js';
import type { Runtime } from '../../runtime.js';
import { platformAccess, platformOf } from '../auth.js';
import * as present from '../present.js';
import { Balance, errorResponses, IdParams, List, ListQuery, listQueryWith, Timestamp } from '../schemas.js';
import { internalId } from './ops-routes.js';

export const Member = Type.Object({
  id: Type.String(),
  object: Type.Literal('member'),
  external_id: Type.String(),
  sub_account_no: Type.String(),
  type: Type.Union([Type.Literal('individual'), Type.Literal('enterprise')]),
  property: Type.Union([Type.Literal('ordinary'), Type.Literal('merchant')]),
  status: Type.String(),
  name: Type.String({ description: 'Masked.' }),
  id_number: Type.String({ description: 'Masked.' }),
  phone: Type.String({ description: 'Masked.' }),
  created: Timestamp,
  balances: Type.Object({
    available: Balance,
    withdrawable: Balance,
    pending: Balance,
    spendable: Balance,
    frozen: Balance,
  }),
});

const OpenMemberBody = Type.Object(
  {
    external_id: Type.String({ minLength: 1, maxLength: limits.externalIdLengthMax }),
    name: Type.String({ minLength: 1, maxLength: limits.memberNameLengthMax }),
    type: Type.Union([Type.Literal('individual'), Type.Literal('enterprise')]),
    property: Type.Optional(Type.Union([Type.Literal('ordinary'), Type.Literal('merchant')])),
    id_number: Type.String({ minLength: 1, maxLength: 32 }),
    phone: Type.String({ minLength: 1, maxLength: 20 }),
  },
  { additionalProperties: false },
);

const StatementLine = Type.Object({
  id: Type.String(),
  object: Type.Literal('statement_line'),
  entry_id: Type.String(),
  occurred_at: Timestamp,
  kind: Type.String(),
  order_no: Type.Union([Type.String(), Type.Null()]),
  bucket: Type.Union([Type.Literal('spendable'), Type.Literal('pending'), Type.Literal('withdrawable'), Type.Literal('frozen')]),
  amount: Balance,
  balance_after: Balance,
});

/** Member sub-accounts, for the platform they belong to. */
export function memberRoutes(runtime: Runtime): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post(
      '/members',
      {
        config: { access: platformAccess },
        schema: {
          operationId: 'createMember',
          summary: 'Open a member sub-account (会员子账户开立).',
          tags: ['members'],
          security: [{ platformKey: [] }],
          body: OpenMemberBody,
          response: { 201: Member, ...errorResponses(409) },
        },
      },
      async (request, reply) => {
        const member = await runtime.members.open(platformOf(request), {
          externalId: request.body.external_id,
          name: request.body.name,
          type: request.body.type,
          property: request.body.property,
          idNumber: request.body.id_number,
          phone: request.body.phone,
        });
        return reply.code(201).send(present.member(member));
      },
    );

    app.get(
      '/members',
      {
        config: { access: platformAccess },
        schema: {
          operationId: 'listMembers',
          tags: ['members'],
          security: [{ platformKey: [] }],
          summary: 'Members, oldest first; find one by external_id, id_number or phone (matched by keyed hash).',
          querystring: listQueryWith({
            external_id: Type.Optional(Type.String({ maxLength: limits.externalIdLengthMax })),
            id_number: Type.Optional(Type.String({ maxLength: 32 })),
            phone: Type.Optional(Type.String({ maxLength: 20 })),
          }),
          response: { 200: List(Member), ...errorResponses() },
        },
      },
      async (request) => {
        const limit = request.query.limit ?? limits.pageSizeDefault;
        const afterId = request.query.starting_after === undefined ? undefined : internalId('member', request.query.starting_after, 'starting_after');
        const members = await runtime.members.list(platformOf(request), {
          limit: limit + 1,
          afterId,
          externalId: request.query.external_id,
          idNumber: request.query.id_number,
          phone: request.query.phone,
        });
        return present.list(members, limit, present.member);
      },
    );

    app.get(
      '/members/:id',
      {
        config: { access: platformAccess },
        schema: { operationId: 'getMember', tags: ['members'], security: [{ platformKey: [] }], params: IdParams, response: { 200: Member, ...errorResponses() } },
      },
      async (request) => present.member(await runtime.members.get(platformOf(request), internalId('member', request.params.id))),
    );

    app.get(
      '/members/:id/entries',
      {
        config: { access: platformAccess },
        schema: {
          operationId: 'listMemberEntries',
          summary: "The member's statement: every movement of every bucket, oldest first, with the bucket's balance after it.",
          tags: ['members'],
          security: [{ platformKey: [] }],
          params: IdParams,
          querystring: ListQuery,
          response: { 200: List(StatementLine), ...errorResponses() },
        },
      },
      async (request) => {
        const limit = request.query.limit ?? limits.pageSizeDefault;
        let after;
        if (request.query.starting_after !== undefined) {
          after = present.parseLineId(request.query.starting_after) ?? undefined;
          if (after === undefined) throw new CustodyError('invalid_request', 'starting_after must be a statement line id.', 'starting_after');
        }
        const lines = await runtime.members.statement(platformOf(request), internalId('member', request.params.id), { after, limit: limit + 1 });
        return present.list(lines, limit, present.statementLine);
      },
    );
  };
}
