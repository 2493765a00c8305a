import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/ids.js';
import { genesisHash, verifyChainSegment } from '../../src/ledger/index.js';
import type { Account, AccountFlags, EntryInput, EntryResultCode, Id, PostingInput } from '../../src/ledger/index.js';
import { limits } from '../../src/limits.js';
import type { SqlLedgerStore } from '../../src/storage/sql-ledger-store.js';
import { ADAPTERS, openTestStore } from '../support/adapters.js';
import type { TestStore } from '../support/adapters.js';
import { asset, free, ManualClock, owed } from '../support/fixtures.js';
import { BookModel } from './auditor-model.js';
import type { Prediction } from './auditor-model.js';

/**
 * The ledger simulation: a seeded workload of SIM_OPS operations (default 100,000) against a
 * real store, rounds of concurrent callers so that group commit, batches decided ahead and
 * retries all happen. Every result is predicted by an independent model (auditor-model.ts);
 * after every round the auditor checks the database itself:
 *   Σ debits = Σ credits; no account breaks its flags; pending balances equal the open
 *   pending entries; every stored running balance equals a replay of the journal; the
 *   hash chain verifies; replays never apply twice (journal size = entries the model wrote).
 * Reproduce a failure with SIM_SEED=<seed printed> SIM_OPS=<n>.
 */
const OPS = Number(process.env.SIM_OPS ?? 100_000);
/** A bound against a hang, not a speed check: about a minute alone, several with other suites alongside. */
const simulationTimeoutMs = Math.max(600_000, OPS * 6);
const SEED = Number(process.env.SIM_SEED ?? 20261125);
const ROUND = 500;

/** Abstract operations, drawn by fast-check from the seed; turned into entries against the model. */
type Draw = {
  kind: number;
  a: number;
  b: number;
  c: number;
  amount: bigint;
  partial: number;
  timeout: number;
  postings: number;
};

const draw: fc.Arbitrary<Draw> = fc.record({
  kind: fc.integer({ min: 0, max: 99 }),
  a: fc.nat(),
  b: fc.nat(),
  c: fc.nat(),
  amount: fc.bigInt({ min: 1n, max: 5_000n }),
  partial: fc.integer({ min: 0, max: 100 }),
  timeout: fc.integer({ min: 0, max: 3 }),
  postings: fc.integer({ min: 1, max: 4 }),
});

interface Book {
  readonly model: BookModel;
  readonly source: Id;
  readonly members: Id[];
  readonly assets: Id[];
  readonly usd: Id;
  readonly written: Id[];
  readonly pendings: Id[];
  /** Auditor's own replay of the journal, and where it stopped. */
  readonly replay: Map<Id, { posted: bigint; pending: bigint }>;
  checkedSeq: bigint;
  checkedHash: string;
}

interface Planned {
  readonly book: Book;
  readonly input: EntryInput;
  readonly expected: Prediction;
}

const codeOf = (draw: Draw, n: number): number => draw.a % n;

class Workload {
  private readonly invalid: { make: (d: Draw, book: Book) => EntryInput; code: EntryResultCode }[];

  constructor(private readonly clock: ManualClock) {
    const base = (book: Book, d: Draw): EntryInput => this.transfer(book, d);
    this.invalid = [
      { code: 'amount_must_be_positive', make: (d, book) => withAmount(base(book, d), 0n) },
      { code: 'amount_must_be_positive', make: (d, book) => withAmount(base(book, d), -d.amount) },
      { code: 'amount_exceeds_max', make: (d, book) => withAmount(base(book, d), limits.amountMinorMax + 1n) },
      { code: 'command_invalid', make: (d, book) => ({ ...base(book, d), command: 'Not A Command' }) },
      { code: 'accounts_must_be_different', make: (_d, book) => entry([{ debitAccountId: book.source, creditAccountId: book.source, amountMinor: 1n }]) },
      { code: 'too_many_postings', make: (d, book) => entry(Array.from({ length: limits.postingsPerEntryMax + 1 }, () => base(book, d).postings[0] as PostingInput)) },
      { code: 'timeout_reserved_for_pending_entry', make: (d, book) => ({ ...base(book, d), timeoutSeconds: 5 }) },
      { code: 'id_invalid', make: (d, book) => ({ ...base(book, d), id: 'not-an-id' }) },
      { code: 'pending_id_required', make: () => ({ id: newId(), kind: 'void_pending', postings: [], command: 'sim.void' }) },
    ];
  }

  /** One operation: its entry and the result the model predicts (the model moves on). */
  plan(book: Book, d: Draw): Planned {
    const now = this.clock.nowMs();
    const k = d.kind;
    if (k < 4) {
      const bad = this.invalid[codeOf(d, this.invalid.length)];
      if (bad === undefined) throw new Error('no invalid maker');
      return { book, input: bad.make(d, book), expected: { code: bad.code } };
    }
    let input: EntryInput;
    if (k < 40) input = this.transfer(book, d);
    else if (k < 50) input = this.split(book, d);
    else if (k < 62) input = this.hold(book, d);
    else if (k < 72) input = this.post(book, d);
    else if (k < 78) input = this.void(book, d);
    else if (k < 86) input = this.replay(book, d);
    else if (k < 90) input = this.unknownAccount(book, d);
    else if (k < 93) input = this.otherCurrency(book, d);
    else if (k < 96) input = entry([{ debitAccountId: book.source, creditAccountId: this.member(book, d.b), amountMinor: d.amount * 10n }]);
    else input = { id: newId(), kind: d.partial % 2 === 0 ? 'post_pending' : 'void_pending', pendingId: this.pick(book.written, d.c) ?? newId(), postings: [], command: 'sim.resolve' };
    const expected = book.model.apply(input, now);
    if (expected.code === 'ok') {
      book.written.push(input.id);
      if (input.kind === 'pending') book.pendings.push(input.id);
    }
    return { book, input, expected };
  }

  private member(book: Book, n: number): Id {
    return book.members[n % book.members.length] as Id;
  }

  private pick(list: readonly Id[], n: number): Id | undefined {
    return list.length === 0 ? undefined : list[n % list.length];
  }

  /** Mostly among members we owe, sometimes through the assets and the free source. */
  private pair(book: Book, d: Draw): [Id, Id] {
    const pool = [...book.members, ...book.assets, book.source];
    const debit = pool[d.a % pool.length] as Id;
    let credit = pool[d.b % pool.length] as Id;
    if (credit === debit) credit = pool[(d.b + 1) % pool.length] as Id;
    return [debit, credit];
  }

  transfer(book: Book, d: Draw): EntryInput {
    const [debit, credit] = this.pair(book, d);
    return entry([{ debitAccountId: debit, creditAccountId: credit, amountMinor: d.amount }], { reference: `R${d.c % 1000}` });
  }

  private split(book: Book, d: Draw): EntryInput {
    const postings: PostingInput[] = [];
    for (let i = 0; i < d.postings + 1; i++) {
      const [debit, credit] = this.pair(book, { ...d, a: d.a + i * 7, b: d.b + i * 13 });
      postings.push({ debitAccountId: debit, creditAccountId: credit, amountMinor: 1n + ((d.amount * BigInt(i + 1)) % 900n) });
    }
    return entry(postings, { actor: 'sim' });
  }

  private hold(book: Book, d: Draw): EntryInput {
    const postings = this.split(book, { ...d, postings: d.postings % 2 }).postings;
    const timeoutSeconds = [0, 30, 120, 600][d.timeout] ?? 0;
    return { id: newId(), kind: 'pending', postings, timeoutSeconds, command: 'sim.hold' };
  }

  private post(book: Book, d: Draw): EntryInput {
    const pendingId = this.pick(book.pendings, d.c) ?? newId();
    const pending = book.model.pendings.get(pendingId);
    if (pending === undefined || d.partial < 40) {
      return { id: newId(), kind: 'post_pending', pendingId, postings: [], command: 'sim.post' };
    }
    // Partial amounts; now and then one too many, or the wrong accounts.
    const postings = pending.postings.map((p, i) => ({
      ...p,
      amountMinor: d.partial > 95 && i === 0 ? p.amountMinor + 1n : (p.amountMinor * BigInt(d.partial)) / 100n,
    }));
    if (d.partial >= 86 && d.partial <= 90 && postings[0]) postings[0] = { ...postings[0], creditAccountId: book.source === postings[0].debitAccountId ? this.member(book, 1) : book.source };
    return { id: newId(), kind: 'post_pending', pendingId, postings, command: 'sim.post' };
  }

  private void(book: Book, d: Draw): EntryInput {
    const pendingId = this.pick(book.pendings, d.c) ?? newId();
    return { id: newId(), kind: 'void_pending', pendingId, postings: [], command: 'sim.void' };
  }

  /** An earlier entry again: as it was (must answer exists), or changed in one field. */
  private replay(book: Book, d: Draw): EntryInput {
    const id = this.pick(book.written, d.c);
    const first = id === undefined ? undefined : book.model.entries.get(id)?.input;
    if (first === undefined) return this.transfer(book, d);
    switch (d.partial % 5) {
      case 0:
        return { ...first, command: 'sim.changed' };
      case 1:
        return { ...first, reference: 'changed' };
      case 2:
        return first.postings.length > 0
          ? { ...first, postings: first.postings.map((p) => ({ ...p, amountMinor: p.amountMinor + 1n })) }
          : { ...first, actor: 'someone-else' };
      default:
        return first;
    }
  }

  private unknownAccount(book: Book, d: Draw): EntryInput {
    const known = this.member(book, d.a);
    return d.b % 2 === 0
      ? entry([{ debitAccountId: newId(), creditAccountId: known, amountMinor: d.amount }])
      : entry([{ debitAccountId: known, creditAccountId: newId(), amountMinor: d.amount }]);
  }

  private otherCurrency(book: Book, d: Draw): EntryInput {
    return entry([{ debitAccountId: book.usd, creditAccountId: this.member(book, d.a), amountMinor: d.amount }]);
  }
}

function entry(postings: PostingInput[], more: Partial<EntryInput> = {}): EntryInput {
  return { id: newId(), kind: 'posted', postings, command: 'sim.transfer', ...more };
}

function withAmount(input: EntryInput, amountMinor: bigint): EntryInput {
  return { ...input, postings: input.postings.map((p) => ({ ...p, amountMinor })) };
}

async function createBook(store: SqlLedgerStore): Promise<Book> {
  const platformId = newId();
  const model = new BookModel(platformId);
  const make = (code: string, flags: AccountFlags, currency = 'CNY') => {
    const id = newId();
    model.addAccount(id, currency, flags);
    return { id, code, currency, flags };
  };
  const source = make('channel_in_transit', free);
  const members = Array.from({ length: 10 }, () => make('member_spendable', owed));
  const assets = Array.from({ length: 2 }, () => make('custody_summary', asset));
  const usd = make('member_spendable', owed, 'USD');
  const results = await store.createAccounts(platformId, [source, ...members, ...assets, usd]);
  expect(results.every((r) => r.code === 'created')).toBe(true);
  return {
    model,
    source: source.id,
    members: members.map((m) => m.id),
    assets: assets.map((a) => a.id),
    usd: usd.id,
    written: [],
    pendings: [],
    replay: new Map(),
    checkedSeq: 0n,
    checkedHash: genesisHash,
  };
}

/** The auditor's look at the database after a round. */
async function audit(store: SqlLedgerStore, book: Book): Promise<void> {
  const platformId = book.model.platformId;
  const ids = [...book.model.accounts.keys()];
  const accounts = await store.getAccounts(platformId, ids);
  expect(accounts).toHaveLength(ids.length);

  // Σ debits = Σ credits, posted and pending, per currency.
  const sums = new Map<string, bigint[]>();
  for (const a of accounts) {
    const s = sums.get(a.currency) ?? [0n, 0n, 0n, 0n];
    sums.set(a.currency, [
      (s[0] ?? 0n) + a.debitsPostedMinor,
      (s[1] ?? 0n) + a.creditsPostedMinor,
      (s[2] ?? 0n) + a.debitsPendingMinor,
      (s[3] ?? 0n) + a.creditsPendingMinor,
    ]);
  }
  for (const [, [dpo, cpo, dp, cp]] of sums) {
    expect(dpo).toBe(cpo);
    expect(dp).toBe(cp);
  }

  // No account breaks its flags.
  for (const a of accounts) {
    if (a.flags.debitsMustNotExceedCredits) expect(a.debitsPendingMinor + a.debitsPostedMinor <= a.creditsPostedMinor).toBe(true);
    if (a.flags.creditsMustNotExceedDebits) expect(a.creditsPendingMinor + a.creditsPostedMinor <= a.debitsPostedMinor).toBe(true);
  }

  // Pending balances equal the open pending entries.
  const reserved = new Map<Id, { debits: bigint; credits: bigint }>();
  let afterId: Id | undefined;
  let openInStore = 0;
  for (;;) {
    const page = await store.listPendings(platformId, { state: 'open', afterId, limit: 100 });
    openInStore += page.length;
    for (const pending of page) {
      expect(book.model.pendings.get(pending.id)?.state).toBe('open');
      for (const p of pending.postings) {
        const d = reserved.get(p.debitAccountId) ?? { debits: 0n, credits: 0n };
        reserved.set(p.debitAccountId, { ...d, debits: d.debits + p.amountMinor });
        const c = reserved.get(p.creditAccountId) ?? { debits: 0n, credits: 0n };
        reserved.set(p.creditAccountId, { ...c, credits: c.credits + p.amountMinor });
      }
    }
    if (page.length < 100) break;
    afterId = page.at(-1)?.id;
  }
  const openInModel = [...book.model.pendings.values()].filter((p) => p.state === 'open').length;
  expect(openInStore).toBe(openInModel);
  for (const a of accounts) {
    const r = reserved.get(a.id) ?? { debits: 0n, credits: 0n };
    expect([a.id, a.debitsPendingMinor, a.creditsPendingMinor]).toEqual([a.id, r.debits, r.credits]);
  }

  // The new part of the journal: replayed, running balances checked, chain walked.
  for (;;) {
    const page = await store.listEntries(platformId, { afterSeq: book.checkedSeq, limit: 1000 });
    if (page.length === 0) break;
    const chain = verifyChainSegment(book.checkedSeq, book.checkedHash, page);
    expect(chain).toMatchObject({ ok: true });
    for (const e of page) {
      for (const p of e.postings) {
        const reservedNow = e.kind === 'pending' ? p.amountMinor : 0n;
        const postedNow = e.kind === 'posted' || e.kind === 'post_pending' ? p.amountMinor : 0n;
        const d = book.replay.get(p.debitAccountId) ?? { posted: 0n, pending: 0n };
        const c = book.replay.get(p.creditAccountId) ?? { posted: 0n, pending: 0n };
        const dNext = { posted: d.posted - postedNow, pending: d.pending - reservedNow + p.pendingReleasedMinor };
        const cNext = { posted: c.posted + postedNow, pending: c.pending + reservedNow - p.pendingReleasedMinor };
        book.replay.set(p.debitAccountId, dNext);
        book.replay.set(p.creditAccountId, cNext);
        expect([p.debitPostedAfterMinor, p.debitPendingAfterMinor]).toEqual([dNext.posted, dNext.pending]);
        expect([p.creditPostedAfterMinor, p.creditPendingAfterMinor]).toEqual([cNext.posted, cNext.pending]);
      }
    }
    book.checkedSeq = chain.seq;
    book.checkedHash = chain.hash;
  }

  // Replays never applied twice: the journal holds exactly what the model wrote, and the
  // stored balances are the model's and the replay's.
  expect(book.checkedSeq).toBe(book.model.seq);
  for (const a of accounts) {
    const m = book.model.accounts.get(a.id);
    expect([a.id, a.debitsPendingMinor, a.debitsPostedMinor, a.creditsPendingMinor, a.creditsPostedMinor]).toEqual([
      a.id,
      m?.dp,
      m?.dpo,
      m?.cp,
      m?.cpo,
    ]);
    const r = book.replay.get(a.id) ?? { posted: 0n, pending: 0n };
    expect([a.id, net(a)]).toEqual([a.id, r.posted]);
  }
}

function net(a: Account): bigint {
  return a.creditsPostedMinor - a.debitsPostedMinor;
}

for (const adapter of ADAPTERS) {
  describe(`ledger simulation (${adapter})`, () => {
    const clock = new ManualClock();
    let t: TestStore;
    beforeAll(async () => {
      // Small batches: a round spans many, so batches decided ahead and retries happen.
      t = await openTestStore(adapter, { clock, batchEntriesMax: 96 });
    });
    afterAll(async () => {
      await t.dispose();
    });

    it(`runs ${OPS.toLocaleString('en-US')} seeded operations and audits after every round (seed ${SEED})`, async () => {
      const store = t.store;
      const workload = new Workload(clock);
      const books = [await createBook(store), await createBook(store), await createBook(store)];
      const counts = new Map<string, number>();
      let done = 0;
      for (let round = 0; done < OPS; round++) {
        const size = Math.min(ROUND, OPS - done);
        const draws = fc.sample(fc.tuple(fc.nat({ max: books.length - 1 }), draw), { seed: SEED + round, numRuns: size });
        const planned = draws.map(([b, d]) => workload.plan(books[b] as Book, d));
        const results = await Promise.all(planned.map((p) => store.submit(p.book.model.platformId, p.input)));
        results.forEach((result, i) => {
          const p = planned[i] as Planned;
          const context = `seed ${SEED} round ${round} op ${i}: ${p.input.kind} ${p.input.command}`;
          expect(result.code, context).toBe(p.expected.code);
          if (p.expected.seq !== undefined) expect(result.seq, context).toBe(p.expected.seq);
          counts.set(result.code, (counts.get(result.code) ?? 0) + 1);
        });
        // Now and then the clock jumps and reservations that fell due expire.
        if (round % 4 === 3) {
          clock.advance(45 + (round % 7) * 20);
          for (const book of books) {
            const predicted = book.model.expire(clock.nowMs());
            expect(await store.expireDue(book.model.platformId, 100_000)).toBe(predicted);
            counts.set('expired', (counts.get('expired') ?? 0) + predicted);
          }
        }
        for (const book of books) await audit(store, book);
        done += size;
      }
      // The workload must have reached every outcome it was built to reach.
      for (const code of [
        'ok', 'exists', 'exceeds_credits', 'exceeds_debits', 'currency_mismatch', 'debit_account_not_found',
        'credit_account_not_found', 'pending_entry_already_posted', 'pending_entry_already_voided',
        'pending_entry_expired', 'pending_entry_not_found', 'pending_entry_not_pending', 'exceeds_pending_amount',
        'pending_entry_has_different_postings', 'exists_with_different_command', 'exists_with_different_reference',
        'exists_with_different_postings', 'amount_must_be_positive', 'too_many_postings', 'expired',
      ]) {
        expect(counts.get(code) ?? 0, code).toBeGreaterThan(0);
      }
      expect([...counts.values()].reduce((a, b) => a + b, 0) - (counts.get('expired') ?? 0)).toBe(OPS);
    }, simulationTimeoutMs);
  });
}
