import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCatalog } from '../../src/errors.js';
import { ADAPTERS } from '../support/adapters.js';
import {
  adminToken,
  bindCard,
  cardEndingIn,
  enterprise,
  individual,
  json,
  mobile,
  openMember,
  operatorToken,
  residentId,
  signPlatform,
} from '../support/http-fixtures.js';
import type { Json } from '../support/http-fixtures.js';
import { openTestApp } from '../support/test-app.js';
import type { TestApp } from '../support/test-app.js';

/** The /v1 endpoints this suite covers, as OpenAPI spells them (the app may serve more). */
const v1Operations = [
  'POST /v1/ops/platforms',
  'GET /v1/ops/platforms',
  'GET /v1/ops/platforms/{id}',
  'POST /v1/ops/platforms/{id}/api-keys',
  'GET /v1/ops/platforms/{id}/api-keys',
  'DELETE /v1/ops/platforms/{id}/api-keys/{key_id}',
  'POST /v1/ops/operators',
  'GET /v1/ops/operators',
  'DELETE /v1/ops/operators/{id}',
  'GET /v1/ops/clock',
  'POST /v1/ops/clock/advance',
  'GET /v1/ops/verification-fees',
  'POST /v1/members',
  'GET /v1/members',
  'GET /v1/members/{id}',
  'GET /v1/members/{id}/entries',
  'POST /v1/members/{id}/cards',
  'GET /v1/members/{id}/cards',
  'GET /v1/members/{id}/cards/{card_id}',
  'POST /v1/members/{id}/cards/{card_id}/confirm',
  'DELETE /v1/members/{id}/cards/{card_id}',
].sort();

/** Every error code API.md names (Conventions, Business refusals, conflicts). */
const apiMdErrorCodes = [
  'invalid_request',
  'unauthenticated',
  'forbidden',
  'not_found',
  'rate_limited',
  'unavailable',
  'insufficient_funds',
  'withdrawal_not_allowed',
  'card_not_bound',
  'card_not_owned',
  'member_not_verified',
  'amount_exceeds_limit',
  'order_not_confirmable',
  'refund_exceeds_paid',
  'verification_failed',
  'too_many_payees',
  'currency_mismatch',
  'account_frozen',
  'maker_cannot_approve',
  'consent_required',
  'duplicate_order_no',
  'idempotency_key_reused',
  'idempotency_key_in_use',
  'day_not_over',
];

/**
 * The app's own routes, read from `printRoutes({ commonPrefix: false })`: a tree of lines like
 * `│   └── /:id (GET, HEAD)`, four characters per level.
 */
function routesOf(tree: string): string[] {
  const stack: string[] = [];
  const out: string[] = [];
  for (const line of tree.split('\n')) {
    const match = /^(.*?)[├└]── (\S+) \(([A-Z, ]+)\)\s*$/.exec(line);
    if (match === null) continue;
    const depth = (match[1] ?? '').length / 4;
    stack.length = depth;
    stack.push(match[2] ?? '');
    const path = stack.join('').replace(/:([a-z_]+)/g, '{$1}');
    for (const method of (match[3] ?? '').split(', ')) if (method !== 'HEAD') out.push(`${method} ${path}`);
  }
  return out;
}

for (const adapter of ADAPTERS) {
  describe(`service endpoints, the OpenAPI document and the log (${adapter})`, () => {
    let t: TestApp;
    /** Every log line of the app (pino JSON), for the test that no secret reaches the log. */
    const lines: string[] = [];

    beforeAll(async () => {
      t = await openTestApp(adapter, {}, { logger: { level: 'trace', stream: { write: (line: string) => void lines.push(line) } } });
    });

    afterAll(async () => {
      await t?.dispose();
    });

    it('answers /healthz and /readyz', async () => {
      const health = await t.call('GET', '/healthz', null);
      expect(health.statusCode).toBe(200);
      expect(health.json()).toEqual({ status: 'ok' });
      const ready = await t.call('GET', '/readyz', null);
      expect(ready.statusCode).toBe(200);
      expect(ready.json()).toEqual({ status: 'ready' });
    });

    it('counts requests in /metrics (Prometheus text) by method, route and status', async () => {
      const platform = await signPlatform(t);
      await openMember(t, platform.apiKey);
      await t.call('GET', '/v1/members/mbr_nope', platform.apiKey);
      const metrics = await t.call('GET', '/metrics', null);
      expect(metrics.statusCode).toBe(200);
      expect(metrics.headers['content-type']).toMatch(/^text\/plain/);
      const text = metrics.body;
      expect(text).toContain('# TYPE custos_http_requests_total counter');
      expect(text).toMatch(/^custos_http_requests_total\{method="POST",route="\/v1\/ops\/platforms",status="201"\} [1-9]\d*$/m);
      expect(text).toMatch(/^custos_http_requests_total\{method="POST",route="\/v1\/members",status="201"\} [1-9]\d*$/m);
      expect(text).toMatch(/^custos_http_requests_total\{method="GET",route="\/v1\/members\/:id",status="404"\} [1-9]\d*$/m);
      expect(text).toContain('custos_http_request_duration_seconds_bucket');
      // Ids, keys and personal data are never labels.
      expect(text).not.toContain(platform.apiKey);
      expect(text).not.toContain('mbr_');
    });

    it('serves an OpenAPI 3.1 document listing exactly the app’s /v1 routes, the known ones included', async () => {
      const response = await t.call('GET', '/openapi.json', null);
      expect(response.statusCode).toBe(200);
      expect(response.headers['content-type']).toMatch(/^application\/json/);
      const document = response.json<{ openapi: string; paths: Record<string, Record<string, Json>> }>();
      expect(document.openapi).toMatch(/^3\.1\./);
      const documented = Object.entries(document.paths)
        .flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`))
        .sort();
      const served = routesOf(t.app.printRoutes({ commonPrefix: false })).filter((route) => route.split(' ')[1]?.startsWith('/v1/'));
      expect(served.length).toBeGreaterThanOrEqual(v1Operations.length);
      expect(documented).toEqual(served.sort());
      for (const operation of v1Operations) expect(documented, operation).toContain(operation);
      for (const operation of v1Operations) {
        const [method, path] = operation.split(' ') as [string, string];
        expect(t.app.hasRoute({ method: method as 'GET', url: path.replace(/\{([a-z_]+)\}/g, ':$1') }), operation).toBe(true);
      }
    });

    it('documents each known /v1 operation with its credential, an operation id and the error responses', async () => {
      const document = (await t.call('GET', '/openapi.json', null)).json<{ paths: Record<string, Record<string, Json>> }>();
      const operationIds = new Set<string>();
      for (const [path, operations] of Object.entries(document.paths)) {
        for (const [method, operation] of Object.entries(operations)) {
          const name = `${method.toUpperCase()} ${path}`;
          operationIds.add(operation.operationId as string);
          if (!v1Operations.includes(name)) continue;
          expect(operation.security, name).toEqual([path.startsWith('/v1/ops/') ? { operatorToken: [] } : { platformKey: [] }]);
          expect(typeof operation.operationId, name).toBe('string');
          const responses = operation.responses as Record<string, Json>;
          for (const status of ['400', '401', '403', '404', '429']) expect(Object.keys(responses), name).toContain(status);
        }
      }
      expect(operationIds.size).toBe(Object.values(document.paths).reduce((n, operations) => n + Object.keys(operations).length, 0));
      // Request bodies come from the validating schemas: the member body is closed.
      const createMember = document.paths['/v1/members']?.post as { requestBody: { content: Record<string, { schema: Json }> } };
      const schema = createMember.requestBody.content['application/json']?.schema as Json;
      expect(schema.additionalProperties).toBe(false);
      expect([...(schema.required as string[])].sort()).toEqual(['external_id', 'id_number', 'name', 'phone', 'type']);
    });

    it('lists the error catalog under x-error-codes, including every code of API.md', async () => {
      const document = (await t.call('GET', '/openapi.json', null)).json<{ 'x-error-codes': Array<{ code: string; status: number; description: string }> }>();
      const listed = document['x-error-codes'];
      expect(listed).toEqual(Object.entries(errorCatalog).map(([code, entry]) => ({ code, status: entry.status, description: entry.description })));
      const codes = listed.map((entry) => entry.code);
      for (const code of apiMdErrorCodes) expect(codes).toContain(code);
      expect(new Set(codes).size).toBe(codes.length);
    });

    it('needs no credential for the document, and keeps the operator token out of it', async () => {
      const response = await t.call('GET', '/openapi.json', null);
      expect(response.statusCode).toBe(200);
      expect(response.body).not.toContain(adminToken);
    });

    // API.md Conventions: "Every code is listed in docs/errors.md, and a test keeps that list,
    // the code and the OpenAPI document equal."
    it('keeps the table of docs/errors.md equal to the catalog', () => {
      const text = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
      const rows = [...text.matchAll(/^\| `([a-z_]+)` \| (\d{3}) \| (.*) \|$/gm)].map((m) => ({ code: m[1], status: Number(m[2]), description: m[3] }));
      expect(rows).toEqual(Object.entries(errorCatalog).map(([code, entry]) => ({ code, status: entry.status, description: entry.description })));
    });

    it('logs requests, and no API key, operator token, id number, phone or card number used', async () => {
      const secrets: string[] = [adminToken];
      const platform = await signPlatform(t, { legal_id_number: residentId() });
      secrets.push(platform.apiKey);
      const extraKey = json(await t.call('POST', `/v1/ops/platforms/${platform.id}/api-keys`, adminToken, { name: 'second' })).api_key as string;
      secrets.push(extraKey);
      const operator = await operatorToken(t, 'viewer');
      secrets.push(operator.token);

      const person = await openMember(t, platform.apiKey, individual({ name: '王小明' }));
      const firm = await openMember(t, platform.apiKey, enterprise());
      secrets.push(person.input.id_number, person.input.phone, firm.input.id_number, firm.input.phone, '王小明');
      const four = await bindCard(t, platform.apiKey, person, 'four_element');
      const small = await bindCard(t, platform.apiKey, firm, 'small_amount');
      secrets.push(four.cardNumber, small.cardNumber);

      // Refusals carry the same data in their requests.
      const mismatch = cardEndingIn('0002');
      secrets.push(mismatch);
      await t.call('POST', `/v1/members/${person.id}/cards`, platform.apiKey, { method: 'four_element', card_number: mismatch, phone: person.input.phone });
      const badPhone = mobile().replace(/^139/, '129');
      secrets.push(badPhone);
      await t.call('POST', '/v1/members', platform.apiKey, { ...individual({ phone: badPhone }) });
      const wrongId = residentId().slice(0, 17) + 'Z';
      secrets.push(wrongId);
      await t.call('POST', '/v1/members', platform.apiKey, { ...individual({ id_number: wrongId }) });
      await t.call('GET', '/v1/members', `${platform.apiKey}x`);
      await t.call('GET', '/v1/ops/clock', operator.token);
      await t.call('POST', '/v1/members', platform.apiKey, { ...individual() }, { 'idempotency-key': 'logged-key-1' });
      await t.app.inject({
        method: 'POST',
        url: '/v1/members',
        headers: { authorization: `Bearer ${platform.apiKey}`, 'content-type': 'application/json' },
        payload: `{"id_number":"${person.input.id_number}",`,
      });

      // The logger is wired: every request above left its lines.
      expect(lines.length).toBeGreaterThan(20);
      expect(lines.some((line) => line.includes('"url":"/v1/members"'))).toBe(true);
      const leaks = lines.flatMap((line) => secrets.filter((secret) => line.includes(secret)).map((secret) => `${secret} in ${line}`));
      expect(leaks).toEqual([]);
      // Nor any part of a secret long enough to matter.
      for (const secret of [platform.apiKey, extraKey, operator.token]) {
        expect(lines.some((line) => line.includes(secret.slice(-20)))).toBe(false);
      }
    });
  });
}
