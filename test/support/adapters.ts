import pg from 'pg';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { inject } from 'vitest';
import { openStore } from '../../src/storage/open-store.js';
import { startInMemoryFrom } from '../../src/storage/pglite-store.js';
import type { AdapterName } from '../../src/storage/open-store.js';
import type { SqlLedgerStore, SqlLedgerStoreOptions } from '../../src/storage/sql-ledger-store.js';

/**
 * The adapters the suites run on: PGlite by default; PostgreSQL when DATABASE_URL is set
 * (the README's test command, run twice by CI). CUSTOS_TEST_ADAPTERS=pglite,postgres runs both.
 */
export const databaseUrl = process.env.DATABASE_URL;

export const ADAPTERS: AdapterName[] = (() => {
  const named = process.env.CUSTOS_TEST_ADAPTERS;
  if (named) return named.split(',').map((name) => name.trim() as AdapterName);
  return databaseUrl ? ['postgres'] : ['pglite'];
})();

export interface TestStore {
  readonly store: SqlLedgerStore;
  /** Opens another store on the same database (PostgreSQL only: a second "process"). */
  readonly reopen: (options?: SqlLedgerStoreOptions) => Promise<SqlLedgerStore>;
  readonly dispose: () => Promise<void>;
}

let sharedTemplate: Promise<void> | undefined;

/** Databases in memory start from the run's migrated template (global-setup.ts), if there is one. */
export function useSharedTemplate(): Promise<void> {
  sharedTemplate ??= (async () => {
    const file = inject('pgliteTemplate');
    if (file) startInMemoryFrom(new Blob([await readFile(file)]));
  })();
  return sharedTemplate;
}

/** A fresh, migrated database for one suite: PGlite in memory, or a new PostgreSQL schema. */
export async function openTestStore(adapter: AdapterName, options: SqlLedgerStoreOptions = {}): Promise<TestStore> {
  if (adapter === 'pglite') {
    await useSharedTemplate();
    const store = await openStore({ ...options, adapter });
    return {
      store,
      reopen: () => Promise.reject(new Error('PGlite is one process')),
      dispose: () => store.close(),
    };
  }
  if (!databaseUrl) throw new Error('the postgres adapter needs DATABASE_URL');
  const schema = `test_${randomBytes(6).toString('hex')}`;
  const open = (more: SqlLedgerStoreOptions = {}) =>
    openStore({ ...options, ...more, adapter, databaseUrl, schema });
  const store = await open();
  const extra: SqlLedgerStore[] = [];
  return {
    store,
    reopen: async (more) => {
      const other = await open(more);
      extra.push(other);
      return other;
    },
    dispose: async () => {
      for (const other of extra) await other.close();
      await store.close();
      const client = new pg.Client({ connectionString: databaseUrl });
      await client.connect();
      await client.query(`drop schema ${schema} cascade`);
      await client.end();
    },
  };
}
