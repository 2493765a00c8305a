import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EscrowMode } from '../../src/custody/chart-of-accounts.js';
import { creditCodeCheckCharacter, residentIdCheckCharacter } from '../../src/custody/identity-validators.js';
import { payeesOf } from '../../src/custody/order-service.js';
import type { OrderMode } from '../../src/custody/order-service.js';
import type { MemberRecord } from '../../src/custody/records.js';
import { CustodyError } from '../../src/errors.js';
import type { ErrorCode } from '../../src/errors.js';
import { createRuntime } from '../../src/runtime.js';
import type { Runtime } from '../../src/runtime.js';
import type { AdapterName } from '../../src/storage/open-store.js';
import type { OrderRow } from '../../src/storage/sql-trade-store.js';
import { ADAPTERS, databaseUrl } from '../support/adapters.js';
import { ManualClock } from '../support/fixtures.js';

/**
 * The trade simulation: a seeded workload of recharges, orders (guaranteed, direct T+0 and
 * T+1, 1 to 5 payees, random fees), partial and full confirms, refunds before and after
 * release, subsidies, payments to the platform, same-name transfers, bank credits with
 * suspense allocation and reversal, and clock jumps that make orders confirm themselves,
 * run through the services of one runtime holding a platform per escrow mode. An auditor
 * keeps its own model of every member bucket, every proceeds date, every order part and the
 * platform accounts, predicts every outcome (refusals included), and after every step checks
 * the services against it: the five invariants, lots that explain pending and withdrawable
 * exactly, no negative bucket, balances, orders and accounts equal to the model.
 *
 * The model shares fees as API.md "Orders" says, with the two bounds the rules add where the
 * documented share could not be paid (a share never exceeds its release, a refund never
 * takes more from a payee than it still holds of that part); a step that would break either
 * bound is a finding. Reproduce with TRADE_SIM_SEED=<seed> TRADE_SIM_STEPS=<n>.
 */
const SEED = Number(process.env.TRADE_SIM_SEED ?? 20260105);
const STEPS = Number(process.env.TRADE_SIM_STEPS ?? 200);
const actor = 'sim';
const escrowModes: readonly EscrowMode[] = ['intermediate', 'buyer', 'seller'];
const platformAutoConfirmSeconds: Record<EscrowMode, number> = { intermediate: 7 * 86_400, buyer: 86_400, seller: 2 * 86_400 };

// ---------------------------------------------------------------------------------------
// The workload: abstract commands drawn by fast-check from the seed, made concrete against
// the model when they run (indices pick members, orders and suspense items).

type Command =
  | { readonly kind: 'recharge'; readonly platform: number; readonly member: number; readonly amount: bigint; readonly fail: boolean }
  | { readonly kind: 'fund_marketing'; readonly platform: number; readonly amount: bigint }
  | {
      readonly kind: 'order';
      readonly platform: number;
      readonly buyer: number;
      readonly mode: OrderMode;
      readonly payees: readonly { readonly member: number; readonly weight: number; readonly feePct: number }[];
      readonly pct: number;
      readonly autoConfirmSeconds: number | undefined;
      readonly reuseOrderNo: boolean;
    }
  | { readonly kind: 'confirm'; readonly platform: number; readonly order: number; readonly anyOrder: boolean; readonly style: 'all' | 'one' | 'each'; readonly payee: number; readonly perMille: number }
  | { readonly kind: 'refund'; readonly platform: number; readonly order: number; readonly target: 'escrowed' | 'refundable' | 'any'; readonly payee: number; readonly perMille: number; readonly omitMember: boolean }
  | { readonly kind: 'subsidy'; readonly platform: number; readonly member: number; readonly pct: number }
  | { readonly kind: 'pay_to_platform'; readonly platform: number; readonly member: number; readonly pct: number; readonly goodCode: boolean }
  | { readonly kind: 'same_name'; readonly platform: number; readonly pair: number; readonly reverse: boolean; readonly pct: number; readonly mismatched: boolean }
  | { readonly kind: 'bank_credit'; readonly platform: number; readonly member: number; readonly memo: 'sub_account' | 'none' | 'other_platform' | 'unknown_number'; readonly amount: bigint }
  | { readonly kind: 'suspense_allocate'; readonly platform: number; readonly item: number; readonly member: number; readonly pct: number; readonly whole: boolean }
  | { readonly kind: 'suspense_reverse'; readonly platform: number; readonly item: number; readonly pct: number; readonly whole: boolean }
  | { readonly kind: 'clock'; readonly platform: number; readonly seconds: number };

type Kind = Command['kind'];
const kinds: readonly Kind[] = [
  'recharge', 'fund_marketing', 'order', 'confirm', 'refund', 'subsidy', 'pay_to_platform', 'same_name', 'bank_credit', 'suspense_allocate', 'suspense_reverse', 'clock',
];

const platformArb = fc.integer({ min: 0, max: escrowModes.length - 1 });
const memberArb = fc.nat({ max: 1000 });
/** Percent of what is there: mostly within it, sometimes beyond (refusals). */
const pctArb = fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 1, max: 100 }) }, { weight: 1, arbitrary: fc.integer({ min: 101, max: 150 }) });
/** Per mille of what is possible: mostly within, sometimes the whole, now and then beyond. */
const perMilleArb = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 999 }) },
  { weight: 3, arbitrary: fc.constant(1000) },
  { weight: 1, arbitrary: fc.integer({ min: 1001, max: 1100 }) },
);
const feePctArb = fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 6, arbitrary: fc.integer({ min: 1, max: 30 }) }, { weight: 1, arbitrary: fc.integer({ min: 31, max: 100 }) });

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 14, arbitrary: fc.record({ kind: fc.constant('recharge' as const), platform: platformArb, member: memberArb, amount: fc.bigInt({ min: 1n, max: 200_000n }), fail: fc.boolean().chain((b) => (b ? fc.boolean() : fc.constant(false))).chain((b) => (b ? fc.boolean() : fc.constant(false))) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('fund_marketing' as const), platform: platformArb, amount: fc.bigInt({ min: 1n, max: 100_000n }) }) },
  {
    weight: 22,
    arbitrary: fc.record({
      kind: fc.constant('order' as const),
      platform: platformArb,
      buyer: memberArb,
      mode: fc.constantFrom<OrderMode>('guaranteed', 'guaranteed', 'guaranteed', 'direct_t0', 'direct_t1'),
      payees: fc.array(fc.record({ member: memberArb, weight: fc.integer({ min: 1, max: 100 }), feePct: feePctArb }), { minLength: 1, maxLength: 5 }),
      pct: pctArb,
      autoConfirmSeconds: fc.constantFrom(undefined, 60, 3600, 86_400, 3 * 86_400, 7 * 86_400),
      reuseOrderNo: fc.integer({ min: 0, max: 39 }).map((n) => n === 0),
    }),
  },
  {
    weight: 14,
    arbitrary: fc.record({
      kind: fc.constant('confirm' as const),
      platform: platformArb,
      order: fc.nat(),
      anyOrder: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
      style: fc.constantFrom('all' as const, 'one' as const, 'one' as const, 'each' as const),
      payee: fc.nat(),
      perMille: perMilleArb,
    }),
  },
  {
    weight: 14,
    arbitrary: fc.record({
      kind: fc.constant('refund' as const),
      platform: platformArb,
      order: fc.nat(),
      target: fc.constantFrom('escrowed' as const, 'escrowed' as const, 'escrowed' as const, 'escrowed' as const, 'refundable' as const, 'refundable' as const, 'refundable' as const, 'refundable' as const, 'refundable' as const, 'any' as const),
      payee: fc.nat(),
      perMille: perMilleArb,
      omitMember: fc.integer({ min: 0, max: 4 }).map((n) => n === 0),
    }),
  },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('subsidy' as const), platform: platformArb, member: memberArb, pct: pctArb }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('pay_to_platform' as const), platform: platformArb, member: memberArb, pct: pctArb, goodCode: fc.integer({ min: 0, max: 9 }).map((n) => n !== 0) }) },
  { weight: 7, arbitrary: fc.record({ kind: fc.constant('same_name' as const), platform: platformArb, pair: fc.nat(), reverse: fc.boolean(), pct: pctArb, mismatched: fc.integer({ min: 0, max: 14 }).map((n) => n === 0) }) },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('bank_credit' as const),
      platform: platformArb,
      member: memberArb,
      memo: fc.constantFrom('sub_account' as const, 'sub_account' as const, 'none' as const, 'other_platform' as const, 'unknown_number' as const),
      amount: fc.bigInt({ min: 1n, max: 100_000n }),
    }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('suspense_allocate' as const), platform: platformArb, item: fc.nat(), member: memberArb, pct: pctArb, whole: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('suspense_reverse' as const), platform: platformArb, item: fc.nat(), pct: pctArb, whole: fc.boolean() }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('clock' as const), platform: platformArb, seconds: fc.constantFrom(60, 1800, 3600, 6 * 3600, 86_400, 2 * 86_400, 3 * 86_400) }) },
);

// ---------------------------------------------------------------------------------------
// The auditor's model: written from API.md, independent of the services' code.

type LotBucket = 'pending' | 'withdrawable';

interface MemberModel {
  readonly index: number;
  readonly id: string;
  readonly record: MemberRecord;
  readonly subAccountNo: string;
  spendable: bigint;
  pending: bigint;
  withdrawable: bigint;
  /**
   * Proceeds left: pending by `date|booked` (a lot turns withdrawable at the close of the day
   * its entry was booked, which is later than its date when a same-name transfer moved it),
   * withdrawable by date. Lots of one key are interchangeable here.
   */
  readonly lots: Record<LotBucket, Map<string, bigint>>;
}

interface PartModel {
  readonly memberIndex: number;
  readonly memberId: string;
  readonly amount: bigint;
  readonly fee: bigint;
  escrowed: bigint;
  released: bigint;
  feeReleased: bigint;
  refunded: bigint;
  refundedAfterRelease: bigint;
  feeRefunded: bigint;
  /** Net to the payee from releases, and net taken back by refunds after release. */
  netPaid: bigint;
  netReturned: bigint;
}

interface OrderModel {
  readonly id: string;
  readonly orderNo: string;
  readonly buyerIndex: number;
  readonly mode: OrderMode;
  readonly parts: PartModel[];
  readonly autoConfirmAtMs: number | null;
}

interface SuspenseModel {
  readonly id: string;
  readonly amount: bigint;
  allocated: bigint;
  reversed: bigint;
}

interface PlatformModel {
  readonly index: number;
  readonly id: string;
  readonly escrowMode: EscrowMode;
  readonly members: MemberModel[];
  /** Merchant/ordinary pairs of one person: [ordinary, merchant]. */
  readonly pairs: readonly (readonly [number, number])[];
  readonly orders: OrderModel[];
  readonly suspense: SuspenseModel[];
  /** Business keys taken (payins, orders and transfers that were accepted). */
  readonly orderNos: string[];
  marketing: bigint;
  paidToPlatform: bigint;
  /** Bank credits − reversals + settled payins (custody summary); succeeded payins not yet settled, by date (channel in transit). */
  custody: bigint;
  readonly inTransit: Map<string, bigint>;
  readonly openedOn: string;
  /** The last business date closed (end of day), or null. */
  closedThrough: string | null;
  /** The journal's hash chain as far as the auditor verified it (it is append-only: later checks walk on from there). */
  chain: { seq: bigint; hash: string } | undefined;
  nextNo: number;
}

const sum = (values: Iterable<bigint>): bigint => {
  let s = 0n;
  for (const v of values) s += v;
  return s;
};
const minOf = (a: bigint, b: bigint): bigint => (a < b ? a : b);
const pick = <T>(list: readonly T[], n: number): T | undefined => (list.length === 0 ? undefined : list[n % list.length]);
const show = (value: unknown): string => JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));

/** Business date in Asia/Shanghai (UTC+8, no daylight saving). */
function dateAt(ms: number): string {
  return new Date(ms + 8 * 3600 * 1000).toISOString().slice(0, 10);
}

function available(m: MemberModel): bigint {
  return m.spendable + m.pending + m.withdrawable;
}

function fees(p: PlatformModel): bigint {
  return sum(p.orders.flatMap((o) => o.parts.map((x) => x.feeReleased - x.feeRefunded))) + p.paidToPlatform;
}

function escrowOf(o: OrderModel): bigint {
  return sum(o.parts.map((x) => x.escrowed));
}

function statusOf(o: OrderModel): string {
  if (o.parts.some((x) => x.escrowed > 0n)) return 'escrowed';
  if (o.parts.every((x) => x.refunded === x.amount)) return 'refunded';
  return 'completed';
}

/** Frozen: escrow of open orders, the buyer's in `intermediate` and `buyer` mode, the payee's in `seller` mode. */
function frozenOf(p: PlatformModel, memberIndex: number): bigint {
  if (p.escrowMode === 'seller') return sum(p.orders.flatMap((o) => o.parts.filter((x) => x.memberIndex === memberIndex).map((x) => x.escrowed)));
  return sum(p.orders.filter((o) => o.buyerIndex === memberIndex).map(escrowOf));
}

function addDays(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);
}

/** A new lot of `date`, booked on `booked` (today). */
function addLot(m: MemberModel, bucket: LotBucket, date: string, amount: bigint, booked: string): void {
  if (amount <= 0n) return;
  const key = bucket === 'pending' ? `${date}|${booked}` : date;
  m.lots[bucket].set(key, (m.lots[bucket].get(key) ?? 0n) + amount);
  m[bucket] += amount;
}

/** What a bucket's lots hold per business date. */
function lotsByDate(m: MemberModel, bucket: LotBucket): Record<string, bigint> {
  const out: Record<string, bigint> = {};
  for (const [key, amount] of m.lots[bucket]) {
    const date = key.slice(0, 10);
    out[date] = (out[date] ?? 0n) + amount;
  }
  return out;
}

/** Spends proceeds oldest date first; returns what was taken per date. */
function takeLots(m: MemberModel, bucket: LotBucket, amount: bigint): [string, bigint][] {
  const taken: [string, bigint][] = [];
  let left = amount;
  // Oldest date first; within a date, the earliest booked (created) first.
  for (const key of [...m.lots[bucket].keys()].sort()) {
    if (left === 0n) break;
    const have = m.lots[bucket].get(key) ?? 0n;
    const take = minOf(have, left);
    if (take === have) m.lots[bucket].delete(key);
    else m.lots[bucket].set(key, have - take);
    if (take > 0n) taken.push([key.slice(0, 10), take]);
    left -= take;
  }
  if (left !== 0n) throw new Error(`model: member ${m.index} has no ${bucket} proceeds for ${amount}`);
  m[bucket] -= amount;
  return taken;
}

/** A buyer pays: spendable, then withdrawable, then pending. */
function payFrom(m: MemberModel, amount: bigint): void {
  const s = minOf(amount, m.spendable);
  const w = minOf(amount - s, m.withdrawable);
  m.spendable -= s;
  takeLots(m, 'withdrawable', w);
  takeLots(m, 'pending', amount - s - w);
}

/** A payee gives back: pending, then withdrawable, then spendable. */
function giveBack(m: MemberModel, amount: bigint): void {
  const p = minOf(amount, m.pending);
  const w = minOf(amount - p, m.withdrawable);
  takeLots(m, 'pending', p);
  takeLots(m, 'withdrawable', w);
  m.spendable -= amount - p - w;
}

/**
 * API.md: a release's fee share is floor(fee × released / amount); the release that empties
 * the escrow takes the rest. Bounded: never more than the release, and raised when the rest
 * would no longer fit in what stays in escrow.
 */
function releasePart(x: PartModel, gross: bigint): bigint {
  const feeDue = x.fee - x.feeReleased;
  const escrowAfter = x.escrowed - gross;
  const share = escrowAfter === 0n ? feeDue : (x.fee * gross) / x.amount;
  const fee = minOf(gross, minOf(feeDue, share > feeDue - escrowAfter ? share : feeDue - escrowAfter));
  x.escrowed -= gross;
  x.released += gross;
  x.feeReleased += fee;
  x.netPaid += gross - fee;
  return fee;
}

/**
 * API.md: from escrow first; after release the fee share floored as for confirm (never more
 * than was taken), the emptying refund taking the rest; raised so that the payee never gives
 * back more than it still holds of this part.
 */
function refundPart(x: PartModel, gross: bigint): { fromEscrow: bigint; fromPayee: bigint; fromFees: bigint } {
  const fromEscrow = minOf(gross, x.escrowed);
  const after = gross - fromEscrow;
  const feeLeft = x.feeReleased - x.feeRefunded;
  const empties = gross === x.amount - x.refunded;
  const share = empties ? feeLeft : (x.fee * after) / x.amount;
  const overPayee = after - (x.netPaid - x.netReturned);
  const fromFees = after === 0n ? 0n : minOf(after, minOf(feeLeft, share > overPayee ? share : overPayee));
  x.escrowed -= fromEscrow;
  x.refunded += gross;
  x.refundedAfterRelease += after;
  x.feeRefunded += fromFees;
  x.netReturned += after - fromFees;
  return { fromEscrow, fromPayee: after - fromFees, fromFees };
}

/** The bounds every fee share keeps; a step past them is a finding of the rules. */
function expectShareBounds(x: PartModel, what: string): void {
  expect(x.netPaid >= x.netReturned && x.feeReleased >= x.feeRefunded && x.feeReleased <= x.fee, `${what}: shares within bounds`).toBe(true);
}

const clonePart = (x: PartModel): PartModel => ({ ...x });

// ---------------------------------------------------------------------------------------
// Running it.

interface Sim {
  readonly runtime: Runtime;
  readonly platforms: PlatformModel[];
  readonly tallies: Map<string, number>;
  readonly history: string[];
  readonly warnings: string[];
  /** Platforms the step changed (in the model): audited after it; all of them every `fullAuditEvery` steps. */
  readonly touched: Set<number>;
  step: number;
}

const fullAuditEvery = 25;
/** About a minute per adapter on an idle machine at the default size; room for a busy one and for TRADE_SIM_STEPS. */
const simulationTimeoutMs = Math.max(600_000, STEPS * 3 * 1_000);

function tally(sim: Sim, key: string, n = 1): void {
  sim.tallies.set(key, (sim.tallies.get(key) ?? 0) + n);
}

class Finding extends Error {}

/** Runs a service call whose outcome the model predicted: success, or the refusal named. */
async function expectOutcome<T>(sim: Sim, kind: Kind, expected: ErrorCode | null, run: () => Promise<T>): Promise<T | null> {
  let value: T;
  try {
    value = await run();
  } catch (error) {
    if (error instanceof CustodyError) {
      if (error.code !== expected) {
        throw new Finding(`expected ${expected === null ? 'success' : `refusal ${expected}`}, got ${error.code}: ${error.message}`);
      }
      tally(sim, `${kind}:${error.code}`);
      return null;
    }
    throw new Finding(`expected ${expected === null ? 'success' : `refusal ${expected}`}, got a ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
  }
  if (expected !== null) throw new Finding(`expected refusal ${expected}, but it succeeded`);
  tally(sim, `${kind}:ok`);
  return value;
}

function newOrderNo(p: PlatformModel, prefix: string): string {
  p.nextNo += 1;
  return `${prefix}-${p.index}-${p.nextNo}`;
}

/** Every escrowed order whose time has come confirms itself in full, exactly once. */
function autoConfirm(sim: Sim, nowMs: number): void {
  for (const p of sim.platforms) {
    for (const o of p.orders) {
      if (o.autoConfirmAtMs === null || o.autoConfirmAtMs > nowMs || escrowOf(o) === 0n) continue;
      for (const x of o.parts) if (x.escrowed > 0n) credit(p, x, x.escrowed, nowMs);
      tally(sim, 'auto_confirm');
      sim.touched.add(p.index);
    }
  }
}

/** A release: its net to the payee's pending (a lot of today); its fee share stays on the part (the fees account is Σ of them). */
function credit(p: PlatformModel, x: PartModel, gross: bigint, nowMs: number): void {
  const fee = releasePart(x, gross);
  addLot(p.members[x.memberIndex] as MemberModel, 'pending', dateAt(nowMs), gross - fee, dateAt(nowMs));
}

async function advance(sim: Sim, seconds: number): Promise<void> {
  await sim.runtime.advanceClock(seconds);
  const nowMs = sim.runtime.clock.nowMs();
  autoConfirm(sim, nowMs);
  await endOfDay(sim, nowMs);
}

/**
 * API.md "Running": end of day runs by itself at 00:30 of the next day (platform time),
 * closing every day not yet closed: the channels' in-transit money of those days reaches the
 * custody account, and pending proceeds booked by a day's end become withdrawable.
 */
async function endOfDay(sim: Sim, nowMs: number): Promise<void> {
  const due = addDays(dateAt(nowMs - 30 * 60_000), -1);
  for (const p of sim.platforms) {
    if (due < p.openedOn || (p.closedThrough !== null && due <= p.closedThrough)) continue;
    for (let day = p.closedThrough === null ? p.openedOn : addDays(p.closedThrough, 1); day <= due; day = addDays(day, 1)) {
      const settled = p.inTransit.get(day) ?? 0n;
      p.inTransit.delete(day);
      p.custody += settled;
      let converted = 0n;
      let members = 0;
      for (const m of p.members) {
        let moved = 0n;
        for (const [key, amount] of [...m.lots.pending]) {
          if (key.slice(11) > day) continue;
          m.lots.pending.delete(key);
          m.pending -= amount;
          addLot(m, 'withdrawable', key.slice(0, 10), amount, day);
          moved += amount;
        }
        if (moved > 0n) members += 1;
        converted += moved;
      }
      const run = await sim.runtime.eod.runOf(p.id, day);
      expect(
        { status: run.status, settled: run.settledMinor, converted: run.convertedMinor, members: run.convertedMembers },
        `platform ${p.escrowMode}: end of day ${day}, service (left) vs model`,
      ).toEqual({ status: 'closed', settled, converted, members });
      tally(sim, 'eod:day_closed');
      if (converted > 0n) tally(sim, 'eod:proceeds_made_withdrawable');
      if (settled > 0n) tally(sim, 'eod:channel_settled');
      sim.touched.add(p.index);
    }
    p.closedThrough = due;
  }
}

async function recharge(sim: Sim, p: PlatformModel, c: Extract<Command, { kind: 'recharge' | 'fund_marketing' }>): Promise<void> {
  const member = c.kind === 'recharge' ? (pick(p.members, c.member) as MemberModel) : null;
  const channel = c.kind === 'recharge' && c.fail ? 'sim_fail' : 'sim';
  const orderNo = newOrderNo(p, 'pay');
  const payin = await expectOutcome(sim, c.kind, null, () =>
    sim.runtime.payins.create(p.id, { orderNo, amountMinor: c.amount, channel, ...(member === null ? { account: 'marketing' as const } : { memberId: member.id }) }, actor),
  );
  p.orderNos.push(orderNo);
  await advance(sim, 2);
  const decided = await sim.runtime.payins.get(p.id, (payin as { id: string }).id);
  expect(decided.status, 'the channel answered within 2 s').toBe(channel === 'sim' ? 'succeeded' : 'failed');
  if (channel === 'sim_fail') {
    tally(sim, 'payin:failed');
    return;
  }
  const date = dateAt(sim.runtime.clock.nowMs());
  p.inTransit.set(date, (p.inTransit.get(date) ?? 0n) + c.amount);
  if (member === null) p.marketing += c.amount;
  else member.spendable += c.amount;
}

/** Payee amounts: `total` cut by the weights, each at least 1 fen. */
function split(total: bigint, weights: readonly number[]): bigint[] {
  const k = BigInt(weights.length);
  const w = BigInt(weights.reduce((a, b) => a + b, 0));
  const parts = weights.map((x) => 1n + ((total - k) * BigInt(x)) / w);
  const last = parts.length - 1;
  parts[last] = (parts[last] ?? 0n) + total - sum(parts);
  return parts;
}

async function order(sim: Sim, p: PlatformModel, c: Extract<Command, { kind: 'order' }>): Promise<void> {
  const buyer = pick(p.members, c.buyer) as MemberModel;
  const others = p.members.filter((m) => m !== buyer);
  const payees: MemberModel[] = [];
  for (const want of c.payees) {
    const m = pick(others, want.member) as MemberModel;
    if (!payees.includes(m)) payees.push(m);
  }
  let total = (available(buyer) * BigInt(c.pct)) / 100n;
  if (total < BigInt(payees.length)) total = BigInt(payees.length) + BigInt(c.pct);
  const amounts = split(total, c.payees.slice(0, payees.length).map((x) => x.weight));
  const lines = payees.map((m, i) => {
    const amount = amounts[i] as bigint;
    return { member: m, amount, fee: (amount * BigInt(c.payees[i]?.feePct ?? 0)) / 100n };
  });
  const reused = c.reuseOrderNo ? pick(p.orderNos, c.buyer) : undefined;
  const orderNo = reused ?? newOrderNo(p, 'ord');
  const expected: ErrorCode | null = reused !== undefined ? 'duplicate_order_no' : available(buyer) < total ? 'insufficient_funds' : null;
  const nowMs = sim.runtime.clock.nowMs();
  const row = await expectOutcome(sim, 'order', expected, () =>
    sim.runtime.orders.create(
      p.id,
      {
        orderNo,
        buyerId: buyer.id,
        mode: c.mode,
        payees: lines.map((l) => ({ memberId: l.member.id, amountMinor: l.amount, feeMinor: l.fee })),
        autoConfirmSeconds: c.mode === 'guaranteed' ? c.autoConfirmSeconds : undefined,
      },
      actor,
    ),
  );
  if (row === null) return;
  p.orderNos.push(orderNo);
  tally(sim, `order:${c.mode}`);
  tally(sim, `order:payees_${lines.length}`);
  payFrom(buyer, total);
  const guaranteed = c.mode === 'guaranteed';
  const parts = lines.map((l): PartModel => ({
    memberIndex: l.member.index,
    memberId: l.member.id,
    amount: l.amount,
    fee: l.fee,
    escrowed: guaranteed ? l.amount : 0n,
    released: guaranteed ? 0n : l.amount,
    feeReleased: guaranteed ? 0n : l.fee,
    refunded: 0n,
    refundedAfterRelease: 0n,
    feeRefunded: 0n,
    netPaid: guaranteed ? 0n : l.amount - l.fee,
    netReturned: 0n,
  }));
  for (const [i, l] of lines.entries()) {
    if (!guaranteed) addLot(l.member, c.mode === 'direct_t0' ? 'withdrawable' : 'pending', dateAt(nowMs), (parts[i] as PartModel).netPaid, dateAt(nowMs));
  }
  const seconds = c.autoConfirmSeconds ?? platformAutoConfirmSeconds[p.escrowMode];
  p.orders.push({ id: row.id, orderNo, buyerIndex: buyer.index, mode: c.mode, parts, autoConfirmAtMs: guaranteed ? nowMs + seconds * 1000 : null });
}

/** The order a confirm or refund names: mostly one where it can do something. */
function chooseOrder(p: PlatformModel, n: number, anyOrder: boolean, useful: (o: OrderModel) => boolean): OrderModel | undefined {
  const candidates = anyOrder ? p.orders : p.orders.filter(useful);
  return pick(candidates.length > 0 ? candidates : p.orders, n);
}

async function confirm(sim: Sim, p: PlatformModel, c: Extract<Command, { kind: 'confirm' }>): Promise<void> {
  const o = chooseOrder(p, c.order, c.anyOrder, (x) => escrowOf(x) > 0n);
  if (o === undefined) return void tally(sim, 'skipped:no_order');
  // Per mille of what a payee has in escrow (at least 1 fen); beyond 1000, more than it has.
  const gross = (x: PartModel): bigint =>
    c.perMille > 1000 ? x.escrowed + BigInt(c.perMille - 1000) : c.perMille === 1000 ? x.escrowed : minOf(x.escrowed, (x.escrowed * BigInt(c.perMille)) / 1000n + 1n);
  const open = o.parts.filter((x) => x.escrowed > 0n);
  let releases: { memberId: string; amountMinor: bigint }[] | undefined;
  if (c.style === 'one') {
    const x = pick(open.length > 0 ? open : o.parts, c.payee) as PartModel;
    releases = [{ memberId: x.memberId, amountMinor: x.escrowed === 0n ? 1n : gross(x) }];
  } else if (c.style === 'each') {
    releases = open.map((x) => ({ memberId: x.memberId, amountMinor: gross(x) }));
  }
  const wanted = releases ?? o.parts.filter((x) => x.escrowed > 0n).map((x) => ({ memberId: x.memberId, amountMinor: x.escrowed }));
  const refused = statusOf(o) !== 'escrowed' || wanted.length === 0 || wanted.some((r) => r.amountMinor > (o.parts.find((x) => x.memberId === r.memberId)?.escrowed ?? 0n));
  // The releases on copies: the shares stay within their bounds.
  if (!refused) {
    const after = o.parts.map(clonePart);
    for (const r of wanted) {
      const x = after.find((y) => y.memberId === r.memberId) as PartModel;
      releasePart(x, r.amountMinor);
      expectShareBounds(x, 'confirm');
    }
  }
  const nowMs = sim.runtime.clock.nowMs();
  const row = await expectOutcome(sim, 'confirm', refused ? 'order_not_confirmable' : null, () => sim.runtime.orders.confirm(p.id, o.id, releases, actor));
  if (row === null) return;
  const partial = wanted.some((r) => r.amountMinor < (o.parts.find((x) => x.memberId === r.memberId)?.escrowed ?? 0n));
  tally(sim, partial ? 'confirm:partial' : 'confirm:full');
  for (const r of wanted) {
    credit(p, o.parts.find((y) => y.memberId === r.memberId) as PartModel, r.amountMinor, nowMs);
  }
}

async function refund(sim: Sim, p: PlatformModel, c: Extract<Command, { kind: 'refund' }>): Promise<void> {
  const o = chooseOrder(p, c.order, c.target === 'any', (x) => (c.target === 'escrowed' ? escrowOf(x) > 0n : x.parts.some((y) => y.refunded < y.amount)));
  if (o === undefined) return void tally(sim, 'skipped:no_order');
  const open = o.parts.filter((y) => (c.target === 'escrowed' ? y.escrowed > 0n : y.refunded < y.amount));
  const x = pick(open.length > 0 && c.target !== 'any' ? open : o.parts, c.payee) as PartModel;
  const can = x.amount - x.refunded;
  const gross = c.perMille > 1000 || can === 0n ? can + BigInt(Math.max(1, c.perMille - 1000)) : c.perMille === 1000 ? can : minOf(can, (can * BigInt(c.perMille)) / 1000n + 1n);
  const omit = c.omitMember;
  const copy = clonePart(x);
  let expected: ErrorCode | null = null;
  let split: { fromEscrow: bigint; fromPayee: bigint; fromFees: bigint } | null = null;
  const payee = p.members[x.memberIndex] as MemberModel;
  if (omit && o.parts.length > 1) expected = 'invalid_request';
  else if (gross > can) expected = 'refund_exceeds_paid';
  else {
    split = refundPart(copy, gross);
    if (split.fromPayee > available(payee)) expected = 'insufficient_funds';
  }
  if (expected === null && split !== null) expectShareBounds(copy, 'refund');
  const row = await expectOutcome(sim, 'refund', expected, () => sim.runtime.orders.refund(p.id, o.id, gross, omit ? undefined : x.memberId, actor));
  if (row === null || split === null) return;
  expect([row.amount, row.from_escrow, row.from_payee, row.from_fees, row.member_id], 'the refund as recorded').toEqual([gross, split.fromEscrow, split.fromPayee, split.fromFees, x.memberId]);
  tally(sim, split.fromEscrow === gross ? 'refund:from_escrow' : split.fromEscrow === 0n ? 'refund:after_release' : 'refund:escrow_and_after_release');
  if (omit) tally(sim, 'refund:member_omitted');
  refundPart(x, gross);
  giveBack(payee, split.fromPayee);
  (p.members[o.buyerIndex] as MemberModel).spendable += gross;
}

async function transfer(sim: Sim, p: PlatformModel, c: Extract<Command, { kind: 'subsidy' | 'pay_to_platform' | 'same_name' }>): Promise<void> {
  const orderNo = newOrderNo(p, 'trf');
  if (c.kind === 'subsidy') {
    const m = pick(p.members, c.member) as MemberModel;
    const amount = p.marketing === 0n ? BigInt(c.pct) : (p.marketing * BigInt(c.pct)) / 100n + 1n;
    const done = await expectOutcome(sim, c.kind, amount > p.marketing ? 'insufficient_funds' : null, () =>
      sim.runtime.transfers.create(p.id, { orderNo, purpose: 'subsidy', from: { account: 'marketing' }, to: { memberId: m.id }, amountMinor: amount }, actor),
    );
    if (done === null) return;
    p.orderNos.push(orderNo);
    p.marketing -= amount;
    m.spendable += amount;
    return;
  }
  if (c.kind === 'pay_to_platform') {
    const m = pick(p.members, c.member) as MemberModel;
    const amount = available(m) === 0n ? BigInt(c.pct) : (available(m) * BigInt(c.pct)) / 100n + 1n;
    const expected: ErrorCode | null = !c.goodCode ? 'consent_required' : amount > available(m) ? 'insufficient_funds' : null;
    const done = await expectOutcome(sim, c.kind, expected, () =>
      sim.runtime.transfers.create(
        p.id,
        { orderNo, purpose: 'pay_to_platform', from: { memberId: m.id }, to: { account: 'fees' }, amountMinor: amount, smsCode: c.goodCode ? '000000' : '123456' },
        actor,
      ),
    );
    if (done === null) return;
    p.orderNos.push(orderNo);
    payFrom(m, amount);
    p.paidToPlatform += amount;
    return;
  }
  const pair = pick(p.pairs, c.pair) as readonly [number, number];
  const [a, b] = c.mismatched ? [pair[0], (pair[1] + 1 + (c.pair % (p.members.length - 2))) % p.members.length] : pair;
  const from = p.members[c.reverse ? b : a] as MemberModel;
  const to = p.members[c.reverse ? a : b] as MemberModel;
  const samePerson = p.pairs.some(([x, y]) => (x === from.index && y === to.index) || (x === to.index && y === from.index));
  const amount = available(from) === 0n ? BigInt(c.pct) : (available(from) * BigInt(c.pct)) / 100n + 1n;
  const expected: ErrorCode | null = !samePerson ? 'transfer_not_allowed' : amount > available(from) ? 'insufficient_funds' : null;
  const done = await expectOutcome(sim, c.kind, expected, () =>
    sim.runtime.transfers.create(p.id, { orderNo, purpose: 'same_name', from: { memberId: from.id }, to: { memberId: to.id }, amountMinor: amount }, actor),
  );
  if (done === null) return;
  p.orderNos.push(orderNo);
  // Bucket for bucket: withdrawable, then pending (each lot keeping its date, booked today), then spendable.
  const today = dateAt(sim.runtime.clock.nowMs());
  let left = amount;
  for (const bucket of ['withdrawable', 'pending'] as const) {
    const part = minOf(left, from[bucket]);
    for (const [date, taken] of takeLots(from, bucket, part)) addLot(to, bucket, date, taken, today);
    left -= part;
  }
  from.spendable -= left;
  to.spendable += left;
}

async function bankCredit(sim: Sim, p: PlatformModel, c: Extract<Command, { kind: 'bank_credit' }>): Promise<void> {
  const m = pick(p.members, c.member) as MemberModel;
  const other = sim.platforms[(p.index + 1) % sim.platforms.length] as PlatformModel;
  const memo = {
    sub_account: `货款 ${m.subAccountNo} 谢谢`,
    none: 'payment for goods, order forty-two',
    other_platform: `to ${(pick(other.members, c.member) as MemberModel).subAccountNo}`,
    unknown_number: 'acct 9999999999999999',
  }[c.memo];
  const credited = c.memo === 'sub_account';
  const row = await expectOutcome(sim, c.kind, null, () =>
    sim.runtime.suspense.recordBankCredit(p.id, { amountMinor: c.amount, payerAccount: '6222020200112233445', payerName: '李四', memo }, actor),
  );
  if (row === null) return;
  expect([row.status, row.member_id], `bank credit with memo ${memo}`).toEqual(credited ? ['credited', m.id] : ['suspense', null]);
  tally(sim, `bank_credit:${row.status}`);
  p.custody += c.amount;
  if (credited) m.spendable += c.amount;
  else p.suspense.push({ id: row.suspense_id as string, amount: c.amount, allocated: 0n, reversed: 0n });
}

async function settleSuspense(sim: Sim, p: PlatformModel, c: Extract<Command, { kind: 'suspense_allocate' | 'suspense_reverse' }>): Promise<void> {
  const open = p.suspense.filter((s) => s.amount > s.allocated + s.reversed);
  const item = pick(open.length > 0 && c.item % 8 !== 0 ? open : p.suspense, c.item);
  if (item === undefined) return void tally(sim, 'skipped:no_suspense');
  const left = item.amount - item.allocated - item.reversed;
  const amount = c.whole ? undefined : (left * BigInt(c.pct)) / 100n + 1n;
  const moved = amount ?? left;
  const expected: ErrorCode | null = left === 0n || moved > left ? 'suspense_not_open' : null;
  const member = c.kind === 'suspense_allocate' ? (pick(p.members, c.member) as MemberModel) : null;
  const row = await expectOutcome(sim, c.kind, expected, () =>
    member === null ? sim.runtime.suspense.reverse(p.id, item.id, amount, actor) : sim.runtime.suspense.allocate(p.id, item.id, member.id, amount, actor),
  );
  if (row === null) return;
  if (member === null) {
    item.reversed += moved;
    p.custody -= moved;
  } else {
    item.allocated += moved;
    member.spendable += moved;
  }
  const settled = item.allocated + item.reversed === item.amount;
  const status = !settled ? 'open' : item.reversed === 0n ? 'allocated' : item.allocated === 0n ? 'reversed' : 'settled';
  expect([row.allocated, row.reversed, row.status], 'the suspense item').toEqual([item.allocated, item.reversed, status]);
}

async function run(sim: Sim, c: Command): Promise<void> {
  const p = sim.platforms[c.platform] as PlatformModel;
  sim.touched.add(c.kind === 'clock' ? -1 : p.index);
  switch (c.kind) {
    case 'recharge':
    case 'fund_marketing':
      return recharge(sim, p, c);
    case 'order':
      return order(sim, p, c);
    case 'confirm':
      return confirm(sim, p, c);
    case 'refund':
      return refund(sim, p, c);
    case 'subsidy':
    case 'pay_to_platform':
    case 'same_name':
      return transfer(sim, p, c);
    case 'bank_credit':
      return bankCredit(sim, p, c);
    case 'suspense_allocate':
    case 'suspense_reverse':
      return settleSuspense(sim, p, c);
    case 'clock':
      await advance(sim, c.seconds);
      tally(sim, 'clock:ok');
      return;
  }
}

// ---------------------------------------------------------------------------------------
// The auditor: the services against the model, after every step.

const invariantNames = ['custody_equals_subaccounts', 'guarantee_equals_open_escrows', 'hash_chain_intact', 'journal_balanced', 'no_negative_member_buckets'];

async function allOrders(runtime: Runtime, platformId: string): Promise<OrderRow[]> {
  const rows: OrderRow[] = [];
  for (;;) {
    const page = await runtime.orders.list(platformId, 100, rows.at(-1)?.id);
    rows.push(...page);
    if (page.length < 100) return rows;
  }
}

async function audit(sim: Sim, p: PlatformModel, fullChain = false): Promise<void> {
  const runtime = sim.runtime;
  const where = `platform ${p.escrowMode}`;

  // Everything is read first (concurrently), then compared.
  const [invariants, members, rows, view] = await Promise.all([
    runtime.invariants.check(p.id, fullChain ? undefined : p.chain),
    Promise.all(
      p.members.map(async (m) => {
        const [b, pending, withdrawable] = await Promise.all([
          runtime.members.balances(m.record),
          runtime.trades.lots(p.id, m.id, 'pending'),
          runtime.trades.lots(p.id, m.id, 'withdrawable'),
        ]);
        return { m, b, lots: { pending, withdrawable } };
      }),
    ),
    allOrders(runtime, p.id),
    runtime.platforms.get(p.id),
  ]);

  expect(invariants.checks.map((c) => c.name).sort(), where).toEqual(invariantNames);
  for (const check of invariants.checks) expect(check.ok, `${where}: invariant ${check.name}: ${check.detail}`).toBe(true);
  p.chain = invariants.chain;

  for (const { m, b, lots } of members) {
    const actual = { spendable: b.spendableMinor, pending: b.pendingMinor, withdrawable: b.withdrawableMinor, frozen: b.frozenMinor, available: b.availableMinor };
    for (const [bucket, value] of Object.entries(actual)) if (value < 0n) expect.fail(`${where}: member ${m.index} ${bucket} is ${value}`);
    expect(actual, `${where}: member ${m.index} balances, service (left) vs model`).toEqual({
      spendable: m.spendable,
      pending: m.pending,
      withdrawable: m.withdrawable,
      frozen: frozenOf(p, m.index),
      available: available(m),
    });
    for (const bucket of ['pending', 'withdrawable'] as const) {
      const byDate = new Map<string, bigint>();
      for (const lot of lots[bucket]) {
        if (!(lot.remaining > 0n && lot.remaining <= lot.amount && lot.member_id === m.id && lot.bucket === bucket)) expect.fail(`${where}: lot ${show(lot)}`);
        byDate.set(lot.business_date, (byDate.get(lot.business_date) ?? 0n) + lot.remaining);
      }
      // Lots explain proceeds exactly, and they were spent oldest date first.
      expect(sum(byDate.values()), `${where}: member ${m.index}: Σ ${bucket} lots vs the ${bucket} bucket`).toBe(actual[bucket]);
      expect(Object.fromEntries(byDate), `${where}: member ${m.index}: ${bucket} lots per business date vs model`).toEqual(lotsByDate(m, bucket));
    }
  }

  expect(rows.length, `${where}: orders`).toBe(p.orders.length);
  const byId = new Map(rows.map((r) => [r.id, r]));
  let feesKept = 0n;
  for (const o of p.orders) {
    const row = byId.get(o.id);
    expect(row, `${where}: order ${o.orderNo}`).toBeDefined();
    if (row === undefined) continue;
    const parts = payeesOf(row);
    feesKept += sum(parts.map((x) => x.feeReleased - x.feeRefunded));
    expect(
      { status: row.status, amount: row.amount, escrowed: row.escrowed_amount, released: row.released_amount, refunded: row.refunded_amount },
      `${where}: order ${o.orderNo} totals, service (left) vs model`,
    ).toEqual({
      status: statusOf(o),
      amount: sum(o.parts.map((x) => x.amount)),
      escrowed: escrowOf(o),
      released: sum(o.parts.map((x) => x.released)),
      refunded: sum(o.parts.map((x) => x.refunded)),
    });
    expect(parts, `${where}: order ${o.orderNo} payee parts, service (left) vs model`).toEqual(
      o.parts.map((x) => ({
        memberId: x.memberId,
        amount: x.amount,
        fee: x.fee,
        escrowed: x.escrowed,
        released: x.released,
        feeReleased: x.feeReleased,
        refunded: x.refunded,
        refundedAfterRelease: x.refundedAfterRelease,
        feeRefunded: x.feeRefunded,
      })),
    );
    for (const x of o.parts) {
      const context = `${where}: order ${o.orderNo} part of member ${x.memberIndex}`;
      expect(x.escrowed + x.released + (x.refunded - x.refundedAfterRelease), `${context}: amount = escrowed + released + refunded from escrow`).toBe(x.amount);
      expect(0n <= x.feeRefunded && x.feeRefunded <= x.feeReleased && x.feeReleased <= x.fee, `${context}: feeRefunded ≤ feeReleased ≤ fee`).toBe(true);
      if (x.refunded === x.amount) expect(x.feeRefunded, `${context}: all refunded, all fee back`).toBe(x.feeReleased);
      expect(x.netReturned <= x.netPaid, `${context}: a payee never gives back more than it got (${x.netReturned} > ${x.netPaid})`).toBe(true);
    }
  }

  const accounts = Object.fromEntries(view.accounts.map((a) => [a.code, a.balanceMinor]));
  expect(accounts.fees, `${where}: fees account = Σ fee shares kept + paid to the platform`).toBe(feesKept + p.paidToPlatform);
  const escrowed = sum(p.orders.map(escrowOf));
  expect(accounts, `${where}: platform accounts, service (left) vs model`).toEqual({
    custody_summary: p.custody,
    channel_in_transit: sum(p.inTransit.values()),
    suspense: sum(p.suspense.map((s) => s.amount - s.allocated - s.reversed)),
    fees: fees(p),
    guarantee: p.escrowMode === 'intermediate' ? escrowed : 0n,
    marketing: p.marketing,
    interest: 0n,
    own_funds: 0n,
    withdrawal_in_transit: 0n,
  });
}

// ---------------------------------------------------------------------------------------
// Set-up.

interface Opened {
  readonly runtime: Runtime;
  readonly warnings: string[];
  dispose(): Promise<void>;
}

/** A sandbox runtime on a fresh database (as test/support/test-app.ts opens one), on a clock only the test moves. */
async function openRuntime(adapter: AdapterName): Promise<Opened> {
  const schema = adapter === 'postgres' ? `test_${randomBytes(6).toString('hex')}` : undefined;
  if (adapter === 'postgres' && !databaseUrl) throw new Error('the postgres adapter needs DATABASE_URL');
  const warnings: string[] = [];
  const runtime = await createRuntime({
    sandbox: true,
    encryptionKey: randomBytes(32).toString('hex'),
    databaseUrl: adapter === 'postgres' ? databaseUrl : undefined,
    schema,
    seed: SEED,
    wallClock: new ManualClock(),
    log: { warn: (_fields, message) => warnings.push(message) },
  });
  return {
    runtime,
    warnings,
    async dispose() {
      await runtime.close();
      if (schema !== undefined) {
        const client = new pg.Client({ connectionString: databaseUrl });
        await client.connect();
        await client.query(`drop schema ${schema} cascade`);
        await client.end();
      }
    },
  };
}

/** Identity numbers that pass their check characters (a resident born 1990-03-07; a Beijing company), and a mobile. */
const residentId = (n: number): string => `11010519900307${String(n % 1000).padStart(3, '0')}`.replace(/^.*$/, (first17) => `${first17}${residentIdCheckCharacter(first17)}`);
const creditCode = (n: number): string => `91110108${String(n).padStart(9, '0')}`.replace(/^.*$/, (first17) => `${first17}${creditCodeCheckCharacter(first17)}`);
const mobile = (n: number): string => `139${String(n).padStart(8, '0')}`;

/**
 * Eight members: three merchant/ordinary pairs of one person each (two individuals, one
 * enterprise), a lone merchant and a lone ordinary member.
 */
async function openPlatform(runtime: Runtime, index: number, escrowMode: EscrowMode, autoConfirmSeconds: number): Promise<PlatformModel> {
  const { platform } = await runtime.platforms.sign({ name: `sim ${escrowMode}`, escrowMode, autoConfirmSeconds });
  const n = (k: number) => 100 + index * 20 + k;
  const people = [
    { type: 'individual' as const, idNumber: residentId(n(0)), property: 'ordinary' as const },
    { type: 'individual' as const, idNumber: residentId(n(0)), property: 'merchant' as const },
    { type: 'enterprise' as const, idNumber: creditCode(n(1)), property: 'ordinary' as const },
    { type: 'enterprise' as const, idNumber: creditCode(n(1)), property: 'merchant' as const },
    { type: 'individual' as const, idNumber: residentId(n(2)), property: 'ordinary' as const },
    { type: 'individual' as const, idNumber: residentId(n(2)), property: 'merchant' as const },
    { type: 'individual' as const, idNumber: residentId(n(3)), property: 'merchant' as const },
    { type: 'individual' as const, idNumber: residentId(n(4)), property: 'ordinary' as const },
  ];
  const members: MemberModel[] = [];
  for (const [k, person] of people.entries()) {
    const view = await runtime.members.open(platform.id, {
      externalId: `p${index}-m${k}`,
      name: person.type === 'individual' ? '张三' : '某某科技有限公司',
      type: person.type,
      property: person.property,
      idNumber: person.idNumber,
      phone: mobile(n(k)),
    });
    members.push({
      index: k,
      id: view.id,
      record: await runtime.members.record(platform.id, view.id),
      subAccountNo: view.subAccountNo,
      spendable: 0n,
      pending: 0n,
      withdrawable: 0n,
      lots: { pending: new Map(), withdrawable: new Map() },
    });
  }
  return {
    index,
    id: platform.id,
    escrowMode,
    members,
    pairs: [
      [0, 1],
      [2, 3],
      [4, 5],
    ],
    orders: [],
    suspense: [],
    orderNos: [],
    marketing: 0n,
    paidToPlatform: 0n,
    custody: 0n,
    inTransit: new Map(),
    openedOn: dateAt(platform.createdAtMs),
    closedThrough: null,
    chain: undefined,
    nextNo: 0,
  };
}

function describeStep(sim: Sim, c: Command): string {
  const p = sim.platforms[c.platform] as PlatformModel;
  return `step ${sim.step} [${c.kind === 'clock' ? 'all' : p.escrowMode}] ${show(c)}`;
}

for (const adapter of ADAPTERS) {
  describe(`trade simulation (${adapter})`, () => {
    let opened: Opened;
    beforeAll(async () => {
      opened = await openRuntime(adapter);
    });
    afterAll(async () => {
      await opened.dispose();
    });

    it(`runs ${STEPS} seeded steps per platform through the services and audits after every one (seed ${SEED})`, async () => {
      const runtime = opened.runtime;
      const platforms: PlatformModel[] = [];
      for (const [i, mode] of escrowModes.entries()) platforms.push(await openPlatform(runtime, i, mode, platformAutoConfirmSeconds[mode]));
      const sim: Sim = { runtime, platforms, tallies: new Map(), history: [], warnings: opened.warnings, touched: new Set(), step: 0 };
      const commands = fc.sample(commandArb, { seed: SEED, numRuns: STEPS * platforms.length });
      const started = Date.now();
      const cpuStarted = process.cpuUsage();
      let auditMs = 0;
      for (const command of commands) {
        sim.step += 1;
        const step = describeStep(sim, command);
        sim.history.push(step);
        try {
          sim.touched.clear();
          await run(sim, command);
          const auditStarted = Date.now();
          const all = sim.touched.has(-1) || sim.step % fullAuditEvery === 0 || sim.step === commands.length;
          // The last audit walks every platform's hash chain from its first entry again.
          for (const p of platforms) if (all || sim.touched.has(p.index)) await audit(sim, p, sim.step === commands.length);
          auditMs += Date.now() - auditStarted;
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          const mode = command.kind === 'clock' ? null : (platforms[command.platform] as PlatformModel).escrowMode;
          const platformHistory = sim.history.filter((h) => mode === null || h.includes(`[${mode}]`) || h.includes('[all]'));
          const reproduce = `TRADE_SIM_SEED=${SEED} TRADE_SIM_STEPS=${STEPS}`;
          throw new Error(`${reproduce}\n${step}\n${message}\n--- steps of that platform (all platforms for a clock step) so far, last 40:\n${platformHistory.slice(-40).join('\n')}`, { cause: error });
        }
      }
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      const cpu = process.cpuUsage(cpuStarted);
      const cpuSeconds = ((cpu.user + cpu.system) / 1e6).toFixed(1);
      const lines = [...sim.tallies.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `  ${k.padEnd(44)} ${v}`);
      console.log(`trade simulation (${adapter}), seed ${SEED}, ${commands.length} steps in ${seconds} s (auditing ${(auditMs / 1000).toFixed(1)} s; ${cpuSeconds} s of CPU in this process):\n${lines.join('\n')}\n  channel warnings: ${sim.warnings.length}`);

      // Every kind of step happened, and the outcomes the workload was built to reach were reached.
      for (const kind of kinds) expect(sim.tallies.get(`${kind}:ok`) ?? 0, `${kind} succeeded at least once`).toBeGreaterThan(0);
      for (const key of [
        'order:guaranteed', 'order:direct_t0', 'order:direct_t1', 'confirm:partial', 'confirm:full', 'auto_confirm',
        'refund:from_escrow', 'refund:after_release', 'payin:failed', 'bank_credit:credited', 'bank_credit:suspense',
        'order:insufficient_funds', 'order:duplicate_order_no', 'confirm:order_not_confirmable', 'refund:refund_exceeds_paid',
        'pay_to_platform:consent_required', 'pay_to_platform:insufficient_funds', 'same_name:transfer_not_allowed',
        'same_name:insufficient_funds', 'subsidy:insufficient_funds', 'suspense_allocate:suspense_not_open',
        'eod:day_closed', 'eod:proceeds_made_withdrawable', 'eod:channel_settled',
      ]) {
        expect(sim.tallies.get(key) ?? 0, key).toBeGreaterThan(0);
      }
      expect(sim.warnings).toEqual([]);
    }, simulationTimeoutMs);
  });

  /**
   * The fee-sharing rules through the services at their edges (test/custody/trade-rules.test.ts
   * has them as pure rules), and regressions for the cases that used to throw out of
   * pairPostings (a 500, and auto-confirm stuck for every platform).
   */
  describe(`fee sharing through the services (${adapter})`, () => {
    let opened: Opened;
    let platformNo = 0;
    beforeAll(async () => {
      opened = await openRuntime(adapter);
    });
    afterAll(async () => {
      await opened.dispose();
    });

    /** A platform with a buyer holding `funds` (by bank credit, no clock needed) and two payees. */
    async function setUp(funds: bigint, escrowMode: EscrowMode = 'intermediate') {
      const runtime = opened.runtime;
      platformNo += 1;
      const p = await openPlatform(runtime, 10 + platformNo, escrowMode, 180 * 86_400);
      const [buyer, payee, other] = p.members as [MemberModel, MemberModel, MemberModel];
      await runtime.suspense.recordBankCredit(p.id, { amountMinor: funds, payerAccount: '6222020200112233445', payerName: '李四', memo: buyer.subAccountNo }, actor);
      const balances = async (m: MemberModel) => runtime.members.balances(m.record);
      const feesAccount = async () => (await runtime.platforms.get(p.id)).accounts.find((a) => a.code === 'fees')?.balanceMinor;
      const attempt = async (call: () => Promise<unknown>) =>
        call().then(
          () => 'ok',
          (error: unknown) => (error instanceof CustodyError ? `refused ${error.code}` : error instanceof Error ? `${error.name}: ${error.message}` : String(error)),
        );
      const checkBooks = async () => expect((await runtime.invariants.check(p.id)).ok).toBe(true);
      return { runtime, p, buyer, payee, other, balances, feesAccount, attempt, checkBooks };
    }

    it('a 3-fen part with a 2-fen fee confirmed 1 fen at a time pays the fees 2 fen and the payee 1', async () => {
      const { runtime, p, buyer, payee, attempt, balances, feesAccount } = await setUp(3n);
      const o = await runtime.orders.create(p.id, { orderNo: 'd1', buyerId: buyer.id, mode: 'guaranteed', payees: [{ memberId: payee.id, amountMinor: 3n, feeMinor: 2n }] }, actor);
      const one = [{ memberId: payee.id, amountMinor: 1n }];
      const outcomes = [];
      for (let i = 0; i < 3; i++) outcomes.push(await attempt(() => runtime.orders.confirm(p.id, o.id, one, actor)));
      expect({ outcomes, fees: await feesAccount(), payeePending: (await balances(payee)).pendingMinor }).toEqual({ outcomes: ['ok', 'ok', 'ok'], fees: 2n, payeePending: 1n });
    });

    it('confirming the rest of a part after a refund from escrow succeeds (100 fen, fee 10, refund 95, confirm 5)', async () => {
      const { runtime, p, buyer, payee, attempt, balances, checkBooks } = await setUp(100n);
      const o = await runtime.orders.create(p.id, { orderNo: 'd2', buyerId: buyer.id, mode: 'guaranteed', payees: [{ memberId: payee.id, amountMinor: 100n, feeMinor: 10n }] }, actor);
      expect(await attempt(() => runtime.orders.refund(p.id, o.id, 95n, payee.id, actor))).toBe('ok');
      expect(await attempt(() => runtime.orders.confirm(p.id, o.id, undefined, actor))).toBe('ok');
      // The emptying release takes the rest of the fee, at most the 5 fen released.
      expect((await balances(payee)).pendingMinor).toBe(0n);
      await checkBooks();
    });

    it('auto-confirm of such an order neither throws out of the clock nor holds back other due orders', async () => {
      const { runtime, p, buyer, payee, other, attempt, checkBooks } = await setUp(200n);
      const stuck = await runtime.orders.create(p.id, { orderNo: 'd3a', buyerId: buyer.id, mode: 'guaranteed', payees: [{ memberId: payee.id, amountMinor: 100n, feeMinor: 10n }], autoConfirmSeconds: 60 }, actor);
      const healthy = await runtime.orders.create(p.id, { orderNo: 'd3b', buyerId: buyer.id, mode: 'guaranteed', payees: [{ memberId: other.id, amountMinor: 100n }], autoConfirmSeconds: 61 }, actor);
      expect(await attempt(() => runtime.orders.refund(p.id, stuck.id, 95n, payee.id, actor))).toBe('ok');
      const clock = await attempt(() => runtime.advanceClock(120));
      const statuses = [(await runtime.orders.get(p.id, stuck.id)).status, (await runtime.orders.get(p.id, healthy.id)).status];
      expect([clock, ...statuses]).toEqual(['ok', 'completed', 'completed']);
      await checkBooks();
    });

    it('a refund within what was paid is not refused once the payee gave back all it got (direct, 3 fen, fee 2, refunds 1 and 1)', async () => {
      const { runtime, p, buyer, payee, attempt } = await setUp(3n);
      const o = await runtime.orders.create(p.id, { orderNo: 'd4', buyerId: buyer.id, mode: 'direct_t0', payees: [{ memberId: payee.id, amountMinor: 3n, feeMinor: 2n }] }, actor);
      const outcomes = [await attempt(() => runtime.orders.refund(p.id, o.id, 1n, payee.id, actor)), await attempt(() => runtime.orders.refund(p.id, o.id, 1n, payee.id, actor))];
      expect(outcomes).toEqual(['ok', 'ok']);
    });

    it("refunds after release never take the payee's other money, and a full refund gives the whole fee back (direct, 3 fen, fee 2, refunds 1, 1, 1)", async () => {
      const { runtime, p, buyer, payee, attempt, balances, feesAccount } = await setUp(3n);
      await runtime.suspense.recordBankCredit(p.id, { amountMinor: 50n, payerAccount: '6222020200112233445', payerName: '王五', memo: payee.subAccountNo }, actor);
      const o = await runtime.orders.create(p.id, { orderNo: 'd5', buyerId: buyer.id, mode: 'direct_t0', payees: [{ memberId: payee.id, amountMinor: 3n, feeMinor: 2n }] }, actor);
      const outcomes = [];
      for (let i = 0; i < 3; i++) outcomes.push(await attempt(() => runtime.orders.refund(p.id, o.id, 1n, payee.id, actor)));
      const [order, payeeBalances, fees] = [await runtime.orders.get(p.id, o.id), await balances(payee), await feesAccount()];
      expect({ outcomes, status: order.status, payeeAvailable: payeeBalances.availableMinor, fees }).toEqual({ outcomes: ['ok', 'ok', 'ok'], status: 'refunded', payeeAvailable: 50n, fees: 0n });
    });
  });
}
