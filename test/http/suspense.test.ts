import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADAPTERS } from '../support/adapters.js';
import { adminToken, anyParam, expectError, expectNotFound, expectShape, json, listOf, openMember, operatorToken, signPlatform, unknownId } from '../support/http-fixtures.js';
import type { Json, SignedPlatform } from '../support/http-fixtures.js';
import { accountDelta, accounts, balances, buckets, eventsOf, getJson, invariantsOk, moved } from '../support/money-fixtures.js';
import { openTestApp } from '../support/test-app.js';
import type { TestApp } from '../support/test-app.js';

const rfc3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

for (const adapter of ADAPTERS) {
  describe(`bank credits and suspense (${adapter})`, () => {
    let t: TestApp;
    let platform: SignedPlatform;
    let key: string;
    let operator: string;

    beforeAll(async () => {
      t = await openTestApp(adapter);
      platform = await signPlatform(t);
      key = platform.apiKey;
      operator = (await operatorToken(t, 'operator')).token;
    });

    afterAll(async () => {
      await t?.dispose();
    });

    const credit = (body: Json, token = operator) =>
      t.call('POST', '/v1/ops/bank-credits', token, { platform_id: platform.id, payer_account: '6222020200112233', payer_name: '李四', ...body });

    /** Records a credit that no member's number names, and returns its suspense item id. */
    async function suspenseOf(amount: number): Promise<string> {
      const response = await credit({ amount, memo: 'payment for invoice 42' });
      expect(response.statusCode, response.body).toBe(201);
      const body = json(response);
      expect(body.status).toBe('suspense');
      return body.suspense_id as string;
    }

    it('credits the member whose sub_account_no the memo names: spendable and custody summary grow', async () => {
      const member = await openMember(t, key);
      const before = await accounts(t, platform.id);
      const response = await credit({ amount: 88_800, memo: `充值 ${member.body.sub_account_no as string} thanks` });
      expect(response.statusCode, response.body).toBe(201);
      expectShape(json(response), {
        id: expect.stringMatching(/^bcr_/),
        status: 'credited',
        member_id: member.id,
        suspense_id: null,
        amount: 88_800,
        created: expect.stringMatching(rfc3339),
      });
      expect(await balances(t, key, member.id)).toEqual(buckets({ spendable: 88_800 }));
      expect(accountDelta(before, await accounts(t, platform.id))).toEqual(moved({ custody_summary: 88_800 }));
      // The payer's account and name are not echoed back.
      expect(response.body).not.toContain('6222020200112233');
      expect(response.body).not.toContain('李四');
      await invariantsOk(t, platform.id);
    });

    it('puts any other credit in suspense, listed by GET /v1/suspense', async () => {
      const member = await openMember(t, key);
      const before = await accounts(t, platform.id);
      const memos = ['', 'no number here', '1234567890123456', `${(member.body.sub_account_no as string).slice(0, 15)}`];
      const ids: string[] = [];
      for (const memo of memos) {
        const response = await credit({ amount: 1_000, memo });
        expect(response.statusCode, response.body).toBe(201);
        const body = json(response);
        expect(body).toMatchObject({ status: 'suspense', member_id: null, suspense_id: expect.stringMatching(/^sus_/) });
        ids.push(body.suspense_id as string);
      }
      expect(await balances(t, key, member.id)).toEqual(buckets({}));
      expect(accountDelta(before, await accounts(t, platform.id))).toEqual(moved({ custody_summary: 4_000, suspense: 4_000 }));
      const listed = listOf(await t.call('GET', '/v1/suspense?limit=100', key)).data.filter((item) => ids.includes(item.id as string));
      expect(listed.map((item) => item.id)).toEqual(ids);
      for (const item of listed) {
        expectShape(item, { object: 'suspense_item', amount: 1_000, allocated: 0, reversed: 0, remaining: 1_000, status: 'open', bank_credit_id: expect.stringMatching(/^bcr_/) });
      }
      expect(await getJson(t, key, `/v1/suspense/${ids[0] as string}`)).toEqual(listed[0]);
      await invariantsOk(t, platform.id);
    });

    it('allocates part to a member, reverses the rest, and refuses more than is left with 422 suspense_not_open', async () => {
      const member = await openMember(t, key);
      const id = await suspenseOf(1_000);
      const before = await accounts(t, platform.id);

      const allocate = (body: Json) => t.call('POST', `/v1/suspense/${id}/allocate`, key, body);
      const reverse = (body: Json) => t.call('POST', `/v1/suspense/${id}/reverse`, key, body);
      const allocated = await allocate({ member_id: member.id, amount: 300 });
      expect(allocated.statusCode, allocated.body).toBe(200);
      expect(json(allocated)).toMatchObject({ id, amount: 1_000, allocated: 300, reversed: 0, remaining: 700, status: 'open' });
      expect(await balances(t, key, member.id)).toEqual(buckets({ spendable: 300 }));
      expect(accountDelta(before, await accounts(t, platform.id))).toEqual(moved({ suspense: -300 }));

      expectError(await allocate({ member_id: member.id, amount: 701 }), 'suspense_not_open', 'amount');
      expectError(await reverse({ amount: 701 }), 'suspense_not_open', 'amount');
      expectError(await allocate({ member_id: unknownId('mbr'), amount: 1 }), 'not_found', 'member_id');
      expectError(await allocate({ member_id: member.id, amount: 0 }), 'invalid_request', 'amount');
      expect(await balances(t, key, member.id)).toEqual(buckets({ spendable: 300 }));

      const reversed = await reverse({});
      expect(reversed.statusCode, reversed.body).toBe(200);
      expect(json(reversed)).toMatchObject({ allocated: 300, reversed: 700, remaining: 0 });
      expect(json(reversed).status).not.toBe('open');
      expect(accountDelta(before, await accounts(t, platform.id))).toEqual(moved({ suspense: -1_000, custody_summary: -700 }));
      expectError(await allocate({ member_id: member.id }), 'suspense_not_open', anyParam);
      expectError(await reverse({ amount: 1 }), 'suspense_not_open', anyParam);
      expect(await balances(t, key, member.id)).toEqual(buckets({ spendable: 300 }));

      const events = await eventsOf(t, key, `/v1/suspense/${id}/events`);
      expect(events.map((e) => e.type)).toEqual(['suspense.opened', 'suspense.allocated', 'suspense.reversed']);
      const sequences = events.map((e) => e.sequence as number);
      expect([...sequences].sort((a, b) => a - b)).toEqual(sequences);
      expect(new Set(sequences).size).toBe(3);
      for (const event of events) expect(event).toMatchObject({ object_type: 'suspense', object_id: id });
      await invariantsOk(t, platform.id);
    });

    it('allocates or reverses a whole item when no amount is given', async () => {
      const member = await openMember(t, key);
      const whole = await suspenseOf(450);
      const back = await suspenseOf(550);
      const before = await accounts(t, platform.id);
      const allocated = await t.call('POST', `/v1/suspense/${whole}/allocate`, key, { member_id: member.id });
      expect(json(allocated)).toMatchObject({ allocated: 450, remaining: 0, status: 'allocated' });
      const reversed = await t.call('POST', `/v1/suspense/${back}/reverse`, key, {});
      expect(json(reversed)).toMatchObject({ reversed: 550, remaining: 0, status: 'reversed' });
      expect(await balances(t, key, member.id)).toEqual(buckets({ spendable: 450 }));
      expect(accountDelta(before, await accounts(t, platform.id))).toEqual(moved({ suspense: -1_000, custody_summary: -550 }));
      await invariantsOk(t, platform.id);
    });

    it('lets operators record bank credits, not viewers or platforms (403), and refuses bad ones', async () => {
      const viewer = (await operatorToken(t, 'viewer')).token;
      const before = await accounts(t, platform.id);
      expectError(await credit({ amount: 100, memo: 'x' }, viewer), 'forbidden');
      expectError(await credit({ amount: 100, memo: 'x' }, key), 'forbidden');
      expectError(await credit({ amount: 100, memo: 'x' }, 'nonsense-token'), 'unauthenticated');
      expectError(await credit({ amount: 0, memo: 'x' }), 'invalid_request', 'amount');
      expectNotFound(await credit({ amount: 100, memo: 'x', platform_id: unknownId('plt') }));
      expectError(await credit({ amount: 100, memo: 'x', platform_id: 'plt_nonsense' }), 'not_found', 'platform_id');
      expect(accountDelta(before, await accounts(t, platform.id))).toEqual(moved({}));
      // A viewer still reads the invariants; an admin records credits too.
      expect((await t.call('GET', '/v1/ops/invariants', viewer)).statusCode).toBe(200);
      expect((await credit({ amount: 100, memo: 'x' }, adminToken)).statusCode).toBe(201);
      expect(accountDelta(before, await accounts(t, platform.id))).toEqual(moved({ custody_summary: 100, suspense: 100 }));
      await invariantsOk(t);
      await invariantsOk(t, platform.id);
    });

    // BUG: a well-formed but unknown platform id answers 404 with `param: "id"`, a field the
    // request does not have; a malformed one names `platform_id`. The fix belongs in
    // src/http/routes/ops-routes.ts (bank-credits and invariants): map the service's not_found
    // to param `platform_id`, as payin-service.ts does for `member_id`.
    it('names platform_id in the 404 for an unknown platform (bank credits, invariants)', async () => {
      expectError(await credit({ amount: 100, memo: 'x', platform_id: unknownId('plt') }), 'not_found', 'platform_id');
      expectError(await t.call('GET', `/v1/ops/invariants?platform_id=${unknownId('plt')}`, adminToken), 'not_found', 'platform_id');
    });
  });
}
