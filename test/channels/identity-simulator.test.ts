import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { Random } from '../../src/bench/workload.js';
import {
  IdentitySimulator,
  identitySimulatorLimits,
  SimRequestError,
} from '../../src/channels/identity/identity-simulator.js';
import type { IdentitySimulatorOptions } from '../../src/channels/identity/identity-simulator.js';
import { ProviderTimeoutError, ProviderUnavailableError } from '../../src/channels/identity/identity-verifier.js';
import type {
  FourElementsRequest,
  FourElementsResult,
  IdentityVerifier,
  MicroDepositResult,
  SmsResult,
} from '../../src/channels/identity/identity-verifier.js';
import { RetryingIdentityVerifier } from '../../src/channels/identity/retrying-identity-verifier.js';

const goodCard = '6222020200112233445';
const mismatchCard = '6222020200110000002';

function fourElements(requestId: string, cardNumber = goodCard): FourElementsRequest {
  return { requestId, name: '张三', idNumber: '110101199003076578', cardNumber, phone: '13800138000' };
}

/** Fast and predictable unless a test asks otherwise. */
function simulator(options: IdentitySimulatorOptions = {}): IdentitySimulator {
  return new IdentitySimulator({ latencyMsMin: 0, latencyMsMax: 1, timeoutRate: 0, ...options });
}

async function settle<T>(promise: Promise<T>): Promise<T | Error> {
  return promise.catch((error: unknown) => (error instanceof Error ? error : new Error(String(error))));
}

function feesCharged(sim: IdentitySimulator): bigint {
  return sim.calls().reduce((sum, call) => sum + call.feeMinor, 0n);
}

describe('IdentitySimulator magic values', () => {
  it('answers mismatch for a card ending 0002 and match for any other', async () => {
    const sim = simulator();
    const matched = await sim.verifyFourElements(fourElements('r-match'));
    const mismatched = await sim.verifyFourElements(fourElements('r-mismatch', mismatchCard));
    expect(matched).toMatchObject({ provider: 'sim', requestId: 'r-match', outcome: 'match', attempts: 1, feeMinor: 50n });
    expect(mismatched).toMatchObject({ outcome: 'mismatch', feeMinor: 50n });
    expect(matched.providerRef).not.toBe(mismatched.providerRef);
  });

  it('rejects a micro deposit to a card ending 0002 and sends any other', async () => {
    const sim = simulator({ feeMinor: 30n });
    const request = { name: '张三', amountMinor: 37n };
    const sent = await sim.sendMicroDeposit({ ...request, requestId: 'd1', cardNumber: goodCard });
    const rejected = await sim.sendMicroDeposit({ ...request, requestId: 'd2', cardNumber: mismatchCard });
    expect(sent).toMatchObject({ outcome: 'sent', feeMinor: 30n });
    expect(rejected).toMatchObject({ outcome: 'rejected', feeMinor: 30n });
  });

  it('delivers SMS texts where a sandbox can read them, newest last, charging the SMS fee', async () => {
    const sim = simulator({ smsFeeMinor: 4n });
    const first = await sim.sendSms({ requestId: 's1', phone: '13800138000', text: 'code 111111' });
    await sim.sendSms({ requestId: 's2', phone: '13800138000', text: 'code 222222' });
    await sim.sendSms({ requestId: 's3', phone: '13900139000', text: 'code 333333' });
    expect(first).toMatchObject({ outcome: 'sent', feeMinor: 4n });
    expect(sim.smsSent('13800138000')).toEqual(['code 111111', 'code 222222']);
    expect(sim.smsSent('13900139000')).toEqual(['code 333333']);
    expect(sim.smsSent('10000000000')).toEqual([]);
  });

  it('refuses malformed requests before anything is charged', async () => {
    const sim = simulator();
    const tooMuch = await settle(sim.sendMicroDeposit({ requestId: 'd1', name: '张三', cardNumber: goodCard, amountMinor: 51n }));
    const zero = await settle(sim.sendMicroDeposit({ requestId: 'd2', name: '张三', cardNumber: goodCard, amountMinor: 0n }));
    const badCard = await settle(sim.verifyFourElements(fourElements('r1', '6222-0202')));
    const noId = await settle(sim.verifyFourElements(fourElements('')));
    for (const error of [tooMuch, zero, badCard, noId]) {
      expect(error).toBeInstanceOf(SimRequestError);
      expect((error as SimRequestError).code).toBe('invalid_request');
    }
    expect(sim.calls()).toEqual([]);
  });
});

describe('IdentitySimulator latency and determinism', () => {
  it('really waits its latency', async () => {
    const sim = new IdentitySimulator({ latencyMsMin: 40, latencyMsMax: 40, timeoutRate: 0 });
    const startedMs = performance.now();
    const result = await sim.verifyFourElements(fourElements('slow'));
    expect(performance.now() - startedMs).toBeGreaterThanOrEqual(38);
    expect(result.latencyMs).toBe(40);
  });

  it('gives the same answers, references, latencies and timeouts for the same seed', async () => {
    const run = async (seed: number): Promise<string[]> => {
      const sim = new IdentitySimulator({ seed, latencyMsMin: 0, latencyMsMax: 3, timeoutRate: 0.3 });
      const lines: string[] = [];
      for (let i = 0; i < 30; i++) {
        const answer = await settle(sim.verifyFourElements(fourElements(`r${i}`, i % 3 === 0 ? mismatchCard : goodCard)));
        lines.push(answer instanceof Error ? `timeout ${answer.name}` : `${answer.outcome} ${answer.providerRef} ${answer.latencyMs}`);
      }
      return lines;
    };
    const first = await run(42);
    expect(await run(42)).toEqual(first);
    expect(await run(43)).not.toEqual(first);
    const timeouts = first.filter((line) => line.startsWith('timeout')).length;
    expect(timeouts).toBeGreaterThan(0);
    expect(timeouts).toBeLessThan(30);
  });

  it('times out first attempts only, at the configured rate', async () => {
    const never = simulator({ timeoutRate: 0 });
    const always = simulator({ timeoutRate: 1 });
    for (let i = 0; i < 20; i++) await never.verifyFourElements(fourElements(`r${i}`));
    const firstTry = await settle(always.verifyFourElements(fourElements('r')));
    expect(firstTry).toBeInstanceOf(ProviderTimeoutError);
    expect((firstTry as ProviderTimeoutError).requestId).toBe('r');
    await expect(always.verifyFourElements(fourElements('r'))).resolves.toMatchObject({ outcome: 'match' });
  });
});

describe('IdentitySimulator deduplication by request id', () => {
  it('answers a repeated request id with the same result and charges it once', async () => {
    const sim = simulator();
    const first = await sim.verifyFourElements(fourElements('same', mismatchCard));
    const again = await sim.verifyFourElements(fourElements('same', mismatchCard));
    expect(again).toMatchObject({ outcome: first.outcome, providerRef: first.providerRef, feeMinor: first.feeMinor });
    expect(sim.calls().map((call) => [call.requestId, call.feeMinor, call.replayed])).toEqual([
      ['same', 50n, false],
      ['same', 0n, true],
    ]);
    expect(feesCharged(sim)).toBe(50n);
  });

  it('carries out and charges a request whose reply timed out, so the retry is a free replay', async () => {
    const sim = simulator({ timeoutRate: 1 });
    const request = { requestId: 'sms-1', phone: '13800138000', text: 'code 123456' };
    await expect(sim.sendSms(request)).rejects.toBeInstanceOf(ProviderTimeoutError);
    const answer = await sim.sendSms(request);
    expect(answer.outcome).toBe('sent');
    expect(sim.smsSent('13800138000')).toEqual(['code 123456']);
    expect(sim.calls().map((call) => [call.timedOut, call.replayed])).toEqual([
      [true, false],
      [false, true],
    ]);
  });

  it('refuses a request id reused for a different request', async () => {
    const sim = simulator();
    await sim.verifyFourElements(fourElements('r1'));
    const otherCard = await settle(sim.verifyFourElements(fourElements('r1', mismatchCard)));
    const otherKind = await settle(sim.sendSms({ requestId: 'r1', phone: '13800138000', text: 'hi' }));
    for (const error of [otherCard, otherKind]) {
      expect(error).toBeInstanceOf(SimRequestError);
      expect((error as SimRequestError).code).toBe('request_id_reused');
    }
    expect(feesCharged(sim)).toBe(50n);
  });

  it('forgets the oldest request id once it remembers requestsRememberedMax of them', async () => {
    const count = 50;
    const sim = simulator({ latencyMsMax: 0, feeMinor: 1n, requestsRememberedMax: count });
    const requests: Promise<FourElementsResult>[] = [];
    for (let i = 0; i <= count; i++) requests.push(sim.verifyFourElements(fourElements(`r${i}`)));
    await Promise.all(requests);
    const newest = await sim.verifyFourElements(fourElements(`r${count}`));
    const oldest = await sim.verifyFourElements(fourElements('r0'));
    const calls = sim.calls();
    expect(calls.at(-2)).toMatchObject({ requestId: `r${count}`, replayed: true });
    expect(calls.at(-1)).toMatchObject({ requestId: 'r0', replayed: false, feeMinor: 1n });
    expect(newest.providerRef).not.toBe(oldest.providerRef);
  });

  it('never remembers more than the named bound', () => {
    const rememberedMax = identitySimulatorLimits.requestsRememberedMax;
    expect(rememberedMax).toBe(100_000);
    expect(() => simulator({ requestsRememberedMax: rememberedMax + 1 })).toThrow(/requestsRememberedMax/);
    expect(() => simulator({ requestsRememberedMax: 0 })).toThrow(/requestsRememberedMax/);
  });
});

/** A verifier that answers from a script and records the request ids it saw. */
class ScriptedVerifier implements IdentityVerifier {
  readonly provider = 'scripted';
  readonly seen: string[] = [];

  constructor(private readonly script: (attempt: number, requestId: string) => 'timeout' | 'mismatch' | 'match' | Error) {}

  async verifyFourElements(request: FourElementsRequest): Promise<FourElementsResult> {
    this.seen.push(request.requestId);
    const step = this.script(this.seen.length, request.requestId);
    if (step === 'timeout') throw new ProviderTimeoutError(this.provider, request.requestId);
    if (step instanceof Error) throw step;
    return { provider: this.provider, requestId: request.requestId, attempts: 1, latencyMs: 1, feeMinor: 50n, providerRef: 'p1', outcome: step };
  }

  sendSms(): Promise<SmsResult> {
    throw new Error('not scripted');
  }

  sendMicroDeposit(): Promise<MicroDepositResult> {
    throw new Error('not scripted');
  }
}

describe('RetryingIdentityVerifier', () => {
  it('retries a timeout with the same request id and reports every attempt', async () => {
    const inner = new ScriptedVerifier((attempt) => (attempt < 3 ? 'timeout' : 'match'));
    const retrying = new RetryingIdentityVerifier(inner, { random: () => 0 });
    const startedMs = performance.now();
    const result = await retrying.verifyFourElements(fourElements('r-retry'));
    expect(inner.seen).toEqual(['r-retry', 'r-retry', 'r-retry']);
    expect(result).toMatchObject({ outcome: 'match', attempts: 3, requestId: 'r-retry', provider: 'scripted' });
    // Waits of 10 and 20 ms (half of 20 and 40 with no jitter) lie inside the reported latency.
    expect(result.latencyMs).toBeGreaterThanOrEqual(29);
    expect(result.latencyMs).toBeLessThanOrEqual(Math.ceil(performance.now() - startedMs) + 1);
  });

  it('gives up after attemptsMax timeouts with ProviderUnavailableError', async () => {
    const inner = new ScriptedVerifier(() => 'timeout');
    const error = await settle(new RetryingIdentityVerifier(inner).verifyFourElements(fourElements('r-down')));
    expect(error).toBeInstanceOf(ProviderUnavailableError);
    expect(error).toMatchObject({ provider: 'scripted', requestId: 'r-down', attempts: 4 });
    expect((error as Error).cause).toBeInstanceOf(ProviderTimeoutError);
    expect(inner.seen).toEqual(['r-down', 'r-down', 'r-down', 'r-down']);
  });

  it('never retries a definitive answer or an error that is not a timeout', async () => {
    const mismatching = new ScriptedVerifier(() => 'mismatch');
    await expect(new RetryingIdentityVerifier(mismatching).verifyFourElements(fourElements('r1'))).resolves.toMatchObject({
      outcome: 'mismatch',
      attempts: 1,
    });
    expect(mismatching.seen).toHaveLength(1);

    const refusing = new ScriptedVerifier(() => new SimRequestError('invalid_request', 'bad'));
    await expect(new RetryingIdentityVerifier(refusing).verifyFourElements(fourElements('r2'))).rejects.toBeInstanceOf(SimRequestError);
    expect(refusing.seen).toHaveLength(1);
  });

  it('makes a flaky simulator answer once and charge once', async () => {
    const sim = simulator({ timeoutRate: 1, feeMinor: 50n });
    const retrying = new RetryingIdentityVerifier(sim);
    const result = await retrying.verifyFourElements(fourElements('r-flaky', mismatchCard));
    expect(result).toMatchObject({ outcome: 'mismatch', attempts: 2, feeMinor: 50n });
    expect(feesCharged(sim)).toBe(50n);
  });

  it('backs off exponentially from 20 ms, half of each wait random', () => {
    const low = new RetryingIdentityVerifier(simulator(), { random: () => 0 });
    const high = new RetryingIdentityVerifier(simulator(), { random: () => 0.999 });
    expect([1, 2, 3].map((attempt) => low.backoffMs(attempt))).toEqual([10, 20, 40]);
    expect([1, 2, 3].map((attempt) => high.backoffMs(attempt))).toEqual([20, 40, 80]);
    const seeded = new Random(7);
    const jittered = new RetryingIdentityVerifier(simulator(), { random: () => seeded.next() }).backoffMs(2);
    expect(jittered).toBeGreaterThanOrEqual(20);
    expect(jittered).toBeLessThanOrEqual(40);
  });

  it('refuses an attempt budget out of range', () => {
    expect(() => new RetryingIdentityVerifier(simulator(), { attemptsMax: 0 })).toThrow(/attemptsMax/);
    expect(() => new RetryingIdentityVerifier(simulator(), { attemptsMax: 11 })).toThrow(/attemptsMax/);
  });
});
