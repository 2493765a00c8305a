import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { channelStatementHeader } from '../../src/channels/acquiring/acquiring-simulator.js';
import { ADAPTERS } from '../support/adapters.js';
import { expectError, json, listOf, openMember, operatorToken, signPlatform } from '../support/http-fixtures.js';
import type { Json, SignedPlatform } from '../support/http-fixtures.js';
import { accountDelta, accountRows, accounts, invariantsOk, moved, recharge } from '../support/money-fixtures.js';
import type { TestApp } from '../support/test-app.js';
import { csv, imported, importJson, monday, openReconApp } from './support.js';

/** Working breaks: explained with a note, or corrected by an adjustment under maker-checker; who, when and how are kept. */
for (const adapter of ADAPTERS) {
  describe(`resolving breaks (${adapter})`, () => {
    let t: TestApp;
    let viewer: { id: string; token: string };
    let operator: { id: string; token: string };
    let approver: { id: string; token: string };
    let approver2: { id: string; token: string };
    let platform: SignedPlatform;
    let breaks: Json[];

    beforeAll(async () => {
      ({ t } = await openReconApp(adapter));
      viewer = await operatorToken(t, 'viewer');
      operator = await operatorToken(t, 'operator');
      approver = await operatorToken(t, 'approver');
      approver2 = await operatorToken(t, 'approver');
      platform = await signPlatform(t);
      const member = await openMember(t, platform.apiKey);
      await recharge(t, platform.apiKey, member.id, 4_000);
      await recharge(t, platform.apiKey, member.id, 5_000);
      // The channel's file names neither of our payments, but has two of its own: 2 shorts, 2 longs.
      const rows = ['sim_theirs_1,x-1,300,succeeded,2024-03-04T02:00:00Z', 'sim_theirs_2,x-2,200,succeeded,2024-03-04T02:00:00Z'];
      const result = await imported(await importJson(t, operator.token, { platform_id: platform.id, source: 'channel:sim', date: monday, file: csv(channelStatementHeader, rows) }));
      breaks = result.breaks as Json[];
      expect(breaks.map((b) => b.kind).sort()).toEqual(['long', 'long', 'short', 'short']);
    });
    afterAll(async () => {
      await t?.dispose();
    });

    const resolve = (id: string, token: string, body: Json) => t.call('POST', `/v1/ops/reconciliation-breaks/${id}/resolve`, token, body);

    it('explains a break with a note, once, and keeps who and when', async () => {
      const target = breaks.find((b) => b.kind === 'short') as Json;
      expectError(await resolve(target.id as string, viewer.token, { action: 'explain', note: 'x' }), 'forbidden');
      expectError(await resolve(target.id as string, operator.token, { action: 'explain' }), 'invalid_request', 'note');
      expectError(await resolve(target.id as string, operator.token, { action: 'explain', note: '   ' }), 'invalid_request', 'note');
      expectError(await resolve('brk_000000zzzzzzzzzzzzzzzzzzzz', operator.token, { action: 'explain', note: 'x' }), 'not_found', 'id');
      expectError(await resolve(String(platform.id), operator.token, { action: 'explain', note: 'x' }), 'not_found', 'id');
      const response = await resolve(target.id as string, operator.token, { action: 'explain', note: 'The channel settled it in the next batch file.' });
      expect(response.statusCode, response.body).toBe(200);
      expect(json(response)).toMatchObject({
        id: target.id,
        kind: 'short',
        resolution: 'explained',
        resolution_note: 'The channel settled it in the next batch file.',
        adjustment_id: null,
        resolved_by: `operator:${(await t.runtime.credentials.authenticate(operator.token))?.credentialId ?? ''}`,
        resolved_at: expect.stringMatching(/^2024-03-04T/),
      });
      expectError(await resolve(target.id as string, operator.token, { action: 'explain', note: 'again' }), 'state_conflict');
      const read = await t.call('GET', `/v1/ops/reconciliation-breaks/${target.id as string}`, viewer.token);
      expect(json(read)).toEqual(json(response));
    });

    it('links an adjustment that goes through maker-checker, refusing another platform’s or a rejected one', async () => {
      const target = breaks.find((b) => b.kind === 'long' && b.channel_txn_id === 'sim_theirs_1') as Json;
      const rows = await accountRows(t, platform.id);
      const account = (code: string) => rows.find((r) => r.code === code)?.id as string;
      const propose = async (platformId: string, debit: string, credit: string, maker = operator.token) => {
        const response = await t.call('POST', '/v1/ops/adjustments', maker, {
          platform_id: platformId,
          debit_account_id: debit,
          credit_account_id: credit,
          amount: 300,
          reason: `break ${target.id as string}: the channel collected 300 fen we never booked`,
        });
        expect(response.statusCode, response.body).toBe(201);
        return json(response);
      };
      // Another platform's adjustment is not found; a rejected one corrects nothing.
      const other = await signPlatform(t);
      const otherRows = await accountRows(t, other.id);
      const foreign = await propose(other.id, otherRows.find((r) => r.code === 'channel_in_transit')?.id as string, otherRows.find((r) => r.code === 'suspense')?.id as string);
      expectError(await resolve(target.id as string, operator.token, { action: 'adjust', adjustment_id: foreign.id }), 'not_found', 'adjustment_id');
      const rejected = await propose(platform.id, account('channel_in_transit'), account('suspense'));
      expect((await t.call('POST', `/v1/ops/adjustments/${rejected.id as string}/reject`, approver.token, { reason: 'wrong account' })).statusCode).toBe(200);
      expectError(await resolve(target.id as string, operator.token, { action: 'adjust', adjustment_id: rejected.id }), 'state_conflict', 'adjustment_id');
      expectError(await resolve(target.id as string, operator.token, { action: 'adjust' }), 'invalid_request', 'adjustment_id');

      // The maker cannot approve; a second person can, and only then does money move.
      const adjustment = await propose(platform.id, account('channel_in_transit'), account('suspense'), approver.token);
      expectError(await t.call('POST', `/v1/ops/adjustments/${adjustment.id as string}/approve`, operator.token, {}), 'forbidden');
      expectError(await t.call('POST', `/v1/ops/adjustments/${adjustment.id as string}/approve`, approver.token, {}), 'maker_cannot_approve');
      const before = await accounts(t, platform.id);
      const linked = await resolve(target.id as string, operator.token, { action: 'adjust', adjustment_id: adjustment.id, note: 'booked by adjustment' });
      expect(linked.statusCode, linked.body).toBe(200);
      expect(json(linked)).toMatchObject({ resolution: 'adjusted', adjustment_id: adjustment.id, resolution_note: 'booked by adjustment', resolved_by: expect.stringMatching(/^operator:/) });
      expect(accountDelta(before, await accounts(t, platform.id))).toEqual(moved({}));
      const approved = await t.call('POST', `/v1/ops/adjustments/${adjustment.id as string}/approve`, approver2.token, {});
      expect(json(approved)).toMatchObject({ status: 'applied' });
      expect(accountDelta(before, await accounts(t, platform.id))).toEqual(moved({ channel_in_transit: 300, suspense: 300 }));
      await invariantsOk(t, platform.id);

      // Open breaks are listed apart from worked ones.
      const reconciliation = target.reconciliation_id as string;
      const open = listOf(await t.call('GET', `/v1/ops/reconciliations/${reconciliation}/breaks?resolved=false`, viewer.token)).data;
      const worked = listOf(await t.call('GET', `/v1/ops/reconciliations/${reconciliation}/breaks?resolved=true`, viewer.token)).data;
      expect(open.map((b) => b.kind).sort()).toEqual(['long', 'short']);
      expect(worked.map((b) => b.resolution).sort()).toEqual(['adjusted', 'explained']);
    });
  });
}
