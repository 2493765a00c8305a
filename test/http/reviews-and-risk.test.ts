import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { riskRuleKinds } from '../../src/custody/risk-rules.js';
import { fromPublicId } from '../../src/public-ids.js';
import { ADAPTERS } from '../support/adapters.js';
import { adminToken, anyParam, bindCard, expectError, individual, json, listOf, openMember, operatorToken, residentId, signPlatform, unknownId } from '../support/http-fixtures.js';
import type { Json, SignedPlatform } from '../support/http-fixtures.js';
import { accountDelta, accounts, advance, balances, buckets, eventsOf, getJson, invariantsOk, moved } from '../support/money-fixtures.js';
import type { TestApp } from '../support/test-app.js';
import {
  ensureBusinessHours,
  expectNoDoublePayout,
  Funder,
  getWithdrawal,
  openMoneyOutApp,
  railRecord,
  seller,
  settle,
  withdraw,
} from '../support/withdrawal-fixtures.js';
import type { Seller } from '../support/withdrawal-fixtures.js';

const final = ['succeeded', 'failed', 'returned', 'rejected'] as const;
/** ¥200,000: the default rules hold a single withdrawal above it. */
const holdAbove = 20_000_000;

for (const adapter of ADAPTERS) {
  describe(`reviews and risk rules (${adapter})`, () => {
    let t: TestApp;
    let viewer: { id: string; token: string };
    let operator: { id: string; token: string };
    let approver: { id: string; token: string };
    let approver2: { id: string; token: string };
    const touched = new Set<string>();

    beforeAll(async () => {
      t = await openMoneyOutApp(adapter);
      viewer = await operatorToken(t, 'viewer');
      operator = await operatorToken(t, 'operator');
      approver = await operatorToken(t, 'approver');
      approver2 = await operatorToken(t, 'approver');
    });

    afterEach(async () => {
      for (const id of touched) await invariantsOk(t, id);
      touched.clear();
      expectNoDoublePayout(t);
    });

    afterAll(async () => {
      await t?.dispose();
    });

    async function fresh(body: Json = {}): Promise<{ platform: SignedPlatform; key: string; funder: Funder }> {
      const platform = await signPlatform(t, body);
      touched.add(platform.id);
      return { platform, key: platform.apiKey, funder: await Funder.open(t, platform) };
    }

    /**
     * The audit trail names the operator who decided: API.md fixes no format for `actor` or
     * `review.by`, so either the operator's public id or its internal id will do, but it must
     * be that operator's and no one else's.
     */
    function namesOperator(op: { id: string }) {
      const internal = fromPublicId('operator', op.id) ?? op.id;
      return expect.toSatisfy((actor: unknown) => typeof actor === 'string' && (actor.includes(op.id) || actor.includes(internal)));
    }

    async function reviews(platformId?: string): Promise<string[]> {
      const url = platformId === undefined ? '/v1/ops/reviews?limit=100' : `/v1/ops/reviews?limit=100&platform_id=${platformId}`;
      const response = await t.call('GET', url, viewer.token);
      expect(response.statusCode, response.body).toBe(200);
      return listOf(response).data.map((w) => w.id as string);
    }

    function decide(id: string, decision: 'approve' | 'reject', token: string, body: Json = { reason: `${decision} after a call to the member` }) {
      return t.call('POST', `/v1/ops/withdrawals/${id}/${decision}`, token, body);
    }

    async function putRule(platformId: string, ruleId: string, body: Json, token = approver.token): Promise<Json> {
      const response = await t.call('PUT', `/v1/ops/platforms/${platformId}/risk-rules/${ruleId}`, token, body);
      expect(response.statusCode, response.body).toBe(200);
      return json(response);
    }

    async function rules(platformId: string): Promise<Json[]> {
      const response = await t.call('GET', `/v1/ops/platforms/${platformId}/risk-rules`, viewer.token);
      expect(response.statusCode, response.body).toBe(200);
      return listOf(response).data;
    }

    /** A seller with a big balance and a held withdrawal of just over ¥200,000. */
    async function heldWithdrawal(): Promise<{ platform: SignedPlatform; key: string; s: Seller; w: Json }> {
      const { platform, key, funder } = await fresh();
      const s = await seller(t, funder, holdAbove + 1);
      const w = await withdraw(t, key, s, holdAbove + 1);
      expect(w.status).toBe('held');
      return { platform, key, s, w };
    }

    describe('held for review', () => {
      it('holds a single withdrawal over ¥200,000 with the rule and its version, reserving the money; exactly ¥200,000 goes through', async () => {
        await ensureBusinessHours(t);
        const { platform, key, funder } = await fresh();
        const s = await seller(t, funder, 2 * holdAbove + 1);
        const before = await accounts(t, platform.id);
        const atLimit = await withdraw(t, key, s, holdAbove);
        expect(atLimit).toMatchObject({ status: 'processing', risk: { decision: 'allow', rules: [] } });
        const over = await withdraw(t, key, s, holdAbove + 1);
        expect(over).toMatchObject({
          status: 'held',
          rail: 'high_value',
          risk: { decision: 'hold', rules: [{ id: 'single_amount_max', version: 1, reason: expect.any(String) }] },
        });
        expect((over.risk as { rules: unknown[] }).rules).toHaveLength(1);
        expect(await getWithdrawal(t, key, over.id as string)).toEqual(over);
        expect(await balances(t, key, s.member.id)).toEqual(buckets({}));
        expect(await reviews(platform.id)).toEqual([over.id]);
        expect(await reviews()).toContain(over.id);
        expect((await eventsOf(t, key, `/v1/withdrawals/${over.id as string}/events`)).map((e) => e.type)).toEqual(['withdrawal.held']);

        expect(await settle(t, key, atLimit.id as string, final)).toMatchObject({ status: 'succeeded' });
        // Time passes; a held withdrawal never reaches the rail by itself.
        await advance(t, 3600);
        expect((await getWithdrawal(t, key, over.id as string)).status).toBe('held');
        expect(railRecord(t, over.id as string)).toBeUndefined();
        expect(accountDelta(before, await accounts(t, platform.id))).toEqual(moved({ custody_summary: -holdAbove }));
        expect((await decide(over.id as string, 'reject', approver.token)).statusCode).toBe(200);
      });

      it('lets only an approver (or admin) decide: viewer, operator and platform key get 403', async () => {
        const { key, w } = await heldWithdrawal();
        for (const token of [viewer.token, operator.token, key]) {
          expectError(await decide(w.id as string, 'approve', token), 'forbidden');
          expectError(await decide(w.id as string, 'reject', token), 'forbidden');
        }
        expect((await getWithdrawal(t, key, w.id as string)).status).toBe('held');
        expectError(await t.call('GET', '/v1/ops/reviews', key), 'forbidden');
        expectError(await decide(unknownId('wdr'), 'approve', approver.token), 'not_found', anyParam);
        const byAdmin = await decide(w.id as string, 'reject', adminToken);
        expect(byAdmin.statusCode, byAdmin.body).toBe(200);
        expect(json(byAdmin).status).toBe('rejected');
      });

      it('approved by an approver: processing, then paid; the review and the audit trail name the approver and the reason', async () => {
        const { platform, key, s, w } = await heldWithdrawal();
        const before = await accounts(t, platform.id);
        await ensureBusinessHours(t);
        const approved = await decide(w.id as string, 'approve', approver.token, { reason: 'customer called back, trade verified' });
        expect(approved.statusCode, approved.body).toBe(200);
        expect(json(approved)).toMatchObject({
          id: w.id,
          status: 'processing',
          risk: { decision: 'hold', rules: [{ id: 'single_amount_max', version: 1 }] },
          review: { by: namesOperator(approver), reason: 'customer called back, trade verified' },
        });
        expect(await reviews(platform.id)).toEqual([]);
        const paid = await settle(t, key, w.id as string, final);
        expect(paid).toMatchObject({ status: 'succeeded', review: { by: namesOperator(approver) } });
        expect(accountDelta(before, await accounts(t, platform.id))).toEqual(moved({ custody_summary: -(holdAbove + 1) }));
        expect(await balances(t, key, s.member.id)).toEqual(buckets({}));
        const events = await eventsOf(t, key, `/v1/withdrawals/${w.id as string}/events`);
        expect(events.map((e) => e.type)).toEqual(['withdrawal.held', 'withdrawal.approved', 'withdrawal.succeeded']);
        expect(events[1]).toMatchObject({ actor: namesOperator(approver), reason: 'customer called back, trade verified' });
        // Decided once: approving or rejecting again is a conflict.
        expectError(await decide(w.id as string, 'approve', approver2.token), 'state_conflict');
        expectError(await decide(w.id as string, 'reject', approver2.token), 'state_conflict');
      });

      it('rejected with a reason: the money is withdrawable again, nothing left the bank, the audit trail says who and why', async () => {
        const { platform, key, s, w } = await heldWithdrawal();
        const before = await accounts(t, platform.id);
        expectError(await decide(w.id as string, 'reject', approver.token, {}), 'invalid_request', anyParam);
        const rejected = await decide(w.id as string, 'reject', approver2.token, { reason: 'looks like cash-out for the platform' });
        expect(rejected.statusCode, rejected.body).toBe(200);
        expect(json(rejected)).toMatchObject({ status: 'rejected', review: { by: namesOperator(approver2), reason: 'looks like cash-out for the platform' } });
        expect(await balances(t, key, s.member.id)).toEqual(buckets({ withdrawable: holdAbove + 1 }));
        expect(accountDelta(before, await accounts(t, platform.id))).toEqual(moved({}));
        expect(await reviews(platform.id)).toEqual([]);
        const events = await eventsOf(t, key, `/v1/withdrawals/${w.id as string}/events`);
        expect(events.map((e) => e.type)).toEqual(['withdrawal.held', 'withdrawal.rejected']);
        expect(events[1]).toMatchObject({ actor: namesOperator(approver2), reason: 'looks like cash-out for the platform' });
        expectError(await decide(w.id as string, 'approve', approver.token), 'state_conflict');
        // The money really is free: a withdrawal under the threshold takes it.
        const again = await withdraw(t, key, s, holdAbove);
        expect(again.status).toBe('processing');
        await ensureBusinessHours(t);
        expect((await settle(t, key, again.id as string, final)).status).toBe('succeeded');
      });

      it('takes exactly one of an approval and a rejection racing for the same held withdrawal', async () => {
        const { platform, key, s, w } = await heldWithdrawal();
        await ensureBusinessHours(t);
        const before = await accounts(t, platform.id);
        const answers = await Promise.all([decide(w.id as string, 'approve', approver.token), decide(w.id as string, 'reject', approver2.token)]);
        expect(answers.map((r) => r.statusCode).sort()).toEqual([200, 409]);
        const winner = answers.find((r) => r.statusCode === 200);
        const loser = answers.find((r) => r.statusCode === 409);
        if (winner === undefined || loser === undefined) throw new Error('one answer each');
        expectError(loser, 'state_conflict');
        const status = json(winner).status as string;
        const done = await settle(t, key, w.id as string, final);
        if (status === 'rejected') {
          expect(done.status).toBe('rejected');
          expect(await balances(t, key, s.member.id)).toEqual(buckets({ withdrawable: holdAbove + 1 }));
          expect(accountDelta(before, await accounts(t, platform.id))).toEqual(moved({}));
        } else {
          expect(status).toBe('processing');
          expect(done.status).toBe('succeeded');
          expect(await balances(t, key, s.member.id)).toEqual(buckets({}));
          expect(accountDelta(before, await accounts(t, platform.id))).toEqual(moved({ custody_summary: -(holdAbove + 1) }));
        }
      });

      it('answers 409 state_conflict to a decision on a withdrawal that is not held', async () => {
        const { key, funder } = await fresh();
        const s = await seller(t, funder, 10_000, '0003');
        const w = await withdraw(t, key, s, 1_000);
        expect(w.status).toBe('processing');
        expectError(await decide(w.id as string, 'approve', approver.token), 'state_conflict');
        expectError(await decide(w.id as string, 'reject', approver.token), 'state_conflict');
        expect((await settle(t, key, w.id as string, final)).status).toBe('failed');
        expectError(await decide(w.id as string, 'approve', approver.token), 'state_conflict');
        expect(await balances(t, key, s.member.id)).toEqual(buckets({ withdrawable: 10_000 }));
      });
    });

    describe('rules per platform', () => {
      it('lists every rule with its version; a change is a new version, by an approver only', async () => {
        const { platform, key } = await fresh();
        const listed = await rules(platform.id);
        expect(listed.map((r) => r.id).sort()).toEqual([...riskRuleKinds].sort());
        expect(listed.every((r) => r.version === 1 && r.enabled === true)).toBe(true);
        expect(listed.find((r) => r.id === 'single_amount_max')).toMatchObject({ action: 'hold', params: { amount: '20000000' } });

        expectError(await t.call('PUT', `/v1/ops/platforms/${platform.id}/risk-rules/velocity`, operator.token, { params: { count: 3 } }), 'forbidden');
        expectError(await t.call('GET', `/v1/ops/platforms/${platform.id}/risk-rules`, key), 'forbidden');
        const changed = await putRule(platform.id, 'velocity', { params: { count: 3 } });
        expect(changed).toEqual({ id: 'velocity', version: 2, action: 'hold', enabled: true, params: { count: 3, window_seconds: 600 } });
        expect(await putRule(platform.id, 'velocity', { action: 'reject' })).toMatchObject({ version: 3, action: 'reject', params: { count: 3, window_seconds: 600 } });
        const after = await rules(platform.id);
        expect(after.find((r) => r.id === 'velocity')).toMatchObject({ version: 3, action: 'reject' });
        expect(after.filter((r) => r.id !== 'velocity').every((r) => r.version === 1)).toBe(true);
        // Another platform keeps its own rules.
        const other = await fresh();
        expect((await rules(other.platform.id)).find((r) => r.id === 'velocity')).toMatchObject({ version: 1, params: { count: 10 } });
      });

      it('refuses a bad change: unknown rule 404, unknown parameter or malformed value 400, unknown platform 404', async () => {
        const { platform } = await fresh();
        expectError(await t.call('PUT', `/v1/ops/platforms/${platform.id}/risk-rules/no_such_rule`, approver.token, { enabled: false }), 'not_found', 'rule_id');
        expectError(await t.call('PUT', `/v1/ops/platforms/${platform.id}/risk-rules/velocity`, approver.token, { params: { colour: 3 } }), 'invalid_request', 'params.colour');
        // Amounts are fen as decimal strings; a number is refused before it can reach a decision.
        expectError(await t.call('PUT', `/v1/ops/platforms/${platform.id}/risk-rules/single_amount_max`, approver.token, { params: { amount: 5_000 } }), 'invalid_request', anyParam);
        expectError(await t.call('PUT', `/v1/ops/platforms/${platform.id}/risk-rules/velocity`, approver.token, { params: { count: '3' } }), 'invalid_request', anyParam);
        expectError(await t.call('PUT', `/v1/ops/platforms/${unknownId('plt')}/risk-rules/velocity`, approver.token, { enabled: false }), 'not_found', anyParam);
        expect((await rules(platform.id)).every((r) => r.version === 1)).toBe(true);
      });

      it('card_cooling_period of 3600 s holds a withdrawal to a card bound just now, naming version 2; an hour later it goes', async () => {
        const { platform, key, funder } = await fresh();
        expect(await putRule(platform.id, 'card_cooling_period', { params: { seconds: 3600 } })).toMatchObject({ version: 2, params: { seconds: 3600 } });
        const s = await seller(t, funder, 10_000);
        const held = await withdraw(t, key, s, 1_000);
        expect(held).toMatchObject({ status: 'held', risk: { decision: 'hold', rules: [{ id: 'card_cooling_period', version: 2 }] } });
        await advance(t, 3601);
        const later = await withdraw(t, key, s, 1_000);
        expect(later).toMatchObject({ status: 'processing', risk: { decision: 'allow', rules: [] } });
        await settle(t, key, later.id as string, final);
        expect((await decide(held.id as string, 'reject', approver.token)).statusCode).toBe(200);
        expect(await balances(t, key, s.member.id)).toEqual(buckets({ withdrawable: 9_000 }));
      });

      it('velocity: the third withdrawal within 600 s is held when the rule allows two; after the window it goes', async () => {
        const { platform, key, funder } = await fresh();
        await putRule(platform.id, 'velocity', { params: { count: 2, window_seconds: 600 } });
        const s = await seller(t, funder, 10_000);
        const first = await withdraw(t, key, s, 1_000);
        const second = await withdraw(t, key, s, 1_000);
        const third = await withdraw(t, key, s, 1_000);
        expect([first.status, second.status, third.status]).toEqual(['processing', 'processing', 'held']);
        expect(third.risk).toEqual({ decision: 'hold', rules: [{ id: 'velocity', version: 2, reason: expect.any(String) }] });
        // Another member of the platform is not slowed by this one.
        const neighbour = await seller(t, funder, 1_000);
        expect((await withdraw(t, key, neighbour, 1_000)).status).toBe('processing');
        await advance(t, 601);
        expect((await withdraw(t, key, s, 1_000)).status).toBe('processing');
        expect((await decide(third.id as string, 'reject', approver.token)).statusCode).toBe(200);
        for (const w of [first, second]) await settle(t, key, w.id as string, final);
        await advance(t, 10);
      });

      it('member_daily_count_max of 1 holds the member’s second withdrawal of the day', async () => {
        const { platform, key, funder } = await fresh();
        await putRule(platform.id, 'member_daily_count_max', { params: { count: 1 } });
        const s = await seller(t, funder, 10_000);
        const first = await withdraw(t, key, s, 1_000);
        const second = await withdraw(t, key, s, 1_000);
        expect(first.status).toBe('processing');
        expect(second).toMatchObject({ status: 'held', risk: { decision: 'hold', rules: [{ id: 'member_daily_count_max', version: 2 }] } });
        await settle(t, key, first.id as string, final);
        expect((await decide(second.id as string, 'reject', approver.token)).statusCode).toBe(200);
      });

      it('a rule whose action is reject refuses at once: status rejected, nothing reserved, nothing to review', async () => {
        const { platform, key, funder } = await fresh();
        await putRule(platform.id, 'single_amount_max', { action: 'reject', params: { amount: '5000' } });
        const s = await seller(t, funder, 10_000);
        const before = await accounts(t, platform.id);
        const rejected = await withdraw(t, key, s, 5_001);
        expect(rejected).toMatchObject({
          status: 'rejected',
          risk: { decision: 'reject', rules: [{ id: 'single_amount_max', version: 2, reason: expect.any(String) }] },
        });
        expect(await balances(t, key, s.member.id)).toEqual(buckets({ withdrawable: 10_000 }));
        expect(await getJson(t, key, `/v1/withdrawals/${rejected.id as string}/lineage`)).toEqual({ withdrawal_id: rejected.id, sources: [] });
        expect(await reviews(platform.id)).toEqual([]);
        expect((await eventsOf(t, key, `/v1/withdrawals/${rejected.id as string}/events`)).map((e) => e.type)).toEqual(['withdrawal.rejected']);
        await advance(t, 10);
        expect((await getWithdrawal(t, key, rejected.id as string)).status).toBe('rejected');
        expect(railRecord(t, rejected.id as string)).toBeUndefined();
        expectError(await decide(rejected.id as string, 'approve', approver.token), 'state_conflict');
        const atLimit = await withdraw(t, key, s, 5_000);
        expect(atLimit.status).toBe('processing');
        await settle(t, key, atLimit.id as string, final);
        expect(accountDelta(before, await accounts(t, platform.id))).toEqual(moved({ custody_summary: -5_000 }));
      });

      it('a disabled rule never fires: with single_amount_max off, ¥200,000.01 goes straight to the rail', async () => {
        const { platform, key, funder } = await fresh();
        expect(await putRule(platform.id, 'single_amount_max', { enabled: false })).toMatchObject({ version: 2, enabled: false });
        const s = await seller(t, funder, holdAbove + 1);
        await ensureBusinessHours(t);
        const w = await withdraw(t, key, s, holdAbove + 1);
        expect(w).toMatchObject({ status: 'processing', risk: { decision: 'allow', rules: [] } });
        expect((await settle(t, key, w.id as string, final)).status).toBe('succeeded');
      });
    });

    describe('members linked to their platform', () => {
      it("holds the withdrawals of a member whose ID number is the platform's legal person's", async () => {
        const legal = residentId();
        const { platform, key, funder } = await fresh({ legal_id_number: legal });
        const insider = await openMember(t, key, individual({ id_number: legal }));
        const insiderCard = await bindCard(t, key, insider);
        await funder.proceeds(insider, 5_000);
        const held = await withdraw(t, key, { member: insider, card: insiderCard }, 1_000);
        expect(held).toMatchObject({ status: 'held', risk: { decision: 'hold', rules: [{ id: 'linked_to_platform', version: 1 }] } });
        expect(await reviews(platform.id)).toEqual([held.id]);
        const outsider = await seller(t, funder, 5_000);
        expect((await withdraw(t, key, outsider, 1_000)).status).toBe('processing');
        expect((await decide(held.id as string, 'reject', approver.token)).statusCode).toBe(200);
        // The same person on another platform is nobody's insider there.
        const elsewhere = await fresh();
        const same = await openMember(t, elsewhere.key, individual({ id_number: legal }));
        const sameCard = await bindCard(t, elsewhere.key, same);
        await elsewhere.funder.proceeds(same, 1_000);
        expect((await withdraw(t, elsewhere.key, { member: same, card: sameCard }, 1_000)).status).toBe('processing');
        await advance(t, 10);
      });

      it('holds the withdrawals of a member an approver flags as linked, until the flag is lifted', async () => {
        const { platform, key, funder } = await fresh();
        const s = await seller(t, funder, 5_000);
        const flagUrl = `/v1/ops/platforms/${platform.id}/members/${s.member.id}/flags`;
        expectError(await t.call('PUT', flagUrl, operator.token, { linked_to_platform: true }), 'forbidden');
        const flagged = await t.call('PUT', flagUrl, approver.token, { linked_to_platform: true, reason: "the owner's cousin" });
        expect(flagged.statusCode, flagged.body).toBe(200);
        expect(json(flagged)).toEqual({ member_id: s.member.id, linked_to_platform: true });
        const held = await withdraw(t, key, s, 1_000);
        expect(held).toMatchObject({ status: 'held', risk: { rules: [{ id: 'linked_to_platform', version: 1 }] } });
        expect((await t.call('PUT', flagUrl, approver.token, { linked_to_platform: false })).statusCode).toBe(200);
        const free = await withdraw(t, key, s, 1_000);
        expect(free).toMatchObject({ status: 'processing', risk: { decision: 'allow', rules: [] } });
        await settle(t, key, free.id as string, final);
        expect((await decide(held.id as string, 'reject', approver.token)).statusCode).toBe(200);

        // A member of another platform, or none at all, cannot be flagged through this one.
        const other = await fresh();
        const stranger = await openMember(t, other.key);
        expectError(await t.call('PUT', `/v1/ops/platforms/${platform.id}/members/${stranger.id}/flags`, approver.token, { linked_to_platform: true }), 'not_found', anyParam);
        expectError(await t.call('PUT', `/v1/ops/platforms/${platform.id}/members/${unknownId('mbr')}/flags`, approver.token, { linked_to_platform: true }), 'not_found', anyParam);
      });
    });
  });
}
