import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { channelStatementHeader } from '../../src/channels/acquiring/acquiring-simulator.js';
import { reconciliationActor, reconciliationLimits } from '../../src/custody/reconciliation-service.js';
import { ADAPTERS } from '../support/adapters.js';
import { openMember, operatorToken, signPlatform } from '../support/http-fixtures.js';
import type { Json, SignedPlatform } from '../support/http-fixtures.js';
import { recharge } from '../support/money-fixtures.js';
import type { TestApp } from '../support/test-app.js';
import { advanceClock, allBreaks, breakTuples, clockNow, csv, imported, importJson, monday, openReconApp } from './support.js';

const tuesday = '2024-03-05';
/** Tuesday 00:00 in Asia/Shanghai. */
const midnightMs = Date.UTC(2024, 2, 4, 16);

/**
 * The window across midnight: a payment we decided a few minutes before midnight may sit in
 * the channel's next-day file. It is short on neither day, whichever file comes first; one
 * decided well before midnight is short all the same.
 */
for (const adapter of ADAPTERS) {
  describe(`the window across midnight (${adapter})`, () => {
    let t: TestApp;
    let operator: string;
    const payins = new Map<string, { early: Json; late: Json }>();
    let first: SignedPlatform;
    let second: SignedPlatform;

    beforeAll(async () => {
      ({ t } = await openReconApp(adapter));
      operator = (await operatorToken(t, 'operator')).token;
      first = await signPlatform(t);
      second = await signPlatform(t);
      const members = new Map([[first.id, await openMember(t, first.apiKey)], [second.id, await openMember(t, second.apiKey)]]);
      const early: Json[] = [];
      const late: Json[] = [];
      // 23:40, well outside the window, then 23:52, inside it.
      await advanceClock(t, Math.ceil((midnightMs - 20 * 60_000 - (await clockNow(t))) / 1000));
      for (const p of [first, second]) early.push(await recharge(t, p.apiKey, members.get(p.id)?.id as string, 1_000));
      await advanceClock(t, 12 * 60);
      for (const p of [first, second]) late.push(await recharge(t, p.apiKey, members.get(p.id)?.id as string, 2_000));
      expect(reconciliationLimits.windowMs).toBeGreaterThan(midnightMs - (await clockNow(t)));
      await advanceClock(t, 30 * 60);
      payins.set(first.id, { early: early[0] as Json, late: late[0] as Json });
      payins.set(second.id, { early: early[1] as Json, late: late[1] as Json });
    });
    afterAll(async () => {
      await t?.dispose();
    });

    function line(payin: Json): string {
      return `${payin.channel_txn_id as string},${payin.order_no as string},${payin.amount as number},succeeded,2024-03-04T16:01:00Z`;
    }

    it("excuses a late payment named by the next day's file, imported first", async () => {
      const { early, late } = payins.get(first.id) ?? { early: {}, late: {} };
      const next = await imported(await importJson(t, operator, { platform_id: first.id, source: 'channel:sim', date: tuesday, file: csv(channelStatementHeader, [line(late)]) }));
      expect(next).toMatchObject({ matched: 1, breaks_count: 0 });
      const day = await imported(await importJson(t, operator, { platform_id: first.id, source: 'channel:sim', date: monday, file: channelStatementHeader }));
      expect(breakTuples(day.breaks as Json[])).toEqual([`short ${early.channel_txn_id as string}`]);
    });

    it("explains the day's short when the next day's file names it afterwards", async () => {
      const { early, late } = payins.get(second.id) ?? { early: {}, late: {} };
      const day = await imported(await importJson(t, operator, { platform_id: second.id, source: 'channel:sim', date: monday, file: channelStatementHeader }));
      expect(breakTuples(day.breaks as Json[])).toEqual([`short ${early.channel_txn_id as string}`, `short ${late.channel_txn_id as string}`].sort());
      const next = await imported(
        await importJson(t, operator, { platform_id: second.id, source: 'channel:sim', date: tuesday, file: csv(channelStatementHeader, [line(late), line(early)]) }),
      );
      expect(next).toMatchObject({ matched: 2, breaks_count: 0 });
      const after = await allBreaks(t, day.id as string);
      const byTxn = new Map(after.map((b) => [b.channel_txn_id as string, b]));
      expect(byTxn.get(late.channel_txn_id as string)).toMatchObject({
        resolution: 'explained',
        resolved_by: reconciliationActor,
        resolution_note: expect.stringContaining(next.id as string),
        resolved_at: expect.any(String),
      });
      // Twenty minutes before midnight is outside the window: still short, still open.
      expect(byTxn.get(early.channel_txn_id as string)).toMatchObject({ resolution: null });
    });
  });
}
