import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { newId } from '../../src/ids.js';
import { BatchDecider, decideBatch, genesisHash, netPending, netPosted, zeroBalances } from '../../src/ledger/index.js';
import type {
  Account,
  AccountFlags,
  Balances,
  BatchDecision,
  BookView,
  ChainHead,
  Entry,
  EntryInput,
  EntryResultCode,
  Id,
  Pending,
  PendingChange,
  PostingInput,
} from '../../src/ledger/index.js';
import {
  accountInput,
  asset,
  free,
  owed,
  pending,
  posted,
  posting,
  postPending,
  transfer,
  voidPending,
} from '../support/fixtures.js';

const t0 = Date.parse('2026-01-05T02:00:00Z');

/** A book held in maps, written the way storage writes a decision. */
class MemoryBook implements BookView {
  readonly accounts = new Map<Id, Account>();
  readonly entries = new Map<Id, Entry>();
  readonly pendings = new Map<Id, Pending>();
  head: ChainHead = { seq: 0n, hash: genesisHash, lastOccurredAtMs: 0 };

  constructor(readonly platformId: Id = newId()) {}

  open(flags: AccountFlags = free, balances: Partial<Balances> = {}, currency = 'CNY', closed = false): Id {
    const input = accountInput('member_spendable', flags, currency);
    this.accounts.set(input.id, { ...input, ...zeroBalances, ...balances, closed });
    return input.id;
  }

  close(id: Id): void {
    this.accounts.set(id, { ...must(this.accounts.get(id)), closed: true });
  }

  account(id: Id): Account | undefined {
    return this.accounts.get(id);
  }

  pending(id: Id): Pending | 'not_pending' | undefined {
    return this.pendings.get(id) ?? (this.entries.has(id) ? 'not_pending' : undefined);
  }

  existing(id: Id): Entry | undefined {
    return this.entries.get(id);
  }

  /** Decides without writing anything. */
  decide(inputs: readonly EntryInput[], nowMs = t0): BatchDecision {
    return decideBatch(this.platformId, this.head, inputs, this, nowMs);
  }

  /** Decides and writes the decision, as storage would. */
  commit(inputs: readonly EntryInput[], nowMs = t0): BatchDecision {
    const decision = this.decide(inputs, nowMs);
    for (const account of decision.accounts) this.accounts.set(account.id, account);
    for (const entry of decision.entries) this.entries.set(entry.id, entry);
    for (const change of [...decision.pendingsOpened, ...decision.pendingsResolved]) {
      this.pendings.set(change.pending.id, change.pending);
    }
    this.head = decision.head;
    return decision;
  }

  balances(id: Id): Balances {
    return balancesOf(must(this.accounts.get(id)));
  }
}

function must<T>(value: T | undefined): T {
  if (value === undefined) throw new Error('expected a value');
  return value;
}

const codes = (decision: BatchDecision): EntryResultCode[] => decision.results.map((r) => r.code);

function balances(more: Partial<Balances> = {}): Balances {
  return { ...zeroBalances, ...more };
}

function balancesOf(account: Balances): Balances {
  const { debitsPendingMinor, debitsPostedMinor, creditsPendingMinor, creditsPostedMinor } = account;
  return { debitsPendingMinor, debitsPostedMinor, creditsPendingMinor, creditsPostedMinor };
}

/** The balances a decision reports for an account it changed. */
function balancesIn(decision: BatchDecision, id: Id): Balances {
  return balancesOf(must(decision.accounts.find((a) => a.id === id)));
}

/** What `pendingsOpened` / `pendingsResolved` hold for a pending entry. */
function pendingAfter(
  hold: EntryInput,
  seq: bigint,
  state: Pending['state'],
  resolvedSeq: bigint | null,
  timeoutAtMs: number | null = null,
): PendingChange {
  return { pending: { id: hold.id, seq, state, timeoutAtMs, postings: hold.postings }, resolvedSeq };
}

function expire(pendingId: Id): EntryInput {
  return { id: newId(), kind: 'expire', pendingId, postings: [], command: 'ledger.expire' };
}

function entryOf(decision: BatchDecision, id: Id): Entry {
  return must(decision.entries.find((e) => e.id === id));
}

describe('decideBatch: refusals and order', () => {
  it('writes nothing for a refused entry and applies the rest of the batch', () => {
    const book = new MemoryBook();
    const o = book.open(owed, { creditsPostedMinor: 50n });
    const b = book.open();
    const c = book.open();
    const first = transfer(b, c, 10n);
    const refused = transfer(o, c, 60n);
    const last = transfer(o, c, 50n);
    const decision = book.decide([first, refused, last]);
    expect(decision.results).toEqual([
      { id: first.id, code: 'ok', seq: 1n, timeoutAtMs: null },
      { id: refused.id, code: 'exceeds_credits' },
      { id: last.id, code: 'ok', seq: 2n, timeoutAtMs: null },
    ]);
    expect(decision.entries.map((e) => [e.id, e.seq])).toEqual([
      [first.id, 1n],
      [last.id, 2n],
    ]);
    expect(balancesIn(decision, o)).toEqual(balances({ debitsPostedMinor: 50n, creditsPostedMinor: 50n }));
    expect(balancesIn(decision, b)).toEqual(balances({ debitsPostedMinor: 10n }));
    expect(balancesIn(decision, c)).toEqual(balances({ creditsPostedMinor: 60n }));
  });

  it('lets each entry see the effects of the ones before it', () => {
    const book = new MemoryBook();
    const o = book.open(owed);
    const d = book.open(asset);
    const x = book.open();
    const decision = book.decide([
      transfer(o, x, 1n), // nothing owed yet
      transfer(x, o, 30n),
      transfer(o, x, 30n),
      transfer(o, x, 1n), // all paid out again
      transfer(x, d, 1n), // the asset has taken nothing in
      transfer(d, x, 5n),
      transfer(x, d, 5n),
      transfer(x, d, 1n),
    ]);
    expect(codes(decision)).toEqual([
      'exceeds_credits',
      'ok',
      'ok',
      'exceeds_credits',
      'exceeds_debits',
      'ok',
      'ok',
      'exceeds_debits',
    ]);
  });

  it('keeps a multi-posting entry whole when its second posting is refused', () => {
    const book = new MemoryBook();
    const o = book.open(owed, { creditsPostedMinor: 100n });
    const b = book.open();
    const c = book.open();
    const refused = posted([posting(b, c, 40n), posting(o, c, 101n)]);
    const after = transfer(b, c, 1n);
    const decision = book.decide([refused, after]);
    expect(codes(decision)).toEqual(['exceeds_credits', 'ok']);
    // Had the first posting stayed, b would owe 41 and c hold 41.
    expect(balancesIn(decision, b)).toEqual(balances({ debitsPostedMinor: 1n }));
    expect(balancesIn(decision, c)).toEqual(balances({ creditsPostedMinor: 1n }));
    expect(decision.accounts.map((a) => a.id).sort()).toEqual([b, c].sort());
    expect(entryOf(decision, after.id).postings[0]).toMatchObject({
      debitPostedAfterMinor: -1n,
      creditPostedAfterMinor: 1n,
    });
  });

  it('restores an account that both postings of a refused entry touched', () => {
    const book = new MemoryBook();
    const o = book.open(owed, { creditsPostedMinor: 100n });
    const b = book.open();
    const c = book.open();
    const decision = book.decide([
      // Debited twice: 60 passes, the next 60 does not.
      posted([posting(o, b, 60n), posting(o, c, 60n)]),
      // Credited then debited: the credit must go when the debit is refused.
      posted([posting(b, o, 50n), posting(o, c, 151n)]),
      // Reserved twice.
      { ...pending(o, b, 1n), postings: [posting(o, b, 60n), posting(o, c, 41n)] },
      // Three postings, the last refused.
      posted([posting(b, o, 5n), posting(o, c, 5n), posting(o, c, 101n)]),
      // Every refusal put o back: it can pay out exactly the 100 it started with.
      transfer(o, b, 101n),
      transfer(o, b, 100n),
    ]);
    expect(codes(decision)).toEqual([...Array<EntryResultCode>(5).fill('exceeds_credits'), 'ok']);
    expect(balancesIn(decision, o)).toEqual(balances({ debitsPostedMinor: 100n, creditsPostedMinor: 100n }));
    expect(balancesIn(decision, b)).toEqual(balances({ creditsPostedMinor: 100n }));
    expect(decision.accounts.map((a) => a.id).sort()).toEqual([o, b].sort());
    expect(decision.entries).toHaveLength(1);
  });

  it('keeps an asset account whole when its credit in the second posting is refused', () => {
    const book = new MemoryBook();
    const d = book.open(asset, { debitsPostedMinor: 10n });
    const x = book.open();
    const decision = book.decide([posted([posting(x, d, 10n), posting(x, d, 1n)]), transfer(x, d, 10n)]);
    expect(codes(decision)).toEqual(['exceeds_debits', 'ok']);
    expect(balancesIn(decision, d)).toEqual(balances({ debitsPostedMinor: 10n, creditsPostedMinor: 10n }));
  });
});

describe('decideBatch: pending entries', () => {
  it('reserves on both sides and counts reserved debits against what is owed', () => {
    const book = new MemoryBook();
    const o = book.open(owed, { creditsPostedMinor: 100n });
    const b = book.open();
    const c = book.open();
    const hold = pending(o, b, 30n);
    const decision = book.decide([hold, transfer(o, c, 71n), transfer(o, c, 70n), transfer(o, c, 1n)]);
    expect(codes(decision)).toEqual(['ok', 'exceeds_credits', 'ok', 'exceeds_credits']);
    expect(balancesIn(decision, o)).toEqual(
      balances({ debitsPendingMinor: 30n, debitsPostedMinor: 70n, creditsPostedMinor: 100n }),
    );
    expect(balancesIn(decision, b)).toEqual(balances({ creditsPendingMinor: 30n }));
    expect(entryOf(decision, hold.id).postings).toEqual([
      {
        debitAccountId: o,
        creditAccountId: b,
        amountMinor: 30n,
        pendingReleasedMinor: 0n,
        debitPostedAfterMinor: 100n,
        debitPendingAfterMinor: -30n,
        creditPostedAfterMinor: 0n,
        creditPendingAfterMinor: 30n,
      },
    ]);
  });

  it('does not let reserved credits be spent, and counts them against an asset at once', () => {
    const book = new MemoryBook();
    const e = book.open(owed);
    const d = book.open(asset, { debitsPostedMinor: 50n });
    const x = book.open();
    const decision = book.decide([
      pending(x, e, 50n),
      transfer(e, x, 1n),
      pending(e, x, 1n),
      pending(x, d, 40n),
      transfer(x, d, 11n),
      pending(x, d, 11n),
      transfer(x, d, 10n),
    ]);
    expect(codes(decision)).toEqual([
      'ok',
      'exceeds_credits',
      'exceeds_credits',
      'ok',
      'exceeds_debits',
      'exceeds_debits',
      'ok',
    ]);
  });

  it('posts a whole pending entry, with or without postings named', () => {
    for (const postings of [[], undefined]) {
      const book = new MemoryBook();
      const o = book.open(owed, { creditsPostedMinor: 100n });
      const b = book.open();
      const hold = pending(o, b, 30n);
      book.commit([hold]);
      const post = postPending(hold.id, postings ?? [posting(o, b, 30n)]);
      const decision = book.decide([post]);
      expect(decision.results).toEqual([{ id: post.id, code: 'ok', seq: 2n, timeoutAtMs: null }]);
      expect(entryOf(decision, post.id)).toMatchObject({ kind: 'post_pending', pendingId: hold.id, timeoutAtMs: null });
      expect(entryOf(decision, post.id).postings).toEqual([
        {
          debitAccountId: o,
          creditAccountId: b,
          amountMinor: 30n,
          pendingReleasedMinor: 30n,
          debitPostedAfterMinor: 70n,
          debitPendingAfterMinor: 0n,
          creditPostedAfterMinor: 30n,
          creditPendingAfterMinor: 0n,
        },
      ]);
      expect(balancesIn(decision, o)).toEqual(balances({ debitsPostedMinor: 30n, creditsPostedMinor: 100n }));
      expect(balancesIn(decision, b)).toEqual(balances({ creditsPostedMinor: 30n }));
      expect(decision.pendingsOpened).toEqual([]);
      expect(decision.pendingsResolved).toEqual([pendingAfter(hold, 1n, 'posted', 2n)]);
    }
  });

  it('posts part of a pending entry and releases the rest', () => {
    const book = new MemoryBook();
    const o = book.open(owed, { creditsPostedMinor: 100n });
    const b = book.open();
    const c = book.open();
    const hold = { ...pending(o, b, 1n), postings: [posting(o, b, 30n), posting(o, c, 20n)] };
    book.commit([hold]);
    const post = postPending(hold.id, [posting(o, b, 10n), posting(o, c, 0n)]);
    const decision = book.decide([post, transfer(o, c, 91n), transfer(o, c, 90n)]);
    expect(codes(decision)).toEqual(['ok', 'exceeds_credits', 'ok']);
    expect(entryOf(decision, post.id).postings.map((p) => [p.amountMinor, p.pendingReleasedMinor])).toEqual([
      [10n, 30n],
      [0n, 20n],
    ]);
    expect(entryOf(decision, post.id).postings[1]).toMatchObject({
      debitPostedAfterMinor: 90n,
      debitPendingAfterMinor: 0n,
      creditPostedAfterMinor: 0n,
      creditPendingAfterMinor: 0n,
    });
    expect(balancesIn(decision, o)).toEqual(balances({ debitsPostedMinor: 100n, creditsPostedMinor: 100n }));
    expect(balancesIn(decision, b)).toEqual(balances({ creditsPostedMinor: 10n }));
    expect(balancesIn(decision, c)).toEqual(balances({ creditsPostedMinor: 90n }));
  });

  it('voids a pending entry: releases everything and posts nothing', () => {
    const book = new MemoryBook();
    const o = book.open(owed, { creditsPostedMinor: 100n });
    const b = book.open();
    const hold = pending(o, b, 30n);
    book.commit([hold]);
    const cancel = voidPending(hold.id);
    const decision = book.commit([cancel]);
    expect(codes(decision)).toEqual(['ok']);
    expect(entryOf(decision, cancel.id).postings).toEqual([
      {
        debitAccountId: o,
        creditAccountId: b,
        amountMinor: 0n,
        pendingReleasedMinor: 30n,
        debitPostedAfterMinor: 100n,
        debitPendingAfterMinor: 0n,
        creditPostedAfterMinor: 0n,
        creditPendingAfterMinor: 0n,
      },
    ]);
    expect(book.balances(o)).toEqual(balances({ creditsPostedMinor: 100n }));
    expect(book.balances(b)).toEqual(zeroBalances);
    expect(decision.pendingsResolved).toEqual([pendingAfter(hold, 1n, 'voided', 2n)]);
    expect(codes(book.decide([voidPending(hold.id), postPending(hold.id), expire(hold.id)]))).toEqual([
      'pending_entry_already_voided',
      'pending_entry_already_voided',
      'pending_entry_already_voided',
    ]);
  });

  it('refuses to resolve a pending entry twice', () => {
    const book = new MemoryBook();
    const a = book.open();
    const b = book.open();
    const hold = pending(a, b, 30n);
    book.commit([hold, postPending(hold.id)]);
    const partly = postPending(hold.id, [posting(a, b, 1n)]);
    const again = [postPending(hold.id), partly, voidPending(hold.id), expire(hold.id)];
    expect(codes(book.decide(again))).toEqual(again.map(() => 'pending_entry_already_posted'));
  });

  it('expires a pending entry only once its timeout is due', () => {
    const book = new MemoryBook();
    const a = book.open();
    const b = book.open();
    const hold = pending(a, b, 30n, 60);
    const never = pending(a, b, 5n);
    const opened = book.commit([hold, never]);
    expect(opened.results[0]).toEqual({ id: hold.id, code: 'ok', seq: 1n, timeoutAtMs: t0 + 60_000 });
    expect(codes(book.decide([expire(hold.id), expire(never.id)], t0 + 59_999))).toEqual([
      'pending_entry_not_expired',
      'pending_entry_not_expired',
    ]);
    // Due but not yet expired: nobody may post or void it any more.
    expect(codes(book.decide([postPending(hold.id), voidPending(hold.id)], t0 + 60_000))).toEqual([
      'pending_entry_expired',
      'pending_entry_expired',
    ]);
    const expiry = expire(hold.id);
    const decision = book.commit([expiry, expire(never.id)], t0 + 60_000);
    expect(codes(decision)).toEqual(['ok', 'pending_entry_not_expired']);
    const released = entryOf(decision, expiry.id).postings.map((p) => [p.amountMinor, p.pendingReleasedMinor]);
    expect(released).toEqual([[0n, 30n]]);
    expect(decision.pendingsResolved).toEqual([pendingAfter(hold, 1n, 'expired', 3n, t0 + 60_000)]);
    expect(book.balances(a)).toEqual(balances({ debitsPendingMinor: 5n }));
    expect(book.balances(b)).toEqual(balances({ creditsPendingMinor: 5n }));
    expect(codes(book.decide([postPending(hold.id), voidPending(hold.id), expire(hold.id)], t0 + 61_000))).toEqual([
      'pending_entry_expired',
      'pending_entry_expired',
      'pending_entry_expired',
    ]);
  });

  it('resolves a pending entry in the batch that opened it', () => {
    const book = new MemoryBook();
    const o = book.open(owed, { creditsPostedMinor: 100n });
    const b = book.open();
    const kept = pending(o, b, 30n, 60);
    const dropped = pending(o, b, 70n);
    const decision = book.decide([
      kept,
      dropped,
      postPending(kept.id, [posting(o, b, 25n)]),
      voidPending(dropped.id),
      voidPending(kept.id),
    ]);
    expect(codes(decision)).toEqual(['ok', 'ok', 'ok', 'ok', 'pending_entry_already_posted']);
    expect(decision.pendingsOpened).toEqual([
      pendingAfter(kept, 1n, 'posted', 3n, t0 + 60_000),
      pendingAfter(dropped, 2n, 'voided', 4n),
    ]);
    expect(decision.pendingsResolved).toEqual([]);
    expect(balancesIn(decision, o)).toEqual(balances({ debitsPostedMinor: 25n, creditsPostedMinor: 100n }));
    expect(balancesIn(decision, b)).toEqual(balances({ creditsPostedMinor: 25n }));
  });

  it('reports a pending entry opened in an earlier batch as resolved, and one still open as opened', () => {
    const book = new MemoryBook();
    const a = book.open();
    const b = book.open();
    const earlier = pending(a, b, 10n);
    book.commit([earlier]);
    const opened = pending(a, b, 20n, 30);
    const decision = book.decide([voidPending(earlier.id), opened]);
    expect(decision.pendingsResolved).toEqual([pendingAfter(earlier, 1n, 'voided', 2n)]);
    expect(decision.pendingsOpened).toEqual([pendingAfter(opened, 3n, 'open', null, t0 + 30_000)]);
  });

  it('does not post to a closed account but still voids and expires on one', () => {
    const book = new MemoryBook();
    const a = book.open();
    const b = book.open();
    const toPost = pending(a, b, 10n);
    const toVoid = pending(a, b, 20n);
    const toExpire = pending(a, b, 30n, 1);
    book.commit([toPost, toVoid, toExpire]);
    book.close(a);
    const decision = book.decide([postPending(toPost.id), voidPending(toVoid.id), expire(toExpire.id)], t0 + 1000);
    expect(codes(decision)).toEqual(['debit_account_closed', 'ok', 'ok']);
    expect(balancesIn(decision, a)).toEqual(balances({ debitsPendingMinor: 10n }));
    book.close(b);
    expect(codes(book.decide([postPending(toPost.id)]))).toEqual(['debit_account_closed']);
    book.accounts.set(a, { ...must(book.accounts.get(a)), closed: false });
    expect(codes(book.decide([postPending(toPost.id)]))).toEqual(['credit_account_closed']);
  });

  it('refuses to resolve a pending entry refused earlier in the batch', () => {
    const book = new MemoryBook();
    const o = book.open(owed);
    const b = book.open();
    const hold = pending(o, b, 10n);
    expect(codes(book.decide([hold, postPending(hold.id), voidPending(hold.id)]))).toEqual([
      'exceeds_credits',
      'pending_entry_not_found',
      'pending_entry_not_found',
    ]);
  });

  it('refuses to resolve an entry of an earlier batch that is no pending entry', () => {
    const book = new MemoryBook();
    const a = book.open();
    const b = book.open();
    const payment = transfer(a, b, 10n);
    book.commit([payment]);
    expect(codes(book.decide([postPending(payment.id), voidPending(payment.id)]))).toEqual([
      'pending_entry_not_pending',
      'pending_entry_not_pending',
    ]);
  });

  // The view knows only stored entries: an entry of the same batch must answer the same as
  // it would one batch later, or the answer would depend on how the batcher grouped commands.
  it('refuses to resolve an entry of the same batch that is no pending entry as not pending', () => {
    const book = new MemoryBook();
    const a = book.open();
    const b = book.open();
    const payment = transfer(a, b, 10n);
    const hold = pending(a, b, 5n);
    const post = postPending(hold.id);
    const inputs = [payment, postPending(payment.id), voidPending(payment.id), hold, post, expire(post.id)];
    expect(codes(book.decide(inputs))).toEqual([
      'ok',
      'pending_entry_not_pending',
      'pending_entry_not_pending',
      'ok',
      'ok',
      'pending_entry_not_pending',
    ]);
  });
});

describe('decideBatch: journal position and time', () => {
  it('numbers entries from the head without gaps, skipping refused ones', () => {
    const book = new MemoryBook();
    const o = book.open(owed);
    const a = book.open();
    book.head = { seq: 41n, hash: 'ab'.repeat(32), lastOccurredAtMs: t0 - 1 };
    const decision = book.commit([transfer(a, o, 5n), transfer(o, a, 6n), transfer(o, a, 5n), pending(a, o, 1n)]);
    expect(decision.results.map((r) => r.seq)).toEqual([42n, undefined, 43n, 44n]);
    expect(decision.entries.map((e) => e.seq)).toEqual([42n, 43n, 44n]);
    expect(decision.head).toEqual({ seq: 44n, hash: decision.entries[2]?.hash, lastOccurredAtMs: t0 });
    const next = book.commit([transfer(o, a, 1n), transfer(a, o, 1n)], t0 + 5);
    expect(next.entries.map((e) => e.seq)).toEqual([45n]);
    expect(next.head.seq).toBe(45n);
  });

  it('leaves the head where it was when nothing is written', () => {
    const book = new MemoryBook();
    const o = book.open(owed);
    const a = book.open();
    book.head = { seq: 7n, hash: 'cd'.repeat(32), lastOccurredAtMs: t0 };
    expect(book.decide([]).head).toEqual(book.head);
    const refused = book.decide([transfer(o, a, 1n)], t0 + 10);
    expect(refused.entries).toEqual([]);
    expect(refused.accounts).toEqual([]);
    expect(refused.head).toEqual({ seq: 7n, hash: 'cd'.repeat(32), lastOccurredAtMs: t0 + 10 });
  });

  it('never dates an entry before the head, whatever the clock says', () => {
    const book = new MemoryBook();
    const a = book.open();
    const b = book.open();
    book.head = { seq: 3n, hash: genesisHash, lastOccurredAtMs: t0 + 5000 };
    const hold = pending(a, b, 1n, 60);
    const late = book.commit([transfer(a, b, 1n), hold], t0);
    expect(late.entries.map((e) => e.occurredAtMs)).toEqual([t0 + 5000, t0 + 5000]);
    expect(late.results[1]?.timeoutAtMs).toBe(t0 + 5000 + 60_000);
    expect(late.head.lastOccurredAtMs).toBe(t0 + 5000);
    const onTime = book.commit([transfer(a, b, 1n)], t0 + 9000);
    expect(onTime.entries.map((e) => e.occurredAtMs)).toEqual([t0 + 9000]);
    expect(onTime.head.lastOccurredAtMs).toBe(t0 + 9000);
  });

  it('decides the same one entry at a time as all at once', () => {
    const book = new MemoryBook('0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b');
    const o = book.open(owed, { creditsPostedMinor: 10n });
    const a = book.open();
    const hold = pending(o, a, 5n, 60);
    const inputs = [hold, transfer(o, a, 6n), transfer(o, a, 5n), postPending(hold.id, [posting(o, a, 2n)])];
    const decider = new BatchDecider(book.platformId, book.head, book, t0);
    const results = inputs.map((input) => decider.decide(input));
    const decision = decider.finish();
    expect(results).toEqual(decision.results);
    expect(decision).toEqual(book.decide(inputs));
  });
});

describe('decideBatch: idempotency', () => {
  it('answers a replay inside one batch with exists and the original seq, once', () => {
    const book = new MemoryBook();
    const a = book.open();
    const b = book.open();
    const payment = transfer(a, b, 10n);
    const hold = pending(a, b, 3n, 60);
    const decision = book.decide([payment, hold, { ...payment }, { ...hold }]);
    expect(decision.results).toEqual([
      { id: payment.id, code: 'ok', seq: 1n, timeoutAtMs: null },
      { id: hold.id, code: 'ok', seq: 2n, timeoutAtMs: t0 + 60_000 },
      { id: payment.id, code: 'exists', seq: 1n, timeoutAtMs: null },
      { id: hold.id, code: 'exists', seq: 2n, timeoutAtMs: t0 + 60_000 },
    ]);
    expect(decision.entries).toHaveLength(2);
    expect(balancesIn(decision, b)).toEqual(balances({ creditsPostedMinor: 10n, creditsPendingMinor: 3n }));
    expect(decision.head.seq).toBe(2n);
  });

  it('answers a replay of a stored entry with exists and changes nothing', () => {
    const book = new MemoryBook();
    const a = book.open();
    const b = book.open();
    const payment = transfer(a, b, 10n, { reference: 'order-1', actor: 'key-1' });
    const hold = pending(a, b, 3n, 60);
    const postAll = postPending(hold.id);
    const other = pending(a, b, 4n);
    const cancel = voidPending(other.id);
    book.commit([payment, hold, other]);
    book.commit([postAll, cancel], t0 + 1000);
    const before = book.head;
    const postAllNamed = { ...postAll, postings: [posting(a, b, 3n)] };
    const decision = book.decide([payment, hold, postAll, postAllNamed, cancel], t0 + 2000);
    expect(decision.results).toEqual([
      { id: payment.id, code: 'exists', seq: 1n, timeoutAtMs: null },
      { id: hold.id, code: 'exists', seq: 2n, timeoutAtMs: t0 + 60_000 },
      { id: postAll.id, code: 'exists', seq: 4n, timeoutAtMs: null },
      { id: postAll.id, code: 'exists', seq: 4n, timeoutAtMs: null },
      { id: cancel.id, code: 'exists', seq: 5n, timeoutAtMs: null },
    ]);
    expect(decision.entries).toEqual([]);
    expect(decision.accounts).toEqual([]);
    expect(decision.pendingsOpened).toEqual([]);
    expect(decision.pendingsResolved).toEqual([]);
    expect(decision.head).toEqual({ ...before, lastOccurredAtMs: t0 + 2000 });
  });

  it('does not use up the id of a refused entry', () => {
    const book = new MemoryBook();
    const o = book.open(owed);
    const a = book.open();
    const payout = transfer(o, a, 50n);
    expect(codes(book.commit([payout]))).toEqual(['exceeds_credits']);
    expect(codes(book.commit([transfer(a, o, 50n), payout]))).toEqual(['ok', 'ok']);
  });
});

describe('decideBatch: what a decision holds', () => {
  it('writes the net balances of both accounts after each posting', () => {
    const book = new MemoryBook();
    const a = book.open(free, { creditsPostedMinor: 100n, debitsPostedMinor: 40n, creditsPendingMinor: 7n });
    const x = book.open();
    const y = book.open();
    const payment = posted([posting(x, a, 10n), posting(a, y, 25n), posting(x, y, 5n)]);
    const hold = { ...pending(a, x, 1n), postings: [posting(a, x, 3n), posting(y, a, 2n)] };
    const decision = book.decide([payment, hold]);
    const after = (id: Id) =>
      entryOf(decision, id).postings.map((p) => [
        p.debitPostedAfterMinor,
        p.debitPendingAfterMinor,
        p.creditPostedAfterMinor,
        p.creditPendingAfterMinor,
      ]);
    expect(after(payment.id)).toEqual([
      [-10n, 0n, 70n, 7n],
      [45n, 7n, 25n, 0n],
      [-15n, 0n, 30n, 0n],
    ]);
    expect(after(hold.id)).toEqual([
      [45n, 4n, -15n, 3n],
      [30n, -2n, 45n, 6n],
    ]);
  });

  it('lists exactly the accounts that applied entries touched, with their final balances', () => {
    const book = new MemoryBook();
    const o = book.open(owed, { creditsPostedMinor: 10n });
    const a = book.open();
    const b = book.open();
    const untouched = book.open();
    const refusedOnly = book.open(owed);
    const decision = book.decide([
      transfer(a, b, 3n),
      transfer(refusedOnly, untouched, 1n),
      pending(o, a, 4n),
      transfer(o, b, 6n),
      transfer(b, a, 1n),
    ]);
    expect(codes(decision)).toEqual(['ok', 'exceeds_credits', 'ok', 'ok', 'ok']);
    expect(decision.accounts.map((x) => x.id).sort()).toEqual([o, a, b].sort());
    expect(balancesIn(decision, o)).toEqual(
      balances({ debitsPendingMinor: 4n, debitsPostedMinor: 6n, creditsPostedMinor: 10n }),
    );
    expect(balancesIn(decision, a)).toEqual(
      balances({ debitsPostedMinor: 3n, creditsPendingMinor: 4n, creditsPostedMinor: 1n }),
    );
    expect(balancesIn(decision, b)).toEqual(balances({ debitsPostedMinor: 1n, creditsPostedMinor: 9n }));
    for (const account of decision.accounts) {
      const { id, code, currency, flags, closed } = must(book.accounts.get(account.id));
      expect(account).toMatchObject({ id, code, currency, flags, closed });
    }
  });

  it('moves as much into the accounts it lists as out of them', () => {
    const book = new MemoryBook();
    const o = book.open(owed, { creditsPostedMinor: 500n });
    const d = book.open(asset, { debitsPostedMinor: 500n, creditsPostedMinor: 100n });
    const a = book.open(free, { debitsPostedMinor: 13n });
    const hold = pending(o, a, 50n);
    const decision = book.decide([
      posted([posting(o, a, 20n), posting(a, d, 30n), posting(d, o, 7n)]),
      hold,
      postPending(hold.id, [posting(o, a, 15n)]),
      pending(a, d, 9n),
    ]);
    expect(codes(decision)).toEqual(['ok', 'ok', 'ok', 'ok']);
    let postedChange = 0n;
    let pendingChange = 0n;
    for (const after of decision.accounts) {
      const before = must(book.accounts.get(after.id));
      postedChange += netPosted(after) - netPosted(before);
      pendingChange += netPending(after) - netPending(before);
    }
    expect(postedChange).toBe(0n);
    expect(pendingChange).toBe(0n);
    // Money did move: the sum is zero because the changes cancel, not because there are none.
    expect(decision.accounts.some((x) => netPosted(x) !== netPosted(must(book.accounts.get(x.id))))).toBe(true);
  });
});

/**
 * Random batches over a handful of accounts, checked three ways: a replay of the written
 * postings reproduces every balance, a small model of the rules predicts every result code,
 * and refused entries change nothing.
 */
describe('decideBatch: random workloads', () => {
  interface Leg {
    readonly debit: number;
    /** The credit account, counted on from the debit one, so the two always differ. */
    readonly offset: number;
    readonly amount: bigint;
  }
  /** Posts, voids and expiries name an earlier pending entry of the scenario by `target`. */
  type Op =
    | { readonly type: 'posted'; readonly legs: readonly Leg[] }
    | { readonly type: 'pending'; readonly legs: readonly Leg[]; readonly timeoutSeconds: number }
    | { readonly type: 'post'; readonly target: number; readonly amounts: readonly bigint[] | null }
    | { readonly type: 'void'; readonly target: number }
    | { readonly type: 'expire'; readonly target: number };
  type Flag = 'free' | 'owed' | 'asset';
  interface Scenario {
    readonly accounts: readonly { readonly flag: Flag; readonly x: bigint; readonly y: bigint }[];
    readonly batches: readonly (readonly Op[])[];
  }

  const legs = fc.array(fc.record({ debit: fc.nat(7), offset: fc.nat(7), amount: fc.bigInt({ min: 1n, max: 300n }) }), {
    minLength: 1,
    maxLength: 3,
  });
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 4, arbitrary: fc.record({ type: fc.constant('posted' as const), legs }) },
    {
      weight: 3,
      arbitrary: fc.record({ type: fc.constant('pending' as const), legs, timeoutSeconds: fc.constantFrom(0, 1, 3) }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        type: fc.constant('post' as const),
        target: fc.nat(),
        // Up to 330 of at most 300 reserved: some posts ask for more than was reserved.
        amounts: fc.option(fc.array(fc.bigInt({ min: 0n, max: 330n }), { minLength: 3, maxLength: 3 })),
      }),
    },
    { weight: 1, arbitrary: fc.record({ type: fc.constantFrom('void', 'expire'), target: fc.nat() }) },
  );
  const balance = fc.bigInt({ min: 0n, max: 600n });
  const scenario: fc.Arbitrary<Scenario> = fc.record({
    accounts: fc.array(fc.record({ flag: fc.constantFrom<Flag>('free', 'owed', 'asset'), x: balance, y: balance }), {
      minLength: 2,
      maxLength: 5,
    }),
    batches: fc.array(fc.array(op, { maxLength: 12 }), { minLength: 1, maxLength: 4 }),
  });

  /** Starting balances that keep each account's flag: its smaller side is the one limited. */
  function openAccounts(book: MemoryBook, s: Scenario): Id[] {
    return s.accounts.map(({ flag, x, y }) => {
      const [low, high] = x < y ? [x, y] : [y, x];
      if (flag === 'owed') return book.open(owed, { debitsPostedMinor: low, creditsPostedMinor: high });
      if (flag === 'asset') return book.open(asset, { debitsPostedMinor: high, creditsPostedMinor: low });
      return book.open(free, { debitsPostedMinor: x, creditsPostedMinor: y });
    });
  }

  function buildInputs(s: Scenario, ids: readonly Id[]): EntryInput[][] {
    const pendings: EntryInput[] = [];
    const toPostings = (legs: readonly Leg[]): PostingInput[] =>
      legs.map((leg) => {
        const debit = leg.debit % ids.length;
        const credit = (debit + 1 + (leg.offset % (ids.length - 1))) % ids.length;
        return posting(must(ids[debit]), must(ids[credit]), leg.amount);
      });
    const toInput = (o: Op): EntryInput => {
      if (o.type === 'posted') return posted(toPostings(o.legs));
      if (o.type === 'pending') {
        const hold = { ...pending(must(ids[0]), must(ids[1]), 1n, o.timeoutSeconds), postings: toPostings(o.legs) };
        pendings.push(hold);
        return hold;
      }
      const target = pendings[o.target % Math.max(pendings.length, 1)];
      const pendingId = target?.id ?? newId();
      if (o.type === 'void') return voidPending(pendingId);
      if (o.type === 'expire') return expire(pendingId);
      const amounts = o.amounts;
      if (amounts === null || target === undefined) return postPending(pendingId);
      return postPending(
        pendingId,
        target.postings.map((p, i) => ({ ...p, amountMinor: amounts[i] ?? 0n })),
      );
    };
    return s.batches.map((batch) => batch.map(toInput));
  }

  type Mutable<T> = { -readonly [K in keyof T]: T[K] };
  interface ModelAccount extends Mutable<Balances> {
    readonly flags: AccountFlags;
  }
  interface ModelPending {
    readonly input: EntryInput;
    state: Pending['state'];
    readonly dueMs: number | null;
  }

  /** What the rules say should happen, written apart from the core. */
  class Model {
    readonly accounts = new Map<Id, ModelAccount>();
    readonly pendings = new Map<Id, ModelPending>();

    constructor(book: MemoryBook) {
      for (const a of book.accounts.values()) this.accounts.set(a.id, { ...balancesOf(a), flags: a.flags });
    }

    decide(input: EntryInput, nowMs: number): EntryResultCode {
      const saved = new Map([...this.accounts].map(([id, a]) => [id, { ...a }]));
      const resolves = input.kind !== 'posted' && input.kind !== 'pending';
      const code = resolves ? this.resolve(input, nowMs) : this.newMoney(input, nowMs);
      if (code !== 'ok') for (const [id, a] of saved) this.accounts.set(id, a);
      return code;
    }

    private newMoney(input: EntryInput, nowMs: number): EntryResultCode {
      const reserve = input.kind === 'pending';
      for (const p of input.postings) {
        const debit = must(this.accounts.get(p.debitAccountId));
        const credit = must(this.accounts.get(p.creditAccountId));
        debit[reserve ? 'debitsPendingMinor' : 'debitsPostedMinor'] += p.amountMinor;
        credit[reserve ? 'creditsPendingMinor' : 'creditsPostedMinor'] += p.amountMinor;
        const debits = debit.debitsPendingMinor + debit.debitsPostedMinor;
        const credits = credit.creditsPendingMinor + credit.creditsPostedMinor;
        if (debit.flags.debitsMustNotExceedCredits && debits > debit.creditsPostedMinor) return 'exceeds_credits';
        if (credit.flags.creditsMustNotExceedDebits && credits > credit.debitsPostedMinor) return 'exceeds_debits';
      }
      if (reserve) {
        const dueMs = input.timeoutSeconds ? nowMs + input.timeoutSeconds * 1000 : null;
        this.pendings.set(input.id, { input, state: 'open', dueMs });
      }
      return 'ok';
    }

    private resolve(input: EntryInput, nowMs: number): EntryResultCode {
      const target = this.pendings.get(input.pendingId ?? '');
      if (target === undefined) return 'pending_entry_not_found';
      if (target.state === 'posted') return 'pending_entry_already_posted';
      if (target.state === 'voided') return 'pending_entry_already_voided';
      if (target.state === 'expired') return 'pending_entry_expired';
      const due = target.dueMs !== null && nowMs >= target.dueMs;
      if (input.kind === 'expire' && !due) return 'pending_entry_not_expired';
      if (input.kind !== 'expire' && due) return 'pending_entry_expired';
      for (const [i, reserved] of target.input.postings.entries()) {
        const asked = input.kind === 'post_pending' ? input.postings[i]?.amountMinor ?? reserved.amountMinor : 0n;
        if (asked > reserved.amountMinor) return 'exceeds_pending_amount';
        const debit = must(this.accounts.get(reserved.debitAccountId));
        const credit = must(this.accounts.get(reserved.creditAccountId));
        debit.debitsPendingMinor -= reserved.amountMinor;
        credit.creditsPendingMinor -= reserved.amountMinor;
        debit.debitsPostedMinor += asked;
        credit.creditsPostedMinor += asked;
      }
      target.state = input.kind === 'post_pending' ? 'posted' : input.kind === 'void_pending' ? 'voided' : 'expired';
      return 'ok';
    }
  }

  /** Replays written postings from the balances before them, checking each balance after. */
  function replay(start: ReadonlyMap<Id, Account>, entries: readonly Entry[]): Map<Id, Balances> {
    const out = new Map<Id, Mutable<Balances>>([...start].map(([id, a]) => [id, balancesOf(a)]));
    for (const entry of entries) {
      const reserves = entry.kind === 'pending';
      for (const p of entry.postings) {
        if (entry.kind === 'posted' || reserves) expect(p.pendingReleasedMinor).toBe(0n);
        const reservedChange = reserves ? p.amountMinor : -p.pendingReleasedMinor;
        const postedChange = reserves ? 0n : p.amountMinor;
        const debit = must(out.get(p.debitAccountId));
        const credit = must(out.get(p.creditAccountId));
        debit.debitsPendingMinor += reservedChange;
        debit.debitsPostedMinor += postedChange;
        credit.creditsPendingMinor += reservedChange;
        credit.creditsPostedMinor += postedChange;
        const net = (b: Balances) => [
          b.creditsPostedMinor - b.debitsPostedMinor,
          b.creditsPendingMinor - b.debitsPendingMinor,
        ];
        expect([p.debitPostedAfterMinor, p.debitPendingAfterMinor]).toEqual(net(debit));
        expect([p.creditPostedAfterMinor, p.creditPendingAfterMinor]).toEqual(net(credit));
      }
    }
    return out;
  }

  function checkBatch(book: MemoryBook, model: Model, inputs: readonly EntryInput[], nowMs: number): void {
    const before = new Map(book.accounts);
    const decision = book.decide(inputs, nowMs);

    // The model predicts every code.
    expect(codes(decision)).toEqual(inputs.map((input) => model.decide(input, nowMs)));

    // A replay of what was written reproduces the balances the batch reports, and no more.
    const replayed = replay(before, decision.entries);
    const touched = new Set(
      decision.entries.flatMap((e) => e.postings.flatMap((p) => [p.debitAccountId, p.creditAccountId])),
    );
    expect(new Set(decision.accounts.map((a) => a.id))).toEqual(touched);
    for (const [id, b] of replayed) {
      const reported = decision.accounts.find((a) => a.id === id) ?? must(before.get(id));
      expect(balancesOf(reported)).toEqual(b);
    }
    const change = (net: (a: Account) => bigint) =>
      decision.accounts.reduce((sum, a) => sum + net(a) - net(must(before.get(a.id))), 0n);
    expect([change(netPosted), change(netPending)]).toEqual([0n, 0n]);

    // Refused entries had no effect: the batch without them decides the same.
    const accepted = inputs.filter((_, i) => decision.results[i]?.code === 'ok');
    const { results, ...written } = book.decide(accepted, nowMs);
    expect(written).toEqual({ ...decision, results: undefined });
    expect(results).toEqual(decision.results.filter((r) => r.code === 'ok'));
  }

  function checkScenario(s: Scenario): void {
    const book = new MemoryBook();
    const ids = openAccounts(book, s);
    const model = new Model(book);
    for (const [index, inputs] of buildInputs(s, ids).entries()) {
      const nowMs = t0 + index * 1000;
      checkBatch(book, model, inputs, nowMs);
      book.commit(inputs, nowMs);
      for (const a of book.accounts.values()) {
        const { flags, ...expected } = must(model.accounts.get(a.id));
        expect(balancesOf(a)).toEqual(expected);
        const debits = a.debitsPendingMinor + a.debitsPostedMinor;
        const credits = a.creditsPendingMinor + a.creditsPostedMinor;
        if (flags.debitsMustNotExceedCredits) expect(debits).toBeLessThanOrEqual(a.creditsPostedMinor);
        if (flags.creditsMustNotExceedDebits) expect(credits).toBeLessThanOrEqual(a.debitsPostedMinor);
      }
    }
  }

  it('replays, predicts and isolates refusals for random batches', () => {
    fc.assert(
      fc.property(scenario, (s) => checkScenario(s)),
      { numRuns: 300 },
    );
  });
});
