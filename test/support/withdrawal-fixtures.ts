import type { LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import type { Clock } from '../../src/clock.js';
import { fromPublicId } from '../../src/public-ids.js';
import type { AdapterName } from '../../src/storage/open-store.js';
import { adminToken, bindCard, cardEndingIn, goodCard, json, openMember } from './http-fixtures.js';
import type { Json, OpenedMember, SignedPlatform, StartedCard } from './http-fixtures.js';
import { advance, getJson, orderNo, placeOrder } from './money-fixtures.js';
import { openTestApp } from './test-app.js';
import type { TestApp } from './test-app.js';

/**
 * Helpers for the money-out suites (withdrawals, reviews, adjustments). Members are funded
 * the way money really reaches the custody account: a bank credit naming a buyer's
 * sub-account (custody summary and the buyer's spendable grow), then a `direct_t0` order
 * from that buyer makes the payee's proceeds withdrawable at once. Money paid in through a
 * channel would sit in channel in-transit until settlement and could not leave yet.
 */

/** Monday 2024-03-04 10:00 in Asia/Shanghai: a working day, inside the high-value rail's hours. */
export const mondayMorningMs = Date.UTC(2024, 2, 4, 2);

const shanghaiOffsetMs = 8 * 3600 * 1000;
const dayMs = 86_400_000;

/**
 * A wall clock that starts at `startMs` and then runs with real time, so the sandbox clock
 * (this plus the operators' offset) has a known weekday and hour, while timers and the
 * payout simulator's short decision delays still see time pass.
 */
export function wallClockFrom(startMs: number): Clock {
  const realStart = Date.now();
  return { nowMs: () => startMs + (Date.now() - realStart) };
}

/** A sandbox app whose clock starts on a Monday morning in Shanghai; service warnings are dropped. */
export function openMoneyOutApp(adapter: AdapterName, startMs = mondayMorningMs): Promise<TestApp> {
  return openTestApp(adapter, { wallClock: wallClockFrom(startMs), log: { warn: () => undefined } });
}

/** The sandbox clock now, as the API tells it. */
export async function clockNow(t: TestApp): Promise<number> {
  const body = await getJson(t, adminToken, '/v1/ops/clock');
  return Date.parse(body.now as string);
}

/** Weekday (0 = Sunday) and minute of the day in Asia/Shanghai (UTC+8, no daylight saving). */
export function shanghaiWallTime(ms: number): { weekday: number; minute: number } {
  const local = new Date(ms + shanghaiOffsetMs);
  return { weekday: local.getUTCDay(), minute: local.getUTCHours() * 60 + local.getUTCMinutes() };
}

/**
 * Moves the sandbox clock to the next instant (strictly later than now, at least a minute
 * on) that falls on one of `weekdays` at `hour:minute` Shanghai time. Returns that instant.
 */
export async function advanceToShanghai(t: TestApp, weekdays: readonly number[], hour: number, minute = 0): Promise<number> {
  const now = await clockNow(t);
  const localMidnight = Math.floor((now + shanghaiOffsetMs) / dayMs) * dayMs - shanghaiOffsetMs;
  for (let day = 0; day <= 8; day++) {
    const target = localMidnight + day * dayMs + (hour * 60 + minute) * 60_000;
    if (target - now < 60_000) continue;
    if (!weekdays.includes(shanghaiWallTime(target).weekday)) continue;
    await advance(t, Math.ceil((target - now) / 1000));
    return target;
  }
  throw new Error('no such instant within eight days');
}

export const workingDays = [1, 2, 3, 4, 5] as const;

/** True inside 08:30–17:00 Shanghai time on Monday to Friday: when the high-value rail pays. */
export function highValueRailOpen(ms: number): boolean {
  const { weekday, minute } = shanghaiWallTime(ms);
  return weekday >= 1 && weekday <= 5 && minute >= 8 * 60 + 30 && minute < 17 * 60;
}

/** Moves the clock into business hours (a working day, 10:00) unless it is in them, with an hour to spare. */
export async function ensureBusinessHours(t: TestApp): Promise<void> {
  const now = await clockNow(t);
  if (highValueRailOpen(now) && highValueRailOpen(now + 3600_000)) return;
  await advanceToShanghai(t, workingDays, 10);
}

/** Records a bank credit to the custody account naming the member's sub-account: their spendable grows. */
export async function bankCredit(t: TestApp, platformId: string, member: OpenedMember, amount: number): Promise<Json> {
  const response = await t.call('POST', '/v1/ops/bank-credits', adminToken, {
    platform_id: platformId,
    amount,
    payer_account: '6222000011112222',
    payer_name: member.input.name,
    memo: member.body.sub_account_no as string,
  });
  expect(response.statusCode, response.body).toBe(201);
  expect(json(response)).toMatchObject({ status: 'credited', member_id: member.id });
  return json(response);
}

/**
 * One platform's cast: a buyer whose spendable comes from bank credits, used to give members
 * withdrawable proceeds through `direct_t0` orders.
 */
export class Funder {
  private constructor(
    private readonly t: TestApp,
    readonly platform: SignedPlatform,
    readonly buyer: OpenedMember,
  ) {}

  static async open(t: TestApp, platform: SignedPlatform): Promise<Funder> {
    return new Funder(t, platform, await openMember(t, platform.apiKey));
  }

  /** Gives `payee` `amount` fen of withdrawable proceeds through one direct_t0 order; returns the order. */
  async proceeds(payee: OpenedMember, amount: number, mode: 'direct_t0' | 'direct_t1' = 'direct_t0'): Promise<Json> {
    await bankCredit(this.t, this.platform.id, this.buyer, amount);
    return placeOrder(this.t, this.platform.apiKey, { buyer_id: this.buyer.id, mode, payees: [{ member_id: payee.id, amount }] });
  }
}

export interface Seller {
  readonly member: OpenedMember;
  readonly card: StartedCard;
}

/** A member with a bound card (ending `ending`, default a card that pays normally) and optional withdrawable proceeds. */
export async function seller(t: TestApp, funder: Funder, withdrawable = 0, ending?: string): Promise<Seller> {
  const key = funder.platform.apiKey;
  const member = await openMember(t, key);
  const card = await bindCard(t, key, member, 'four_element', ending === undefined ? goodCard() : cardEndingIn(ending));
  if (withdrawable > 0) await funder.proceeds(member, withdrawable);
  return { member, card };
}

export function postWithdrawal(
  t: TestApp,
  apiKey: string,
  body: { member_id: string; card_id: string; amount: number; order_no?: string },
  headers: Record<string, string> = {},
): Promise<LightMyRequestResponse> {
  return t.call('POST', '/v1/withdrawals', apiKey, { order_no: orderNo('wdr'), ...body }, headers);
}

/** Creates a withdrawal of `amount` from the seller to its card; expects 201 and returns it. */
export async function withdraw(t: TestApp, apiKey: string, from: Seller, amount: number): Promise<Json> {
  const response = await postWithdrawal(t, apiKey, { member_id: from.member.id, card_id: from.card.id, amount });
  expect(response.statusCode, response.body).toBe(201);
  return json(response);
}

export async function getWithdrawal(t: TestApp, apiKey: string, id: string): Promise<Json> {
  return getJson(t, apiKey, `/v1/withdrawals/${id}`);
}

/**
 * Moves the clock a few seconds at a time (each move runs the due payout steps) until the
 * withdrawal reaches one of `statuses`; returns it. The bound keeps a stuck withdrawal
 * from hanging the suite: it is then returned as it stands and the caller's assertion fails.
 */
export async function settle(t: TestApp, apiKey: string, id: string, statuses: readonly string[], seconds = 2): Promise<Json> {
  let current = await getWithdrawal(t, apiKey, id);
  for (let round = 0; round < 25 && !statuses.includes(current.status as string); round++) {
    await advance(t, seconds);
    current = await getWithdrawal(t, apiKey, id);
  }
  return current;
}

/** The payout simulator never paid a payout twice (it counts its own debit movements). */
export function expectNoDoublePayout(t: TestApp): void {
  const simulator = t.runtime.payoutSimulator;
  expect(simulator).not.toBeNull();
  expect(simulator?.paidTwice()).toEqual([]);
}

/** The simulator's record of a withdrawal's payout, if the rail ever received it. */
export function railRecord(t: TestApp, withdrawalId: string) {
  const payoutId = withdrawalIdInternal(withdrawalId);
  return (t.runtime.payoutSimulator?.payouts() ?? []).find((p) => p.payoutId === payoutId);
}

function withdrawalIdInternal(publicId: string): string {
  const id = fromPublicId('withdrawal', publicId);
  if (id === null) throw new Error(`not a withdrawal id: ${publicId}`);
  return id;
}
