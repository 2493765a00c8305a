import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Runtime } from '../../runtime.js';
import { platformAccess, platformOf } from '../auth.js';
import * as present from '../present.js';
import { Amount, errorResponses, IdParams, List, ListQuery, Timestamp } from '../schemas.js';
import { actorOf } from './order-routes.js';
import { internalId, pageOf } from './ops-routes.js';

const Card = Type.Object({
  id: Type.String(),
  object: Type.Literal('card'),
  member_id: Type.String(),
  method: Type.Union([Type.Literal('four_element'), Type.Literal('small_amount')]),
  status: Type.Union([Type.Literal('verifying'), Type.Literal('bound'), Type.Literal('failed'), Type.Literal('expired'), Type.Literal('unbound')]),
  card_number: Type.String({ description: 'Masked: `6222 **** **** 1234`.' }),
  last4: Type.String(),
  created: Timestamp,
  bound_at: Type.Union([Timestamp, Type.Null()]),
  failure_reason: Type.Union([Type.String(), Type.Null()]),
  sandbox: Type.Optional(
    Type.Object(
      { sms_code: Type.Optional(Type.String()), amount: Type.Optional(Type.Integer()) },
      { description: 'Sandbox only: what the member would receive.' },
    ),
  ),
});

const CardParams = Type.Object({ id: Type.String({ maxLength: 64 }), card_id: Type.String({ maxLength: 64 }) });

/** Binding withdrawal cards to members. */
export function cardRoutes(runtime: Runtime): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post(
      '/members/:id/cards',
      {
        config: { access: platformAccess },
        schema: {
          operationId: 'startCardBinding',
          summary: 'Start binding a card: four_element (individuals; SMS code) or small_amount (a deposit ≤ ¥0.50 to type back within 48 h).',
          tags: ['cards'],
          security: [{ platformKey: [] }],
          params: IdParams,
          body: Type.Object(
            {
              method: Type.Union([Type.Literal('four_element'), Type.Literal('small_amount')]),
              card_number: Type.String({ minLength: 1, maxLength: 32 }),
              phone: Type.Optional(Type.String({ minLength: 1, maxLength: 20 })),
            },
            { additionalProperties: false },
          ),
          response: { 201: Card, ...errorResponses(409, 422) },
        },
      },
      async (request, reply) => {
        const card = await runtime.cards.start(platformOf(request), internalId('member', request.params.id), {
          method: request.body.method,
          cardNumber: request.body.card_number,
          phone: request.body.phone,
        });
        return reply.code(201).send(present.card(card));
      },
    );

    app.get(
      '/members/:id/cards',
      {
        config: { access: platformAccess },
        schema: { operationId: 'listCards', tags: ['cards'], security: [{ platformKey: [] }], params: IdParams, querystring: ListQuery, response: { 200: List(Card), ...errorResponses() } },
      },
      async (request) => {
        const cards = await runtime.cards.list(platformOf(request), internalId('member', request.params.id));
        const after = request.query.starting_after === undefined ? undefined : internalId('card', request.query.starting_after, 'starting_after');
        return pageOf(cards, after, request.query.limit, present.card);
      },
    );

    app.get(
      '/members/:id/cards/:card_id',
      {
        config: { access: platformAccess },
        schema: { operationId: 'getCard', tags: ['cards'], security: [{ platformKey: [] }], params: CardParams, response: { 200: Card, ...errorResponses() } },
      },
      async (request) =>
        present.card(
          await runtime.cards.get(platformOf(request), internalId('member', request.params.id), internalId('card', request.params.card_id, 'card_id')),
        ),
    );

    app.post(
      '/members/:id/cards/:card_id/confirm',
      {
        config: { access: platformAccess },
        schema: {
          operationId: 'confirmCardBinding',
          summary: 'Answer the verification: the SMS code, or the deposited amount in fen.',
          tags: ['cards'],
          security: [{ platformKey: [] }],
          params: CardParams,
          body: Type.Object(
            { sms_code: Type.Optional(Type.String({ minLength: 1, maxLength: 12 })), amount: Type.Optional(Amount) },
            { additionalProperties: false },
          ),
          response: { 200: Card, ...errorResponses(422) },
        },
      },
      async (request) =>
        present.card(
          await runtime.cards.confirm(
            platformOf(request),
            internalId('member', request.params.id),
            internalId('card', request.params.card_id, 'card_id'),
            { smsCode: request.body.sms_code, amountMinor: request.body.amount === undefined ? undefined : BigInt(request.body.amount) },
            actorOf(request),
          ),
        ),
    );

    app.delete(
      '/members/:id/cards/:card_id',
      {
        config: { access: platformAccess },
        schema: { operationId: 'unbindCard', tags: ['cards'], security: [{ platformKey: [] }], params: CardParams, response: { 200: Card, ...errorResponses(422) } },
      },
      async (request) =>
        present.card(
          await runtime.cards.unbind(platformOf(request), internalId('member', request.params.id), internalId('card', request.params.card_id, 'card_id')),
        ),
    );
  };
}
