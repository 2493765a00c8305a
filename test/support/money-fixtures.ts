import type { LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import { adminToken, json, listOf } from './http-fixtures.js';
import type { Json } from './http-fixtures.js';
import type { TestApp } from './test-app.js';

/**
 * Helpers for the money-movement suites (payins, orders, refunds, transfers, suspense): they
 * go through the HTTP API only, the way a platform and the bank's operators would, and read
 * balances back in fen. The sandbox acquiring simulator answers only when the clock moves
 * (`POST /v1/ops/clock/advance` runs its deliveries), so `recharge` moves it by a second.
 */

/** The five buckets of API.md "Balances", in fen. */
export interface Balances {
  readonly available: number;
  readonly withdrawable: number;
  readonly pending: number;
  readonly spendable: number;
  readonly frozen: number;
}

export const zeroBalances: Balances = { available: 0, withdrawable: 0, pending: 0, spendable: 0, frozen: 0 };

/** Buckets as a test states them; `available` is computed (spendable + pending + withdrawable). */
export function buckets(b: { spendable?: number; withdrawable?: number; pending?: number; frozen?: number }): Balances {
  const spendable = b.spendable ?? 0;
  const withdrawable = b.withdrawable ?? 0;
  const pending = b.pending ?? 0;
  return { available: spendable + withdrawable + pending, withdrawable, pending, spendable, frozen: b.frozen ?? 0 };
}

/** The platform account codes of API.md "Platform accounts". */
export const platformAccountCodes = [
  'custody_summary',
  'channel_in_transit',
  'suspense',
  'fees',
  'guarantee',
  'marketing',
  'interest',
  'own_funds',
  'withdrawal_in_transit',
] as const;
export type PlatformAccountCode = (typeof platformAccountCodes)[number];
export type AccountBalances = Record<PlatformAccountCode, number>;

/** The five invariant checks of API.md "Invariants". */
export const invariantNames = [
  'journal_balanced',
  'custody_equals_subaccounts',
  'guarantee_equals_open_escrows',
  'no_negative_member_buckets',
  'hash_chain_intact',
] as const;

let counter = 0;

/** A business number (order_no) no other call of this process has used. */
export function orderNo(prefix = 'no'): string {
  counter += 1;
  return `${prefix}-${process.pid.toString(36)}-${counter}`;
}

/** The member's balances as `GET /v1/members/{id}` shows them. */
export async function balances(t: TestApp, apiKey: string, memberId: string): Promise<Balances> {
  const response = await t.call('GET', `/v1/members/${memberId}`, apiKey);
  expect(response.statusCode, response.body).toBe(200);
  const found = json(response).balances as Balances;
  // API.md: available = spendable + pending + withdrawable, always.
  expect(found.available).toBe(found.spendable + found.pending + found.withdrawable);
  return found;
}

/** The platform's accounts from `GET /v1/ops/platforms/{id}`: balance by code (normal side). */
export async function accounts(t: TestApp, platformId: string): Promise<AccountBalances> {
  return Object.fromEntries((await accountRows(t, platformId)).map((a) => [a.code, a.balance])) as AccountBalances;
}

/** The platform's accounts as listed, with their public ids. */
export async function accountRows(t: TestApp, platformId: string): Promise<{ id: string; code: PlatformAccountCode; currency: string; balance: number }[]> {
  const response = await t.call('GET', `/v1/ops/platforms/${platformId}`, adminToken);
  expect(response.statusCode, response.body).toBe(200);
  const rows = json(response).accounts as { id: string; code: PlatformAccountCode; currency: string; balance: number }[];
  expect(rows.map((a) => a.code).sort()).toEqual([...platformAccountCodes].sort());
  return rows;
}

/** `after` minus `before`, per account: what a step moved. */
export function accountDelta(before: AccountBalances, after: AccountBalances): AccountBalances {
  return Object.fromEntries(platformAccountCodes.map((code) => [code, after[code] - before[code]])) as AccountBalances;
}

/** A delta naming only the accounts that moved; every other account moved by 0. */
export function moved(changes: Partial<AccountBalances>): AccountBalances {
  return Object.fromEntries(platformAccountCodes.map((code) => [code, changes[code] ?? 0])) as AccountBalances;
}

/** Moves the sandbox clock (an operator call): due callbacks, queries and auto-confirms run before it answers. */
export async function advance(t: TestApp, seconds = 1): Promise<void> {
  const response = await t.call('POST', '/v1/ops/clock/advance', adminToken, { seconds });
  expect(response.statusCode, response.body).toBe(200);
}

export async function getJson(t: TestApp, apiKey: string, url: string): Promise<Json> {
  const response = await t.call('GET', url, apiKey);
  expect(response.statusCode, response.body).toBe(200);
  return json(response);
}

/** Creates a payin and expects 201 `pending`. */
export async function startPayin(t: TestApp, apiKey: string, body: Json): Promise<Json> {
  const response = await t.call('POST', '/v1/payins', apiKey, { order_no: orderNo('pay'), ...body });
  expect(response.statusCode, response.body).toBe(201);
  const payin = json(response);
  expect(payin.status).toBe('pending');
  return payin;
}

/** A recharge through the sandbox channel, decided: `succeeded` on `sim`, `failed` on `sim_fail`. */
export async function recharge(t: TestApp, apiKey: string, memberId: string, amount: number, channel = 'sim'): Promise<Json> {
  const payin = await startPayin(t, apiKey, { amount, channel, member_id: memberId });
  await advance(t, 1);
  const decided = await getJson(t, apiKey, `/v1/payins/${payin.id as string}`);
  expect(decided.status).toBe(channel === 'sim_fail' ? 'failed' : 'succeeded');
  return decided;
}

/** Funds one of the platform's own accounts through the sandbox channel. */
export async function fundAccount(t: TestApp, apiKey: string, account: 'marketing' | 'own_funds', amount: number): Promise<Json> {
  const payin = await startPayin(t, apiKey, { amount, channel: 'sim', account });
  await advance(t, 1);
  const decided = await getJson(t, apiKey, `/v1/payins/${payin.id as string}`);
  expect(decided.status).toBe('succeeded');
  return decided;
}

export interface PayeeInput {
  readonly member_id: string;
  readonly amount: number;
  readonly fee?: number;
}

export function postOrder(t: TestApp, apiKey: string, body: Json): Promise<LightMyRequestResponse> {
  return t.call('POST', '/v1/orders', apiKey, { order_no: orderNo('ord'), ...body });
}

/** Creates an order and expects 201. */
export async function placeOrder(t: TestApp, apiKey: string, body: Json): Promise<Json> {
  const response = await postOrder(t, apiKey, body);
  expect(response.statusCode, response.body).toBe(201);
  return json(response);
}

export async function getOrder(t: TestApp, apiKey: string, orderId: string): Promise<Json> {
  return getJson(t, apiKey, `/v1/orders/${orderId}`);
}

/** Confirms (all, or the releases named) and expects 200 with the order. */
export async function confirm(t: TestApp, apiKey: string, orderId: string, payees?: PayeeInput[]): Promise<Json> {
  const response = await t.call('POST', `/v1/orders/${orderId}/confirm`, apiKey, payees === undefined ? {} : { payees });
  expect(response.statusCode, response.body).toBe(200);
  return json(response);
}

/** Refunds and expects 201 with the refund. */
export async function refund(t: TestApp, apiKey: string, orderId: string, amount: number, memberId?: string): Promise<Json> {
  const response = await t.call('POST', `/v1/orders/${orderId}/refunds`, apiKey, memberId === undefined ? { amount } : { amount, member_id: memberId });
  expect(response.statusCode, response.body).toBe(201);
  return json(response);
}

/** A payee's entry of an order, by member id. */
export function payeeOf(order: Json, memberId: string): Json {
  const payee = (order.payees as Json[]).find((p) => p.member_id === memberId);
  expect(payee, `payee ${memberId}`).toBeDefined();
  return payee as Json;
}

/** The audit trail of an object (`…/{id}/events`), oldest first. */
export async function eventsOf(t: TestApp, apiKey: string, url: string): Promise<Json[]> {
  const response = await t.call('GET', url, apiKey);
  expect(response.statusCode, response.body).toBe(200);
  return listOf(response).data;
}

/**
 * `GET /v1/ops/invariants` (and with `?platform_id=`) answers ok, every check is ok, and each
 * platform is checked by exactly the five named checks of API.md.
 */
export async function invariantsOk(t: TestApp, platformId?: string): Promise<void> {
  const url = platformId === undefined ? '/v1/ops/invariants' : `/v1/ops/invariants?platform_id=${platformId}`;
  const response = await t.call('GET', url, adminToken);
  expect(response.statusCode, response.body).toBe(200);
  const body = json(response) as { ok: boolean; checks: { name: string; ok: boolean; detail: string; platform_id?: string }[] };
  expect(body.checks.filter((c) => !c.ok)).toEqual([]);
  expect(body.ok).toBe(true);
  const byPlatform = new Map<string, string[]>();
  for (const check of body.checks) {
    const key = check.platform_id ?? '';
    byPlatform.set(key, [...(byPlatform.get(key) ?? []), check.name]);
  }
  if (platformId !== undefined) expect([...byPlatform.keys()]).toEqual([platformId]);
  for (const names of byPlatform.values()) expect([...names].sort()).toEqual([...invariantNames].sort());
}
