import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CustodyError } from '../../src/errors.js';
import { checkEvents, checkUrl, webhookEventTypes, WebhookService } from '../../src/custody/webhook-service.js';
import { fromPublicId } from '../../src/public-ids.js';
import { ADAPTERS } from '../support/adapters.js';
import { expectError, expectNotFound, expectShape, json, listOf, operatorToken, signPlatform, unknownId } from '../support/http-fixtures.js';
import type { SignedPlatform } from '../support/http-fixtures.js';
import { openWebhookApp } from './webhook-support.js';
import type { WebhookApp } from './webhook-support.js';

const rfc3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

for (const adapter of ADAPTERS) {
  describe(`webhooks: endpoints (${adapter})`, () => {
    let t: WebhookApp;
    let platform: SignedPlatform;
    let key: string;

    beforeAll(async () => {
      t = await openWebhookApp(adapter);
      platform = await signPlatform(t);
      key = platform.apiKey;
    });

    afterAll(async () => {
      await t?.dispose();
    });

    it('creates an endpoint: 201 with id we_…, url, events, status and the secret, shown once', async () => {
      const response = await t.call('POST', '/v1/webhook-endpoints', key, { url: 'https://hooks.example.com/custos', events: ['payin.succeeded', 'order.paid'] });
      expect(response.statusCode, response.body).toBe(201);
      const created = json(response);
      expectShape(created, {
        id: expect.stringMatching(/^we_[0-9a-z]{26}$/),
        object: 'webhook_endpoint',
        url: 'https://hooks.example.com/custos',
        events: ['payin.succeeded', 'order.paid'],
        status: 'active',
        secret: expect.stringMatching(/^whsec_[A-Za-z0-9_-]{43}$/),
        failing_since: null,
        previous_secret_expires_at: null,
        created: expect.stringMatching(rfc3339),
      });
      const read = json(await t.call('GET', `/v1/webhook-endpoints/${created.id as string}`, key));
      expect(read).not.toHaveProperty('secret');
      const { secret: _secret, ...rest } = created;
      expect(read).toEqual(rest);
      const listed = listOf(await t.call('GET', '/v1/webhook-endpoints', key));
      expect(listed.data.map((e) => e.id)).toContain(created.id);
      expect(listed.data.every((e) => !('secret' in e))).toBe(true);
      // The secret is stored encrypted, never in clear.
      const rows = await t.store.listEndpoints(rowsPlatform(platform), 100);
      expect(rows.every((row) => !row.secret_enc.includes(created.secret as string) && row.secret_enc.startsWith('v1.'))).toBe(true);
    });

    it('accepts ["*"], and in the sandbox plain http:// to 127.0.0.1, localhost and [::1]', async () => {
      for (const url of ['http://127.0.0.1:8080/hook', 'http://localhost/hook', 'http://[::1]:9000/hook']) {
        const response = await t.call('POST', '/v1/webhook-endpoints', key, { url, events: ['*'] });
        expect(response.statusCode, `${url}: ${response.body}`).toBe(201);
        expect(json(response).events).toEqual(['*']);
      }
    });

    it('refuses a URL that is not https:// (loopback http aside), naming url', async () => {
      for (const url of ['http://hooks.example.com/custos', 'ftp://hooks.example.com/', 'https://user:pw@hooks.example.com/', 'not a url', 'https://hooks.example.com/#frag', 'http://10.0.0.1/hook']) {
        expectError(await t.call('POST', '/v1/webhook-endpoints', key, { url, events: ['*'] }), 'invalid_request', 'url');
      }
    });

    it('refuses an unknown event type, "*" with others, and no types at all, naming events', async () => {
      expectError(await t.call('POST', '/v1/webhook-endpoints', key, { url: 'https://a.example.com/', events: ['payin.succeeded', 'payin.exploded'] }), 'invalid_request', 'events');
      expectError(await t.call('POST', '/v1/webhook-endpoints', key, { url: 'https://a.example.com/', events: ['*', 'payin.succeeded'] }), 'invalid_request', 'events');
      expectError(await t.call('POST', '/v1/webhook-endpoints', key, { url: 'https://a.example.com/', events: [] }), 'invalid_request', 'events');
      expectError(await t.call('POST', '/v1/webhook-endpoints', key, { url: 'https://a.example.com/' }), 'invalid_request', 'events');
      expectError(await t.call('POST', '/v1/webhook-endpoints', key, { url: 'https://a.example.com/', events: ['*'], extra: 1 }), 'invalid_request', 'extra');
    });

    it("another platform's endpoints and events are not found; operators use /v1/ops", async () => {
      const created = json(await t.call('POST', '/v1/webhook-endpoints', key, { url: 'https://mine.example.com/', events: ['*'] }));
      const other = await signPlatform(t);
      expectNotFound(await t.call('GET', `/v1/webhook-endpoints/${created.id as string}`, other.apiKey));
      expectNotFound(await t.call('POST', `/v1/webhook-endpoints/${created.id as string}/disable`, other.apiKey));
      expectNotFound(await t.call('POST', `/v1/webhook-endpoints/${created.id as string}/rotate-secret`, other.apiKey, {}));
      expectNotFound(await t.call('GET', `/v1/webhook-endpoints/${created.id as string}/deliveries`, other.apiKey));
      expect(listOf(await t.call('GET', '/v1/webhook-endpoints', other.apiKey)).data).toEqual([]);
      expectNotFound(await t.call('GET', `/v1/webhook-endpoints/${unknownId('we')}`, key));
      expectNotFound(await t.call('GET', `/v1/events/${unknownId('evt')}`, key));
      expectNotFound(await t.call('POST', `/v1/events/${unknownId('evt')}/redeliver`, key, {}));
      const viewer = await operatorToken(t, 'viewer');
      expectError(await t.call('GET', '/v1/webhook-endpoints', viewer.token), 'forbidden');
      const all = listOf(await t.call('GET', `/v1/ops/webhook-endpoints?platform_id=${platform.id}&limit=100`, viewer.token));
      expect(all.data.map((e) => e.id)).toContain(created.id);
      expect(all.data.every((e) => e.platform_id === platform.id && !('secret' in e))).toBe(true);
    });

    it('disables an endpoint; a disabled one cannot be rotated; list pages by starting_after', async () => {
      const own = await signPlatform(t);
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.push(json(await t.call('POST', '/v1/webhook-endpoints', own.apiKey, { url: `https://h${i}.example.com/`, events: ['*'] })).id as string);
      const first = listOf(await t.call('GET', '/v1/webhook-endpoints?limit=2', own.apiKey));
      expect([first.data.map((e) => e.id), first.has_more]).toEqual([ids.slice(0, 2), true]);
      const next = listOf(await t.call('GET', `/v1/webhook-endpoints?limit=2&starting_after=${ids[1] ?? ''}`, own.apiKey));
      expect([next.data.map((e) => e.id), next.has_more]).toEqual([ids.slice(2), false]);
      const disabled = await t.call('POST', `/v1/webhook-endpoints/${ids[0] ?? ''}/disable`, own.apiKey);
      expect(disabled.statusCode, disabled.body).toBe(200);
      expect(json(disabled).status).toBe('disabled');
      expectError(await t.call('POST', `/v1/webhook-endpoints/${ids[0] ?? ''}/rotate-secret`, own.apiKey, {}), 'state_conflict', 'id');
      expectError(await t.call('POST', `/v1/webhook-endpoints/${ids[1] ?? ''}/rotate-secret`, own.apiKey, { overlap_seconds: -1 }), 'invalid_request', 'overlap_seconds');
    });

    it('documents every webhook operation in OpenAPI with its credential, a unique operation id and the error responses', async () => {
      const document = (await t.call('GET', '/openapi.json', null)).json<{ paths: Record<string, Record<string, { operationId?: string; security?: unknown; responses?: Record<string, unknown> }>> }>();
      const ours = [
        'POST /v1/webhook-endpoints',
        'GET /v1/webhook-endpoints',
        'GET /v1/webhook-endpoints/{id}',
        'POST /v1/webhook-endpoints/{id}/disable',
        'POST /v1/webhook-endpoints/{id}/rotate-secret',
        'GET /v1/webhook-endpoints/{id}/deliveries',
        'GET /v1/events/{id}',
        'POST /v1/events/{id}/redeliver',
        'GET /v1/ops/webhook-endpoints',
      ];
      const ids = new Set<string>();
      for (const name of ours) {
        const [method, path] = name.split(' ') as [string, string];
        const operation = document.paths[path]?.[method.toLowerCase()];
        expect(operation, name).toBeDefined();
        expect(operation?.security, name).toEqual([path.startsWith('/v1/ops/') ? { operatorToken: [] } : { platformKey: [] }]);
        for (const status of ['400', '401', '403', '404', '429']) expect(Object.keys(operation?.responses ?? {}), name).toContain(status);
        ids.add(operation?.operationId ?? '');
      }
      expect(ids.size).toBe(ours.length);
    });

    it('outside the sandbox only https:// to a public host is accepted', async () => {
      const live = new WebhookService(t.store, t.vault, t.runtime.clock, false);
      for (const url of ['http://127.0.0.1:8080/', 'https://127.0.0.1/', 'https://localhost/', 'https://10.1.2.3/', 'https://192.168.0.1/', 'https://169.254.169.254/', 'https://[::1]/', 'https://[fd00::1]/']) {
        await expect(live.create(rowsPlatform(platform), { url, events: ['*'] }), url).rejects.toMatchObject({ code: 'invalid_request', param: 'url' });
      }
      const { endpoint } = await live.create(rowsPlatform(platform), { url: 'https://hooks.example.com/live', events: ['*'] });
      expect(endpoint.status).toBe('active');
    });
  });
}

describe('webhooks: validation rules', () => {
  it('every catalogued type is accepted alone and together; repeats are dropped', () => {
    for (const type of webhookEventTypes) expect(checkEvents([type])).toEqual([type]);
    expect(checkEvents([...webhookEventTypes, 'payin.created'])).toEqual([...webhookEventTypes]);
    expect(() => checkEvents(['payin.*'])).toThrow(CustodyError);
  });

  it('URLs: https anywhere public; http only to loopback in sandbox', () => {
    expect(checkUrl('https://example.com/x?y=1', false)).toBe('https://example.com/x?y=1');
    expect(checkUrl('http://localhost:3000/x', true)).toBe('http://localhost:3000/x');
    expect(() => checkUrl('http://localhost:3000/x', false)).toThrow(CustodyError);
    expect(() => checkUrl('http://127.0.0.2/x', true)).toThrow(CustodyError);
    expect(() => checkUrl(`https://example.com/${'a'.repeat(2100)}`, false)).toThrow(CustodyError);
  });
});

/** The internal id of a platform (its public id decoded). */
function rowsPlatform(platform: SignedPlatform): string {
  const internal = fromPublicId('platform', platform.id);
  if (internal === null) throw new Error('not a platform id');
  return internal;
}
