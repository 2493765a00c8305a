import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  adjustmentRowOf,
  bankCreditRowOf,
  consentObjectOf,
  eventObject,
  orderRowOf,
  payinRowOf,
  publicObjectId,
  suspenseRowOf,
  transferRowOf,
  webhookPayload,
  withdrawalRowOf,
} from '../../src/http/event-objects.js';
import * as present from '../../src/http/present.js';
import { nextAttemptAtMs, signatureHeader, uuidFloor, uuidTimeMs, webhookDelivery } from '../../src/custody/webhook-dispatcher.js';
import { newId } from '../../src/ids.js';
import { fromPublicId, toPublicId } from '../../src/public-ids.js';
import type { EventRow } from '../../src/storage/sql-trade-store.js';
import { ADAPTERS } from '../support/adapters.js';
import { adminToken, json, openMember, operatorToken, signPlatform } from '../support/http-fixtures.js';
import type { SignedPlatform } from '../support/http-fixtures.js';
import { accountRows, confirm, fundAccount, placeOrder, recharge, refund } from '../support/money-fixtures.js';
import type { TestApp } from '../support/test-app.js';
import { Funder, openMoneyOutApp, seller, settle, withdraw } from '../support/withdrawal-fixtures.js';
import { verifiedBy } from './webhook-support.js';

function internal(kind: Parameters<typeof fromPublicId>[0], publicId: unknown): string {
  const id = fromPublicId(kind, publicId);
  if (id === null) throw new Error(`not a ${kind} id: ${String(publicId)}`);
  return id;
}

for (const adapter of ADAPTERS) {
  describe(`webhooks: event data back to the API object, per object type (${adapter})`, () => {
    let t: TestApp;
    let platform: SignedPlatform;
    let platformId: string;
    const ids: Record<string, string> = {};

    /** The events of one object, oldest first; the last one is at the object's current version. */
    async function eventsOf(objectId: string): Promise<EventRow[]> {
      const events = await t.runtime.trades.events(platformId, objectId);
      expect(events.length, objectId).toBeGreaterThan(0);
      return events;
    }

    async function lastEvent(objectId: string): Promise<EventRow> {
      return (await eventsOf(objectId)).at(-1) as EventRow;
    }

    beforeAll(async () => {
      t = await openMoneyOutApp(adapter);
      platform = await signPlatform(t);
      platformId = internal('platform', platform.id);
      const key = platform.apiKey;
      // Withdrawal (and a bank credit, a direct order) through the money-out cast.
      const funder = await Funder.open(t, platform);
      const payee = await seller(t, funder, 5_000);
      const withdrawal = await withdraw(t, key, payee, 1_000);
      expect((await settle(t, key, withdrawal.id as string, ['succeeded'])).status).toBe('succeeded');
      ids.withdrawal = internal('withdrawal', withdrawal.id);
      // A recharge (payin) and guaranteed orders: paid, confirmed, refunded.
      const buyer = await openMember(t, key);
      ids.payin = internal('payin', (await recharge(t, key, buyer.id, 10_000)).id);
      const confirmed = await placeOrder(t, key, { buyer_id: buyer.id, mode: 'guaranteed', payees: [{ member_id: payee.member.id, amount: 2_000, fee: 100 }] });
      await confirm(t, key, confirmed.id as string);
      ids.order = internal('order', confirmed.id);
      const refunded = await placeOrder(t, key, { buyer_id: buyer.id, mode: 'guaranteed', payees: [{ member_id: payee.member.id, amount: 1_000 }] });
      await refund(t, key, refunded.id as string, 400);
      ids.refundedOrder = internal('order', refunded.id);
      // A subsidy transfer from marketing.
      await fundAccount(t, key, 'marketing', 3_000);
      const transfer = await t.call('POST', '/v1/transfers', key, { order_no: `sub-${Date.now()}`, purpose: 'subsidy', from: 'marketing', to: buyer.id, amount: 500 });
      expect(transfer.statusCode, transfer.body).toBe(201);
      ids.transfer = internal('transfer', json(transfer).id);
      // An unmatched bank credit: suspense, then allocated.
      const credit = await t.call('POST', '/v1/ops/bank-credits', adminToken, { platform_id: platform.id, amount: 800, payer_account: '6222000000000009', payer_name: '王五', memo: 'no idea' });
      expect(credit.statusCode, credit.body).toBe(201);
      ids.bankCredit = internal('bankCredit', json(credit).id);
      ids.suspense = internal('suspense', json(credit).suspense_id);
      const allocated = await t.call('POST', `/v1/suspense/${json(credit).suspense_id as string}/allocate`, key, { member_id: buyer.id, amount: 300 });
      expect(allocated.statusCode, allocated.body).toBe(200);
      // An adjustment, proposed and approved.
      const maker = await operatorToken(t, 'operator');
      const checker = await operatorToken(t, 'approver');
      const accounts = await accountRows(t, platform.id);
      const account = (code: string) => accounts.find((a) => a.code === code)?.id;
      const proposed = await t.call('POST', '/v1/ops/adjustments', maker.token, {
        platform_id: platform.id,
        debit_account_id: account('custody_summary'),
        credit_account_id: account('interest'),
        amount: 123,
        reason: 'interest booked by hand',
      });
      expect(proposed.statusCode, proposed.body).toBe(201);
      expect((await t.call('POST', `/v1/ops/adjustments/${json(proposed).id as string}/approve`, checker.token, {})).statusCode).toBe(200);
      ids.adjustment = internal('adjustment', json(proposed).id);
      // A consent request.
      const consent = await t.call('POST', `/v1/members/${buyer.id}/consents`, key, { purpose: 'pay_to_platform', amount: 250 });
      expect(consent.statusCode, consent.body).toBe(201);
      // The consent route answers `cns_<uuid>` (not the usual encoding): the uuid is the id.
      ids.consent = String(json(consent).id).replace(/^cns_/, '');
      ids.buyer = internal('member', buyer.id);
    });

    afterAll(async () => {
      await t?.dispose();
    });

    it('payinRowOf gives back the stored row, and the payin as GET shows it', async () => {
      const row = await t.runtime.trades.payin(platformId, ids.payin ?? '');
      const event = await lastEvent(ids.payin ?? '');
      expect(event.type).toBe('payin.succeeded');
      expect(event.sequence).toBe(row?.version);
      expect(payinRowOf(event)).toEqual(row);
      expect(eventObject(event)).toEqual(present.payin(row ?? payinRowOf(event)));
    });

    it('orderRowOf gives back the stored row (where the money came from aside) for paid, confirmed and refunded', async () => {
      for (const id of [ids.order ?? '', ids.refundedOrder ?? '']) {
        const row = await t.runtime.trades.order(platformId, id);
        const events = await eventsOf(id);
        expect(events.map((e) => e.type)).toEqual(id === ids.order ? ['order.paid', 'order.confirmed'] : ['order.paid', 'order.refunded']);
        const last = events.at(-1) as EventRow;
        expect(last.sequence).toBe(row?.version);
        expect(orderRowOf(last)).toEqual({ ...row, funded_from: {} });
        expect(eventObject(last)).toEqual(present.order(row ?? orderRowOf(last)));
        expect(eventObject(events[0] as EventRow)).toMatchObject({ status: 'escrowed', released_amount: 0, refunded_amount: 0 });
      }
    });

    it('transferRowOf, bankCreditRowOf and suspenseRowOf give back the stored rows (payer details never travel)', async () => {
      const transfer = await t.runtime.trades.transfer(platformId, ids.transfer ?? '');
      const transferEvent = await lastEvent(ids.transfer ?? '');
      expect(transferRowOf(transferEvent)).toEqual(transfer);
      expect(eventObject(transferEvent)).toEqual(present.transfer(transfer ?? transferRowOf(transferEvent)));

      const credit = await t.runtime.trades.bankCredit(platformId, ids.bankCredit ?? '');
      const creditEvent = await lastEvent(ids.bankCredit ?? '');
      expect(creditEvent.type).toBe('bank_credit.suspense');
      expect(JSON.stringify(creditEvent.data)).not.toMatch(/payer_/);
      expect(bankCreditRowOf(creditEvent)).toEqual({ ...credit, payer_account_enc: '', payer_account_hash: '', payer_name_enc: '' });
      expect(eventObject(creditEvent)).toEqual(present.bankCredit(credit ?? bankCreditRowOf(creditEvent)));

      const item = await t.runtime.trades.suspenseItem(platformId, ids.suspense ?? '');
      const itemEvents = await eventsOf(ids.suspense ?? '');
      expect(itemEvents.map((e) => e.type)).toEqual(['suspense.opened', 'suspense.allocated']);
      expect(suspenseRowOf(itemEvents.at(-1) as EventRow)).toEqual(item);
      expect(eventObject(itemEvents.at(-1) as EventRow)).toEqual(present.suspenseItem(item ?? suspenseRowOf(itemEvents.at(-1) as EventRow)));
    });

    it('withdrawalRowOf and adjustmentRowOf give back the stored rows', async () => {
      const withdrawal = await t.runtime.withdrawalStore.withdrawal(platformId, ids.withdrawal ?? '');
      const withdrawalEvents = await eventsOf(ids.withdrawal ?? '');
      expect(withdrawalEvents.map((e) => e.type)).toEqual(['withdrawal.created', 'withdrawal.succeeded']);
      const last = withdrawalEvents.at(-1) as EventRow;
      // The payout step moves on after the last event (watching for returns) without one.
      const atEvent = withdrawalRowOf(last);
      expect(atEvent).toMatchObject({ status: 'succeeded', id: withdrawal?.id, amount: withdrawal?.amount, decided_at: withdrawal?.decided_at });
      expect(eventObject(last)).toEqual(present.withdrawal(atEvent));
      expect(present.withdrawal(atEvent)).toEqual(present.withdrawal(withdrawal ?? atEvent));

      const adjustment = await t.runtime.withdrawalStore.adjustment(platformId, ids.adjustment ?? '');
      const adjustmentEvents = await eventsOf(ids.adjustment ?? '');
      expect(adjustmentEvents.map((e) => e.type)).toEqual(['adjustment.proposed', 'adjustment.applied']);
      expect(adjustmentRowOf(adjustmentEvents.at(-1) as EventRow)).toEqual(adjustment);
      expect(eventObject(adjustmentEvents.at(-1) as EventRow)).toEqual(present.adjustment(adjustment ?? adjustmentRowOf(adjustmentEvents.at(-1) as EventRow)));
    });

    it('a consent request shows its member and amount only', async () => {
      const event = await lastEvent(ids.consent ?? '');
      expect(consentObjectOf(event)).toEqual({ id: publicObjectId(event), object: 'consent', member_id: toPublicId('member', ids.buyer ?? ''), amount: 250 });
    });

    it('every event of the platform renders, names its own object, and refuses to be read as another type', async () => {
      const events = await t.runtime.trades.platformEvents(platformId, 1000);
      expect(new Set(events.map((e) => e.object_type))).toEqual(new Set(['card', 'bank_credit', 'order', 'withdrawal', 'payin', 'transfer', 'suspense', 'adjustment', 'consent']));
      for (const event of events) {
        const payload = webhookPayload(event);
        expect(payload.data.object.id, event.type).toBe(publicObjectId(event));
        expect(payload.sequence).toBe(event.sequence);
        expect(JSON.parse(JSON.stringify(payload))).toEqual(payload);
      }
      const payin = events.find((e) => e.object_type === 'payin') as EventRow;
      expect(() => orderRowOf(payin)).toThrow(/not a order/);
      expect(() => payinRowOf({ ...payin, data: { ...(payin.data as object), amount: 'lots' } })).toThrow(/amount/);
      // A future object type shows its id and type, never its stored row.
      expect(eventObject({ ...payin, object_type: 'gizmo' })).toEqual({ id: payin.object_id, object: 'gizmo' });
    });
  });
}

describe('webhooks: retry schedule, signature header, id arithmetic', () => {
  const minute = 60_000;
  const hour = 60 * minute;

  it('waits about 1 min, 5 min, 30 min, 2 h, 6 h, then 12 h, within ± 10 %', () => {
    const expected = [1 * minute, 5 * minute, 30 * minute, 2 * hour, 6 * hour, 12 * hour, 12 * hour];
    expected.forEach((delay, i) => {
      expect(nextAttemptAtMs(0, i + 1, 1000, () => 0.5)).toBe(1000 + delay);
      expect(nextAttemptAtMs(0, i + 1, 1000, () => 0)).toBe(1000 + Math.round(delay * 0.9));
      expect(nextAttemptAtMs(0, i + 1, 1000, () => 0.999_999)).toBeLessThanOrEqual(1000 + delay * 1.1);
    });
  });

  it('never past 3 days after the first attempt: the last one falls on the limit, then it has failed', () => {
    const window = webhookDelivery.retryWindowSeconds * 1000;
    expect(nextAttemptAtMs(0, 9, window - hour, () => 0.5)).toBe(window);
    expect(nextAttemptAtMs(0, 10, window, () => 0.5)).toBeNull();
    expect(nextAttemptAtMs(5_000, 10, window + 4_000, () => 0.5)).toBe(window + 5_000);
  });

  it('signs with one v1 per secret over the same t and body, verifiable by hand', () => {
    const body = '{"id":"evt_1","type":"payin.succeeded"}';
    const header = signatureHeader(['whsec_new', 'whsec_old'], body, 1_700_000_000);
    expect(header).toMatch(/^t=1700000000,v1=[0-9a-f]{64},v1=[0-9a-f]{64}$/);
    expect(verifiedBy(header, body, ['whsec_new', 'whsec_old', 'whsec_other'])).toEqual([0, 1]);
    expect(() => signatureHeader([], body, 1)).toThrow();
  });

  it('the smallest UUID of a millisecond sorts before every id of it, after every earlier one', () => {
    const ms = Date.UTC(2025, 0, 1);
    for (let i = 0; i < 50; i++) {
      expect(newId(ms) > uuidFloor(ms)).toBe(true);
      expect(newId(ms - 1) < uuidFloor(ms)).toBe(true);
    }
    expect(uuidTimeMs(newId(ms))).toBe(ms);
  });
});
