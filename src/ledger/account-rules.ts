import { limits } from '../limits.js';
import { isValidId } from './id.js';
import type { AccountResultCode } from './result-codes.js';
import type { Account, AccountInput } from './types.js';

const codePattern = /^[a-z][a-z0-9_]*$/;
const currencyPattern = /^[A-Z]{3}$/;

/**
 * Decides whether an account may be created. An identical account created before answers
 * `exists` (idempotent); the same id with other fields is refused.
 */
export function decideAccount(input: AccountInput, existing: Account | undefined): AccountResultCode {
  if (!isValidId(input.id)) return 'id_invalid';
  if (input.code.length > limits.accountCodeLengthMax || !codePattern.test(input.code)) return 'code_invalid';
  if (!currencyPattern.test(input.currency)) return 'currency_invalid';
  if (input.flags.debitsMustNotExceedCredits && input.flags.creditsMustNotExceedDebits) {
    return 'flags_are_mutually_exclusive';
  }
  if (existing === undefined) return 'created';
  if (existing.code !== input.code) return 'exists_with_different_code';
  if (existing.currency !== input.currency) return 'exists_with_different_currency';
  if (
    existing.flags.debitsMustNotExceedCredits !== input.flags.debitsMustNotExceedCredits ||
    existing.flags.creditsMustNotExceedDebits !== input.flags.creditsMustNotExceedDebits
  ) {
    return 'exists_with_different_flags';
  }
  return 'exists';
}
