import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADAPTERS } from '../support/adapters.js';
import { expectError, json, listOf, openMember, signPlatform } from '../support/http-fixtures.js';
import type { Json, SignedPlatform } from '../support/http-fixtures.js';
import { confirm, eventsOf, placeOrder, recharge, refund } from '../support/money-fixtures.js';
import { openTestApp } from '../support/test-app.js';
import type { TestApp } from '../support/test-app.js';

/**
 * The outbox as a platform replays it: `GET /v1/events?starting_after=` pages through every
 * event oldest first, each object's sequence rising; and an event exists exactly for each
 * change that committed: refusals, whole or raced, leave none.
 */
for (const adapter of ADAPTERS) {
  describe(`event replay and the outbox (${adapter})`, () => {
    let t: TestApp;
    let platform: SignedPlatform;

    beforeAll(async () => {
      t = await openTestApp(adapter);
      platform = await signPlatform(t);
    });
    afterAll(async () => {
      await t?.dispose();
    });

    async function replay(pageSize: number): Promise<Json[]> {
      const out: Json[] = [];
      let after: string | undefined;
      for (let pages = 0; pages < 1000; pages++) {
        const response = await t.call('GET', `/v1/events?limit=${pageSize}${after === undefined ? '' : `&starting_after=${after}`}`, platform.apiKey);
        expect(response.statusCode, response.body).toBe(200);
        const page = listOf(response);
        out.push(...page.data);
        if (!page.has_more) return out;
        after = page.data.at(-1)?.id as string;
      }
      throw new Error('replay did not end');
    }

    it('replays every event oldest first in pages, with a rising sequence per object', async () => {
      const key = platform.apiKey;
      const buyer = await openMember(t, key);
      const seller = await openMember(t, key);
      await recharge(t, key, buyer.id, 5_000);
      const order = await placeOrder(t, key, { buyer_id: buyer.id, mode: 'guaranteed', payees: [{ member_id: seller.id, amount: 3_000, fee: 30 }] });
      await confirm(t, key, order.id as string, [{ member_id: seller.id, amount: 1_000 }]);
      await refund(t, key, order.id as string, 500);
      await confirm(t, key, order.id as string);

      const whole = await replay(100);
      expect(await replay(2)).toEqual(whole);
      expect(new Set(whole.map((e) => e.id)).size).toBe(whole.length);
      const created = whole.map((e) => Date.parse(e.created as string));
      expect([...created].sort((a, b) => a - b)).toEqual(created);
      const lastSequence = new Map<string, number>();
      for (const event of whole) {
        const before = lastSequence.get(event.object_id as string) ?? 0;
        expect(event.sequence as number, `${event.type as string} of ${event.object_id as string}`).toBeGreaterThan(before);
        lastSequence.set(event.object_id as string, event.sequence as number);
      }
      const ofOrder = whole.filter((e) => e.object_id === order.id).map((e) => e.type);
      expect(ofOrder).toEqual(await eventsOf(t, key, `/v1/orders/${order.id as string}/events`).then((events) => events.map((e) => e.type)));
      expect(ofOrder.length).toBe(4); // created (paid), confirmed in part, refunded in part, confirmed
      // The events of one object come back alone, in the same order.
      const one = json(await t.call('GET', `/v1/events/${whole[0]?.id as string}`, key));
      expect(one.id).toBe(whole[0]?.id);
    });

    it('writes no event for a refused change, and exactly one per change that won a race', async () => {
      const key = platform.apiKey;
      const buyer = await openMember(t, key);
      const seller = await openMember(t, key);
      await recharge(t, key, buyer.id, 1_000);
      const order = await placeOrder(t, key, { buyer_id: buyer.id, mode: 'guaranteed', payees: [{ member_id: seller.id, amount: 900 }] });
      const before = (await replay(100)).length;

      expectError(await t.call('POST', `/v1/orders/${order.id as string}/refunds`, key, { amount: 901 }), 'refund_exceeds_paid', 'amount');
      expectError(
        await t.call('POST', '/v1/orders', key, { order_no: `big-${Date.now()}`, buyer_id: buyer.id, mode: 'direct_t0', payees: [{ member_id: seller.id, amount: 5_000 }] }),
        'insufficient_funds',
      );
      expectError(await t.call('POST', '/v1/orders', key, { order_no: order.order_no, buyer_id: buyer.id, mode: 'direct_t0', payees: [{ member_id: seller.id, amount: 1 }] }), 'duplicate_order_no', 'order_no');
      expect((await replay(100)).length).toBe(before);

      const race = await Promise.all(Array.from({ length: 5 }, () => t.call('POST', `/v1/orders/${order.id as string}/refunds`, key, { amount: 300 })));
      const won = race.filter((r) => r.statusCode === 201).length;
      expect(won).toBe(3);
      for (const r of race.filter((x) => x.statusCode !== 201)) expect([409, 422]).toContain(r.statusCode);
      const after = await replay(100);
      expect(after.length).toBe(before + won);
      expect(after.slice(before).every((e) => e.object_id === order.id && e.type === 'order.refunded')).toBe(true);
    });
  });
}
