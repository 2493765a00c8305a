import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADAPTERS } from '../support/adapters.js';
import {
  adminToken,
  expectError,
  expectShape,
  expectNotFound,
  json,
  listOf,
  openMember,
  operatorToken,
  residentId,
  creditCode,
  signPlatform,
  unknownId,
} from '../support/http-fixtures.js';
import type { Json } from '../support/http-fixtures.js';
import { openTestApp } from '../support/test-app.js';
import type { TestApp } from '../support/test-app.js';

/** API.md "Platform accounts". */
const platformAccountCodes = [
  'custody_summary',
  'channel_in_transit',
  'suspense',
  'fees',
  'guarantee',
  'marketing',
  'interest',
  'own_funds',
  'withdrawal_in_transit',
];

const rfc3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const publicId = (prefix: string) => expect.stringMatching(new RegExp(`^${prefix}_[0-9a-z]{26}$`));

for (const adapter of ADAPTERS) {
  describe(`ops: platforms, API keys, operators, clock, fees (${adapter})`, () => {
    let t: TestApp;

    beforeAll(async () => {
      t = await openTestApp(adapter);
    });

    afterAll(async () => {
      await t?.dispose();
    });

    async function allPlatformIds(): Promise<string[]> {
      return listOf(await t.call('GET', '/v1/ops/platforms?limit=100', adminToken)).data.map((p) => p.id as string);
    }

    describe('POST /v1/ops/platforms', () => {
      it('signs a platform: 201, its nine accounts at zero, and an API key shown once', async () => {
        const response = await t.call('POST', '/v1/ops/platforms', adminToken, { name: 'Acme Market' });
        expect(response.statusCode).toBe(201);
        const body = json(response);
        expectShape(body, {
          id: publicId('plt'),
          object: 'platform',
          name: 'Acme Market',
          escrow_mode: 'intermediate',
          auto_confirm_seconds: 7 * 24 * 3600,
          status: 'active',
          created: expect.stringMatching(rfc3339),
          accounts: expect.any(Array),
          api_key: expect.stringMatching(/^ck_test_[A-Za-z0-9_-]{40,}$/),
        });
        const accounts = body.accounts as Json[];
        expect(accounts.map((a) => a.code).sort()).toEqual([...platformAccountCodes].sort());
        for (const account of accounts) {
          expectShape(account, { id: publicId('acc'), code: expect.any(String), currency: 'CNY', balance: 0 });
        }
        expect(new Set(accounts.map((a) => a.id)).size).toBe(platformAccountCodes.length);

        const apiKey = body.api_key as string;
        expect((await t.call('GET', '/v1/members', apiKey)).statusCode).toBe(200);

        // A later GET shows the same platform, never the key.
        const got = await t.call('GET', `/v1/ops/platforms/${body.id as string}`, adminToken);
        expect(got.statusCode).toBe(200);
        const { api_key: _shownOnce, ...platform } = body;
        expect(json(got)).toEqual(platform);
        for (const url of [`/v1/ops/platforms/${body.id as string}`, '/v1/ops/platforms?limit=100', `/v1/ops/platforms/${body.id as string}/api-keys`]) {
          const read = await t.call('GET', url, adminToken);
          expect(read.body, url).not.toContain(apiKey);
          expect(read.body, url).not.toContain(apiKey.slice(12));
        }
      });

      it('keeps escrow_mode and auto_confirm_seconds, and takes a valid legal_id_number without showing it', async () => {
        const legal = creditCode();
        const response = await t.call('POST', '/v1/ops/platforms', adminToken, {
          name: '  Buyer Escrow Mall  ',
          escrow_mode: 'buyer',
          auto_confirm_seconds: 3600,
          legal_id_number: legal,
        });
        expect(response.statusCode).toBe(201);
        expect(json(response)).toMatchObject({ name: 'Buyer Escrow Mall', escrow_mode: 'buyer', auto_confirm_seconds: 3600 });
        expect(response.body).not.toContain(legal);
        const seller = await t.call('POST', '/v1/ops/platforms', adminToken, { name: 'Seller', escrow_mode: 'seller', legal_id_number: residentId() });
        expect(json(seller)).toMatchObject({ escrow_mode: 'seller' });
      });

      it('refuses a bad request with 400 invalid_request naming the param, and signs nothing', async () => {
        const valid = residentId();
        const badCheck = `${valid.slice(0, 17)}${valid[17] === '0' ? '1' : '0'}`;
        const cases: Array<[Json, string]> = [
          [{}, 'name'],
          [{ name: '' }, 'name'],
          [{ name: '   ' }, 'name'],
          [{ name: 42 }, 'name'],
          [{ name: 'x'.repeat(129) }, 'name'],
          [{ name: 'Mall', escrow_mode: 'bank' }, 'escrow_mode'],
          [{ name: 'Mall', auto_confirm_seconds: 59 }, 'auto_confirm_seconds'],
          [{ name: 'Mall', auto_confirm_seconds: 180 * 24 * 3600 + 1 }, 'auto_confirm_seconds'],
          [{ name: 'Mall', auto_confirm_seconds: '3600' }, 'auto_confirm_seconds'],
          [{ name: 'Mall', auto_confirm_seconds: 3600.5 }, 'auto_confirm_seconds'],
          [{ name: 'Mall', legal_id_number: badCheck }, 'legal_id_number'],
          [{ name: 'Mall', legal_id_number: '123' }, 'legal_id_number'],
          [{ name: 'Mall', colour: 'red' }, 'colour'],
        ];
        const before = await allPlatformIds();
        for (const [body, param] of cases) {
          expectError(await t.call('POST', '/v1/ops/platforms', adminToken, body), 'invalid_request', param);
        }
        expect(await allPlatformIds()).toEqual(before);
      });
    });

    describe('GET /v1/ops/platforms[/{id}]', () => {
      it('answers 404 not_found for an unknown, malformed or wrong-kind id', async () => {
        const { body } = await signPlatform(t);
        const member = await openMember(t, body.api_key as string);
        for (const id of [unknownId('plt'), 'plt_123', 'nonsense', member.id, (body.id as string).toUpperCase(), `${body.id as string}x`]) {
          expectNotFound(await t.call('GET', `/v1/ops/platforms/${id}`, adminToken));
        }
      });

      it('lists platforms oldest first, paged with limit and starting_after', async () => {
        const signed = [await signPlatform(t), await signPlatform(t), await signPlatform(t)];
        const seen: string[] = [];
        let after: string | undefined;
        for (let page = 0; page < 50; page++) {
          const response = await t.call('GET', `/v1/ops/platforms?limit=2${after ? `&starting_after=${after}` : ''}`, adminToken);
          expect(response.statusCode).toBe(200);
          const { data, has_more } = listOf(response);
          expect(data.length).toBeLessThanOrEqual(2);
          for (const platform of data) expect(platform).not.toHaveProperty('api_key');
          seen.push(...data.map((p) => p.id as string));
          if (!has_more) break;
          expect(data.length).toBe(2);
          after = data[1]?.id as string;
        }
        expect(new Set(seen).size).toBe(seen.length);
        expect(seen.slice(-3)).toEqual(signed.map((p) => p.id));
        expect(seen).toEqual(await allPlatformIds());
        const first = listOf(await t.call('GET', '/v1/ops/platforms?limit=1', adminToken));
        expect(first).toMatchObject({ has_more: true, data: [{ id: seen[0] }] });
      });

      it('refuses a limit outside 1..100 and unknown query parameters', async () => {
        expectError(await t.call('GET', '/v1/ops/platforms?limit=0', adminToken), 'invalid_request', 'limit');
        expectError(await t.call('GET', '/v1/ops/platforms?limit=101', adminToken), 'invalid_request', 'limit');
        expectError(await t.call('GET', '/v1/ops/platforms?limit=ten', adminToken), 'invalid_request', 'limit');
        expectError(await t.call('GET', '/v1/ops/platforms?colour=red', adminToken), 'invalid_request', 'colour');
        expect((await t.call('GET', '/v1/ops/platforms?limit=100', adminToken)).statusCode).toBe(200);
      });
    });

    describe('/v1/ops/platforms/{id}/api-keys', () => {
      it('issues another key (shown once), lists keys without secrets, revokes one', async () => {
        const platform = await signPlatform(t);
        const issued = await t.call('POST', `/v1/ops/platforms/${platform.id}/api-keys`, adminToken, { name: 'rotation 2026' });
        expect(issued.statusCode).toBe(201);
        const key = json(issued);
        expectShape(key, {
          id: publicId('key'),
          object: 'api_key',
          platform_id: platform.id,
          name: 'rotation 2026',
          prefix: (key.api_key as string).slice(0, 12),
          created: expect.stringMatching(rfc3339),
          revoked_at: null,
          api_key: expect.stringMatching(/^ck_test_/),
        });
        const secret = key.api_key as string;
        expect((await t.call('GET', '/v1/members', secret)).statusCode).toBe(200);

        const listed = await t.call('GET', `/v1/ops/platforms/${platform.id}/api-keys`, adminToken);
        expect(listed.statusCode).toBe(200);
        const list = listOf(listed);
        expect(list.has_more).toBe(false);
        expect(list.data.map((k) => k.name)).toEqual(['first key', 'rotation 2026']);
        expect(list.data[0]).toMatchObject({ object: 'api_key', platform_id: platform.id, prefix: platform.apiKey.slice(0, 12), revoked_at: null });
        for (const item of list.data) expect(item).not.toHaveProperty('api_key');
        expect(listed.body).not.toContain(secret);
        expect(listed.body).not.toContain(platform.apiKey);

        const revoked = await t.call('DELETE', `/v1/ops/platforms/${platform.id}/api-keys/${key.id as string}`, adminToken);
        expect(revoked.statusCode).toBe(200);
        const { api_key: _secret, ...record } = key;
        expect(json(revoked)).toEqual({ ...record, revoked_at: expect.stringMatching(rfc3339) });
        expectError(await t.call('GET', '/v1/members', secret), 'unauthenticated');
        expect((await t.call('GET', '/v1/members', platform.apiKey)).statusCode).toBe(200);
        // Revoking again answers the revoked key.
        const again = await t.call('DELETE', `/v1/ops/platforms/${platform.id}/api-keys/${key.id as string}`, adminToken);
        expect(again.statusCode).toBe(200);
        expect(json(again).revoked_at).toBe(json(revoked).revoked_at);
      });

      it('defaults the key name and refuses a bad body', async () => {
        const platform = await signPlatform(t);
        const issued = await t.call('POST', `/v1/ops/platforms/${platform.id}/api-keys`, adminToken, {});
        expect(issued.statusCode).toBe(201);
        expect(json(issued).name).toEqual(expect.any(String));
        expectError(await t.call('POST', `/v1/ops/platforms/${platform.id}/api-keys`, adminToken, { name: '' }), 'invalid_request', 'name');
        expectError(await t.call('POST', `/v1/ops/platforms/${platform.id}/api-keys`, adminToken, { name: 7 }), 'invalid_request', 'name');
        expectError(await t.call('POST', `/v1/ops/platforms/${platform.id}/api-keys`, adminToken, { scope: 'all' }), 'invalid_request', 'scope');
      });

      it('answers 404 for an unknown platform or key, and never revokes another platform’s key', async () => {
        const a = await signPlatform(t);
        const b = await signPlatform(t);
        const bKeys = listOf(await t.call('GET', `/v1/ops/platforms/${b.id}/api-keys`, adminToken)).data;
        const bKeyId = bKeys[0]?.id as string;
        expectNotFound(await t.call('DELETE', `/v1/ops/platforms/${a.id}/api-keys/${bKeyId}`, adminToken));
        expect((await t.call('GET', '/v1/members', b.apiKey)).statusCode).toBe(200);
        expectNotFound(await t.call('DELETE', `/v1/ops/platforms/${a.id}/api-keys/${unknownId('key')}`, adminToken));
        expectNotFound(await t.call('DELETE', `/v1/ops/platforms/${a.id}/api-keys/key_bad`, adminToken));
        expectNotFound(await t.call('POST', `/v1/ops/platforms/${unknownId('plt')}/api-keys`, adminToken, { name: 'x' }));
        expectNotFound(await t.call('GET', `/v1/ops/platforms/${unknownId('plt')}/api-keys`, adminToken));
        expectNotFound(await t.call('GET', '/v1/ops/platforms/plt_bad/api-keys', adminToken));
      });

      // Bug: the DELETE route never checks that the platform exists, and the repository revokes
      // any credential of that scope before checking its kind. The nil uuid is the bank's own
      // scope, which holds the operators: so an operator's id, spelled as a key id under the
      // nil platform, is revoked while the answer says 404.
      it('answers 404 for a key under a platform that does not exist, without revoking anything', async () => {
        const victim = await operatorToken(t, 'viewer');
        const nilPlatform = `plt_${'0'.repeat(26)}`;
        const asKeyId = `key_${victim.id.slice('op_'.length)}`;
        expectNotFound(await t.call('DELETE', `/v1/ops/platforms/${nilPlatform}/api-keys/${asKeyId}`, adminToken));
        expect((await t.call('GET', '/v1/ops/clock', victim.token)).statusCode).toBe(200);
      });

      // API.md Conventions: every list takes limit and starting_after.
      it('pages the API key list with limit and starting_after', async () => {
        const platform = await signPlatform(t);
        await t.call('POST', `/v1/ops/platforms/${platform.id}/api-keys`, adminToken, { name: 'second' });
        const page = listOf(await t.call('GET', `/v1/ops/platforms/${platform.id}/api-keys?limit=1`, adminToken));
        expect(page).toMatchObject({ has_more: true, data: [{ name: 'first key' }] });
        expect(page.data).toHaveLength(1);
      });
    });

    describe('/v1/ops/operators', () => {
      it('creates an operator whose token (shown once) works at its role, lists without tokens, revokes', async () => {
        const created = await t.call('POST', '/v1/ops/operators', adminToken, { name: 'Wang Fang', role: 'operator' });
        expect(created.statusCode).toBe(201);
        const operator = json(created);
        expectShape(operator, {
          id: publicId('op'),
          object: 'operator',
          name: 'Wang Fang',
          role: 'operator',
          prefix: (operator.token as string).slice(0, 8),
          created: expect.stringMatching(rfc3339),
          revoked_at: null,
          token: expect.stringMatching(/^cot_[A-Za-z0-9_-]{40,}$/),
        });
        const token = operator.token as string;
        expect((await t.call('POST', '/v1/ops/clock/advance', token, { seconds: 1 })).statusCode).toBe(200);
        expectError(await t.call('POST', '/v1/ops/platforms', token, { name: 'Not mine to sign' }), 'forbidden');

        const listed = await t.call('GET', '/v1/ops/operators', adminToken);
        expect(listed.statusCode).toBe(200);
        const list = listOf(listed);
        const { token: _shownOnce, ...record } = operator;
        expect(list.data).toContainEqual(record);
        for (const item of list.data) expect(item).not.toHaveProperty('token');
        expect(listed.body).not.toContain(token);
        expect(listed.body).not.toContain(adminToken);

        const revoked = await t.call('DELETE', `/v1/ops/operators/${operator.id as string}`, adminToken);
        expect(revoked.statusCode).toBe(200);
        expect(json(revoked)).toEqual({ ...record, revoked_at: expect.stringMatching(rfc3339) });
        expectError(await t.call('GET', '/v1/ops/clock', token), 'unauthenticated');
      });

      it('creates operators of every role and refuses a bad body', async () => {
        for (const role of ['viewer', 'operator', 'approver', 'admin']) {
          const created = await t.call('POST', '/v1/ops/operators', adminToken, { name: `${role} one`, role });
          expect(created.statusCode).toBe(201);
          expect(json(created).role).toBe(role);
        }
        expectError(await t.call('POST', '/v1/ops/operators', adminToken, { name: 'Boss', role: 'root' }), 'invalid_request', 'role');
        expectError(await t.call('POST', '/v1/ops/operators', adminToken, { name: 'Boss' }), 'invalid_request', 'role');
        expectError(await t.call('POST', '/v1/ops/operators', adminToken, { role: 'viewer' }), 'invalid_request', 'name');
        expectError(await t.call('POST', '/v1/ops/operators', adminToken, { name: '', role: 'viewer' }), 'invalid_request', 'name');
        expectError(await t.call('POST', '/v1/ops/operators', adminToken, { name: 'x', role: 'viewer', token: 'mine' }), 'invalid_request', 'token');
      });

      it('answers 404 for an unknown or malformed operator id, and for an API key id', async () => {
        const platform = await signPlatform(t);
        const keyId = listOf(await t.call('GET', `/v1/ops/platforms/${platform.id}/api-keys`, adminToken)).data[0]?.id as string;
        expectNotFound(await t.call('DELETE', `/v1/ops/operators/${unknownId('op')}`, adminToken));
        expectNotFound(await t.call('DELETE', '/v1/ops/operators/op_123', adminToken));
        expectNotFound(await t.call('DELETE', `/v1/ops/operators/${keyId}`, adminToken));
        expectNotFound(await t.call('DELETE', `/v1/ops/operators/op_${keyId.slice('key_'.length)}`, adminToken));
        expect((await t.call('GET', '/v1/members', platform.apiKey)).statusCode).toBe(200);
      });

      // API.md Conventions: every list takes limit and starting_after.
      it('pages the operator list with limit and starting_after', async () => {
        await operatorToken(t, 'viewer');
        const page = listOf(await t.call('GET', '/v1/ops/operators?limit=1', adminToken));
        expect(page.data).toHaveLength(1);
        expect(page.has_more).toBe(true);
      });
    });

    describe('/v1/ops/clock', () => {
      it('reads the sandbox clock and moves it forward', async () => {
        const before = await t.call('GET', '/v1/ops/clock', adminToken);
        expect(before.statusCode).toBe(200);
        expect(json(before)).toEqual({ now: expect.stringMatching(rfc3339), sandbox: true });
        const moved = await t.call('POST', '/v1/ops/clock/advance', adminToken, { seconds: 7200 });
        expect(moved.statusCode).toBe(200);
        expect(json(moved)).toEqual({ now: expect.stringMatching(rfc3339), sandbox: true });
        const gainedMs = Date.parse(json(moved).now as string) - Date.parse(json(before).now as string);
        expect(gainedMs).toBeGreaterThanOrEqual(7200 * 1000);
        expect(gainedMs).toBeLessThan(7200 * 1000 + 3600 * 1000);
        const after = json(await t.call('GET', '/v1/ops/clock', adminToken));
        expect(Date.parse(after.now as string)).toBeGreaterThanOrEqual(Date.parse(json(moved).now as string));
      });

      it('refuses a bad advance with 400 param seconds', async () => {
        for (const body of [{}, { seconds: 0 }, { seconds: -60 }, { seconds: 1.5 }, { seconds: '60' }, { seconds: 366 * 24 * 3600 + 1 }]) {
          expectError(await t.call('POST', '/v1/ops/clock/advance', adminToken, body), 'invalid_request', 'seconds');
        }
        expectError(await t.call('POST', '/v1/ops/clock/advance', adminToken, { seconds: 1, days: 1 }), 'invalid_request', 'days');
      });
    });

    describe('GET /v1/ops/verification-fees', () => {
      it('reports no calls for a platform that made none', async () => {
        const platform = await signPlatform(t);
        const response = await t.call('GET', `/v1/ops/verification-fees?platform_id=${platform.id}`, adminToken);
        expect(response.statusCode).toBe(200);
        expectShape(json(response), {
          object: 'verification_fee_report',
          platform_id: platform.id,
          from: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/),
          to: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/),
          calls: 0,
          total_fee: 0,
          lines: [],
        });
        const ranged = await t.call('GET', `/v1/ops/verification-fees?platform_id=${platform.id}&from=2026-01-01&to=2026-01-31`, adminToken);
        expect(json(ranged)).toMatchObject({ from: '2026-01-01', to: '2026-01-31', calls: 0 });
      });

      it('refuses a missing platform_id or a bad date, and answers 404 for an unknown platform', async () => {
        const platform = await signPlatform(t);
        expectError(await t.call('GET', '/v1/ops/verification-fees', adminToken), 'invalid_request', 'platform_id');
        expectError(await t.call('GET', `/v1/ops/verification-fees?platform_id=${platform.id}&from=yesterday`, adminToken), 'invalid_request', 'from');
        expectError(await t.call('GET', `/v1/ops/verification-fees?platform_id=${platform.id}&to=2026-02-30`, adminToken), 'invalid_request', 'to');
        expectError(await t.call('GET', `/v1/ops/verification-fees?platform_id=${platform.id}&kind=sms`, adminToken), 'invalid_request', 'kind');
        expectNotFound(await t.call('GET', `/v1/ops/verification-fees?platform_id=${unknownId('plt')}`, adminToken));
        expectNotFound(await t.call('GET', '/v1/ops/verification-fees?platform_id=plt_bad', adminToken));
      });
    });
  });
}
