import type { AccountResultCode, EntryResultCode } from './result-codes.js';

/** Ids are canonical lowercase UUID strings (time-ordered v7 in practice), chosen by callers. */
export type Id = string;

export interface AccountFlags {
  /** Everything we owe: the account may never pay out more than it received. */
  readonly debitsMustNotExceedCredits: boolean;
  /** Assets such as the custody summary: never more in than out. */
  readonly creditsMustNotExceedDebits: boolean;
}

export const noFlags: AccountFlags = { debitsMustNotExceedCredits: false, creditsMustNotExceedDebits: false };

export interface AccountInput {
  readonly id: Id;
  /** What kind of account this is, e.g. `member_spendable`, `guarantee`. */
  readonly code: string;
  /** ISO 4217, e.g. `CNY`. */
  readonly currency: string;
  readonly flags: AccountFlags;
}

export interface Balances {
  readonly debitsPendingMinor: bigint;
  readonly debitsPostedMinor: bigint;
  readonly creditsPendingMinor: bigint;
  readonly creditsPostedMinor: bigint;
}

export const zeroBalances: Balances = {
  debitsPendingMinor: 0n,
  debitsPostedMinor: 0n,
  creditsPendingMinor: 0n,
  creditsPostedMinor: 0n,
};

/** An account as the core sees it: what it is and how much it holds. */
export interface Account extends AccountInput, Balances {
  readonly closed: boolean;
}

export interface AccountResult {
  readonly id: Id;
  readonly code: AccountResultCode;
}

/**
 * - `posted`: single-phase, moves money now.
 * - `pending`: reserves money; later posted (all or part) or voided, or it expires.
 * - `post_pending` / `void_pending`: resolve the pending entry named by `pendingId`.
 * - `expire`: voids a pending entry whose timeout has passed (written by the ledger itself).
 */
export const entryKinds = ['posted', 'pending', 'post_pending', 'void_pending', 'expire'] as const;
export type EntryKind = (typeof entryKinds)[number];

export interface PostingInput {
  readonly debitAccountId: Id;
  readonly creditAccountId: Id;
  readonly amountMinor: bigint;
}

export interface EntryInput {
  /** Unique per book; also the idempotency key: the same id twice applies once. */
  readonly id: Id;
  readonly kind: EntryKind;
  /**
   * posted / pending: 1..postingsPerEntryMax postings.
   * post_pending: empty to post everything, or one posting per pending posting, same
   * accounts, each amount between 0 and the pending amount (the rest is released).
   * void_pending / expire: empty.
   */
  readonly postings: readonly PostingInput[];
  readonly pendingId?: Id | undefined;
  /** pending only: seconds until it voids itself; 0 or absent: never. */
  readonly timeoutSeconds?: number | undefined;
  /** The business command that made the entry, e.g. `order.confirm`. */
  readonly command: string;
  /** The business reference, e.g. an order number. */
  readonly reference?: string | undefined;
  /** Who asked for it: a platform key id, an operator id, `system`. */
  readonly actor?: string | undefined;
}

/** A posting as written: the amounts that moved and both accounts' balances after it. */
export interface Posting extends PostingInput {
  /** Pending amount this posting released (post_pending, void_pending, expire), else 0. */
  readonly pendingReleasedMinor: bigint;
  /** Net balances (credits − debits) of each account after this posting. */
  readonly debitPostedAfterMinor: bigint;
  readonly debitPendingAfterMinor: bigint;
  readonly creditPostedAfterMinor: bigint;
  readonly creditPendingAfterMinor: bigint;
}

/** A journal entry as written: immutable once committed. */
export interface Entry {
  readonly platformId: Id;
  /** Position in the book's journal, from 1, without gaps. */
  readonly seq: bigint;
  readonly id: Id;
  readonly kind: EntryKind;
  readonly pendingId: Id | null;
  /** pending only: when it expires, in ms since the epoch; null: never. */
  readonly timeoutAtMs: number | null;
  readonly command: string;
  readonly reference: string | null;
  readonly actor: string | null;
  readonly occurredAtMs: number;
  readonly postings: readonly Posting[];
  /** SHA-256 over the previous entry's hash and this entry, hex. */
  readonly hash: string;
}

export type PendingState = 'open' | 'posted' | 'voided' | 'expired';

/** A pending entry and what became of it. */
export interface Pending {
  readonly id: Id;
  readonly seq: bigint;
  readonly state: PendingState;
  readonly timeoutAtMs: number | null;
  readonly postings: readonly PostingInput[];
}

/** The head of a book's hash chain: where the next entry goes. */
export interface ChainHead {
  readonly seq: bigint;
  readonly hash: string;
  /** Entries never go back in time: a batch's clock reading is at least this. */
  readonly lastOccurredAtMs: number;
}

export const genesisHash = '0'.repeat(64);

export interface EntryResult {
  readonly id: Id;
  readonly code: EntryResultCode;
  /** The entry's place in the journal, for `ok` and `exists`. */
  readonly seq?: bigint;
  /** For an `ok` or `exists` pending entry: when it expires. */
  readonly timeoutAtMs?: number | null;
}
