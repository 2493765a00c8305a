import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOfBusinessDate } from '../../src/business-date.js';
import { bankStatementHeader } from '../../src/channels/payout/payout-simulator.js';
import { fromPublicId } from '../../src/public-ids.js';
import { ADAPTERS } from '../support/adapters.js';
import { bindCard, cardEndingIn, goodCard, json, listOf, openMember, operatorToken, signPlatform } from '../support/http-fixtures.js';
import type { Json, OpenedMember, SignedPlatform } from '../support/http-fixtures.js';
import { balances, invariantsOk, orderNo, placeOrder } from '../support/money-fixtures.js';
import type { TestApp } from '../support/test-app.js';
import { advanceClock, bankCredit, breakTuples, csv, imported, importCsv, importJson, monday, openReconApp, rowsOf, settleWithdrawal } from './support.js';

const tuesday = '2024-03-05';

/** The custody account's bank statement against our withdrawals (and their returns) and bank credits. */
for (const adapter of ADAPTERS) {
  describe(`bank statements (${adapter})`, () => {
    let t: TestApp;
    let operator: string;
    let platform: SignedPlatform;
    let buyer: OpenedMember;

    beforeAll(async () => {
      ({ t } = await openReconApp(adapter));
      operator = (await operatorToken(t, 'operator')).token;
      platform = await signPlatform(t);
      buyer = await openMember(t, platform.apiKey);
      await bankCredit(t, platform.id, 100_000, buyer.body.sub_account_no as string, 'bk_fund');
    });
    afterAll(async () => {
      await t?.dispose();
    });

    /** A seller with a bound card (ending `ending`) and `amount` of withdrawable proceeds, withdrawn and paid. */
    async function paidWithdrawal(amount: number, ending?: string): Promise<{ seller: OpenedMember; withdrawal: Json; railTxnId: string }> {
      const key = platform.apiKey;
      const seller = await openMember(t, key);
      const card = await bindCard(t, key, seller, 'four_element', ending === undefined ? goodCard() : cardEndingIn(ending));
      await placeOrder(t, key, { buyer_id: buyer.id, mode: 'direct_t0', payees: [{ member_id: seller.id, amount }] });
      const created = await t.call('POST', '/v1/withdrawals', key, { order_no: orderNo('wdr'), member_id: seller.id, card_id: card.id, amount });
      expect(created.statusCode, created.body).toBe(201);
      const withdrawal = await settleWithdrawal(t, key, json(created).id as string, ['succeeded']);
      const row = await t.runtime.withdrawalStore.withdrawal(uuid('platform', platform.id), uuid('withdrawal', withdrawal.id as string));
      return { seller, withdrawal, railTxnId: row?.rail_txn_id ?? '' };
    }

    function bankFile(date: string): string {
      const from = startOfBusinessDate(date);
      return t.runtime.payoutSimulator?.statement(from, from + 86_400_000, uuid('platform', platform.id)) ?? '';
    }

    it('matches paid withdrawals and credits, records unmatched credits, and classifies the rest', async () => {
      const w1 = await paidWithdrawal(7_000);
      const w2 = await paidWithdrawal(5_000, '0005');
      const w3 = await paidWithdrawal(6_000);
      const w4 = await paidWithdrawal(4_000);
      const theirs = rowsOf(bankFile(monday));
      expect(theirs.map((row) => [row[0], row[1]])).toEqual([w1, w2, w3, w4].map((w) => [w.railTxnId, 'debit']));
      const rows = theirs
        .filter((row) => row[0] !== w4.railTxnId)
        .map((row) => (row[0] === w3.railTxnId ? [row[0], row[1], '6100', ...row.slice(3)] : row))
        .map((row) => row.join(','));
      const at = '2024-03-04T03:00:00Z';
      const memberNo = w1.seller.body.sub_account_no as string;
      rows.push(
        `${w1.railTxnId}_rt,credit,7000,6222000011112222,张三,${w1.withdrawal.order_no as string},${at}`,
        `po_unknown,debit,1234,6222000011112222,张三,wdr-x,${at}`,
        `bk_fund,credit,100000,6222000011112222,王五,${buyer.body.sub_account_no as string},${at}`,
        `bk_new1,credit,2500,6222000033334444,"Li, Si","top-up for ${memberNo}, thanks",${at}`,
        `bk_new2,credit,1800,6222000055556666,"ACME ""Rent"" Co.",rent march,${at}`,
        `bk_new2,credit,1800,6222000055556666,"ACME ""Rent"" Co.",rent march,${at}`,
      );
      const spendableBefore = (await balances(t, platform.apiKey, w1.seller.id)).spendable;
      // CRLF and a byte order mark, as a bank's export may have them.
      const file = `\uFEFF${csv(bankStatementHeader, rows).replaceAll('\n', '\r\n')}`;
      const result = await imported(await importCsv(t, operator, { platform_id: platform.id, source: 'bank', date: monday }, file));
      expect(result).toMatchObject({
        source: 'bank',
        lines: 9,
        matched: 3,
        breaks_count: 7,
        breaks_by_kind: { long: 4, short: 1, amount_mismatch: 1, status_mismatch: 1 },
      });
      const breaks = result.breaks as Json[];
      expect(breakTuples(breaks, 'bank_txn_id')).toEqual(
        [
          `amount_mismatch ${w3.railTxnId}`,
          `short ${w4.railTxnId}`,
          `status_mismatch ${w1.railTxnId}_rt`,
          'long po_unknown',
          'long bk_new1',
          'long bk_new2',
          'long bk_new2',
        ].sort(),
      );
      const find = (txn: string, more: Json = {}) => breaks.find((b) => b.bank_txn_id === txn && Object.entries(more).every(([k, v]) => b[k] === v));
      expect(find(w3.railTxnId)).toMatchObject({ expected_amount: 6_000, actual_amount: 6_100, withdrawal_id: w3.withdrawal.id, order_no: w3.withdrawal.order_no });
      expect(find(w4.railTxnId)).toMatchObject({ kind: 'short', expected_amount: 4_000, withdrawal_id: w4.withdrawal.id, resolution: null });
      expect(find(`${w1.railTxnId}_rt`)).toMatchObject({ expected_status: 'succeeded', actual_status: 'returned', withdrawal_id: w1.withdrawal.id });
      expect(find('po_unknown')).toMatchObject({ actual_amount: 1_234, actual_status: 'paid', resolution: null });
      expect(find('po_unknown')).not.toHaveProperty('withdrawal_id');

      // The credit whose memo names a member's sub-account went to that member, recorded.
      const credited = find('bk_new1');
      expect(credited).toMatchObject({ resolution: 'recorded', bank_credit_id: expect.stringMatching(/^bcr_/), actual_amount: 2_500, resolved_by: expect.stringMatching(/^operator:/) });
      expect(credited?.detail).toContain(w1.seller.id);
      expect((await balances(t, platform.apiKey, w1.seller.id)).spendable).toBe(spendableBefore + 2_500);
      // The one naming nobody is a suspense item; its repeat is a break, not a second credit.
      const held = find('bk_new2', { resolution: 'recorded' });
      expect(held).toMatchObject({ bank_credit_id: expect.stringMatching(/^bcr_/), detail: expect.stringMatching(/suspense sus_/) });
      expect(find('bk_new2', { resolution: null })).toMatchObject({ kind: 'long', detail: expect.stringMatching(/recorded once/) });
      const suspense = listOf(await t.call('GET', '/v1/suspense?limit=100', platform.apiKey)).data;
      expect(suspense.map((item) => [item.amount, item.bank_credit_id, item.status])).toEqual([[1_800, held?.bank_credit_id, 'open']]);
      await invariantsOk(t, platform.id);

      // The same file again: what was recorded is ours now, matched, and nothing is recorded twice.
      const again = await imported(await importJson(t, operator, { platform_id: platform.id, source: 'bank', date: monday, file }));
      expect(again).toMatchObject({ matched: 5, breaks_by_kind: { long: 2, short: 1, amount_mismatch: 1, status_mismatch: 1 } });
      expect(listOf(await t.call('GET', '/v1/suspense?limit=100', platform.apiKey)).data).toHaveLength(1);

      // A day later the card ending 0005 sends the payment back: Tuesday's statement has the return.
      await advanceClock(t, 86_400 + 60);
      await settleWithdrawal(t, platform.apiKey, w2.withdrawal.id as string, ['returned'], 3_600);
      const tuesdayFile = bankFile(tuesday);
      expect(rowsOf(tuesdayFile).map((row) => [row[0], row[1]])).toEqual([[`${w2.railTxnId}_rt`, 'credit']]);
      const returned = await imported(await importJson(t, operator, { platform_id: platform.id, source: 'bank', date: tuesday, file: tuesdayFile }));
      expect(returned).toMatchObject({ lines: 1, matched: 1, breaks_count: 0 });
      // Without it, the return is short on Tuesday.
      const withoutReturn = await imported(await importJson(t, operator, { platform_id: platform.id, source: 'bank', date: tuesday, file: bankStatementHeader }));
      expect(withoutReturn.breaks).toMatchObject([{ kind: 'short', bank_txn_id: `${w2.railTxnId}_rt`, withdrawal_id: w2.withdrawal.id, expected_amount: 5_000, expected_status: 'returned' }]);
    });

    it('refuses a bad bank line with its number, recording no credit', async () => {
      const rows = [
        `bk_ok,credit,500,6222000011112222,张三,nobody,2024-03-04T03:00:00Z`,
        `bk_bad,transfer,500,6222000011112222,张三,nobody,2024-03-04T03:00:00Z`,
      ];
      const before = listOf(await t.call('GET', '/v1/suspense?limit=100', platform.apiKey)).data.length;
      const response = await importJson(t, operator, { platform_id: platform.id, source: 'bank', date: monday, file: csv(bankStatementHeader, rows) });
      expect(response.statusCode).toBe(400);
      expect(json(response).error).toMatchObject({ code: 'invalid_request', param: 'file', message: expect.stringMatching(/^line 3: direction/) });
      expect(listOf(await t.call('GET', '/v1/suspense?limit=100', platform.apiKey)).data).toHaveLength(before);
    });
  });
}

function uuid(kind: 'platform' | 'withdrawal', publicId: string): string {
  const id = fromPublicId(kind, publicId);
  if (id === null) throw new Error(`not a ${kind} id: ${publicId}`);
  return id;
}
