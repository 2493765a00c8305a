import type { LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import { creditCodeCheckCharacter, luhnCheckDigit, residentIdCheckCharacter } from '../../src/custody/identity-validators.js';
import { errorCatalog } from '../../src/errors.js';
import type { ErrorCode } from '../../src/errors.js';
import { adminToken } from './test-app.js';
import type { TestApp } from './test-app.js';

/**
 * Helpers for the black-box HTTP suites: valid identity numbers, card numbers with a chosen
 * ending, and the few calls every suite makes (sign a platform, open a member, bind a card).
 * Numbers are built with the validators' exported check-character functions and made unique
 * per process by a counter, so suites never collide on a card or an id number.
 */

let sequence = 0;
function next(): number {
  sequence += 1;
  return sequence;
}

/** An 18-character resident ID number (Beijing, born 1990-03-07) that passes MOD 11-2. */
export function residentId(n = next()): string {
  const first17 = `11010519900307${String(n % 1000).padStart(3, '0')}`;
  return `${first17}${residentIdCheckCharacter(first17)}`;
}

/** An 18-character unified social credit code that passes MOD 31. */
export function creditCode(n = next()): string {
  const first17 = `91110108${String(n % 1_000_000_000).padStart(9, '0')}`;
  return `${first17}${creditCodeCheckCharacter(first17)}`;
}

/** A mainland mobile number, `139` and eight digits. */
export function mobile(n = next()): string {
  return `139${String(n % 100_000_000).padStart(8, '0')}`;
}

/**
 * A 16-digit card number passing Luhn whose last four digits are `ending` (e.g. the sandbox
 * magic `0002`): one free digit before the ending is chosen so that the check digit comes out
 * as the ending's last digit (changing one digit walks the check digit through all ten values).
 */
export function cardEndingIn(ending: string, n = next()): string {
  if (!/^\d{4}$/.test(ending)) throw new Error('cardEndingIn: four digits');
  const head = `6222${String(n % 10_000_000).padStart(7, '0')}`;
  for (let free = 0; free <= 9; free++) {
    const partial = `${head}${free}${ending.slice(0, 3)}`;
    if (luhnCheckDigit(partial) === ending[3]) return `${partial}${ending[3]}`;
  }
  throw new Error('cardEndingIn: no digit fits (cannot happen)');
}

/** A card number that verifies and pays out normally in the sandbox. */
export function goodCard(n = next()): string {
  return cardEndingIn(String(1000 + (n % 9000)), n);
}

/** A well-formed public id of `prefix` that names nothing. */
export function unknownId(prefix: string): string {
  return `${prefix}_000000${'z'.repeat(20)}`;
}

export type Json = Record<string, unknown>;

/** Every key of `value`, nested ones included, e.g. `balances.available`. */
function keysOf(value: unknown, prefix = ''): string[] {
  if (value === null || typeof value !== 'object') return [];
  if (Array.isArray(value)) return value.flatMap((item) => keysOf(item, prefix));
  return Object.entries(value as Json).flatMap(([key, item]) => [`${prefix}${key}`, ...keysOf(item, `${prefix}${key}.`)]);
}

/**
 * `body` has the fields of `expected` with their values (API.md: fields may be added, never
 * renamed), and every field it has, at any depth, is snake_case.
 */
export function expectShape(body: unknown, expected: Json): void {
  expect(body).toMatchObject(expected);
  const notSnake = keysOf(body).filter((key) => !/^[a-z][a-z0-9]*(_[a-z0-9]+)*$/.test(key.split('.').at(-1) ?? ''));
  expect(notSnake).toEqual([]);
}

export function json(response: LightMyRequestResponse): Json {
  return response.json<Json>();
}

/** `{data, has_more}` of a list response. */
export function listOf(response: LightMyRequestResponse): { data: Json[]; has_more: boolean } {
  return response.json<{ data: Json[]; has_more: boolean }>();
}

/** Passed as `param` when the test does not care which param an error names. */
export const anyParam = Symbol('any param');

/**
 * `response` is an error of the catalog: its status, the exact body shape, the request id
 * echoed in the `request-id` header, and `param` (absent when not given).
 */
export function expectError(response: LightMyRequestResponse, code: ErrorCode, param?: string | typeof anyParam): Json {
  const body = json(response);
  expect({ status: response.statusCode, code: (body.error as Json | undefined)?.code }).toEqual({ status: errorCatalog[code].status, code });
  const error = body.error as Json;
  expect(Object.keys(body)).toEqual(['error']);
  const allowed = ['code', 'message', 'param', 'request_id'];
  expect(Object.keys(error).filter((key) => !allowed.includes(key))).toEqual([]);
  expect(typeof error.message).toBe('string');
  expect(error.request_id).toMatch(/^req_/);
  if (response.headers['idempotent-replayed'] === undefined) expect(error.request_id).toBe(response.headers['request-id']);
  if (param !== anyParam) expect(error.param).toBe(param);
  return error;
}

/** 404 not_found, whichever param it names. */
export function expectNotFound(response: LightMyRequestResponse): Json {
  return expectError(response, 'not_found', anyParam);
}

export interface SignedPlatform {
  readonly id: string;
  readonly apiKey: string;
  readonly body: Json;
}

export async function signPlatform(t: TestApp, body: Json = {}): Promise<SignedPlatform> {
  const response = await t.call('POST', '/v1/ops/platforms', adminToken, { name: `Platform ${next()}`, ...body });
  expect(response.statusCode, response.body).toBe(201);
  const created = json(response);
  return { id: created.id as string, apiKey: created.api_key as string, body: created };
}

export interface MemberInput {
  readonly external_id: string;
  readonly name: string;
  readonly type: 'individual' | 'enterprise';
  readonly id_number: string;
  readonly phone: string;
  readonly property?: 'ordinary' | 'merchant';
}

export function individual(more: Partial<MemberInput> = {}): MemberInput {
  const n = next();
  return { external_id: `user-${n}`, name: '张三', type: 'individual', id_number: residentId(n), phone: mobile(n), ...more };
}

export function enterprise(more: Partial<MemberInput> = {}): MemberInput {
  const n = next();
  return { external_id: `firm-${n}`, name: '某某科技有限公司', type: 'enterprise', id_number: creditCode(n), phone: mobile(n), ...more };
}

export interface OpenedMember {
  readonly id: string;
  readonly input: MemberInput;
  readonly body: Json;
}

export async function openMember(t: TestApp, apiKey: string, input: MemberInput = individual()): Promise<OpenedMember> {
  const response = await t.call('POST', '/v1/members', apiKey, { ...input });
  expect(response.statusCode, response.body).toBe(201);
  const body = json(response);
  return { id: body.id as string, input, body };
}

export interface StartedCard {
  readonly id: string;
  readonly cardNumber: string;
  readonly body: Json;
  /** The sandbox answer: the SMS code or the deposited amount. */
  readonly answer: Json;
}

/** Starts binding and returns the sandbox answer, ready to confirm. */
export async function startCard(
  t: TestApp,
  apiKey: string,
  member: OpenedMember,
  method: 'four_element' | 'small_amount',
  cardNumber = goodCard(),
): Promise<StartedCard> {
  const body = method === 'four_element' ? { method, card_number: cardNumber, phone: member.input.phone } : { method, card_number: cardNumber };
  const response = await t.call('POST', `/v1/members/${member.id}/cards`, apiKey, body);
  expect(response.statusCode, response.body).toBe(201);
  const created = json(response);
  const sandbox = (created.sandbox ?? {}) as Json;
  const answer = method === 'four_element' ? { sms_code: sandbox.sms_code } : { amount: sandbox.amount };
  return { id: created.id as string, cardNumber, body: created, answer };
}

/** Starts and confirms a binding: the card is bound. */
export async function bindCard(
  t: TestApp,
  apiKey: string,
  member: OpenedMember,
  method: 'four_element' | 'small_amount' = 'four_element',
  cardNumber = goodCard(),
): Promise<StartedCard> {
  const started = await startCard(t, apiKey, member, method, cardNumber);
  const confirmed = await t.call('POST', `/v1/members/${member.id}/cards/${started.id}/confirm`, apiKey, started.answer);
  expect(confirmed.statusCode, confirmed.body).toBe(200);
  expect(json(confirmed).status).toBe('bound');
  return started;
}

/** Creates an operator of `role` and returns its token. */
export async function operatorToken(t: TestApp, role: 'viewer' | 'operator' | 'approver' | 'admin', name = `${role} ${next()}`): Promise<{ id: string; token: string }> {
  const response = await t.call('POST', '/v1/ops/operators', adminToken, { name, role });
  expect(response.statusCode, response.body).toBe(201);
  const body = json(response);
  return { id: body.id as string, token: body.token as string };
}

/** The platform-time business date of epoch ms, shifted by `days` (Asia/Shanghai, no DST). */
export function shanghaiDate(ms: number, days = 0): string {
  return new Date(ms + 8 * 3600 * 1000 + days * 86_400_000).toISOString().slice(0, 10);
}

/** The verification-fee report of a platform, from yesterday to tomorrow of the app's clock. */
export async function feeReport(t: TestApp, platformId: string): Promise<{ calls: number; total_fee: number; lines: Json[] }> {
  const clock = json(await t.call('GET', '/v1/ops/clock', adminToken));
  const now = Date.parse(clock.now as string);
  const url = `/v1/ops/verification-fees?platform_id=${platformId}&from=${shanghaiDate(now, -1)}&to=${shanghaiDate(now, 1)}`;
  const response = await t.call('GET', url, adminToken);
  expect(response.statusCode, response.body).toBe(200);
  return response.json<{ calls: number; total_fee: number; lines: Json[] }>();
}

export { adminToken };
