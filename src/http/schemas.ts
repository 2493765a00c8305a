import { Type } from 'typebox';
import type { Static, TSchema } from 'typebox';
import { errorCodes } from '../errors.js';
import type { ErrorCode } from '../errors.js';
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
      code: Type.Unsafe<ErrorCode>({ type: 'string', enum: [...errorCodes], description: 'A code of docs/errors.md.' }),
      message: Type.String(),
      param: Type.Optional(Type.String({ description: 'The request field at fault.' })),
      request_id: Type.String(),
    }),
  },
  { $id: 'Error', title: 'Error' },
);

const listParameters = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: limits.pageSizeMax, default: limits.pageSizeDefault })),
  starting_after: Type.Optional(Type.String({ maxLength: 64 })),
};

export const ListQuery = Type.Object(listParameters, { additionalProperties: false });

/** A list's query with filters of its own, flat so that OpenAPI shows every parameter. */
export function listQueryWith<P extends Record<string, TSchema>>(filters: P) {
  return Type.Object({ ...listParameters, ...filters }, { additionalProperties: false });
}

export function List<T extends TSchema>(item: T) {
  return Type.Object({ object: Type.Literal('list'), data: Type.Array(item), has_more: Type.Boolean() });
}

/** A string from a fixed list, shown in OpenAPI as one `enum`. */
export function StringEnum<const T extends string>(values: readonly T[], description?: string) {
  return Type.Unsafe<T>({ type: 'string', enum: [...values], ...(description === undefined ? {} : { description }) });
}

export const orderStatuses = ['awaiting_payment', 'escrowed', 'completed', 'refunded', 'failed'] as const;
export const orderModes = ['guaranteed', 'direct_t0', 'direct_t1'] as const;

export const IdParams = Type.Object({ id: Type.String({ maxLength: 64 }) });

/** A reference to the shared Error schema (registered once by the app). */
const ErrorRef = Type.Unsafe<Static<typeof ErrorBody>>({ $ref: 'Error#' });

/** The error responses every authenticated route can give, by status. */
export function errorResponses(...statuses: number[]): Record<number, typeof ErrorRef> {
  const all = new Set([400, 401, 403, 404, 429, 500, 503, ...statuses]);
  return Object.fromEntries([...all].map((status) => [status, ErrorRef]));
}

export const Role = Type.Union([Type.Literal('viewer'), Type.Literal('operator'), Type.Literal('approver'), Type.Literal('admin')]);

export const AccountView = Type.Object({
  id: Type.String(),
  code: Type.String(),
  currency: Type.String(),
  balance: Balance,
});
