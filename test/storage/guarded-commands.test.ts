import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/ids.js';
import type { BookCommand, Id } from '../../src/ledger/index.js';
import type { SqlLedgerStore } from '../../src/storage/sql-ledger-store.js';
import { ADAPTERS, openTestStore } from '../support/adapters.js';
import type { TestStore } from '../support/adapters.js';
import { accountInput, free, owed, transfer } from '../support/fixtures.js';

/** Business rows that commit with their money movement, under the book's lock, or not at all. */
for (const adapter of ADAPTERS) {
  describe(`guarded commands (${adapter})`, () => {
    let t: TestStore;
    let store: SqlLedgerStore;
    let platformId: Id;
    let source: Id;
    let member: Id;

    beforeAll(async () => {
      t = await openTestStore(adapter, { guardedTables: ['test_widgets'] });
      store = t.store;
      await sql`create table test_widgets (platform_id uuid not null, id uuid not null, version integer not null,
        amount bigint not null, note text, primary key (platform_id, id))`.execute(store.kysely);
      platformId = newId();
      const a = accountInput('channel_in_transit', free);
      const b = accountInput('member_spendable', owed);
      await store.createAccounts(platformId, [a, b]);
      source = a.id;
      member = b.id;
    });
    afterAll(async () => {
      await t.dispose();
    });

    async function widget(id: Id): Promise<{ version: number; amount: bigint; note: string | null } | undefined> {
      const { rows } = await sql<{ version: number; amount: bigint; note: string | null }>`
        select version, amount, note from test_widgets where platform_id = ${platformId}::uuid and id = ${id}::uuid`.execute(store.kysely);
      return rows[0];
    }

    const row = (id: Id, version: number, amount: bigint, note: string | null = null) => ({
      platform_id: platformId,
      id,
      version,
      amount,
      note,
    });

    it('writes the row and moves the money together', async () => {
      const id = newId();
      const command: BookCommand = {
        entry: transfer(source, member, 500n),
        guards: [{ table: 'test_widgets', id, version: null }],
        writes: [{ table: 'test_widgets', mode: 'insert', row: row(id, 1, 500n, 'it\'s "quoted"') }],
      };
      const result = await store.execute(platformId, command);
      expect(result).toMatchObject({ code: 'ok', entry: { code: 'ok' } });
      expect(await widget(id)).toEqual({ version: 1, amount: 500n, note: 'it\'s "quoted"' });
      // The same command again: the row exists now, so nothing happens.
      const again = await store.execute(platformId, { ...command, entry: transfer(source, member, 500n) });
      expect(again).toEqual({ code: 'state_changed' });
      const [account] = await store.getAccounts(platformId, [member]);
      expect(account?.creditsPostedMinor).toBe(500n);
    });

    it('writes nothing when the entry is refused', async () => {
      const id = newId();
      const result = await store.execute(platformId, {
        entry: transfer(member, source, 1_000_000n),
        guards: [{ table: 'test_widgets', id, version: null }],
        writes: [{ table: 'test_widgets', mode: 'insert', row: row(id, 1, 1n) }],
      });
      expect(result.code).toBe('exceeds_credits');
      expect(await widget(id)).toBeUndefined();
    });

    it('lets one of two commands that read the same version win, in one batch or in two', async () => {
      const id = newId();
      await store.execute(platformId, { guards: [{ table: 'test_widgets', id, version: null }], writes: [{ table: 'test_widgets', mode: 'insert', row: row(id, 1, 10n) }] });
      const update = (amount: bigint): BookCommand => ({
        entry: transfer(source, member, amount),
        guards: [{ table: 'test_widgets', id, version: 1 }],
        writes: [{ table: 'test_widgets', mode: 'update', row: row(id, 2, amount) }],
      });
      const [first, second] = await Promise.all([store.execute(platformId, update(11n)), store.execute(platformId, update(12n))]);
      expect([first?.code, second?.code]).toEqual(['ok', 'state_changed']);
      expect(await widget(id)).toEqual({ version: 2, amount: 11n, note: null });
      const later = await store.execute(platformId, update(13n));
      expect(later.code).toBe('state_changed');
      const next = await store.execute(platformId, {
        guards: [{ table: 'test_widgets', id, version: 2 }],
        writes: [{ table: 'test_widgets', mode: 'update', row: row(id, 3, 14n, 'third') }],
      });
      expect(next).toEqual({ code: 'ok', entry: undefined });
      expect(await widget(id)).toEqual({ version: 3, amount: 14n, note: 'third' });
    });

    it('sets columns on many guarded rows in one go, each to its next version, or on none', async () => {
      const ids = [newId(), newId(), newId()];
      for (const id of ids) {
        await store.execute(platformId, { guards: [{ table: 'test_widgets', id, version: null }], writes: [{ table: 'test_widgets', mode: 'insert', row: row(id, 1, 5n) }] });
      }
      const [a, b, c] = ids as [Id, Id, Id];
      await store.execute(platformId, { guards: [{ table: 'test_widgets', id: b, version: 1 }], writes: [{ table: 'test_widgets', mode: 'update', row: row(b, 2, 6n) }] });
      const setAll = (versions: number[], note: string): BookCommand => ({
        entry: transfer(source, member, 1n),
        guards: ids.map((id, i) => ({ table: 'test_widgets', id, version: versions[i] ?? 0 })),
        writes: [{ table: 'test_widgets', mode: 'set', ids, versions: ids.map((_, i) => versions[i] ?? 0), changes: { note } }],
      });
      // One row moved on since it was read: nothing is set and no money moves.
      const before = (await store.getAccounts(platformId, [member]))[0]?.creditsPostedMinor;
      expect(await store.execute(platformId, setAll([1, 1, 1], 'stale'))).toEqual({ code: 'state_changed' });
      expect((await store.getAccounts(platformId, [member]))[0]?.creditsPostedMinor).toBe(before);
      expect((await widget(a))?.note).toBeNull();
      // Read at their versions, every row takes the note and its next version; amounts stay.
      expect((await store.execute(platformId, setAll([1, 2, 1], 'set'))).code).toBe('ok');
      expect([await widget(a), await widget(b), await widget(c)]).toEqual([
        { version: 2, amount: 5n, note: 'set' },
        { version: 3, amount: 6n, note: 'set' },
        { version: 2, amount: 5n, note: 'set' },
      ]);
      expect((await store.getAccounts(platformId, [member]))[0]?.creditsPostedMinor).toBe((before ?? 0n) + 1n);
      // Two commands setting the same rows in one batch: the first wins, the second read a version gone.
      const [first, second] = await Promise.all([store.execute(platformId, setAll([2, 3, 2], 'first')), store.execute(platformId, setAll([2, 3, 2], 'second'))]);
      expect([first?.code, second?.code]).toEqual(['ok', 'state_changed']);
      expect(await widget(c)).toEqual({ version: 3, amount: 5n, note: 'first' });
    });

    it('refuses to set the columns that identify and version a row', async () => {
      const id = newId();
      await store.execute(platformId, { guards: [{ table: 'test_widgets', id, version: null }], writes: [{ table: 'test_widgets', mode: 'insert', row: row(id, 1, 5n) }] });
      await expect(
        store.execute(platformId, { guards: [{ table: 'test_widgets', id, version: 1 }], writes: [{ table: 'test_widgets', mode: 'set', ids: [id], versions: [1], changes: { version: 9 } }] }),
      ).rejects.toThrow(/cannot set test_widgets.version/);
      expect(await widget(id)).toEqual({ version: 1, amount: 5n, note: null });
    });

    it('checks each set row\'s version again in the statement, and writes nothing when one differs', async () => {
      const id = newId();
      await store.execute(platformId, { guards: [{ table: 'test_widgets', id, version: null }], writes: [{ table: 'test_widgets', mode: 'insert', row: row(id, 1, 5n) }] });
      const before = (await store.getAccounts(platformId, [member]))[0]?.creditsPostedMinor;
      // The guard holds (version 1), but the set names another version: as if the row had
      // changed between the read and the write, by a writer outside the book's lock.
      await expect(
        store.execute(platformId, {
          entry: transfer(source, member, 1n),
          guards: [{ table: 'test_widgets', id, version: 1 }],
          writes: [{ table: 'test_widgets', mode: 'set', ids: [id], versions: [7], changes: { note: 'x' } }],
        }),
      ).rejects.toThrow(/updating test_widgets: 0 of 1 rows found/);
      expect(await widget(id)).toEqual({ version: 1, amount: 5n, note: null });
      expect((await store.getAccounts(platformId, [member]))[0]?.creditsPostedMinor).toBe(before);
    });

    it('reads, updates and sets long lists of rows (planned by their key) exactly as short ones', async () => {
      const ids = Array.from({ length: 150 }, () => newId());
      await store.execute(platformId, {
        guards: ids.map((id) => ({ table: 'test_widgets', id, version: null })),
        writes: ids.map((id) => ({ table: 'test_widgets', mode: 'insert' as const, row: row(id, 1, 7n) })),
      });
      const updated = ids.slice(0, 100);
      expect(
        await store.execute(platformId, {
          guards: updated.map((id) => ({ table: 'test_widgets', id, version: 1 })),
          writes: updated.map((id) => ({ table: 'test_widgets', mode: 'update' as const, row: row(id, 2, 8n, 'updated') })),
        }),
      ).toEqual({ code: 'ok', entry: undefined });
      const versions = ids.map((_, i) => (i < 100 ? 2 : 1));
      const setAll = (read: number[], note: string): BookCommand => ({
        entry: transfer(source, member, 1n),
        guards: ids.map((id, i) => ({ table: 'test_widgets', id, version: read[i] ?? 0 })),
        writes: [{ table: 'test_widgets', mode: 'set', ids, versions: ids.map((_, i) => read[i] ?? 0), changes: { note } }],
      });
      // The last row read at a version it no longer has: none of the 150 is set.
      expect(await store.execute(platformId, setAll([...versions.slice(0, 149), 9], 'stale'))).toEqual({ code: 'state_changed' });
      expect(await widget(ids[0]!)).toEqual({ version: 2, amount: 8n, note: 'updated' });
      expect((await store.execute(platformId, setAll(versions, 'all'))).code).toBe('ok');
      expect(await widget(ids[0]!)).toEqual({ version: 3, amount: 8n, note: 'all' });
      expect(await widget(ids[149]!)).toEqual({ version: 2, amount: 7n, note: 'all' });
      // A long set whose statement finds one row at another version writes nothing.
      const next = ids.map((_, i) => (i < 100 ? 3 : 2));
      await expect(
        store.execute(platformId, {
          entry: transfer(source, member, 1n),
          guards: ids.map((id, i) => ({ table: 'test_widgets', id, version: next[i] ?? 0 })),
          writes: [{ table: 'test_widgets', mode: 'set', ids, versions: next.map((v, i) => (i === 120 ? 7 : v)), changes: { note: 'x' } }],
        }),
      ).rejects.toThrow(/updating test_widgets: 149 of 150 rows found/);
      expect(await widget(ids[0]!)).toEqual({ version: 3, amount: 8n, note: 'all' });
    });

    it('takes the versions of rows it only sets from the commands, and decides again on versions read when one was wrong', async () => {
      const ids = [newId(), newId()];
      await store.execute(platformId, {
        guards: ids.map((id) => ({ table: 'test_widgets', id, version: null })),
        writes: ids.map((id) => ({ table: 'test_widgets', mode: 'insert' as const, row: row(id, 1, 3n) })),
      });
      const setAt = (versions: number[], note: string, entry = transfer(source, member, 1n)): BookCommand => ({
        entry,
        guards: ids.map((id, i) => ({ table: 'test_widgets', id, version: versions[i] ?? 0 })),
        writes: [{ table: 'test_widgets', mode: 'set', ids, versions: ids.map((_, i) => versions[i] ?? 0), changes: { note } }],
      });
      const redecided = (): number => store.stats.batchesRedecided;
      // Right versions: written on the versions given, without deciding again.
      let before = redecided();
      expect((await store.execute(platformId, setAt([1, 1], 'first'))).code).toBe('ok');
      expect(redecided()).toBe(before);
      expect(await widget(ids[1]!)).toEqual({ version: 2, amount: 3n, note: 'first' });
      // A wrong version fails the set statement; decided again on versions read, the command
      // is refused as stale and nothing of it is written.
      const credits = (await store.getAccounts(platformId, [member]))[0]?.creditsPostedMinor;
      before = redecided();
      expect(await store.execute(platformId, setAt([2, 1], 'stale'))).toEqual({ code: 'state_changed' });
      expect(redecided()).toBe(before + 1);
      expect(await widget(ids[0]!)).toEqual({ version: 2, amount: 3n, note: 'first' });
      expect((await store.getAccounts(platformId, [member]))[0]?.creditsPostedMinor).toBe(credits);
      // A refused command never answers on versions it did not read: stale rows answer
      // state_changed as they would have, right ones the entry's own refusal.
      const unknown = transfer(newId(), member, 1n);
      expect(await store.execute(platformId, setAt([2, 1], 'x', unknown))).toEqual({ code: 'state_changed' });
      expect(await store.execute(platformId, setAt([2, 2], 'x', unknown))).toMatchObject({ code: 'debit_account_not_found' });
      expect(await widget(ids[0]!)).toEqual({ version: 2, amount: 3n, note: 'first' });
    });

    it('refuses tables it was not given', async () => {
      await expect(
        store.execute(platformId, { guards: [{ table: 'ledger_entries', id: newId(), version: null }] }),
      ).rejects.toThrow(/not writable/);
    });
  });
}
