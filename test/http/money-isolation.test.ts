import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADAPTERS } from '../support/adapters.js';
import { adminToken, expectError, expectNotFound, json, listOf, openMember, signPlatform, unknownId } from '../support/http-fixtures.js';
import type { Json, OpenedMember, SignedPlatform } from '../support/http-fixtures.js';
import {
  accounts,
  balances,
  confirm,
  fundAccount,
  getJson,
  invariantsOk,
  orderNo,
  placeOrder,
  recharge,
  startPayin,
} from '../support/money-fixtures.js';
import type { AccountBalances, Balances } from '../support/money-fixtures.js';
import { openTestApp } from '../support/test-app.js';
import type { TestApp } from '../support/test-app.js';

/** The error body without its request id: what a caller can compare between two answers. */
function errorShape(response: LightMyRequestResponse): Json {
  const { request_id: _id, message: _message, ...rest } = json(response).error as Json;
  return { status: response.statusCode, ...rest };
}

interface Probe {
  readonly name: string;
  readonly method: 'GET' | 'POST';
  /** The URL naming platform A's object, and the same URL with an id of that kind that names nothing. */
  readonly url: string;
  readonly unknownUrl: string;
  readonly body?: Json;
}

for (const adapter of ADAPTERS) {
  describe(`money isolation between platforms (${adapter})`, () => {
    let t: TestApp;
    let a: SignedPlatform;
    let b: SignedPlatform;
    let a1: OpenedMember;
    let a2: OpenedMember;
    let b1: OpenedMember;
    let b2: OpenedMember;
    const ids = {} as Record<'payin' | 'escrowed' | 'completed' | 'transfer' | 'suspense' | 'refund', string>;
    let payinOrderNo: string;
    let snapshot: { balances: Balances[]; accounts: AccountBalances; orders: Json[]; suspense: Json };

    async function takeSnapshot() {
      return {
        balances: [await balances(t, a.apiKey, a1.id), await balances(t, a.apiKey, a2.id)],
        accounts: await accounts(t, a.id),
        orders: [await getJson(t, a.apiKey, `/v1/orders/${ids.escrowed}`), await getJson(t, a.apiKey, `/v1/orders/${ids.completed}`)],
        suspense: await getJson(t, a.apiKey, `/v1/suspense/${ids.suspense}`),
      };
    }

    beforeAll(async () => {
      t = await openTestApp(adapter);
      a = await signPlatform(t);
      b = await signPlatform(t);
      a1 = await openMember(t, a.apiKey);
      a2 = await openMember(t, a.apiKey);
      b1 = await openMember(t, b.apiKey);
      b2 = await openMember(t, b.apiKey);
      const payin = await recharge(t, a.apiKey, a1.id, 10_000);
      ids.payin = payin.id as string;
      payinOrderNo = payin.order_no as string;
      await recharge(t, b.apiKey, b1.id, 10_000);
      await fundAccount(t, a.apiKey, 'marketing', 1_000);
      await fundAccount(t, b.apiKey, 'marketing', 1_000);
      ids.escrowed = (await placeOrder(t, a.apiKey, { buyer_id: a1.id, mode: 'guaranteed', payees: [{ member_id: a2.id, amount: 2_000, fee: 20 }] })).id as string;
      const completed = await placeOrder(t, a.apiKey, { buyer_id: a1.id, mode: 'guaranteed', payees: [{ member_id: a2.id, amount: 1_000 }] });
      ids.completed = completed.id as string;
      await confirm(t, a.apiKey, ids.completed);
      const refunded = await t.call('POST', `/v1/orders/${ids.completed}/refunds`, a.apiKey, { amount: 100 });
      expect(refunded.statusCode, refunded.body).toBe(201);
      ids.refund = json(refunded).id as string;
      const transfer = await t.call('POST', '/v1/transfers', a.apiKey, { order_no: orderNo('sub'), purpose: 'subsidy', from: 'marketing', to: a1.id, amount: 300 });
      expect(transfer.statusCode, transfer.body).toBe(201);
      ids.transfer = json(transfer).id as string;
      const credit = await t.call('POST', '/v1/ops/bank-credits', adminToken, { platform_id: a.id, amount: 5_000, payer_account: '6222000000000001', payer_name: '王五', memo: 'unmatched' });
      expect(credit.statusCode, credit.body).toBe(201);
      ids.suspense = json(credit).suspense_id as string;
      snapshot = await takeSnapshot();
    });

    afterAll(async () => {
      await t?.dispose();
    });

    it("answers 404 to platform B for every read and action on platform A's payins, orders, transfers and suspense items, exactly as for ids that name nothing", async () => {
      const probes: Probe[] = [
        { name: 'get payin', method: 'GET', url: `/v1/payins/${ids.payin}`, unknownUrl: `/v1/payins/${unknownId('pay')}` },
        { name: 'payin events', method: 'GET', url: `/v1/payins/${ids.payin}/events`, unknownUrl: `/v1/payins/${unknownId('pay')}/events` },
        { name: 'get order', method: 'GET', url: `/v1/orders/${ids.escrowed}`, unknownUrl: `/v1/orders/${unknownId('ord')}` },
        { name: 'order events', method: 'GET', url: `/v1/orders/${ids.escrowed}/events`, unknownUrl: `/v1/orders/${unknownId('ord')}/events` },
        { name: 'order refunds', method: 'GET', url: `/v1/orders/${ids.completed}/refunds`, unknownUrl: `/v1/orders/${unknownId('ord')}/refunds` },
        { name: 'confirm all', method: 'POST', url: `/v1/orders/${ids.escrowed}/confirm`, unknownUrl: `/v1/orders/${unknownId('ord')}/confirm`, body: {} },
        {
          name: 'confirm part',
          method: 'POST',
          url: `/v1/orders/${ids.escrowed}/confirm`,
          unknownUrl: `/v1/orders/${unknownId('ord')}/confirm`,
          body: { payees: [{ member_id: a2.id, amount: 100 }] },
        },
        { name: 'refund escrowed', method: 'POST', url: `/v1/orders/${ids.escrowed}/refunds`, unknownUrl: `/v1/orders/${unknownId('ord')}/refunds`, body: { amount: 100 } },
        { name: 'refund completed', method: 'POST', url: `/v1/orders/${ids.completed}/refunds`, unknownUrl: `/v1/orders/${unknownId('ord')}/refunds`, body: { amount: 100 } },
        { name: 'get transfer', method: 'GET', url: `/v1/transfers/${ids.transfer}`, unknownUrl: `/v1/transfers/${unknownId('trf')}` },
        { name: 'transfer events', method: 'GET', url: `/v1/transfers/${ids.transfer}/events`, unknownUrl: `/v1/transfers/${unknownId('trf')}/events` },
        { name: 'get suspense', method: 'GET', url: `/v1/suspense/${ids.suspense}`, unknownUrl: `/v1/suspense/${unknownId('sus')}` },
        { name: 'suspense events', method: 'GET', url: `/v1/suspense/${ids.suspense}/events`, unknownUrl: `/v1/suspense/${unknownId('sus')}/events` },
        {
          name: 'allocate suspense',
          method: 'POST',
          url: `/v1/suspense/${ids.suspense}/allocate`,
          unknownUrl: `/v1/suspense/${unknownId('sus')}/allocate`,
          body: { member_id: b1.id, amount: 100 },
        },
        { name: 'reverse suspense', method: 'POST', url: `/v1/suspense/${ids.suspense}/reverse`, unknownUrl: `/v1/suspense/${unknownId('sus')}/reverse`, body: { amount: 100 } },
      ];
      for (const probe of probes) {
        const theirs = await t.call(probe.method, probe.url, b.apiKey, probe.body);
        const nothing = await t.call(probe.method, probe.unknownUrl, b.apiKey, probe.body);
        expectNotFound(theirs);
        expect({ probe: probe.name, ...errorShape(theirs) }).toEqual({ probe: probe.name, ...errorShape(nothing) });
        // Nothing of A's leaks into the answer.
        expect(theirs.body).not.toContain(a1.id);
        expect(theirs.body).not.toContain(a2.id);
      }
      // A itself still sees them all, unchanged.
      expect(await takeSnapshot()).toEqual(snapshot);
      expect((await getJson(t, a.apiKey, `/v1/payins/${ids.payin}`)).status).toBe('succeeded');
    });

    it("lists none of platform A's orders, suspense items or events to platform B", async () => {
      const orders = listOf(await t.call('GET', '/v1/orders?limit=100', b.apiKey)).data.map((o) => o.id);
      expect(orders).not.toContain(ids.escrowed);
      expect(orders).not.toContain(ids.completed);
      const suspense = listOf(await t.call('GET', '/v1/suspense?limit=100', b.apiKey)).data.map((s) => s.id);
      expect(suspense).not.toContain(ids.suspense);
      const events = await t.call('GET', '/v1/events?limit=100', b.apiKey);
      expect(events.statusCode).toBe(200);
      for (const id of Object.values(ids)) expect(events.body).not.toContain(id);
    });

    it("refuses platform B the use of A's members as recharge target, buyer, payee, refund payee, transfer end or suspense recipient (404)", async () => {
      const bOrder = await placeOrder(t, b.apiKey, { buyer_id: b1.id, mode: 'guaranteed', payees: [{ member_id: b2.id, amount: 500 }] });
      const credit = await t.call('POST', '/v1/ops/bank-credits', adminToken, { platform_id: b.id, amount: 700, payer_account: '6222000000000002', payer_name: '赵六', memo: 'unmatched' });
      const bSuspense = json(credit).suspense_id as string;
      const bBefore = { b1: await balances(t, b.apiKey, b1.id), b2: await balances(t, b.apiKey, b2.id), accounts: await accounts(t, b.id) };
      const post = (url: string, body: Json) => t.call('POST', url, b.apiKey, body);

      expectError(await post('/v1/payins', { order_no: orderNo('x'), amount: 100, channel: 'sim', member_id: a1.id }), 'not_found', 'member_id');
      expectError(await post('/v1/orders', { order_no: orderNo('x'), buyer_id: a1.id, mode: 'direct_t0', payees: [{ member_id: b2.id, amount: 100 }] }), 'not_found', 'buyer_id');
      expectError(await post('/v1/orders', { order_no: orderNo('x'), buyer_id: b1.id, mode: 'direct_t0', payees: [{ member_id: a2.id, amount: 100 }] }), 'not_found', 'payees[0].member_id');
      expectError(
        await post('/v1/orders', { order_no: orderNo('x'), buyer_id: b1.id, mode: 'guaranteed', payees: [{ member_id: b2.id, amount: 100 }, { member_id: a2.id, amount: 100 }] }),
        'not_found',
        'payees[1].member_id',
      );
      expectError(await post('/v1/orders', { order_no: orderNo('x'), mode: 'guaranteed', funding: { channel: 'sim' }, payees: [{ member_id: a2.id, amount: 100 }] }), 'not_found', 'payees[0].member_id');
      expect([400, 404]).toContain((await post(`/v1/orders/${bOrder.id as string}/refunds`, { amount: 100, member_id: a2.id })).statusCode);
      expect([400, 404]).toContain((await post(`/v1/orders/${bOrder.id as string}/confirm`, { payees: [{ member_id: a2.id, amount: 100 }] })).statusCode);
      expectError(await post('/v1/transfers', { order_no: orderNo('x'), purpose: 'subsidy', from: 'marketing', to: a1.id, amount: 100 }), 'not_found', 'to');
      expectError(await post('/v1/transfers', { order_no: orderNo('x'), purpose: 'pay_to_platform', from: a1.id, to: 'fees', amount: 100, sms_code: '000000' }), 'not_found', 'from');
      expectError(await post('/v1/transfers', { order_no: orderNo('x'), purpose: 'same_name', from: a1.id, to: b1.id, amount: 100 }), 'not_found', 'from');
      expectError(await post('/v1/transfers', { order_no: orderNo('x'), purpose: 'same_name', from: b1.id, to: a1.id, amount: 100 }), 'not_found', 'to');
      expectError(await post(`/v1/suspense/${bSuspense}/allocate`, { member_id: a1.id, amount: 100 }), 'not_found', 'member_id');
      expectNotFound(await post(`/v1/members/${a1.id}/consents`, { purpose: 'pay_to_platform', amount: 100 }));

      expect(await takeSnapshot()).toEqual(snapshot);
      expect({ b1: await balances(t, b.apiKey, b1.id), b2: await balances(t, b.apiKey, b2.id), accounts: await accounts(t, b.id) }).toEqual(bBefore);
      expect((await getJson(t, b.apiKey, `/v1/suspense/${bSuspense}`)).remaining).toBe(700);
      await invariantsOk(t, a.id);
      await invariantsOk(t, b.id);
    });

    it("never credits A's member from a bank credit recorded for B, even when the memo names A's sub-account number", async () => {
      const response = await t.call('POST', '/v1/ops/bank-credits', adminToken, {
        platform_id: b.id,
        amount: 600,
        payer_account: '6222000000000003',
        payer_name: '钱七',
        memo: `for ${a1.body.sub_account_no as string}`,
      });
      expect(response.statusCode, response.body).toBe(201);
      expect(json(response)).toMatchObject({ status: 'suspense', member_id: null });
      expect(await takeSnapshot()).toEqual(snapshot);
      await invariantsOk(t);
    });

    it('keeps business numbers per platform: B may use an order_no that A used', async () => {
      const payin = await startPayin(t, b.apiKey, { order_no: payinOrderNo, amount: 100, channel: 'sim', member_id: b1.id });
      expect(payin.order_no).toBe(payinOrderNo);
      expectError(await t.call('POST', '/v1/payins', a.apiKey, { order_no: payinOrderNo, amount: 100, channel: 'sim', member_id: a1.id }), 'duplicate_order_no', 'order_no');
    });
  });
}
