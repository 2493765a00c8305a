import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AcquiringSimulator } from '../../src/channels/acquiring/acquiring-simulator.js';
import { HttpPayoutChannel, PayoutResponseError } from '../../src/channels/payout/http-payout-channel.js';
import { PayoutOutcomeUnknownError } from '../../src/channels/payout/payout-channel.js';
import type { PayoutRail, SendPayout } from '../../src/channels/payout/payout-channel.js';
import { payoutSimPaths, payoutSimService } from '../../src/channels/payout/payout-sim-service.js';
import { bankStatementHeader, payoutRailFor, PayoutRequestError, PayoutSimulator, RailClosedError } from '../../src/channels/payout/payout-simulator.js';
import { postToSimServer, startSimServer } from '../../src/channels/sim-server.js';
import type { SimServer, SimService } from '../../src/channels/sim-server.js';
import type { Clock } from '../../src/clock.js';
import { simServices } from '../../src/cli/sim-command.js';

const secret = 'payout-http-secret';
/** Monday 2024-03-04 10:00 in Shanghai. The server signs with the wall clock, the simulator decides by this one. */
const mondayMorningMs = Date.UTC(2024, 2, 4, 2);
const saturdayMs = Date.UTC(2024, 2, 9, 2);
const dayMs = 86_400_000;

class ManualClock implements Clock {
  constructor(private ms: number = mondayMorningMs) {}

  nowMs(): number {
    return this.ms;
  }

  advance(ms: number): void {
    this.ms += ms;
  }
}

function payout(payoutId: string, cardNumber = '6222020000001234', amountMinor = 10_000n, overrides: Partial<SendPayout> = {}): SendPayout {
  return {
    payoutId,
    platformId: 'plat_1',
    orderNo: `wd-${payoutId}`,
    amountMinor,
    currency: 'CNY',
    rail: payoutRailFor(amountMinor),
    cardNumber,
    accountName: 'Zhang San',
    ...overrides,
  };
}

async function settle<T>(promise: Promise<T>): Promise<T | Error> {
  return promise.catch((error: unknown) => (error instanceof Error ? error : new Error(String(error))));
}

async function withServer(services: readonly SimService[], body: (server: SimServer) => Promise<void>): Promise<void> {
  const server = await startSimServer({ port: 0, secret, services });
  try {
    await body(server);
  } finally {
    await server.close();
  }
}

describe('payouts over the sim server', () => {
  const clock = new ManualClock();
  const sim = new PayoutSimulator({ clock, seed: 5, decisionDelayMs: { min: 100, max: 100 } });
  let server: SimServer;
  let channel: HttpPayoutChannel;

  beforeAll(async () => {
    server = await startSimServer({ port: 0, secret, services: [payoutSimService(sim)] });
    channel = new HttpPayoutChannel({ baseUrl: server.url, secret });
  });

  afterAll(async () => {
    await server.close();
  });

  it('sends, decides and reads back each magic card end to end, amounts as bigints', async () => {
    const ok = await channel.sendPayout(payout('h-ok'));
    expect(ok).toMatchObject({ payoutId: 'h-ok', status: 'processing', amountMinor: 10_000n, decidedAtMs: null });
    await channel.sendPayout(payout('h-fail', '6222020000000003'));
    await channel.sendPayout(payout('h-return', '6222020000000005', 7n));
    expect(await channel.queryPayout('h-ok')).toEqual(ok);
    clock.advance(100);
    const decidedAtMs = clock.nowMs();
    expect(await channel.queryPayout('h-ok')).toEqual({ ...ok, status: 'succeeded', decidedAtMs });
    expect(await channel.queryPayout('h-fail')).toMatchObject({ status: 'failed', failureReason: 'account_frozen_at_bank', decidedAtMs });
    expect(await channel.queryPayout('h-return')).toMatchObject({ status: 'succeeded', amountMinor: 7n });
    clock.advance(dayMs);
    expect(await channel.queryPayout('h-return')).toMatchObject({
      status: 'returned',
      returnedAtMs: decidedAtMs + dayMs,
      failureReason: 'returned_by_beneficiary_bank',
    });
    expect(await channel.queryPayout('h-never')).toBeNull();
  });

  it('answers a lost first answer for a 0004 card with 504, mapped to PayoutOutcomeUnknownError; a query then finds the payout', async () => {
    const lost = await settle(channel.sendPayout(payout('h-unknown', '6222020000000004')));
    expect(lost).toBeInstanceOf(PayoutOutcomeUnknownError);
    expect(lost).toMatchObject({ payoutId: 'h-unknown' });
    expect(String((lost as Error).cause)).toContain('504');
    expect(await channel.queryPayout('h-unknown')).toMatchObject({ status: 'processing' });
    clock.advance(100);
    expect(await channel.queryPayout('h-unknown')).toMatchObject({ status: 'succeeded' });
    expect(await channel.sendPayout(payout('h-unknown', '6222020000000004'))).toMatchObject({ status: 'succeeded' });
    expect(sim.payouts().find((p) => p.payoutId === 'h-unknown')).toMatchObject({ sends: 2, answersLost: 1 });
    expect(sim.paidTwice()).toEqual([]);
  });

  it('maps refusals to the simulator\'s own errors: a reused id, a malformed request, too much for the real-time rail', async () => {
    await channel.sendPayout(payout('h-reused'));
    expect(await settle(channel.sendPayout(payout('h-reused', '6222020000001234', 10_001n)))).toMatchObject({ code: 'payout_id_reused' });
    const malformed = await settle(channel.sendPayout(payout('h-bad', '62220200', 10_000n)));
    expect(malformed).toBeInstanceOf(PayoutRequestError);
    expect(malformed).toMatchObject({ code: 'invalid_request' });
    expect(await settle(channel.sendPayout(payout('h-over', '6222020000001234', 5_000_001n, { rail: 'realtime' })))).toMatchObject({
      code: 'rail_limit_exceeded',
    });
    expect(sim.payouts().map((p) => p.payoutId)).not.toContain('h-bad');
  });

  it('answers whether a rail is open as the local calendar does', async () => {
    const cases: [PayoutRail, string][] = [
      ['high_value', '2024-03-04T00:29:00Z'],
      ['high_value', '2024-03-04T00:30:00Z'],
      ['high_value', '2024-03-04T09:00:00Z'],
      ['high_value', '2024-03-09T02:00:00Z'],
      ['realtime', '2024-03-09T02:00:00Z'],
    ];
    const client = { baseUrl: server.url, secret, timeoutMs: 2000 };
    const answers = [];
    for (const [rail, at] of cases) {
      const answer = await postToSimServer(client, payoutSimPaths.railOpen, { rail, at });
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({ open: channel.isOpen(rail, Date.parse(at)) });
      answers.push((answer.body as { open: boolean }).open);
    }
    expect(answers).toEqual([false, true, false, false, true]);
    expect(await postToSimServer(client, payoutSimPaths.railOpen, { rail: 'swift', at: '2024-03-04T00:30:00Z' })).toMatchObject({ status: 400 });
  });

  it('serves the same statement as the simulator in-process, filtered by platform, and a bad window as a response error', async () => {
    const fromMs = mondayMorningMs - dayMs;
    const toMs = mondayMorningMs + 3 * dayMs;
    const csv = await channel.statement(fromMs, toMs);
    expect(csv).toBe(sim.statement(fromMs, toMs));
    expect(csv.startsWith(`${bankStatementHeader}\n`)).toBe(true);
    expect(csv).toContain(',debit,10000,6222020000001234,Zhang San,wd-h-ok,');
    expect(csv).toContain(',credit,7,6222020000000005,Zhang San,wd-h-return,');
    expect(await channel.statement(fromMs, toMs, 'plat_other')).toBe(`${bankStatementHeader}\n`);
    expect(await settle(channel.statement(toMs, fromMs))).toMatchObject({ reason: 'refused', status: 400, code: 'invalid_request' });
  });
});

describe('payouts over HTTP when things go wrong', () => {
  it('refuses a high-value payout while the rail is closed with 409 rail_closed, recording nothing', async () => {
    const sim = new PayoutSimulator({ clock: new ManualClock(saturdayMs) });
    await withServer([payoutSimService(sim)], async (server) => {
      const channel = new HttpPayoutChannel({ baseUrl: server.url, secret });
      const refused = await settle(channel.sendPayout(payout('h-big', '6222020000001234', 6_000_000n)));
      expect(refused).toBeInstanceOf(RailClosedError);
      expect(refused).toMatchObject({ rail: 'high_value', atMs: saturdayMs, opensAtMs: Date.UTC(2024, 2, 11, 0, 30) });
      expect(sim.payouts()).toEqual([]);
      expect(await channel.queryPayout('h-big')).toBeNull();
    });
  });

  it('does the work behind a lost answer (unknownRate) and a query finds it, paid once', async () => {
    const clock = new ManualClock();
    const sim = new PayoutSimulator({ clock, unknownRate: 1, decisionDelayMs: { min: 0, max: 0 } });
    await withServer([payoutSimService(sim)], async (server) => {
      const channel = new HttpPayoutChannel({ baseUrl: server.url, secret });
      expect(await settle(channel.sendPayout(payout('h-lossy')))).toBeInstanceOf(PayoutOutcomeUnknownError);
      expect(await settle(channel.sendPayout(payout('h-lossy')))).toBeInstanceOf(PayoutOutcomeUnknownError);
      expect(await channel.queryPayout('h-lossy')).toMatchObject({ status: 'succeeded', amountMinor: 10_000n });
      expect(sim.payouts()).toMatchObject([{ sends: 2, answersLost: 2 }]);
      expect(sim.paidTwice()).toEqual([]);
    });
  });

  it('maps a refused connection, a 5xx and an answer it cannot believe on send to PayoutOutcomeUnknownError', async () => {
    const server = await startSimServer({ port: 0, secret, services: [] });
    await server.close();
    const gone = new HttpPayoutChannel({ baseUrl: server.url, secret, timeoutMs: 500 });
    expect(await settle(gone.sendPayout(payout('h-gone')))).toBeInstanceOf(PayoutOutcomeUnknownError);
    expect(await settle(gone.queryPayout('h-gone'))).toBeInstanceOf(PayoutOutcomeUnknownError);

    const failing: SimService = { name: 'payout', handle: async () => ({ status: 503, body: { error: 'maintenance' } }) };
    await withServer([failing], async (url) => {
      const channel = new HttpPayoutChannel({ baseUrl: url.url, secret });
      expect(await settle(channel.sendPayout(payout('h-503')))).toBeInstanceOf(PayoutOutcomeUnknownError);
      expect(await settle(channel.queryPayout('h-503'))).toBeInstanceOf(PayoutOutcomeUnknownError);
    });

    const liar: SimService = {
      name: 'payout',
      handle: async () => ({
        status: 200,
        body: { payout_id: 'someone-else', rail_txn_id: 'po_1', status: 'succeeded', amount: '10000', decided_at: '2024-03-04T02:00:00Z', returned_at: null, failure_reason: null },
      }),
    };
    await withServer([liar], async (url) => {
      const channel = new HttpPayoutChannel({ baseUrl: url.url, secret });
      const sent = await settle(channel.sendPayout(payout('h-mine')));
      expect(sent).toBeInstanceOf(PayoutOutcomeUnknownError);
      expect((sent as Error).cause).toBeInstanceOf(PayoutResponseError);
      expect(await settle(channel.queryPayout('h-mine'))).toMatchObject({ reason: 'invalid_result' });
      const wrongSecret = new HttpPayoutChannel({ baseUrl: url.url, secret: 'another-secret' });
      expect(await settle(wrongSecret.sendPayout(payout('h-x')))).toBeInstanceOf(PayoutOutcomeUnknownError);
      expect(await settle(wrongSecret.queryPayout('h-x'))).toMatchObject({ reason: 'bad_signature' });
    });
  });

  it('checks its options and keeps the calendar it is given', () => {
    expect(() => new HttpPayoutChannel({ baseUrl: 'ftp://example.test', secret })).toThrow();
    expect(() => new HttpPayoutChannel({ baseUrl: 'http://127.0.0.1:1', secret: '' })).toThrow();
    expect(() => new HttpPayoutChannel({ baseUrl: 'http://127.0.0.1:1', secret, timeoutMs: 0 })).toThrow();
    expect(() => new HttpPayoutChannel({ baseUrl: 'http://127.0.0.1:1', secret, holidays: ['tomorrow'] })).toThrow();
    const holiday = new HttpPayoutChannel({ baseUrl: 'http://127.0.0.1:1', secret, holidays: ['2024-03-04'] });
    expect(holiday.name).toBe('sim');
    expect(holiday.isOpen('high_value', mondayMorningMs)).toBe(false);
    expect(new HttpPayoutChannel({ baseUrl: 'http://127.0.0.1:1', secret }).isOpen('high_value', mondayMorningMs)).toBe(true);
  });
});

describe('the sim command registry', () => {
  it('carries the payout service next to identity and acquiring when given a payout simulator', async () => {
    const clock = new ManualClock();
    const acquiring = new AcquiringSimulator({ clock, secret });
    expect(simServices(1, acquiring).map((service) => service.name)).toEqual(['identity', 'acquiring']);
    const services = simServices(1, acquiring, new PayoutSimulator({ clock }));
    expect(services.map((service) => service.name)).toEqual(['identity', 'acquiring', 'payout']);
    await withServer(services, async (server) => {
      const channel = new HttpPayoutChannel({ baseUrl: server.url, secret });
      expect(await channel.sendPayout(payout('h-cli'))).toMatchObject({ status: 'processing' });
    });
  });
});
