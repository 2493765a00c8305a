import pg from 'pg';
import { Kysely, PostgresDialect } from 'kysely';
import type { Database } from './database.js';
import { migrate } from './migrator.js';
import { binaryArrays } from './pg-binary-array.js';
import { SqlLedgerStore } from './sql-ledger-store.js';
import type { SqlLedgerStoreOptions } from './sql-ledger-store.js';

export interface PostgresStoreOptions extends SqlLedgerStoreOptions {
  readonly connectionString: string;
  /** Connections in the pool: books write side by side, one batch per book at a time. */
  readonly poolSize?: number;
  /** A schema to keep the tables in (created if absent); default: the server's search path. */
  readonly schema?: string | undefined;
}

const int8Oid = 20;
const dateOid = 1082;

/**
 * int8 as bigint (exact money), date as its `YYYY-MM-DD` text (a business date is not an
 * instant, and a Date object would shift it by the process's time zone); the rest as pg does.
 */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === int8Oid
      ? (value: string) => BigInt(value)
      : oid === dateOid
        ? (value: string) => value
        : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

export function createPostgresPool(options: PostgresStoreOptions): pg.Pool {
  if (options.schema !== undefined && !/^[a-z_][a-z0-9_]*$/.test(options.schema)) throw new Error('bad schema name');
  return new pg.Pool({
    connectionString: options.connectionString,
    max: options.poolSize ?? 10,
    types,
    ...(options.schema === undefined ? {} : { options: `-c search_path=${options.schema}` }),
  });
}

/** PostgreSQL through a `pg` pool: the system of record for production. */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<SqlLedgerStore> {
  const pool = createPostgresPool(options);
  try {
    if (options.schema !== undefined) await pool.query(`create schema if not exists ${options.schema}`);
    await migrate(async (work) => {
      const client = await pool.connect();
      try {
        await client.query('begin');
        const result = await work({
          exec: async (script) => {
            await client.query(script);
          },
          query: async <Row>(text: string, params?: readonly unknown[]) =>
            (await client.query(text, params ? [...params] : undefined)).rows as Row[],
        });
        await client.query('commit');
        return result;
      } catch (error) {
        await client.query('rollback');
        throw error;
      } finally {
        client.release();
      }
    });
  } catch (error) {
    await pool.end();
    throw error;
  }
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return new SqlLedgerStore(db, () => db.destroy(), { ...options, arrays: binaryArrays });
}
