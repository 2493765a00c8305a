import { parseArgs } from 'node:util';
import { ledgerBenchDefaults, runLedgerBench } from '../bench/ledger-bench.js';
import type { Skew } from '../bench/workload.js';
import { limits } from '../limits.js';
import type { AdapterName } from '../storage/open-store.js';

const help = `custos bench ledger [options]

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
  --out DIR                   where the JSON result goes             [bench/results]`;

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
      help: { type: 'boolean' },
    },
  });
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
