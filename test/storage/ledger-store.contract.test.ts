import { sql } from 'kysely';
import type { RawBuilder } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/ids.js';
import { genesisHash, verifyChainSegment } from '../../src/ledger/index.js';
import type { Account, Id } from '../../src/ledger/index.js';
import type { SqlLedgerStore } from '../../src/storage/sql-ledger-store.js';
import { ADAPTERS, openTestStore } from '../support/adapters.js';
import type { TestStore } from '../support/adapters.js';
import {
  accountInput,
  asset,
  free,
  ManualClock,
  owed,
  pending,
  posted,
  posting,
  postPending,
  transfer,
  voidPending,
} from '../support/fixtures.js';

/** One suite, every adapter: the storage contract the rest of Custos relies on. */
for (const adapter of ADAPTERS) {
  describe(`ledger store contract (${adapter})`, () => {
    const clock = new ManualClock();
    let t: TestStore;
    let store: SqlLedgerStore;

    beforeAll(async () => {
      // Short runs, so every walk of the chain reads several of them at once.
      t = await openTestStore(adapter, { clock, verifyChunkEntries: 4 });
      store = t.store;
    });
    afterAll(async () => {
      await t.dispose();
    });

    /** A book with a funding source (an asset) and three accounts we owe. */
    async function book(): Promise<{ platformId: Id; bank: Id; a: Id; b: Id; c: Id }> {
      const platformId = newId();
      const bank = accountInput('custody_summary', free);
      const a = accountInput('member_spendable', owed);
      const b = accountInput('member_spendable', owed);
      const c = accountInput('member_spendable', owed);
      const results = await store.createAccounts(platformId, [bank, a, b, c]);
      expect(results.map((r) => r.code)).toEqual(['created', 'created', 'created', 'created']);
      return { platformId, bank: bank.id, a: a.id, b: b.id, c: c.id };
    }

    /** Someone with superuser rights switches the guards off and deletes an entry. */
    async function removeEntry(platformId: Id, seq: bigint): Promise<void> {
      await unguarded('ledger_postings', sql`delete from ledger_postings where platform_id = ${platformId}::uuid and entry_seq = ${seq.toString()}::int8`);
      await unguarded('ledger_entries', sql`delete from ledger_entries where platform_id = ${platformId}::uuid and seq = ${seq.toString()}::int8`);
    }

    /** Runs `statement` with the append-only guard of `table` switched off, as a superuser could. */
    async function unguarded(table: 'ledger_entries' | 'ledger_postings', statement: RawBuilder<unknown>): Promise<void> {
      const db = store.kysely;
      await sql`alter table ${sql.table(table)} disable trigger ${sql.id(`${table}_append_only`)}`.execute(db);
      try {
        await statement.execute(db);
      } finally {
        await sql`alter table ${sql.table(table)} enable trigger ${sql.id(`${table}_append_only`)}`.execute(db);
      }
    }

    async function balances(platformId: Id, ...ids: Id[]): Promise<bigint[]> {
      const accounts = new Map((await store.getAccounts(platformId, ids)).map((x) => [x.id, x]));
      return ids.map((id) => net(accounts.get(id)));
    }

    describe('accounts', () => {
      it('creates accounts idempotently and refuses the same id with other fields', async () => {
        const platformId = newId();
        const input = accountInput('fees', owed);
        expect(await store.createAccounts(platformId, [input])).toEqual([{ id: input.id, code: 'created' }]);
        const again = await store.createAccounts(platformId, [
          input,
          { ...input, code: 'guarantee' },
          { ...input, currency: 'USD' },
          { ...input, flags: asset },
          { ...input, id: 'not-a-uuid' },
          { ...accountInput(), code: 'Bad Code' },
          { ...accountInput(), currency: 'cny' },
          { ...accountInput(), flags: { debitsMustNotExceedCredits: true, creditsMustNotExceedDebits: true } },
        ]);
        expect(again.map((r) => r.code)).toEqual([
          'exists',
          'exists_with_different_code',
          'exists_with_different_currency',
          'exists_with_different_flags',
          'id_invalid',
          'code_invalid',
          'currency_invalid',
          'flags_are_mutually_exclusive',
        ]);
        const [stored] = await store.getAccounts(platformId, [input.id]);
        expect(stored).toMatchObject({ id: input.id, code: 'fees', currency: 'CNY', flags: owed, closed: false });
        expect(await store.head(platformId)).toMatchObject({ seq: 0n });
      });

      it('keeps books apart: an account of one platform is unknown to another', async () => {
        const one = await book();
        const other = newId();
        await store.createAccounts(other, [accountInput()]);
        const result = await store.submit(other, transfer(one.bank, one.a, 5n));
        expect(result.code).toBe('debit_account_not_found');
        expect(await store.getAccounts(other, [one.a])).toEqual([]);
      });

      it('refuses every entry of a platform that has no book', async () => {
        const result = await store.submit(newId(), transfer(newId(), newId(), 1n));
        expect(result.code).toBe('debit_account_not_found');
      });

      it('closes only an empty account, and a closed account takes no new money', async () => {
        const { platformId, bank, a, b } = await book();
        await store.submit(platformId, transfer(bank, a, 10n));
        expect(await store.closeAccount(platformId, a)).toBe('balance_not_zero');
        expect(await store.closeAccount(platformId, b)).toBe('closed');
        expect(await store.closeAccount(platformId, b)).toBe('account_already_closed');
        expect(await store.closeAccount(platformId, newId())).toBe('account_not_found');
        expect((await store.submit(platformId, transfer(a, b, 1n))).code).toBe('credit_account_closed');
        expect((await store.submit(platformId, transfer(b, a, 1n))).code).toBe('debit_account_closed');
        expect(await balances(platformId, a, b)).toEqual([10n, 0n]);
      });
    });

    describe('entries', () => {
      it('applies a posted entry with running balances and moves the chain head', async () => {
        const { platformId, bank, a, b } = await book();
        const first = await store.submit(platformId, transfer(bank, a, 700n, { reference: 'ORD-1', actor: 'plt_key' }));
        const second = await store.submit(platformId, transfer(a, b, 250n));
        expect(first).toMatchObject({ code: 'ok', seq: 1n });
        expect(second).toMatchObject({ code: 'ok', seq: 2n });
        expect(await balances(platformId, bank, a, b)).toEqual([-700n, 450n, 250n]);
        const [entry] = await store.getEntries(platformId, [first.id]);
        expect(entry).toMatchObject({ kind: 'posted', reference: 'ORD-1', actor: 'plt_key', command: 'test.transfer' });
        expect(entry?.postings).toEqual([
          {
            debitAccountId: bank,
            creditAccountId: a,
            amountMinor: 700n,
            pendingReleasedMinor: 0n,
            debitPostedAfterMinor: -700n,
            debitPendingAfterMinor: 0n,
            creditPostedAfterMinor: 700n,
            creditPendingAfterMinor: 0n,
          },
        ]);
        expect(await store.head(platformId)).toMatchObject({ seq: 2n });
        expect((await store.verifyChain(platformId)).ok).toBe(true);
      });

      it('applies a multi-posting entry whole or not at all', async () => {
        const { platformId, bank, a, b, c } = await book();
        await store.submit(platformId, transfer(bank, a, 100n));
        // The second posting overdraws a: nothing of the entry applies.
        const refused = await store.submit(platformId, posted([posting(a, b, 60n), posting(a, c, 60n)]));
        expect(refused.code).toBe('exceeds_credits');
        expect(await balances(platformId, a, b, c)).toEqual([100n, 0n, 0n]);
        const split = await store.submit(platformId, posted([posting(a, b, 60n), posting(a, c, 40n)]));
        expect(split.code).toBe('ok');
        expect(await balances(platformId, a, b, c)).toEqual([0n, 60n, 40n]);
        const [entry] = await store.getEntries(platformId, [split.id]);
        expect(entry?.postings.map((p) => [p.debitPostedAfterMinor, p.creditPostedAfterMinor])).toEqual([
          [40n, 60n],
          [0n, 40n],
        ]);
      });

      it('refuses what breaks a rule, writes nothing for it, and still applies the rest of the batch', async () => {
        const { platformId, bank, a, b } = await book();
        const before = await store.head(platformId);
        const results = await store.submitMany(platformId, [
          transfer(bank, a, 50n),
          transfer(a, b, 80n), // a holds 50
          transfer(a, b, 0n),
          transfer(a, a, 1n),
          transfer(a, newId(), 1n),
          { ...transfer(a, b, 1n), command: '' },
          transfer(a, b, 20n),
        ]);
        expect(results.map((r) => r.code)).toEqual([
          'ok',
          'exceeds_credits',
          'amount_must_be_positive',
          'accounts_must_be_different',
          'credit_account_not_found',
          'command_invalid',
          'ok',
        ]);
        expect(await balances(platformId, bank, a, b)).toEqual([-50n, 30n, 20n]);
        const head = await store.head(platformId);
        expect(head?.seq).toBe((before?.seq ?? 0n) + 2n);
        const journal = await store.listEntries(platformId, { afterSeq: 0n, limit: 100 });
        expect(journal.map((e) => e.id)).toEqual([results[0]?.id, results[6]?.id]);
      });

      it('refuses an account id that is no uuid, whether or not the batch is decided ahead, and applies the rest', async () => {
        for (const round of [1, 2]) {
          const { platformId, bank, a, b } = await book();
          // The second book has a remembered head, so its batch is decided ahead.
          if (round === 2) await store.submit(platformId, transfer(bank, b, 1n));
          const results = await store.submitMany(platformId, [
            transfer(bank, a, 5n),
            transfer(a, 'not-a-uuid', 1n),
            transfer('01A249D1-FE57-7CE6-AA10-93BB56D5E2AE', a, 1n),
            { ...voidPending(newId()), pendingId: 'not-a-uuid' },
          ]);
          expect(results.map((r) => r.code), `round ${round}`).toEqual([
            'ok',
            'credit_account_id_invalid',
            'debit_account_id_invalid',
            'pending_id_invalid',
          ]);
          expect(await balances(platformId, a), `round ${round}`).toEqual([5n]);
        }
      });

      it('answers a replay with the first result and changes nothing', async () => {
        const { platformId, bank, a, b } = await book();
        const entry = transfer(bank, a, 40n);
        const first = await store.submit(platformId, entry);
        const replay = await store.submit(platformId, entry);
        expect(replay).toEqual({ ...first, code: 'exists' });
        // Replays in the same batch as the original, and many at once.
        const twice = transfer(a, b, 5n);
        const together = await store.submitMany(platformId, [twice, twice, twice]);
        expect(together.map((r) => r.code)).toEqual(['ok', 'exists', 'exists']);
        expect(new Set(together.map((r) => r.seq)).size).toBe(1);
        expect(await balances(platformId, bank, a, b)).toEqual([-40n, 35n, 5n]);
        expect((await store.head(platformId))?.seq).toBe(2n);
      });

      it('answers exists for a replay that the balance would no longer allow', async () => {
        const { platformId, bank, a, b } = await book();
        await store.submit(platformId, transfer(bank, a, 30n));
        const spend = transfer(a, b, 30n);
        expect((await store.submit(platformId, spend)).code).toBe('ok');
        // a is empty now: deciding afresh would refuse; the id says it happened already.
        expect((await store.submit(platformId, spend)).code).toBe('exists');
        expect(await balances(platformId, a, b)).toEqual([0n, 30n]);
      });

      it('refuses the same id with other content', async () => {
        const { platformId, bank, a, b } = await book();
        const entry = transfer(bank, a, 40n, { reference: 'R1', actor: 'x' });
        await store.submit(platformId, entry);
        const codes = await store.submitMany(platformId, [
          { ...entry, postings: [posting(bank, a, 41n)] },
          { ...entry, postings: [posting(bank, b, 40n)] },
          { ...entry, kind: 'pending' },
          { ...entry, command: 'other.command' },
          { ...entry, reference: 'R2' },
          { ...entry, actor: 'y' },
        ]);
        expect(codes.map((r) => r.code)).toEqual([
          'exists_with_different_postings',
          'exists_with_different_postings',
          'exists_with_different_kind',
          'exists_with_different_command',
          'exists_with_different_reference',
          'exists_with_different_actor',
        ]);
        expect(await balances(platformId, a, b)).toEqual([40n, 0n]);
      });

      it('groups concurrent callers into few database transactions', async () => {
        const { platformId, bank, a } = await book();
        const before = store.stats.batches;
        const results = await Promise.all(
          Array.from({ length: 300 }, () => store.submit(platformId, transfer(bank, a, 1n))),
        );
        expect(results.every((r) => r.code === 'ok')).toBe(true);
        const batches = store.stats.batches - before;
        expect(batches).toBeGreaterThanOrEqual(1);
        expect(batches).toBeLessThan(30);
        expect(new Set(results.map((r) => r.seq)).size).toBe(300);
        expect(await balances(platformId, a)).toEqual([300n]);
      });
    });

    describe('pending entries', () => {
      it('reserves, then posts part and releases the rest', async () => {
        const { platformId, bank, a, b } = await book();
        await store.submit(platformId, transfer(bank, a, 100n));
        const hold = pending(a, b, 70n);
        expect((await store.submit(platformId, hold)).code).toBe('ok');
        // Reserved money counts against a at once.
        expect((await store.submit(platformId, transfer(a, b, 31n))).code).toBe('exceeds_credits');
        const [held] = await store.getAccounts(platformId, [a]);
        expect(held).toMatchObject({ debitsPendingMinor: 70n, debitsPostedMinor: 0n, creditsPostedMinor: 100n });
        const post = await store.submit(platformId, postPending(hold.id, [posting(a, b, 45n)]));
        expect(post.code).toBe('ok');
        expect(await balances(platformId, a, b)).toEqual([55n, 45n]);
        const accounts = await store.getAccounts(platformId, [a, b]);
        expect(accounts.map((x) => [x.debitsPendingMinor, x.creditsPendingMinor])).toEqual(
          [a, b].map(() => [0n, 0n]),
        );
        expect((await store.submit(platformId, voidPending(hold.id))).code).toBe('pending_entry_already_posted');
        expect((await store.submit(platformId, postPending(hold.id))).code).toBe('pending_entry_already_posted');
        const [entry] = await store.getEntries(platformId, [post.id]);
        expect(entry?.postings[0]).toMatchObject({ amountMinor: 45n, pendingReleasedMinor: 70n });
      });

      it('voids a reservation and refuses to resolve it twice or to resolve a posted entry', async () => {
        const { platformId, bank, a, b } = await book();
        const funding = transfer(bank, a, 20n);
        await store.submit(platformId, funding);
        const hold = pending(a, b, 20n);
        await store.submit(platformId, hold);
        expect((await store.submit(platformId, voidPending(hold.id))).code).toBe('ok');
        expect(await balances(platformId, a, b)).toEqual([20n, 0n]);
        expect((await store.submit(platformId, voidPending(hold.id))).code).toBe('pending_entry_already_voided');
        expect((await store.submit(platformId, postPending(funding.id))).code).toBe('pending_entry_not_pending');
        expect((await store.submit(platformId, postPending(newId()))).code).toBe('pending_entry_not_found');
        expect((await store.submit(platformId, postPending(hold.id, [posting(a, b, 21n)]))).code).toBe(
          'pending_entry_already_voided',
        );
      });

      it('expires a reservation at its timeout, exactly once', async () => {
        const { platformId, bank, a, b } = await book();
        await store.submit(platformId, transfer(bank, a, 50n));
        const hold = pending(a, b, 50n, 60);
        const opened = await store.submit(platformId, hold);
        expect(opened.timeoutAtMs).toBe(clock.ms + 60_000);
        expect(await store.expireDue(platformId)).toBe(0);
        clock.advance(59);
        expect((await store.submit(platformId, postPending(hold.id, [posting(a, b, 10n)]))).code).toBe('ok');
        const second = pending(a, b, 40n, 30);
        await store.submit(platformId, second);
        clock.advance(31);
        expect(await store.booksWithDuePendings()).toContain(platformId);
        // Past its timeout a reservation can be neither posted nor voided; it expires.
        expect((await store.submit(platformId, postPending(second.id))).code).toBe('pending_entry_expired');
        expect(await store.expireDue(platformId)).toBe(1);
        expect(await store.expireDue(platformId)).toBe(0);
        expect(await store.booksWithDuePendings()).not.toContain(platformId);
        expect(await balances(platformId, a, b)).toEqual([40n, 10n]);
        expect((await store.submit(platformId, voidPending(second.id))).code).toBe('pending_entry_expired');
        const journal = await store.listEntries(platformId, { afterSeq: 0n, limit: 100 });
        expect(journal.at(-1)).toMatchObject({ kind: 'expire', pendingId: second.id, actor: 'system' });
        expect(await store.listPendings(platformId, { state: 'open', limit: 10 })).toEqual([]);
        const expired = await store.listPendings(platformId, { state: 'expired', limit: 10 });
        expect(expired.map((p) => p.id)).toEqual([second.id]);
      });

      it('lists open reservations with their postings', async () => {
        const { platformId, bank, a, b } = await book();
        await store.submit(platformId, transfer(bank, a, 50n));
        const hold = pending(a, b, 5n);
        await store.submit(platformId, hold);
        expect(await store.listPendings(platformId, { state: 'open', limit: 10 })).toEqual([
          { id: hold.id, seq: 2n, state: 'open', timeoutAtMs: null, postings: [posting(a, b, 5n)] },
        ]);
      });
    });

    describe('reads', () => {
      it('pages an account statement with the balance after every line', async () => {
        const { platformId, bank, a, b } = await book();
        const amounts = [10n, 20n, 30n, 40n, 50n];
        for (const amount of amounts) await store.submit(platformId, transfer(bank, a, amount));
        await store.submit(platformId, posted([posting(a, b, 5n), posting(a, b, 6n)]));
        const first = await store.listAccountLines(platformId, a, { limit: 4 });
        expect(first.map((l) => [l.side, l.amountMinor, l.postedAfterMinor])).toEqual([
          ['credit', 10n, 10n],
          ['credit', 20n, 30n],
          ['credit', 30n, 60n],
          ['credit', 40n, 100n],
        ]);
        const last = first.at(-1);
        const rest = await store.listAccountLines(platformId, a, {
          after: last && { seq: last.seq, postingIndex: last.postingIndex },
          limit: 4,
        });
        expect(rest.map((l) => [l.side, l.amountMinor, l.postedAfterMinor, l.postingIndex])).toEqual([
          ['credit', 50n, 150n, 0],
          ['debit', 5n, 145n, 0],
          ['debit', 6n, 139n, 1],
        ]);
        expect(rest[1]).toMatchObject({ counterpartyAccountId: b, kind: 'posted', command: 'test.transfer' });
      });

      it('answers balances at any point of the journal and the journal position at any time', async () => {
        const { platformId, bank, a } = await book();
        const start = clock.ms;
        const seqs: bigint[] = [];
        for (const amount of [5n, 7n, 11n]) {
          clock.advance(10);
          seqs.push((await store.submit(platformId, transfer(bank, a, amount))).seq ?? -1n);
        }
        expect(await store.balanceAt(platformId, a, 0n)).toEqual({ postedMinor: 0n, pendingMinor: 0n });
        expect(await store.balanceAt(platformId, a, seqs[0] ?? 0n)).toEqual({ postedMinor: 5n, pendingMinor: 0n });
        expect(await store.balanceAt(platformId, a, seqs[2] ?? 0n)).toEqual({ postedMinor: 23n, pendingMinor: 0n });
        expect(await store.balanceAt(platformId, bank, seqs[1] ?? 0n)).toEqual({ postedMinor: -12n, pendingMinor: 0n });
        expect(await store.seqAt(platformId, start)).toBe(0n);
        expect(await store.seqAt(platformId, start + 10_000)).toBe(seqs[0]);
        expect(await store.seqAt(platformId, start + 25_000)).toBe(seqs[1]);
        expect(await store.seqAt(platformId, start + 99_000)).toBe(seqs[2]);
      });

      it('lists accounts in id order, page by page', async () => {
        const { platformId, bank, a, b, c } = await book();
        const ids = [bank, a, b, c].sort();
        const first = await store.listAccounts(platformId, { limit: 3 });
        const second = await store.listAccounts(platformId, { afterId: first.at(-1)?.id, limit: 3 });
        expect([...first, ...second].map((x) => x.id)).toEqual(ids);
      });
    });

    describe('the journal is tamper-evident and append-only', () => {
      it('refuses updates, deletes and truncation of journal rows in the database itself', async () => {
        const { platformId, bank, a, b } = await book();
        // One posting, stored in its entry's row; two, stored in ledger_postings.
        await store.submit(platformId, transfer(bank, a, 9n));
        await store.submit(platformId, posted([posting(bank, a, 1n), posting(bank, b, 2n)]));
        const db = store.kysely;
        const attempts = [
          sql`update ledger_entries set command = 'x' where platform_id = ${platformId}::uuid`,
          sql`update ledger_entries set amount = 1 where platform_id = ${platformId}::uuid and seq = 1`,
          sql`delete from ledger_entries where platform_id = ${platformId}::uuid`,
          sql`update ledger_postings set amount = 1 where platform_id = ${platformId}::uuid`,
          sql`delete from ledger_postings where platform_id = ${platformId}::uuid`,
          sql`truncate ledger_postings`,
          sql`truncate ledger_entries cascade`,
        ];
        for (const attempt of attempts) {
          await expect(attempt.execute(db)).rejects.toThrow(/never updated or deleted/);
        }
        expect(await balances(platformId, a, b)).toEqual([10n, 2n]);
      });

      it('finds an edited entry when the chain is walked, wherever its postings are stored', async () => {
        const { platformId, bank, a, b } = await book();
        for (let i = 1n; i <= 5n; i++) await store.submit(platformId, transfer(bank, a, i));
        await store.submit(platformId, posted([posting(a, b, 3n), posting(bank, b, 1n)]));
        expect(await store.verifyChain(platformId)).toMatchObject({ ok: true, seq: 6n });
        // Someone with superuser rights switches the guard off and edits an amount: in the row
        // of an entry with one posting,
        const entryAmount = (amount: bigint) =>
          sql`update ledger_entries set amount = ${amount.toString()}::int8 where platform_id = ${platformId}::uuid and seq = 3`;
        await unguarded('ledger_entries', entryAmount(300n));
        expect(await store.verifyChain(platformId)).toMatchObject({ ok: false, brokenAtSeq: 3n });
        await unguarded('ledger_entries', entryAmount(3n));
        expect(await store.verifyChain(platformId)).toMatchObject({ ok: true, seq: 6n });
        // or in ledger_postings, for an entry with several.
        await unguarded(
          'ledger_postings',
          sql`update ledger_postings set amount = 2 where platform_id = ${platformId}::uuid and entry_seq = 6 and idx = 1`,
        );
        expect(await store.verifyChain(platformId)).toMatchObject({ ok: false, brokenAtSeq: 6n });
      });

      it('hashes free text, pending timeouts and every posting the way the core does', async () => {
        const { platformId, bank, a, b, c } = await book();
        const texts = ['plain', 'quote " and \\ backslash', 'line\nbreak\ttab\r', 'control \u0001 \u001f \u007f', '中文 备注 ✓ 😀', 'pipe | and -'];
        for (const [i, text] of texts.entries()) {
          await store.submit(platformId, transfer(bank, a, BigInt(i + 1) * 100n, { reference: text, actor: `${text} actor` }));
        }
        await store.submit(platformId, posted([posting(bank, b, 7n), posting(a, c, 5n), posting(b, c, 2n)]));
        const held = pending(a, b, 30n, 3600);
        await store.submit(platformId, held);
        await store.submit(platformId, postPending(held.id, [posting(a, b, 10n)]));
        const voided = pending(a, c, 4n);
        await store.submit(platformId, voided);
        await store.submit(platformId, voidPending(voided.id));
        const head = await store.head(platformId);
        expect(head?.seq).toBe(11n);
        expect(await store.verifyChain(platformId)).toEqual({ ok: true, brokenAtSeq: null, reason: null, seq: 11n, hash: head?.hash });
        // The database's walk and the core's agree entry by entry.
        const entries = await store.listEntries(platformId, { afterSeq: 0n, limit: 100 });
        expect(verifyChainSegment(0n, genesisHash, entries)).toEqual({ ok: true, brokenAtSeq: null, reason: null, seq: 11n, hash: head?.hash });
      });

      it('reads entries written before migration 0010, their one posting in ledger_postings, as it reads new ones', async () => {
        const { platformId, bank, a, b, c } = await book();
        for (let i = 1n; i <= 6n; i++) await store.submit(platformId, transfer(bank, i % 2n === 0n ? a : b, i));
        await store.submit(platformId, posted([posting(a, c, 2n), posting(b, c, 1n)]));
        await store.submit(platformId, transfer(a, b, 1n));
        const read = async () => ({
          entries: await store.listEntries(platformId, { afterSeq: 0n, limit: 100 }),
          lines: await store.listLines(platformId, [a, b, c], { limit: 100 }),
          firstLines: await store.listAccountLines(platformId, a, { limit: 2 }),
          balances: await Promise.all([2n, 5n, 7n, 8n].map((seq) => store.balanceAt(platformId, a, seq))),
          chain: await store.verifyChain(platformId),
        });
        const before = await read();
        expect(before.chain).toMatchObject({ ok: true, seq: 8n });
        // Entries 2 to 5 as the writer before migration 0010 stored them: the posting in its
        // own row of ledger_postings, none in the entry's row.
        const db = store.kysely;
        await sql`
          insert into ledger_postings (platform_id, entry_seq, idx, debit_account, credit_account, amount, pending_released,
                                       debit_posted_after, debit_pending_after, credit_posted_after, credit_pending_after)
          select platform_id, seq, 0, debit_account, credit_account, amount, pending_released,
                 debit_posted_after, debit_pending_after, credit_posted_after, credit_pending_after
          from ledger_entries where platform_id = ${platformId}::uuid and seq between 2 and 5`.execute(db);
        await unguarded(
          'ledger_entries',
          sql`update ledger_entries
              set debit_account = null, credit_account = null, amount = null, pending_released = null,
                  debit_posted_after = null, debit_pending_after = null, credit_posted_after = null, credit_pending_after = null
              where platform_id = ${platformId}::uuid and seq between 2 and 5`,
        );
        expect(await read()).toEqual(before);
        // New entries go on from them, in their entries' rows.
        await store.submit(platformId, transfer(bank, a, 5n));
        expect(await store.verifyChain(platformId)).toMatchObject({ ok: true, seq: 9n });
        expect((await store.listAccountLines(platformId, a, { limit: 100 })).map((line) => line.seq)).toEqual([2n, 4n, 6n, 7n, 8n, 9n]);
      });

      it('reports the first broken entry of a journal walked in several runs at once', async () => {
        const { platformId, bank, a } = await book();
        for (let i = 1n; i <= 30n; i++) await store.submit(platformId, transfer(bank, a, i));
        await unguarded(
          'ledger_entries',
          sql`update ledger_entries set amount = amount + 1 where platform_id = ${platformId}::uuid and seq in (11, 26)`,
        );
        expect(await store.verifyChain(platformId)).toMatchObject({ ok: false, brokenAtSeq: 11n, seq: 10n, reason: 'stored hash does not match the entry' });
        // Walked on from entry 20 (as a later close would), the later edit is the first.
        const tenth = (await store.listEntries(platformId, { afterSeq: 19n, limit: 1 }))[0];
        expect(await store.verifyChain(platformId, { seq: 20n, hash: tenth?.hash ?? '' })).toMatchObject({ ok: false, brokenAtSeq: 26n });
      });

      it('finds an entry taken out of the middle of the journal, and a verified entry since rewritten', async () => {
        const { platformId, bank, a } = await book();
        for (let i = 1n; i <= 12n; i++) await store.submit(platformId, transfer(bank, a, i));
        const seventh = (await store.listEntries(platformId, { afterSeq: 6n, limit: 1 }))[0];
        expect(await store.verifyChain(platformId, { seq: 7n, hash: seventh?.hash ?? '' })).toMatchObject({ ok: true, seq: 12n });
        expect(await store.verifyChain(platformId, { seq: 7n, hash: genesisHash })).toMatchObject({ ok: false, brokenAtSeq: 7n });
        await removeEntry(platformId, 6n);
        expect(await store.verifyChain(platformId)).toMatchObject({ ok: false, brokenAtSeq: 6n, reason: 'entry 6 is missing' });
      });

      it('walks to the head it started from while entries keep being booked', async () => {
        const { platformId, bank, a } = await book();
        for (let i = 1n; i <= 20n; i++) await store.submit(platformId, transfer(bank, a, i));
        const booking = Promise.all(Array.from({ length: 40 }, (_, i) => store.submit(platformId, transfer(bank, a, BigInt(i + 1)))));
        const check = await store.verifyChain(platformId);
        await booking;
        expect(check).toMatchObject({ ok: true });
        expect(check.seq).toBeGreaterThanOrEqual(20n);
        expect(await store.verifyChain(platformId)).toMatchObject({ ok: true, seq: 60n });
      });

      it('finds entries cut off the end of the journal', async () => {
        const { platformId, bank, a } = await book();
        for (let i = 1n; i <= 3n; i++) await store.submit(platformId, transfer(bank, a, i));
        await removeEntry(platformId, 3n);
        expect(await store.verifyChain(platformId)).toMatchObject({ ok: false, brokenAtSeq: 3n });
      });
    });

    describe('memory of balances between batches', () => {
      it('reads balances again after another writer moved the book', async () => {
        const { platformId, bank, a, b } = await book();
        await store.submit(platformId, transfer(bank, a, 100n));
        // A write this store did not make: straight into the database, bumping the version
        // as every writer does (here: closing an account through a second path).
        await store.kysely.transaction().execute(async (trx) => {
          await sql`update ledger_accounts set credits_posted = credits_posted + 0 where platform_id = ${platformId}::uuid`.execute(trx);
          await sql`update ledger_books set version = version + 1 where platform_id = ${platformId}::uuid`.execute(trx);
        });
        expect(await store.closeAccount(platformId, b)).toBe('closed');
        expect((await store.submit(platformId, transfer(a, b, 1n))).code).toBe('credit_account_closed');
        expect((await store.submit(platformId, transfer(a, bank, 100n))).code).toBe('ok');
        expect((await store.submit(platformId, transfer(a, bank, 1n))).code).toBe('exceeds_credits');
      });
    });
  });
}

function net(account: Account | undefined): bigint {
  if (account === undefined) throw new Error('account missing');
  return account.creditsPostedMinor - account.debitsPostedMinor;
}
