import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/ids.js';
import type { Account, Id } from '../../src/ledger/index.js';
import type { SqlLedgerStore } from '../../src/storage/sql-ledger-store.js';
import { Random } from '../../src/bench/workload.js';
import { ADAPTERS, databaseUrl, openTestStore } from '../support/adapters.js';
import type { TestStore } from '../support/adapters.js';
import { accountInput, free, owed, transfer } from '../support/fixtures.js';

const run = promisify(execFile);

/** Balances must equal a replay of the journal, and the journal must chain. */
async function auditBook(store: SqlLedgerStore, platformId: Id, accounts: readonly Id[]): Promise<bigint> {
  const replayed = new Map<Id, bigint>(accounts.map((id) => [id, 0n]));
  let afterSeq = 0n;
  let entries = 0n;
  for (;;) {
    const page = await store.listEntries(platformId, { afterSeq, limit: 1000 });
    if (page.length === 0) break;
    for (const entry of page) {
      for (const p of entry.postings) {
        replayed.set(p.debitAccountId, (replayed.get(p.debitAccountId) ?? 0n) - p.amountMinor);
        replayed.set(p.creditAccountId, (replayed.get(p.creditAccountId) ?? 0n) + p.amountMinor);
        expect(p.debitPostedAfterMinor).toBe(replayed.get(p.debitAccountId));
        expect(p.creditPostedAfterMinor).toBe(replayed.get(p.creditAccountId));
      }
      entries++;
      afterSeq = entry.seq;
    }
  }
  const stored = await store.getAccounts(platformId, accounts);
  for (const account of stored) expect(net(account)).toBe(replayed.get(account.id));
  for (const account of stored) {
    if (account.flags.debitsMustNotExceedCredits) {
      expect(account.debitsPostedMinor).toBeLessThanOrEqual(account.creditsPostedMinor);
    }
  }
  expect(stored.reduce((sum, account) => sum + net(account), 0n)).toBe(0n);
  expect(await store.verifyChain(platformId)).toMatchObject({ ok: true, seq: entries });
  return entries;
}

function net(account: Account): bigint {
  return account.creditsPostedMinor - account.debitsPostedMinor;
}

for (const adapter of ADAPTERS) {
  describe(`concurrent writers (${adapter})`, () => {
    let t: TestStore;
    beforeAll(async () => {
      t = await openTestStore(adapter);
    });
    afterAll(async () => {
      await t.dispose();
    });

    it('keeps many books and many callers exact: every book balances and chains', async () => {
      const store = t.store;
      const random = new Random(7);
      const books = await Promise.all(
        Array.from({ length: 6 }, async () => {
          const platformId = newId();
          const source = accountInput('custody_summary', free);
          const members = Array.from({ length: 5 }, () => accountInput('member_spendable', owed));
          await store.createAccounts(platformId, [source, ...members]);
          return { platformId, source: source.id, members: members.map((m) => m.id) };
        }),
      );
      const calls = Array.from({ length: 3000 }, () => {
        const book = random.pick(books);
        const fund = random.next() < 0.3;
        const debit = fund ? book.source : random.pick(book.members);
        let credit = random.pick(book.members);
        while (credit === debit) credit = random.pick(book.members);
        return store.submit(book.platformId, transfer(debit, credit, BigInt(1 + random.int(20))));
      });
      const results = await Promise.all(calls);
      expect(results.filter((r) => r.code !== 'ok' && r.code !== 'exceeds_credits')).toEqual([]);
      let written = 0n;
      for (const book of books) written += await auditBook(store, book.platformId, [book.source, ...book.members]);
      expect(written).toBe(BigInt(results.filter((r) => r.code === 'ok').length));
    });

    if (adapter === 'postgres') {
      it('lets several processes write the same hot accounts without deadlocks or lost updates', async () => {
        const store = t.store;
        const platformId = newId();
        const source = accountInput('custody_summary', free);
        const hot = Array.from({ length: 4 }, () => accountInput('guarantee', owed));
        await store.createAccounts(platformId, [source, ...hot]);
        // Fund the hot accounts so that most transfers among them fit.
        for (const account of hot) {
          expect((await store.submit(platformId, transfer(source.id, account.id, 2000n))).code).toBe('ok');
        }
        const accounts = [source.id, ...hot.map((a) => a.id)];
        const schema = await currentSchema(store);
        const processes = [1, 2, 3].map((seed) =>
          run(
            process.execPath,
            [
              '--import',
              'tsx',
              'test/support/ledger-writer-process.ts',
              databaseUrl ?? '',
              schema,
              platformId,
              hot.map((a) => a.id).join(','),
              '1500',
              String(seed),
              '32',
            ],
            { cwd: process.cwd(), timeout: 120_000 },
          ),
        );
        // This process writes too, through its own pool, at the same time.
        const here = Array.from({ length: 500 }, (_, i) =>
          store.submit(platformId, transfer(accounts[1 + (i % 4)] as Id, accounts[1 + ((i + 1) % 4)] as Id, 1n)),
        );
        const outputs = await Promise.all(processes);
        const local = await Promise.all(here);
        const reports = outputs.map((o) => JSON.parse(o.stdout.trim()) as { ok: number; error: string | null; counts: Record<string, number> });
        for (const report of reports) {
          expect(report.error).toBeNull();
          expect(Object.keys(report.counts).filter((code) => code !== 'ok' && code !== 'exceeds_credits')).toEqual([]);
        }
        const written = reports.reduce((sum, r) => sum + r.ok, 0) + local.filter((r) => r.code === 'ok').length + 4;
        expect(await auditBook(store, platformId, accounts)).toBe(BigInt(written));
      });
    }
  });
}

async function currentSchema(store: SqlLedgerStore): Promise<string> {
  const { sql } = await import('kysely');
  const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(store.kysely);
  const schema = rows[0]?.schema;
  if (!schema) throw new Error('no schema');
  return schema;
}
