import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADAPTERS } from '../support/adapters.js';
import {
  adminToken,
  bindCard,
  cardEndingIn,
  enterprise,
  expectError,
  expectShape,
  expectNotFound,
  feeReport,
  goodCard,
  json,
  listOf,
  openMember,
  signPlatform,
  startCard,
  unknownId,
} from '../support/http-fixtures.js';
import type { Json, OpenedMember, SignedPlatform } from '../support/http-fixtures.js';
import { openTestApp } from '../support/test-app.js';
import type { TestApp } from '../support/test-app.js';

const rfc3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
/** `6222123456781234` → `6222 **** **** 1234` (API.md). */
const maskedCard = (card: string) => `${card.slice(0, 4)} **** **** ${card.slice(-4)}`;

for (const adapter of ADAPTERS) {
  describe(`card binding (${adapter})`, () => {
    let t: TestApp;
    let platform: SignedPlatform;

    beforeAll(async () => {
      t = await openTestApp(adapter);
      platform = await signPlatform(t);
    });

    afterAll(async () => {
      await t?.dispose();
    });

    const cardsUrl = (member: OpenedMember) => `/v1/members/${member.id}/cards`;
    const start = (member: OpenedMember, body: Json) => t.call('POST', cardsUrl(member), platform.apiKey, body);
    const confirm = (member: OpenedMember, cardId: string, body: Json) =>
      t.call('POST', `${cardsUrl(member)}/${cardId}/confirm`, platform.apiKey, body);
    const getCard = async (member: OpenedMember, cardId: string) => json(await t.call('GET', `${cardsUrl(member)}/${cardId}`, platform.apiKey));
    /** A wrong answer of the right form. */
    const wrong = (answer: Json): Json =>
      answer.sms_code !== undefined
        ? { sms_code: answer.sms_code === '000000' ? '111111' : '000000' }
        : { amount: answer.amount === 1 ? 2 : 1 };

    describe('four-element binding', () => {
      it('starts verifying with a masked card and the sandbox SMS code, then binds on the code', async () => {
        const member = await openMember(t, platform.apiKey);
        const cardNumber = goodCard();
        const started = await start(member, { method: 'four_element', card_number: cardNumber, phone: member.input.phone });
        expect(started.statusCode).toBe(201);
        const card = json(started);
        expectShape(card, {
          id: expect.stringMatching(/^card_[0-9a-z]{26}$/),
          object: 'card',
          member_id: member.id,
          method: 'four_element',
          status: 'verifying',
          card_number: maskedCard(cardNumber),
          last4: cardNumber.slice(-4),
          created: expect.stringMatching(rfc3339),
          bound_at: null,
          failure_reason: null,
          sandbox: { sms_code: expect.stringMatching(/^\d{6}$/) },
        });
        expect(started.body).not.toContain(cardNumber);
        expect(started.body).not.toContain(member.input.phone);

        // The code is shown once: a later read has no sandbox answer.
        const { sandbox, ...view } = card;
        expect(await getCard(member, card.id as string)).toEqual(view);

        const bound = await confirm(member, card.id as string, { sms_code: (sandbox as Json).sms_code });
        expect(bound.statusCode).toBe(200);
        expect(json(bound)).toEqual({ ...view, status: 'bound', bound_at: expect.stringMatching(rfc3339) });
        expect(bound.body).not.toContain('sandbox');
        expect(await getCard(member, card.id as string)).toEqual(json(bound));
        const list = await t.call('GET', cardsUrl(member), platform.apiKey);
        expect(list.statusCode).toBe(200);
        expect(listOf(list)).toEqual({ object: 'list', data: [json(bound)], has_more: false });
      });

      it('answers 422 verification_failed for a card ending 0002 and keeps the card as failed', async () => {
        const member = await openMember(t, platform.apiKey);
        const cardNumber = cardEndingIn('0002');
        const refused = await start(member, { method: 'four_element', card_number: cardNumber, phone: member.input.phone });
        expectError(refused, 'verification_failed', 'card_number');
        const cards = listOf(await t.call('GET', cardsUrl(member), platform.apiKey)).data;
        expect(cards).toEqual([expect.objectContaining({ status: 'failed', last4: '0002', failure_reason: expect.any(String) })]);
        expect(cards[0]).not.toHaveProperty('sandbox');
        // A failed card cannot be answered nor unbound.
        expectError(await confirm(member, cards[0]?.id as string, { sms_code: '123456' }), 'card_not_verifying');
        expectError(await t.call('DELETE', `${cardsUrl(member)}/${cards[0]?.id as string}`, platform.apiKey), 'card_not_bound');
      });

      it('answers 422 verification_failed to a wrong code, and fails the binding at the third', async () => {
        const member = await openMember(t, platform.apiKey);
        const card = await startCard(t, platform.apiKey, member, 'four_element');
        for (let attempt = 1; attempt <= 3; attempt++) {
          expectError(await confirm(member, card.id, wrong(card.answer)), 'verification_failed', 'sms_code');
          expect((await getCard(member, card.id)).status).toBe(attempt < 3 ? 'verifying' : 'failed');
        }
        expectError(await confirm(member, card.id, card.answer), 'card_not_verifying');
        expect(await getCard(member, card.id)).toMatchObject({ status: 'failed', bound_at: null });
      });

      it('still binds after one or two wrong codes', async () => {
        const member = await openMember(t, platform.apiKey);
        const card = await startCard(t, platform.apiKey, member, 'four_element');
        expectError(await confirm(member, card.id, wrong(card.answer)), 'verification_failed', 'sms_code');
        expectError(await confirm(member, card.id, wrong(card.answer)), 'verification_failed', 'sms_code');
        const bound = await confirm(member, card.id, card.answer);
        expect(bound.statusCode).toBe(200);
        expect(json(bound).status).toBe('bound');
      });

      it('answers 400 param method for an enterprise', async () => {
        const member = await openMember(t, platform.apiKey, enterprise());
        expectError(await start(member, { method: 'four_element', card_number: goodCard(), phone: member.input.phone }), 'invalid_request', 'method');
        expect(listOf(await t.call('GET', cardsUrl(member), platform.apiKey)).data).toEqual([]);
      });
    });

    describe('small-amount binding', () => {
      for (const kind of ['individual', 'enterprise'] as const) {
        it(`binds an ${kind}’s card on the deposited amount`, async () => {
          const member = await openMember(t, platform.apiKey, kind === 'enterprise' ? enterprise() : undefined);
          const cardNumber = goodCard();
          const started = await start(member, { method: 'small_amount', card_number: cardNumber });
          expect(started.statusCode).toBe(201);
          const card = json(started);
          expect(card).toMatchObject({ method: 'small_amount', status: 'verifying', last4: cardNumber.slice(-4), card_number: maskedCard(cardNumber) });
          const amount = (card.sandbox as Json).amount;
          expect(card.sandbox).toEqual({ amount: expect.any(Number) });
          expect(Number.isInteger(amount)).toBe(true);
          expect(amount).toBeGreaterThanOrEqual(1);
          expect(amount).toBeLessThanOrEqual(50);
          const bound = await confirm(member, card.id as string, { amount });
          expect(bound.statusCode).toBe(200);
          expect(json(bound)).toMatchObject({ status: 'bound', bound_at: expect.stringMatching(rfc3339) });
        });
      }

      it('answers 422 verification_failed param amount to a wrong amount', async () => {
        const member = await openMember(t, platform.apiKey);
        const card = await startCard(t, platform.apiKey, member, 'small_amount');
        expectError(await confirm(member, card.id, wrong(card.answer)), 'verification_failed', 'amount');
        expect((await confirm(member, card.id, card.answer)).statusCode).toBe(200);
      });

      it('answers 422 verification_failed when the bank refuses the deposit (card ending 0002)', async () => {
        const member = await openMember(t, platform.apiKey);
        expectError(await start(member, { method: 'small_amount', card_number: cardEndingIn('0002') }), 'verification_failed', 'card_number');
      });
    });

    describe('answers, states and conflicts', () => {
      it('answers 400 when the answer does not fit the method', async () => {
        const member = await openMember(t, platform.apiKey);
        const sms = await startCard(t, platform.apiKey, member, 'four_element');
        const deposit = await startCard(t, platform.apiKey, member, 'small_amount');
        expectError(await confirm(member, sms.id, { amount: 12 }), 'invalid_request', 'sms_code');
        expectError(await confirm(member, sms.id, {}), 'invalid_request', 'sms_code');
        expectError(await confirm(member, sms.id, { sms_code: '12345' }), 'invalid_request', 'sms_code');
        expectError(await confirm(member, sms.id, { sms_code: 'abcdef' }), 'invalid_request', 'sms_code');
        expectError(await confirm(member, sms.id, { sms_code: 123456 }), 'invalid_request', 'sms_code');
        expectError(await confirm(member, deposit.id, { sms_code: '123456' }), 'invalid_request', 'amount');
        for (const amount of ['12', 1.5, 0, -3, Number.MAX_SAFE_INTEGER + 1, null]) {
          expectError(await confirm(member, deposit.id, { amount }), 'invalid_request', 'amount');
        }
        expectError(await confirm(member, deposit.id, { amount: 12, code: 'x' }), 'invalid_request', 'code');
        // None of these counted as a wrong answer.
        expect((await confirm(member, sms.id, sms.answer)).statusCode).toBe(200);
        expect((await confirm(member, deposit.id, deposit.answer)).statusCode).toBe(200);
      });

      it('answers 422 card_not_verifying to an answer for a bound card', async () => {
        const member = await openMember(t, platform.apiKey);
        const card = await bindCard(t, platform.apiKey, member);
        expectError(await confirm(member, card.id, card.answer), 'card_not_verifying');
      });

      it('answers 409 card_already_bound for a card the member has bound; another member may bind it', async () => {
        const member = await openMember(t, platform.apiKey);
        const card = await bindCard(t, platform.apiKey, member, 'small_amount');
        expectError(await start(member, { method: 'four_element', card_number: card.cardNumber, phone: member.input.phone }), 'card_already_bound', 'card_number');
        expectError(await start(member, { method: 'small_amount', card_number: card.cardNumber.replace(/(\d{4})/g, '$1 ').trim() }), 'card_already_bound', 'card_number');
        expect(listOf(await t.call('GET', cardsUrl(member), platform.apiKey)).data).toHaveLength(1);
        const other = await openMember(t, platform.apiKey);
        expect((await start(other, { method: 'small_amount', card_number: card.cardNumber })).statusCode).toBe(201);
      });

      it('starting again on a card still verifying ends the old attempt', async () => {
        const member = await openMember(t, platform.apiKey);
        const cardNumber = goodCard();
        const first = await startCard(t, platform.apiKey, member, 'four_element', cardNumber);
        const second = await startCard(t, platform.apiKey, member, 'four_element', cardNumber);
        expect(second.id).not.toBe(first.id);
        expect((await getCard(member, first.id)).status).toBe('expired');
        expectError(await confirm(member, first.id, first.answer), 'card_not_verifying');
        expect((await confirm(member, second.id, second.answer)).statusCode).toBe(200);
      });

      it('unbinds a bound card (and answers the same again), after which it may be bound anew', async () => {
        const member = await openMember(t, platform.apiKey);
        const card = await bindCard(t, platform.apiKey, member);
        const before = await getCard(member, card.id);
        const unbound = await t.call('DELETE', `${cardsUrl(member)}/${card.id}`, platform.apiKey);
        expect(unbound.statusCode).toBe(200);
        expect(json(unbound)).toEqual({ ...before, status: 'unbound' });
        const again = await t.call('DELETE', `${cardsUrl(member)}/${card.id}`, platform.apiKey);
        expect(again.statusCode).toBe(200);
        expect(json(again)).toEqual(json(unbound));
        expectError(await confirm(member, card.id, card.answer), 'card_not_verifying');
        const rebound = await bindCard(t, platform.apiKey, member, 'four_element', card.cardNumber);
        expect(rebound.id).not.toBe(card.id);
        const statuses = listOf(await t.call('GET', cardsUrl(member), platform.apiKey)).data.map((c) => c.status);
        expect(statuses).toEqual(['unbound', 'bound']);
      });

      it('unbinds a card that is still verifying', async () => {
        const member = await openMember(t, platform.apiKey);
        const card = await startCard(t, platform.apiKey, member, 'small_amount');
        const unbound = await t.call('DELETE', `${cardsUrl(member)}/${card.id}`, platform.apiKey);
        expect(unbound.statusCode).toBe(200);
        expect(json(unbound).status).toBe('unbound');
        expectError(await confirm(member, card.id, card.answer), 'card_not_verifying');
      });
    });

    describe('request errors', () => {
      it('refuses a bad card number, phone or method with 400 naming the param, and starts nothing', async () => {
        const member = await openMember(t, platform.apiKey);
        const good = goodCard();
        const notLuhn = `${good.slice(0, 15)}${(Number(good[15]) + 1) % 10}`;
        const cases: Array<[Json, string]> = [
          [{ method: 'small_amount', card_number: notLuhn }, 'card_number'],
          [{ method: 'small_amount', card_number: '62220212345' }, 'card_number'],
          [{ method: 'small_amount', card_number: '6222abcd12345678' }, 'card_number'],
          [{ method: 'small_amount', card_number: '' }, 'card_number'],
          [{ method: 'small_amount', card_number: 6222021234567890 }, 'card_number'],
          [{ method: 'small_amount' }, 'card_number'],
          [{ method: 'four_element', card_number: good, phone: '12345' }, 'phone'],
          [{ method: 'four_element', card_number: good, phone: 13912345678 }, 'phone'],
          [{ method: 'wire', card_number: good }, 'method'],
          [{ card_number: good }, 'method'],
          [{ method: 'small_amount', card_number: good, bank: 'ICBC' }, 'bank'],
        ];
        for (const [body, param] of cases) expectError(await start(member, body), 'invalid_request', param);
        expect(listOf(await t.call('GET', cardsUrl(member), platform.apiKey)).data).toEqual([]);
      });

      it('answers 404 for an unknown or malformed member or card id, and for another member’s card', async () => {
        const member = await openMember(t, platform.apiKey);
        const other = await openMember(t, platform.apiKey);
        const card = await startCard(t, platform.apiKey, member, 'four_element');
        for (const cardId of [unknownId('card'), 'card_123', member.id]) {
          expectNotFound(await t.call('GET', `${cardsUrl(member)}/${cardId}`, platform.apiKey));
          expectNotFound(await confirm(member, cardId, card.answer));
          expectNotFound(await t.call('DELETE', `${cardsUrl(member)}/${cardId}`, platform.apiKey));
        }
        for (const memberId of [unknownId('mbr'), 'mbr_123']) {
          expectNotFound(await t.call('GET', `/v1/members/${memberId}/cards`, platform.apiKey));
          expectNotFound(await t.call('POST', `/v1/members/${memberId}/cards`, platform.apiKey, { method: 'small_amount', card_number: goodCard() }));
          expectNotFound(await t.call('GET', `/v1/members/${memberId}/cards/${card.id}`, platform.apiKey));
        }
        // The card under another member of the same platform is not found, and stays untouched.
        expectNotFound(await t.call('GET', `${cardsUrl(other)}/${card.id}`, platform.apiKey));
        expectNotFound(await confirm(other, card.id, card.answer));
        expectNotFound(await t.call('DELETE', `${cardsUrl(other)}/${card.id}`, platform.apiKey));
        expect((await getCard(member, card.id)).status).toBe('verifying');
        expect((await confirm(member, card.id, card.answer)).statusCode).toBe(200);
      });

      // API.md Conventions: every list takes limit and starting_after.
      it('pages the card list with limit and starting_after', async () => {
        const member = await openMember(t, platform.apiKey);
        const first = await startCard(t, platform.apiKey, member, 'small_amount');
        const second = await startCard(t, platform.apiKey, member, 'small_amount');
        const page = listOf(await t.call('GET', `${cardsUrl(member)}?limit=1`, platform.apiKey));
        expect(page).toMatchObject({ has_more: true, data: [{ id: first.id }] });
        expect(page.data).toHaveLength(1);
        const next = listOf(await t.call('GET', `${cardsUrl(member)}?limit=1&starting_after=${first.id}`, platform.apiKey));
        expect(next).toMatchObject({ has_more: false, data: [{ id: second.id }] });
      });
    });

    describe('verification fees', () => {
      it('records every provider call and reports calls and fees for that platform only', async () => {
        const own = await signPlatform(t);
        const bystander = await signPlatform(t);
        await openMember(t, bystander.apiKey);
        const person = await openMember(t, own.apiKey);
        const firm = await openMember(t, own.apiKey, enterprise());
        await bindCard(t, own.apiKey, person, 'four_element');
        const mismatch = await t.call('POST', `/v1/members/${person.id}/cards`, own.apiKey, {
          method: 'four_element',
          card_number: cardEndingIn('0002'),
          phone: person.input.phone,
        });
        expectError(mismatch, 'verification_failed', 'card_number');
        await bindCard(t, own.apiKey, firm, 'small_amount');
        // Wrong answers and reads are not provider calls.
        const pending = await startCard(t, own.apiKey, person, 'four_element');
        await t.call('POST', `/v1/members/${person.id}/cards/${pending.id}/confirm`, own.apiKey, wrong(pending.answer));

        const report = await feeReport(t, own.id);
        expect(report.lines).toEqual([
          { kind: 'four_element', provider: 'sim', calls: 3, fee: 150 },
          { kind: 'micro_deposit', provider: 'sim', calls: 1, fee: 50 },
          { kind: 'sms', provider: 'sim', calls: 2, fee: 0 },
        ]);
        expect(report).toMatchObject({ calls: 6, total_fee: 200, platform_id: own.id });
        expect(await feeReport(t, bystander.id)).toMatchObject({ calls: 0, total_fee: 0, lines: [] });
        // Platform keys do not read the report.
        expectError(await t.call('GET', `/v1/ops/verification-fees?platform_id=${own.id}`, own.apiKey), 'forbidden');
      });
    });

    // These move the sandbox clock, so they run last.
    describe('time limits (sandbox clock)', () => {
      const advance = async (seconds: number) => {
        const moved = await t.call('POST', '/v1/ops/clock/advance', adminToken, { seconds });
        expect(moved.statusCode).toBe(200);
      };

      it('answers 422 verification_expired to a right SMS code after its 10 minutes', async () => {
        const member = await openMember(t, platform.apiKey);
        const card = await startCard(t, platform.apiKey, member, 'four_element');
        await advance(601);
        expectError(await confirm(member, card.id, card.answer), 'verification_expired');
        expect((await getCard(member, card.id)).status).toBe('expired');
        expectError(await confirm(member, card.id, card.answer), 'card_not_verifying');
        // Starting again binds.
        expect((await bindCard(t, platform.apiKey, member, 'four_element', card.cardNumber)).id).not.toBe(card.id);
      });

      it('takes a right amount within 48 hours and answers verification_expired after', async () => {
        const member = await openMember(t, platform.apiKey);
        const late = await startCard(t, platform.apiKey, member, 'small_amount');
        const inTime = await startCard(t, platform.apiKey, member, 'small_amount');
        await advance(47 * 3600);
        expect((await confirm(member, inTime.id, inTime.answer)).statusCode).toBe(200);
        await advance(3600 + 1);
        expectError(await confirm(member, late.id, late.answer), 'verification_expired');
        expect((await getCard(member, late.id)).status).toBe('expired');
      });

      it('answers 422 verification_limit_exceeded past 10 verification messages a day, and again the next day', async () => {
        const member = await openMember(t, platform.apiKey);
        const cardNumber = goodCard();
        for (let i = 0; i < 10; i++) {
          const method = i % 2 === 0 ? 'small_amount' : 'four_element';
          await startCard(t, platform.apiKey, member, method, cardNumber);
        }
        expectError(await start(member, { method: 'small_amount', card_number: cardNumber }), 'verification_limit_exceeded');
        expectError(await start(member, { method: 'four_element', card_number: goodCard(), phone: member.input.phone }), 'verification_limit_exceeded');
        // The limit is per member: another member of the platform still binds.
        const other = await openMember(t, platform.apiKey);
        await bindCard(t, platform.apiKey, other, 'small_amount');
        await advance(24 * 3600);
        expect((await start(member, { method: 'small_amount', card_number: cardNumber })).statusCode).toBe(201);
      });
    });
  });
}
