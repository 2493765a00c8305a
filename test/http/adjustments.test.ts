import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fromPublicId, toPublicId } from '../../src/public-ids.js';
import { ADAPTERS } from '../support/adapters.js';
import { anyParam, expectError, expectShape, json, listOf, openMember, operatorToken, signPlatform, unknownId } from '../support/http-fixtures.js';
import type { Json, OpenedMember, SignedPlatform } from '../support/http-fixtures.js';
import { accountDelta, accountRows, accounts, balances, buckets, invariantsOk, moved } from '../support/money-fixtures.js';
import type { PlatformAccountCode } from '../support/money-fixtures.js';
import { openTestApp } from '../support/test-app.js';
import type { TestApp } from '../support/test-app.js';
import { bankCredit } from '../support/withdrawal-fixtures.js';

const rfc3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

for (const adapter of ADAPTERS) {
  describe(`adjustments under maker-checker (${adapter})`, () => {
    let t: TestApp;
    let viewer: { id: string; token: string };
    let operator: { id: string; token: string };
    let approver: { id: string; token: string };
    let approver2: { id: string; token: string };
    const touched = new Set<string>();

    beforeAll(async () => {
      t = await openTestApp(adapter, { log: { warn: () => undefined } });
      viewer = await operatorToken(t, 'viewer');
      operator = await operatorToken(t, 'operator');
      approver = await operatorToken(t, 'approver');
      approver2 = await operatorToken(t, 'approver');
    });

    afterEach(async () => {
      for (const id of touched) await invariantsOk(t, id);
      touched.clear();
    });

    afterAll(async () => {
      await t?.dispose();
    });

    async function fresh(): Promise<{ platform: SignedPlatform; account: (code: PlatformAccountCode) => Promise<string> }> {
      const platform = await signPlatform(t);
      touched.add(platform.id);
      const rows = await accountRows(t, platform.id);
      return {
        platform,
        account: async (code) => {
          const row = rows.find((r) => r.code === code);
          expect(row, code).toBeDefined();
          return row?.id as string;
        },
      };
    }

    /**
     * A member's bucket account as a public account id. API.md lists member accounts in the
     * trial balance, which is not built yet, so the id is read from the runtime.
     */
    async function memberAccount(platformId: string, member: OpenedMember, code: 'member_spendable' | 'member_withdrawable'): Promise<string> {
      const record = await t.runtime.members.record(fromPublicId('platform', platformId) ?? '', fromPublicId('member', member.id) ?? '');
      const id = record.accounts[code];
      expect(id).toBeDefined();
      return toPublicId('account', id as string);
    }

    function propose(token: string, body: Json) {
      return t.call('POST', '/v1/ops/adjustments', token, { reason: 'bank interest for March, booked by hand', ...body });
    }

    function decide(id: string, decision: 'approve' | 'reject', token: string, body?: Json) {
      return t.call('POST', `/v1/ops/adjustments/${id}/${decision}`, token, body ?? {});
    }

    async function getAdjustment(id: string): Promise<Json> {
      const response = await t.call('GET', `/v1/ops/adjustments/${id}`, viewer.token);
      expect(response.statusCode, response.body).toBe(200);
      return json(response);
    }

    it('is proposed by an operator as pending_approval and moves nothing until a different approver approves it', async () => {
      const { platform, account } = await fresh();
      const custody = await account('custody_summary');
      const interest = await account('interest');
      const before = await accounts(t, platform.id);
      const proposed = await propose(operator.token, { platform_id: platform.id, debit_account_id: custody, credit_account_id: interest, amount: 12_345 });
      expect(proposed.statusCode, proposed.body).toBe(201);
      const adj = json(proposed);
      expectShape(adj, {
        id: expect.stringMatching(/^adj_[0-9a-z]{26}$/),
        object: 'adjustment',
        platform_id: platform.id,
        debit_account_id: custody,
        credit_account_id: interest,
        amount: 12_345,
        reason: 'bank interest for March, booked by hand',
        status: 'pending_approval',
        checker: null,
        entry_id: null,
        created: expect.stringMatching(rfc3339),
        decided_at: null,
      });
      expect(accountDelta(before, await accounts(t, platform.id))).toEqual(moved({}));
      const pending = listOf(await t.call('GET', `/v1/ops/adjustments?platform_id=${platform.id}&status=pending_approval`, viewer.token)).data;
      expect(pending.map((a) => a.id)).toEqual([adj.id]);

      const approved = await decide(adj.id as string, 'approve', approver.token);
      expect(approved.statusCode, approved.body).toBe(200);
      expect(json(approved)).toMatchObject({ id: adj.id, status: 'applied', entry_id: expect.stringMatching(/^ent_/), decided_at: expect.stringMatching(rfc3339) });
      expect(json(approved).checker).not.toBe(json(approved).maker);
      expect(accountDelta(before, await accounts(t, platform.id))).toEqual(moved({ custody_summary: 12_345, interest: 12_345 }));
      expect(await getAdjustment(adj.id as string)).toEqual(json(approved));
    });

    it('moves a member’s balance exactly: a bank credit booked by hand to the member’s spendable', async () => {
      const { platform, account } = await fresh();
      const member = await openMember(t, platform.apiKey);
      const before = await accounts(t, platform.id);
      const adj = json(await propose(approver.token, {
        platform_id: platform.id,
        debit_account_id: await account('custody_summary'),
        credit_account_id: await memberAccount(platform.id, member, 'member_spendable'),
        amount: 7_000,
        reason: 'credit whose memo was misspelt, matched by hand',
      }));
      expect(adj.status).toBe('pending_approval');
      expect(await balances(t, platform.apiKey, member.id)).toEqual(buckets({}));
      expect(json(await decide(adj.id as string, 'approve', approver2.token)).status).toBe('applied');
      expect(await balances(t, platform.apiKey, member.id)).toEqual(buckets({ spendable: 7_000 }));
      expect(accountDelta(before, await accounts(t, platform.id))).toEqual(moved({ custody_summary: 7_000 }));
    });

    it('answers 422 maker_cannot_approve when the maker decides it; the adjustment stays pending', async () => {
      const { platform, account } = await fresh();
      const before = await accounts(t, platform.id);
      const adj = json(await propose(approver.token, { platform_id: platform.id, debit_account_id: await account('custody_summary'), credit_account_id: await account('interest'), amount: 100 }));
      expect(adj.maker).toBeTruthy();
      expectError(await decide(adj.id as string, 'approve', approver.token), 'maker_cannot_approve');
      expectError(await decide(adj.id as string, 'reject', approver.token, { reason: 'changed my mind' }), 'maker_cannot_approve');
      expect((await getAdjustment(adj.id as string)).status).toBe('pending_approval');
      expect(accountDelta(before, await accounts(t, platform.id))).toEqual(moved({}));
      expect(json(await decide(adj.id as string, 'approve', approver2.token)).status).toBe('applied');
    });

    it('is rejected by another approver: nothing moves; deciding twice answers 409', async () => {
      const { platform, account } = await fresh();
      const before = await accounts(t, platform.id);
      const adj = json(await propose(operator.token, { platform_id: platform.id, debit_account_id: await account('custody_summary'), credit_account_id: await account('interest'), amount: 500 }));
      const rejected = await decide(adj.id as string, 'reject', approver.token, { reason: 'no bank advice for this' });
      expect(rejected.statusCode, rejected.body).toBe(200);
      expect(json(rejected)).toMatchObject({ status: 'rejected', entry_id: null, decision_reason: 'no bank advice for this' });
      expect(accountDelta(before, await accounts(t, platform.id))).toEqual(moved({}));
      expectError(await decide(adj.id as string, 'approve', approver2.token), 'state_conflict');
      expectError(await decide(adj.id as string, 'reject', approver2.token), 'state_conflict');

      const applied = json(await propose(operator.token, { platform_id: platform.id, debit_account_id: await account('custody_summary'), credit_account_id: await account('interest'), amount: 600 }));
      expect(json(await decide(applied.id as string, 'approve', approver.token)).status).toBe('applied');
      expectError(await decide(applied.id as string, 'approve', approver2.token), 'state_conflict');
      expectError(await decide(applied.id as string, 'reject', approver2.token), 'state_conflict');
      // Applied once: the second approval moved nothing.
      expect(accountDelta(before, await accounts(t, platform.id))).toEqual(moved({ custody_summary: 600, interest: 600 }));
    });

    it('applies an adjustment once when two approvers approve it at the same moment', async () => {
      const { platform, account } = await fresh();
      const before = await accounts(t, platform.id);
      const adj = json(await propose(operator.token, { platform_id: platform.id, debit_account_id: await account('custody_summary'), credit_account_id: await account('interest'), amount: 250 }));
      const answers = await Promise.all([decide(adj.id as string, 'approve', approver.token), decide(adj.id as string, 'approve', approver2.token)]);
      expect(answers.map((r) => r.statusCode).sort()).toEqual([200, 409]);
      expect(accountDelta(before, await accounts(t, platform.id))).toEqual(moved({ custody_summary: 250, interest: 250 }));
      expect((await getAdjustment(adj.id as string)).status).toBe('applied');
    });

    it('lets only approvers decide and operators propose: viewer and operator get 403, a platform key too', async () => {
      const { platform, account } = await fresh();
      const body = { platform_id: platform.id, debit_account_id: await account('custody_summary'), credit_account_id: await account('interest'), amount: 100 };
      expectError(await propose(viewer.token, body), 'forbidden');
      expectError(await propose(platform.apiKey, body), 'forbidden');
      const adj = json(await propose(operator.token, body));
      for (const token of [viewer.token, operator.token, platform.apiKey]) {
        expectError(await decide(adj.id as string, 'approve', token), 'forbidden');
        expectError(await decide(adj.id as string, 'reject', token), 'forbidden');
      }
      expect((await getAdjustment(adj.id as string)).status).toBe('pending_approval');
    });

    it('answers 404 naming the param for an unknown account, an account of another platform, or an unknown platform', async () => {
      const { platform, account } = await fresh();
      const other = await fresh();
      const custody = await account('custody_summary');
      const base = { platform_id: platform.id, debit_account_id: custody, credit_account_id: await account('interest'), amount: 100 };
      expectError(await propose(operator.token, { ...base, debit_account_id: unknownId('acc') }), 'not_found', 'debit_account_id');
      expectError(await propose(operator.token, { ...base, credit_account_id: unknownId('acc') }), 'not_found', 'credit_account_id');
      expectError(await propose(operator.token, { ...base, credit_account_id: await other.account('interest') }), 'not_found', 'credit_account_id');
      expectError(await propose(operator.token, { ...base, debit_account_id: await other.account('custody_summary') }), 'not_found', 'debit_account_id');
      expectError(await propose(operator.token, { ...base, platform_id: unknownId('plt') }), 'not_found', anyParam);
      expectError(await decide(unknownId('adj'), 'approve', approver.token), 'not_found', 'id');
      expectError(await propose(operator.token, { ...base, credit_account_id: custody }), 'invalid_request', 'credit_account_id');
      expectError(await propose(operator.token, { ...base, reason: '   ' }), 'invalid_request', 'reason');
      expect(listOf(await t.call('GET', `/v1/ops/adjustments?platform_id=${platform.id}`, viewer.token)).data).toEqual([]);
    });

    it('refuses at approval, 422 insufficient_funds, an adjustment that would overdraw a member account; it stays pending', async () => {
      const { platform, account } = await fresh();
      const member = await openMember(t, platform.apiKey);
      await bankCredit(t, platform.id, member, 1_000);
      const before = await accounts(t, platform.id);
      const adj = json(await propose(operator.token, {
        platform_id: platform.id,
        debit_account_id: await memberAccount(platform.id, member, 'member_spendable'),
        credit_account_id: await account('suspense'),
        amount: 1_001,
        reason: 'credit allocated to the wrong member: back to suspense',
      }));
      expect(adj.status).toBe('pending_approval');
      expectError(await decide(adj.id as string, 'approve', approver.token), 'insufficient_funds');
      expect(await getAdjustment(adj.id as string)).toMatchObject({ status: 'pending_approval', checker: null, entry_id: null });
      expect(await balances(t, platform.apiKey, member.id)).toEqual(buckets({ spendable: 1_000 }));
      expect(accountDelta(before, await accounts(t, platform.id))).toEqual(moved({}));
      // Once the member holds enough, the same adjustment applies.
      await bankCredit(t, platform.id, member, 1);
      expect(json(await decide(adj.id as string, 'approve', approver.token)).status).toBe('applied');
      expect(await balances(t, platform.apiKey, member.id)).toEqual(buckets({}));
    });

    // API.md "Platform accounts": balances on the normal side are ≥ 0 in normal operation, and
    // the ledger refuses an adjustment that would overdraw fees, interest, own funds or a member
    // bucket. withdrawal_in_transit is the exception: an approved adjustment takes it below zero
    // (money "in transit" that never left), and no invariant notices.
    it('refuses an adjustment that would take withdrawal_in_transit below zero, as it does for fees', async () => {
      const { platform, account } = await fresh();
      const member = await openMember(t, platform.apiKey);
      await bankCredit(t, platform.id, member, 1_000);
      const before = await accounts(t, platform.id);
      for (const code of ['fees', 'withdrawal_in_transit'] as const) {
        const adj = json(await propose(operator.token, { platform_id: platform.id, debit_account_id: await account(code), credit_account_id: await account('custody_summary'), amount: 100 }));
        expectError(await decide(adj.id as string, 'approve', approver.token), 'insufficient_funds');
        expect((await getAdjustment(adj.id as string)).status).toBe('pending_approval');
      }
      expect(accountDelta(before, await accounts(t, platform.id))).toEqual(moved({}));
    });
  });
}
