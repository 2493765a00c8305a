import { setTimeout as sleep } from 'node:timers/promises';
import { Random } from '../../bench/workload.js';
import { ProviderTimeoutError } from './identity-verifier.js';
import type {
  FourElementsRequest,
  FourElementsResult,
  IdentityVerifier,
  MicroDepositRequest,
  MicroDepositResult,
  ProviderCall,
  SmsRequest,
  SmsResult,
} from './identity-verifier.js';

/** The simulator's bounds: it may run for days as a sandbox, so nothing it keeps may grow without end. */
export const identitySimulatorLimits = {
  /** Request ids remembered for deduplication; the oldest is forgotten first. */
  requestsRememberedMax: 100_000,
  /** Calls kept for inspection; the oldest tenth is dropped when full. */
  callsRecordedMax: 100_000,
  /** Phones whose texts are kept; the phone texted longest ago is forgotten first. */
  phonesRememberedMax: 100_000,
  /** Texts kept per phone, newest last. */
  textsPerPhoneMax: 20,
  /** Longest simulated latency anyone may configure. */
  latencyMsMax: 60_000,
  requestIdLengthMax: 128,
  nameLengthMax: 128,
  idNumberLengthMax: 32,
  phoneLengthMax: 32,
  smsTextLengthMax: 500,
  /** Card numbers (PANs) have 8 to 19 digits (ISO/IEC 7812). */
  cardNumberDigitsMin: 8,
  cardNumberDigitsMax: 19,
  microDepositMinorMin: 1n,
  microDepositMinorMax: 50n,
} as const;

export const identitySimulatorDefaults = {
  seed: 1,
  /** ¥0.50 per four-element check or micro deposit, as providers roughly charge. */
  feeMinor: 50n,
  smsFeeMinor: 0n,
  latencyMsMin: 2,
  latencyMsMax: 20,
  timeoutRate: 0.05,
} as const;

/** Card numbers ending so answer `mismatch` and `rejected` (the sandbox magic value). */
export const mismatchCardSuffix = '0002';

export interface IdentitySimulatorOptions {
  readonly seed?: number;
  /** Fee of a four-element check and of a micro deposit, in fen. */
  readonly feeMinor?: bigint;
  readonly smsFeeMinor?: bigint;
  readonly latencyMsMin?: number;
  readonly latencyMsMax?: number;
  /** Fraction of first attempts of a request id that time out (after the latency). */
  readonly timeoutRate?: number;
  /** Request ids remembered for deduplication, at most `identitySimulatorLimits.requestsRememberedMax` (the default). */
  readonly requestsRememberedMax?: number;
}

export type SimulatedCallKind = 'four_elements' | 'sms' | 'micro_deposit';
export type SimulatedOutcome = FourElementsResult['outcome'] | SmsResult['outcome'] | MicroDepositResult['outcome'];

/** One request the simulator served, as its invoice and its logs would show it. */
export interface SimulatedCall {
  readonly kind: SimulatedCallKind;
  readonly requestId: string;
  /** The answer decided for the request; a replay repeats the first one. */
  readonly outcome: SimulatedOutcome;
  /** What this call added to the invoice: the fee on the first call of a request id, else 0n. */
  readonly feeMinor: bigint;
  /** Answered from the remembered first call of the same request id. */
  readonly replayed: boolean;
  /**
   * The caller never saw the answer: the request was carried out and charged, but the reply
   * was lost. This is the case that makes deduplication by request id matter.
   */
  readonly timedOut: boolean;
}

/** The provider refused the request itself; the caller has a bug, so retrying cannot help. */
export class SimRequestError extends Error {
  constructor(
    readonly code: 'invalid_request' | 'request_id_reused',
    message: string,
  ) {
    super(message);
  }
}

interface Remembered {
  readonly kind: SimulatedCallKind;
  /** The request's content, so a request id reused for another request is refused. */
  readonly fingerprint: string;
  readonly outcome: SimulatedOutcome;
  readonly feeMinor: bigint;
  readonly providerRef: string;
}

/**
 * An in-process identity provider that behaves like a real one: it waits, sometimes times
 * out, charges per request id, answers the sandbox magic values, and delivers SMS texts
 * where a sandbox can read them. Every random choice comes from one seeded generator, drawn
 * synchronously when a call starts, so the same seed and the same sequence of calls give the
 * same answers, references, latencies and timeouts.
 */
export class IdentitySimulator implements IdentityVerifier {
  readonly provider = 'sim';
  private readonly random: Random;
  private readonly feeMinor: bigint;
  private readonly smsFeeMinor: bigint;
  private readonly latencyMsMin: number;
  private readonly latencyMsMax: number;
  private readonly timeoutRate: number;
  private readonly requestsRememberedMax: number;
  private readonly remembered = new Map<string, Remembered>();
  private readonly callLog: SimulatedCall[] = [];
  private readonly texts = new Map<string, string[]>();
  private referenceSequence = 0;

  constructor(options: IdentitySimulatorOptions = {}) {
    const d = identitySimulatorDefaults;
    this.random = new Random(options.seed ?? d.seed);
    this.feeMinor = options.feeMinor ?? d.feeMinor;
    this.smsFeeMinor = options.smsFeeMinor ?? d.smsFeeMinor;
    this.latencyMsMin = options.latencyMsMin ?? d.latencyMsMin;
    this.latencyMsMax = options.latencyMsMax ?? Math.max(d.latencyMsMax, this.latencyMsMin);
    this.timeoutRate = options.timeoutRate ?? d.timeoutRate;
    this.requestsRememberedMax = options.requestsRememberedMax ?? identitySimulatorLimits.requestsRememberedMax;
    if (this.feeMinor < 0n || this.smsFeeMinor < 0n) throw new Error('simulator fees must not be negative');
    if (!Number.isSafeInteger(this.latencyMsMin) || !Number.isSafeInteger(this.latencyMsMax)) {
      throw new Error('simulator latencies are whole milliseconds');
    }
    if (this.latencyMsMin < 0 || this.latencyMsMin > this.latencyMsMax || this.latencyMsMax > identitySimulatorLimits.latencyMsMax) {
      throw new Error(`simulator latency must satisfy 0 ≤ min ≤ max ≤ ${identitySimulatorLimits.latencyMsMax}`);
    }
    if (!(this.timeoutRate >= 0 && this.timeoutRate <= 1)) throw new Error('timeoutRate lies in [0, 1]');
    const rememberedMax = identitySimulatorLimits.requestsRememberedMax;
    if (!Number.isSafeInteger(this.requestsRememberedMax) || this.requestsRememberedMax < 1 || this.requestsRememberedMax > rememberedMax) {
      throw new Error(`requestsRememberedMax lies in 1..${rememberedMax}`);
    }
  }

  async verifyFourElements(request: FourElementsRequest): Promise<FourElementsResult> {
    validateFourElements(request);
    const fingerprint = JSON.stringify(['four_elements', request.name, request.idNumber, request.cardNumber, request.phone]);
    return this.serve<FourElementsResult['outcome']>('four_elements', request.requestId, fingerprint, () => ({
      outcome: request.cardNumber.endsWith(mismatchCardSuffix) ? 'mismatch' : 'match',
      feeMinor: this.feeMinor,
    }));
  }

  async sendSms(request: SmsRequest): Promise<SmsResult> {
    validateSms(request);
    const fingerprint = JSON.stringify(['sms', request.phone, request.text]);
    return this.serve<SmsResult['outcome']>('sms', request.requestId, fingerprint, () => {
      this.deliver(request.phone, request.text);
      return { outcome: 'sent', feeMinor: this.smsFeeMinor };
    });
  }

  async sendMicroDeposit(request: MicroDepositRequest): Promise<MicroDepositResult> {
    validateMicroDeposit(request);
    const fingerprint = JSON.stringify(['micro_deposit', request.name, request.cardNumber, request.amountMinor.toString()]);
    return this.serve<MicroDepositResult['outcome']>('micro_deposit', request.requestId, fingerprint, () => ({
      outcome: request.cardNumber.endsWith(mismatchCardSuffix) ? 'rejected' : 'sent',
      feeMinor: this.feeMinor,
    }));
  }

  /** Every call served, oldest first (bounded by `callsRecordedMax`). */
  calls(): readonly SimulatedCall[] {
    return [...this.callLog];
  }

  /** Texts delivered to `phone`, newest last (bounded by `textsPerPhoneMax`). */
  smsSent(phone: string): readonly string[] {
    return [...(this.texts.get(phone) ?? [])];
  }

  /**
   * Decides (or recalls) the answer to one request, waits the simulated latency, then either
   * answers or times out. The first call of a request id is carried out and charged even
   * when it times out, as a real provider does when only its reply is lost.
   */
  private async serve<O extends SimulatedOutcome>(
    kind: SimulatedCallKind,
    requestId: string,
    fingerprint: string,
    decide: () => { outcome: O; feeMinor: bigint },
  ): Promise<ProviderCall & { outcome: O }> {
    const latencyMs = this.latencyMsMin + this.random.int(this.latencyMsMax - this.latencyMsMin + 1);
    let remembered = this.remembered.get(requestId);
    const replayed = remembered !== undefined;
    if (remembered !== undefined && (remembered.kind !== kind || remembered.fingerprint !== fingerprint)) {
      throw new SimRequestError('request_id_reused', `request id ${requestId} was already used for another request`);
    }
    if (remembered === undefined) {
      remembered = { kind, fingerprint, ...decide(), providerRef: this.nextReference() };
      this.remember(requestId, remembered);
    }
    const timedOut = !replayed && this.random.next() < this.timeoutRate;
    const feeMinor = replayed ? 0n : remembered.feeMinor;
    this.record({ kind, requestId, outcome: remembered.outcome, feeMinor, replayed, timedOut });
    await sleep(latencyMs);
    if (timedOut) throw new ProviderTimeoutError(this.provider, requestId);
    return {
      provider: this.provider,
      requestId,
      attempts: 1,
      latencyMs,
      feeMinor: remembered.feeMinor,
      providerRef: remembered.providerRef,
      // The fingerprint check above holds the kind, so a remembered outcome is one `decide` gave.
      outcome: remembered.outcome as O,
    };
  }

  private nextReference(): string {
    this.referenceSequence += 1;
    const noise = this.random.int(2 ** 32).toString(16).padStart(8, '0');
    return `sim_${this.referenceSequence.toString(36).padStart(6, '0')}${noise}`;
  }

  private remember(requestId: string, remembered: Remembered): void {
    if (this.remembered.size >= this.requestsRememberedMax) {
      const oldest = this.remembered.keys().next();
      if (!oldest.done) this.remembered.delete(oldest.value);
    }
    this.remembered.set(requestId, remembered);
  }

  private record(call: SimulatedCall): void {
    const max = identitySimulatorLimits.callsRecordedMax;
    // Dropping a tenth at a time keeps recording O(1) amortized instead of shifting every call.
    if (this.callLog.length >= max) this.callLog.splice(0, Math.ceil(max / 10));
    this.callLog.push(call);
  }

  private deliver(phone: string, text: string): void {
    const texts = this.texts.get(phone) ?? [];
    // Re-inserting moves the phone to the newest end, so eviction forgets the quietest phone.
    this.texts.delete(phone);
    if (this.texts.size >= identitySimulatorLimits.phonesRememberedMax) {
      const oldest = this.texts.keys().next();
      if (!oldest.done) this.texts.delete(oldest.value);
    }
    texts.push(text);
    if (texts.length > identitySimulatorLimits.textsPerPhoneMax) texts.shift();
    this.texts.set(phone, texts);
  }
}

function invalid(message: string): never {
  throw new SimRequestError('invalid_request', message);
}

function checkText(value: string, field: string, lengthMax: number): void {
  if (value.length === 0 || value.length > lengthMax) invalid(`${field} must have 1 to ${lengthMax} characters`);
}

function checkCardNumber(cardNumber: string): void {
  const { cardNumberDigitsMin: min, cardNumberDigitsMax: max } = identitySimulatorLimits;
  if (!new RegExp(`^\\d{${min},${max}}$`).test(cardNumber)) invalid(`cardNumber must have ${min} to ${max} digits`);
}

/** A provider checks the request id first: without it nothing else can be answered or deduplicated. */
function checkRequestId(requestId: string): void {
  checkText(requestId, 'requestId', identitySimulatorLimits.requestIdLengthMax);
}

function validateFourElements(request: FourElementsRequest): void {
  const l = identitySimulatorLimits;
  checkRequestId(request.requestId);
  checkText(request.name, 'name', l.nameLengthMax);
  checkText(request.idNumber, 'idNumber', l.idNumberLengthMax);
  checkCardNumber(request.cardNumber);
  checkText(request.phone, 'phone', l.phoneLengthMax);
}

function validateSms(request: SmsRequest): void {
  const l = identitySimulatorLimits;
  checkRequestId(request.requestId);
  checkText(request.phone, 'phone', l.phoneLengthMax);
  checkText(request.text, 'text', l.smsTextLengthMax);
}

function validateMicroDeposit(request: MicroDepositRequest): void {
  const l = identitySimulatorLimits;
  checkRequestId(request.requestId);
  checkText(request.name, 'name', l.nameLengthMax);
  checkCardNumber(request.cardNumber);
  if (request.amountMinor < l.microDepositMinorMin || request.amountMinor > l.microDepositMinorMax) {
    invalid(`amountMinor must lie in ${l.microDepositMinorMin}..${l.microDepositMinorMax} fen`);
  }
}
