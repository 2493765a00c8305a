import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { ProgressBar } from '../cli/progress.js';
import { newId } from '../ids.js';
import type { AccountInput, EntryInput, Id } from '../ledger/index.js';
import { limits } from '../limits.js';
import { openStore } from '../storage/open-store.js';
import type { AdapterName } from '../storage/open-store.js';
import type { SqlLedgerStore } from '../storage/sql-ledger-store.js';
import {
  baselineBatch,
  baselineBatchSize,
  baselinePerTransaction,
  dropBaselineTables,
  kyselyRawDatabase,
  postgresRawDatabase,
} from './baselines.js';
import type { RawDatabase } from './baselines.js';
import { AccountPicker, percentile, Random } from './workload.js';
import type { Skew } from './workload.js';

export interface LedgerBenchOptions {
  readonly adapter: AdapterName;
  readonly databaseUrl?: string | undefined;
  readonly accounts: number;
  readonly transfers: number;
  readonly skew: Skew;
  /** Transfers in flight at once (callers awaiting their result). */
  readonly concurrency: number;
  readonly batchEntriesMax: number;
  readonly baselines: boolean;
  /** Transfers measured for baseline (a), which is slow; default min(transfers, 50,000). */
  readonly baselinePerTxnTransfers?: number;
  readonly baselineConnectionsMax: number;
  readonly seed: number;
  readonly resultsDir: string;
  /** PGlite: keep the database in memory instead of a temporary directory. */
  readonly memory: boolean;
  readonly log: (line: string) => void;
}

export interface LedgerBenchResult {
  adapter: AdapterName;
  skew: Skew;
  accounts: number;
  transfers: number;
  concurrency: number;
  batch_entries_max: number;
  transfers_per_s: number;
  p50_ms: number;
  p99_ms: number;
  baseline_per_txn_per_s: number | null;
  baseline_batch_per_s: number | null;
  /** Baseline (b) on a single connection: no lock waits between its transactions. */
  baseline_batch_one_connection_per_s: number | null;
  custos_vs_batch_one_connection: number | null;
  custos_vs_per_txn: number | null;
  custos_vs_batch: number | null;
  refused: number;
  node: string;
  started_at: string;
}

export const ledgerBenchDefaults = {
  accounts: 10_000,
  transfers: 1_000_000,
  skew: 'uniform' as Skew,
  concurrency: 16_384,
  batchEntriesMax: limits.batchEntriesMax,
  baselineConnectionsMax: 32,
  seed: 42,
};

interface Database {
  store: SqlLedgerStore;
  raw: RawDatabase;
  dispose: () => Promise<void>;
}

async function openBenchDatabase(options: LedgerBenchOptions): Promise<Database> {
  const storeOptions = { batchEntriesMax: options.batchEntriesMax };
  if (options.adapter === 'pglite') {
    const dataDir = options.memory ? undefined : await mkdtemp(join(tmpdir(), 'custos-bench-'));
    const store = await openStore({ ...storeOptions, adapter: 'pglite', dataDir });
    return {
      store,
      raw: kyselyRawDatabase(store.kysely as never),
      dispose: async () => {
        await store.close();
        if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
      },
    };
  }
  const databaseUrl = options.databaseUrl;
  if (!databaseUrl) throw new Error('--adapter postgres needs DATABASE_URL');
  const schema = `bench_${randomBytes(4).toString('hex')}`;
  const store = await openStore({ ...storeOptions, adapter: 'postgres', databaseUrl, schema, poolSize: 4 });
  const connections = Math.max(1, Math.min(options.concurrency, options.baselineConnectionsMax));
  const raw = postgresRawDatabase(databaseUrl, schema, connections);
  return {
    store,
    raw,
    dispose: async () => {
      await store.close();
      await raw.close();
      const client = new pg.Client({ connectionString: databaseUrl });
      await client.connect();
      await client.query(`drop schema ${schema} cascade`);
      await client.end();
    },
  };
}

async function createAccounts(store: SqlLedgerStore, platformId: Id, count: number): Promise<Id[]> {
  const ids: Id[] = [];
  const progress = new ProgressBar('accounts ', count);
  for (let start = 0; start < count; start += limits.accountsPerCallMax) {
    const chunk: AccountInput[] = [];
    for (let i = start; i < Math.min(count, start + limits.accountsPerCallMax); i++) {
      const id = newId();
      ids.push(id);
      chunk.push({ id, code: 'bench', currency: 'CNY', flags: { debitsMustNotExceedCredits: false, creditsMustNotExceedDebits: false } });
    }
    const results = await store.createAccounts(platformId, chunk);
    if (results.some((r) => r.code !== 'created')) throw new Error('could not create bench accounts');
    progress.update(ids.length);
  }
  progress.finish();
  return ids;
}

/** Custos itself: `concurrency` callers each submit one transfer at a time through group commit. */
async function runCustos(store: SqlLedgerStore, options: LedgerBenchOptions) {
  const platformId = newId();
  const accounts = await createAccounts(store, platformId, options.accounts);
  const picker = new AccountPicker(options.accounts, options.skew, new Random(options.seed));
  const latencies = new Float64Array(options.transfers);
  const progress = new ProgressBar('custos   ', options.transfers);
  let issued = 0;
  let done = 0;
  let refused = 0;
  const caller = async (): Promise<void> => {
    while (issued < options.transfers) {
      const index = issued++;
      const [debit, credit] = picker.pair();
      const entry: EntryInput = {
        id: newId(),
        kind: 'posted',
        command: 'bench.transfer',
        postings: [{ debitAccountId: accounts[debit] as Id, creditAccountId: accounts[credit] as Id, amountMinor: 1n }],
      };
      const started = performance.now();
      const result = await store.submit(platformId, entry);
      latencies[index] = performance.now() - started;
      if (result.code !== 'ok') refused++;
      done++;
      progress.update(done);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: Math.min(options.concurrency, options.transfers) }, caller));
  const seconds = (performance.now() - started) / 1000;
  progress.finish();
  const check = await store.verifyChain(platformId);
  if (!check.ok) throw new Error(`hash chain broken after the benchmark: ${check.reason}`);
  latencies.sort();
  return {
    perSecond: options.transfers / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    refused,
  };
}

export async function runLedgerBench(options: LedgerBenchOptions): Promise<LedgerBenchResult> {
  const startedAt = new Date().toISOString();
  const database = await openBenchDatabase(options);
  try {
    options.log(
      `ledger bench: ${options.adapter}, ${options.accounts.toLocaleString('en-US')} accounts, ` +
        `${options.transfers.toLocaleString('en-US')} transfers, skew ${options.skew}, concurrency ${options.concurrency}`,
    );
    const custos = await runCustos(database.store, options);
    options.log(
      `custos: ${Math.round(custos.perSecond).toLocaleString('en-US')} transfers/s, ` +
        `p50 ${custos.p50.toFixed(1)} ms, p99 ${custos.p99.toFixed(1)} ms`,
    );
    let perTxn: number | null = null;
    let batch: number | null = null;
    let batchOne: number | null = null;
    if (options.baselines) {
      const base = { accounts: options.accounts, skew: options.skew, concurrency: options.concurrency, seed: options.seed };
      const perTxnTransfers = options.baselinePerTxnTransfers ?? Math.min(options.transfers, 50_000);
      perTxn = await baselinePerTransaction(
        database.raw,
        { ...base, transfers: perTxnTransfers },
        new ProgressBar('baseline a', perTxnTransfers),
      );
      options.log(`\nbaseline (a) one transfer per transaction: ${Math.round(perTxn).toLocaleString('en-US')} transfers/s`);
      batch = await baselineBatch(
        database.raw,
        { ...base, transfers: options.transfers },
        new ProgressBar('baseline b', options.transfers),
      );
      const batchWorkers = Math.min(database.raw.connections, Math.ceil(options.concurrency / baselineBatchSize));
      options.log(
        `\nbaseline (b) 1000 per transaction, unnest, ${batchWorkers} transaction(s) at once: ${Math.round(batch).toLocaleString('en-US')} transfers/s`,
      );
      if (batchWorkers > 1) {
        batchOne = await baselineBatch(
          database.raw,
          { ...base, concurrency: baselineBatchSize, transfers: options.transfers },
          new ProgressBar('baseline b1', options.transfers),
        );
        options.log(`\nbaseline (b) on one connection: ${Math.round(batchOne).toLocaleString('en-US')} transfers/s`);
      } else {
        batchOne = batch;
      }
      await dropBaselineTables(database.raw);
    }
    const result: LedgerBenchResult = {
      adapter: options.adapter,
      skew: options.skew,
      accounts: options.accounts,
      transfers: options.transfers,
      concurrency: options.concurrency,
      batch_entries_max: options.batchEntriesMax,
      transfers_per_s: Math.round(custos.perSecond),
      p50_ms: round(custos.p50),
      p99_ms: round(custos.p99),
      baseline_per_txn_per_s: perTxn === null ? null : Math.round(perTxn),
      baseline_batch_per_s: batch === null ? null : Math.round(batch),
      custos_vs_per_txn: perTxn === null ? null : round(custos.perSecond / perTxn),
      custos_vs_batch: batch === null ? null : round(custos.perSecond / batch),
      baseline_batch_one_connection_per_s: batchOne === null ? null : Math.round(batchOne),
      custos_vs_batch_one_connection: batchOne === null ? null : round(custos.perSecond / batchOne),
      refused: custos.refused,
      node: process.version,
      started_at: startedAt,
    };
    if (result.custos_vs_per_txn !== null && result.custos_vs_batch !== null) {
      options.log(
        `custos ÷ (a) = ${result.custos_vs_per_txn}×   custos ÷ (b) = ${result.custos_vs_batch}×   ` +
          `custos ÷ (b, one connection) = ${result.custos_vs_batch_one_connection}×`,
      );
    }
    await mkdir(options.resultsDir, { recursive: true });
    const file = join(options.resultsDir, `ledger-${options.adapter}-${options.skew}-${startedAt.replace(/[:.]/g, '-')}.json`);
    await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
    options.log(`results: ${file}`);
    return result;
  } finally {
    await database.dispose();
  }
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
