import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorsMarkdown } from '../../src/error-docs.js';
import { errorCatalog, errorCodes } from '../../src/errors.js';
import { openApiDocument } from '../../src/http/app.js';
import { openTestApp } from '../support/test-app.js';
import type { TestApp } from '../support/test-app.js';

/** API.md names these codes; the catalog must hold every one, with its status. */
const contractCodes: Record<string, number> = {
  invalid_request: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  rate_limited: 429,
  unavailable: 503,
  idempotency_key_reused: 409,
  idempotency_key_in_use: 409,
  duplicate_order_no: 409,
  day_not_over: 409,
  insufficient_funds: 422,
  withdrawal_not_allowed: 422,
  card_not_bound: 422,
  card_not_owned: 422,
  member_not_verified: 422,
  amount_exceeds_limit: 422,
  order_not_confirmable: 422,
  refund_exceeds_paid: 422,
  verification_failed: 422,
  too_many_payees: 422,
  currency_mismatch: 422,
  account_frozen: 422,
  maker_cannot_approve: 422,
  consent_required: 422,
};

describe('the error catalog, docs/errors.md and the OpenAPI document agree', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await openTestApp('pglite');
  });
  afterAll(async () => {
    await t.dispose();
  });

  it('holds every code of the contract with its status', () => {
    for (const [code, status] of Object.entries(contractCodes)) {
      expect([code, errorCatalog[code as keyof typeof errorCatalog]?.status]).toEqual([code, status]);
    }
  });

  it('docs/errors.md is the catalog (regenerate with `custos docs errors`)', async () => {
    const docs = await readFile(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    expect(docs).toBe(errorsMarkdown());
    const listed = [...docs.matchAll(/^\| `([a-z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])]);
    expect(listed).toEqual(errorCodes.map((code) => [code, errorCatalog[code].status]));
  });

  it('the OpenAPI document lists every code, in x-error-codes and in the Error schema', async () => {
    await t.app.ready();
    const document = openApiDocument(t.app) as {
      'x-error-codes': { code: string; status: number }[];
      components: { schemas: Record<string, { properties: { error: { properties: { code: { enum?: string[] } } } } }> };
    };
    expect(document['x-error-codes'].map((e) => [e.code, e.status])).toEqual(errorCodes.map((code) => [code, errorCatalog[code].status]));
    const errorSchema = Object.values(document.components.schemas).find((schema) => schema.properties?.error !== undefined);
    const enumerated = errorSchema?.properties.error.properties.code.enum;
    expect(enumerated).toEqual(errorCodes);
    const served = await t.call('GET', '/openapi.json', null);
    expect(served.json()['x-error-codes']).toEqual(document['x-error-codes']);
  });
});
