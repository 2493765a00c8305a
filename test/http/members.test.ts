import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { luhnCheckDigit } from '../../src/custody/identity-validators.js';
import { ADAPTERS } from '../support/adapters.js';
import {
  bindCard,
  creditCode,
  enterprise,
  expectError,
  expectNotFound,
  expectShape,
  feeReport,
  goodCard,
  individual,
  json,
  listOf,
  openMember,
  residentId,
  signPlatform,
  startCard,
  unknownId,
} from '../support/http-fixtures.js';
import type { Json, OpenedMember, SignedPlatform, StartedCard } from '../support/http-fixtures.js';
import { openTestApp } from '../support/test-app.js';
import type { TestApp } from '../support/test-app.js';

const rfc3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const zeroBalances = { available: 0, withdrawable: 0, pending: 0, spendable: 0, frozen: 0 };

/** `110105199003070011` → `110***********0011`; `13912345678` → `139****5678`. */
const maskedId = (id: string) => `${id.slice(0, 3)}${'*'.repeat(id.length - 7)}${id.slice(-4)}`;
const maskedPhone = (phone: string) => `${phone.slice(0, 3)}****${phone.slice(-4)}`;

interface Probe {
  readonly name: string;
  readonly method: 'GET' | 'POST' | 'DELETE';
  /** The URL naming platform A's objects, and the same URL with ids that name nothing. */
  readonly url: string;
  readonly unknownUrl: string;
  readonly body?: Json;
}

/** The error body without its request id: what a caller can compare between two answers. */
function errorShape(response: LightMyRequestResponse): Json {
  const { request_id: _id, ...rest } = json(response).error as Json;
  return { status: response.statusCode, ...rest };
}

for (const adapter of ADAPTERS) {
  describe(`members and tenant isolation (${adapter})`, () => {
    let t: TestApp;
    let platform: SignedPlatform;

    beforeAll(async () => {
      t = await openTestApp(adapter);
      platform = await signPlatform(t);
    });

    afterAll(async () => {
      await t?.dispose();
    });

    const post = (body: Json) => t.call('POST', '/v1/members', platform.apiKey, body);

    describe('POST /v1/members', () => {
      it('opens an individual: 201, masked personal data, five zero balances', async () => {
        const input = individual({ name: '张三' });
        const response = await post({ ...input });
        expect(response.statusCode).toBe(201);
        const member = json(response);
        expectShape(member, {
          id: expect.stringMatching(/^mbr_[0-9a-z]{26}$/),
          object: 'member',
          external_id: input.external_id,
          sub_account_no: expect.stringMatching(/^\d{16}$/),
          type: 'individual',
          property: 'ordinary',
          status: 'active',
          name: '张*',
          id_number: maskedId(input.id_number),
          phone: maskedPhone(input.phone),
          created: expect.stringMatching(rfc3339),
          balances: zeroBalances,
        });
        const subAccountNo = member.sub_account_no as string;
        expect(luhnCheckDigit(subAccountNo.slice(0, 15))).toBe(subAccountNo[15]);
        expect(response.body).not.toContain(input.id_number);
        expect(response.body).not.toContain(input.phone);
        expect(response.body).not.toContain('张三');
      });

      it('opens an enterprise with a credit code, and a merchant property', async () => {
        const input = enterprise({ property: 'merchant' });
        const response = await post({ ...input });
        expect(response.statusCode).toBe(201);
        expect(json(response)).toMatchObject({
          type: 'enterprise',
          property: 'merchant',
          id_number: maskedId(input.id_number),
          balances: zeroBalances,
        });
        expect(response.body).not.toContain(input.id_number);
      });

      it('gives each member of a platform its own sub-account number under the platform’s prefix', async () => {
        const a = await openMember(t, platform.apiKey);
        const b = await openMember(t, platform.apiKey);
        const noA = a.body.sub_account_no as string;
        const noB = b.body.sub_account_no as string;
        expect(noA).not.toBe(noB);
        expect(noA.slice(0, 4)).toBe(noB.slice(0, 4));
      });

      it('takes a phone with +86, spaces and a lower-case x in the id number', async () => {
        let id = residentId();
        for (let n = 0; !id.endsWith('X') && n < 1000; n++) id = residentId(n);
        expect(id.endsWith('X')).toBe(true);
        const input = individual({ id_number: id.toLowerCase(), phone: '+86 139 1234 5678' });
        const response = await post({ ...input });
        expect(response.statusCode, response.body).toBe(201);
        expect(json(response)).toMatchObject({ id_number: maskedId(id), phone: '139****5678' });
      });

      it('answers 409 duplicate_external_id for an external_id the platform has, and opens nothing', async () => {
        const first = await openMember(t, platform.apiKey);
        const again = await post({ ...individual({ external_id: first.input.external_id }) });
        expectError(again, 'duplicate_external_id', 'external_id');
        const found = listOf(await t.call('GET', `/v1/members?external_id=${first.input.external_id}`, platform.apiKey));
        expect(found.data.map((m) => m.id)).toEqual([first.id]);
        // Another platform may use the same external_id.
        const other = await signPlatform(t);
        const elsewhere = await t.call('POST', '/v1/members', other.apiKey, { ...individual({ external_id: first.input.external_id }) });
        expect(elsewhere.statusCode).toBe(201);
      });

      it('refuses an identity number that is not valid for the member type (400 param id_number)', async () => {
        const valid = residentId();
        const wrongCheck = `${valid.slice(0, 17)}${valid[17] === '0' ? '1' : '0'}`;
        const code = creditCode();
        const wrongCodeCheck = `${code.slice(0, 17)}${code[17] === '0' ? '1' : '0'}`;
        const cases: Json[] = [
          { ...individual({ id_number: wrongCheck }) },
          { ...individual({ id_number: `99${valid.slice(2, 17)}0` }) },
          { ...individual({ id_number: '11010520991231001X' }) },
          { ...individual({ id_number: valid.slice(0, 15) }) },
          { ...individual({ id_number: code }) },
          { ...enterprise({ id_number: valid }) },
          { ...enterprise({ id_number: wrongCodeCheck }) },
        ];
        for (const body of cases) expectError(await post(body), 'invalid_request', 'id_number');
      });

      it('refuses a phone that is not a mainland mobile number (400 param phone)', async () => {
        for (const phone of ['12345678901', '1391234567', '139123456789', '+1 415 555 0100', 'phone']) {
          expectError(await post({ ...individual({ phone }) }), 'invalid_request', 'phone');
        }
      });

      it('refuses schema violations with 400 invalid_request naming the param, and opens nothing', async () => {
        const input = individual();
        const without = (field: string): Json => Object.fromEntries(Object.entries(input).filter(([key]) => key !== field));
        const cases: Array<[Json, string]> = [
          [without('external_id'), 'external_id'],
          [without('name'), 'name'],
          [without('type'), 'type'],
          [without('id_number'), 'id_number'],
          [without('phone'), 'phone'],
          [{ ...input, type: 'robot' }, 'type'],
          [{ ...input, property: 'vip' }, 'property'],
          [{ ...input, name: 42 }, 'name'],
          [{ ...input, id_number: 1101051990 }, 'id_number'],
          [{ ...input, phone: 13912345678 }, 'phone'],
          [{ ...input, external_id: '' }, 'external_id'],
          [{ ...input, external_id: 'has space' }, 'external_id'],
          [{ ...input, external_id: 'x'.repeat(65) }, 'external_id'],
          [{ ...input, name: '   ' }, 'name'],
          [{ ...input, name: 'x'.repeat(129) }, 'name'],
          [{ ...input, balance: 100 }, 'balance'],
        ];
        for (const [body, param] of cases) expectError(await post(body), 'invalid_request', param);
        expect(listOf(await t.call('GET', `/v1/members?external_id=${input.external_id}`, platform.apiKey)).data).toEqual([]);
      });
    });

    describe('GET /v1/members[/{id}]', () => {
      it('reads a member as it was opened', async () => {
        const member = await openMember(t, platform.apiKey);
        const response = await t.call('GET', `/v1/members/${member.id}`, platform.apiKey);
        expect(response.statusCode).toBe(200);
        expect(json(response)).toEqual(member.body);
      });

      it('finds a member by external_id, and nothing for an unknown one', async () => {
        const member = await openMember(t, platform.apiKey);
        const found = await t.call('GET', `/v1/members?external_id=${member.input.external_id}`, platform.apiKey);
        expect(found.statusCode).toBe(200);
        expect(listOf(found)).toEqual({ object: 'list', data: [member.body], has_more: false });
        expect(listOf(await t.call('GET', '/v1/members?external_id=nobody-here', platform.apiKey))).toMatchObject({ data: [], has_more: false });
      });

      it('lists members oldest first, paged with limit and starting_after', async () => {
        const own = await signPlatform(t);
        const opened = [];
        for (let i = 0; i < 5; i++) opened.push(await openMember(t, own.apiKey));
        const first = listOf(await t.call('GET', '/v1/members?limit=2', own.apiKey));
        expect(first.data.map((m) => m.id)).toEqual(opened.slice(0, 2).map((m) => m.id));
        expect(first.has_more).toBe(true);
        const second = listOf(await t.call('GET', `/v1/members?limit=2&starting_after=${opened[1]?.id ?? ''}`, own.apiKey));
        expect(second.data.map((m) => m.id)).toEqual(opened.slice(2, 4).map((m) => m.id));
        expect(second.has_more).toBe(true);
        const last = listOf(await t.call('GET', `/v1/members?limit=2&starting_after=${opened[3]?.id ?? ''}`, own.apiKey));
        expect(last).toEqual({ object: 'list', data: [opened[4]?.body], has_more: false });
        const all = listOf(await t.call('GET', '/v1/members', own.apiKey));
        expect(all.data).toEqual(opened.map((m) => m.body));
        expect(all.has_more).toBe(false);
        expect(listOf(await t.call('GET', '/v1/members?limit=100', own.apiKey)).data).toHaveLength(5);
      });

      it('refuses a bad limit or query parameter', async () => {
        for (const limit of ['0', '101', '-1', 'ten', '2.5']) {
          expectError(await t.call('GET', `/v1/members?limit=${limit}`, platform.apiKey), 'invalid_request', 'limit');
        }
        expectError(await t.call('GET', '/v1/members?type=individual', platform.apiKey), 'invalid_request', 'type');
      });

      it('answers 404 not_found for an unknown, malformed or wrong-kind member id', async () => {
        for (const id of [unknownId('mbr'), 'mbr_123', 'nonsense', platform.id, `${unknownId('mbr').slice(0, -1)}I`]) {
          expectNotFound(await t.call('GET', `/v1/members/${id}`, platform.apiKey));
          expectNotFound(await t.call('GET', `/v1/members/${id}/entries`, platform.apiKey));
        }
      });
    });

    describe('GET /v1/members/{id}/entries', () => {
      it('is an empty statement for a new member', async () => {
        const member = await openMember(t, platform.apiKey);
        const response = await t.call('GET', `/v1/members/${member.id}/entries`, platform.apiKey);
        expect(response.statusCode).toBe(200);
        expect(json(response)).toEqual({ object: 'list', data: [], has_more: false });
        expect(listOf(await t.call('GET', `/v1/members/${member.id}/entries?limit=100`, platform.apiKey)).data).toEqual([]);
      });

      it('refuses a bad limit or cursor', async () => {
        const member = await openMember(t, platform.apiKey);
        expectError(await t.call('GET', `/v1/members/${member.id}/entries?limit=0`, platform.apiKey), 'invalid_request', 'limit');
        expectError(await t.call('GET', `/v1/members/${member.id}/entries?limit=101`, platform.apiKey), 'invalid_request', 'limit');
        expectError(await t.call('GET', `/v1/members/${member.id}/entries?starting_after=ln_bad`, platform.apiKey), 'invalid_request', 'starting_after');
        expectError(await t.call('GET', `/v1/members/${member.id}/entries?bucket=frozen`, platform.apiKey), 'invalid_request', 'bucket');
      });
    });

    describe('tenant isolation: a platform key sees only its own platform', () => {
      let a: SignedPlatform;
      let b: SignedPlatform;
      let memberA: OpenedMember;
      let memberB: OpenedMember;
      let verifyingA: StartedCard;
      let boundA: StartedCard;
      /** Strings of platform A that must never reach platform B. */
      let secretsOfA: string[];

      beforeAll(async () => {
        a = await signPlatform(t);
        b = await signPlatform(t);
        memberA = await openMember(t, a.apiKey, individual({ name: '李四' }));
        memberB = await openMember(t, b.apiKey);
        verifyingA = await startCard(t, a.apiKey, memberA, 'four_element');
        boundA = await bindCard(t, a.apiKey, memberA, 'small_amount');
        secretsOfA = [
          memberA.id,
          memberA.input.external_id,
          memberA.body.sub_account_no as string,
          memberA.body.id_number as string,
          memberA.body.phone as string,
          memberA.input.id_number,
          memberA.input.phone,
          verifyingA.id,
          boundA.id,
          verifyingA.cardNumber.slice(-4),
          boundA.cardNumber.slice(-4),
          boundA.cardNumber,
        ];
      });

      const probes = (): Probe[] => {
        const m = memberA.id;
        const unknownMember = unknownId('mbr');
        const unknownCard = unknownId('card');
        return [
          { name: 'get member', method: 'GET', url: `/v1/members/${m}`, unknownUrl: `/v1/members/${unknownMember}` },
          { name: 'statement', method: 'GET', url: `/v1/members/${m}/entries`, unknownUrl: `/v1/members/${unknownMember}/entries` },
          { name: 'list cards', method: 'GET', url: `/v1/members/${m}/cards`, unknownUrl: `/v1/members/${unknownMember}/cards` },
          {
            name: 'start binding',
            method: 'POST',
            url: `/v1/members/${m}/cards`,
            unknownUrl: `/v1/members/${unknownMember}/cards`,
            body: { method: 'four_element', card_number: goodCard(), phone: memberA.input.phone },
          },
          { name: 'get card', method: 'GET', url: `/v1/members/${m}/cards/${boundA.id}`, unknownUrl: `/v1/members/${unknownMember}/cards/${unknownCard}` },
          {
            name: 'confirm',
            method: 'POST',
            url: `/v1/members/${m}/cards/${verifyingA.id}/confirm`,
            unknownUrl: `/v1/members/${unknownMember}/cards/${unknownCard}/confirm`,
            body: verifyingA.answer,
          },
          { name: 'unbind', method: 'DELETE', url: `/v1/members/${m}/cards/${boundA.id}`, unknownUrl: `/v1/members/${unknownMember}/cards/${unknownCard}` },
          // B's own member with A's card: the card is still not found.
          { name: 'get card via own member', method: 'GET', url: `/v1/members/${memberB.id}/cards/${boundA.id}`, unknownUrl: `/v1/members/${memberB.id}/cards/${unknownCard}` },
          {
            name: 'confirm via own member',
            method: 'POST',
            url: `/v1/members/${memberB.id}/cards/${verifyingA.id}/confirm`,
            unknownUrl: `/v1/members/${memberB.id}/cards/${unknownCard}/confirm`,
            body: verifyingA.answer,
          },
          { name: 'unbind via own member', method: 'DELETE', url: `/v1/members/${memberB.id}/cards/${boundA.id}`, unknownUrl: `/v1/members/${memberB.id}/cards/${unknownCard}` },
        ];
      };

      it('answers 404 on every platform endpoint naming A’s member or card, exactly as for an id that exists nowhere', async () => {
        for (const probe of probes()) {
          const foreign = await t.call(probe.method, probe.url, b.apiKey, probe.body);
          const missing = await t.call(probe.method, probe.unknownUrl, b.apiKey, probe.body);
          expectNotFound(foreign);
          expect(errorShape(foreign), probe.name).toEqual(errorShape(missing));
          for (const secret of secretsOfA) expect(foreign.body, `${probe.name} leaks ${secret}`).not.toContain(secret);
          expect(Object.keys(foreign.headers).sort(), probe.name).toEqual(Object.keys(missing.headers).sort());
          expect(foreign.headers['content-length'], probe.name).toBe(missing.headers['content-length']);
        }
      });

      it('changed nothing of A’s: the verifying card still binds, the bound card is still bound', async () => {
        for (const probe of probes()) await t.call(probe.method, probe.url, b.apiKey, probe.body);
        const cards = listOf(await t.call('GET', `/v1/members/${memberA.id}/cards`, a.apiKey)).data;
        expect(cards.map((c) => [c.id, c.status])).toEqual([
          [verifyingA.id, 'verifying'],
          [boundA.id, 'bound'],
        ]);
        const confirmed = await t.call('POST', `/v1/members/${memberA.id}/cards/${verifyingA.id}/confirm`, a.apiKey, verifyingA.answer);
        expect(confirmed.statusCode).toBe(200);
        expect(json(confirmed).status).toBe('bound');
        expect(json(await t.call('GET', `/v1/members/${memberA.id}`, a.apiKey))).toEqual(memberA.body);
      });

      it('charged no verification to either platform for B’s attempts on A’s member', async () => {
        const before = await feeReport(t, a.id);
        for (const probe of probes()) await t.call(probe.method, probe.url, b.apiKey, probe.body);
        expect(await feeReport(t, a.id)).toEqual(before);
        expect(await feeReport(t, b.id)).toMatchObject({ calls: 0, total_fee: 0, lines: [] });
      });

      it('lists only B’s members: by page, by external_id, and from A’s member as a cursor', async () => {
        const all = await t.call('GET', '/v1/members?limit=100', b.apiKey);
        expect(listOf(all).data.map((m) => m.id)).toEqual([memberB.id]);
        for (const secret of secretsOfA) expect(all.body).not.toContain(secret);
        const byExternalId = await t.call('GET', `/v1/members?external_id=${memberA.input.external_id}`, b.apiKey);
        expect(byExternalId.statusCode).toBe(200);
        expect(listOf(byExternalId)).toMatchObject({ data: [], has_more: false });
        const cursor = await t.call('GET', `/v1/members?starting_after=${memberA.id}`, b.apiKey);
        for (const secret of secretsOfA.filter((s) => s !== memberA.id)) expect(cursor.body).not.toContain(secret);
        if (cursor.statusCode === 200) expect(listOf(cursor).data.map((m) => m.id)).not.toContain(memberA.id);
        else expectNotFound(cursor);
      });

      it('lets B open a member with A’s external_id and A’s card number: nothing is shared', async () => {
        const twin = await openMember(t, b.apiKey, individual({ external_id: memberA.input.external_id }));
        expect(twin.id).not.toBe(memberA.id);
        const card = await bindCard(t, b.apiKey, twin, 'small_amount', boundA.cardNumber);
        expect(card.id).not.toBe(boundA.id);
        expect(listOf(await t.call('GET', `/v1/members?external_id=${memberA.input.external_id}`, a.apiKey)).data.map((m) => m.id)).toEqual([memberA.id]);
      });

      it('replays no response of A for B’s identical Idempotency-Key', async () => {
        const body = { ...individual() };
        const first = await t.call('POST', '/v1/members', a.apiKey, body, { 'idempotency-key': 'shared-key-1' });
        const second = await t.call('POST', '/v1/members', b.apiKey, body, { 'idempotency-key': 'shared-key-1' });
        expect([first.statusCode, second.statusCode]).toEqual([201, 201]);
        expect(second.headers['idempotent-replayed']).toBeUndefined();
        expect(json(second).id).not.toBe(json(first).id);
        expect(listOf(await t.call('GET', `/v1/members?external_id=${body.external_id}`, b.apiKey)).data.map((m) => m.id)).toEqual([json(second).id]);
      });
    });
  });
}
