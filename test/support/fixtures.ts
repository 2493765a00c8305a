import { newId } from '../../src/ids.js';
import type { AccountFlags, AccountInput, EntryInput, Id, PostingInput } from '../../src/ledger/index.js';

export const owed: AccountFlags = { debitsMustNotExceedCredits: true, creditsMustNotExceedDebits: false };
export const asset: AccountFlags = { debitsMustNotExceedCredits: false, creditsMustNotExceedDebits: true };
export const free: AccountFlags = { debitsMustNotExceedCredits: false, creditsMustNotExceedDebits: false };

export function accountInput(code = 'member_spendable', flags: AccountFlags = free, currency = 'CNY'): AccountInput {
  return { id: newId(), code, currency, flags };
}

export function posting(debitAccountId: Id, creditAccountId: Id, amountMinor: bigint): PostingInput {
  return { debitAccountId, creditAccountId, amountMinor };
}

export function posted(postings: PostingInput[], more: Partial<EntryInput> = {}): EntryInput {
  return { id: newId(), kind: 'posted', postings, command: 'test.transfer', ...more };
}

export function transfer(debit: Id, credit: Id, amount: bigint, more: Partial<EntryInput> = {}): EntryInput {
  return posted([posting(debit, credit, amount)], more);
}

export function pending(debit: Id, credit: Id, amount: bigint, timeoutSeconds = 0): EntryInput {
  return { id: newId(), kind: 'pending', postings: [posting(debit, credit, amount)], timeoutSeconds, command: 'test.hold' };
}

export function postPending(pendingId: Id, postings: PostingInput[] = []): EntryInput {
  return { id: newId(), kind: 'post_pending', pendingId, postings, command: 'test.post' };
}

export function voidPending(pendingId: Id): EntryInput {
  return { id: newId(), kind: 'void_pending', pendingId, postings: [], command: 'test.void' };
}

/** A clock the test moves by hand. */
export class ManualClock {
  constructor(public ms = Date.parse('2026-01-05T02:00:00Z')) {}
  nowMs(): number {
    return this.ms;
  }
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}
