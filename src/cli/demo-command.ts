import { parseArgs } from 'node:util';
import { Random } from '../bench/workload.js';
import { newId } from '../ids.js';
import type { AccountFlags, AccountInput, EntryInput, Id, PostingInput } from '../ledger/index.js';
import { openStore } from '../storage/open-store.js';
import type { SqlLedgerStore } from '../storage/sql-ledger-store.js';
import { ProgressBar } from './progress.js';

const owed: AccountFlags = { debitsMustNotExceedCredits: true, creditsMustNotExceedDebits: false };
const asset: AccountFlags = { debitsMustNotExceedCredits: false, creditsMustNotExceedDebits: true };

interface Chart {
  readonly platformId: Id;
  readonly custody: Id;
  readonly channel: Id;
  readonly guarantee: Id;
  readonly fees: Id;
  readonly outgoing: Id;
  readonly buyers: Id[];
  readonly sellersPending: Id[];
  readonly sellersWithdrawable: Id[];
}

/**
 * A marketplace's day on the ledger, in the embedded database: buyers recharge, pay orders
 * into escrow, orders are confirmed to sellers minus the platform's fee, the channel settles
 * into the custody account, proceeds become withdrawable and some leave to sellers' cards
 * through a reservation that is then posted. Every step is one atomic journal entry.
 */
export async function demoCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { data: { type: 'string' }, orders: { type: 'string' }, seed: { type: 'string' } },
  });
  const orders = Number(values.orders ?? 2000);
  if (!Number.isSafeInteger(orders) || orders < 1) throw new Error('--orders must be a positive integer');
  const dataDir = values.data ?? process.env.CUSTOS_DATA_DIR ?? './data';
  const databaseUrl = process.env.DATABASE_URL;
  console.log(`Custos ledger demo on ${databaseUrl ? 'PostgreSQL' : `PGlite in ${dataDir}`}: a marketplace day of ${orders} orders\n`);
  const store = await openStore({ databaseUrl, dataDir });
  try {
    const chart = await openChart(store);
    const random = new Random(Number(values.seed ?? 7));
    const samples = await runDay(store, chart, orders, random);
    await report(store, chart, samples);
    return 0;
  } finally {
    await store.close();
  }
}

async function openChart(store: SqlLedgerStore): Promise<Chart> {
  const platformId = newId();
  const account = (code: string, flags: AccountFlags): AccountInput => ({ id: newId(), code, currency: 'CNY', flags });
  const fixed = {
    custody: account('custody_summary', asset),
    channel: account('channel_in_transit', asset),
    guarantee: account('guarantee', owed),
    fees: account('fees', owed),
    outgoing: account('withdrawal_in_transit', owed),
  };
  const buyers = Array.from({ length: 50 }, () => account('member_spendable', owed));
  const pending = Array.from({ length: 10 }, () => account('member_pending', owed));
  const withdrawable = Array.from({ length: 10 }, () => account('member_withdrawable', owed));
  const results = await store.createAccounts(platformId, [...Object.values(fixed), ...buyers, ...pending, ...withdrawable]);
  if (results.some((r) => r.code !== 'created')) throw new Error('could not open the chart of accounts');
  console.log(`platform book ${platformId}: ${results.length} accounts`);
  return {
    platformId,
    custody: fixed.custody.id,
    channel: fixed.channel.id,
    guarantee: fixed.guarantee.id,
    fees: fixed.fees.id,
    outgoing: fixed.outgoing.id,
    buyers: buyers.map((a) => a.id),
    sellersPending: pending.map((a) => a.id),
    sellersWithdrawable: withdrawable.map((a) => a.id),
  };
}

function entry(command: string, postings: PostingInput[], reference?: string): EntryInput {
  return { id: newId(), kind: 'posted', command, postings, reference, actor: 'demo' };
}

function move(debitAccountId: Id, creditAccountId: Id, amountMinor: bigint): PostingInput {
  return { debitAccountId, creditAccountId, amountMinor };
}

/** One order's life as a series of entries; refusals (an empty balance) are part of the story. */
async function order(store: SqlLedgerStore, c: Chart, n: number, random: Random): Promise<string[]> {
  const buyer = random.pick(c.buyers);
  const seller = random.int(c.sellersPending.length);
  const amount = BigInt(100 + random.int(99_900));
  const fee = amount / 50n;
  const no = `ORD${String(n).padStart(6, '0')}`;
  const codes: string[] = [];
  const submit = async (input: EntryInput) => {
    const result = await store.submit(c.platformId, input);
    codes.push(result.code);
    return result.code === 'ok';
  };
  await submit(entry('payin.succeeded', [move(c.channel, buyer, amount + BigInt(random.int(5000)))], no));
  if (!(await submit(entry('order.pay', [move(buyer, c.guarantee, amount)], no)))) return codes;
  if (random.next() < 0.1) {
    await submit(entry('order.refund', [move(c.guarantee, buyer, amount)], no));
    return codes;
  }
  const pending = c.sellersPending[seller] as Id;
  await submit(entry('order.confirm', [move(c.guarantee, pending, amount - fee), move(c.guarantee, c.fees, fee)], no));
  await submit(entry('channel.settle', [move(c.custody, c.channel, amount)], no));
  const withdrawable = c.sellersWithdrawable[seller] as Id;
  await submit(entry('eod.pending_to_withdrawable', [move(pending, withdrawable, amount - fee)], no));
  if (random.next() < 0.3) {
    const hold: EntryInput = { ...entry('withdrawal.reserve', [move(withdrawable, c.outgoing, amount - fee)], no), kind: 'pending', timeoutSeconds: 3600 };
    if (await submit(hold)) {
      await submit({ id: newId(), kind: 'post_pending', pendingId: hold.id, postings: [], command: 'withdrawal.paid', reference: no });
      await submit(entry('withdrawal.cleared', [move(c.outgoing, c.custody, amount - fee)], no));
    }
  }
  return codes;
}

interface Sample {
  readonly guarantee: bigint;
  readonly fees: bigint;
  readonly custody: bigint;
}

async function runDay(store: SqlLedgerStore, chart: Chart, orders: number, random: Random): Promise<Sample[]> {
  const progress = new ProgressBar('orders', orders);
  const samples: Sample[] = [];
  const codes = new Map<string, number>();
  const concurrency = 64;
  let next = 0;
  let done = 0;
  const sampleEvery = Math.max(1, Math.floor(orders / 60));
  const worker = async (): Promise<void> => {
    while (next < orders) {
      const n = next++;
      for (const code of await order(store, chart, n, random)) codes.set(code, (codes.get(code) ?? 0) + 1);
      done++;
      progress.update(done);
      if (done % sampleEvery === 0) samples.push(await sample(store, chart));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  progress.finish();
  samples.push(await sample(store, chart));
  console.log(`\nentries: ${[...codes].map(([code, count]) => `${code} ${count}`).join(', ')}`);
  return samples;
}

async function sample(store: SqlLedgerStore, c: Chart): Promise<Sample> {
  const accounts = new Map((await store.getAccounts(c.platformId, [c.guarantee, c.fees, c.custody])).map((a) => [a.id, a]));
  const credit = (id: Id) => (accounts.get(id)?.creditsPostedMinor ?? 0n) - (accounts.get(id)?.debitsPostedMinor ?? 0n);
  return { guarantee: credit(c.guarantee), fees: credit(c.fees), custody: -credit(c.custody) };
}

async function report(store: SqlLedgerStore, c: Chart, samples: Sample[]): Promise<void> {
  const accounts = await store.listAccounts(c.platformId, { limit: 100 });
  const byCode = new Map<string, bigint>();
  for (const a of accounts) {
    const normal = a.flags.creditsMustNotExceedDebits ? a.debitsPostedMinor - a.creditsPostedMinor : a.creditsPostedMinor - a.debitsPostedMinor;
    byCode.set(a.code, (byCode.get(a.code) ?? 0n) + normal);
  }
  console.log('\nbalances by account kind (yuan, on each account\'s normal side):');
  const widest = [...byCode.values()].reduce((m, v) => (v > m ? v : m), 1n);
  for (const [code, balance] of [...byCode].sort()) {
    const bar = '█'.repeat(Number((balance * 40n) / widest));
    console.log(`  ${code.padEnd(22)} ${yuan(balance).padStart(16)} ${bar}`);
  }
  console.log('\nover the day:');
  console.log(`  custody summary ${sparkline(samples.map((s) => s.custody))}`);
  console.log(`  guarantee       ${sparkline(samples.map((s) => s.guarantee))}`);
  console.log(`  fees            ${sparkline(samples.map((s) => s.fees))}`);
  const assets = (byCode.get('custody_summary') ?? 0n) + (byCode.get('channel_in_transit') ?? 0n);
  const owedTotal = [...byCode].filter(([code]) => code !== 'custody_summary' && code !== 'channel_in_transit').reduce((s, [, v]) => s + v, 0n);
  console.log(`\ncustody summary + channel in transit = ${yuan(assets)}; Σ sub-accounts = ${yuan(owedTotal)}: ${assets === owedTotal ? 'balanced' : 'NOT BALANCED'}`);
  const check = await store.verifyChain(c.platformId);
  console.log(`hash chain: ${check.ok ? `intact over ${check.seq} entries` : `BROKEN at ${check.brokenAtSeq}`}`);
  console.log(`group commit: ${store.stats.entriesWritten} entries in ${store.stats.batches} database transactions`);
}

function yuan(minor: bigint): string {
  const sign = minor < 0n ? '-' : '';
  const abs = minor < 0n ? -minor : minor;
  return `${sign}¥${(abs / 100n).toLocaleString('en-US')}.${String(abs % 100n).padStart(2, '0')}`;
}

function sparkline(values: bigint[]): string {
  const ticks = '▁▂▃▄▅▆▇█';
  const max = values.reduce((m, v) => (v > m ? v : m), 0n);
  if (max <= 0n) return ticks[0]?.repeat(values.length) ?? '';
  return values.map((v) => ticks[Number(((v < 0n ? 0n : v) * 7n) / max)]).join('') + `  ${yuan(values.at(-1) ?? 0n)}`;
}
