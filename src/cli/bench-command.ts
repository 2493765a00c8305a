import { parseArgs } from 'node:util';
import { eodBenchDefaults, runEodBench } from '../bench/eod-bench.js';
import { ledgerBenchDefaults, runLedgerBench } from '../bench/ledger-bench.js';
import type { Skew } from '../bench/workload.js';
import { limits } from '../limits.js';
import type { AdapterName } from '../storage/open-store.js';

const help = `custos bench ledger [options]
custos bench eod [--members N] [--entries N] [--statement-lines N] [--concurrency N] [--keep]
                [--build-only | --close SCHEMA]

  --adapter pglite|postgres   database (postgres uses DATABASE_URL)  [pglite, or postgres when DATABASE_URL is set]
  --accounts N                accounts                               [${ledgerBenchDefaults.accounts}]
  --transfers N               transfers                              [${ledgerBenchDefaults.transfers}]
  --skew uniform|hot|zipf     account choice; hot: every transfer touches one account  [uniform]
  --concurrency N             transfers in flight                    [${ledgerBenchDefaults.concurrency}]
  --batch-max N               entries per group commit (≤ ${limits.batchEntriesMax})   [${ledgerBenchDefaults.batchEntriesMax}]
  --baseline-txn-transfers N  transfers measured for baseline (a)    [min(transfers, 50000)]
  --no-baselines              skip the raw PostgreSQL baselines
  --memory                    PGlite in memory instead of a temporary directory
  --seed N                    workload seed                          [${ledgerBenchDefaults.seed}]
  --out DIR                   where the JSON result goes             [bench/results]

  bench eod builds one business day on PostgreSQL (DATABASE_URL; PGlite without it) through
  the services, members [${eodBenchDefaults.members}] and entries [${eodBenchDefaults.entries}], then times its end of day
  (target 60 s), the reading of its files, and the import of a bank statement of
  --statement-lines lines [${eodBenchDefaults.statementLines}; 0 skips it] with its peak memory. --keep leaves the schema for a look.
  --build-only builds the day and keeps its schema unclosed; --close SCHEMA (same --members and
  --entries) closes a copy of it (createdb -T), to time the close again without building again.`;

function positive(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  const number = Number(value.replace(/_/g, ''));
  if (!Number.isSafeInteger(number) || number < 1) throw new Error(`--${name} must be a positive integer`);
  return number;
}

export async function benchCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      adapter: { type: 'string' },
      accounts: { type: 'string' },
      transfers: { type: 'string' },
      skew: { type: 'string' },
      concurrency: { type: 'string' },
      'batch-max': { type: 'string' },
      'baseline-txn-transfers': { type: 'string' },
      'no-baselines': { type: 'boolean' },
      memory: { type: 'boolean' },
      seed: { type: 'string' },
      out: { type: 'string' },
      members: { type: 'string' },
      entries: { type: 'string' },
      'statement-lines': { type: 'string' },
      keep: { type: 'boolean' },
      'build-only': { type: 'boolean' },
      close: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (!values.help && positionals[0] === 'eod') {
    await runEodBench({
      databaseUrl: process.env.DATABASE_URL || undefined,
      members: positive(values.members, eodBenchDefaults.members, 'members'),
      entries: positive(values.entries, eodBenchDefaults.entries, 'entries'),
      concurrency: positive(values.concurrency, eodBenchDefaults.concurrency, 'concurrency'),
      statementLines: values['statement-lines'] === '0' ? 0 : positive(values['statement-lines'], eodBenchDefaults.statementLines, 'statement-lines'),
      seed: positive(values.seed, eodBenchDefaults.seed, 'seed'),
      resultsDir: values.out ?? 'bench/results',
      keep: values.keep ?? false,
      buildOnly: values['build-only'] ?? false,
      closeSchema: values.close,
      log: (line) => console.log(line),
    });
    return 0;
  }
  if (values.help || positionals[0] !== 'ledger') {
    console.log(help);
    return values.help ? 0 : 2;
  }
  const databaseUrl = process.env.DATABASE_URL;
  const adapter = (values.adapter ?? (databaseUrl ? 'postgres' : 'pglite')) as AdapterName;
  if (adapter !== 'pglite' && adapter !== 'postgres') throw new Error('--adapter is pglite or postgres');
  const skew = (values.skew ?? 'uniform') as Skew;
  if (!['uniform', 'hot', 'zipf'].includes(skew)) throw new Error('--skew is uniform, hot or zipf');
  const batchEntriesMax = positive(values['batch-max'], ledgerBenchDefaults.batchEntriesMax, 'batch-max');
  if (batchEntriesMax > limits.batchEntriesMax) throw new Error(`--batch-max is at most ${limits.batchEntriesMax}`);
  await runLedgerBench({
    adapter,
    databaseUrl,
    accounts: positive(values.accounts, ledgerBenchDefaults.accounts, 'accounts'),
    transfers: positive(values.transfers, ledgerBenchDefaults.transfers, 'transfers'),
    skew,
    concurrency: positive(values.concurrency, ledgerBenchDefaults.concurrency, 'concurrency'),
    batchEntriesMax,
    baselines: !values['no-baselines'],
    baselinePerTxnTransfers:
      values['baseline-txn-transfers'] === undefined ? undefined : positive(values['baseline-txn-transfers'], 1, 'baseline-txn-transfers'),
    baselineConnectionsMax: ledgerBenchDefaults.baselineConnectionsMax,
    seed: positive(values.seed, ledgerBenchDefaults.seed, 'seed'),
    resultsDir: values.out ?? 'bench/results',
    memory: values.memory ?? false,
    log: (line) => console.log(line),
  });
  return 0;
}
