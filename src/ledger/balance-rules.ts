import { limits } from '../limits.js';
import type { EntryErrorCode } from './result-codes.js';
import type { Account } from './types.js';

/** An account's balances while a batch is being decided. */
export interface WorkingAccount {
  readonly account: Account;
  debitsPendingMinor: bigint;
  debitsPostedMinor: bigint;
  creditsPendingMinor: bigint;
  creditsPostedMinor: bigint;
}

export function workingCopy(source: WorkingAccount | Account): WorkingAccount {
  const account = 'account' in source ? source.account : source;
  return {
    account,
    debitsPendingMinor: source.debitsPendingMinor,
    debitsPostedMinor: source.debitsPostedMinor,
    creditsPendingMinor: source.creditsPendingMinor,
    creditsPostedMinor: source.creditsPostedMinor,
  };
}

/** The account with the working balances: always the same fields, in the same order. */
export function toAccount(working: WorkingAccount): Account {
  const account = working.account;
  return {
    id: account.id,
    code: account.code,
    currency: account.currency,
    flags: account.flags,
    closed: account.closed,
    debitsPendingMinor: working.debitsPendingMinor,
    debitsPostedMinor: working.debitsPostedMinor,
    creditsPendingMinor: working.creditsPendingMinor,
    creditsPostedMinor: working.creditsPostedMinor,
  };
}

/**
 * Adds new money (posted or reserved) to both sides of a posting, checking overflow first
 * and then each account's flag. Mutates only when it returns null.
 */
export function applyNewMoney(
  debit: WorkingAccount,
  credit: WorkingAccount,
  amount: bigint,
  reserve: boolean,
): EntryErrorCode | null {
  // Only the sums that change are computed: every bigint result is a new object.
  const debitsPending = reserve ? debit.debitsPendingMinor + amount : debit.debitsPendingMinor;
  const debitsPosted = reserve ? debit.debitsPostedMinor : debit.debitsPostedMinor + amount;
  const creditsPending = reserve ? credit.creditsPendingMinor + amount : credit.creditsPendingMinor;
  const creditsPosted = reserve ? credit.creditsPostedMinor : credit.creditsPostedMinor + amount;
  if (overflows(debitsPending, debitsPosted)) return 'overflows_debits';
  if (overflows(creditsPending, creditsPosted)) return 'overflows_credits';
  // Reserved debits count against the limit at once; reserved credits do not count until posted.
  if (debit.account.flags.debitsMustNotExceedCredits && debitsPending + debitsPosted > debit.creditsPostedMinor) {
    return 'exceeds_credits';
  }
  if (credit.account.flags.creditsMustNotExceedDebits && creditsPending + creditsPosted > credit.debitsPostedMinor) {
    return 'exceeds_debits';
  }
  debit.debitsPendingMinor = debitsPending;
  debit.debitsPostedMinor = debitsPosted;
  credit.creditsPendingMinor = creditsPending;
  credit.creditsPostedMinor = creditsPosted;
  return null;
}

const halfMax = limits.balanceMinorMax / 2n;

/** Whether either side, or both together, exceed the largest balance (summed only when near it). */
function overflows(pending: bigint, posted: bigint): boolean {
  if (pending <= halfMax && posted <= halfMax) return false;
  const max = limits.balanceMinorMax;
  return pending > max || posted > max || pending + posted > max;
}

/**
 * Resolves a reserved posting: releases `reserved` from pending and posts `posted` of it.
 * No flag can be broken: the reservation already counted against it.
 */
export function applyResolution(
  debit: WorkingAccount,
  credit: WorkingAccount,
  reserved: bigint,
  posted: bigint,
): EntryErrorCode | null {
  const max = limits.balanceMinorMax;
  const debitsPosted = debit.debitsPostedMinor + posted;
  const creditsPosted = credit.creditsPostedMinor + posted;
  if (debitsPosted > max) return 'overflows_debits';
  if (creditsPosted > max) return 'overflows_credits';
  debit.debitsPendingMinor -= reserved;
  debit.debitsPostedMinor = debitsPosted;
  credit.creditsPendingMinor -= reserved;
  credit.creditsPostedMinor = creditsPosted;
  return null;
}

/** Net posted balance, credits − debits: positive for what we owe. */
export function netPosted(a: WorkingAccount | Account): bigint {
  return a.creditsPostedMinor - a.debitsPostedMinor;
}

/** Net pending balance, credits − debits. */
export function netPending(a: WorkingAccount | Account): bigint {
  return a.creditsPendingMinor - a.debitsPendingMinor;
}
