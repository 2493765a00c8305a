import { mkdir } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, PGliteDialect } from 'kysely';
import type { Database } from './database.js';
import { migrate } from './migrator.js';
import { SqlLedgerStore } from './sql-ledger-store.js';
import type { SqlLedgerStoreOptions } from './sql-ledger-store.js';

export interface PgliteStoreOptions extends SqlLedgerStoreOptions {
  /** A directory to keep the database in; absent: in memory, gone when the process ends. */
  readonly dataDir?: string | undefined;
}

const int8Oid = 20;
const dateOid = 1082;

/** The embedded database: PostgreSQL compiled to WebAssembly, inside this process. */
export async function openPgliteStore(options: PgliteStoreOptions = {}): Promise<SqlLedgerStore> {
  if (options.dataDir !== undefined) await mkdir(options.dataDir, { recursive: true });
  const pglite = await PGlite.create(options.dataDir, {
    // Exact money as bigint; business dates as their text, never shifted by a time zone.
    parsers: { [int8Oid]: (value: string) => BigInt(value), [dateOid]: (value: string) => value },
  });
  await migrate((work) =>
    pglite.transaction((tx) =>
      work({
        exec: async (script) => {
          await tx.exec(script);
        },
        query: async <Row>(text: string, params?: readonly unknown[]) =>
          (await tx.query<Row>(text, params ? [...params] : undefined)).rows,
      }),
    ),
  );
  const db = new Kysely<Database>({ dialect: new PGliteDialect({ pglite }) });
  return new SqlLedgerStore(db, () => db.destroy(), options);
}
