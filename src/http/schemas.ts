import { Type } from 'typebox';
import type { TSchema } from 'typebox';
import { errorCodes } from '../errors.js';
import { limits } from '../limits.js';

/**
 * Schemas shared by the routes. The same TypeBox objects validate requests and generate the
 * OpenAPI document, so the two cannot drift apart.
 */

/** An amount in fen: a JSON integer, never a float or a string. */
export const Amount = Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'Minor units (fen).' });

/** A balance in fen (may be negative only when something is wrong). */
export const Balance = Type.Integer({ description: 'Minor units (fen).' });

export const Timestamp = Type.String({ format: 'date-time', description: 'RFC 3339, UTC.' });

export const ErrorBody = Type.Object(
  {
    error: Type.Object({
      code: Type.Union(errorCodes.map((code) => Type.Literal(code)), { description: 'A code of docs/errors.md.' }),
      message: Type.String(),
      param: Type.Optional(Type.String({ description: 'The request field at fault.' })),
      request_id: Type.String(),
    }),
  },
  { $id: 'Error', title: 'Error' },
);

export const ListQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: limits.pageSizeMax, default: limits.pageSizeDefault })),
    starting_after: Type.Optional(Type.String({ maxLength: 64 })),
  },
  { additionalProperties: false },
);

export function List<T extends TSchema>(item: T) {
  return Type.Object({ object: Type.Literal('list'), data: Type.Array(item), has_more: Type.Boolean() });
}

export const IdParams = Type.Object({ id: Type.String({ maxLength: 64 }) });

/** The error responses every authenticated route can give, by status. */
export function errorResponses(...statuses: number[]): Record<number, typeof ErrorBody> {
  const all = new Set([400, 401, 403, 404, 429, 500, 503, ...statuses]);
  return Object.fromEntries([...all].map((status) => [status, ErrorBody]));
}

export const Role = Type.Union([Type.Literal('viewer'), Type.Literal('operator'), Type.Literal('approver'), Type.Literal('admin')]);

export const AccountView = Type.Object({
  id: Type.String(),
  code: Type.String(),
  currency: Type.String(),
  balance: Balance,
});
