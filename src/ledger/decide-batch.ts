import assert from 'node:assert/strict';
import { applyNewMoney, applyResolution, netPending, netPosted, toAccount, workingCopy } from './balance-rules.js';
import type { WorkingAccount } from './balance-rules.js';
import { chainHash } from './entry-hash.js';
import {
  checkAccounts,
  checkEntryShape,
  checkPendingState,
  compareWithExisting,
  postedAmounts,
} from './entry-rules.js';
import type { EntryErrorCode } from './result-codes.js';
import type {
  Account,
  ChainHead,
  Entry,
  EntryInput,
  EntryResult,
  Id,
  Pending,
  PendingState,
  Posting,
  PostingInput,
} from './types.js';

/** What the core may read about a book. Storage fills it before a batch is decided. */
export interface BookView {
  /** An account as of the start of the batch. */
  account(id: Id): Account | undefined;
  /** A pending entry a post, void or expiry names; 'not_pending' for any other entry. */
  pending(id: Id): Pending | 'not_pending' | undefined;
  /** An entry stored before under this id (idempotency). */
  existing(id: Id): Entry | undefined;
}

/** A pending entry's state after the batch; `resolvedSeq` is the entry that resolved it. */
export interface PendingChange {
  readonly pending: Pending;
  readonly resolvedSeq: bigint | null;
}

/** Everything a batch writes, decided in memory, for storage to persist in one transaction. */
export interface BatchDecision {
  readonly results: EntryResult[];
  readonly entries: Entry[];
  /** Every account the batch changed, with its balances after the batch. */
  readonly accounts: Account[];
  /** Pending entries the batch created, in their state after the batch. */
  readonly pendingsOpened: PendingChange[];
  /** Pending entries from earlier batches that this batch resolved. */
  readonly pendingsResolved: PendingChange[];
  readonly head: ChainHead;
}

/**
 * Decides a batch of entries for one book, in order, against the balances at the start of
 * the batch: each entry sees the effects of the ones before it. Refused entries change
 * nothing; the others apply. Pure: time comes in as `nowMs`.
 */
export function decideBatch(
  platformId: Id,
  head: ChainHead,
  inputs: readonly EntryInput[],
  view: BookView,
  nowMs: number,
): BatchDecision {
  const decider = new BatchDecider(platformId, head, view, nowMs);
  for (const input of inputs) decider.decide(input);
  return decider.finish();
}

/**
 * `decideBatch` one entry at a time, for callers that want to yield between slices of a
 * large batch. Entries are decided in the order given to `decide`.
 */
export class BatchDecider {
  private readonly accounts = new Map<Id, WorkingAccount>();
  /** Accounts that an applied entry moved money on. */
  private readonly changed = new Set<Id>();
  private readonly entries: Entry[] = [];
  private readonly entriesById = new Map<Id, Entry>();
  private readonly pendings = new Map<Id, PendingChange>();
  private readonly openedIds: Id[] = [];
  private readonly resolvedIds: Id[] = [];
  private readonly results: EntryResult[] = [];
  private readonly nowMs: number;
  private seq: bigint;
  private hash: string;

  constructor(
    private readonly platformId: Id,
    head: ChainHead,
    private readonly view: BookView,
    nowMs: number,
  ) {
    // Entries never go back in time, whatever the clock says.
    this.nowMs = Math.max(nowMs, head.lastOccurredAtMs);
    this.seq = head.seq;
    this.hash = head.hash;
  }

  decide(input: EntryInput): EntryResult {
    const result = this.decideOne(input);
    this.results.push(result);
    return result;
  }

  private decideOne(input: EntryInput): EntryResult {
    const shape = checkEntryShape(input);
    if (shape !== null) return { id: input.id, code: shape };
    const existing = this.entriesById.get(input.id) ?? this.view.existing(input.id);
    if (existing !== undefined) return this.replay(input, existing);
    const outcome = input.kind === 'posted' || input.kind === 'pending' ? this.newMoney(input) : this.resolve(input);
    if (typeof outcome === 'string') return { id: input.id, code: outcome };
    return { id: input.id, code: 'ok', seq: outcome.seq, timeoutAtMs: outcome.timeoutAtMs };
  }

  private replay(input: EntryInput, existing: Entry): EntryResult {
    const difference = compareWithExisting(input, existing);
    if (difference !== null) return { id: input.id, code: difference };
    return { id: input.id, code: 'exists', seq: existing.seq, timeoutAtMs: existing.timeoutAtMs };
  }

  private account = (id: Id): Account | undefined => this.accounts.get(id)?.account ?? this.view.account(id);

  /** The batch's working balances of an account, from the view on first use. */
  private working(id: Id): WorkingAccount {
    let working = this.accounts.get(id);
    if (working === undefined) {
      const source = this.view.account(id);
      // Not assert.ok(…, message): its message would be built for every account of the batch.
      if (source === undefined) assert.fail(`account ${id} checked before use`);
      working = workingCopy(source);
      this.accounts.set(id, working);
    }
    return working;
  }

  private newMoney(input: EntryInput): Entry | EntryErrorCode {
    const refusal = checkAccounts(input.postings, this.account, false);
    if (refusal !== null) return refusal;
    const reserve = input.kind === 'pending';
    const undo = Undo.for(input.postings.length);
    const postings: Posting[] = [];
    for (const posting of input.postings) {
      const debit = this.working(posting.debitAccountId);
      const credit = this.working(posting.creditAccountId);
      undo?.remember(debit, credit);
      const code = applyNewMoney(debit, credit, posting.amountMinor, reserve);
      if (code !== null) return undo?.restore(code) ?? code;
      postings.push(written(posting, posting.amountMinor, 0n, debit, credit));
    }
    const timeoutSeconds = input.timeoutSeconds ?? 0;
    const timeoutAtMs = reserve && timeoutSeconds > 0 ? this.nowMs + timeoutSeconds * 1000 : null;
    const entry = this.append(input, postings, timeoutAtMs);
    if (reserve) this.openPending(entry, input.postings);
    return entry;
  }

  private resolve(input: EntryInput): Entry | EntryErrorCode {
    const pendingId = input.pendingId;
    assert.ok(pendingId !== undefined, 'shape check requires a pending id');
    // An entry of this batch is not in the view yet: a pending one is in `pendings`.
    const pending =
      this.pendings.get(pendingId)?.pending ??
      (this.entriesById.has(pendingId) ? 'not_pending' : this.view.pending(pendingId));
    const allowClosed = input.kind !== 'post_pending';
    const accountsRefusal = typeof pending === 'object' ? checkAccounts(pending.postings, this.account, allowClosed) : null;
    if (accountsRefusal !== null) return accountsRefusal;
    const stateRefusal = checkPendingState(input, pending, this.nowMs);
    if (stateRefusal !== null) return stateRefusal;
    assert.ok(typeof pending === 'object');
    const amounts = postedAmounts(input, pending);
    if (typeof amounts === 'string') return amounts;
    const undo = Undo.for(pending.postings.length);
    const postings: Posting[] = [];
    for (const [index, reserved] of pending.postings.entries()) {
      const posted = amounts[index] ?? 0n;
      const debit = this.working(reserved.debitAccountId);
      const credit = this.working(reserved.creditAccountId);
      undo?.remember(debit, credit);
      const code = applyResolution(debit, credit, reserved.amountMinor, posted);
      if (code !== null) return undo?.restore(code) ?? code;
      postings.push(written(reserved, posted, reserved.amountMinor, debit, credit));
    }
    const entry = this.append(input, postings, null);
    this.closePending(pending, input, entry.seq);
    return entry;
  }

  private append(input: EntryInput, postings: Posting[], timeoutAtMs: number | null): Entry {
    for (const posting of postings) {
      this.changed.add(posting.debitAccountId);
      this.changed.add(posting.creditAccountId);
    }
    this.seq += 1n;
    const entry: Entry = {
      platformId: this.platformId,
      seq: this.seq,
      id: input.id,
      kind: input.kind,
      pendingId: input.pendingId ?? null,
      timeoutAtMs,
      command: input.command,
      reference: input.reference ?? null,
      actor: input.actor ?? null,
      occurredAtMs: this.nowMs,
      postings,
      hash: '',
    };
    this.hash = chainHash(this.hash, entry);
    (entry as { hash: string }).hash = this.hash;
    this.entries.push(entry);
    this.entriesById.set(entry.id, entry);
    return entry;
  }

  private openPending(entry: Entry, postings: readonly PostingInput[]): void {
    const pending: Pending = { id: entry.id, seq: entry.seq, state: 'open', timeoutAtMs: entry.timeoutAtMs, postings };
    this.pendings.set(pending.id, { pending, resolvedSeq: null });
    this.openedIds.push(pending.id);
  }

  private closePending(pending: Pending, input: EntryInput, resolvedSeq: bigint): void {
    const state: PendingState =
      input.kind === 'post_pending' ? 'posted' : input.kind === 'void_pending' ? 'voided' : 'expired';
    const openedHere = this.pendings.has(pending.id);
    this.pendings.set(pending.id, { pending: { ...pending, state }, resolvedSeq });
    if (!openedHere) this.resolvedIds.push(pending.id);
  }

  finish(): BatchDecision {
    const results = this.results;
    this.assertBalanced();
    const change = (id: Id): PendingChange => {
      const found = this.pendings.get(id);
      assert.ok(found !== undefined);
      return found;
    };
    return {
      results,
      entries: this.entries,
      accounts: [...this.changed].map((id) => toAccount(this.working(id))),
      pendingsOpened: this.openedIds.map(change),
      pendingsResolved: this.resolvedIds.map(change),
      head: { seq: this.seq, hash: this.hash, lastOccurredAtMs: this.nowMs },
    };
  }

  /** Both sides of money: the batch moved as much into accounts as out of them. */
  private assertBalanced(): void {
    let posted = 0n;
    let pending = 0n;
    for (const id of this.changed) {
      const after = this.working(id);
      const before = this.view.account(id);
      assert.ok(before !== undefined, 'a changed account was read first');
      posted += netPosted(after) - netPosted(before);
      pending += netPending(after) - netPending(before);
    }
    assert.equal(posted, 0n, 'posted debits equal posted credits');
    assert.equal(pending, 0n, 'pending debits equal pending credits');
  }
}

function written(
  posting: PostingInput,
  amountMinor: bigint,
  pendingReleasedMinor: bigint,
  debit: WorkingAccount,
  credit: WorkingAccount,
): Posting {
  return {
    debitAccountId: posting.debitAccountId,
    creditAccountId: posting.creditAccountId,
    amountMinor,
    pendingReleasedMinor,
    debitPostedAfterMinor: netPosted(debit),
    debitPendingAfterMinor: netPending(debit),
    creditPostedAfterMinor: netPosted(credit),
    creditPendingAfterMinor: netPending(credit),
  };
}

/**
 * Balances to put back when a later posting of the same entry is refused: an entry applies
 * whole or not at all. A single posting is checked before it changes anything, so an entry
 * of one posting (most entries) needs none.
 */
class Undo {
  private readonly saved: [WorkingAccount, bigint, bigint, bigint, bigint][] = [];

  static for(postings: number): Undo | null {
    return postings > 1 ? new Undo() : null;
  }

  remember(debit: WorkingAccount, credit: WorkingAccount): void {
    this.save(debit);
    this.save(credit);
  }

  private save(a: WorkingAccount): void {
    this.saved.push([a, a.debitsPendingMinor, a.debitsPostedMinor, a.creditsPendingMinor, a.creditsPostedMinor]);
  }

  restore(code: EntryErrorCode): EntryErrorCode {
    for (let i = this.saved.length - 1; i >= 0; i--) {
      const [a, debitsPending, debitsPosted, creditsPending, creditsPosted] = this.saved[i] as Undo['saved'][number];
      a.debitsPendingMinor = debitsPending;
      a.debitsPostedMinor = debitsPosted;
      a.creditsPendingMinor = creditsPending;
      a.creditsPostedMinor = creditsPosted;
    }
    return code;
  }
}
