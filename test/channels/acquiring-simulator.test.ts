import { describe, expect, it } from 'vitest';
import type { ChannelCallback, CreatePayment, PaymentState } from '../../src/channels/acquiring/acquiring-channel.js';
import {
  AcquiringRequestError,
  AcquiringSimulator,
  acquiringSimulatorLimits,
  channelStatementHeader,
  paymentWire,
} from '../../src/channels/acquiring/acquiring-simulator.js';
import type { AcquiringSimulatorOptions, PaymentWire } from '../../src/channels/acquiring/acquiring-simulator.js';
import { signPayload } from '../../src/channels/signature.js';
import type { Clock } from '../../src/clock.js';

const secret = 'acquiring-secret-for-tests';
/** 2024-03-01T00:00:00Z: a fixed start, so decision times and statements are exact. */
const startMs = Date.UTC(2024, 2, 1);

/** Time moves only when a test moves it. */
class ManualClock implements Clock {
  constructor(private ms: number = startMs) {}

  nowMs(): number {
    return this.ms;
  }

  advance(ms: number): void {
    this.ms += ms;
  }
}

/** A sink that keeps every callback, in order. */
function recorder(): { sink: (callback: ChannelCallback) => Promise<void>; received: ChannelCallback[] } {
  const received: ChannelCallback[] = [];
  return { sink: async (callback) => void received.push(callback), received };
}

function simulator(clock: Clock, options: Partial<AcquiringSimulatorOptions> = {}): AcquiringSimulator {
  return new AcquiringSimulator({ clock, secret, duplicateRate: 0, staleRate: 0, ...options });
}

function payment(paymentId: string, amountMinor = 1000n, orderNo = `order-${paymentId}`): CreatePayment {
  return { paymentId, orderNo, amountMinor, currency: 'CNY', platformId: 'plat_1' };
}

function body(callback: ChannelCallback): PaymentWire {
  return JSON.parse(callback.body) as PaymentWire;
}

async function settle<T>(promise: Promise<T>): Promise<T | Error> {
  return promise.catch((error: unknown) => (error instanceof Error ? error : new Error(String(error))));
}

describe('AcquiringSimulator magic channels', () => {
  it('succeeds payments through sim, fails them through sim_fail, succeeds through any other configured name', async () => {
    const clock = new ManualClock();
    const sim = simulator(clock, { channels: ['sim', 'sim_fail', 'wechat_sim'] });
    const created = await sim.channel('sim').createPayment(payment('p-ok'));
    await sim.channel('sim_fail').createPayment(payment('p-fail'));
    await sim.channel('wechat_sim').createPayment(payment('p-other'));
    expect(created).toMatchObject({ paymentId: 'p-ok', status: 'pending', amountMinor: 1000n, decidedAtMs: null, failureReason: null });
    expect(created.channelTxnId).toMatch(/^sim_[0-9a-z]+$/);
    clock.advance(300);
    expect(await sim.channel('sim').queryPayment('p-ok')).toMatchObject({ status: 'succeeded', failureReason: null });
    expect(await sim.channel('sim_fail').queryPayment('p-fail')).toMatchObject({ status: 'failed', failureReason: 'declined_by_issuer' });
    expect(await sim.channel('wechat_sim').queryPayment('p-other')).toMatchObject({ status: 'succeeded' });
  });

  it('refuses a channel it does not serve, and does not tell one channel about another one\'s payment', async () => {
    const sim = simulator(new ManualClock());
    expect(() => sim.channel('alipay')).toThrow(AcquiringRequestError);
    await sim.channel('sim').createPayment(payment('p-1'));
    expect(await sim.channel('sim_fail').queryPayment('p-1')).toBeNull();
    expect(await sim.channel('sim').queryPayment('never-created')).toBeNull();
    expect(sim.channel('sim')).toBe(sim.channel('sim'));
  });

  it('refuses malformed requests in a fixed order, the payment id first', async () => {
    const port = simulator(new ManualClock()).channel('sim');
    const cases: [CreatePayment, string][] = [
      [{ ...payment(''), amountMinor: 0n }, 'paymentId'],
      [{ ...payment('p'), orderNo: 'a\nb', amountMinor: 0n }, 'orderNo'],
      [payment('p', 0n), 'amountMinor'],
      [payment('p', -5n), 'amountMinor'],
      [payment('p', acquiringSimulatorLimits.amountMinorMax + 1n), 'amountMinor'],
      [{ ...payment('p'), currency: 'yuan' }, 'currency'],
      [{ ...payment('p'), platformId: '' }, 'platformId'],
    ];
    for (const [request, field] of cases) {
      const error = await settle(port.createPayment(request));
      expect(error).toBeInstanceOf(AcquiringRequestError);
      expect(error).toMatchObject({ code: 'invalid_request' });
      expect((error as Error).message.startsWith(field)).toBe(true);
    }
  });
});

describe('AcquiringSimulator idempotent create', () => {
  it('answers a repeated payment id with the same payment and never creates a second one', async () => {
    const clock = new ManualClock();
    const sim = simulator(clock);
    const port = sim.channel('sim');
    const first = await port.createPayment(payment('p-1'));
    const again = await port.createPayment(payment('p-1'));
    const other = await port.createPayment(payment('p-2'));
    expect(again).toEqual(first);
    expect(other.channelTxnId).not.toBe(first.channelTxnId);
    expect(sim.stats().paymentsRemembered).toBe(2);
    // A retry after the decision learns the decision, still about the same payment.
    clock.advance(1000);
    const late = await port.createPayment(payment('p-1'));
    expect(late).toMatchObject({ channelTxnId: first.channelTxnId, status: 'succeeded' });
  });

  it('refuses the same payment id with another amount, order number or channel', async () => {
    const sim = simulator(new ManualClock());
    await sim.channel('sim').createPayment(payment('p-1', 1000n, 'order-1'));
    for (const attempt of [
      sim.channel('sim').createPayment(payment('p-1', 1001n, 'order-1')),
      sim.channel('sim').createPayment(payment('p-1', 1000n, 'order-2')),
      sim.channel('sim_fail').createPayment(payment('p-1', 1000n, 'order-1')),
    ]) {
      expect(await settle(attempt)).toMatchObject({ code: 'payment_id_reused' });
    }
    expect(sim.stats().paymentsRemembered).toBe(1);
  });

  it('gives every payment its own channel transaction id', async () => {
    const port = simulator(new ManualClock()).channel('sim');
    const ids = new Set<string>();
    for (let i = 0; i < 500; i++) ids.add((await port.createPayment(payment(`p-${i}`))).channelTxnId);
    expect(ids.size).toBe(500);
  });
});

describe('AcquiringSimulator decides by its clock', () => {
  it('keeps a payment pending until its decision delay has passed on the clock, however often asked', async () => {
    const clock = new ManualClock();
    const { sink, received } = recorder();
    const sim = simulator(clock, { sink, decisionDelayMs: { min: 100, max: 100 } });
    const port = sim.channel('sim');
    await port.createPayment(payment('p-1'));
    clock.advance(99);
    expect(await sim.deliverDue()).toBe(0);
    expect(await port.queryPayment('p-1')).toMatchObject({ status: 'pending', decidedAtMs: null });
    expect(received).toHaveLength(0);
    clock.advance(1);
    expect(await sim.deliverDue()).toBe(1);
    expect(await port.queryPayment('p-1')).toMatchObject({ status: 'succeeded', decidedAtMs: startMs + 100 });
    expect(received.map(body)).toEqual([
      expect.objectContaining({ payment_id: 'p-1', status: 'succeeded', decided_at: '2024-03-01T00:00:00.100Z', amount: '1000' }),
    ]);
  });

  it('draws decision delays within the configured range', async () => {
    const clock = new ManualClock();
    const sim = simulator(clock, { decisionDelayMs: { min: 50, max: 300 } });
    const port = sim.channel('sim');
    for (let i = 0; i < 200; i++) await port.createPayment(payment(`p-${i}`));
    clock.advance(49);
    await sim.deliverDue();
    expect(sim.stats().undecided).toBe(200);
    clock.advance(300 - 49);
    await sim.deliverDue();
    expect(sim.stats().undecided).toBe(0);
    const delays = await Promise.all(Array.from({ length: 200 }, async (_, i) => ((await port.queryPayment(`p-${i}`))?.decidedAtMs ?? 0) - startMs));
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(50);
    expect(Math.max(...delays)).toBeLessThanOrEqual(300);
    expect(new Set(delays).size).toBeGreaterThan(50);
  });

  it('delivers by itself once started, and stops when stopped', async () => {
    const { sink, received } = recorder();
    let nowMs = startMs;
    const sim = simulator({ nowMs: () => nowMs }, { sink, decisionDelayMs: { min: 0, max: 0 } });
    await sim.channel('sim').createPayment(payment('p-timer'));
    sim.start(10);
    try {
      for (let i = 0; i < 100 && received.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 5));
      expect(received.map((callback) => body(callback).payment_id)).toEqual(['p-timer']);
    } finally {
      sim.stop();
    }
    await sim.channel('sim').createPayment(payment('p-after-stop'));
    nowMs += 1;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(received).toHaveLength(1);
    expect(() => sim.start(1)).toThrow(/intervalMs/);
  });
});

/** Creates `count` payments, decides them all and returns what the sink received. */
async function runWorkload(options: Partial<AcquiringSimulatorOptions>, count: number): Promise<ChannelCallback[]> {
  const clock = new ManualClock();
  const { sink, received } = recorder();
  const sim = new AcquiringSimulator({ clock, secret, sink, ...options });
  for (let i = 0; i < count; i++) {
    await sim.channel(i % 5 === 0 ? 'sim_fail' : 'sim').createPayment(payment(`p-${i}`, BigInt(100 + i)));
    clock.advance(7);
  }
  clock.advance(1000);
  await sim.deliverDue();
  return received;
}

function byPayment(callbacks: readonly ChannelCallback[]): Map<string, PaymentWire['status'][]> {
  const statuses = new Map<string, PaymentWire['status'][]>();
  for (const callback of callbacks) {
    const wire = body(callback);
    statuses.set(wire.payment_id, [...(statuses.get(wire.payment_id) ?? []), wire.status]);
  }
  return statuses;
}

describe('AcquiringSimulator callbacks: duplicates, stale ones, losses', () => {
  it('duplicates final callbacks and adds stale pending ones at about the configured rates, never a stale one first', async () => {
    const count = 2000;
    const received = await runWorkload({ duplicateRate: 0.3, staleRate: 0.2 }, count);
    const statuses = byPayment(received);
    expect(statuses.size).toBe(count);
    let duplicated = 0;
    let stale = 0;
    for (const sequence of statuses.values()) {
      const finals = sequence.filter((status) => status !== 'pending').length;
      const pendings = sequence.length - finals;
      expect(finals === 1 || finals === 2).toBe(true);
      expect(pendings <= 1).toBe(true);
      expect(sequence[0]).not.toBe('pending');
      if (finals === 2) duplicated += 1;
      if (pendings === 1) stale += 1;
    }
    // Binomial spread is about ±20 and ±18 here; ±100 is five standard deviations.
    expect(Math.abs(duplicated - 0.3 * count)).toBeLessThan(100);
    expect(Math.abs(stale - 0.2 * count)).toBeLessThan(100);
    expect(received).toHaveLength(count + duplicated + stale);
    // The stale callback lands between the two finals for some payments and after both for others.
    const orders = new Set([...statuses.values()].filter((sequence) => sequence.length === 3).map((sequence) => sequence.join(',')));
    expect(orders).toEqual(new Set(['succeeded,pending,succeeded', 'succeeded,succeeded,pending', 'failed,pending,failed', 'failed,failed,pending']));
  });

  it('delivers the same callbacks in the same order for the same seed, and others for another seed', async () => {
    const options = { seed: 42, duplicateRate: 0.3, staleRate: 0.2, lossRate: 0.1 };
    const first = await runWorkload(options, 300);
    const second = await runWorkload(options, 300);
    const reseeded = await runWorkload({ ...options, seed: 43 }, 300);
    expect(second).toEqual(first);
    expect(reseeded.map((callback) => callback.body)).not.toEqual(first.map((callback) => callback.body));
  });

  it('delivers exactly one callback per payment with every rate at zero', async () => {
    const received = await runWorkload({ duplicateRate: 0, staleRate: 0, lossRate: 0 }, 200);
    expect([...byPayment(received).values()].every((sequence) => sequence.length === 1)).toBe(true);
    expect(received).toHaveLength(200);
  });

  it('loses callbacks at the loss rate while queries still find every decided payment', async () => {
    const clock = new ManualClock();
    const { sink, received } = recorder();
    const sim = new AcquiringSimulator({ clock, secret, sink, duplicateRate: 0, staleRate: 0, lossRate: 0.5 });
    const port = sim.channel('sim');
    for (let i = 0; i < 400; i++) await port.createPayment(payment(`p-${i}`));
    clock.advance(300);
    await sim.deliverDue();
    const heard = new Set(received.map((callback) => body(callback).payment_id));
    expect(heard.size).toBeGreaterThan(120);
    expect(heard.size).toBeLessThan(280);
    for (let i = 0; i < 400; i++) {
      expect(await port.queryPayment(`p-${i}`)).toMatchObject({ status: 'succeeded', paymentId: `p-${i}` });
    }
    const silent = new AcquiringSimulator({ clock, secret, sink, lossRate: 1 });
    await silent.channel('sim_fail').createPayment(payment('p-lost'));
    clock.advance(300);
    expect(await silent.deliverDue()).toBe(0);
    expect(await silent.channel('sim_fail').queryPayment('p-lost')).toMatchObject({ status: 'failed', failureReason: 'declined_by_issuer' });
  });
});

describe('AcquiringSimulator callback signatures', () => {
  async function oneCallback(clock: ManualClock, sim: AcquiringSimulator, channel = 'sim'): Promise<ChannelCallback> {
    const { sink, received } = recorder();
    sim.setSink(sink);
    await sim.channel(channel).createPayment(payment(`p-${channel}`));
    clock.advance(300);
    await sim.deliverDue();
    const callback = received[0];
    if (callback === undefined) throw new Error('no callback delivered');
    return callback;
  }

  it('reads a genuine callback into the payment state a query gives', async () => {
    const clock = new ManualClock();
    const sim = simulator(clock);
    const callback = await oneCallback(clock, sim);
    const read = sim.channel('sim').readCallback(callback, clock.nowMs());
    expect(read).toEqual(await sim.channel('sim').queryPayment('p-sim'));
    expect(read).toMatchObject({ status: 'succeeded', amountMinor: 1000n, decidedAtMs: expect.any(Number) as number });
    expect(JSON.parse(callback.body)).toEqual(paymentWire('sim', read as PaymentState));
  });

  it('rejects a tampered body, a wrong secret, a missing or expired signature, and another channel\'s callback', async () => {
    const clock = new ManualClock();
    const sim = simulator(clock);
    const port = sim.channel('sim');
    const callback = await oneCallback(clock, sim);
    const tampered = { ...callback, body: callback.body.replace('"amount":"1000"', '"amount":"100000"') };
    expect(tampered.body).not.toBe(callback.body);
    const forger = simulator(clock, { secret: 'not-the-secret' });
    const forged = await oneCallback(clock, forger);
    const failCallback = await oneCallback(clock, sim, 'sim_fail');
    expect(port.readCallback(callback, clock.nowMs())).not.toBeNull();
    expect(port.readCallback(tampered, clock.nowMs())).toBeNull();
    expect(port.readCallback(forged, clock.nowMs())).toBeNull();
    expect(port.readCallback({ ...callback, signature: '' }, clock.nowMs())).toBeNull();
    expect(port.readCallback(callback, clock.nowMs() + 301_000)).toBeNull();
    expect(port.readCallback(failCallback, clock.nowMs())).toBeNull();
    expect(sim.channel('sim_fail').readCallback(failCallback, clock.nowMs())).toMatchObject({ status: 'failed' });
  });

  it('rejects a correctly signed body that is not a consistent payment state', () => {
    const clock = new ManualClock();
    const port = simulator(clock).channel('sim');
    const good: PaymentWire = {
      channel: 'sim',
      payment_id: 'p-1',
      channel_txn_id: 'sim_1',
      status: 'succeeded',
      amount: '10',
      decided_at: '2024-03-01T00:00:00.000Z',
      failure_reason: null,
    };
    const signed = (value: unknown): ChannelCallback => {
      const text = typeof value === 'string' ? value : JSON.stringify(value);
      return { channel: 'sim', body: text, signature: signPayload(secret, text, Math.floor(clock.nowMs() / 1000)) };
    };
    expect(port.readCallback(signed(good), clock.nowMs())).toMatchObject({ paymentId: 'p-1', amountMinor: 10n, decidedAtMs: startMs });
    for (const bad of [
      '{not json',
      [good],
      { ...good, amount: '10.5' },
      { ...good, amount: 10 },
      { ...good, amount: '0' },
      { ...good, status: 'refunded' },
      { ...good, status: 'pending' },
      { ...good, decided_at: null },
      { ...good, decided_at: 'yesterday' },
      { ...good, status: 'failed' },
      { ...good, failure_reason: 'declined' },
      { ...good, payment_id: '' },
      { ...good, channel: 'sim_fail' },
    ]) {
      expect(port.readCallback(signed(bad), clock.nowMs())).toBeNull();
    }
  });
});

describe('AcquiringSimulator delivery failures', () => {
  it('keeps callbacks a failing sink refused and delivers them on a later round, in order', async () => {
    const clock = new ManualClock();
    const received: ChannelCallback[] = [];
    let failuresLeft = 3;
    // One decision time for all, so the outbox holds them in creation order.
    const sim = simulator(clock, {
      decisionDelayMs: { min: 100, max: 100 },
      sink: async (callback) => {
        if (failuresLeft > 0) {
          failuresLeft -= 1;
          throw new Error('custos is restarting');
        }
        received.push(callback);
      },
    });
    for (let i = 0; i < 3; i++) await sim.channel('sim').createPayment(payment(`p-${i}`));
    clock.advance(300);
    expect(await sim.deliverDue()).toBe(0);
    expect(sim.stats().outbox).toBe(3);
    expect(await sim.deliverDue()).toBe(3);
    expect(received.map((callback) => body(callback).payment_id)).toEqual(['p-0', 'p-1', 'p-2']);
    expect(sim.stats()).toMatchObject({ outbox: 0, delivered: 3, dropped: 0 });
    expect(await sim.deliverDue()).toBe(0);
  });

  it('waits without a sink, then delivers to one set later', async () => {
    const clock = new ManualClock();
    const sim = simulator(clock);
    await sim.channel('sim').createPayment(payment('p-1'));
    clock.advance(300);
    expect(await sim.deliverDue()).toBe(0);
    const { sink, received } = recorder();
    sim.setSink(sink);
    expect(await sim.deliverDue()).toBe(1);
    expect(received).toHaveLength(1);
  });

  it('stops a round after a bounded number of failures, and bounds the outbox by dropping the oldest', async () => {
    const clock = new ManualClock();
    let attempts = 0;
    const down = async (): Promise<void> => {
      attempts += 1;
      throw new Error('down');
    };
    const sim = simulator(clock, { outboxCallbacksMax: 20, decisionDelayMs: { min: 100, max: 100 }, sink: down });
    for (let i = 0; i < 30; i++) await sim.channel('sim').createPayment(payment(`p-${i}`));
    clock.advance(300);
    await sim.deliverDue();
    expect(attempts).toBe(acquiringSimulatorLimits.deliveryFailuresPerRoundMax);
    expect(sim.stats()).toMatchObject({ outbox: 20, dropped: 10 });
    const { sink, received } = recorder();
    sim.setSink(sink);
    await sim.deliverDue();
    expect(received.map((callback) => body(callback).payment_id)).toEqual(Array.from({ length: 20 }, (_, i) => `p-${i + 10}`));
  });

  it('gives up on a callback after its attempts run out', async () => {
    const clock = new ManualClock();
    const sim = simulator(clock, { sink: () => Promise.reject(new Error('never')) });
    await sim.channel('sim').createPayment(payment('p-1'));
    clock.advance(300);
    for (let i = 0; i < acquiringSimulatorLimits.deliveryAttemptsMax; i++) await sim.deliverDue();
    expect(sim.stats()).toMatchObject({ outbox: 0, dropped: 1, delivered: 0 });
  });

  it('forgets the oldest payment past its bound', async () => {
    const sim = simulator(new ManualClock(), { paymentsRememberedMax: 3 });
    const port = sim.channel('sim');
    for (let i = 0; i < 4; i++) await port.createPayment(payment(`p-${i}`));
    expect(await port.queryPayment('p-0')).toBeNull();
    expect(await port.queryPayment('p-3')).not.toBeNull();
    expect(sim.stats().paymentsRemembered).toBe(3);
    expect(() => simulator(new ManualClock(), { paymentsRememberedMax: acquiringSimulatorLimits.paymentsRememberedMax + 1 })).toThrow();
  });
});

describe('AcquiringSimulator statement', () => {
  it('lists exactly the decided payments of the channel in [from, to), by decision time, amounts in fen', async () => {
    const clock = new ManualClock();
    const sim = simulator(clock, { decisionDelayMs: { min: 10, max: 200 } });
    const expected: string[] = [];
    for (let i = 0; i < 40; i++) {
      await sim.channel(i % 4 === 0 ? 'sim_fail' : 'sim').createPayment(payment(`p-${i}`, BigInt(1000 + i), `order,${i}`));
      clock.advance(50);
    }
    // A window that cuts through the decisions, with some payments still pending at its end.
    const fromMs = startMs + 500;
    const toMs = startMs + 1500;
    const decided: { state: PaymentState; orderNo: string }[] = [];
    for (let i = 0; i < 40; i++) {
      const state = await sim.channel(i % 4 === 0 ? 'sim_fail' : 'sim').queryPayment(`p-${i}`);
      if (i % 4 !== 0 && state !== null && state.decidedAtMs !== null && state.decidedAtMs >= fromMs && state.decidedAtMs < toMs) {
        decided.push({ state, orderNo: `order,${i}` });
      }
    }
    decided.sort((a, b) => (a.state.decidedAtMs ?? 0) - (b.state.decidedAtMs ?? 0));
    for (const { state, orderNo } of decided) {
      expected.push(`${state.channelTxnId},"${orderNo}",${state.amountMinor},${state.status},${new Date(state.decidedAtMs ?? 0).toISOString()}`);
    }
    expect(decided.length).toBeGreaterThan(10);
    expect(sim.statement('sim', fromMs, toMs)).toBe([channelStatementHeader, ...expected].map((line) => `${line}\n`).join(''));
  });

  it('shows failed payments on sim_fail, writes the zone\'s offset when asked, and is empty before any decision', async () => {
    const clock = new ManualClock();
    const sim = simulator(clock, { decisionDelayMs: { min: 100, max: 100 } });
    await sim.channel('sim_fail').createPayment(payment('p-f', 4200n, 'o-f'));
    expect(sim.statement('sim_fail', startMs, startMs + 86_400_000)).toBe(`${channelStatementHeader}\n`);
    clock.advance(100);
    const txn = (await sim.channel('sim_fail').queryPayment('p-f'))?.channelTxnId ?? '';
    expect(sim.statement('sim_fail', startMs, startMs + 86_400_000)).toBe(
      `${channelStatementHeader}\n${txn},o-f,4200,failed,2024-03-01T00:00:00.100Z\n`,
    );
    expect(sim.statement('sim_fail', startMs, startMs + 86_400_000, 'Asia/Shanghai')).toContain(',failed,2024-03-01T08:00:00.100+08:00\n');
    expect(sim.statement('sim', startMs, startMs + 86_400_000)).toBe(`${channelStatementHeader}\n`);
    expect(() => sim.statement('sim', startMs + 1, startMs)).toThrow(AcquiringRequestError);
    expect(() => sim.statement('sim', startMs, startMs + 1, 'Mars/Olympus')).toThrow(AcquiringRequestError);
  });
});
