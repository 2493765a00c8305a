import { limits } from '../limits.js';
import { isValidId } from './id.js';
import type { EntryErrorCode } from './result-codes.js';
import { entryKinds } from './types.js';
import type { Account, Entry, EntryInput, Pending, PostingInput } from './types.js';

/**
 * The checks that need nothing but the entry itself, in precedence order.
 * Returns the first failure, or null.
 */
export function checkEntryShape(input: EntryInput): EntryErrorCode | null {
  if (!isValidId(input.id)) return 'id_invalid';
  if (!entryKinds.includes(input.kind)) return 'kind_invalid';
  if (!isValidCommand(input.command)) return 'command_invalid';
  if (input.reference !== undefined && input.reference.length > limits.referenceLengthMax) return 'reference_too_long';
  if (input.actor !== undefined && input.actor.length > limits.actorLengthMax) return 'actor_too_long';
  const resolves = input.kind !== 'posted' && input.kind !== 'pending';
  if (!resolves && input.pendingId !== undefined) return 'pending_id_must_be_absent';
  if (resolves && input.pendingId === undefined) return 'pending_id_required';
  if (resolves && !isValidId(input.pendingId)) return 'pending_id_invalid';
  if (resolves && input.pendingId === input.id) return 'pending_id_must_be_different';
  return checkTimeout(input) ?? checkPostingsShape(input);
}

const commandPattern = /^[a-z][a-z0-9_.:-]*$/;

/** Commands found valid: a system has a few dozen, and nearly every entry repeats one. */
const validCommands = new Set<string>();
const validCommandsMax = 1024;

function isValidCommand(command: string): boolean {
  if (validCommands.has(command)) return true;
  if (typeof command !== 'string' || command.length === 0 || command.length > limits.commandLengthMax) return false;
  if (!commandPattern.test(command)) return false;
  if (validCommands.size < validCommandsMax) validCommands.add(command);
  return true;
}

function checkTimeout(input: EntryInput): EntryErrorCode | null {
  const seconds = input.timeoutSeconds ?? 0;
  if (seconds !== 0 && input.kind !== 'pending') return 'timeout_reserved_for_pending_entry';
  if (!Number.isSafeInteger(seconds) || seconds < 0) return 'timeout_invalid';
  if (seconds > limits.pendingTimeoutSecondsMax) return 'timeout_exceeds_max';
  return null;
}

function checkPostingsShape(input: EntryInput): EntryErrorCode | null {
  const count = input.postings.length;
  if (count === 0 && (input.kind === 'posted' || input.kind === 'pending')) return 'postings_must_not_be_empty';
  if (count > 0 && (input.kind === 'void_pending' || input.kind === 'expire')) return 'postings_must_be_empty';
  if (count > limits.postingsPerEntryMax) return 'too_many_postings';
  // A post may leave a posting at zero (release it all); new money must be positive.
  const amountMin = input.kind === 'post_pending' ? 0n : 1n;
  for (const posting of input.postings) {
    const code = checkPostingShape(posting, amountMin);
    if (code !== null) return code;
  }
  return null;
}

function checkPostingShape(posting: PostingInput, amountMin: bigint): EntryErrorCode | null {
  if (!isValidId(posting.debitAccountId)) return 'debit_account_id_invalid';
  if (!isValidId(posting.creditAccountId)) return 'credit_account_id_invalid';
  if (posting.debitAccountId === posting.creditAccountId) return 'accounts_must_be_different';
  if (typeof posting.amountMinor !== 'bigint' || posting.amountMinor < amountMin) return 'amount_must_be_positive';
  if (posting.amountMinor > limits.amountMinorMax) return 'amount_exceeds_max';
  return null;
}

/**
 * Compares a replayed entry with the one stored under its id. Null means identical: the
 * replay answers `exists` and changes nothing.
 */
export function compareWithExisting(input: EntryInput, existing: Entry): EntryErrorCode | null {
  if (input.kind !== existing.kind) return 'exists_with_different_kind';
  if ((input.pendingId ?? null) !== existing.pendingId) return 'exists_with_different_pending_id';
  if (existing.kind === 'pending' && timeoutOf(input) !== timeoutOf(existing)) return 'exists_with_different_timeout';
  if (!samePostings(input, existing)) return 'exists_with_different_postings';
  if (input.command !== existing.command) return 'exists_with_different_command';
  if ((input.reference ?? null) !== existing.reference) return 'exists_with_different_reference';
  if ((input.actor ?? null) !== existing.actor) return 'exists_with_different_actor';
  return null;
}

function timeoutOf(entry: EntryInput | Entry): number {
  if ('timeoutSeconds' in entry && entry.timeoutSeconds !== undefined) return entry.timeoutSeconds;
  if ('timeoutAtMs' in entry && entry.timeoutAtMs !== null) return (entry.timeoutAtMs - entry.occurredAtMs) / 1000;
  return 0;
}

function samePostings(input: EntryInput, existing: Entry): boolean {
  // Voids and expiries name no postings; the stored ones are what they released.
  if (input.kind === 'void_pending' || input.kind === 'expire') return true;
  // A post without postings posts everything: each stored posting posted what it released.
  if (input.kind === 'post_pending' && input.postings.length === 0) {
    return existing.postings.every((p) => p.amountMinor === p.pendingReleasedMinor);
  }
  if (input.postings.length !== existing.postings.length) return false;
  return input.postings.every((posting, index) => {
    const stored = existing.postings[index];
    return (
      stored !== undefined &&
      stored.debitAccountId === posting.debitAccountId &&
      stored.creditAccountId === posting.creditAccountId &&
      stored.amountMinor === posting.amountMinor
    );
  });
}

/** Checks the state of the pending entry that a post, void or expiry names. */
export function checkPendingState(
  input: EntryInput,
  pending: Pending | 'not_pending' | undefined,
  nowMs: number,
): EntryErrorCode | null {
  if (pending === undefined) return 'pending_entry_not_found';
  if (pending === 'not_pending') return 'pending_entry_not_pending';
  if (pending.state === 'posted') return 'pending_entry_already_posted';
  if (pending.state === 'voided') return 'pending_entry_already_voided';
  if (pending.state === 'expired') return 'pending_entry_expired';
  const due = pending.timeoutAtMs !== null && nowMs >= pending.timeoutAtMs;
  if (input.kind === 'expire') return due ? null : 'pending_entry_not_expired';
  return due ? 'pending_entry_expired' : null;
}

/** The amounts a post writes: the caller's, or everything that is pending. */
export function postedAmounts(input: EntryInput, pending: Pending): bigint[] | EntryErrorCode {
  if (input.kind !== 'post_pending') return pending.postings.map(() => 0n);
  if (input.postings.length === 0) return pending.postings.map((p) => p.amountMinor);
  if (input.postings.length !== pending.postings.length) return 'pending_entry_has_different_postings';
  const amounts: bigint[] = [];
  for (const [index, posting] of input.postings.entries()) {
    const reserved = pending.postings[index];
    if (
      reserved === undefined ||
      reserved.debitAccountId !== posting.debitAccountId ||
      reserved.creditAccountId !== posting.creditAccountId
    ) {
      return 'pending_entry_has_different_postings';
    }
    if (posting.amountMinor > reserved.amountMinor) return 'exceeds_pending_amount';
    amounts.push(posting.amountMinor);
  }
  return amounts;
}

/**
 * Checks the accounts named by new postings: they exist, are open, share one currency. Each
 * account is looked up once; the checks run in that order over all postings, debit before
 * credit.
 */
export function checkAccounts(
  postings: readonly PostingInput[],
  account: (id: string) => Account | undefined,
  allowClosed: boolean,
): EntryErrorCode | null {
  // Debit and credit of each posting in turn. A lookup that fails comes first; then the
  // first closed account, in the same order; then the currencies. No array or closure: this
  // runs for every entry of every batch.
  let closed: EntryErrorCode | null = null;
  let currency: string | null = null;
  let mixed = false;
  for (let i = 0; i < postings.length; i++) {
    const posting = postings[i] as PostingInput;
    const debit = account(posting.debitAccountId);
    if (debit === undefined) return 'debit_account_not_found';
    const credit = account(posting.creditAccountId);
    if (credit === undefined) return 'credit_account_not_found';
    if (closed === null && !allowClosed) {
      if (debit.closed) closed = 'debit_account_closed';
      else if (credit.closed) closed = 'credit_account_closed';
    }
    currency ??= debit.currency;
    if (debit.currency !== currency || credit.currency !== currency) mixed = true;
  }
  if (closed !== null) return closed;
  return mixed ? 'currency_mismatch' : null;
}
