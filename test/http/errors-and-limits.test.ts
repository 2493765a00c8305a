import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { limits } from '../../src/limits.js';
import { ADAPTERS } from '../support/adapters.js';
import { adminToken, expectError, individual, json, listOf, openMember, signPlatform, startCard } from '../support/http-fixtures.js';
import type { SignedPlatform } from '../support/http-fixtures.js';
import { openTestApp } from '../support/test-app.js';
import type { TestApp } from '../support/test-app.js';

for (const adapter of ADAPTERS) {
  describe(`errors and limits (${adapter})`, () => {
    let t: TestApp;
    let platform: SignedPlatform;

    beforeAll(async () => {
      t = await openTestApp(adapter);
      platform = await signPlatform(t);
    });

    afterAll(async () => {
      await t?.dispose();
    });

    /** A raw POST with the platform key (or `token`), for bodies `call` would serialise. */
    const raw = (url: string, payload: string | Buffer, contentType: string | null, token = platform.apiKey) =>
      t.app.inject({
        method: 'POST',
        url,
        headers: { authorization: `Bearer ${token}`, ...(contentType === null ? {} : { 'content-type': contentType }) },
        payload,
      });

    /** `{"name":"xxx…"}` padded to exactly `bytes` bytes. */
    const bodyOfSize = (bytes: number) => {
      const skeleton = '{"name":""}';
      return `{"name":"${'x'.repeat(bytes - skeleton.length)}"}`;
    };

    it('answers malformed JSON with 400 invalid_request on platform and ops routes', async () => {
      for (const payload of ['{"external_id":', '{external_id: "a"}', "{'a':1}", '{"a":1}}', 'nul']) {
        expectError(await raw('/v1/members', payload, 'application/json'), 'invalid_request');
      }
      expectError(await raw('/v1/ops/platforms', '{"name":', 'application/json', adminToken), 'invalid_request');
      expectError(await raw('/v1/ops/clock/advance', '{"seconds": 1,}', 'application/json', adminToken), 'invalid_request');
    });

    it('answers an empty JSON body, a missing body and a non-object body with 400 invalid_request', async () => {
      expectError(await raw('/v1/members', '', 'application/json'), 'invalid_request');
      expectError(await t.call('POST', '/v1/members', platform.apiKey), 'invalid_request');
      expectError(await raw('/v1/members', '[]', 'application/json'), 'invalid_request');
      expectError(await raw('/v1/members', '"member"', 'application/json'), 'invalid_request');
      expectError(await raw('/v1/members', 'null', 'application/json'), 'invalid_request');
    });

    it('takes JSON with a charset parameter', async () => {
      const response = await raw('/v1/members', JSON.stringify(individual()), 'application/json; charset=utf-8');
      expect(response.statusCode).toBe(201);
    });

    it('answers a body over the limit with 413 request_too_large, and one within it normally', async () => {
      const over = await raw('/v1/members', bodyOfSize(limits.requestBodyBytesMax + 1), 'application/json');
      expectError(over, 'request_too_large');
      const within = await raw('/v1/members', bodyOfSize(limits.requestBodyBytesMax), 'application/json');
      expect(within.statusCode).toBe(400);
      expect((json(within).error as { code: string }).code).toBe('invalid_request');
      expectError(await raw('/v1/ops/platforms', bodyOfSize(limits.requestBodyBytesMax + 1024), 'application/json', adminToken), 'request_too_large');
      const listed = listOf(await t.call('GET', '/v1/members?limit=100', platform.apiKey)).data;
      expect(listed.filter((m) => (m.name as string).startsWith('x'))).toEqual([]);
    });

    it('answers a body that is not JSON with 415 unsupported_media_type', async () => {
      for (const type of ['application/xml', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'image/png']) {
        expectError(await raw('/v1/members', 'external_id=a&name=b', type), 'unsupported_media_type');
      }
      expectError(await raw('/v1/ops/platforms', '<platform/>', 'text/xml', adminToken), 'unsupported_media_type');
    });

    // errors.ts: unsupported_media_type is "The body is not application/json (or text/csv where
    // allowed)". Fastify's built-in text/plain parser is still registered, so a text/plain body
    // reaches the schema and is answered 400 invalid_request ("must be object") instead.
    it('answers a text/plain body with 415 unsupported_media_type', async () => {
      expectError(await raw('/v1/members', JSON.stringify(individual()), 'text/plain'), 'unsupported_media_type');
    });

    it('answers an unknown route or method with 404 not_found', async () => {
      expectError(await t.call('GET', '/v1/nothing-here', platform.apiKey), 'not_found');
      expectError(await t.call('GET', '/v2/members', platform.apiKey), 'not_found');
      expectError(await t.call('PUT', '/v1/members', platform.apiKey, individual()), 'not_found');
      expectError(await t.call('PATCH', '/v1/ops/platforms', adminToken, { name: 'x' }), 'not_found');
      expectError(await t.call('GET', '/v1/ops/nothing', null), 'not_found');
    });

    it('refuses amounts that are not JSON integers in 1..2^53−1 (param amount)', async () => {
      const member = await openMember(t, platform.apiKey);
      const card = await startCard(t, platform.apiKey, member, 'small_amount');
      const url = `/v1/members/${member.id}/cards/${card.id}/confirm`;
      for (const amount of ['100', '1e2', 12.5, 0, -1, Number.MAX_SAFE_INTEGER + 2, true, [12], { fen: 12 }]) {
        expectError(await t.call('POST', url, platform.apiKey, { amount }), 'invalid_request', 'amount');
      }
      // A big integer (beyond 2^53) sent as JSON text is refused, never rounded.
      expectError(await raw(url, '{"amount": 9007199254740993}', 'application/json'), 'invalid_request', 'amount');
      // None of these was a wrong answer: the right amount still binds.
      expect(json(await t.call('POST', url, platform.apiKey, card.answer)).status).toBe('bound');
    });

    it('gives every error a request id that matches the request-id header, and every answer the header', async () => {
      const ok = await t.call('GET', '/v1/members', platform.apiKey);
      expect(ok.headers['request-id']).toMatch(/^req_/);
      const failures = [
        await t.call('GET', '/v1/members', null),
        await t.call('GET', '/v1/ops/clock', platform.apiKey),
        await t.call('GET', '/v1/members/mbr_nope', platform.apiKey),
        await t.call('POST', '/v1/members', platform.apiKey, { nope: 1 }),
      ];
      const ids = failures.map((f) => (json(f).error as { request_id: string }).request_id);
      for (const [i, failure] of failures.entries()) expect(ids[i]).toBe(failure.headers['request-id']);
      expect(new Set(ids).size).toBe(ids.length);
    });
  });

  describe(`rate limit (${adapter})`, () => {
    let t: TestApp;
    let first: SignedPlatform;
    let second: SignedPlatform;

    beforeAll(async () => {
      t = await openTestApp(adapter, {}, { rateLimitPerWindow: 5 });
      // Signing uses the admin token's own bucket.
      first = await signPlatform(t);
      second = await signPlatform(t);
    });

    afterAll(async () => {
      await t?.dispose();
    });

    it('answers the 6th request of one key in a window with 429 rate_limited and Retry-After; another key still passes', async () => {
      // Sent together, so the six fall in one window of the limiter.
      const burst = await Promise.all(Array.from({ length: 6 }, () => t.call('GET', '/v1/members', first.apiKey)));
      const other = await t.call('GET', '/v1/members', second.apiKey);
      const statuses = burst.map((r) => r.statusCode);
      expect(statuses.filter((s) => s === 200)).toHaveLength(5);
      const limited = burst.filter((r) => r.statusCode === 429);
      expect(limited).toHaveLength(1);
      const [refused] = limited;
      if (refused === undefined) throw new Error('no 429');
      expectError(refused, 'rate_limited');
      expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(other.statusCode).toBe(200);
    });

    // app.ts keys the limiter "per credential …, or per address without one". But the limiter is
    // a route-level onRequest hook and runs after the auth hook: a request without a credential
    // is refused 401 first, so it is counted against the address yet never answered 429 (and
    // the public probes of that address, /healthz and /readyz, are then the ones refused).
    it('answers the 6th request without a credential from one address with 429 rate_limited', async () => {
      const burst = await Promise.all(Array.from({ length: 6 }, () => t.call('GET', '/v1/members', null)));
      expect(burst.map((r) => r.statusCode).sort()).toEqual([401, 401, 401, 401, 401, 429]);
    });
  });
}
