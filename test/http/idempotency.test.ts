import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/http/idempotency.js';
import { limits } from '../../src/limits.js';
import { fromPublicId } from '../../src/public-ids.js';
import { ADAPTERS } from '../support/adapters.js';
import {
  adminToken,
  cardEndingIn,
  expectError,
  feeReport,
  individual,
  json,
  listOf,
  openMember,
  signPlatform,
  startCard,
} from '../support/http-fixtures.js';
import type { Json, SignedPlatform } from '../support/http-fixtures.js';
import { openTestApp } from '../support/test-app.js';
import type { TestApp } from '../support/test-app.js';

let keySequence = 0;
const newKey = () => `idem-${process.pid}-${++keySequence}`;
const withKey = (key: string) => ({ 'idempotency-key': key });

for (const adapter of ADAPTERS) {
  describe(`Idempotency-Key (${adapter})`, () => {
    let t: TestApp;
    let platform: SignedPlatform;

    beforeAll(async () => {
      t = await openTestApp(adapter);
      platform = await signPlatform(t);
    });

    afterAll(async () => {
      await t?.dispose();
    });

    const membersWith = async (externalId: string, apiKey = platform.apiKey) =>
      listOf(await t.call('GET', `/v1/members?external_id=${externalId}`, apiKey)).data;

    it('replays the first response byte for byte, with Idempotent-Replayed: true, and creates once', async () => {
      const key = newKey();
      const body = { ...individual() };
      const first = await t.call('POST', '/v1/members', platform.apiKey, body, withKey(key));
      expect(first.statusCode).toBe(201);
      expect(first.headers['idempotent-replayed']).toBeUndefined();
      for (let i = 0; i < 2; i++) {
        const again = await t.call('POST', '/v1/members', platform.apiKey, body, withKey(key));
        expect(again.statusCode).toBe(201);
        expect(again.headers['idempotent-replayed']).toBe('true');
        expect(again.body).toBe(first.body);
        expect(again.headers['content-type']).toBe(first.headers['content-type']);
        expect(again.headers['request-id']).not.toBe(first.headers['request-id']);
      }
      expect((await membersWith(body.external_id)).map((m) => m.id)).toEqual([json(first).id]);
    });

    it('keeps the stored answer sealed: a secret shown once is replayed, never stored in the clear', async () => {
      const key = newKey();
      const first = await t.call('POST', '/v1/ops/platforms', adminToken, { name: 'Sealed shop' }, withKey(key));
      expect(first.statusCode).toBe(201);
      const apiKey = json(first).api_key as string;
      expect(apiKey).toMatch(/^ck_/);
      const again = await t.call('POST', '/v1/ops/platforms', adminToken, { name: 'Sealed shop' }, withKey(key));
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(again.body).toBe(first.body);
      const { rows } = await sql<{ response_body: string }>`select response_body from idempotent_requests where key = ${key}`.execute(t.runtime.ledger.kysely);
      expect(rows).toHaveLength(1);
      expect(rows[0]?.response_body).not.toContain(apiKey);
      expect(rows[0]?.response_body).not.toContain('Sealed shop');
      // Sealed to its key: moved under another key, it does not open.
      const other = newKey();
      await t.call('POST', '/v1/ops/platforms', adminToken, { name: 'Other shop' }, withKey(other));
      await sql`update idempotent_requests set response_body = ${rows[0]?.response_body ?? ''} where key = ${other}`.execute(t.runtime.ledger.kysely);
      expect((await t.call('POST', '/v1/ops/platforms', adminToken, { name: 'Other shop' }, withKey(other))).statusCode).toBe(500);
    });

    it('treats the same parameters in another order as the same request', async () => {
      const key = newKey();
      const body = { ...individual() };
      const reordered = Object.fromEntries(Object.entries(body).reverse());
      expect(Object.keys(reordered)).not.toEqual(Object.keys(body));
      const first = await t.call('POST', '/v1/members', platform.apiKey, body, withKey(key));
      const again = await t.call('POST', '/v1/members', platform.apiKey, reordered, withKey(key));
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(again.body).toBe(first.body);
    });

    it('answers 409 idempotency_key_reused for the same key with another body or path, and runs nothing', async () => {
      const key = newKey();
      const body = { ...individual() };
      const first = await t.call('POST', '/v1/members', platform.apiKey, body, withKey(key));
      expect(first.statusCode).toBe(201);
      const other = { ...individual() };
      expectError(await t.call('POST', '/v1/members', platform.apiKey, other, withKey(key)), 'idempotency_key_reused', 'Idempotency-Key');
      expect(await membersWith(other.external_id)).toEqual([]);
      const member = json(first);
      const elsewhere = await t.call('POST', `/v1/members/${member.id as string}/cards`, platform.apiKey, { method: 'small_amount', card_number: cardEndingIn('4321') }, withKey(key));
      expectError(elsewhere, 'idempotency_key_reused', 'Idempotency-Key');
      expect(listOf(await t.call('GET', `/v1/members/${member.id as string}/cards`, platform.apiKey)).data).toEqual([]);
      // The refusal is not kept: the key still replays the first response.
      const again = await t.call('POST', '/v1/members', platform.apiKey, body, withKey(key));
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(again.body).toBe(first.body);
    });

    it('scopes keys to the credential: another API key of the platform runs the request again', async () => {
      const issued = json(await t.call('POST', `/v1/ops/platforms/${platform.id}/api-keys`, adminToken, { name: 'second' }));
      const secondKey = issued.api_key as string;
      const key = newKey();
      const body = { ...individual() };
      const first = await t.call('POST', '/v1/members', platform.apiKey, body, withKey(key));
      expect(first.statusCode).toBe(201);
      const second = await t.call('POST', '/v1/members', secondKey, body, withKey(key));
      expect(second.headers['idempotent-replayed']).toBeUndefined();
      expectError(second, 'duplicate_external_id', 'external_id');
      expect((await membersWith(body.external_id)).map((m) => m.id)).toEqual([json(first).id]);
    });

    it('scopes keys to the operator: two admins with one key create two operators; one admin twice, one', async () => {
      const other = json(await t.call('POST', '/v1/ops/operators', adminToken, { name: 'Second admin', role: 'admin' }));
      const key = newKey();
      const body = { name: `Keyed ${key}`, role: 'viewer' };
      const first = await t.call('POST', '/v1/ops/operators', adminToken, body, withKey(key));
      const replay = await t.call('POST', '/v1/ops/operators', adminToken, body, withKey(key));
      const byOther = await t.call('POST', '/v1/ops/operators', other.token as string, body, withKey(key));
      expect([first.statusCode, replay.statusCode, byOther.statusCode]).toEqual([201, 201, 201]);
      expect(replay.body).toBe(first.body);
      expect(replay.headers['idempotent-replayed']).toBe('true');
      expect(byOther.headers['idempotent-replayed']).toBeUndefined();
      expect(json(byOther).id).not.toBe(json(first).id);
      const operators = listOf(await t.call('GET', '/v1/ops/operators', adminToken)).data;
      expect(operators.filter((o) => o.name === body.name).map((o) => o.id).sort()).toEqual([json(first).id, json(byOther).id].sort());
      // The token was shown once more in the replay, to the same credential only.
      expect(json(replay).token).toBe(json(first).token);
    });

    it('replays business refusals (422, 409) without running them again', async () => {
      const member = await openMember(t, platform.apiKey);
      const key = newKey();
      const body = { method: 'four_element', card_number: cardEndingIn('0002'), phone: member.input.phone };
      const refused = await t.call('POST', `/v1/members/${member.id}/cards`, platform.apiKey, body, withKey(key));
      expectError(refused, 'verification_failed', 'card_number');
      const replayed = await t.call('POST', `/v1/members/${member.id}/cards`, platform.apiKey, body, withKey(key));
      expect(replayed.statusCode).toBe(422);
      expect(replayed.headers['idempotent-replayed']).toBe('true');
      expect(replayed.body).toBe(refused.body);
      expectError(replayed, 'verification_failed', 'card_number');
      expect(listOf(await t.call('GET', `/v1/members/${member.id}/cards`, platform.apiKey)).data).toHaveLength(1);
      const fourElement = (await feeReport(t, platform.id)).lines.filter((line) => line.kind === 'four_element');
      expect(fourElement).toEqual([{ kind: 'four_element', provider: 'sim', calls: 1, fee: 50 }]);

      const dupKey = newKey();
      const duplicate = await t.call('POST', '/v1/members', platform.apiKey, { ...individual({ external_id: member.input.external_id }) }, withKey(dupKey));
      expectError(duplicate, 'duplicate_external_id', 'external_id');
      const dupReplay = await t.call('POST', '/v1/members', platform.apiKey, { ...individual({ external_id: member.input.external_id }) }, withKey(dupKey));
      // Another body (fresh id number): so this is a reuse, not a replay.
      expectError(dupReplay, 'idempotency_key_reused', 'Idempotency-Key');
    });

    it('does not count a replayed wrong answer twice', async () => {
      const member = await openMember(t, platform.apiKey);
      const card = await startCard(t, platform.apiKey, member, 'four_element');
      const confirmUrl = `/v1/members/${member.id}/cards/${card.id}/confirm`;
      const wrongCode = { sms_code: card.answer.sms_code === '000000' ? '111111' : '000000' };
      const key = newKey();
      const first = await t.call('POST', confirmUrl, platform.apiKey, wrongCode, withKey(key));
      expectError(first, 'verification_failed', 'sms_code');
      const replay = await t.call('POST', confirmUrl, platform.apiKey, wrongCode, withKey(key));
      expect(replay.headers['idempotent-replayed']).toBe('true');
      expect(replay.body).toBe(first.body);
      expectError(await t.call('POST', confirmUrl, platform.apiKey, wrongCode), 'verification_failed', 'sms_code');
      // Two wrong answers so far, not three: the right code still binds.
      const bound = await t.call('POST', confirmUrl, platform.apiKey, card.answer);
      expect(bound.statusCode).toBe(200);
      expect(json(bound).status).toBe('bound');
    });

    it('keeps nothing for a request refused by the schema: the key is still free', async () => {
      const key = newKey();
      const body = { ...individual() };
      expectError(await t.call('POST', '/v1/members', platform.apiKey, { ...body, type: 'robot' }, withKey(key)), 'invalid_request', 'type');
      const created = await t.call('POST', '/v1/members', platform.apiKey, body, withKey(key));
      expect(created.statusCode).toBe(201);
      expect(created.headers['idempotent-replayed']).toBeUndefined();
    });

    it('refuses a key longer than the limit or not printable ASCII with 400 param Idempotency-Key', async () => {
      const body = { ...individual() };
      for (const key of ['k'.repeat(limits.idempotencyKeyLengthMax + 1), 'has space', 'ключ', '']) {
        expectError(await t.call('POST', '/v1/members', platform.apiKey, body, withKey(key)), 'invalid_request', 'Idempotency-Key');
      }
      expect(await membersWith(body.external_id)).toEqual([]);
      const longest = await t.call('POST', '/v1/members', platform.apiKey, body, withKey('k'.repeat(limits.idempotencyKeyLengthMax)));
      expect(longest.statusCode).toBe(201);
    });

    it('answers concurrent identical requests with one creation: the first response or 409 in_use', async () => {
      const key = newKey();
      const body = { ...individual() };
      const responses = await Promise.all(Array.from({ length: 6 }, () => t.call('POST', '/v1/members', platform.apiKey, body, withKey(key))));
      const members = await membersWith(body.external_id);
      expect(members).toHaveLength(1);
      const created = responses.filter((r) => r.statusCode === 201);
      expect(created.filter((r) => r.headers['idempotent-replayed'] === undefined)).toHaveLength(1);
      for (const response of created) expect(json(response).id).toBe(members[0]?.id);
      for (const response of responses.filter((r) => r.statusCode !== 201)) expectError(response, 'idempotency_key_in_use', 'Idempotency-Key');
    });

    it('answers 409 idempotency_key_in_use while a request runs, and takes the key over once its lock has passed', async () => {
      const key = newKey();
      const body = { ...individual() };
      // A request of this key is running (as if in another process): claim it as the hook would.
      const scope = fromPublicId('platform', platform.id);
      const keys = listOf(await t.call('GET', `/v1/ops/platforms/${platform.id}/api-keys`, adminToken)).data;
      const credentialId = fromPublicId('apiKey', keys[0]?.id);
      expect(scope).not.toBeNull();
      expect(credentialId).not.toBeNull();
      const hash = createHash('sha256').update(`POST /v1/members\n${canonicalJson(body)}`).digest('hex');
      const claimed = await t.runtime.custody.startIdempotent(
        scope ?? '',
        credentialId ?? '',
        key,
        hash,
        t.runtime.clock.nowMs(),
        limits.idempotencyLockSeconds * 1000,
        limits.idempotencyTtlSeconds * 1000,
      );
      expect(claimed.kind).toBe('started');

      expectError(await t.call('POST', '/v1/members', platform.apiKey, body, withKey(key)), 'idempotency_key_in_use', 'Idempotency-Key');
      expectError(await t.call('POST', '/v1/members', platform.apiKey, body, withKey(key)), 'idempotency_key_in_use', 'Idempotency-Key');
      expect(await membersWith(body.external_id)).toEqual([]);
      // A different body under the running key is a reuse, not an in-use.
      expectError(await t.call('POST', '/v1/members', platform.apiKey, { ...individual() }, withKey(key)), 'idempotency_key_reused', 'Idempotency-Key');

      const advanced = await t.call('POST', '/v1/ops/clock/advance', adminToken, { seconds: limits.idempotencyLockSeconds + 1 });
      expect(advanced.statusCode).toBe(200);
      const taken = await t.call('POST', '/v1/members', platform.apiKey, body, withKey(key));
      expect(taken.statusCode).toBe(201);
      expect(taken.headers['idempotent-replayed']).toBeUndefined();
      const replay = await t.call('POST', '/v1/members', platform.apiKey, body, withKey(key));
      expect(replay.headers['idempotent-replayed']).toBe('true');
      expect(replay.body).toBe(taken.body);
      expect(await membersWith(body.external_id)).toHaveLength(1);
    });

    it('forgets a response after 24 hours: the key then runs a new request', async () => {
      const key = newKey();
      const body: Json = { name: `Expiring ${key}`, role: 'viewer' };
      const first = await t.call('POST', '/v1/ops/operators', adminToken, body, withKey(key));
      expect(first.statusCode).toBe(201);
      const advanced = await t.call('POST', '/v1/ops/clock/advance', adminToken, { seconds: limits.idempotencyTtlSeconds + 1 });
      expect(advanced.statusCode).toBe(200);
      const later = await t.call('POST', '/v1/ops/operators', adminToken, body, withKey(key));
      expect(later.statusCode).toBe(201);
      expect(later.headers['idempotent-replayed']).toBeUndefined();
      expect(json(later).id).not.toBe(json(first).id);
    });
  });
}
