import { mkdir } from 'node:fs/promises';
import { Kysely, PGliteDialect } from 'kysely';
import type { Database } from './database.js';
import { migrate } from './migrator.js';
import { PgliteThread } from './pglite-thread.js';
import { SqlLedgerStore } from './sql-ledger-store.js';
import type { SqlLedgerStoreOptions } from './sql-ledger-store.js';

export interface PgliteStoreOptions extends SqlLedgerStoreOptions {
  /** A directory to keep the database in; absent: in memory, gone when the process ends. */
  readonly dataDir?: string | undefined;
}

/** The embedded database: PostgreSQL compiled to WebAssembly, on its own thread of this process. */
export async function openPgliteStore(options: PgliteStoreOptions = {}): Promise<SqlLedgerStore> {
  if (options.dataDir !== undefined) await mkdir(options.dataDir, { recursive: true });
  const pglite = await PgliteThread.start(options.dataDir);
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
