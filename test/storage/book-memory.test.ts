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
  });
}
