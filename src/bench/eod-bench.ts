import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { addDays, businessDate, startOfBusinessDate } from '../business-date.js';
import { ProgressBar } from '../cli/progress.js';
import type { Clock } from '../clock.js';
import { bankStatementHeader } from '../channels/payout/payout-simulator.js';
import { creditCodeCheckCharacter, residentIdCheckCharacter } from '../custody/identity-validators.js';
import { textLines } from '../custody/statement-csv.js';
import type { Id } from '../ledger/index.js';
import { createRuntime } from '../runtime.js';
import type { Runtime } from '../runtime.js';
import { Random } from './workload.js';

export interface EodBenchOptions {
  readonly databaseUrl: string | undefined;
  readonly members: number;
  /** Journal entries booked on the day that is closed. */
  readonly entries: number;
  readonly concurrency: number;
  /** Lines of the bank statement imported after the close (0: none). */
  readonly statementLines: number;
  readonly seed: number;
  readonly resultsDir: string;
  readonly keep: boolean;
  /** Build the day and keep its schema without closing it, to time the close on copies. */
  readonly buildOnly: boolean;
  /** Close the day kept by an earlier `buildOnly` run in this schema instead of building one. */
  readonly closeSchema: string | undefined;
  readonly log: (line: string) => void;
}

export const eodBenchDefaults = { members: 100_000, entries: 1_000_000, concurrency: 256, statementLines: 1_000_000, seed: 1 } as const;

/** 2024-03-05 00:05 in Shanghai: the whole build falls on one business date. */
const dayStartsMs = Date.UTC(2024, 2, 4, 16, 5);

/**
 * Builds a platform's busy day through the services (members opened, buyers funded by bank
 * credits, T+1 orders paying sellers' pending proceeds, a fee on each), then closes it and
 * measures the close: settlement, the T+1 conversion of every seller, the invariants, the
 * day's balances; and the reading of its files.
 */
export async function runEodBench(options: EodBenchOptions): Promise<Record<string, unknown>> {
  if ((options.buildOnly || options.closeSchema !== undefined) && options.databaseUrl === undefined) {
    throw new Error('--build-only and --close keep the day in a PostgreSQL schema: set DATABASE_URL');
  }
  const schema = options.closeSchema ?? (options.databaseUrl === undefined ? undefined : `bench_eod_${randomBytes(4).toString('hex')}`);
  const realStart = Date.now();
  const wall: Clock = { nowMs: () => dayStartsMs + (Date.now() - realStart) };
  const runtime = await createRuntime({
    sandbox: true,
    databaseUrl: options.databaseUrl,
    schema,
    adminToken: `cot_bench_${randomBytes(16).toString('hex')}`,
    encryptionKey: randomBytes(32).toString('hex'),
    wallClock: wall,
    log: {
      warn: () => undefined,
      info: (fields, message) => {
        if (message === 'day closed') options.log(`  phases: ${Object.entries(fields).filter(([k]) => k.endsWith('Ms')).map(([k, v]) => `${k.slice(0, -2)} ${String(v)} ms`).join(', ')}`);
      },
    },
    // The day is closed by the bench, not by the scheduler.
    eodCutoffMinutes: 23 * 60 + 59,
  });
  try {
    const built = options.closeSchema === undefined ? await build(runtime, options) : await builtBefore(runtime, options);
    if (options.buildOnly) {
      options.log(`kept schema ${schema ?? ''}: copy its database and run with --close ${schema ?? ''} to time the close`);
      return { bench: 'eod', schema, ...built };
    }
    return await closeAndMeasure(runtime, options, built);
  } finally {
    await runtime.close();
    if (schema !== undefined && !options.keep && !options.buildOnly && options.closeSchema === undefined) {
      const client = new pg.Client({ connectionString: options.databaseUrl });
      await client.connect();
      await client.query(`drop schema ${schema} cascade`);
      await client.end();
    }
  }
}

interface BuiltDay {
  readonly platformId: Id;
  readonly day: string;
  readonly buildSeconds: number;
  /** Bank credits of the build (one per buyer) and the amount of each. */
  readonly credits: number;
  readonly perBuyer: bigint;
}

/** How many bank credits the build books, and for how much each: one per buyer. */
function creditPlan(options: EodBenchOptions): { credits: number; perBuyer: bigint } {
  const buyers = Math.ceil(options.members / 2);
  const credits = Math.min(buyers, options.entries);
  const orders = options.entries - credits;
  return { credits, perBuyer: BigInt(Math.ceil(orders / Math.max(1, buyers)) + 1) * 10_000n };
}

/** The day a `--build-only` run left: its one platform, and the business date of its head. */
async function builtBefore(runtime: Runtime, options: EodBenchOptions): Promise<BuiltDay> {
  const [platform] = await runtime.platforms.list({ limit: 1 });
  if (platform === undefined) throw new Error(`schema ${options.closeSchema ?? ''} holds no built day`);
  const head = await runtime.ledger.head(platform.id);
  if (head === undefined) throw new Error(`schema ${options.closeSchema ?? ''} holds no journal`);
  const day = businessDate(head.lastOccurredAtMs);
  options.log(`platform ${platform.id}, business date ${day}, ${head.seq} entries built before`);
  return { platformId: platform.id, day, buildSeconds: 0, ...creditPlan(options) };
}

async function build(runtime: Runtime, options: EodBenchOptions): Promise<BuiltDay> {
  const log = options.log;
  const random = new Random(options.seed);
  const { platform } = await runtime.platforms.sign({ name: 'EOD bench' });
  const day = businessDate(runtime.clock.nowMs());
  log(`platform ${platform.id}, business date ${day}, ${options.members.toLocaleString('en-US')} members, ${options.entries.toLocaleString('en-US')} entries`);

  const buildStarted = Date.now();
  const members: { id: Id; subAccountNo: string }[] = new Array(options.members);
  await inParallel(options.members, Math.min(64, options.concurrency), new ProgressBar('members', options.members), async (i) => {
    const view = await runtime.members.open(platform.id, memberInput(i));
    members[i] = { id: view.id, subAccountNo: view.subAccountNo };
  });

  // Half the members buy, half sell; each buyer is funded by one bank credit (one entry).
  const buyers = members.slice(0, Math.ceil(options.members / 2));
  const sellers = members.slice(buyers.length);
  const { credits, perBuyer } = creditPlan(options);
  const orders = options.entries - credits;
  await inParallel(credits, options.concurrency, new ProgressBar('credits', credits), async (i) => {
    const buyer = buyers[i] as { subAccountNo: string };
    await runtime.suspense.recordBankCredit(
      platform.id,
      { amountMinor: perBuyer, payerAccount: '6222020200112233', payerName: 'bench', memo: buyer.subAccountNo, bankTxnId: creditTxnId(i) },
      'bench',
    );
  });
  const amounts = Array.from({ length: orders }, () => BigInt(100 + random.int(9_900)));
  await inParallel(orders, options.concurrency, new ProgressBar('orders', orders), async (i) => {
    // Buyers in turn, so no buyer has two orders in flight (they would only retry each other).
    const buyer = buyers[i % buyers.length] as { id: Id };
    const seller = sellers[random.int(sellers.length)] as { id: Id };
    const amountMinor = amounts[i] as bigint;
    await runtime.orders.create(
      platform.id,
      { orderNo: `bench-${i}`, buyerId: buyer.id, mode: 'direct_t1', payees: [{ memberId: seller.id, amountMinor, feeMinor: amountMinor / 100n }] },
      'bench',
    );
  });
  const buildSeconds = (Date.now() - buildStarted) / 1000;
  const head = await runtime.ledger.head(platform.id);
  if (businessDate(runtime.clock.nowMs()) !== day) throw new Error('the build ran past the business date; use fewer entries');
  log(`built in ${buildSeconds.toFixed(1)} s: ${head?.seq ?? 0n} entries on ${day}`);
  return { platformId: platform.id, day, buildSeconds, credits, perBuyer };
}

/** Closes the built day, then reads its files and trial balance and imports its statement. */
async function closeAndMeasure(runtime: Runtime, options: EodBenchOptions, built: BuiltDay): Promise<Record<string, unknown>> {
  const { day, buildSeconds, credits, perBuyer } = built;
  const platform = { id: built.platformId };
  const log = options.log;
  const head = await runtime.ledger.head(platform.id);

  // The day is over: 00:10 of the next.
  const nextDayMs = startOfBusinessDate(addDays(day, 1)) + 10 * 60_000;
  runtime.sandboxClock?.advance(Math.ceil((nextDayMs - runtime.clock.nowMs()) / 1000));
  const started = Date.now();
  const [outcome] = await runtime.eod.close(day, platform.id);
  const eodSeconds = (Date.now() - started) / 1000;
  if (outcome?.status !== 'closed') throw new Error(`the close failed: ${outcome?.error ?? 'unknown'}`);
  log(
    `end of day ${day}: ${eodSeconds.toFixed(1)} s — settled ${outcome.settledMinor} fen, ${outcome.convertedMembers.toLocaleString('en-US')} sellers' pending made withdrawable (${outcome.convertedMinor} fen), invariants ok`,
  );

  const files: Record<string, { lines: number; seconds: number; bytes: number }> = {};
  for (const kind of ['balances', 'trades'] as const) {
    const fileStarted = Date.now();
    let lines = 0;
    let bytes = 0;
    for await (const line of await runtime.eod.statement(platform.id, day, kind)) {
      lines++;
      bytes += Buffer.byteLength(line);
    }
    files[kind] = { lines, bytes, seconds: (Date.now() - fileStarted) / 1000 };
    log(`file ${kind}: ${lines.toLocaleString('en-US')} lines, ${(bytes / 1e6).toFixed(1)} MB in ${files[kind].seconds.toFixed(1)} s`);
  }
  const trialStarted = Date.now();
  const trial = await runtime.eod.trialBalance(platform.id, day);
  const trialSeconds = (Date.now() - trialStarted) / 1000;
  if (trial.totals.debitsMinor !== trial.totals.creditsMinor) throw new Error('the trial balance does not balance');
  log(`trial balance: ${trial.accounts.length.toLocaleString('en-US')} accounts, Σ debits = Σ credits = ${trial.totals.debitsMinor} fen, read in ${trialSeconds.toFixed(1)} s`);

  const reconciliation = options.statementLines > 0 ? await importStatement(runtime, platform.id, day, credits, perBuyer, options) : null;

  const result = {
    bench: 'eod',
    adapter: options.databaseUrl === undefined ? 'pglite' : 'postgres',
    date: day,
    members: options.members,
    entries: Number(head?.seq ?? 0n),
    buildSeconds,
    eodSeconds,
    targetSeconds: 60,
    settledMinor: String(outcome.settledMinor),
    convertedMembers: outcome.convertedMembers,
    convertedMinor: String(outcome.convertedMinor),
    files,
    trialBalance: { accounts: trial.accounts.length, seconds: trialSeconds },
    reconciliation,
    finishedAt: new Date().toISOString(),
  };
  await mkdir(options.resultsDir, { recursive: true });
  const file = join(options.resultsDir, `eod-${result.adapter}-${Date.now()}.json`);
  await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
  log(`result: ${file}`);
  return result;
}

function creditTxnId(i: number): string {
  return `bench-credit-${i}`;
}

/**
 * The custody account's bank statement of the day, `statementLines` lines: a credit line for
 * each bank credit of the build (matched), the rest debits nobody paid (long breaks, the
 * heaviest case: a break row each). Written to a file, then streamed from it through the
 * reconciliation service in chunks; the peak heap and RSS while it streams are reported.
 */
async function importStatement(runtime: Runtime, platformId: Id, day: string, credits: number, amountMinor: bigint, options: EodBenchOptions) {
  const dir = await mkdtemp(join(tmpdir(), 'custos-bench-recon-'));
  try {
    const path = join(dir, 'bank.csv');
    const total = options.statementLines;
    const writing = new ProgressBar('statement file', total);
    const out = createWriteStream(path);
    const at = `${day}T04:00:00Z`;
    async function* rows(): AsyncGenerator<string> {
      yield `${bankStatementHeader}\n`;
      for (let i = 0; i < total; i++) {
        yield i < credits
          ? `${creditTxnId(i)},credit,${amountMinor},6222020200112233,bench,memo,${at}\n`
          : `bench-debit-${i},debit,${100 + (i % 9_900)},6222000011112222,bench,wdr-${i},${at}\n`;
        if (i % 10_000 === 0) writing.update(i);
      }
      writing.finish();
    }
    await pipeline(Readable.from(rows()), out);
    const bytes = (await stat(path)).size;
    const progress = new ProgressBar('import', total);
    const memory = { heapStart: process.memoryUsage().heapUsed, heapPeak: 0, rssStart: process.memoryUsage.rss(), rssPeak: 0 };
    const started = Date.now();
    const row = await runtime.reconciliations.import(
      platformId,
      'bank',
      day,
      textLines(createReadStream(path, { highWaterMark: 256 * 1024 }), { bytesMax: Number.MAX_SAFE_INTEGER }),
      'bench',
      (p) => {
        const used = process.memoryUsage();
        memory.heapPeak = Math.max(memory.heapPeak, used.heapUsed);
        memory.rssPeak = Math.max(memory.rssPeak, used.rss);
        progress.update(p.lines, `lines · ${p.matched.toLocaleString('en-US')} matched · ${p.breaks.toLocaleString('en-US')} breaks`);
      },
    );
    progress.finish();
    const seconds = (Date.now() - started) / 1000;
    const mib = (n: number) => Math.round((n / 1024 / 1024) * 10) / 10;
    const result = {
      lines: Number(row.lines),
      bytes,
      matched: Number(row.matched),
      breaks: Number(row.breaks),
      seconds,
      linesPerSecond: Math.round(Number(row.lines) / seconds),
      heapStartMiB: mib(memory.heapStart),
      heapPeakMiB: mib(memory.heapPeak),
      rssStartMiB: mib(memory.rssStart),
      rssPeakMiB: mib(memory.rssPeak),
    };
    options.log(
      `reconciliation: ${result.lines.toLocaleString('en-US')} lines (${(bytes / 1e6).toFixed(1)} MB) in ${seconds.toFixed(1)} s, ` +
        `${result.matched.toLocaleString('en-US')} matched, ${result.breaks.toLocaleString('en-US')} breaks; ` +
        `heap ${result.heapStartMiB} → peak ${result.heapPeakMiB} MiB, RSS ${result.rssStartMiB} → peak ${result.rssPeakMiB} MiB`,
    );
    return result;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function memberInput(i: number) {
  const born = new Date(Date.UTC(1960, 0, 1) + Math.floor(i / 900) * 86_400_000).toISOString().slice(0, 10).replaceAll('-', '');
  const first17 = `110105${born}${String(100 + (i % 900)).padStart(3, '0')}`;
  const enterprise = i % 10 === 9;
  const code17 = `91110108${String(i).padStart(9, '0')}`;
  return {
    externalId: `bench-${i}`,
    name: enterprise ? '某某贸易有限公司' : '李四',
    type: enterprise ? ('enterprise' as const) : ('individual' as const),
    idNumber: enterprise ? `${code17}${creditCodeCheckCharacter(code17)}` : `${first17}${residentIdCheckCharacter(first17)}`,
    phone: `139${String(i).padStart(8, '0')}`,
  };
}

/** Runs `work(0 … count−1)` with at most `width` at once, drawing progress. */
async function inParallel(count: number, width: number, progress: ProgressBar, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  let done = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= count) return;
      await work(i);
      done++;
      progress.update(done);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, count) }, worker));
  progress.finish();
}
