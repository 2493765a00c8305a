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
  let pglite: PgliteThread;
  if (options.dataDir === undefined) {
    pglite = await PgliteThread.start(undefined, await migratedInMemory());
  } else {
    await mkdir(options.dataDir, { recursive: true });
    pglite = await PgliteThread.start(options.dataDir);
  }
  await migrateOn(pglite);
  const db = new Kysely<Database>({ dialect: new PGliteDialect({ pglite }) });
  return new SqlLedgerStore(db, () => db.destroy(), options);
}

let migratedTemplate: Promise<Blob> | undefined;

/**
 * An empty, migrated database, made once per process: a database in memory starts as a copy
 * of it, in about a seventh of the time that creating and migrating one takes. A process
 * that is handed one made elsewhere (`startInMemoryFrom`) uses that instead; the migrations
 * still run on every copy, so a template that lacks one is brought up to date, and one whose
 * applied migrations differ from the files is refused.
 */
export function migratedInMemory(): Promise<Blob> {
  migratedTemplate ??= (async () => {
    const pglite = await PgliteThread.start(undefined);
    try {
      await migrateOn(pglite);
      return await pglite.dump();
    } finally {
      await pglite.close();
    }
  })().catch((error: unknown) => {
    migratedTemplate = undefined;
    throw error;
  });
  return migratedTemplate;
}

/** Databases in memory start from this dump of a migrated database (see `migratedInMemory`). */
export function startInMemoryFrom(template: Blob): void {
  migratedTemplate = Promise.resolve(template);
}

async function migrateOn(pglite: PgliteThread): Promise<void> {
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
}
