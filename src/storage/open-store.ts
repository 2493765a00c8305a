import { openPgliteStore } from './pglite-store.js';
import { openPostgresStore } from './postgres-store.js';
import type { SqlLedgerStore, SqlLedgerStoreOptions } from './sql-ledger-store.js';

export type AdapterName = 'pglite' | 'postgres';

export interface OpenStoreOptions extends SqlLedgerStoreOptions {
  readonly adapter?: AdapterName;
  /** PostgreSQL server; when set and no adapter is named, PostgreSQL is used. */
  readonly databaseUrl?: string | undefined;
  /** PGlite directory; absent: in memory. */
  readonly dataDir?: string | undefined;
  readonly schema?: string | undefined;
  readonly poolSize?: number;
}

/** PostgreSQL when a server is named, else the embedded PGlite. */
export async function openStore(options: OpenStoreOptions = {}): Promise<SqlLedgerStore> {
  const adapter = options.adapter ?? (options.databaseUrl ? 'postgres' : 'pglite');
  if (adapter === 'pglite') return openPgliteStore(options);
  if (!options.databaseUrl) throw new Error('the postgres adapter needs DATABASE_URL');
  return openPostgresStore({ ...options, connectionString: options.databaseUrl });
}
