import type { LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import type { Clock } from '../../src/clock.js';
import type { ReconciliationService } from '../../src/custody/reconciliation-service.js';
import { SqlReconciliationStore } from '../../src/storage/sql-reconciliation-store.js';
import type { AdapterName } from '../../src/storage/open-store.js';
import { adminToken, json, listOf } from '../support/http-fixtures.js';
import type { Json } from '../support/http-fixtures.js';
import { openTestApp } from '../support/test-app.js';
import type { TestApp } from '../support/test-app.js';

/**
 * The reconciliation suites' app: a sandbox app whose clock starts on a known Shanghai
 * morning, with the runtime's reconciliation service and store at hand.
 */

/** Monday 2024-03-04 10:00 in Asia/Shanghai. */
export const mondayMorningMs = Date.UTC(2024, 2, 4, 2);
export const monday = '2024-03-04';

/** A wall clock from `startMs` that then runs with real time (timers and short delays see time pass). */
export function wallClockFrom(startMs: number): Clock {
  const realStart = Date.now();
  return { nowMs: () => startMs + (Date.now() - realStart) };
}

export interface ReconApp {
  readonly t: TestApp;
  readonly service: ReconciliationService;
  readonly store: SqlReconciliationStore;
}

export async function openReconApp(adapter: AdapterName, startMs = mondayMorningMs): Promise<ReconApp> {
  const t = await openTestApp(adapter, { wallClock: wallClockFrom(startMs), log: { warn: () => undefined } });
  const store = SqlReconciliationStore.on(t.runtime.ledger.kysely);
  return { t, service: t.runtime.reconciliations, store };
}

/** Imports a statement as JSON; returns the response. */
export function importJson(t: TestApp, token: string, body: { platform_id: string; source: string; date: string; file: string }): Promise<LightMyRequestResponse> {
  return t.call('POST', '/v1/ops/reconciliations', token, body);
}

/** Imports a statement as a text/csv body (payload may be a string, a buffer or a stream). */
export function importCsv(
  t: TestApp,
  token: string,
  query: { platform_id: string; source: string; date: string },
  payload: string | Buffer | NodeJS.ReadableStream,
): Promise<LightMyRequestResponse> {
  const search = new URLSearchParams(query).toString();
  return t.app.inject({
    method: 'POST',
    url: `/v1/ops/reconciliations?${search}`,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'text/csv' },
    payload,
  });
}

/** Expects 201 and returns the reconciliation. */
export async function imported(response: LightMyRequestResponse): Promise<Json> {
  expect(response.statusCode, response.body).toBe(201);
  const body = json(response);
  expect(body.status).toBe('completed');
  return body;
}

/** Every break of a reconciliation, through the paged list. */
export async function allBreaks(t: TestApp, id: string): Promise<Json[]> {
  const out: Json[] = [];
  let after: string | undefined;
  for (;;) {
    const url = `/v1/ops/reconciliations/${id}/breaks?limit=100${after === undefined ? '' : `&starting_after=${after}`}`;
    const response = await t.call('GET', url, adminToken);
    expect(response.statusCode, response.body).toBe(200);
    const page = listOf(response);
    out.push(...page.data);
    if (!page.has_more) return out;
    after = page.data.at(-1)?.id as string;
  }
}

/** Breaks as comparable tuples, sorted. */
export function breakTuples(breaks: readonly Json[], txnField = 'channel_txn_id'): string[] {
  return breaks.map((b) => `${b.kind as string} ${(b[txnField] as string | undefined) ?? '-'}`).sort();
}

/** A CSV file from its header and rows. */
export function csv(header: string, rows: readonly string[]): string {
  return [header, ...rows].map((line) => `${line}\n`).join('');
}

/** The data lines of a CSV text (no header), split on commas (statements of the simulators have no quoted fields). */
export function rowsOf(text: string): string[][] {
  return text
    .split('\n')
    .slice(1)
    .filter((line) => line.length > 0)
    .map((line) => line.split(','));
}

/** Records a bank credit through the ops API; returns it. */
export async function bankCredit(t: TestApp, platformId: string, amount: number, memo: string, bankTxnId?: string): Promise<Json> {
  const response = await t.call('POST', '/v1/ops/bank-credits', adminToken, {
    platform_id: platformId,
    amount,
    payer_account: '6222000011112222',
    payer_name: '王五',
    memo,
    ...(bankTxnId === undefined ? {} : { bank_txn_id: bankTxnId }),
  });
  expect(response.statusCode, response.body).toBe(201);
  return json(response);
}

/** Moves the sandbox clock until the withdrawal reaches one of `statuses` (bounded); returns it. */
export async function settleWithdrawal(t: TestApp, apiKey: string, id: string, statuses: readonly string[], seconds = 2): Promise<Json> {
  let current = json(await t.call('GET', `/v1/withdrawals/${id}`, apiKey));
  for (let round = 0; round < 30 && !statuses.includes(current.status as string); round++) {
    await advanceClock(t, seconds);
    current = json(await t.call('GET', `/v1/withdrawals/${id}`, apiKey));
  }
  expect(current.status).toBeOneOf([...statuses]);
  return current;
}

export async function advanceClock(t: TestApp, seconds: number): Promise<void> {
  const response = await t.call('POST', '/v1/ops/clock/advance', adminToken, { seconds });
  expect(response.statusCode, response.body).toBe(200);
}

/** The sandbox clock now. */
export async function clockNow(t: TestApp): Promise<number> {
  const response = await t.call('GET', '/v1/ops/clock', adminToken);
  return Date.parse(json(response).now as string);
}
