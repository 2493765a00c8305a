import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADAPTERS } from '../support/adapters.js';
import { listOf, openMember, signPlatform } from '../support/http-fixtures.js';
import type { OpenedMember, SignedPlatform } from '../support/http-fixtures.js';
import {
  accountDelta,
  accounts,
  advance,
  balances,
  buckets,
  confirm,
  getOrder,
  invariantsOk,
  moved,
  placeOrder,
  recharge,
  refund,
} from '../support/money-fixtures.js';
import { openTestApp } from '../support/test-app.js';
import type { TestApp } from '../support/test-app.js';

for (const adapter of ADAPTERS) {
  describe(`escrow modes buyer and seller (${adapter})`, () => {
    let t: TestApp;
    const platforms = {} as Record<'buyer' | 'seller', SignedPlatform>;

    beforeAll(async () => {
      t = await openTestApp(adapter);
      platforms.buyer = await signPlatform(t, { escrow_mode: 'buyer' });
      platforms.seller = await signPlatform(t, { escrow_mode: 'seller' });
    });

    afterAll(async () => {
      await t?.dispose();
    });

    it('signs platforms with escrow_mode buyer and seller', async () => {
      expect(platforms.buyer.body.escrow_mode).toBe('buyer');
      expect(platforms.seller.body.escrow_mode).toBe('seller');
    });

    for (const mode of ['buyer', 'seller'] as const) {
      /** Whose frozen bucket holds the escrow in this mode. */
      const holderOf = (buyer: OpenedMember, seller: OpenedMember) => (mode === 'buyer' ? buyer : seller);

      it(`${mode} mode: a guaranteed order freezes the money with the ${mode}; partial confirm, refunds from escrow and after release; guarantee stays 0`, async () => {
        const platform = platforms[mode];
        const key = platform.apiKey;
        const buyer = await openMember(t, key);
        const seller = await openMember(t, key);
        await recharge(t, key, buyer.id, 2_000);
        const before = await accounts(t, platform.id);

        const order = await placeOrder(t, key, { buyer_id: buyer.id, mode: 'guaranteed', payees: [{ member_id: seller.id, amount: 1_500, fee: 15 }] });
        const id = order.id as string;
        expect(order).toMatchObject({ status: 'escrowed', escrowed_amount: 1_500 });
        const holder = holderOf(buyer, seller);
        const other = holder === buyer ? seller : buyer;
        const frozenOf = async (m: OpenedMember) => (await balances(t, key, m.id)).frozen;
        expect((await balances(t, key, buyer.id)).available).toBe(500);
        expect(await frozenOf(holder)).toBe(1_500);
        expect(await frozenOf(other)).toBe(0);
        expect(accountDelta(before, await accounts(t, platform.id))).toEqual(moved({}));
        await invariantsOk(t, platform.id);

        // Release 500: fee floor(15 × 500 / 1500) = 5.
        await confirm(t, key, id, [{ member_id: seller.id, amount: 500 }]);
        expect(await frozenOf(holder)).toBe(1_000);
        expect((await balances(t, key, seller.id)).pending).toBe(495);
        // Refund 400 from escrow back to the buyer's spendable.
        const fromEscrow = await refund(t, key, id, 400);
        expect(fromEscrow).toMatchObject({ from_escrow: 400, from_payee: 0, from_fees: 0 });
        expect(await frozenOf(holder)).toBe(600);
        expect((await balances(t, key, buyer.id)).spendable).toBe(900);
        // Confirm the rest: it takes the rest of the fee, 10.
        const completed = await confirm(t, key, id);
        expect(completed).toMatchObject({ status: 'completed', escrowed_amount: 0, released_amount: 1_100, refunded_amount: 400 });
        expect(await frozenOf(holder)).toBe(0);
        expect(await balances(t, key, seller.id)).toEqual(buckets({ pending: 495 + 590 }));
        // Refund 300 after release: floor(15 × 300 / 1500) = 3 from fees, 297 from the seller.
        const afterRelease = await refund(t, key, id, 300);
        expect(afterRelease).toMatchObject({ from_escrow: 0, from_payee: 297, from_fees: 3 });
        expect(await balances(t, key, seller.id)).toEqual(buckets({ pending: 1_085 - 297 }));
        expect(await balances(t, key, buyer.id)).toEqual(buckets({ spendable: 1_200 }));
        expect(await getOrder(t, key, id)).toMatchObject({ status: 'completed', released_amount: 1_100, refunded_amount: 700 });
        expect(accountDelta(before, await accounts(t, platform.id))).toEqual(moved({ fees: 12 }));
        await invariantsOk(t, platform.id);
        await invariantsOk(t);
      });

      it(`${mode} mode: everything refunded from escrow leaves nothing frozen, and the statement shows the frozen moves`, async () => {
        const platform = platforms[mode];
        const key = platform.apiKey;
        const buyer = await openMember(t, key);
        const seller = await openMember(t, key);
        await recharge(t, key, buyer.id, 800);
        const order = await placeOrder(t, key, { buyer_id: buyer.id, mode: 'guaranteed', payees: [{ member_id: seller.id, amount: 800, fee: 80 }] });
        const holder = holderOf(buyer, seller);
        expect((await balances(t, key, holder.id)).frozen).toBe(800);
        const lines = listOf(await t.call('GET', `/v1/members/${holder.id}/entries?limit=100`, key)).data;
        expect(lines.filter((l) => l.bucket === 'frozen').map((l) => [l.amount, l.balance_after])).toEqual([[800, 800]]);
        await refund(t, key, order.id as string, 800);
        expect(await balances(t, key, buyer.id)).toEqual(buckets({ spendable: 800 }));
        expect(await balances(t, key, seller.id)).toEqual(buckets({}));
        expect((await getOrder(t, key, order.id as string)).status).toBe('refunded');
        const after = listOf(await t.call('GET', `/v1/members/${holder.id}/entries?limit=100`, key)).data;
        expect(after.filter((l) => l.bucket === 'frozen').map((l) => [l.amount, l.balance_after])).toEqual([
          [800, 800],
          [-800, 0],
        ]);
        expect((await accounts(t, platform.id)).guarantee).toBe(0);
        await invariantsOk(t, platform.id);
      });

      it(`${mode} mode: direct orders freeze nothing, and auto-confirm releases from the ${mode}'s frozen bucket`, async () => {
        const platform = platforms[mode];
        const key = platform.apiKey;
        const buyer = await openMember(t, key);
        const seller = await openMember(t, key);
        await recharge(t, key, buyer.id, 1_000);
        await placeOrder(t, key, { buyer_id: buyer.id, mode: 'direct_t0', payees: [{ member_id: seller.id, amount: 200, fee: 2 }] });
        expect(await balances(t, key, seller.id)).toEqual(buckets({ withdrawable: 198 }));
        expect(await balances(t, key, buyer.id)).toEqual(buckets({ spendable: 800 }));
        const order = await placeOrder(t, key, { buyer_id: buyer.id, mode: 'guaranteed', auto_confirm_seconds: 60, payees: [{ member_id: seller.id, amount: 300, fee: 3 }] });
        expect((await balances(t, key, holderOf(buyer, seller).id)).frozen).toBe(300);
        await advance(t, 61);
        expect(await getOrder(t, key, order.id as string)).toMatchObject({ status: 'completed', released_amount: 300 });
        expect(await balances(t, key, seller.id)).toEqual(buckets({ withdrawable: 198, pending: 297 }));
        expect(await balances(t, key, buyer.id)).toEqual(buckets({ spendable: 500 }));
        expect((await accounts(t, platform.id)).guarantee).toBe(0);
        await invariantsOk(t, platform.id);
      });
    }

    it('seller mode: a channel-funded order without a buyer escrows with the seller', async () => {
      const platform = platforms.seller;
      const key = platform.apiKey;
      const seller = await openMember(t, key);
      const before = await accounts(t, platform.id);
      const order = await placeOrder(t, key, { mode: 'guaranteed', funding: { channel: 'sim' }, payees: [{ member_id: seller.id, amount: 650 }] });
      expect(order.status).toBe('awaiting_payment');
      await advance(t, 1);
      expect((await getOrder(t, key, order.id as string)).status).toBe('escrowed');
      expect(await balances(t, key, seller.id)).toEqual(buckets({ frozen: 650 }));
      expect(accountDelta(before, await accounts(t, platform.id))).toEqual(moved({ channel_in_transit: 650 }));
      await invariantsOk(t, platform.id);
      await confirm(t, key, order.id as string);
      expect(await balances(t, key, seller.id)).toEqual(buckets({ pending: 650 }));
      await invariantsOk(t, platform.id);
    });
  });
}
