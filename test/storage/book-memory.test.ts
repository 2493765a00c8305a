import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { newId } from '../../src/ids.js';
import type { Id } from '../../src/ledger/index.js';
import type { SqlLedgerStore } from '../../src/storage/sql-ledger-store.js';
import { ADAPTERS, openTestStore } from '../support/adapters.js';
import { accountInput, free, owed, transfer } from '../support/fixtures.js';

const SEED = 20261206;
const ROUNDS = 40;
const TRANSFERS_PER_ROUND = 120;

/** A book of one funding source and five members who cannot go below zero. */
interface Book {
  readonly platformId: Id;
  readonly source: Id;
  readonly members: readonly Id[];
  /** Each account's credits − debits, as the transfers so far leave it. */
  readonly net: Map<Id, bigint>;
}

async function createBook(store: SqlLedgerStore): Promise<Book> {
  const platformId = newId();
  const source = accountInput('channel_in_transit', free);
  const members = Array.from({ length: 5 }, () => accountInput('member_spendable', owed));
  const results = await store.createAccounts(platformId, [source, ...members]);
  expect(results.every((result) => result.code === 'created')).toBe(true);
  const net = new Map([source, ...members].map((account) => [account.id, 0n]));
  return { platformId, source: source.id, members: members.map((member) => member.id), net };
}

const draw = fc.record({
  book: fc.nat({ max: 2 }),
  from: fc.nat({ max: 5 }),
  to: fc.nat({ max: 4 }),
  amount: fc.bigInt({ min: 1n, max: 40n }),
});

for (const adapter of ADAPTERS) {
  describe(`balances remembered between batches (${adapter})`, () => {
    it('answers every transfer as if it were alone, with room for fewer accounts than the books use', async () => {
      // Six accounts remembered for eighteen in use: nearly every batch decided ahead meets
      // accounts read without a lock, some of them moved by a batch still in flight then.
      const t = await openTestStore(adapter, { balanceCacheAccountsMax: 6, batchEntriesMax: 16 });
      try {
        const store = t.store;
        const books = [await createBook(store), await createBook(store), await createBook(store)];
        for (let round = 0; round < ROUNDS; round++) {
          const draws = fc.sample(draw, { seed: SEED + round, numRuns: TRANSFERS_PER_ROUND });
          // The core decides one book's entries in the order they were submitted.
          const planned = draws.map(({ book: b, from, to, amount }) => {
            const book = books[b] as Book;
            const debit = from === 5 ? book.source : (book.members[from] as Id);
            const credit = book.members[to] as Id;
            const debitNet = book.net.get(debit) ?? 0n;
            const fits = debit === book.source || debitNet >= amount;
            if (debit !== credit && fits) {
              book.net.set(debit, debitNet - amount);
              book.net.set(credit, (book.net.get(credit) ?? 0n) + amount);
            }
            const expected = debit === credit ? 'accounts_must_be_different' : fits ? 'ok' : 'exceeds_credits';
            return { book, input: transfer(debit, credit, amount), expected };
          });
          const results = await Promise.all(planned.map((p) => store.submit(p.book.platformId, p.input)));
          expect(results.map((r) => r.code), `round ${round}`).toEqual(planned.map((p) => p.expected));
          for (const book of books) {
            const accounts = await store.getAccounts(book.platformId, [...book.net.keys()]);
            const stored = new Map(accounts.map((a) => [a.id, a.creditsPostedMinor - a.debitsPostedMinor]));
            expect(stored, `round ${round}`).toEqual(book.net);
          }
        }
        expect(store.stats.entriesWritten).toBeGreaterThan(ROUNDS * TRANSFERS_PER_ROUND * 0.5);
      } finally {
        await t.dispose();
      }
    });

    // Two processes are two stores on one PostgreSQL database; PGlite is one process.
    it.skipIf(adapter === 'pglite')(
      'writes nothing of a batch decided on a head that another process has moved, and decides it again',
      async () => {
        const t = await openTestStore(adapter);
        try {
          const one = t.store;
          const other = await t.reopen();
          const book = await createBook(one);
          const [a, b] = book.members as [Id, Id];
          expect((await one.submit(book.platformId, transfer(book.source, a, 100n))).seq).toBe(1n);
          expect((await one.submit(book.platformId, transfer(book.source, b, 10n))).seq).toBe(2n);
          // The other process writes: the first one's memory of the head is now behind.
          expect((await other.submit(book.platformId, transfer(a, b, 30n))).seq).toBe(3n);
          const redecided = one.stats.batchesRedecided;
          // Decided ahead on the remembered head (seq 2, a at 100) and written alone, its
          // statement finds head 3 and writes nothing; decided again under lock, it is seq 4.
          expect(await one.submit(book.platformId, transfer(a, b, 50n))).toMatchObject({ code: 'ok', seq: 4n });
          expect(one.stats.batchesRedecided).toBe(redecided + 1);
          const accounts = new Map((await one.getAccounts(book.platformId, [a, b])).map((x) => [x.id, x]));
          expect(accounts.get(a)).toMatchObject({ debitsPostedMinor: 80n, creditsPostedMinor: 100n });
          expect(accounts.get(b)).toMatchObject({ debitsPostedMinor: 0n, creditsPostedMinor: 90n });
          // Each line's balance after it, as the other process's entry left it: 100, 70, 20.
          const lines = await one.listAccountLines(book.platformId, a, { limit: 10 });
          expect(lines.map((line) => [line.seq, line.postedAfterMinor])).toEqual([
            [1n, 100n],
            [3n, 70n],
            [4n, 20n],
          ]);
          expect(await one.verifyChain(book.platformId)).toMatchObject({ ok: true, seq: 4n });
        } finally {
          await t.dispose();
        }
      },
    );
  });
}
