import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromPublicId } from '../../src/public-ids.js';
import { ADAPTERS } from '../support/adapters.js';
import { adminToken, bindCard, expectError, expectNotFound, goodCard, json, listOf, openMember, operatorToken, shanghaiDate, signPlatform } from '../support/http-fixtures.js';
import type { Json, OpenedMember, SignedPlatform } from '../support/http-fixtures.js';
import { accounts, advance, balances, confirm, invariantsOk, placeOrder, recharge, refund } from '../support/money-fixtures.js';
import type { Balances } from '../support/money-fixtures.js';
import type { TestApp } from '../support/test-app.js';
import { bankCredit, clockNow, openMoneyOutApp, postWithdrawal } from '../support/withdrawal-fixtures.js';

const shanghaiOffsetMs = 8 * 3600_000;
const dayMs = 86_400_000;

/** 2024-03-05 10:00 in Shanghai, a Tuesday. */
const tuesdayMorningMs = Date.UTC(2024, 2, 5, 2);

/** Moves the clock to `minute` minutes after the next midnight in Shanghai. */
async function advanceToNextDay(t: TestApp, minute: number): Promise<number> {
  const now = await clockNow(t);
  const nextMidnight = Math.floor((now + shanghaiOffsetMs) / dayMs) * dayMs + dayMs - shanghaiOffsetMs;
  const target = nextMidnight + minute * 60_000;
  await advance(t, Math.ceil((target - now) / 1000));
  return target;
}

interface Csv {
  header: string[];
  rows: Record<string, string>[];
}

function parseCsv(text: string): Csv {
  const lines = text.split('\n');
  expect(lines.pop()).toBe('');
  const header = (lines.shift() ?? '').split(',');
  return { header, rows: lines.map((line) => Object.fromEntries(line.split(',').map((v, i) => [header[i] ?? `?${i}`, v]))) };
}

async function statement(t: TestApp, key: string, date: string, kind: string): Promise<Csv> {
  const response = await t.call('GET', `/v1/statements/${date}/${kind}`, key);
  expect(response.statusCode, response.body).toBe(200);
  expect(response.headers['content-type']).toMatch(/^text\/csv/);
  return parseCsv(response.body);
}

async function closeDay(t: TestApp, date: string, platformId?: string): Promise<Json[]> {
  const response = await t.call('POST', '/v1/ops/eod', adminToken, platformId === undefined ? { date } : { date, platform_id: platformId });
  expect(response.statusCode, response.body).toBe(200);
  const body = json(response);
  expect(body.date).toBe(date);
  return body.platforms as Json[];
}

interface TrialLine {
  account_id: string;
  code: string;
  member_id?: string;
  opening: number;
  debits: number;
  credits: number;
  closing: number;
}

async function trialBalance(t: TestApp, platformId: string, date: string): Promise<{ accounts: TrialLine[]; totals: { debits: number; credits: number } }> {
  const response = await t.call('GET', `/v1/ops/trial-balance?platform_id=${platformId}&date=${date}`, adminToken);
  expect(response.statusCode, response.body).toBe(200);
  return response.json();
}

const debitNormal = new Set(['custody_summary', 'channel_in_transit']);

/** closing = opening + movement on the normal side, Σ debits = Σ credits. */
function expectTrialBalanceHolds(trial: { accounts: TrialLine[]; totals: { debits: number; credits: number } }): void {
  for (const a of trial.accounts) {
    const movement = debitNormal.has(a.code) ? a.debits - a.credits : a.credits - a.debits;
    expect(a.closing, a.code).toBe(a.opening + movement);
  }
  expect(trial.totals.debits).toBe(trial.accounts.reduce((s, a) => s + a.debits, 0));
  expect(trial.totals.credits).toBe(trial.accounts.reduce((s, a) => s + a.credits, 0));
  expect(trial.totals.debits).toBe(trial.totals.credits);
}

for (const adapter of ADAPTERS) {
  describe(`end of day (${adapter})`, () => {
    let t: TestApp;

    beforeAll(async () => {
      t = await openMoneyOutApp(adapter, tuesdayMorningMs);
    });

    afterAll(async () => {
      await t?.dispose();
    });

    /** A platform with a buyer funded by a bank credit and a channel recharge, and a seller with proceeds of three kinds. */
    async function tradingDay(): Promise<{ platform: SignedPlatform; key: string; buyer: OpenedMember; seller: OpenedMember; orders: Json[]; payin: Json; day: string }> {
      const platform = await signPlatform(t);
      const key = platform.apiKey;
      const buyer = await openMember(t, key);
      const seller = await openMember(t, key);
      await bankCredit(t, platform.id, buyer, 100_000);
      const payin = await recharge(t, key, buyer.id, 5_000);
      const guaranteed = await placeOrder(t, key, { buyer_id: buyer.id, mode: 'guaranteed', payees: [{ member_id: seller.id, amount: 30_000, fee: 300 }] });
      await confirm(t, key, guaranteed.id as string);
      const t0 = await placeOrder(t, key, { buyer_id: buyer.id, mode: 'direct_t0', payees: [{ member_id: seller.id, amount: 10_000, fee: 100 }] });
      const t1 = await placeOrder(t, key, { buyer_id: buyer.id, mode: 'direct_t1', payees: [{ member_id: seller.id, amount: 2_000 }] });
      const open = await placeOrder(t, key, { buyer_id: buyer.id, mode: 'guaranteed', payees: [{ member_id: seller.id, amount: 7_000 }] });
      return { platform, key, buyer, seller, orders: [guaranteed, t0, t1, open], payin, day: shanghaiDate(await clockNow(t)) };
    }

    it('closes a day that is over, once: settlement, T+1, files equal to the API, a balanced trial balance', async () => {
      const { platform, key, buyer, seller, orders, payin, day } = await tradingDay();
      expect(await balances(t, key, seller.id)).toMatchObject({ pending: 29_700 + 2_000, withdrawable: 9_900 });

      // The day is not over: no close, no files, no trial balance.
      expectError(await t.call('POST', '/v1/ops/eod', adminToken, { date: day, platform_id: platform.id }), 'day_not_over', 'date');
      expectNotFound(await t.call('GET', `/v1/statements/${day}/balances`, key));
      expectNotFound(await t.call('GET', `/v1/ops/trial-balance?platform_id=${platform.id}&date=${day}`, adminToken));
      // Pending proceeds may not leave yet.
      const card = await bindCard(t, key, seller, 'four_element', goodCard());
      expectError(await postWithdrawal(t, key, { member_id: seller.id, card_id: card.id, amount: 9_900 + 1 }), 'withdrawal_not_allowed', 'amount');

      await advanceToNextDay(t, 10); // 00:10: before the cut-off, nothing closed by itself
      expectNotFound(await t.call('GET', `/v1/statements/${day}/balances`, key));
      const before = await accounts(t, platform.id);
      expect(before.channel_in_transit).toBe(5_000);

      const [closed] = await closeDay(t, day, platform.id);
      expect(closed).toMatchObject({ platform_id: platform.id, date: day, status: 'closed', settled: 5_000, settlement_basis: 'books', converted_members: 1, converted_amount: 31_700, replayed: false, error: null });
      expect((closed?.checks as Json[]).every((c) => c.ok === true)).toBe(true);

      const after = await accounts(t, platform.id);
      expect(after.channel_in_transit).toBe(0);
      expect(after.custody_summary).toBe(before.custody_summary + 5_000);
      const sellerAfter = await balances(t, key, seller.id);
      expect(sellerAfter).toMatchObject({ pending: 0, withdrawable: 9_900 + 31_700 });
      await invariantsOk(t, platform.id);

      // Idempotent: the same close again changes nothing.
      const [again] = await closeDay(t, day, platform.id);
      expect(again).toMatchObject({ status: 'closed', settled: 5_000, converted_amount: 31_700, replayed: true });
      expect(await accounts(t, platform.id)).toEqual(after);
      expect(await balances(t, key, seller.id)).toEqual(sellerAfter);

      // balances: the members' buckets after the close, as the API shows them.
      const file = await statement(t, key, day, 'balances');
      expect(file.header).toEqual(['member_id', 'external_id', 'sub_account_no', 'available', 'withdrawable', 'pending', 'spendable', 'frozen']);
      expect(file.rows).toHaveLength(2);
      for (const member of [buyer, seller]) {
        const row = file.rows.find((r) => r.member_id === member.id);
        const b: Balances = await balances(t, key, member.id);
        expect(row).toEqual({
          member_id: member.id,
          external_id: member.input.external_id,
          sub_account_no: member.body.sub_account_no,
          available: String(b.available),
          withdrawable: String(b.withdrawable),
          pending: String(b.pending),
          spendable: String(b.spendable),
          frozen: String(b.frozen),
        });
      }
      expect(file.rows.find((r) => r.member_id === buyer.id)?.frozen).toBe('7000');

      // trades: one row per movement, in journal order.
      const trades = await statement(t, key, day, 'trades');
      expect(trades.header).toEqual(['entry_id', 'order_no', 'kind', 'payer_member_id', 'payee_member_id', 'amount', 'fee', 'occurred_at']);
      const [guaranteed, t0, t1, open] = orders as [Json, Json, Json, Json];
      expect(trades.rows.map((r) => [r.order_no, r.kind, r.payer_member_id, r.payee_member_id, r.amount, r.fee])).toEqual([
        [guaranteed.order_no, 'pay', buyer.id, seller.id, '30000', '0'],
        [guaranteed.order_no, 'confirm', buyer.id, seller.id, '30000', '300'],
        [t0.order_no, 'pay', buyer.id, seller.id, '10000', '0'],
        [t0.order_no, 'direct', buyer.id, seller.id, '10000', '100'],
        [t1.order_no, 'pay', buyer.id, seller.id, '2000', '0'],
        [t1.order_no, 'direct', buyer.id, seller.id, '2000', '0'],
        [open.order_no, 'pay', buyer.id, seller.id, '7000', '0'],
      ]);
      for (const row of trades.rows) {
        expect(row.entry_id).toMatch(/^ent_/);
        expect(Date.parse(row.occurred_at ?? '')).toBeGreaterThan(0);
        expect(shanghaiDate(Date.parse(row.occurred_at ?? ''))).toBe(day);
      }

      // recharges: the succeeded payin.
      const recharges = await statement(t, key, day, 'recharges');
      expect(recharges.header).toEqual(['payin_id', 'order_no', 'member_id', 'amount', 'fee', 'channel', 'channel_txn_id', 'occurred_at']);
      expect(recharges.rows).toHaveLength(1);
      expect(recharges.rows[0]).toMatchObject({ payin_id: payin.id, order_no: payin.order_no, member_id: buyer.id, amount: '5000', fee: '0', channel: 'sim' });

      const withdrawals = await statement(t, key, day, 'withdrawals');
      expect(withdrawals.header).toEqual(['withdrawal_id', 'order_no', 'member_id', 'amount', 'fee', 'status', 'card_last4', 'occurred_at']);
      expect(withdrawals.rows).toEqual([]);

      // Another platform never sees these files.
      const other = await signPlatform(t);
      expectNotFound(await t.call('GET', `/v1/statements/${day}/balances`, other.apiKey));

      // The trial balance: every account, balanced, closings equal to the books after the close.
      const trial = await trialBalance(t, platform.id, day);
      expectTrialBalanceHolds(trial);
      const platformLines = trial.accounts.filter((a) => a.member_id === undefined);
      expect(Object.fromEntries(platformLines.map((a) => [a.code, a.closing]))).toEqual(after);
      expect(platformLines.every((a) => a.opening === 0)).toBe(true);
      const sellerLines = Object.fromEntries(trial.accounts.filter((a) => a.member_id === seller.id).map((a) => [a.code, a]));
      expect(sellerLines.member_pending).toMatchObject({ opening: 0, credits: 31_700, debits: 31_700, closing: 0 });
      expect(sellerLines.member_withdrawable?.closing).toBe(41_600);
      expect(trial.accounts.filter((a) => a.member_id !== undefined)).toHaveLength(2 * 3);

      // Now the proceeds may leave.
      const response = await postWithdrawal(t, key, { member_id: seller.id, card_id: card.id, amount: 41_600 });
      expect(response.statusCode, response.body).toBe(201);
    });

    it('opens each day with the last one’s closing, and closes earlier open days first', async () => {
      const { platform, key, buyer, seller, day } = await tradingDay();
      await advanceToNextDay(t, 10);
      const second = shanghaiDate(await clockNow(t));
      const order = await placeOrder(t, key, { buyer_id: buyer.id, mode: 'direct_t1', payees: [{ member_id: seller.id, amount: 1_234 }] });
      await refund(t, key, order.id as string, 234);
      await advanceToNextDay(t, 10);

      // Closing the second day closes the first on the way. The refund took the oldest
      // pending proceeds first (the first day's), so each day converts what was left of its own.
      const [closed] = await closeDay(t, second, platform.id);
      expect(closed).toMatchObject({ status: 'closed', date: second, converted_amount: 1_234 });
      const [firstClose] = await closeDay(t, day, platform.id);
      expect(firstClose).toMatchObject({ status: 'closed', replayed: true, converted_amount: 31_700 - 234 });
      const first = await trialBalance(t, platform.id, day);
      const next = await trialBalance(t, platform.id, second);
      expectTrialBalanceHolds(first);
      expectTrialBalanceHolds(next);
      const closingOf = new Map(first.accounts.map((a) => [a.account_id, a.closing]));
      expect(next.accounts.map((a) => a.account_id).sort()).toEqual(first.accounts.map((a) => a.account_id).sort());
      for (const a of next.accounts) expect(a.opening, a.code).toBe(closingOf.get(a.account_id));
      const trades = await statement(t, key, second, 'trades');
      expect(trades.rows.map((r) => [r.kind, r.payer_member_id, r.payee_member_id, r.amount])).toEqual([
        ['pay', buyer.id, seller.id, '1234'],
        ['direct', buyer.id, seller.id, '1234'],
        ['refund', seller.id, buyer.id, '234'],
      ]);
      expect(await balances(t, key, seller.id)).toMatchObject({ pending: 0 });
    });

    it('keeps what happened after midnight out of the day closed, and in the next', async () => {
      const { platform, key, buyer, seller, day } = await tradingDay();
      const card = await bindCard(t, key, seller, 'four_element', goodCard());
      await advanceToNextDay(t, 10);
      const next = shanghaiDate(await clockNow(t));
      // After midnight, before the close: new escrow, new pending proceeds, a withdrawal reserving money.
      await placeOrder(t, key, { buyer_id: buyer.id, mode: 'guaranteed', payees: [{ member_id: seller.id, amount: 1_000 }] });
      await placeOrder(t, key, { buyer_id: buyer.id, mode: 'direct_t1', payees: [{ member_id: seller.id, amount: 500 }] });
      const withdrawal = await postWithdrawal(t, key, { member_id: seller.id, card_id: card.id, amount: 9_000 });
      expect(withdrawal.statusCode, withdrawal.body).toBe(201);

      const [closed] = await closeDay(t, day, platform.id);
      expect(closed).toMatchObject({ status: 'closed', converted_amount: 31_700 });
      const file = await statement(t, key, day, 'balances');
      expect(file.rows.find((r) => r.member_id === buyer.id)).toMatchObject({ frozen: '7000' });
      expect(file.rows.find((r) => r.member_id === seller.id)).toMatchObject({ pending: '0', withdrawable: String(9_900 + 31_700), available: String(9_900 + 31_700) });
      // The books now: the proceeds of after midnight wait for the next close.
      expect(await balances(t, key, seller.id)).toMatchObject({ pending: 500, withdrawable: 9_900 + 31_700 - 9_000 });
      expect(await balances(t, key, buyer.id)).toMatchObject({ frozen: 8_000 });
      expect((await statement(t, key, day, 'trades')).rows.map((r) => r.amount)).not.toContain('500');
      expect((await statement(t, key, day, 'withdrawals')).rows).toEqual([]);
      const trial = await trialBalance(t, platform.id, day);
      expectTrialBalanceHolds(trial);
      expect(trial.accounts.find((a) => a.member_id === seller.id && a.code === 'member_pending')?.closing).toBe(0);

      await advance(t, 5); // the payout is sent and answered
      await advanceToNextDay(t, 10);
      const [second] = await closeDay(t, next, platform.id);
      expect(second).toMatchObject({ status: 'closed', converted_amount: 500 });
      const trades = await statement(t, key, next, 'trades');
      expect(trades.rows.map((r) => [r.kind, r.amount])).toEqual([
        ['pay', '1000'],
        ['pay', '500'],
        ['direct', '500'],
      ]);
      const withdrawals = await statement(t, key, next, 'withdrawals');
      expect(withdrawals.rows).toHaveLength(1);
      expect(withdrawals.rows[0]).toMatchObject({
        withdrawal_id: json(withdrawal).id,
        order_no: json(withdrawal).order_no,
        member_id: seller.id,
        amount: '9000',
        fee: '0',
        status: 'succeeded',
        card_last4: card.cardNumber.slice(-4),
      });
      expect(shanghaiDate(Date.parse(withdrawals.rows[0]?.occurred_at ?? ''))).toBe(next);
      const nextFile = await statement(t, key, next, 'balances');
      expect(nextFile.rows.find((r) => r.member_id === seller.id)).toMatchObject({ pending: '0', withdrawable: String(9_900 + 31_700 - 9_000 + 500) });
      expect(nextFile.rows.find((r) => r.member_id === buyer.id)).toMatchObject({ frozen: '8000' });
      expectTrialBalanceHolds(await trialBalance(t, platform.id, next));
      await invariantsOk(t, platform.id);
    });

    it("settles what the channel's statement settles when it was imported before the close; the rest stays in transit", async () => {
      const platform = await signPlatform(t);
      const key = platform.apiKey;
      const buyer = await openMember(t, key);
      const settled = await recharge(t, key, buyer.id, 3_000);
      const missing = await recharge(t, key, buyer.id, 1_200);
      const day = shanghaiDate(await clockNow(t));
      await advanceToNextDay(t, 10);
      expect((await accounts(t, platform.id)).channel_in_transit).toBe(4_200);
      // The channel's file names one of the two payments: the other is a short break.
      const line = (p: Json) => `${p.channel_txn_id as string},${p.order_no as string},${p.amount as number},succeeded,${p.decided_at as string}`;
      const imported = await t.call('POST', '/v1/ops/reconciliations', adminToken, {
        platform_id: platform.id,
        source: 'channel:sim',
        date: day,
        file: `channel_txn_id,order_no,amount,status,occurred_at\n${line(settled)}\n`,
      });
      expect(imported.statusCode, imported.body).toBe(201);
      expect(json(imported)).toMatchObject({ matched: 1, breaks_by_kind: { short: 1 } });

      const [closed] = await closeDay(t, day, platform.id);
      expect(closed).toMatchObject({ status: 'closed', settled: 3_000, settlement_basis: 'statement' });
      expect(await accounts(t, platform.id)).toMatchObject({ channel_in_transit: 1_200, custody_summary: 3_000 });
      expect(missing.amount).toBe(1_200);
      expectTrialBalanceHolds(await trialBalance(t, platform.id, day));
      await invariantsOk(t, platform.id);
    });

    it('closes by itself after the cut-off, every platform, and serves the day’s files', async () => {
      const { key, seller, day } = await tradingDay();
      await advanceToNextDay(t, 31); // the cut-off is 00:30
      expect((await statement(t, key, day, 'balances')).rows.find((r) => r.member_id === seller.id)).toMatchObject({ pending: '0', withdrawable: String(9_900 + 31_700) });
    });

    it('refuses bad dates and unknown kinds with stable codes', async () => {
      const platform = await signPlatform(t);
      expectError(await t.call('POST', '/v1/ops/eod', adminToken, { date: '2024-02-30' }), 'invalid_request', 'date');
      expectError(await t.call('POST', '/v1/ops/eod', adminToken, { date: 'yesterday' }), 'invalid_request', 'date');
      expectError(await t.call('POST', '/v1/ops/eod', adminToken, { date: '2099-01-01' }), 'day_not_over', 'date');
      expectError(await t.call('POST', '/v1/ops/eod', adminToken, { date: '2001-01-01', platform_id: platform.id }), 'invalid_request', 'date');
      expectError(await t.call('GET', '/v1/statements/2024-03-01/ledger', platform.apiKey), 'invalid_request', 'kind');
      const viewer = await operatorToken(t, 'viewer');
      expectError(await t.call('POST', '/v1/ops/eod', viewer.token, { date: '2024-03-01' }), 'forbidden');
      expectError(await t.call('POST', '/v1/ops/eod', platform.apiKey, { date: '2024-03-01' }), 'forbidden');
    });

    it('stops the close when an invariant fails, raises an alert, and closes once the books are right', async () => {
      const { platform, key, seller, day } = await tradingDay();
      const accountId = fromPublicId('account', (await t.call('GET', `/v1/ops/platforms/${platform.id}`, adminToken)).json<{ accounts: { id: string; code: string }[] }>().accounts.find((a) => a.code === 'marketing')?.id) as string;
      const tamper = (delta: number) =>
        sql`update ledger_accounts set credits_posted = credits_posted + ${delta} where id = ${accountId}::uuid`.execute(t.runtime.ledger.kysely);
      await tamper(1);
      await advanceToNextDay(t, 10);
      const [failed] = await closeDay(t, day, platform.id);
      expect(failed).toMatchObject({ status: 'failed', closed_at: null });
      expect((failed?.checks as Json[]).filter((c) => c.ok === false).map((c) => c.name)).toContain('journal_balanced');
      expectNotFound(await t.call('GET', `/v1/statements/${day}/balances`, key));
      expect(await balances(t, key, seller.id)).toMatchObject({ pending: 31_700 });
      const alerts = listOf(await t.call('GET', `/v1/ops/alerts?platform_id=${platform.id}`, adminToken)).data;
      expect(alerts[0]).toMatchObject({ object: 'alert', platform_id: platform.id, kind: 'eod_failed' });
      expect(alerts[0]?.message).toContain(day);

      await tamper(-1);
      const [closed] = await closeDay(t, day, platform.id);
      expect(closed).toMatchObject({ status: 'closed', replayed: false, converted_amount: 31_700 });
      expect(await balances(t, key, seller.id)).toMatchObject({ pending: 0 });
    });

    it('computes the reserve requirement from the closed day, or the books now', async () => {
      const { platform, day } = await tradingDay();
      const funds = (a: Record<string, number>) =>
        (a.custody_summary ?? 0) + (a.channel_in_transit ?? 0) - ((a.fees ?? 0) + (a.marketing ?? 0) + (a.interest ?? 0) + (a.own_funds ?? 0));
      const now = await t.call('GET', `/v1/ops/reserve?platform_id=${platform.id}&date=${day}`, adminToken);
      expect(now.statusCode, now.body).toBe(200);
      const expected = funds(await accounts(t, platform.id));
      expect(expected).toBe(100_000 + 5_000 - 400);
      expect(json(now)).toEqual({ date: day, platform_id: platform.id, customer_funds: expected, ratio_bps: 10_000, required_deposit: expected, basis: 'now' });
      await advanceToNextDay(t, 10);
      await closeDay(t, day, platform.id);
      const closed = json(await t.call('GET', `/v1/ops/reserve?platform_id=${platform.id}&date=${day}`, adminToken));
      expect(closed).toMatchObject({ customer_funds: expected, basis: 'end_of_day' });
      const early = json(await t.call('GET', `/v1/ops/reserve?platform_id=${platform.id}&date=2018-05-02`, adminToken));
      expect(early).toMatchObject({ ratio_bps: 5_000, required_deposit: Math.round(early.customer_funds as number / 2) });
      const all = json(await t.call('GET', `/v1/ops/reserve?date=${day}`, adminToken));
      expect(all.platform_id).toBeNull();
      expect(all.customer_funds as number).toBeGreaterThanOrEqual(expected);
    });
  });

  describe(`year-end close (${adapter})`, () => {
    let t: TestApp;

    beforeAll(async () => {
      t = await openMoneyOutApp(adapter, Date.UTC(2024, 11, 30, 2)); // 2024-12-30 10:00 Shanghai
    });

    afterAll(async () => {
      await t?.dispose();
    });

    it('closes a year from its days: the trial balance and every member’s annual statement, once', async () => {
      const platform = await signPlatform(t);
      const key = platform.apiKey;
      const buyer = await openMember(t, key);
      const seller = await openMember(t, key);
      await bankCredit(t, platform.id, buyer, 50_000);
      await placeOrder(t, key, { buyer_id: buyer.id, mode: 'direct_t1', payees: [{ member_id: seller.id, amount: 20_000, fee: 200 }] });
      expectError(await t.call('POST', '/v1/ops/year-end', adminToken, { year: 2024, platform_id: platform.id }), 'day_not_over', 'year');
      await advanceToNextDay(t, 10);
      await placeOrder(t, key, { buyer_id: buyer.id, mode: 'direct_t0', payees: [{ member_id: seller.id, amount: 5_000 }] });
      expectNotFound(await t.call('GET', `/v1/ops/year-end/2024/trial-balance?platform_id=${platform.id}`, adminToken));
      await advanceToNextDay(t, 10); // 2025-01-01 00:10

      const response = await t.call('POST', '/v1/ops/year-end', adminToken, { year: 2024, platform_id: platform.id });
      expect(response.statusCode, response.body).toBe(200);
      const [closed] = json(response).platforms as Json[];
      expect(closed).toMatchObject({ platform_id: platform.id, year: 2024, status: 'closed', first_date: '2024-12-30', last_date: '2024-12-31' });
      expect(closed?.debits).toBe(closed?.credits);

      const trialFile = await t.call('GET', `/v1/ops/year-end/2024/trial-balance?platform_id=${platform.id}`, adminToken);
      expect(trialFile.statusCode, trialFile.body).toBe(200);
      const trial = parseCsv(trialFile.body);
      expect(trial.header).toEqual(['account_id', 'code', 'member_id', 'opening', 'debits', 'credits', 'closing']);
      const dec31 = await trialBalance(t, platform.id, '2024-12-31');
      expect(trial.rows.map((r) => [r.account_id, Number(r.closing)]).sort()).toEqual(dec31.accounts.map((a) => [a.account_id, a.closing]).sort());
      expect(trial.rows.every((r) => r.opening === '0')).toBe(true);
      expect(trial.rows.reduce((s, r) => s + Number(r.debits), 0)).toBe(closed?.debits);

      const annual = await t.call('GET', '/v1/statements/annual/2024', key);
      expect(annual.statusCode, annual.body).toBe(200);
      const rows = parseCsv(annual.body).rows.filter((r) => r.member_id === seller.id);
      expect(Object.fromEntries(rows.map((r) => [r.bucket, [r.opening, r.credits, r.debits, r.closing]]))).toEqual({
        spendable: ['0', '0', '0', '0'],
        pending: ['0', '19800', '19800', '0'],
        withdrawable: ['0', '24800', '0', '24800'],
      });
      const ops = await t.call('GET', `/v1/ops/year-end/2024/statements?platform_id=${platform.id}`, adminToken);
      expect(ops.body).toBe(annual.body);

      const again = json(await t.call('POST', '/v1/ops/year-end', adminToken, { year: 2024, platform_id: platform.id }));
      expect(again.platforms).toEqual(json(response).platforms);
      expectError(await t.call('POST', '/v1/ops/year-end', adminToken, { year: 2025 }), 'day_not_over', 'year');
      expectNotFound(await t.call('GET', '/v1/statements/annual/2023', key));
    });
  });
}
