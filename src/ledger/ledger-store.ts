import type { ChainCheck } from './entry-hash.js';
import type {
  Account,
  AccountInput,
  AccountResult,
  ChainHead,
  Entry,
  EntryInput,
  EntryKind,
  EntryResult,
  Id,
  Pending,
} from './types.js';

/**
 * The storage port, declared by the code that moves money through it. Adapters live in
 * `src/storage/`; nothing here knows which database is behind it.
 */
export interface LedgerStore {
  /** Opens accounts (idempotent per id). A book is created with its first account. */
  createAccounts(platformId: Id, accounts: readonly AccountInput[]): Promise<AccountResult[]>;
  /** Closes an account whose balances are all zero; closed accounts take no new money. */
  closeAccount(platformId: Id, accountId: Id): Promise<CloseAccountResult>;

  /**
   * Applies one entry through group commit: resolves once the batch it joined is durable.
   * Rejects only when infrastructure failed; the outcome is then unknown, and submitting
   * the same entry again (same id) is the safe way to learn it.
   */
  submit(platformId: Id, entry: EntryInput): Promise<EntryResult>;
  /** Several entries, applied in order (they may span batches). */
  submitMany(platformId: Id, entries: readonly EntryInput[]): Promise<EntryResult[]>;
  /**
   * A business state change and its money movement, in one transaction of the book: the
   * guards are checked under the book's lock, then the entry (if any) is decided, and the
   * rows are written only if the entry applies. Every state change of a platform goes
   * through here, so they are totally ordered per platform.
   */
  execute(platformId: Id, command: BookCommand): Promise<CommandResult>;
  /** Voids pending entries of a book whose timeout has passed; returns how many. */
  expireDue(platformId: Id, limit?: number): Promise<number>;
  /** Books that hold pending entries whose timeout has passed. */
  booksWithDuePendings(limit?: number): Promise<Id[]>;

  getAccounts(platformId: Id, ids: readonly Id[]): Promise<Account[]>;
  listAccounts(platformId: Id, page: { afterId?: Id | undefined; limit: number }): Promise<Account[]>;
  getEntries(platformId: Id, ids: readonly Id[]): Promise<Entry[]>;
  /** The journal in order, from just after `afterSeq`. */
  listEntries(platformId: Id, page: { afterSeq: bigint; limit: number }): Promise<Entry[]>;
  /** One account's lines in journal order, each with the balances after it. */
  listAccountLines(platformId: Id, accountId: Id, page: LinePage): Promise<AccountLine[]>;
  /**
   * The lines of several accounts (a member's buckets) merged in journal order; a posting
   * between two of them gives a line for each.
   */
  listLines(platformId: Id, accountIds: readonly Id[], page: LinesPage): Promise<AccountLine[]>;
  /** An account's net balances just after entry `seq` (point in time). */
  balanceAt(platformId: Id, accountId: Id, seq: bigint): Promise<NetBalance>;
  /** The last entry written at or before a time: 0 before the first. */
  seqAt(platformId: Id, atMs: number): Promise<bigint>;
  listPendings(platformId: Id, page: { state: Pending['state']; afterId?: Id; limit: number }): Promise<Pending[]>;
  head(platformId: Id): Promise<ChainHead | undefined>;
  /** Balances summed per account code and currency (for invariants and trial balances). */
  accountSums(platformId: Id): Promise<AccountSum[]>;
  /**
   * Walks the hash chain of a book: from its first entry, or on from an entry already
   * verified (its seq and hash), to the book's head.
   */
  verifyChain(platformId: Id, from?: { seq: bigint; hash: string }): Promise<ChainCheck>;

  /** Waits until every submitted entry is written. */
  drain(): Promise<void>;
  /** Drains, then releases the database. */
  close(): Promise<void>;
}

/** A row the command read at a version: the command applies only if it is still so. */
export interface RowGuard {
  readonly table: string;
  readonly id: string;
  /** The version read; null: the row must not exist yet. */
  readonly version: number | null;
}

/** A whole row (snake_case columns, `platform_id`, `id` and `version` included). */
export interface RowWrite {
  readonly table: string;
  readonly mode: 'insert' | 'update';
  readonly row: Readonly<Record<string, unknown>>;
}

/**
 * The same columns set on many rows of one table, each guarded by the command at the version
 * it read and moved to the next: one statement however many rows (the close's T+1 lots).
 */
export interface RowSet {
  readonly table: string;
  readonly mode: 'set';
  readonly ids: readonly string[];
  /** The version each row was read at (its guard's), in the order of `ids`. */
  readonly versions: readonly number[];
  readonly changes: Readonly<Record<string, unknown>>;
}

export interface BookCommand {
  readonly entry?: EntryInput | undefined;
  readonly guards?: readonly RowGuard[] | undefined;
  readonly writes?: readonly (RowWrite | RowSet)[] | undefined;
}

export interface CommandResult {
  /** The entry's code, `ok` for a command without an entry, or `state_changed` when a guard failed. */
  readonly code: EntryResult['code'] | 'state_changed';
  readonly entry?: EntryResult | undefined;
}

export type CloseAccountResult = 'closed' | 'account_not_found' | 'account_already_closed' | 'balance_not_zero';

export interface LinePage {
  /** The last line of the previous page. */
  readonly after?: { readonly seq: bigint; readonly postingIndex: number } | undefined;
  readonly limit: number;
}

export interface LinesPage {
  /** The last line of the previous page. */
  readonly after?: { readonly seq: bigint; readonly postingIndex: number; readonly accountId: Id } | undefined;
  readonly limit: number;
}

export interface AccountSum {
  readonly code: string;
  readonly currency: string;
  readonly accounts: number;
  readonly debitsPendingMinor: bigint;
  readonly debitsPostedMinor: bigint;
  readonly creditsPendingMinor: bigint;
  readonly creditsPostedMinor: bigint;
  /** Accounts of this code whose credits − debits − reserved debits is below zero. */
  readonly negative: number;
}

export interface NetBalance {
  /** credits − debits, posted. */
  readonly postedMinor: bigint;
  /** credits − debits, pending. */
  readonly pendingMinor: bigint;
}

/** One posting seen from one account. */
export interface AccountLine {
  readonly accountId: Id;
  readonly seq: bigint;
  readonly entryId: Id;
  readonly postingIndex: number;
  readonly kind: EntryKind;
  readonly command: string;
  readonly reference: string | null;
  readonly occurredAtMs: number;
  readonly side: 'debit' | 'credit';
  readonly counterpartyAccountId: Id;
  readonly amountMinor: bigint;
  readonly pendingReleasedMinor: bigint;
  readonly postedAfterMinor: bigint;
  readonly pendingAfterMinor: bigint;
}
