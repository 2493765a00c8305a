import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { limits } from '../../src/limits.js';
import { ADAPTERS } from '../support/adapters.js';
import { adminToken, anyParam, bindCard, cardEndingIn, expectError, expectShape, json, listOf, openMember, signPlatform, startCard, unknownId } from '../support/http-fixtures.js';
import type { Json, SignedPlatform } from '../support/http-fixtures.js';
import { accountDelta, accounts, advance, balances, buckets, confirm, eventsOf, getJson, invariantsOk, moved, orderNo, placeOrder } from '../support/money-fixtures.js';
import type { TestApp } from '../support/test-app.js';
import {
  advanceToShanghai,
  bankCredit,
  clockNow,
  expectNoDoublePayout,
  Funder,
  getWithdrawal,
  highValueRailOpen,
  openMoneyOutApp,
  postWithdrawal,
  railRecord,
  seller,
  settle,
  shanghaiWallTime,
  withdraw,
  workingDays,
} from '../support/withdrawal-fixtures.js';
import type { Seller } from '../support/withdrawal-fixtures.js';

const rfc3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const final = ['succeeded', 'failed', 'returned', 'rejected'] as const;
const dayS = 86_400;

for (const adapter of ADAPTERS) {
  describe(`withdrawals (${adapter})`, () => {
    let t: TestApp;
    /** Platforms whose books each test touched: their invariants are checked after it. */
    const touched = new Set<string>();

    beforeAll(async () => {
      t = await openMoneyOutApp(adapter);
    });

    afterEach(async () => {
      for (const id of touched) await invariantsOk(t, id);
      touched.clear();
      expectNoDoublePayout(t);
    });

    afterAll(async () => {
      await t?.dispose();
    });

    /** A platform of its own for one test, so account deltas are that test's alone. */
    async function fresh(body: Json = {}): Promise<{ platform: SignedPlatform; key: string; funder: Funder }> {
      const platform = await signPlatform(t, body);
      touched.add(platform.id);
      return { platform, key: platform.apiKey, funder: await Funder.open(t, platform) };
    }

    async function withdrawalsOf(key: string, memberId: string): Promise<Json[]> {
      return listOf(await t.call('GET', '/v1/withdrawals?limit=100', key)).data.filter((w) => w.member_id === memberId);
    }

    // The suites that move the clock by days come first: each day closed costs an end of day
    // for every platform signed so far.
    describe('money out, step by step', () => {
      it('is processing at once with the money reserved, then succeeded: custody summary falls when paid, in-transit nets to zero', async () => {
        const { platform, key, funder } = await fresh();
        const s = await seller(t, funder, 50_000);
        const before = await accounts(t, platform.id);
        const created = await postWithdrawal(t, key, { member_id: s.member.id, card_id: s.card.id, amount: 12_345 });
        expect(created.statusCode, created.body).toBe(201);
        const w = json(created);
        expectShape(w, {
          id: expect.stringMatching(/^wdr_[0-9a-z]{26}$/),
          object: 'withdrawal',
          member_id: s.member.id,
          card_id: s.card.id,
          card_last4: s.card.cardNumber.slice(-4),
          amount: 12_345,
          currency: 'CNY',
          rail: 'realtime',
          status: 'processing',
          risk: { decision: 'allow', rules: [] },
          created: expect.stringMatching(rfc3339),
        });
        expect(created.body).not.toContain(s.card.cardNumber);
        // Reserved at once: the member can no longer spend or withdraw it; nothing has left the bank yet.
        expect(await balances(t, key, s.member.id)).toEqual(buckets({ withdrawable: 50_000 - 12_345 }));
        expect((await accounts(t, platform.id)).custody_summary).toBe(before.custody_summary);

        const done = await settle(t, key, w.id as string, final);
        expect(done).toMatchObject({ id: w.id, status: 'succeeded', amount: 12_345, risk: { decision: 'allow', rules: [] } });
        expect(done.decided_at).toMatch(rfc3339);
        expect(await balances(t, key, s.member.id)).toEqual(buckets({ withdrawable: 50_000 - 12_345 }));
        expect(accountDelta(before, await accounts(t, platform.id))).toEqual(moved({ custody_summary: -12_345 }));
        expect((await accounts(t, platform.id)).withdrawal_in_transit).toBe(0);
        expect(await getWithdrawal(t, key, w.id as string)).toEqual(done);

        const events = await eventsOf(t, key, `/v1/withdrawals/${w.id as string}/events`);
        expect(events.map((e) => e.type)).toEqual(['withdrawal.created', 'withdrawal.succeeded']);
        expect(events.every((e) => e.object_id === w.id && e.object_type === 'withdrawal')).toBe(true);
        expect(railRecord(t, w.id as string)).toMatchObject({ status: 'succeeded', sends: 1, amountMinor: 12_345n, cardLast4: s.card.cardNumber.slice(-4) });
      });

      it('fails to a card ending 0003: the money is withdrawable again and the custody summary never moved', async () => {
        const { platform, key, funder } = await fresh();
        const s = await seller(t, funder, 8_000, '0003');
        const before = await accounts(t, platform.id);
        const w = await withdraw(t, key, s, 8_000);
        expect(w.status).toBe('processing');
        expect(await balances(t, key, s.member.id)).toEqual(buckets({}));
        const done = await settle(t, key, w.id as string, final);
        expect(done).toMatchObject({ status: 'failed', failure_reason: expect.any(String) });
        expect(await balances(t, key, s.member.id)).toEqual(buckets({ withdrawable: 8_000 }));
        expect(accountDelta(before, await accounts(t, platform.id))).toEqual(moved({}));
        const events = await eventsOf(t, key, `/v1/withdrawals/${w.id as string}/events`);
        expect(events.map((e) => e.type)).toEqual(['withdrawal.created', 'withdrawal.failed']);
        // The money is free again: it can leave to a good card.
        const good = await bindCard(t, key, s.member);
        const again = await withdraw(t, key, { member: s.member, card: good }, 8_000);
        expect(await settle(t, key, again.id as string, final)).toMatchObject({ status: 'succeeded' });
        expect(accountDelta(before, await accounts(t, platform.id))).toEqual(moved({ custody_summary: -8_000 }));
      });

      it('asks about a card ending 0004 whose first answer is lost, never sends it again, and finds it succeeded', async () => {
        const { platform, key, funder } = await fresh();
        const s = await seller(t, funder, 9_000, '0004');
        const before = await accounts(t, platform.id);
        const w = await withdraw(t, key, s, 9_000);
        expect(w.status).toBe('processing');
        const done = await settle(t, key, w.id as string, final);
        expect(done.status).toBe('succeeded');
        expect(railRecord(t, w.id as string)).toMatchObject({ status: 'succeeded', sends: 1, answersLost: 1 });
        expect(accountDelta(before, await accounts(t, platform.id))).toEqual(moved({ custody_summary: -9_000 }));
        expect(await balances(t, key, s.member.id)).toEqual(buckets({}));
      });

      it('pays a card ending 0005, then takes the return a day later: withdrawable again, custody summary back', async () => {
        const { platform, key, funder } = await fresh();
        const s = await seller(t, funder, 7_000, '0005');
        const before = await accounts(t, platform.id);
        const w = await withdraw(t, key, s, 7_000);
        const paid = await settle(t, key, w.id as string, final);
        expect(paid).toMatchObject({ status: 'succeeded', returned_at: null });
        expect(accountDelta(before, await accounts(t, platform.id))).toEqual(moved({ custody_summary: -7_000 }));
        expect(await balances(t, key, s.member.id)).toEqual(buckets({}));

        await advance(t, dayS + 4 * 3600);
        const returned = await getWithdrawal(t, key, w.id as string);
        expect(returned).toMatchObject({ status: 'returned', returned_at: expect.stringMatching(rfc3339) });
        expect(await balances(t, key, s.member.id)).toEqual(buckets({ withdrawable: 7_000 }));
        expect(accountDelta(before, await accounts(t, platform.id))).toEqual(moved({}));
        const events = await eventsOf(t, key, `/v1/withdrawals/${w.id as string}/events`);
        expect(events.map((e) => e.type)).toEqual(['withdrawal.created', 'withdrawal.succeeded', 'withdrawal.returned']);
        // Returned once, and the proceeds came back with their trade behind them.
        await advance(t, dayS);
        expect((await getWithdrawal(t, key, w.id as string)).status).toBe('returned');
        expect(await balances(t, key, s.member.id)).toEqual(buckets({ withdrawable: 7_000 }));
        const good = await bindCard(t, key, s.member);
        const again = await withdraw(t, key, { member: s.member, card: good }, 7_000);
        const lineage = await getJson(t, key, `/v1/withdrawals/${again.id as string}/lineage`);
        expect((lineage.sources as Json[]).map((x) => x.amount)).toEqual([7_000]);
        expect(await settle(t, key, again.id as string, final)).toMatchObject({ status: 'succeeded' });
      });
    });

    describe('rails', () => {
      it('pays up to ¥50,000 on the real-time rail at any hour; above it the high-value rail waits for 08:30–17:00 on a working day', async () => {
        const { platform, key, funder } = await fresh();
        const small = await seller(t, funder, Number(limits.realtimeRailAmountMinorMax));
        const large = await seller(t, funder, Number(limits.realtimeRailAmountMinorMax) + 1);
        await advanceToShanghai(t, [6], 10);
        expect(shanghaiWallTime(await clockNow(t))).toMatchObject({ weekday: 6 });

        const realtime = await withdraw(t, key, small, 5_000_000);
        expect(realtime).toMatchObject({ rail: 'realtime', status: 'processing' });
        const highValue = await withdraw(t, key, large, 5_000_001);
        expect(highValue).toMatchObject({ rail: 'high_value', status: 'processing', risk: { decision: 'allow', rules: [] } });
        expect(await settle(t, key, realtime.id as string, final)).toMatchObject({ status: 'succeeded' });
        // The same minutes passed for the high-value one: on a Saturday it is not even sent.
        expect(await getWithdrawal(t, key, highValue.id as string)).toMatchObject({ status: 'processing', rail: 'high_value' });
        expect(railRecord(t, highValue.id as string)).toBeUndefined();

        // Monday 18:00: a working day, after hours: still waiting.
        await advanceToShanghai(t, [1], 18);
        await advance(t, 600);
        expect(await getWithdrawal(t, key, highValue.id as string)).toMatchObject({ status: 'processing', rail: 'high_value' });
        expect(railRecord(t, highValue.id as string)).toBeUndefined();
        expect(await balances(t, key, large.member.id)).toEqual(buckets({}));

        // Tuesday 09:00: the rail is open and the payout goes.
        await advanceToShanghai(t, [2], 9);
        const paid = await settle(t, key, highValue.id as string, final);
        expect(paid).toMatchObject({ status: 'succeeded', rail: 'high_value' });
        const record = railRecord(t, highValue.id as string);
        expect(record).toMatchObject({ rail: 'high_value', sends: 1, status: 'succeeded' });
        expect(highValueRailOpen(record?.receivedAtMs ?? 0)).toBe(true);
        expect((await accounts(t, platform.id)).withdrawal_in_transit).toBe(0);
      });

      it('holds a high-value payout asked for at 18:00 on a working day until the next morning', async () => {
        const { key, funder } = await fresh();
        const s = await seller(t, funder, 6_000_000);
        await advanceToShanghai(t, workingDays, 18);
        const w = await withdraw(t, key, s, 6_000_000);
        expect(w).toMatchObject({ rail: 'high_value', status: 'processing' });
        await advance(t, 3600);
        expect((await getWithdrawal(t, key, w.id as string)).status).toBe('processing');
        expect(railRecord(t, w.id as string)).toBeUndefined();
        const opening = await advanceToShanghai(t, workingDays, 8, 30);
        expect(highValueRailOpen(opening)).toBe(true);
        expect(await settle(t, key, w.id as string, final)).toMatchObject({ status: 'succeeded' });
        expect(railRecord(t, w.id as string)?.receivedAtMs).toBeGreaterThanOrEqual(opening);
      });
    });

    describe('lineage', () => {
      /** A member paid by three orders on three business days; returns the orders oldest first. */
      async function threeDaysOfProceeds(funder: Funder, s: Seller, amounts: readonly number[]): Promise<Json[]> {
        const orders: Json[] = [];
        for (const [i, amount] of amounts.entries()) {
          if (i > 0) await advance(t, dayS);
          orders.push(await funder.proceeds(s.member, amount));
        }
        return orders;
      }

      function sourcesOf(orders: readonly Json[], amounts: readonly number[]): Json[] {
        return amounts.map((amount, i) => ({ order_id: orders[i]?.id, order_no: orders[i]?.order_no, amount }));
      }

      it('lists the trades behind a withdrawal oldest first, with exact amounts summing to it', async () => {
        const { key, funder } = await fresh();
        const s = await seller(t, funder);
        const orders = await threeDaysOfProceeds(funder, s, [1_000, 2_000, 3_000]);
        const w = await withdraw(t, key, s, 4_500);
        const lineage = await getJson(t, key, `/v1/withdrawals/${w.id as string}/lineage`);
        expect(lineage).toEqual({ withdrawal_id: w.id, sources: sourcesOf(orders, [1_000, 2_000, 1_500]) });
        expect((lineage.sources as Json[]).reduce((sum, x) => sum + (x.amount as number), 0)).toBe(4_500);
        await settle(t, key, w.id as string, final);
        // The rest of the newest order is what a second withdrawal takes.
        const next = await withdraw(t, key, s, 1_500);
        expect((await getJson(t, key, `/v1/withdrawals/${next.id as string}/lineage`)).sources).toEqual(sourcesOf(orders.slice(2), [1_500]));
        await settle(t, key, next.id as string, final);
        expect(await balances(t, key, s.member.id)).toEqual(buckets({}));
      });

      it('gives the lots back when a payout fails, so a later withdrawal starts again from the oldest trade', async () => {
        const { key, funder } = await fresh();
        const s = await seller(t, funder, 0, '0003');
        const orders = await threeDaysOfProceeds(funder, s, [1_000, 2_000, 3_000]);
        const failing = await withdraw(t, key, s, 2_500);
        expect((await getJson(t, key, `/v1/withdrawals/${failing.id as string}/lineage`)).sources).toEqual(sourcesOf(orders, [1_000, 1_500]));
        expect((await settle(t, key, failing.id as string, final)).status).toBe('failed');
        expect(await balances(t, key, s.member.id)).toEqual(buckets({ withdrawable: 6_000 }));

        await advance(t, dayS);
        const good = await bindCard(t, key, s.member);
        const later = await withdraw(t, key, { member: s.member, card: good }, 3_500);
        const lineage = await getJson(t, key, `/v1/withdrawals/${later.id as string}/lineage`);
        expect(lineage).toEqual({ withdrawal_id: later.id, sources: sourcesOf(orders, [1_000, 2_000, 500]) });
        expect((await settle(t, key, later.id as string, final)).status).toBe('succeeded');
        const rest = await withdraw(t, key, { member: s.member, card: good }, 2_500);
        expect((await getJson(t, key, `/v1/withdrawals/${rest.id as string}/lineage`)).sources).toEqual(sourcesOf(orders.slice(2), [2_500]));
        await settle(t, key, rest.id as string, final);
      });
    });
    describe('refusals, in the order API.md checks them', () => {
      it('answers 422 card_not_bound for a card still verifying, a failed one, an unbound one and an unknown id', async () => {
        const { key, funder } = await fresh();
        const member = await openMember(t, key);
        await funder.proceeds(member, 10_000);
        const verifying = await startCard(t, key, member, 'four_element');
        expectError(await t.call('POST', `/v1/members/${member.id}/cards`, key, { method: 'four_element', card_number: cardEndingIn('0002'), phone: member.input.phone }), 'verification_failed', 'card_number');
        const failed = listOf(await t.call('GET', `/v1/members/${member.id}/cards`, key)).data.find((c) => c.status === 'failed');
        expect(failed).toBeDefined();
        const unbound = await bindCard(t, key, member);
        const deleted = await t.call('DELETE', `/v1/members/${member.id}/cards/${unbound.id}`, key);
        expect(deleted.statusCode, deleted.body).toBe(200);
        expect(json(deleted).status).toBe('unbound');

        for (const cardId of [verifying.id, failed?.id as string, unbound.id, unknownId('card')]) {
          expectError(await postWithdrawal(t, key, { member_id: member.id, card_id: cardId, amount: 1_000 }), 'card_not_bound', 'card_id');
        }
        expect(await balances(t, key, member.id)).toEqual(buckets({ withdrawable: 10_000 }));
        expect(await withdrawalsOf(key, member.id)).toEqual([]);
      });

      it("answers 422 card_not_owned for another member's bound card", async () => {
        const { key, funder } = await fresh();
        const owner = await seller(t, funder);
        const other = await seller(t, funder, 10_000);
        expectError(await postWithdrawal(t, key, { member_id: other.member.id, card_id: owner.card.id, amount: 1_000 }), 'card_not_owned', 'card_id');
        expect(await balances(t, key, other.member.id)).toEqual(buckets({ withdrawable: 10_000 }));
      });

      // API.md/the issue list "card not bound" before "card not owned": a card that is neither
      // bound nor the member's fails the first check. The service asks ownership first.
      it("answers card_not_bound, the earlier check, for another member's card that is not bound either", async () => {
        const { key, funder } = await fresh();
        const owner = await openMember(t, key);
        const verifying = await startCard(t, key, owner, 'four_element');
        const other = await seller(t, funder, 10_000);
        expectError(await postWithdrawal(t, key, { member_id: other.member.id, card_id: verifying.id, amount: 1_000 }), 'card_not_bound', 'card_id');
      });

      it('answers 422 amount_exceeds_limit above withdrawalAmountMinorMax, before looking at the balance', async () => {
        const { key, funder } = await fresh();
        const s = await seller(t, funder, 10_000);
        const max = Number(limits.withdrawalAmountMinorMax);
        expectError(await postWithdrawal(t, key, { member_id: s.member.id, card_id: s.card.id, amount: max + 1 }), 'amount_exceeds_limit', 'amount');
        // At the limit itself the amount is acceptable; only the balance is short.
        expectError(await postWithdrawal(t, key, { member_id: s.member.id, card_id: s.card.id, amount: max }), 'insufficient_funds', 'amount');
        expect(await balances(t, key, s.member.id)).toEqual(buckets({ withdrawable: 10_000 }));
        for (const amount of [0, -1, 1.5]) {
          expectError(await postWithdrawal(t, key, { member_id: s.member.id, card_id: s.card.id, amount }), 'invalid_request', 'amount');
        }
      });

      it('answers 422 insufficient_funds when the available balance does not cover the amount', async () => {
        const { platform, key, funder } = await fresh();
        const s = await seller(t, funder, 1_000);
        await bankCredit(t, platform.id, s.member, 500);
        await funder.proceeds(s.member, 300, 'direct_t1');
        expect(await balances(t, key, s.member.id)).toEqual(buckets({ withdrawable: 1_000, spendable: 500, pending: 300 }));
        expectError(await postWithdrawal(t, key, { member_id: s.member.id, card_id: s.card.id, amount: 1_801 }), 'insufficient_funds', 'amount');
        const nobody = await seller(t, funder);
        expectError(await postWithdrawal(t, key, { member_id: nobody.member.id, card_id: nobody.card.id, amount: 1 }), 'insufficient_funds', 'amount');
        expect(await withdrawalsOf(key, s.member.id)).toEqual([]);
      });

      it('answers 422 withdrawal_not_allowed for recharged money never traded', async () => {
        const { platform, key, funder } = await fresh();
        const s = await seller(t, funder);
        await bankCredit(t, platform.id, s.member, 5_000);
        expectError(await postWithdrawal(t, key, { member_id: s.member.id, card_id: s.card.id, amount: 5_000 }), 'withdrawal_not_allowed', 'amount');
        expectError(await postWithdrawal(t, key, { member_id: s.member.id, card_id: s.card.id, amount: 1 }), 'withdrawal_not_allowed', 'amount');
        expect(await balances(t, key, s.member.id)).toEqual(buckets({ spendable: 5_000 }));
      });

      it('answers 422 withdrawal_not_allowed for pending proceeds: a direct_t1 order, a confirmed guaranteed order', async () => {
        const { platform, key, funder } = await fresh();
        const t1 = await seller(t, funder);
        await funder.proceeds(t1.member, 4_000, 'direct_t1');
        expect(await balances(t, key, t1.member.id)).toEqual(buckets({ pending: 4_000 }));
        expectError(await postWithdrawal(t, key, { member_id: t1.member.id, card_id: t1.card.id, amount: 4_000 }), 'withdrawal_not_allowed', 'amount');

        const confirmed = await seller(t, funder);
        await bankCredit(t, platform.id, funder.buyer, 3_000);
        const order = await placeOrder(t, key, { buyer_id: funder.buyer.id, mode: 'guaranteed', payees: [{ member_id: confirmed.member.id, amount: 3_000 }] });
        await confirm(t, key, order.id as string);
        expect(await balances(t, key, confirmed.member.id)).toEqual(buckets({ pending: 3_000 }));
        expectError(await postWithdrawal(t, key, { member_id: confirmed.member.id, card_id: confirmed.card.id, amount: 3_000 }), 'withdrawal_not_allowed', 'amount');

        // Withdrawable money beside pending money: only the withdrawable part may leave.
        await funder.proceeds(confirmed.member, 1_000);
        expectError(await postWithdrawal(t, key, { member_id: confirmed.member.id, card_id: confirmed.card.id, amount: 1_001 }), 'withdrawal_not_allowed', 'amount');
        const ok = await withdraw(t, key, confirmed, 1_000);
        expect(ok.status).toBe('processing');
        await settle(t, key, ok.id as string, final);
      });

      it('lets the earlier refusal win when several apply', async () => {
        const { platform, key, funder } = await fresh();
        const poor = await seller(t, funder);
        const rich = await seller(t, funder, 1_000);
        const unbound = await bindCard(t, key, poor.member);
        await t.call('DELETE', `/v1/members/${poor.member.id}/cards/${unbound.id}`, key);
        const recharged = await seller(t, funder);
        await bankCredit(t, platform.id, recharged.member, 30_000_000);
        const max = Number(limits.withdrawalAmountMinorMax);
        const cases: [string, { member_id: string; card_id: string; amount: number }, Parameters<typeof expectError>[1]][] = [
          ['an unbound card and no money', { member_id: poor.member.id, card_id: unbound.id, amount: 1_000 }, 'card_not_bound'],
          ['an unknown card and an amount over the limit', { member_id: poor.member.id, card_id: unknownId('card'), amount: max + 1 }, 'card_not_bound'],
          ["another member's card and an amount over the limit", { member_id: poor.member.id, card_id: rich.card.id, amount: max + 1 }, 'card_not_owned'],
          ["another member's card and no money", { member_id: poor.member.id, card_id: rich.card.id, amount: 1_000 }, 'card_not_owned'],
          ['an amount over the limit and no money', { member_id: poor.member.id, card_id: poor.card.id, amount: max + 1 }, 'amount_exceeds_limit'],
          ['no money for an amount the risk rules would hold', { member_id: poor.member.id, card_id: poor.card.id, amount: 25_000_000 }, 'insufficient_funds'],
          ['recharged money for an amount the risk rules would hold', { member_id: recharged.member.id, card_id: recharged.card.id, amount: 25_000_000 }, 'withdrawal_not_allowed'],
        ];
        for (const [what, body, code] of cases) {
          const response = await postWithdrawal(t, key, body);
          expect({ what, code: (json(response).error as Json | undefined)?.code }).toEqual({ what, code });
          expectError(response, code, code === 'amount_exceeds_limit' || code === 'insufficient_funds' || code === 'withdrawal_not_allowed' ? 'amount' : 'card_id');
        }
        // A refused request takes nothing: not the money, not its order_no, and no review.
        const reused = orderNo('wdr');
        expectError(await postWithdrawal(t, key, { order_no: reused, member_id: rich.member.id, card_id: rich.card.id, amount: 1_001 }), 'insufficient_funds', 'amount');
        const retried = await postWithdrawal(t, key, { order_no: reused, member_id: rich.member.id, card_id: rich.card.id, amount: 1_000 });
        expect(retried.statusCode, retried.body).toBe(201);
        expect(listOf(await t.call('GET', `/v1/ops/reviews?platform_id=${platform.id}`, adminToken)).data).toEqual([]);
        await settle(t, key, json(retried).id as string, final);
      });
    });

    describe('one request, one withdrawal', () => {
      it('accepts exactly one of two withdrawals racing for the same balance', async () => {
        const { platform, key, funder } = await fresh();
        const s = await seller(t, funder, 10_000);
        const before = await accounts(t, platform.id);
        const answers = await Promise.all([0, 1].map(() => postWithdrawal(t, key, { member_id: s.member.id, card_id: s.card.id, amount: 8_000 })));
        const accepted = answers.filter((r) => r.statusCode === 201);
        const refused = answers.filter((r) => r.statusCode !== 201);
        expect(accepted).toHaveLength(1);
        expect(refused).toHaveLength(1);
        const code = (json(refused[0] ?? answers[0]!).error as Json).code;
        expect(['insufficient_funds', 'withdrawal_not_allowed']).toContain(code);
        expect(refused[0]?.statusCode).toBe(422);
        expect(await balances(t, key, s.member.id)).toEqual(buckets({ withdrawable: 2_000 }));
        const id = json(accepted[0] ?? answers[0]!).id as string;
        expect(await settle(t, key, id, final)).toMatchObject({ status: 'succeeded' });
        expect(accountDelta(before, await accounts(t, platform.id))).toEqual(moved({ custody_summary: -8_000 }));
        expect(await withdrawalsOf(key, s.member.id)).toHaveLength(1);
      });

      it('lets five racing withdrawals take no more than the balance', async () => {
        const { key, funder } = await fresh();
        const s = await seller(t, funder, 10_000);
        const answers = await Promise.all([0, 1, 2, 3, 4].map(() => postWithdrawal(t, key, { member_id: s.member.id, card_id: s.card.id, amount: 3_000 })));
        expect(answers.filter((r) => r.statusCode === 201)).toHaveLength(3);
        for (const r of answers.filter((x) => x.statusCode !== 201)) expect(['insufficient_funds', 'withdrawal_not_allowed']).toContain((json(r).error as Json).code);
        expect(await balances(t, key, s.member.id)).toEqual(buckets({ withdrawable: 1_000 }));
        for (const r of answers.filter((x) => x.statusCode === 201)) await settle(t, key, json(r).id as string, final);
      });

      it('answers 409 duplicate_order_no to an order_no used before by a withdrawal or an order, and reserves nothing', async () => {
        const { platform, key, funder } = await fresh();
        const s = await seller(t, funder, 10_000);
        const no = orderNo('wdr');
        const first = await postWithdrawal(t, key, { order_no: no, member_id: s.member.id, card_id: s.card.id, amount: 1_000 });
        expect(first.statusCode, first.body).toBe(201);
        expectError(await postWithdrawal(t, key, { order_no: no, member_id: s.member.id, card_id: s.card.id, amount: 1_000 }), 'duplicate_order_no', 'order_no');
        const orderNoOfOrder = orderNo('ord');
        await bankCredit(t, platform.id, funder.buyer, 100);
        await placeOrder(t, key, { order_no: orderNoOfOrder, buyer_id: funder.buyer.id, mode: 'direct_t0', payees: [{ member_id: s.member.id, amount: 100 }] });
        expectError(await postWithdrawal(t, key, { order_no: orderNoOfOrder, member_id: s.member.id, card_id: s.card.id, amount: 1_000 }), 'duplicate_order_no', 'order_no');
        expect(await balances(t, key, s.member.id)).toEqual(buckets({ withdrawable: 10_000 + 100 - 1_000 }));
        expect(await withdrawalsOf(key, s.member.id)).toHaveLength(1);
        await settle(t, key, json(first).id as string, final);
      });

      it('replays a withdrawal sent again under the same Idempotency-Key: one withdrawal, one reservation, one payout', async () => {
        const { platform, key, funder } = await fresh();
        const s = await seller(t, funder, 10_000);
        const body = { order_no: orderNo('wdr'), member_id: s.member.id, card_id: s.card.id, amount: 4_000 };
        const headers = { 'idempotency-key': `wdr-key-${body.order_no}` };
        const first = await t.call('POST', '/v1/withdrawals', key, body, headers);
        expect(first.statusCode, first.body).toBe(201);
        const again = await t.call('POST', '/v1/withdrawals', key, body, headers);
        expect(again.statusCode).toBe(201);
        expect(again.headers['idempotent-replayed']).toBe('true');
        expect(again.body).toBe(first.body);
        expectError(await t.call('POST', '/v1/withdrawals', key, { ...body, amount: 4_001 }, headers), 'idempotency_key_reused', anyParam);
        expect(await balances(t, key, s.member.id)).toEqual(buckets({ withdrawable: 6_000 }));
        expect(await withdrawalsOf(key, s.member.id)).toHaveLength(1);
        const id = json(first).id as string;
        expect(await settle(t, key, id, final)).toMatchObject({ status: 'succeeded' });
        const replayedAfter = await t.call('POST', '/v1/withdrawals', key, body, headers);
        expect(replayedAfter.body).toBe(first.body);
        expect(railRecord(t, id)).toMatchObject({ sends: 1 });
        expect((await accounts(t, platform.id)).custody_summary).toBe(10_000 - 4_000);
      });
    });

    describe("another platform's withdrawals", () => {
      it('are never found, and its members and cards cannot withdraw through this platform', async () => {
        const a = await fresh();
        const b = await fresh();
        const s = await seller(t, a.funder, 10_000);
        const w = await withdraw(t, a.key, s, 1_000);
        for (const path of ['', '/lineage', '/events']) {
          const response = await t.call('GET', `/v1/withdrawals/${w.id as string}${path}`, b.key);
          expectError(response, 'not_found', 'id');
          expect(response.body).not.toContain(s.member.id);
        }
        expect(listOf(await t.call('GET', '/v1/withdrawals?limit=100', b.key)).data).toEqual([]);
        const bMember = await seller(t, b.funder, 10_000);
        expectError(await postWithdrawal(t, b.key, { member_id: s.member.id, card_id: s.card.id, amount: 1_000 }), 'not_found', 'member_id');
        // A's card seen from B is an unknown card: the same answer as an id that names nothing.
        const foreignCard = await postWithdrawal(t, b.key, { member_id: bMember.member.id, card_id: s.card.id, amount: 1_000 });
        const unknownCard = await postWithdrawal(t, b.key, { member_id: bMember.member.id, card_id: unknownId('card'), amount: 1_000 });
        expectError(foreignCard, 'card_not_bound', 'card_id');
        expect((json(foreignCard).error as Json).message).toBe((json(unknownCard).error as Json).message);
        expect(await balances(t, a.key, s.member.id)).toEqual(buckets({ withdrawable: 9_000 }));
        expect(await balances(t, b.key, bMember.member.id)).toEqual(buckets({ withdrawable: 10_000 }));
        await settle(t, a.key, w.id as string, final);
      });
    });

  });
}
