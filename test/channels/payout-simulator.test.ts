import { describe, expect, it } from 'vitest';
import { PayoutOutcomeUnknownError } from '../../src/channels/payout/payout-channel.js';
import type { PayoutRail, SendPayout } from '../../src/channels/payout/payout-channel.js';
import {
  bankStatementHeader,
  isPayoutRailOpen,
  nextPayoutRailOpeningMs,
  payoutCalendar,
  payoutRailFor,
  PayoutRequestError,
  PayoutSimulator,
  RailClosedError,
} from '../../src/channels/payout/payout-simulator.js';
import type { PayoutSimulatorOptions } from '../../src/channels/payout/payout-simulator.js';
import type { Clock } from '../../src/clock.js';

/** Monday 2024-03-04 10:00 in Shanghai (02:00 UTC): the high-value rail is open. */
const mondayMorningMs = Date.UTC(2024, 2, 4, 2);
const dayMs = 86_400_000;

const cards = {
  ordinary: '6222020000001234',
  fails: '6222020000000003',
  unknown: '6222020000000004',
  returned: '6222020000000005',
} as const;

/** Time moves only when a test moves it. */
class ManualClock implements Clock {
  constructor(private ms: number = mondayMorningMs) {}

  nowMs(): number {
    return this.ms;
  }

  advance(ms: number): void {
    this.ms += ms;
  }
}

function simulator(clock: Clock, options: Partial<PayoutSimulatorOptions> = {}): PayoutSimulator {
  return new PayoutSimulator({ clock, decisionDelayMs: { min: 500, max: 500 }, ...options });
}

function payout(payoutId: string, cardNumber: string = cards.ordinary, amountMinor = 10_000n, overrides: Partial<SendPayout> = {}): SendPayout {
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

/** The statement's debit lines for one payout: money that left for it, counted apart from `paidTwice`. */
function debitLines(csv: string, orderNo: string): string[] {
  return csv.split('\n').filter((line) => line.includes(',debit,') && line.split(',')[5] === orderNo);
}

describe('PayoutSimulator magic cards', () => {
  it('answers an ordinary payout processing at once and decides it succeeded after the delay', async () => {
    const clock = new ManualClock();
    const sim = simulator(clock);
    const sent = await sim.sendPayout(payout('p-ok'));
    expect(sent).toMatchObject({ payoutId: 'p-ok', status: 'processing', amountMinor: 10_000n, decidedAtMs: null, returnedAtMs: null, failureReason: null });
    expect(sent.railTxnId).toMatch(/^po_[0-9a-z]{6}[0-9a-f]{8}$/);
    clock.advance(499);
    expect(await sim.queryPayout('p-ok')).toMatchObject({ status: 'processing' });
    clock.advance(1);
    expect(await sim.queryPayout('p-ok')).toEqual({ ...sent, status: 'succeeded', decidedAtMs: mondayMorningMs + 500 });
    expect(await sim.queryPayout('p-never')).toBeNull();
  });

  it('fails a payout to a card ending 0003, and no money leaves for it', async () => {
    const clock = new ManualClock();
    const sim = simulator(clock);
    await sim.sendPayout(payout('p-fail', cards.fails));
    clock.advance(500);
    const failed = await sim.queryPayout('p-fail');
    expect(failed).toMatchObject({ status: 'failed', failureReason: 'account_frozen_at_bank', decidedAtMs: mondayMorningMs + 500 });
    expect(sim.payouts()).toMatchObject([{ payoutId: 'p-fail', status: 'failed', paidAtMs: null, cardLast4: '0003' }]);
    expect(sim.statement(mondayMorningMs, mondayMorningMs + dayMs)).toBe(`${bankStatementHeader}\n`);
  });

  it('loses the first answer for a card ending 0004 though the rail took the payout, which a query then finds succeeded', async () => {
    const clock = new ManualClock();
    const sim = simulator(clock);
    const lost = await settle(sim.sendPayout(payout('p-unknown', cards.unknown)));
    expect(lost).toBeInstanceOf(PayoutOutcomeUnknownError);
    expect(lost).toMatchObject({ payoutId: 'p-unknown' });
    expect(sim.payouts()).toMatchObject([{ payoutId: 'p-unknown', status: 'processing', sends: 1, answersLost: 1 }]);
    expect(await sim.queryPayout('p-unknown')).toMatchObject({ status: 'processing' });
    clock.advance(500);
    expect(await sim.queryPayout('p-unknown')).toMatchObject({ status: 'succeeded', decidedAtMs: mondayMorningMs + 500 });
    // A later send is answered: only the first answer of a 0004 payout is lost.
    expect(await sim.sendPayout(payout('p-unknown', cards.unknown))).toMatchObject({ status: 'succeeded' });
    expect(sim.payouts()).toMatchObject([{ sends: 2, answersLost: 1 }]);
    expect(sim.paidTwice()).toEqual([]);
  });

  it('pays a card ending 0005, then returns the money a day after it was paid', async () => {
    const clock = new ManualClock();
    const sim = simulator(clock);
    await sim.sendPayout(payout('p-return', cards.returned));
    clock.advance(500);
    const paidAtMs = mondayMorningMs + 500;
    expect(await sim.queryPayout('p-return')).toMatchObject({ status: 'succeeded', decidedAtMs: paidAtMs, returnedAtMs: null });
    clock.advance(dayMs - 1);
    expect(await sim.queryPayout('p-return')).toMatchObject({ status: 'succeeded' });
    clock.advance(1);
    const returned = await sim.queryPayout('p-return');
    // The port's `decidedAtMs` is the moment the money came back once a payout is returned.
    expect(returned).toMatchObject({
      status: 'returned',
      returnedAtMs: paidAtMs + dayMs,
      decidedAtMs: paidAtMs + dayMs,
      failureReason: 'returned_by_beneficiary_bank',
    });
    expect(sim.payouts()).toMatchObject([{ status: 'returned', paidAtMs, returnedAtMs: paidAtMs + dayMs }]);
  });

  it('returns after returnAfterMs when configured, and decides both steps at once for a late first query', async () => {
    const clock = new ManualClock();
    const sim = simulator(clock, { returnAfterMs: 3_600_000 });
    await sim.sendPayout(payout('p-return-hour', cards.returned));
    clock.advance(10 * 3_600_000);
    expect(await sim.queryPayout('p-return-hour')).toMatchObject({ status: 'returned', returnedAtMs: mondayMorningMs + 500 + 3_600_000 });
  });
});

describe('PayoutSimulator never pays twice', () => {
  it('treats five sends of one payout as one payout, counting the sends', async () => {
    const clock = new ManualClock();
    const sim = simulator(clock);
    const first = await sim.sendPayout(payout('p-five'));
    for (let i = 0; i < 3; i++) expect(await sim.sendPayout(payout('p-five'))).toEqual(first);
    clock.advance(500);
    expect(await sim.sendPayout(payout('p-five'))).toMatchObject({ status: 'succeeded', railTxnId: first.railTxnId });
    expect(sim.payouts()).toHaveLength(1);
    expect(sim.payouts()).toMatchObject([{ payoutId: 'p-five', sends: 5, answersLost: 0, status: 'succeeded' }]);
    expect(sim.paidTwice()).toEqual([]);
    expect(debitLines(sim.statement(mondayMorningMs, mondayMorningMs + dayMs), 'wd-p-five')).toHaveLength(1);
  });

  it('refuses the same payout id with another amount or card, without counting it as a send', async () => {
    const sim = simulator(new ManualClock());
    await sim.sendPayout(payout('p-reused'));
    for (const other of [payout('p-reused', cards.ordinary, 10_001n), payout('p-reused', '6222020000009999')]) {
      const refused = await settle(sim.sendPayout(other));
      expect(refused).toBeInstanceOf(PayoutRequestError);
      expect(refused).toMatchObject({ code: 'payout_id_reused' });
    }
    expect(sim.payouts()).toMatchObject([{ sends: 1, amountMinor: 10_000n, cardLast4: '1234' }]);
  });

  it('records a payout whose answer is lost, decides it once, and answers nothing twice', async () => {
    const clock = new ManualClock();
    const sim = simulator(clock, { unknownRate: 1 });
    for (let i = 0; i < 3; i++) expect(await settle(sim.sendPayout(payout('p-lossy')))).toBeInstanceOf(PayoutOutcomeUnknownError);
    clock.advance(500);
    expect(await sim.queryPayout('p-lossy')).toMatchObject({ status: 'succeeded' });
    expect(sim.payouts()).toMatchObject([{ sends: 3, answersLost: 3 }]);
    expect(sim.paidTwice()).toEqual([]);
    expect(debitLines(sim.statement(mondayMorningMs, mondayMorningMs + dayMs), 'wd-p-lossy')).toHaveLength(1);
  });
});

describe('PayoutSimulator rails and calendar', () => {
  const shanghai = payoutCalendar('Asia/Shanghai', ['2024-04-04', '2024-04-05']);
  const cases: readonly [string, string, boolean][] = [
    ['Monday 08:29', '2024-03-04T00:29:00Z', false],
    ['Monday 08:29:59', '2024-03-04T00:29:59.999Z', false],
    ['Monday 08:30', '2024-03-04T00:30:00Z', true],
    ['Monday 16:59', '2024-03-04T08:59:00Z', true],
    ['Monday 16:59:59', '2024-03-04T08:59:59.999Z', true],
    ['Monday 17:00', '2024-03-04T09:00:00Z', false],
    ['Friday 10:00', '2024-03-08T02:00:00Z', true],
    ['Saturday 10:00', '2024-03-09T02:00:00Z', false],
    ['Sunday 10:00', '2024-03-10T02:00:00Z', false],
    // 07:00 on Monday in Shanghai, still Sunday in UTC: the zone decides the day.
    ['Monday 07:00 (Sunday 23:00 UTC)', '2024-03-03T23:00:00Z', false],
    ['Thursday holiday 10:00', '2024-04-04T02:00:00Z', false],
    ['Wednesday before the holiday 10:00', '2024-04-03T02:00:00Z', true],
  ];
  for (const [label, iso, open] of cases) {
    it(`keeps the high-value rail ${open ? 'open' : 'closed'} on ${label} in Asia/Shanghai`, () => {
      expect(isPayoutRailOpen('high_value', Date.parse(iso), shanghai)).toBe(open);
      expect(simulator(new ManualClock(), { holidays: ['2024-04-04'] }).isOpen('high_value', Date.parse(iso))).toBe(open);
    });
  }

  it('keeps the real-time rail open always, and reads hours in the configured zone', () => {
    const sim = simulator(new ManualClock());
    for (const iso of ['2024-03-09T18:00:00Z', '2024-04-04T02:00:00Z', '2024-03-04T09:00:00Z']) {
      expect(sim.isOpen('realtime', Date.parse(iso))).toBe(true);
    }
    // 09:30 UTC is 17:30 in Shanghai but business hours in London in March.
    const atMs = Date.parse('2024-03-04T09:30:00Z');
    expect(sim.isOpen('high_value', atMs)).toBe(false);
    expect(simulator(new ManualClock(), { timeZone: 'Europe/London' }).isOpen('high_value', atMs)).toBe(true);
    // Auckland (UTC+13 in March) starts its Monday on Sunday in UTC, and its Saturday on Friday.
    const auckland = payoutCalendar('Pacific/Auckland');
    expect(isPayoutRailOpen('high_value', Date.parse('2024-03-03T21:00:00Z'), auckland)).toBe(true);
    expect(isPayoutRailOpen('high_value', Date.parse('2024-03-08T21:00:00Z'), auckland)).toBe(false);
  });

  it('finds the next opening past weekends and holidays', () => {
    const next = (iso: string): string => new Date(nextPayoutRailOpeningMs('high_value', Date.parse(iso), shanghai)).toISOString();
    expect(next('2024-03-08T09:00:00Z')).toBe('2024-03-11T00:30:00.000Z');
    expect(next('2024-03-04T00:00:00Z')).toBe('2024-03-04T00:30:00.000Z');
    expect(next('2024-04-03T09:00:00Z')).toBe('2024-04-08T00:30:00.000Z');
    expect(next('2024-03-04T02:00:00Z')).toBe('2024-03-04T02:00:00.000Z');
    expect(nextPayoutRailOpeningMs('realtime', 5, shanghai)).toBe(5);
  });

  it('refuses a high-value payout while the rail is closed and records nothing, then takes it when open', async () => {
    const saturdayMs = Date.parse('2024-03-09T02:00:00Z');
    const clock = new ManualClock(saturdayMs);
    const sim = simulator(clock);
    const big = payout('p-big', cards.ordinary, 6_000_000n);
    expect(big.rail).toBe('high_value');
    const refused = await settle(sim.sendPayout(big));
    expect(refused).toBeInstanceOf(RailClosedError);
    expect(refused).toMatchObject({ rail: 'high_value', atMs: saturdayMs, opensAtMs: Date.parse('2024-03-11T00:30:00Z') });
    expect(sim.payouts()).toEqual([]);
    expect(await sim.queryPayout('p-big')).toBeNull();
    expect(await sim.sendPayout(payout('p-small', cards.ordinary, 5_000_000n))).toMatchObject({ status: 'processing' });
    clock.advance(Date.parse('2024-03-11T00:30:00Z') - saturdayMs);
    expect(await sim.sendPayout(big)).toMatchObject({ status: 'processing' });
    expect(sim.payouts().map((p) => [p.payoutId, p.rail, p.sends])).toEqual([
      ['p-small', 'realtime', 1],
      ['p-big', 'high_value', 1],
    ]);
  });

  it('keeps ¥50,000 on the real-time rail and refuses more there', async () => {
    expect(payoutRailFor(5_000_000n)).toBe('realtime');
    expect(payoutRailFor(5_000_001n)).toBe('high_value');
    const sim = simulator(new ManualClock());
    const refused = await settle(sim.sendPayout(payout('p-over', cards.ordinary, 5_000_001n, { rail: 'realtime' })));
    expect(refused).toMatchObject({ code: 'rail_limit_exceeded' });
    expect(sim.payouts()).toEqual([]);
    // A small payout may take the high-value rail, as banks allow.
    expect(await sim.sendPayout(payout('p-small-hv', cards.ordinary, 100n, { rail: 'high_value' }))).toMatchObject({ status: 'processing' });
  });
});

describe('PayoutSimulator requests, determinism, statement and bounds', () => {
  it('refuses malformed requests in a fixed order, the payout id first', async () => {
    const sim = simulator(new ManualClock());
    const cases: [Partial<SendPayout>, string][] = [
      [{ payoutId: '', amountMinor: 0n }, 'payoutId'],
      [{ platformId: '', amountMinor: 0n }, 'platformId'],
      [{ orderNo: 'a\nb', amountMinor: 0n }, 'orderNo'],
      [{ amountMinor: 0n, currency: 'usd' }, 'amountMinor'],
      [{ currency: 'USD', cardNumber: 'x' }, 'currency'],
      [{ rail: 'swift' as PayoutRail, cardNumber: 'x' }, 'rail'],
      [{ cardNumber: '6222-0200-0000-1234', accountName: '' }, 'cardNumber'],
      [{ accountName: '' }, 'accountName'],
    ];
    for (const [overrides, field] of cases) {
      const refused = await settle(sim.sendPayout(payout('p-bad', cards.ordinary, 10_000n, overrides)));
      expect(refused).toBeInstanceOf(PayoutRequestError);
      expect(refused).toMatchObject({ code: 'invalid_request' });
      expect((refused as Error).message).toContain(field);
    }
    expect(sim.payouts()).toEqual([]);
  });

  it('gives the same references, decision times and lost answers for the same seed and calls', async () => {
    const run = async (seed: number): Promise<{ answers: string[]; payouts: unknown; statement: string }> => {
      const clock = new ManualClock();
      const sim = new PayoutSimulator({ clock, seed, unknownRate: 0.3 });
      const answers: string[] = [];
      for (let i = 0; i < 20; i++) {
        const card = [cards.ordinary, cards.fails, cards.unknown, cards.returned][i % 4] ?? cards.ordinary;
        // Ids repeat after fifteen calls, so replays draw too.
        const result = await settle(sim.sendPayout(payout(`p-${i % 15}`, card, BigInt(1000 + (i % 15)))));
        answers.push(result instanceof PayoutOutcomeUnknownError ? 'unknown' : result instanceof Error ? result.message : result.status);
        clock.advance(700);
      }
      clock.advance(2 * dayMs);
      return { answers, payouts: sim.payouts(), statement: sim.statement(mondayMorningMs, clock.nowMs()) };
    };
    const first = await run(42);
    expect(first.answers).toContain('unknown');
    expect(first.answers).toContain('processing');
    expect(await run(42)).toEqual(first);
    expect(await run(43)).not.toEqual(first);
  });

  it('writes succeeded payouts as debits and returned ones also as credits, by time, in the bank statement format', async () => {
    const clock = new ManualClock();
    const sim = simulator(clock, { decisionDelayMs: { min: 1000, max: 1000 } });
    // The returned payout comes first, so its credit must be sorted after the later payout's debit.
    await sim.sendPayout(payout('p-b', cards.returned, 500n, { platformId: 'plat_2' }));
    await sim.sendPayout(payout('p-fail', cards.fails));
    clock.advance(10_000);
    await sim.sendPayout(payout('p-a', cards.ordinary, 12_345n, { accountName: 'Li, "Lei"' }));
    clock.advance(2 * dayMs);
    const [b, , a] = sim.payouts();
    const t = (ms: number): string => new Date(ms).toISOString();
    const all = sim.statement(mondayMorningMs, mondayMorningMs + 2 * dayMs);
    expect(all).toBe(
      [
        bankStatementHeader,
        `${b?.railTxnId},debit,500,${cards.returned},Zhang San,wd-p-b,${t(mondayMorningMs + 1000)}`,
        `${a?.railTxnId},debit,12345,${cards.ordinary},"Li, ""Lei""",wd-p-a,${t(mondayMorningMs + 11_000)}`,
        `${b?.railTxnId}_rt,credit,500,${cards.returned},Zhang San,wd-p-b,${t(mondayMorningMs + 1000 + dayMs)}`,
        '',
      ].join('\n'),
    );
    expect(sim.statement(mondayMorningMs, mondayMorningMs + 2 * dayMs, 'plat_1').split('\n')).toEqual([bankStatementHeader, expect.stringContaining('wd-p-a'), '']);
    // [from, to): the credit at exactly `to` belongs to the next window.
    expect(sim.statement(mondayMorningMs + 1001, mondayMorningMs + 1000 + dayMs).split('\n')).toHaveLength(3);
    expect(() => sim.statement(2, 1)).toThrow(PayoutRequestError);
  });

  it('forgets only settled payouts when full, oldest settled first, and refuses new ones while all are in flight', async () => {
    const clock = new ManualClock();
    const sim = simulator(clock, { payoutsRememberedMax: 2 });
    await sim.sendPayout(payout('p-1'));
    await sim.sendPayout(payout('p-2', cards.returned));
    expect(await settle(sim.sendPayout(payout('p-3')))).toMatchObject({ code: 'rail_busy' });
    clock.advance(500);
    // p-1 has settled; p-2 waits for its return and must not be forgotten.
    await sim.sendPayout(payout('p-3'));
    expect(await sim.queryPayout('p-1')).toBeNull();
    expect(await sim.queryPayout('p-2')).toMatchObject({ status: 'succeeded' });
    expect(sim.stats()).toEqual({ payoutsRemembered: 2, inFlight: 2, forgotten: 1 });
    expect(await settle(sim.sendPayout(payout('p-4')))).toMatchObject({ code: 'rail_busy' });
  });

  it('refuses options outside their bounds', () => {
    const clock = new ManualClock();
    expect(() => new PayoutSimulator({ clock, decisionDelayMs: { min: 10, max: 5 } })).toThrow();
    expect(() => new PayoutSimulator({ clock, unknownRate: 1.5 })).toThrow();
    expect(() => new PayoutSimulator({ clock, returnAfterMs: 0 })).toThrow();
    expect(() => new PayoutSimulator({ clock, holidays: ['2024-02-30'] })).toThrow();
    expect(() => new PayoutSimulator({ clock, timeZone: 'Mars/Olympus' })).toThrow();
    expect(() => new PayoutSimulator({ clock, name: 'Bad Name' })).toThrow();
    expect(() => new PayoutSimulator({ clock, payoutsRememberedMax: 0 })).toThrow();
    expect(new PayoutSimulator({ clock }).name).toBe('sim');
  });
});
