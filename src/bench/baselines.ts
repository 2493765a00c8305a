import { CompiledQuery } from 'kysely';
import type { Kysely } from 'kysely';
import pg from 'pg';
import { plainArray } from '../storage/pg-array.js';
import type { ProgressBar } from '../cli/progress.js';
import { AccountPicker, Random } from './workload.js';
import type { Skew } from './workload.js';

/**
 * Two raw-PostgreSQL baselines on the same database as Custos, to put its figures in
 * context:
 * (a) one transfer per transaction: insert it and update both balances, the way most
 *     ledgers do it (named prepared statements, balances locked in id order);
 * (b) the batch ceiling: 1000 transfers per transaction with one unnest insert and one
 *     aggregated balance update, with none of Custos's checks, hashing or bookkeeping.
 */
export interface RawConnection {
  query(text: string, values: readonly unknown[], name?: string): Promise<unknown[]>;
}

export interface RawDatabase {
  /** How many connections can work side by side. */
  readonly connections: number;
  withConnection<T>(work: (connection: RawConnection) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export function postgresRawDatabase(connectionString: string, schema: string, connections: number): RawDatabase {
  const pool = new pg.Pool({ connectionString, max: connections, options: `-c search_path=${schema}` });
  return {
    connections,
    async withConnection(work) {
      const client = await pool.connect();
      try {
        return await work({
          query: async (text, values, name) =>
            (await client.query(name === undefined ? { text, values: [...values] } : { name, text, values: [...values] }))
              .rows,
        });
      } finally {
        client.release();
      }
    },
    close: () => pool.end(),
  };
}

/** PGlite is one session: the baselines run on one connection. */
export function kyselyRawDatabase(db: Kysely<unknown>): RawDatabase {
  return {
    connections: 1,
    withConnection: (work) =>
      db.connection().execute((connection) =>
        work({
          query: async (text, values) => (await connection.executeQuery(CompiledQuery.raw(text, [...values]))).rows,
        }),
      ),
    close: async () => {},
  };
}

export interface BaselineOptions {
  readonly accounts: number;
  readonly transfers: number;
  readonly skew: Skew;
  readonly concurrency: number;
  readonly seed: number;
}

async function prepareTables(db: RawDatabase, accounts: number): Promise<void> {
  await db.withConnection(async (c) => {
    await c.query('drop table if exists bench_baseline_transfers', []);
    await c.query('drop table if exists bench_baseline_accounts', []);
    await c.query(
      'create table bench_baseline_accounts (id bigint primary key, balance bigint not null default 0) with (fillfactor = 70)',
      [],
    );
    await c.query(
      `create table bench_baseline_transfers (id bigserial primary key, debit_account_id bigint not null,
         credit_account_id bigint not null, amount bigint not null, created_at timestamptz not null default now())`,
      [],
    );
    await c.query('insert into bench_baseline_accounts (id) select generate_series(0, $1::int - 1)', [accounts]);
  });
}

async function runWorkers(db: RawDatabase, concurrency: number, work: (c: RawConnection) => Promise<void>): Promise<void> {
  const workers = Math.max(1, Math.min(concurrency, db.connections));
  await Promise.all(Array.from({ length: workers }, () => db.withConnection(work)));
}

/** Baseline (a): transfers per second with one database transaction per transfer. */
export async function baselinePerTransaction(db: RawDatabase, options: BaselineOptions, progress?: ProgressBar): Promise<number> {
  await prepareTables(db, options.accounts);
  const picker = new AccountPicker(options.accounts, options.skew, new Random(options.seed));
  let issued = 0;
  const started = performance.now();
  await runWorkers(db, options.concurrency, async (c) => {
    while (issued < options.transfers) {
      issued++;
      const [debit, credit] = picker.pair();
      // Both balances, locked in id order so that concurrent transfers cannot deadlock.
      const [firstId, firstDelta, secondId, secondDelta] = debit < credit ? [debit, -1, credit, 1] : [credit, 1, debit, -1];
      await c.query('begin', []);
      await c.query(
        'insert into bench_baseline_transfers (debit_account_id, credit_account_id, amount) values ($1, $2, $3)',
        [debit, credit, 1],
        'baseline_a_insert',
      );
      await c.query('update bench_baseline_accounts set balance = balance + $2 where id = $1', [firstId, firstDelta], 'baseline_a_update');
      await c.query('update bench_baseline_accounts set balance = balance + $2 where id = $1', [secondId, secondDelta], 'baseline_a_update');
      await c.query('commit', []);
      progress?.update(issued);
    }
  });
  return options.transfers / ((performance.now() - started) / 1000);
}

/** Transfers per transaction in baseline (b). */
export const baselineBatchSize = 1000;

/**
 * Baseline (b): transfers per second at 1000 transfers per transaction. `concurrency` counts
 * transfers in flight, as for Custos: concurrency / 1000 transactions run side by side.
 */
export async function baselineBatch(db: RawDatabase, options: BaselineOptions, progress?: ProgressBar): Promise<number> {
  await prepareTables(db, options.accounts);
  const picker = new AccountPicker(options.accounts, options.skew, new Random(options.seed));
  const chunk = baselineBatchSize;
  let issued = 0;
  const started = performance.now();
  await runWorkers(db, Math.ceil(options.concurrency / chunk), async (c) => {
    while (issued < options.transfers) {
      const size = Math.min(chunk, options.transfers - issued);
      issued += size;
      const debits: number[] = [];
      const credits: number[] = [];
      const delta = new Map<number, number>();
      for (let i = 0; i < size; i++) {
        const [debit, credit] = picker.pair();
        debits.push(debit);
        credits.push(credit);
        delta.set(debit, (delta.get(debit) ?? 0) - 1);
        delta.set(credit, (delta.get(credit) ?? 0) + 1);
      }
      const ids = [...delta.keys()].sort((x, y) => x - y);
      await c.query('begin', []);
      await c.query('select id from bench_baseline_accounts where id = any($1::int8[]) order by id for update', [plainArray(ids)], 'baseline_b_lock');
      await c.query(
        `insert into bench_baseline_transfers (debit_account_id, credit_account_id, amount)
         select d, c, 1 from unnest($1::int8[], $2::int8[]) as u(d, c)`,
        [plainArray(debits), plainArray(credits)],
        'baseline_b_insert',
      );
      await c.query(
        `update bench_baseline_accounts a set balance = a.balance + u.delta
         from unnest($1::int8[], $2::int8[]) as u(id, delta) where a.id = u.id`,
        [plainArray(ids), plainArray(ids.map((id) => delta.get(id) ?? 0))],
        'baseline_b_update',
      );
      await c.query('commit', []);
      progress?.update(issued);
    }
  });
  return options.transfers / ((performance.now() - started) / 1000);
}

export async function dropBaselineTables(db: RawDatabase): Promise<void> {
  await db.withConnection(async (c) => {
    await c.query('drop table if exists bench_baseline_transfers', []);
    await c.query('drop table if exists bench_baseline_accounts', []);
  });
}
