import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChannelCallback } from '../../src/channels/acquiring/acquiring-channel.js';
import { signPayload } from '../../src/channels/signature.js';
import { fromPublicId } from '../../src/public-ids.js';
import { ADAPTERS } from '../support/adapters.js';
import { adminToken, anyParam, expectError, expectShape, json, openMember, signPlatform, unknownId } from '../support/http-fixtures.js';
import type { Json, SignedPlatform } from '../support/http-fixtures.js';
import {
  accountDelta,
  accounts,
  advance,
  balances,
  buckets,
  eventsOf,
  getJson,
  invariantsOk,
  moved,
  orderNo,
  placeOrder,
  recharge,
  startPayin,
  zeroBalances,
} from '../support/money-fixtures.js';
import { openTestApp } from '../support/test-app.js';
import type { TestApp } from '../support/test-app.js';

const rfc3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

for (const adapter of ADAPTERS) {
  describe(`payins: money in through acquiring channels (${adapter})`, () => {
    let t: TestApp;
    let platform: SignedPlatform;
    let key: string;

    beforeAll(async () => {
      t = await openTestApp(adapter);
      platform = await signPlatform(t);
      key = platform.apiKey;
    });

    afterAll(async () => {
      await t?.dispose();
    });

    /** Restores the runtime's own callback sink after a test replaced it. */
    function restoreSink(): void {
      t.runtime.acquiringSimulator?.setSink(async (callback) => {
        await t.runtime.payins.handleCallback(callback);
      });
    }

    it('recharges a member through sim: pending at once, succeeded after the clock moves; spendable grows, withdrawable does not; channel in-transit holds it', async () => {
      const member = await openMember(t, key);
      const before = await accounts(t, platform.id);
      const no = orderNo('recharge');
      const response = await t.call('POST', '/v1/payins', key, { order_no: no, amount: 12_345, channel: 'sim', member_id: member.id });
      expect(response.statusCode, response.body).toBe(201);
      const created = json(response);
      expectShape(created, {
        id: expect.stringMatching(/^pay_[0-9a-z]{26}$/),
        object: 'payin',
        order_no: no,
        status: 'pending',
        amount: 12_345,
        currency: 'CNY',
        channel: 'sim',
        member_id: member.id,
        channel_txn_id: expect.any(String),
      });
      // Nothing is credited while the channel has not answered.
      expect(await balances(t, key, member.id)).toEqual(zeroBalances);
      expect(accountDelta(before, await accounts(t, platform.id))).toEqual(moved({}));
      expect((await getJson(t, key, `/v1/payins/${created.id as string}`)).status).toBe('pending');

      await advance(t, 1);
      const decided = await getJson(t, key, `/v1/payins/${created.id as string}`);
      expect(decided).toMatchObject({ id: created.id, status: 'succeeded', amount: 12_345, member_id: member.id, decided_at: expect.stringMatching(rfc3339) });
      expect(await balances(t, key, member.id)).toEqual(buckets({ spendable: 12_345 }));
      expect(accountDelta(before, await accounts(t, platform.id))).toEqual(moved({ channel_in_transit: 12_345 }));
      await invariantsOk(t, platform.id);
    });

    it('fails a payin on sim_fail: status failed, nothing credited, nothing in transit', async () => {
      const member = await openMember(t, key);
      const before = await accounts(t, platform.id);
      const payin = await startPayin(t, key, { amount: 5_000, channel: 'sim_fail', member_id: member.id });
      await advance(t, 1);
      const decided = await getJson(t, key, `/v1/payins/${payin.id as string}`);
      expect(decided).toMatchObject({ status: 'failed', amount: 5_000 });
      expect(await balances(t, key, member.id)).toEqual(zeroBalances);
      expect(accountDelta(before, await accounts(t, platform.id))).toEqual(moved({}));
      const events = await eventsOf(t, key, `/v1/payins/${payin.id as string}/events`);
      expect(events.map((e) => e.type)).toEqual(['payin.created', 'payin.failed']);
      await invariantsOk(t, platform.id);
    });

    it("funds the platform's marketing and own_funds accounts (account instead of member_id)", async () => {
      const before = await accounts(t, platform.id);
      const marketing = await startPayin(t, key, { amount: 40_000, channel: 'sim', account: 'marketing' });
      const own = await startPayin(t, key, { amount: 7_000, channel: 'sim', account: 'own_funds' });
      expect(marketing).toMatchObject({ account: 'marketing', member_id: null });
      expect(own).toMatchObject({ account: 'own_funds', member_id: null });
      await advance(t, 1);
      expect((await getJson(t, key, `/v1/payins/${marketing.id as string}`)).status).toBe('succeeded');
      expect((await getJson(t, key, `/v1/payins/${own.id as string}`)).status).toBe('succeeded');
      expect(accountDelta(before, await accounts(t, platform.id))).toEqual(moved({ marketing: 40_000, own_funds: 7_000, channel_in_transit: 47_000 }));
      await invariantsOk(t, platform.id);
    });

    it('refuses bad payins (unknown channel, neither or both of member_id and account, unknown member, bad amount) and records nothing', async () => {
      const member = await openMember(t, key);
      const before = await accounts(t, platform.id);
      const post = (body: Json) => t.call('POST', '/v1/payins', key, { order_no: orderNo('bad'), amount: 100, channel: 'sim', ...body });
      expectError(await post({ channel: 'paypal', member_id: member.id }), 'invalid_request', 'channel');
      const neither = expectError(await post({}), 'invalid_request', anyParam);
      expect(['member_id', 'account']).toContain(neither.param);
      const both = expectError(await post({ member_id: member.id, account: 'marketing' }), 'invalid_request', anyParam);
      expect(['member_id', 'account']).toContain(both.param);
      expectError(await post({ account: 'fees' }), 'invalid_request', 'account');
      expectError(await post({ account: 'guarantee' }), 'invalid_request', 'account');
      expectError(await post({ member_id: unknownId('mbr') }), 'not_found', 'member_id');
      expectError(await post({ member_id: 'mbr_nonsense' }), 'not_found', 'member_id');
      expectError(await post({ member_id: member.id, amount: 0 }), 'invalid_request', 'amount');
      expectError(await post({ member_id: member.id, amount: -5 }), 'invalid_request', 'amount');
      expectError(await post({ member_id: member.id, amount: '100' }), 'invalid_request', 'amount');
      expectError(await post({ member_id: member.id, amount: 1.5 }), 'invalid_request', 'amount');
      await advance(t, 1);
      expect(await balances(t, key, member.id)).toEqual(zeroBalances);
      expect(accountDelta(before, await accounts(t, platform.id))).toEqual(moved({}));
    });

    it('answers 409 duplicate_order_no for an order_no used before by a payin, an order or a transfer, and credits once', async () => {
      const member = await openMember(t, key);
      const payee = await openMember(t, key);
      const no = orderNo('dup');
      await startPayin(t, key, { order_no: no, amount: 1_000, channel: 'sim', member_id: member.id });
      expectError(await t.call('POST', '/v1/payins', key, { order_no: no, amount: 1_000, channel: 'sim', member_id: member.id }), 'duplicate_order_no', 'order_no');
      expectError(await t.call('POST', '/v1/payins', key, { order_no: no, amount: 2_000, channel: 'sim', account: 'marketing' }), 'duplicate_order_no', 'order_no');
      await advance(t, 1);
      expect(await balances(t, key, member.id)).toEqual(buckets({ spendable: 1_000 }));
      // The payin's number cannot be taken by an order or a transfer …
      const order = { mode: 'direct_t0', buyer_id: member.id, payees: [{ member_id: payee.id, amount: 100 }] };
      expectError(await t.call('POST', '/v1/orders', key, { order_no: no, ...order }), 'duplicate_order_no', 'order_no');
      expectError(
        await t.call('POST', '/v1/transfers', key, { order_no: no, purpose: 'pay_to_platform', from: member.id, to: 'fees', amount: 10, sms_code: '000000' }),
        'duplicate_order_no',
        'order_no',
      );
      // … and an order's or a transfer's number cannot be taken by a payin.
      const placed = await placeOrder(t, key, order);
      expectError(await t.call('POST', '/v1/payins', key, { order_no: placed.order_no, amount: 1, channel: 'sim', member_id: member.id }), 'duplicate_order_no', 'order_no');
      const transferNo = orderNo('trf');
      const transfer = await t.call('POST', '/v1/transfers', key, { order_no: transferNo, purpose: 'pay_to_platform', from: member.id, to: 'fees', amount: 10, sms_code: '000000' });
      expect(transfer.statusCode, transfer.body).toBe(201);
      expectError(await t.call('POST', '/v1/payins', key, { order_no: transferNo, amount: 1, channel: 'sim', member_id: member.id }), 'duplicate_order_no', 'order_no');
      await advance(t, 1);
      expect(await balances(t, key, member.id)).toEqual(buckets({ spendable: 1_000 - 100 - 10 }));
      await invariantsOk(t, platform.id);
    });

    it('keeps an audit trail: payin.created then payin.succeeded, sequence increasing, the channel as actor', async () => {
      const member = await openMember(t, key);
      const payin = await startPayin(t, key, { amount: 777, channel: 'sim', member_id: member.id });
      await advance(t, 1);
      const events = await eventsOf(t, key, `/v1/payins/${payin.id as string}/events`);
      expect(events.map((e) => e.type)).toEqual(['payin.created', 'payin.succeeded']);
      for (const event of events) {
        expectShape(event, { id: expect.stringMatching(/^evt_/), object: 'event', object_type: 'payin', object_id: payin.id, created: expect.stringMatching(rfc3339) });
      }
      const [created, succeeded] = events as [Json, Json];
      expect(succeeded.sequence as number).toBeGreaterThan(created.sequence as number);
      expect(created.actor).toMatch(/^key:/);
      expect(succeeded.actor).toMatch(/(^|[^a-z_])sim$/);
    });

    it('never double-credits under duplicate and stale callbacks: the balance is exactly the sum of succeeded payins', async () => {
      const simulator = t.runtime.acquiringSimulator;
      expect(simulator).not.toBeNull();
      const deliveredBefore = simulator?.stats().delivered ?? 0;
      const member = await openMember(t, key);
      const before = await accounts(t, platform.id);
      const payins: Json[] = [];
      for (let i = 0; i < 40; i++) {
        const channel = i % 5 === 4 ? 'sim_fail' : 'sim';
        payins.push(await startPayin(t, key, { amount: 100 + i * 37, channel, member_id: member.id }));
      }
      await advance(t, 1);
      await advance(t, 1);
      const decided = await Promise.all(payins.map((p) => getJson(t, key, `/v1/payins/${p.id as string}`)));
      expect(decided.filter((p) => p.status === 'pending')).toEqual([]);
      const succeeded = decided.filter((p) => p.status === 'succeeded');
      expect(succeeded).toHaveLength(32);
      const total = succeeded.reduce((sum, p) => sum + (p.amount as number), 0);
      // The simulator delivered more callbacks than there were payins: duplicates and stale ones arrived.
      expect((simulator?.stats().delivered ?? 0) - deliveredBefore).toBeGreaterThan(payins.length);
      expect(await balances(t, key, member.id)).toEqual(buckets({ spendable: total }));
      expect(accountDelta(before, await accounts(t, platform.id))).toEqual(moved({ channel_in_transit: total }));
      for (const payin of payins) {
        const types = (await eventsOf(t, key, `/v1/payins/${payin.id as string}/events`)).map((e) => e.type);
        expect(types.filter((type) => type !== 'payin.created')).toHaveLength(1);
      }
      await invariantsOk(t, platform.id);
    });

    it('refuses a forged callback with 401 and changes nothing', async () => {
      const member = await openMember(t, key);
      const payin = await startPayin(t, key, { amount: 2_500, channel: 'sim', member_id: member.id });
      const body = JSON.stringify({
        channel: 'sim',
        payment_id: fromPublicId('payin', payin.id),
        channel_txn_id: payin.channel_txn_id,
        status: 'succeeded',
        amount: '250000',
        decided_at: new Date(t.runtime.clock.nowMs()).toISOString(),
        failure_reason: null,
      });
      const nowSeconds = Math.floor(t.runtime.clock.nowMs() / 1000);
      const send = (signature?: string) =>
        t.call('POST', '/v1/channels/sim/callbacks', null, body, {
          'content-type': 'application/json',
          ...(signature === undefined ? {} : { 'custos-signature': signature }),
        });
      expectError(await send(), 'unauthenticated');
      expectError(await send(`t=${nowSeconds},v1=${'0'.repeat(64)}`), 'unauthenticated');
      expectError(await send(signPayload('not-the-channel-secret', body, nowSeconds)), 'unauthenticated');
      expectError(await send('garbage'), 'unauthenticated');
      expect((await getJson(t, key, `/v1/payins/${payin.id as string}`)).status).toBe('pending');
      expect(await balances(t, key, member.id)).toEqual(zeroBalances);
      // The true answer still arrives, with the true amount.
      await advance(t, 1);
      expect((await getJson(t, key, `/v1/payins/${payin.id as string}`)).status).toBe('succeeded');
      expect(await balances(t, key, member.id)).toEqual(buckets({ spendable: 2_500 }));
      await invariantsOk(t, platform.id);
    });

    it('ignores a genuine callback replayed over HTTP, and refuses it at another channel’s address', async () => {
      const member = await openMember(t, key);
      const captured: ChannelCallback[] = [];
      t.runtime.acquiringSimulator?.setSink(async (callback) => {
        captured.push(callback);
        await t.runtime.payins.handleCallback(callback);
      });
      try {
        const payin = await startPayin(t, key, { amount: 3_100, channel: 'sim', member_id: member.id });
        await advance(t, 1);
        expect((await getJson(t, key, `/v1/payins/${payin.id as string}`)).status).toBe('succeeded');
        const mine = captured.filter((c) => c.body.includes(String(fromPublicId('payin', payin.id))) && c.body.includes('"succeeded"'));
        expect(mine.length).toBeGreaterThan(0);
        const callback = mine[0] as ChannelCallback;
        const replay = (channel: string) =>
          t.call('POST', `/v1/channels/${channel}/callbacks`, null, callback.body, { 'content-type': 'application/json', 'custos-signature': callback.signature });
        for (let i = 0; i < 3; i++) {
          const replayed = await replay('sim');
          expect(replayed.statusCode, replayed.body).toBe(200);
          expect(json(replayed)).toMatchObject({ received: true, result: 'ignored' });
        }
        expectError(await replay('sim_fail'), 'unauthenticated');
        expect(await balances(t, key, member.id)).toEqual(buckets({ spendable: 3_100 }));
      } finally {
        restoreSink();
      }
    });

    it('applies a callback delivered concurrently many times exactly once', async () => {
      const member = await openMember(t, key);
      const captured: ChannelCallback[] = [];
      // The channel's callbacks are caught on the way and not delivered.
      t.runtime.acquiringSimulator?.setSink(async (callback) => {
        captured.push(callback);
      });
      let payin: Json;
      try {
        payin = await startPayin(t, key, { amount: 6_600, channel: 'sim', member_id: member.id });
        await advance(t, 1);
      } finally {
        restoreSink();
      }
      const internal = String(fromPublicId('payin', payin.id));
      const callback = captured.find((c) => c.body.includes(internal) && c.body.includes('"succeeded"'));
      expect(callback).toBeDefined();
      expect((await getJson(t, key, `/v1/payins/${payin.id as string}`)).status).toBe('pending');
      const responses = await Promise.all(
        Array.from({ length: 6 }, () =>
          t.call('POST', '/v1/channels/sim/callbacks', null, callback?.body, { 'content-type': 'application/json', 'custos-signature': callback?.signature ?? '' }),
        ),
      );
      expect(responses.map((r) => r.statusCode)).toEqual([200, 200, 200, 200, 200, 200]);
      // What each answer says is the channel's business; the money moves once.
      for (const r of responses) expect(['applied', 'ignored']).toContain(json(r).result);
      expect((await getJson(t, key, `/v1/payins/${payin.id as string}`)).status).toBe('succeeded');
      expect(await balances(t, key, member.id)).toEqual(buckets({ spendable: 6_600 }));
      const types = (await eventsOf(t, key, `/v1/payins/${payin.id as string}/events`)).map((e) => e.type);
      expect(types).toEqual(['payin.created', 'payin.succeeded']);
      await invariantsOk(t, platform.id);
    });

    it('decides payins whose callbacks are all lost by querying the channel once they are stale', async () => {
      const member = await openMember(t, key);
      const before = await accounts(t, platform.id);
      t.runtime.acquiringSimulator?.setSink(async () => {
        throw new Error('lost on the way');
      });
      let ok: Json;
      let failed: Json;
      try {
        ok = await startPayin(t, key, { amount: 4_200, channel: 'sim', member_id: member.id });
        failed = await startPayin(t, key, { amount: 999, channel: 'sim_fail', member_id: member.id });
        await advance(t, 1);
        // The channel has decided, but no callback got through.
        expect((await getJson(t, key, `/v1/payins/${ok.id as string}`)).status).toBe('pending');
        expect(await balances(t, key, member.id)).toEqual(zeroBalances);
        await advance(t, 60);
        expect((await getJson(t, key, `/v1/payins/${ok.id as string}`)).status).toBe('succeeded');
        expect((await getJson(t, key, `/v1/payins/${failed.id as string}`)).status).toBe('failed');
        expect(await balances(t, key, member.id)).toEqual(buckets({ spendable: 4_200 }));
      } finally {
        restoreSink();
      }
      // The held callbacks now arrive late, and change nothing.
      await advance(t, 1);
      expect(t.runtime.acquiringSimulator?.stats().outbox).toBe(0);
      expect(await balances(t, key, member.id)).toEqual(buckets({ spendable: 4_200 }));
      expect(accountDelta(before, await accounts(t, platform.id))).toEqual(moved({ channel_in_transit: 4_200 }));
      const types = (await eventsOf(t, key, `/v1/payins/${ok.id as string}/events`)).map((e) => e.type);
      expect(types).toEqual(['payin.created', 'payin.succeeded']);
      await invariantsOk(t, platform.id);
    });

    it("lists decided payins in the sandbox channel's statement for the platform and date", async () => {
      const member = await openMember(t, key);
      const ok = await recharge(t, key, member.id, 1_234);
      const failed = await recharge(t, key, member.id, 4_321, 'sim_fail');
      const date = ok.business_date as string;
      const statement = async (channel: string) => {
        const response = await t.call('GET', `/v1/ops/channels/${channel}/statement?platform_id=${platform.id}&date=${date}`, adminToken);
        expect(response.statusCode, response.body).toBe(200);
        return response.body.trim().split('\n');
      };
      const simLines = await statement('sim');
      expect(simLines[0]).toBe('channel_txn_id,order_no,amount,status,occurred_at');
      expect(simLines).toContainEqual(expect.stringMatching(new RegExp(`^${ok.channel_txn_id as string},${ok.order_no as string},1234,succeeded,`)));
      const failLines = await statement('sim_fail');
      expect(failLines).toContainEqual(expect.stringMatching(new RegExp(`^${failed.channel_txn_id as string},${failed.order_no as string},4321,failed,`)));
      // Another platform's statement does not show them.
      const other = await signPlatform(t);
      const elsewhere = await t.call('GET', `/v1/ops/channels/sim/statement?platform_id=${other.id}&date=${date}`, adminToken);
      expect(elsewhere.body).not.toContain(ok.order_no as string);
    });

    it('checks the invariants of every platform, the five named checks each', async () => {
      await invariantsOk(t);
      await invariantsOk(t, platform.id);
    });
  });
}
