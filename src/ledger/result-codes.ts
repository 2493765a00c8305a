/**
 * Result codes of the ledger core, for everything a caller can cause. They are values, not
 * exceptions: a refused entry changes nothing and the rest of its batch still applies.
 *
 * The order of `entryErrorCodes` is the precedence: validation runs in this order and the
 * first failure wins. Codes are never renamed or reused.
 */

export const accountErrorCodes = [
  'id_invalid',
  'code_invalid',
  'currency_invalid',
  'flags_are_mutually_exclusive',
  'exists_with_different_code',
  'exists_with_different_currency',
  'exists_with_different_flags',
] as const;
export type AccountErrorCode = (typeof accountErrorCodes)[number];

/** `created` for a new account, `exists` for an identical one created before. */
export type AccountResultCode = 'created' | 'exists' | AccountErrorCode;

export const entryErrorCodes = [
  // The entry itself.
  'id_invalid',
  'kind_invalid',
  'command_invalid',
  'reference_too_long',
  'actor_too_long',
  'pending_id_must_be_absent',
  'pending_id_required',
  'pending_id_invalid',
  'pending_id_must_be_different',
  'timeout_reserved_for_pending_entry',
  'timeout_invalid',
  'timeout_exceeds_max',
  'postings_must_not_be_empty',
  'postings_must_be_empty',
  'too_many_postings',
  // Each posting, in posting order.
  'debit_account_id_invalid',
  'credit_account_id_invalid',
  'accounts_must_be_different',
  'amount_must_be_positive',
  'amount_exceeds_max',
  // Idempotency: the id was used before for something else.
  'exists_with_different_kind',
  'exists_with_different_pending_id',
  'exists_with_different_timeout',
  'exists_with_different_postings',
  'exists_with_different_command',
  'exists_with_different_reference',
  'exists_with_different_actor',
  // The accounts named.
  'debit_account_not_found',
  'credit_account_not_found',
  'debit_account_closed',
  'credit_account_closed',
  'currency_mismatch',
  // The pending entry a post, void or expiry refers to.
  'pending_entry_not_found',
  'pending_entry_not_pending',
  'pending_entry_already_posted',
  'pending_entry_already_voided',
  'pending_entry_expired',
  'pending_entry_not_expired',
  'pending_entry_has_different_postings',
  'exceeds_pending_amount',
  // Balances.
  'overflows_debits',
  'overflows_credits',
  'exceeds_credits',
  'exceeds_debits',
] as const;
export type EntryErrorCode = (typeof entryErrorCodes)[number];

/** `ok` for a new entry, `exists` for a replay of an identical one (nothing changes). */
export type EntrySuccessCode = 'ok' | 'exists';
export type EntryResultCode = EntrySuccessCode | EntryErrorCode;

/** Codes decided from the entry alone, before anything stored is consulted. */
export const entryShapeErrorCodes: readonly EntryErrorCode[] = entryErrorCodes.slice(
  0,
  entryErrorCodes.indexOf('amount_exceeds_max') + 1,
);

const precedence = new Map<string, number>(entryErrorCodes.map((code, index) => [code, index]));

/** Rank of an entry error code: lower wins. */
export function entryErrorPrecedence(code: EntryErrorCode): number {
  const rank = precedence.get(code);
  if (rank === undefined) throw new Error(`unknown entry error code ${code}`);
  return rank;
}
