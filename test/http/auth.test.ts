import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADAPTERS } from '../support/adapters.js';
import {
  adminToken,
  expectError,
  goodCard,
  individual,
  json,
  listOf,
  openMember,
  operatorToken,
  signPlatform,
  startCard,
  unknownId,
} from '../support/http-fixtures.js';
import type { Json, OpenedMember, SignedPlatform, StartedCard } from '../support/http-fixtures.js';
import { openTestApp } from '../support/test-app.js';
import type { TestApp } from '../support/test-app.js';

type Role = 'viewer' | 'operator' | 'approver' | 'admin';
const roles: readonly Role[] = ['viewer', 'operator', 'approver', 'admin'];

interface Route {
  readonly method: 'GET' | 'POST' | 'DELETE';
  readonly url: string;
  readonly body?: Json;
}

interface OpsRoute extends Route {
  /** The lowest role API.md (and the route) allows. */
  readonly min: Role;
  /** What an allowed role gets for this request. */
  readonly ok: number;
}

const label = (route: Route): string => `${route.method} ${route.url.split('?')[0]}`;

for (const adapter of ADAPTERS) {
  describe(`authentication and authorisation (${adapter})`, () => {
    let t: TestApp;
    let platform: SignedPlatform;
    let member: OpenedMember;
    let card: StartedCard;
    const tokens = {} as Record<Role, string>;

    beforeAll(async () => {
      t = await openTestApp(adapter);
      platform = await signPlatform(t);
      member = await openMember(t, platform.apiKey);
      card = await startCard(t, platform.apiKey, member, 'four_element');
      for (const role of roles) tokens[role] = (await operatorToken(t, role)).token;
    });

    afterAll(async () => {
      await t?.dispose();
    });

    const platformRoutes = (): Route[] => [
      { method: 'POST', url: '/v1/members', body: { ...individual() } },
      { method: 'GET', url: '/v1/members' },
      { method: 'GET', url: `/v1/members/${member.id}` },
      { method: 'GET', url: `/v1/members/${member.id}/entries` },
      { method: 'POST', url: `/v1/members/${member.id}/cards`, body: { method: 'small_amount', card_number: goodCard() } },
      { method: 'GET', url: `/v1/members/${member.id}/cards` },
      { method: 'GET', url: `/v1/members/${member.id}/cards/${card.id}` },
      { method: 'POST', url: `/v1/members/${member.id}/cards/${card.id}/confirm`, body: card.answer },
      { method: 'DELETE', url: `/v1/members/${member.id}/cards/${card.id}` },
    ];

    const opsRoutes = (): OpsRoute[] => [
      { method: 'GET', url: '/v1/ops/platforms', min: 'viewer', ok: 200 },
      { method: 'GET', url: `/v1/ops/platforms/${platform.id}`, min: 'viewer', ok: 200 },
      { method: 'GET', url: '/v1/ops/clock', min: 'viewer', ok: 200 },
      { method: 'GET', url: `/v1/ops/verification-fees?platform_id=${platform.id}`, min: 'viewer', ok: 200 },
      { method: 'GET', url: `/v1/ops/platforms/${platform.id}/api-keys`, min: 'viewer', ok: 200 },
      { method: 'POST', url: '/v1/ops/clock/advance', body: { seconds: 1 }, min: 'operator', ok: 200 },
      { method: 'POST', url: '/v1/ops/platforms', body: { name: 'Role check' }, min: 'admin', ok: 201 },
      { method: 'POST', url: `/v1/ops/platforms/${platform.id}/api-keys`, body: { name: 'role check' }, min: 'admin', ok: 201 },
      { method: 'DELETE', url: `/v1/ops/platforms/${platform.id}/api-keys/${unknownId('key')}`, min: 'admin', ok: 404 },
      { method: 'POST', url: '/v1/ops/operators', body: { name: 'role check', role: 'viewer' }, min: 'admin', ok: 201 },
      { method: 'GET', url: '/v1/ops/operators', min: 'viewer', ok: 200 },
      { method: 'DELETE', url: `/v1/ops/operators/${unknownId('op')}`, min: 'admin', ok: 404 },
    ];

    const allRoutes = (): Route[] => [...platformRoutes(), ...opsRoutes()];

    async function codesFor(routes: Route[], authorization: Record<string, string>): Promise<string[]> {
      const out: string[] = [];
      for (const route of routes) {
        const response = await t.app.inject({ method: route.method, url: route.url, headers: authorization, ...(route.body ? { payload: route.body } : {}) });
        const body = response.json<{ error?: { code?: string } }>();
        out.push(`${label(route)} → ${response.statusCode} ${body.error?.code ?? ''}`);
      }
      return out;
    }

    it('answers 401 unauthenticated on every platform and ops route without a credential', async () => {
      const routes = allRoutes();
      expect(await codesFor(routes, {})).toEqual(routes.map((r) => `${label(r)} → 401 unauthenticated`));
      expectError(await t.call('GET', '/v1/members', null), 'unauthenticated');
      expectError(await t.call('GET', '/v1/ops/platforms', null), 'unauthenticated');
    });

    it('answers 401 to a credential that is not a Bearer token, too short, or unknown', async () => {
      const routes = [...platformRoutes().slice(0, 3), ...opsRoutes().slice(0, 3)];
      const expected = routes.map((r) => `${label(r)} → 401 unauthenticated`);
      expect(await codesFor(routes, { authorization: `Basic ${Buffer.from(`${platform.apiKey}:`).toString('base64')}` })).toEqual(expected);
      expect(await codesFor(routes, { authorization: `Token ${platform.apiKey}` })).toEqual(expected);
      expect(await codesFor(routes, { authorization: 'Bearer short' })).toEqual(expected);
      expect(await codesFor(routes, { authorization: `Bearer ck_test_${'A'.repeat(43)}` })).toEqual(expected);
      expect(await codesFor(routes, { authorization: `Bearer cot_${'A'.repeat(43)}` })).toEqual(expected);
      // A key of a platform is no operator token, even with the prefix swapped.
      expect(await codesFor(routes, { authorization: `Bearer ${platform.apiKey.replace('ck_test_', 'cot_')}` })).toEqual(expected);
    });

    it('accepts the Bearer scheme case-insensitively', async () => {
      const response = await t.app.inject({ method: 'GET', url: '/v1/members', headers: { authorization: `bearer ${platform.apiKey}` } });
      expect(response.statusCode).toBe(200);
    });

    it('answers 401 to a revoked API key while the platform’s other key keeps working', async () => {
      const other = await signPlatform(t);
      const issued = await t.call('POST', `/v1/ops/platforms/${other.id}/api-keys`, adminToken, { name: 'second' });
      expect(issued.statusCode).toBe(201);
      const second = json(issued);
      expect((await t.call('GET', '/v1/members', second.api_key as string)).statusCode).toBe(200);
      const revoked = await t.call('DELETE', `/v1/ops/platforms/${other.id}/api-keys/${second.id as string}`, adminToken);
      expect(revoked.statusCode).toBe(200);
      expectError(await t.call('GET', '/v1/members', second.api_key as string), 'unauthenticated');
      expectError(await t.call('POST', '/v1/members', second.api_key as string, { ...individual() }), 'unauthenticated');
      expect((await t.call('GET', '/v1/members', other.apiKey)).statusCode).toBe(200);
    });

    it('answers 401 to a revoked operator token', async () => {
      const operator = await operatorToken(t, 'admin');
      expect((await t.call('GET', '/v1/ops/operators', operator.token)).statusCode).toBe(200);
      expect((await t.call('DELETE', `/v1/ops/operators/${operator.id}`, adminToken)).statusCode).toBe(200);
      expectError(await t.call('GET', '/v1/ops/clock', operator.token), 'unauthenticated');
      expectError(await t.call('POST', '/v1/ops/platforms', operator.token, { name: 'After revocation' }), 'unauthenticated');
    });

    it('answers 403 forbidden to a platform key on every /v1/ops route, and does nothing', async () => {
      const before = listOf(await t.call('GET', '/v1/ops/platforms?limit=100', adminToken)).data.length;
      const routes = opsRoutes();
      expect(await codesFor(routes, { authorization: `Bearer ${platform.apiKey}` })).toEqual(routes.map((r) => `${label(r)} → 403 forbidden`));
      expectError(await t.call('GET', '/v1/ops/clock', platform.apiKey), 'forbidden');
      expect(listOf(await t.call('GET', '/v1/ops/platforms?limit=100', adminToken)).data.length).toBe(before);
    });

    it('answers 403 forbidden to an operator token (even an admin’s) on every platform route', async () => {
      const routes = platformRoutes();
      for (const token of [adminToken, tokens.viewer]) {
        expect(await codesFor(routes, { authorization: `Bearer ${token}` })).toEqual(routes.map((r) => `${label(r)} → 403 forbidden`));
      }
      expectError(await t.call('GET', '/v1/members', adminToken), 'forbidden');
      // The card was left alone: still verifying.
      const card2 = json(await t.call('GET', `/v1/members/${member.id}/cards/${card.id}`, platform.apiKey));
      expect(card2.status).toBe('verifying');
    });

    it('enforces cumulative roles on every ops route: viewer ⊂ operator ⊂ approver ⊂ admin', async () => {
      const routes = opsRoutes();
      const actual: string[] = [];
      const expected: string[] = [];
      for (const route of routes) {
        for (const role of roles) {
          const allowed = roles.indexOf(role) >= roles.indexOf(route.min);
          const response = await t.call(route.method, route.url, tokens[role], route.body);
          actual.push(`${role} ${label(route)} → ${response.statusCode}`);
          expected.push(`${role} ${label(route)} → ${allowed ? route.ok : 403}`);
          if (!allowed) expectError(response, 'forbidden');
        }
      }
      expect(actual).toEqual(expected);
    });

    it('checks the credential before the body: 401 and 403 win over schema errors', async () => {
      const malformed = { 'content-type': 'application/json' };
      const noCredential = await t.app.inject({ method: 'POST', url: '/v1/members', headers: malformed, payload: '{"external_id":' });
      expectError(noCredential, 'unauthenticated');
      expectError(await t.call('POST', '/v1/ops/platforms', platform.apiKey, { nonsense: true }), 'forbidden');
      expectError(await t.call('POST', '/v1/ops/platforms', tokens.approver, { nonsense: true }), 'forbidden');
      expectError(await t.call('POST', '/v1/members', adminToken, { nonsense: true }), 'forbidden');
    });

    it('serves the public routes without a credential', async () => {
      for (const url of ['/healthz', '/readyz', '/metrics', '/openapi.json']) {
        expect((await t.call('GET', url, null)).statusCode, url).toBe(200);
      }
    });
  });
}
