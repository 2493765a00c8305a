import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { identitySimService } from '../../src/channels/identity/identity-sim-service.js';
import { IdentitySimulator } from '../../src/channels/identity/identity-simulator.js';
import type { SimulatedCall } from '../../src/channels/identity/identity-simulator.js';
import { payoutSimService } from '../../src/channels/payout/payout-sim-service.js';
import { PayoutSimulator } from '../../src/channels/payout/payout-simulator.js';
import { systemClock } from '../../src/clock.js';
import { simSignatureHeader, startSimServer } from '../../src/channels/sim-server.js';
import type { SimServer } from '../../src/channels/sim-server.js';
import { fromPublicId } from '../../src/public-ids.js';
import { ADAPTERS } from '../support/adapters.js';
import {
  adminToken,
  bindCard,
  cardEndingIn,
  enterprise,
  expectError,
  feeReport,
  goodCard,
  json,
  listOf,
  openMember,
  signPlatform,
} from '../support/http-fixtures.js';
import type { SignedPlatform } from '../support/http-fixtures.js';
import { openTestApp } from '../support/test-app.js';
import type { TestApp } from '../support/test-app.js';

const secret = 'identity-sim-secret-for-http-tests';

type Mode = 'up' | 'reset' | 'gateway_503';

interface Switch {
  readonly url: string;
  mode: Mode;
  /** Requests that reached the switch, by the mode it was in. */
  readonly seen: Record<Mode, number>;
  close(): Promise<void>;
}

/**
 * A switch in front of the simulator server: `up` forwards requests and answers untouched
 * (signatures included), `reset` drops the connection (the provider is unreachable), and
 * `gateway_503` answers 503 as a load balancer in front of a provider would, unsigned.
 */
async function startSwitch(target: string): Promise<Switch> {
  const state: Switch = {
    url: '',
    mode: 'up',
    seen: { up: 0, reset: 0, gateway_503: 0 },
    close: async () => undefined,
  };
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const mode = state.mode;
      state.seen[mode] += 1;
      if (mode === 'reset') return void request.socket.destroy();
      if (mode === 'gateway_503') return void response.writeHead(503, { 'content-type': 'text/html' }).end('<h1>503 Service Unavailable</h1>');
      const signature = request.headers[simSignatureHeader.toLowerCase()];
      fetch(`${target}${request.url ?? '/'}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', [simSignatureHeader]: typeof signature === 'string' ? signature : '' },
        body: Buffer.concat(chunks),
      })
        .then(async (answer) => {
          const text = await answer.text();
          response.writeHead(answer.status, { 'content-type': 'application/json; charset=utf-8', [simSignatureHeader]: answer.headers.get(simSignatureHeader) ?? '' });
          response.end(text);
        })
        .catch(() => void response.writeHead(502).end());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  });
}

/** The simulator's calls for the cards of one member, grouped by request id. */
async function callsByRequest(t: TestApp, apiKey: string, memberId: string, sim: IdentitySimulator): Promise<Map<string, SimulatedCall[]>> {
  const cards = listOf(await t.call('GET', `/v1/members/${memberId}/cards`, apiKey)).data;
  const cardIds = new Set(cards.map((card) => fromPublicId('card', card.id) ?? ''));
  const grouped = new Map<string, SimulatedCall[]>();
  for (const call of sim.calls()) {
    if (!cardIds.has(call.requestId.split(':')[0] ?? '')) continue;
    grouped.set(call.requestId, [...(grouped.get(call.requestId) ?? []), call]);
  }
  return grouped;
}

for (const adapter of ADAPTERS) {
  describe(`identity verification over signed HTTP, sandbox (${adapter})`, () => {
    let sim: IdentitySimulator;
    let server: SimServer;
    let gate: Switch;
    let t: TestApp;
    let platform: SignedPlatform;

    beforeAll(async () => {
      sim = new IdentitySimulator({ seed: 7, timeoutRate: 0.5 });
      server = await startSimServer({ port: 0, secret, services: [identitySimService(sim)] });
      gate = await startSwitch(server.url);
      t = await openTestApp(adapter, { identity: { url: gate.url, secret } });
      platform = await signPlatform(t);
    });

    afterAll(async () => {
      await t?.dispose();
      await gate?.close();
      await server?.close();
    });

    it('binds four-element and small-amount cards through the simulator, which delivers the SMS', async () => {
      const person = await openMember(t, platform.apiKey);
      const card = await bindCard(t, platform.apiKey, person, 'four_element');
      const texts = sim.smsSent(person.input.phone);
      expect(texts.at(-1)).toContain(card.answer.sms_code as string);
      const firm = await openMember(t, platform.apiKey, enterprise());
      await bindCard(t, platform.apiKey, firm, 'small_amount');
      const mismatch = await t.call('POST', `/v1/members/${person.id}/cards`, platform.apiKey, {
        method: 'four_element',
        card_number: cardEndingIn('0002'),
        phone: person.input.phone,
      });
      expectError(mismatch, 'verification_failed', 'card_number');
      const cardUuid = fromPublicId('card', card.id);
      expect(sim.calls().filter((call) => call.requestId.startsWith(`${cardUuid ?? '?'}:`)).map((call) => call.kind)).toEqual(
        expect.arrayContaining(['four_elements', 'sms']),
      );
    });

    it('retries a timed-out call with the same request id, and is charged for it once', async () => {
      const own = await signPlatform(t);
      const member = await openMember(t, own.apiKey);
      for (let i = 0; i < 3; i++) await bindCard(t, own.apiKey, member, i === 1 ? 'small_amount' : 'four_element');
      const grouped = await callsByRequest(t, own.apiKey, member.id, sim);
      expect(grouped.size).toBe(5);
      const retried = [...grouped.values()].filter((calls) => calls.length > 1);
      expect(retried.length).toBeGreaterThan(0);
      for (const [requestId, calls] of grouped) {
        const last = calls.at(-1);
        expect(last?.timedOut, requestId).toBe(false);
        expect(calls.slice(0, -1).every((call) => call.timedOut), requestId).toBe(true);
        expect(calls.map((call) => call.replayed), requestId).toEqual(calls.map((_, i) => i > 0));
        expect(new Set(calls.map((call) => call.outcome)).size, requestId).toBe(1);
        const charged = calls.reduce((sum, call) => sum + call.feeMinor, 0n);
        expect(charged, requestId).toBe(calls[0]?.kind === 'sms' ? 0n : 50n);
      }
      for (const calls of retried) expect(calls[0]?.requestId).toBe(calls[1]?.requestId);
      // Custos records one call per request id, whatever the attempts, and the invoice agrees.
      const simFee = [...grouped.values()].flat().reduce((sum, call) => sum + call.feeMinor, 0n);
      const report = await feeReport(t, own.id);
      expect(report).toMatchObject({ calls: 5, total_fee: Number(simFee) });
      expect(report.total_fee).toBe(150);
      expect(report.lines).toEqual([
        { kind: 'four_element', provider: 'sim', calls: 2, fee: 100 },
        { kind: 'micro_deposit', provider: 'sim', calls: 1, fee: 50 },
        { kind: 'sms', provider: 'sim', calls: 2, fee: 0 },
      ]);
    });

    it('answers 503 unavailable when the provider cannot be reached, and does not replay it', async () => {
      const own = await signPlatform(t);
      const member = await openMember(t, own.apiKey);
      const body = { method: 'four_element', card_number: goodCard(), phone: member.input.phone };
      const headers = { 'idempotency-key': 'bind-while-down' };
      gate.mode = 'reset';
      const attemptsBefore = gate.seen.reset;
      let down;
      try {
        down = await t.call('POST', `/v1/members/${member.id}/cards`, own.apiKey, body, headers);
      } finally {
        gate.mode = 'up';
      }
      expectError(down, 'unavailable');
      expect(gate.seen.reset - attemptsBefore).toBeGreaterThan(1);
      expect(listOf(await t.call('GET', `/v1/members/${member.id}/cards`, own.apiKey)).data.map((card) => card.status)).toEqual(['failed']);

      const again = await t.call('POST', `/v1/members/${member.id}/cards`, own.apiKey, body, headers);
      expect(again.statusCode).toBe(201);
      expect(again.headers['idempotent-replayed']).toBeUndefined();
      const replay = await t.call('POST', `/v1/members/${member.id}/cards`, own.apiKey, body, headers);
      expect(replay.headers['idempotent-replayed']).toBe('true');
      expect(replay.body).toBe(again.body);
      const card = json(again);
      const code = ((card.sandbox as { sms_code: string }).sms_code);
      expect(json(await t.call('POST', `/v1/members/${member.id}/cards/${card.id as string}/confirm`, own.apiKey, { sms_code: code })).status).toBe('bound');
      // The unanswered call cost nothing.
      const report = await feeReport(t, own.id);
      expect(report.total_fee).toBe(50);
      expect(report.lines.find((line) => line.kind === 'four_element')).toEqual({ kind: 'four_element', provider: 'sim', calls: 2, fee: 50 });
    });

    // A 503 from a gateway in front of the provider is "no answer from the provider itself"
    // (http-identity-verifier.ts retries 502/503/504), so it should be retried and end as 503
    // unavailable. But postToSimServer checks the signature before the status, so the unsigned
    // 503 is taken for a forged answer: not retried, and the card service lets the error out as
    // 500 internal_error, leaving the card `verifying` without a challenge.
    it('retries a gateway’s unsigned 503 and answers 503 unavailable', async () => {
      const own = await signPlatform(t);
      const member = await openMember(t, own.apiKey);
      gate.mode = 'gateway_503';
      const before = gate.seen.gateway_503;
      let response;
      try {
        response = await t.call('POST', `/v1/members/${member.id}/cards`, own.apiKey, { method: 'four_element', card_number: goodCard(), phone: member.input.phone });
      } finally {
        gate.mode = 'up';
      }
      expect(gate.seen.gateway_503 - before).toBeGreaterThan(1);
      expectError(response, 'unavailable');
    });
  });

  describe(`identity verification over signed HTTP, outside the sandbox (${adapter})`, () => {
    let sim: IdentitySimulator;
    let server: SimServer;
    let t: TestApp;

    beforeAll(async () => {
      sim = new IdentitySimulator({ seed: 11, timeoutRate: 0 });
      // Live mode needs every rail: the payout rail is served by the same simulator process.
      const payouts = new PayoutSimulator({ clock: systemClock });
      server = await startSimServer({ port: 0, secret, services: [identitySimService(sim), payoutSimService(payouts)] });
      t = await openTestApp(adapter, { sandbox: false, identity: { url: server.url, secret }, payout: { url: server.url, secret } });
    });

    afterAll(async () => {
      await t?.dispose();
      await server?.close();
    });

    it('shows no sandbox answers, issues live keys and keeps the clock still', async () => {
      const platform = await signPlatform(t);
      expect(platform.apiKey).toMatch(/^ck_live_/);
      expect(json(await t.call('GET', '/v1/ops/clock', adminToken))).toMatchObject({ sandbox: false });
      expectError(await t.call('POST', '/v1/ops/clock/advance', adminToken, { seconds: 60 }), 'forbidden');

      const member = await openMember(t, platform.apiKey);
      const started = await t.call('POST', `/v1/members/${member.id}/cards`, platform.apiKey, {
        method: 'four_element',
        card_number: goodCard(),
        phone: member.input.phone,
      });
      expect(started.statusCode).toBe(201);
      const card = json(started);
      expect(card).not.toHaveProperty('sandbox');
      expect(card.status).toBe('verifying');
      // The member reads the code on the phone (the simulator's inbox).
      const code = /\b(\d{6})\b/.exec(sim.smsSent(member.input.phone).at(-1) ?? '')?.[1];
      expect(code).toMatch(/^\d{6}$/);
      const bound = await t.call('POST', `/v1/members/${member.id}/cards/${card.id as string}/confirm`, platform.apiKey, { sms_code: code });
      expect(json(bound).status).toBe('bound');

      const deposit = await t.call('POST', `/v1/members/${member.id}/cards`, platform.apiKey, { method: 'small_amount', card_number: goodCard() });
      expect(deposit.statusCode).toBe(201);
      expect(json(deposit)).not.toHaveProperty('sandbox');
    });
  });
}
