import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { channelStatementHeader } from '../../src/channels/acquiring/acquiring-simulator.js';
import { fromPublicId } from '../../src/public-ids.js';
import { ADAPTERS } from '../support/adapters.js';
import { adminToken, expectError, expectShape, json, openMember, operatorToken, signPlatform } from '../support/http-fixtures.js';
import type { Json, SignedPlatform } from '../support/http-fixtures.js';
import { recharge, startPayin } from '../support/money-fixtures.js';
import type { TestApp } from '../support/test-app.js';
import { allBreaks, breakTuples, csv, imported, importCsv, importJson, monday, openReconApp, rowsOf } from './support.js';

/** A channel's statement against our payins: each kind of break, and what agrees. */
for (const adapter of ADAPTERS) {
  describe(`channel statements (${adapter})`, () => {
    let t: TestApp;
    let operator: string;
    let viewer: string;

    beforeAll(async () => {
      ({ t } = await openReconApp(adapter));
      operator = (await operatorToken(t, 'operator')).token;
      viewer = (await operatorToken(t, 'viewer')).token;
    });
    afterAll(async () => {
      await t?.dispose();
    });

    async function statement(platform: SignedPlatform, channel: string): Promise<string> {
      const response = await t.call('GET', `/v1/ops/channels/${channel}/statement?platform_id=${platform.id}&date=${monday}`, adminToken);
      expect(response.statusCode, response.body).toBe(200);
      return response.body;
    }

    it('classifies long, short, amount and status mismatches, and matches the rest', async () => {
      const platform = await signPlatform(t);
      const member = await openMember(t, platform.apiKey);
      const agreed = await recharge(t, platform.apiKey, member.id, 10_000);
      const cheaper = await recharge(t, platform.apiKey, member.id, 3_000);
      const refused = await recharge(t, platform.apiKey, member.id, 4_000);
      const missing = await recharge(t, platform.apiKey, member.id, 5_000);
      // Still pending on our side: the channel has not answered us yet.
      const pending = await startPayin(t, platform.apiKey, { amount: 6_000, channel: 'sim', member_id: member.id });
      const theirs = rowsOf(await statement(platform, 'sim'));
      expect(theirs.map((row) => row[0]).sort()).toEqual(
        [agreed, cheaper, refused, missing].map((p) => p.channel_txn_id as string).sort(),
      );
      const rows = theirs
        .filter((row) => row[0] !== missing.channel_txn_id)
        .map((row) => {
          if (row[0] === cheaper.channel_txn_id) return [row[0], row[1], '3100', row[3], row[4]];
          if (row[0] === refused.channel_txn_id) return [row[0], row[1], row[2], 'failed', row[4]];
          return row;
        });
      rows.push([pending.channel_txn_id as string, pending.order_no as string, '6000', 'succeeded', '2024-03-04T02:30:00Z']);
      rows.push(['sim_not_ours', 'their-1', '777', 'succeeded', '2024-03-04T02:31:00Z']);

      const result = await imported(
        await importJson(t, operator, { platform_id: platform.id, source: 'channel:sim', date: monday, file: csv(channelStatementHeader, rows.map((r) => r.join(','))) }),
      );
      expectShape(result, {
        id: expect.stringMatching(/^rec_/),
        object: 'reconciliation',
        platform_id: platform.id,
        source: 'channel:sim',
        date: monday,
        status: 'completed',
        lines: 5,
        matched: 1,
        breaks_count: 5,
        breaks_by_kind: { long: 1, short: 1, amount_mismatch: 1, status_mismatch: 2 },
        has_more_breaks: false,
      });
      const breaks = result.breaks as Json[];
      expect(breakTuples(breaks)).toEqual(
        [
          `amount_mismatch ${cheaper.channel_txn_id as string}`,
          `long sim_not_ours`,
          `short ${missing.channel_txn_id as string}`,
          `status_mismatch ${pending.channel_txn_id as string}`,
          `status_mismatch ${refused.channel_txn_id as string}`,
        ].sort(),
      );
      const byTxn = new Map(breaks.map((b) => [b.channel_txn_id as string, b]));
      expect(byTxn.get(cheaper.channel_txn_id as string)).toMatchObject({
        id: expect.stringMatching(/^brk_/),
        kind: 'amount_mismatch',
        order_no: cheaper.order_no,
        expected_amount: 3_000,
        actual_amount: 3_100,
        payin_id: cheaper.id,
        resolution: null,
      });
      expect(byTxn.get(refused.channel_txn_id as string)).toMatchObject({ expected_status: 'succeeded', actual_status: 'failed', payin_id: refused.id });
      expect(byTxn.get(pending.channel_txn_id as string)).toMatchObject({ expected_status: 'pending', actual_status: 'succeeded', expected_amount: 6_000 });
      expect(byTxn.get(missing.channel_txn_id as string)).toMatchObject({ kind: 'short', expected_amount: 5_000, order_no: missing.order_no, payin_id: missing.id });
      expect(byTxn.get(missing.channel_txn_id as string)).not.toHaveProperty('actual_amount');
      expect(byTxn.get('sim_not_ours')).toMatchObject({ kind: 'long', order_no: 'their-1', actual_amount: 777, line_no: rows.length + 1 });
      expect(byTxn.get('sim_not_ours')).not.toHaveProperty('expected_amount');

      // Reads: the same shape, and the breaks paged; viewers read, only operators import.
      const read = await t.call('GET', `/v1/ops/reconciliations/${result.id as string}`, viewer);
      expect(read.statusCode).toBe(200);
      expect(json(read)).toEqual(result);
      expect(breakTuples(await allBreaks(t, result.id as string))).toEqual(breakTuples(breaks));
      expectError(await importJson(t, viewer, { platform_id: platform.id, source: 'channel:sim', date: monday, file: channelStatementHeader }), 'forbidden');
    });

    it('matches rows that agree on failed, and each import is a new reconciliation', async () => {
      const platform = await signPlatform(t);
      const member = await openMember(t, platform.apiKey);
      const failedA = await recharge(t, platform.apiKey, member.id, 1_200, 'sim_fail');
      const failedB = await recharge(t, platform.apiKey, member.id, 1_300, 'sim_fail');
      const file = await statement(platform, 'sim_fail');
      expect(rowsOf(file).map((row) => row[3])).toEqual(['failed', 'failed']);
      const first = await imported(await importCsv(t, operator, { platform_id: platform.id, source: 'channel:sim_fail', date: monday }, file));
      expect(first).toMatchObject({ lines: 2, matched: 2, breaks_count: 0, breaks: [] });
      const again = await imported(await importJson(t, operator, { platform_id: platform.id, source: 'channel:sim_fail', date: monday, file }));
      expect(again.id).not.toBe(first.id);
      expect(again).toMatchObject({ matched: 2, breaks_count: 0 });
      // The other channel's statement does not know them: both are long there, and nothing of sim is short.
      const elsewhere = await imported(await importJson(t, operator, { platform_id: platform.id, source: 'channel:sim', date: monday, file }));
      expect(breakTuples(elsewhere.breaks as Json[])).toEqual([`long ${failedA.channel_txn_id as string}`, `long ${failedB.channel_txn_id as string}`].sort());
      const listed = await t.call('GET', `/v1/ops/reconciliations?platform_id=${platform.id}`, viewer);
      expect((json(listed).data as Json[]).map((r) => r.id)).toEqual([first.id, again.id, elsewhere.id]);
    });

    it('finds a line naming one payment twice a long break, never a second match', async () => {
      const platform = await signPlatform(t);
      const member = await openMember(t, platform.apiKey);
      await recharge(t, platform.apiKey, member.id, 900);
      const file = await statement(platform, 'sim');
      const line = file.split('\n')[1] as string;
      const result = await imported(await importJson(t, operator, { platform_id: platform.id, source: 'channel:sim', date: monday, file: `${file}${line}\n` }));
      expect(result).toMatchObject({ lines: 2, matched: 1, breaks_by_kind: { long: 1, short: 0, amount_mismatch: 0, status_mismatch: 0 } });
      expect((result.breaks as Json[])[0]).toMatchObject({ line_no: 3, detail: expect.stringMatching(/twice/) });
    });

    it('refuses a bad line with its number and stores nothing', async () => {
      const platform = await signPlatform(t);
      const member = await openMember(t, platform.apiKey);
      await recharge(t, platform.apiKey, member.id, 800);
      const good = await statement(platform, 'sim');
      const cases: [string, RegExp][] = [
        [`${good}sim_x,o,12.50,succeeded,2024-03-04T02:00:00Z\n`, /^line 3: amount/],
        [`${good}sim_x,o,-5,succeeded,2024-03-04T02:00:00Z\n`, /^line 3: amount/],
        [`${good}sim_x,o,100,refunded,2024-03-04T02:00:00Z\n`, /^line 3: status/],
        [`${good}sim_x,o,100,succeeded\n`, /^line 3: expected 5 fields, found 4/],
        [`${good}sim_x,o,100,succeeded,yesterday\n`, /^line 3: occurred_at/],
        [`${good}\nsim_x,o,100,succeeded,2024-03-04T02:00:00Z\n`, /^line 3: a blank line/],
        [`${good}"sim_x,o,100,succeeded,2024-03-04T02:00:00Z\n`, /^line 3: a quoted field is never closed/],
        [`channel_txn_id,order_no,amount,status\n`, /^line 1: the header must be/],
        [``, /^line 1: the file is empty/],
      ];
      for (const [file, message] of cases) {
        const response = await importJson(t, operator, { platform_id: platform.id, source: 'channel:sim', date: monday, file });
        expect(expectError(response, 'invalid_request', 'file').message).toMatch(message);
        const streamed = await importCsv(t, operator, { platform_id: platform.id, source: 'channel:sim', date: monday }, file);
        expect(expectError(streamed, 'invalid_request', 'file').message).toMatch(message);
      }
      const listed = await t.call('GET', `/v1/ops/reconciliations?platform_id=${platform.id}`, viewer);
      expect(json(listed).data).toEqual([]);
      for (const table of ['reconciliation_breaks', 'reconciliation_matches', 'reconciliation_staged_credits', 'reconciliations']) {
        const { rows } = await sql<{ n: string }>`select count(*)::text as n from ${sql.table(table)} where platform_id = ${fromPublicId('platform', platform.id)}::uuid`.execute(
          t.runtime.ledger.kysely,
        );
        expect([table, rows[0]?.n]).toEqual([table, '0']);
      }
    });

    it('checks source, date and platform before reading the file', async () => {
      const platform = await signPlatform(t);
      const base = { platform_id: platform.id, source: 'channel:sim', date: monday, file: channelStatementHeader };
      expectError(await importJson(t, operator, { ...base, source: 'paypal' }), 'invalid_request', 'source');
      expectError(await importJson(t, operator, { ...base, date: '2024-02-30' }), 'invalid_request', 'date');
      expectError(await importJson(t, operator, { ...base, date: '2099-01-01' }), 'invalid_request', 'date');
      expectError(await importJson(t, operator, { ...base, platform_id: 'plt_000000zzzzzzzzzzzzzzzzzzzz' }), 'not_found', 'platform_id');
      expectError(await importCsv(t, operator, { platform_id: platform.id, source: 'channel:sim', date: '' }, channelStatementHeader), 'invalid_request', 'date');
      const empty = await imported(await importJson(t, operator, base));
      expect(empty).toMatchObject({ lines: 0, matched: 0, breaks_count: 0 });
      expectError(await t.call('GET', '/v1/ops/reconciliations/rec_000000zzzzzzzzzzzzzzzzzzzz', viewer), 'not_found', 'id');
    });
  });
}
