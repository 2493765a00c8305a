/**
 * The one catalog of error codes Custos answers with (Fastify's lib/errors.js habit): every
 * code a caller can see, its HTTP status, and what it means. Codes are never renamed or
 * reused. `docs/errors.md` and the OpenAPI document are generated from this list, and a
 * test keeps all three equal.
 */
export const errorCatalog = {
  invalid_request: { status: 400, description: 'The request does not match the schema; `param` names the field.' },
  unauthenticated: { status: 401, description: 'No credential, or one that is unknown or revoked.' },
  forbidden: {
    status: 403,
    description: "The credential may not do this: an operator role too low, or a platform key on `/v1/ops`.",
  },
  not_found: { status: 404, description: "No such object for this credential (another platform's objects are never found)." },
  request_too_large: { status: 413, description: 'The body is larger than the limit.' },
  unsupported_media_type: { status: 415, description: 'The body is not `application/json` (or `text/csv` where allowed).' },

  idempotency_key_reused: { status: 409, description: 'The Idempotency-Key was used before with a different request.' },
  idempotency_key_in_use: { status: 409, description: 'A request with this Idempotency-Key is still running.' },
  duplicate_order_no: { status: 409, description: 'The order_no was used before on this platform (payins, orders, transfers, withdrawals).' },
  duplicate_external_id: { status: 409, description: 'A member with this external_id exists on this platform.' },
  card_already_bound: { status: 409, description: 'The member has this card bound already.' },
  day_not_over: { status: 409, description: 'The business date is not over yet.' },
  state_conflict: { status: 409, description: 'The object kept changing while the request was decided; retry it.' },
  order_not_refundable: { status: 409, description: 'The order is awaiting payment or failed: there is nothing to refund.' },

  insufficient_funds: { status: 422, description: 'The available balance does not cover the amount.' },
  withdrawal_not_allowed: {
    status: 422,
    description: 'The available balance covers it but the withdrawable balance does not (recharged or pending money).',
  },
  card_not_bound: { status: 422, description: 'The card is not bound (still verifying, failed or unbound).' },
  card_not_owned: { status: 422, description: "The card does not belong to the member." },
  member_not_verified: { status: 422, description: 'The member has no bound card or is not verified for this.' },
  amount_exceeds_limit: { status: 422, description: 'The amount is above a limit.' },
  order_not_confirmable: { status: 422, description: 'The order has nothing in escrow to confirm.' },
  refund_exceeds_paid: { status: 422, description: 'The refund is more than was paid for that payee.' },
  verification_failed: { status: 422, description: 'Identity verification failed: a mismatch, or too many wrong answers.' },
  verification_expired: { status: 422, description: 'The verification window has passed; start binding again.' },
  verification_limit_exceeded: { status: 422, description: 'Too many verification messages for this member today.' },
  card_not_verifying: { status: 422, description: 'The card is not waiting for a verification answer.' },
  too_many_payees: { status: 422, description: 'More payees than an order may have (30).' },
  currency_mismatch: { status: 422, description: 'The accounts or amounts are in different currencies.' },
  account_frozen: { status: 422, description: 'The account is frozen or closed.' },
  maker_cannot_approve: { status: 422, description: 'The maker of an adjustment cannot approve it.' },
  consent_required: { status: 422, description: "The member's consent (SMS code) is missing or wrong." },
  transfer_not_allowed: {
    status: 422,
    description: 'The transfer is not one the platform may make (purpose, accounts or members do not fit).',
  },
  suspense_not_open: { status: 422, description: 'The suspense item has nothing left to allocate or reverse.' },

  rate_limited: { status: 429, description: 'Too many requests for this credential; retry after the Retry-After header.' },
  internal_error: { status: 500, description: 'Something failed inside Custos; nothing was half-applied. Retry with the same Idempotency-Key.' },
  unavailable: { status: 503, description: 'A dependency (database, provider) is unavailable; retry later.' },
} as const satisfies Record<string, { status: number; description: string }>;

export type ErrorCode = keyof typeof errorCatalog;

export const errorCodes = Object.keys(errorCatalog) as ErrorCode[];

/**
 * A refusal a caller can cause, with a stable code: the HTTP layer answers it as
 * `{ error: { code, message, param? } }` with the catalog's status.
 */
export class CustodyError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly param?: string,
  ) {
    super(message);
  }

  get status(): number {
    return errorCatalog[this.code].status;
  }
}
