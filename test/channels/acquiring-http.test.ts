import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChannelCallback, CreatePayment } from '../../src/channels/acquiring/acquiring-channel.js';
import {
  acquiringCallbackSignatureHeader,
  acquiringSimPaths,
  acquiringSimService,
  httpCallbackSink,
} from '../../src/channels/acquiring/acquiring-sim-service.js';
import { AcquiringSimulator, channelStatementHeader } from '../../src/channels/acquiring/acquiring-simulator.js';
import {
  AcquiringResponseError,
  AcquiringTransportError,
  HttpAcquiringChannel,
} from '../../src/channels/acquiring/http-acquiring-channel.js';
import { postToSimServer, startSimServer } from '../../src/channels/sim-server.js';
import type { SimServer, SimService, SimServiceResponse } from '../../src/channels/sim-server.js';
import type { Clock } from '../../src/clock.js';
import { simServices } from '../../src/cli/sim-command.js';

const secret = 'acquiring-http-secret';

/** Starts at the wall time, because the sim server signs its answers with the wall clock. */
class ManualClock implements Clock {
  private ms = Date.now();

  nowMs(): number {
    return this.ms;
  }

  advance(ms: number): void {
    this.ms += ms;
  }
}

function payment(paymentId: string, amountMinor = 2500n): CreatePayment {
  return { paymentId, orderNo: `order-${paymentId}`, amountMinor, currency: 'CNY', platformId: 'plat_1' };
}

async function settle<T>(promise: Promise<T>): Promise<T | Error> {
  return promise.catch((error: unknown) => (error instanceof Error ? error : new Error(String(error))));
}

describe('acquiring over the sim server', () => {
  const clock = new ManualClock();
  const received: ChannelCallback[] = [];
  const sim = new AcquiringSimulator({
    clock,
    secret,
    seed: 7,
    duplicateRate: 0,
    staleRate: 0,
    decisionDelayMs: { min: 100, max: 100 },
    sink: async (callback) => void received.push(callback),
  });
  let server: SimServer;
  let simChannel: HttpAcquiringChannel;
  let failChannel: HttpAcquiringChannel;

  beforeAll(async () => {
    server = await startSimServer({ port: 0, secret, services: [acquiringSimService(sim)] });
    simChannel = new HttpAcquiringChannel({ baseUrl: server.url, secret, name: 'sim' });
    failChannel = new HttpAcquiringChannel({ baseUrl: server.url, secret, name: 'sim_fail' });
  });

  afterAll(async () => {
    await server.close();
  });

  it('creates, decides, delivers and reads back payments end to end, amounts as bigints', async () => {
    const created = await simChannel.createPayment(payment('h-ok'));
    const failing = await failChannel.createPayment(payment('h-fail', 99n));
    expect(created).toMatchObject({ paymentId: 'h-ok', status: 'pending', amountMinor: 2500n, decidedAtMs: null });
    expect(failing.status).toBe('pending');
    expect(await simChannel.queryPayment('h-ok')).toEqual(created);
    clock.advance(100);
    const delivered = await postToSimServer({ baseUrl: server.url, secret, timeoutMs: 1000 }, acquiringSimPaths.deliver, {});
    expect(delivered).toEqual({ status: 200, body: { delivered: 2 } });
    const ok = await simChannel.queryPayment('h-ok');
    expect(ok).toMatchObject({ status: 'succeeded', channelTxnId: created.channelTxnId, decidedAtMs: clock.nowMs() });
    expect(await failChannel.queryPayment('h-fail')).toMatchObject({ status: 'failed', failureReason: 'declined_by_issuer', amountMinor: 99n });
    const [first, second] = received;
    expect(first === undefined || second === undefined).toBe(false);
    // The HTTP port reads the simulator's callbacks with the shared secret, as the in-process port does.
    expect(simChannel.readCallback(first as ChannelCallback, clock.nowMs())).toEqual(ok);
    expect(failChannel.readCallback(second as ChannelCallback, clock.nowMs())).toMatchObject({ status: 'failed' });
    expect(simChannel.readCallback(second as ChannelCallback, clock.nowMs())).toBeNull();
    expect(new HttpAcquiringChannel({ baseUrl: server.url, secret: 'other', name: 'sim' }).readCallback(first as ChannelCallback, clock.nowMs())).toBeNull();
  });

  it('answers a retried create with the same payment, refuses a reused id with 409, and finds nothing for an unknown id', async () => {
    const first = await simChannel.createPayment(payment('h-retry'));
    const again = await simChannel.createPayment(payment('h-retry'));
    expect(again).toEqual(first);
    const reused = await settle(simChannel.createPayment(payment('h-retry', 2501n)));
    expect(reused).toBeInstanceOf(AcquiringResponseError);
    expect(reused).toMatchObject({ reason: 'refused', status: 409, code: 'payment_id_reused' });
    expect(await simChannel.queryPayment('h-never')).toBeNull();
    const unknownChannel = new HttpAcquiringChannel({ baseUrl: server.url, secret, name: 'alipay' });
    expect(await settle(unknownChannel.createPayment(payment('h-alipay')))).toMatchObject({ status: 400, code: 'unknown_channel' });
    expect(await settle(simChannel.createPayment(payment('h-zero', 0n)))).toMatchObject({ status: 400, code: 'invalid_request' });
  });

  it('serves the same statement as the simulator in-process, and a bad window as 400', async () => {
    const fromMs = clock.nowMs() - 86_400_000;
    const toMs = clock.nowMs() + 86_400_000;
    const csv = await simChannel.statement(fromMs, toMs);
    expect(csv).toBe(sim.statement('sim', fromMs, toMs));
    expect(csv.startsWith(`${channelStatementHeader}\n`)).toBe(true);
    expect(csv).toContain(',order-h-ok,2500,succeeded,');
    expect(await settle(simChannel.statement(toMs, fromMs))).toMatchObject({ status: 400, code: 'invalid_request' });
  });
});

describe('acquiring over HTTP when things go wrong', () => {
  it('maps a refused connection and a hanging server to AcquiringTransportError, and a retry then creates once', async () => {
    const clock = new ManualClock();
    const sim = new AcquiringSimulator({ clock, secret });
    let hang = true;
    const service = acquiringSimService(sim);
    // The first create is carried out, but its answer never comes: the classic unknown outcome.
    const flaky: SimService = {
      name: 'acquiring',
      handle(path, body) {
        const handled = service.handle(path, body);
        if (!hang || handled === undefined) return handled;
        hang = false;
        return handled.then(() => new Promise<SimServiceResponse>(() => {}));
      },
    };
    const server = await startSimServer({ port: 0, secret, services: [flaky] });
    try {
      const channel = new HttpAcquiringChannel({ baseUrl: server.url, secret, name: 'sim', timeoutMs: 100 });
      const lost = await settle(channel.createPayment(payment('h-unknown')));
      expect(lost).toBeInstanceOf(AcquiringTransportError);
      expect(lost).toMatchObject({ paymentId: 'h-unknown', outcomeUnknown: true });
      const retried = await channel.createPayment(payment('h-unknown'));
      expect(retried.status).toBe('pending');
      expect(sim.stats().paymentsRemembered).toBe(1);
    } finally {
      await server.close();
    }
    const closed = new HttpAcquiringChannel({ baseUrl: server.url, secret, name: 'sim' });
    expect(await settle(closed.queryPayment('h-unknown'))).toBeInstanceOf(AcquiringTransportError);
  });

  it('refuses answers signed with another secret, and treats a 5xx as an unknown outcome', async () => {
    const failing: SimService = { name: 'acquiring', handle: async () => ({ status: 503, body: { error: 'maintenance' } }) };
    const server = await startSimServer({ port: 0, secret, services: [failing] });
    try {
      const wrongSecret = new HttpAcquiringChannel({ baseUrl: server.url, secret: 'another-secret', name: 'sim' });
      expect(await settle(wrongSecret.createPayment(payment('h-x')))).toMatchObject({ reason: 'bad_signature' });
      const channel = new HttpAcquiringChannel({ baseUrl: server.url, secret, name: 'sim' });
      expect(await settle(channel.createPayment(payment('h-503')))).toBeInstanceOf(AcquiringTransportError);
    } finally {
      await server.close();
    }
  });

  it('refuses a signed answer for another payment id', async () => {
    const liar: SimService = {
      name: 'acquiring',
      handle: async () => ({
        status: 200,
        body: { channel: 'sim', payment_id: 'someone-else', channel_txn_id: 'sim_1', status: 'succeeded', amount: '2500', decided_at: '2024-03-01T00:00:00Z', failure_reason: null },
      }),
    };
    const server = await startSimServer({ port: 0, secret, services: [liar] });
    try {
      const channel = new HttpAcquiringChannel({ baseUrl: server.url, secret, name: 'sim' });
      expect(await settle(channel.createPayment(payment('h-mine')))).toMatchObject({ reason: 'invalid_result' });
    } finally {
      await server.close();
    }
  });
});

describe('httpCallbackSink and the sim command', () => {
  it('POSTs callbacks with their signature in Custos-Signature, redelivering after a non-2xx answer', async () => {
    const arrivals: { body: string; signature: string | undefined }[] = [];
    let answers = [503, 200];
    const receiver = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const header = request.headers[acquiringCallbackSignatureHeader.toLowerCase()];
        arrivals.push({ body: Buffer.concat(chunks).toString('utf8'), signature: typeof header === 'string' ? header : undefined });
        const [status = 200, ...rest] = answers;
        answers = rest;
        response.writeHead(status).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    try {
      const clock = new ManualClock();
      const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/callbacks`;
      const sim = new AcquiringSimulator({ clock, secret, duplicateRate: 0, staleRate: 0, sink: httpCallbackSink(url, 1000) });
      await sim.channel('sim').createPayment(payment('h-cb'));
      clock.advance(300);
      expect(await sim.deliverDue()).toBe(0);
      expect(await sim.deliverDue()).toBe(1);
      expect(arrivals).toHaveLength(2);
      const last = arrivals[1];
      const read = sim.channel('sim').readCallback({ channel: 'sim', body: last?.body ?? '', signature: last?.signature ?? '' }, clock.nowMs());
      expect(read).toMatchObject({ paymentId: 'h-cb', status: 'succeeded' });
    } finally {
      receiver.closeAllConnections();
      await new Promise<void>((resolve) => receiver.close(() => resolve()));
    }
    expect(() => httpCallbackSink('ftp://example.test/')).toThrow();
  });

  it('registers the acquiring service next to identity in simServices', async () => {
    const sim = new AcquiringSimulator({ clock: new ManualClock(), secret });
    const services = simServices(1, sim);
    expect(services.map((service) => service.name)).toEqual(['identity', 'acquiring']);
    const server = await startSimServer({ port: 0, secret, services });
    try {
      const channel = new HttpAcquiringChannel({ baseUrl: server.url, secret, name: 'sim_fail' });
      expect(await channel.createPayment(payment('h-cli'))).toMatchObject({ status: 'pending' });
    } finally {
      await server.close();
    }
  });
});
