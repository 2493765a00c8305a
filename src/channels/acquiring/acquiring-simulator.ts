import { Random } from '../../bench/workload.js';
import type { Clock } from '../../clock.js';
import { limits } from '../../limits.js';
import { signatureToleranceSecondsDefault, signPayload, verifySignature } from '../signature.js';
import type {
  AcquiringChannel,
  CallbackSink,
  ChannelCallback,
  CreatePayment,
  PaymentState,
  PaymentStatus,
} from './acquiring-channel.js';

/** The simulator's bounds: it may run for days as a sandbox, so nothing it keeps may grow without end. */
export const acquiringSimulatorLimits = {
  /** Payments remembered for queries, replays and statements; the oldest created is forgotten first. */
  paymentsRememberedMax: 100_000,
  /** Callbacks waiting for delivery; when full, the oldest is dropped and Custos must query. */
  outboxCallbacksMax: 10_000,
  /** Attempts to deliver one callback before the channel gives up on it, as real channels do. */
  deliveryAttemptsMax: 100,
  /**
   * Failed deliveries after which one round stops trying: a sink that is down costs a few
   * attempts per round, not one per waiting callback, and one callback the sink keeps
   * refusing does not hold back the others.
   */
  deliveryFailuresPerRoundMax: 8,
  /** Longest decision delay anyone may configure: one day. */
  decisionDelayMsMax: 86_400_000,
  deliverIntervalMsMin: 10,
  deliverIntervalMsMax: 60_000,
  /** Channel names one simulator serves. */
  channelsMax: 16,
  channelNameLengthMax: 32,
  paymentIdLengthMax: 128,
  orderNoLengthMax: 64,
  platformIdLengthMax: 128,
  channelTxnIdLengthMax: 64,
  failureReasonLengthMax: 128,
  /** Largest callback body `readCallback` will look at; a real one is about 250 bytes. */
  callbackBodyBytesMax: 4096,
  /** Amounts cross the API as JSON numbers, so no payment can be larger than the ledger allows. */
  amountMinorMin: 1n,
  amountMinorMax: limits.amountMinorMax,
} as const;

export const acquiringSimulatorDefaults = {
  seed: 1,
  decisionDelayMsMin: 50,
  decisionDelayMsMax: 300,
  duplicateRate: 0.3,
  staleRate: 0.2,
  lossRate: 0,
  channels: ['sim', 'sim_fail'],
  /** The sandbox timer's period: results arrive well within a second by themselves. */
  deliverIntervalMs: 200,
} as const;

/** The sandbox magic channel whose payments fail, and the reason it gives. */
export const failingChannelName = 'sim_fail';
export const declinedFailureReason = 'declined_by_issuer';

/** The channel statement's header, the format API.md names for imports. */
export const channelStatementHeader = 'channel_txn_id,order_no,amount,status,occurred_at';

export interface AcquiringSimulatorOptions {
  readonly seed?: number;
  /** Decisions fall due on this clock, and callbacks are signed with its time. */
  readonly clock: Clock;
  /** Signs callbacks; `readCallback` verifies against it. */
  readonly secret: string;
  /** Where callbacks go; without one they wait in the outbox until `setSink`. */
  readonly sink?: CallbackSink;
  /** How long after create a payment is decided, in ms on `clock`, both ends included. */
  readonly decisionDelayMs?: { readonly min: number; readonly max: number };
  /** Share of decided payments whose final callback is delivered twice. */
  readonly duplicateRate?: number;
  /** Share of payments for which a stale `pending` callback also arrives after the final one. */
  readonly staleRate?: number;
  /** Share of payments whose callbacks are never delivered, so Custos must query. */
  readonly lossRate?: number;
  /** Channel names served; `sim_fail` fails every payment, any other name succeeds. */
  readonly channels?: readonly string[];
  /** At most `acquiringSimulatorLimits.paymentsRememberedMax` (the default). */
  readonly paymentsRememberedMax?: number;
  /** At most `acquiringSimulatorLimits.outboxCallbacksMax` (the default). */
  readonly outboxCallbacksMax?: number;
}

/** The channel refused the request itself; the caller has a bug, so retrying cannot help. */
export class AcquiringRequestError extends Error {
  constructor(
    readonly code: 'invalid_request' | 'unknown_channel' | 'payment_id_reused',
    message: string,
  ) {
    super(message);
  }
}

/** What the simulator has done so far, for tests and the sandbox's operators. */
export interface AcquiringSimulatorStats {
  readonly paymentsRemembered: number;
  readonly undecided: number;
  readonly outbox: number;
  readonly delivered: number;
  /** Callbacks given up on: the outbox overflowed or their attempts ran out. */
  readonly dropped: number;
}

/** The JSON of a callback body, and of the simulator server's payment answers. */
export interface PaymentWire {
  readonly channel: string;
  readonly payment_id: string;
  readonly channel_txn_id: string;
  readonly status: PaymentStatus;
  /** Fen, as a decimal string. */
  readonly amount: string;
  /** RFC 3339, null while pending. */
  readonly decided_at: string | null;
  readonly failure_reason: string | null;
}

/** The random choices made for a payment when it is created, so delivery never draws. */
interface Fate {
  readonly duplicate: boolean;
  readonly stale: boolean;
  readonly lost: boolean;
  /** Where the stale callback goes among the ones after the first final one, in [0, 1). */
  readonly staleSlot: number;
}

interface SimulatedPayment {
  readonly sequence: number;
  readonly channel: string;
  readonly paymentId: string;
  readonly orderNo: string;
  readonly amountMinor: bigint;
  readonly currency: string;
  readonly platformId: string;
  readonly channelTxnId: string;
  readonly decideAtMs: number;
  readonly fate: Fate;
  status: PaymentStatus;
  failureReason: string | null;
}

interface Outgoing {
  readonly channel: string;
  readonly body: string;
  attempts: number;
}

/**
 * An in-process acquirer (收单) that behaves like a real card or wallet channel: it accepts
 * a payment at once as `pending`, decides it some time later on the clock it is given, and
 * reports the decision by signed callbacks that may come twice, come after a stale `pending`
 * one, or never come at all, while a query always tells the truth. It serves several channel
 * names at once (`sim`, `sim_fail`, …), each through its own `AcquiringChannel`.
 *
 * Every random choice for a payment is drawn from one seeded generator when the payment is
 * created, the same number of draws whatever the rates, so the same seed and the same calls
 * give the same transaction ids, decision times and callback sequence.
 */
export class AcquiringSimulator {
  readonly channelNames: readonly string[];
  private readonly clock: Clock;
  private readonly secret: string;
  private readonly random: Random;
  private readonly decisionDelayMsMin: number;
  private readonly decisionDelayMsMax: number;
  private readonly duplicateRate: number;
  private readonly staleRate: number;
  private readonly lossRate: number;
  private readonly paymentsRememberedMax: number;
  private readonly outboxCallbacksMax: number;
  private readonly payments = new Map<string, SimulatedPayment>();
  private readonly undecided = new Set<SimulatedPayment>();
  private readonly ports = new Map<string, AcquiringChannel>();
  private outbox: Outgoing[] = [];
  private sink: CallbackSink | undefined;
  private sequence = 0;
  private deliveredCount = 0;
  private droppedCount = 0;
  /** Rounds run one after another, so a timer tick and a test's call never interleave. */
  private rounds: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;

  constructor(options: AcquiringSimulatorOptions) {
    const d = acquiringSimulatorDefaults;
    const l = acquiringSimulatorLimits;
    if (options.secret.length === 0) throw new Error('the acquiring simulator needs a signing secret');
    this.clock = options.clock;
    this.secret = options.secret;
    this.sink = options.sink;
    this.random = new Random(options.seed ?? d.seed);
    this.decisionDelayMsMin = options.decisionDelayMs?.min ?? d.decisionDelayMsMin;
    this.decisionDelayMsMax = options.decisionDelayMs?.max ?? d.decisionDelayMsMax;
    this.duplicateRate = options.duplicateRate ?? d.duplicateRate;
    this.staleRate = options.staleRate ?? d.staleRate;
    this.lossRate = options.lossRate ?? d.lossRate;
    this.channelNames = [...(options.channels ?? d.channels)];
    this.paymentsRememberedMax = options.paymentsRememberedMax ?? l.paymentsRememberedMax;
    this.outboxCallbacksMax = options.outboxCallbacksMax ?? l.outboxCallbacksMax;
    this.checkOptions();
  }

  /** The port for one channel name; the same object every time. */
  channel(name: string): AcquiringChannel {
    const existing = this.ports.get(name);
    if (existing !== undefined) return existing;
    if (!this.channelNames.includes(name)) throw new AcquiringRequestError('unknown_channel', `the simulator does not serve channel ${name}`);
    const port: AcquiringChannel = {
      name,
      createPayment: async (request) => this.create(name, request),
      queryPayment: async (paymentId) => this.query(name, paymentId),
      readCallback: (callback, nowMs) => readAcquiringCallback(this.secret, name, callback, nowMs),
    };
    this.ports.set(name, port);
    return port;
  }

  /** Replaces the sink (or removes it: callbacks then wait in the outbox). */
  setSink(sink: CallbackSink | undefined): void {
    this.sink = sink;
  }

  /**
   * Decides every payment whose decision time has come, then offers every waiting callback
   * to the sink, oldest first. A callback the sink throws on stays for a later round.
   * Returns how many callbacks the sink accepted in this round.
   */
  deliverDue(): Promise<number> {
    const round = this.rounds.then(() => this.deliverRound());
    this.rounds = round.catch(() => undefined);
    return round;
  }

  /** Runs `deliverDue` every `intervalMs` until `stop`, for sandboxes; a tick still running is not overlapped. */
  start(intervalMs: number = acquiringSimulatorDefaults.deliverIntervalMs): void {
    const { deliverIntervalMsMin: min, deliverIntervalMsMax: max } = acquiringSimulatorLimits;
    if (!Number.isSafeInteger(intervalMs) || intervalMs < min || intervalMs > max) throw new Error(`intervalMs lies in ${min}..${max}`);
    this.stop();
    this.timer = setInterval(() => this.tick(), intervalMs);
    // A sandbox's simulator must not keep a process alive that has nothing else to do.
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * The channel's statement file for decided payments of `channel` with decision times in
   * [fromMs, toMs), by decision time: CSV with a header row, amounts in fen, `occurred_at`
   * RFC 3339 in UTC, or with `timeZone`'s offset when one is given (the same instant). Only
   * payments still remembered appear (see `paymentsRememberedMax`). With `platformId`, only
   * that platform's payments (the statement a channel sends one merchant).
   */
  statement(channel: string, fromMs: number, toMs: number, timeZone?: string, platformId?: string): string {
    if (!this.channelNames.includes(channel)) throw new AcquiringRequestError('unknown_channel', `the simulator does not serve channel ${channel}`);
    if (!Number.isSafeInteger(fromMs) || !Number.isSafeInteger(toMs) || fromMs > toMs) {
      throw new AcquiringRequestError('invalid_request', 'a statement covers [from, to) with from ≤ to, in whole ms');
    }
    const format = instantFormatter(timeZone);
    this.decideDue();
    const rows = [...this.payments.values()]
      .filter((p) => p.channel === channel && p.status !== 'pending' && p.decideAtMs >= fromMs && p.decideAtMs < toMs)
      // A channel sends each merchant (platform) its own statement.
      .filter((p) => platformId === undefined || p.platformId === platformId)
      .sort(byDecision)
      .map((p) => [p.channelTxnId, p.orderNo, p.amountMinor.toString(), p.status, format(p.decideAtMs)].map(csvField).join(','));
    return [channelStatementHeader, ...rows].map((line) => `${line}\n`).join('');
  }

  stats(): AcquiringSimulatorStats {
    return {
      paymentsRemembered: this.payments.size,
      undecided: this.undecided.size,
      outbox: this.outbox.length,
      delivered: this.deliveredCount,
      dropped: this.droppedCount,
    };
  }

  private checkOptions(): void {
    const l = acquiringSimulatorLimits;
    const min = this.decisionDelayMsMin;
    const max = this.decisionDelayMsMax;
    if (!Number.isSafeInteger(min) || !Number.isSafeInteger(max) || min < 0 || min > max || max > l.decisionDelayMsMax) {
      throw new Error(`decisionDelayMs must satisfy 0 ≤ min ≤ max ≤ ${l.decisionDelayMsMax}, in whole ms`);
    }
    for (const [name, rate] of [['duplicateRate', this.duplicateRate], ['staleRate', this.staleRate], ['lossRate', this.lossRate]] as const) {
      if (!(rate >= 0 && rate <= 1)) throw new Error(`${name} lies in [0, 1]`);
    }
    const names = this.channelNames;
    if (names.length === 0 || names.length > l.channelsMax || new Set(names).size !== names.length) {
      throw new Error(`channels names 1 to ${l.channelsMax} distinct channels`);
    }
    const namePattern = new RegExp(`^[a-z0-9_]{1,${l.channelNameLengthMax}}$`);
    for (const name of names) if (!namePattern.test(name)) throw new Error(`channel name ${name} must match ${namePattern.source}`);
    checkBound('paymentsRememberedMax', this.paymentsRememberedMax, l.paymentsRememberedMax);
    checkBound('outboxCallbacksMax', this.outboxCallbacksMax, l.outboxCallbacksMax);
  }

  private create(channel: string, request: CreatePayment): PaymentState {
    validateCreate(request);
    const fingerprint = [channel, request.orderNo, request.amountMinor, request.currency, request.platformId];
    const existing = this.payments.get(request.paymentId);
    if (existing !== undefined) {
      const remembered = [existing.channel, existing.orderNo, existing.amountMinor, existing.currency, existing.platformId];
      if (remembered.some((value, index) => value !== fingerprint[index])) {
        throw new AcquiringRequestError('payment_id_reused', `payment id ${request.paymentId} was already used for another payment`);
      }
      // A replay answers what the channel knows now: a retry after the decision learns it.
      this.decideIfDue(existing);
      return stateOf(existing);
    }
    const payment = this.newPayment(channel, request);
    this.remember(payment);
    return stateOf(payment);
  }

  /** Draws every random choice of the payment now, always in the same order and number. */
  private newPayment(channel: string, request: CreatePayment): SimulatedPayment {
    const delayMs = this.decisionDelayMsMin + this.random.int(this.decisionDelayMsMax - this.decisionDelayMsMin + 1);
    const duplicate = this.random.next() < this.duplicateRate;
    const stale = this.random.next() < this.staleRate;
    const lost = this.random.next() < this.lossRate;
    const staleSlot = this.random.next();
    const noise = this.random.int(2 ** 32).toString(16).padStart(8, '0');
    this.sequence += 1;
    return {
      sequence: this.sequence,
      channel,
      paymentId: request.paymentId,
      orderNo: request.orderNo,
      amountMinor: request.amountMinor,
      currency: request.currency,
      platformId: request.platformId,
      channelTxnId: `sim_${this.sequence.toString(36).padStart(6, '0')}${noise}`,
      decideAtMs: this.clock.nowMs() + delayMs,
      fate: { duplicate, stale, lost, staleSlot },
      status: 'pending',
      failureReason: null,
    };
  }

  private query(channel: string, paymentId: string): PaymentState | null {
    const payment = this.payments.get(paymentId);
    // Another channel's payment is not this channel's to tell about.
    if (payment === undefined || payment.channel !== channel) return null;
    this.decideIfDue(payment);
    return stateOf(payment);
  }

  private remember(payment: SimulatedPayment): void {
    if (this.payments.size >= this.paymentsRememberedMax) {
      const oldest = this.payments.values().next();
      if (!oldest.done) {
        this.payments.delete(oldest.value.paymentId);
        this.undecided.delete(oldest.value);
      }
    }
    this.payments.set(payment.paymentId, payment);
    this.undecided.add(payment);
  }

  /** Decides every due payment, earliest decision first, so callbacks queue in decision order. */
  private decideDue(): void {
    const nowMs = this.clock.nowMs();
    const due = [...this.undecided].filter((payment) => payment.decideAtMs <= nowMs).sort(byDecision);
    for (const payment of due) this.decide(payment);
  }

  private decideIfDue(payment: SimulatedPayment): void {
    if (payment.status === 'pending' && payment.decideAtMs <= this.clock.nowMs()) this.decide(payment);
  }

  private decide(payment: SimulatedPayment): void {
    const failed = payment.channel === failingChannelName;
    payment.status = failed ? 'failed' : 'succeeded';
    payment.failureReason = failed ? declinedFailureReason : null;
    this.undecided.delete(payment);
    if (payment.fate.lost) return;
    const final = JSON.stringify(paymentWire(payment.channel, stateOf(payment)));
    const bodies = payment.fate.duplicate ? [final, final] : [final];
    if (payment.fate.stale) {
      const stale = JSON.stringify(paymentWire(payment.channel, { ...stateOf(payment), status: 'pending', decidedAtMs: null, failureReason: null }));
      // Somewhere after the first final callback: a stale one never arrives before the truth.
      bodies.splice(1 + Math.floor(payment.fate.staleSlot * bodies.length), 0, stale);
    }
    for (const body of bodies) this.enqueue({ channel: payment.channel, body, attempts: 0 });
  }

  private enqueue(outgoing: Outgoing): void {
    this.outbox.push(outgoing);
    this.trimOutbox();
  }

  private trimOutbox(): void {
    const excess = this.outbox.length - this.outboxCallbacksMax;
    if (excess > 0) {
      this.outbox.splice(0, excess);
      this.droppedCount += excess;
    }
  }

  private async deliverRound(): Promise<number> {
    this.decideDue();
    const sink = this.sink;
    if (sink === undefined || this.outbox.length === 0) return 0;
    // Callbacks decided while this round awaits the sink queue behind the ones it kept.
    const batch = this.outbox;
    this.outbox = [];
    const kept: Outgoing[] = [];
    let delivered = 0;
    let failures = 0;
    for (const outgoing of batch) {
      if (failures >= acquiringSimulatorLimits.deliveryFailuresPerRoundMax) {
        kept.push(outgoing);
        continue;
      }
      // Signed at each attempt, as a real channel does, so a late redelivery is not already expired.
      const signature = signPayload(this.secret, outgoing.body, Math.floor(this.clock.nowMs() / 1000));
      try {
        await sink({ channel: outgoing.channel, body: outgoing.body, signature });
        delivered += 1;
      } catch {
        failures += 1;
        outgoing.attempts += 1;
        if (outgoing.attempts < acquiringSimulatorLimits.deliveryAttemptsMax) kept.push(outgoing);
        else this.droppedCount += 1;
      }
    }
    this.deliveredCount += delivered;
    this.outbox = [...kept, ...this.outbox];
    this.trimOutbox();
    return delivered;
  }

  private tick(): void {
    if (this.ticking) return;
    this.ticking = true;
    this.deliverDue()
      .catch((error: unknown) => {
        // A sink's failure is handled inside the round; anything reaching here is our bug,
        // and the timer must keep running so the sandbox does not silently stop deciding.
        console.error('acquiring simulator: delivery round failed', error);
      })
      .finally(() => {
        this.ticking = false;
      });
  }
}

function checkBound(name: string, value: number, max: number): void {
  if (!Number.isSafeInteger(value) || value < 1 || value > max) throw new Error(`${name} lies in 1..${max}`);
}

function byDecision(a: SimulatedPayment, b: SimulatedPayment): number {
  return a.decideAtMs - b.decideAtMs || a.sequence - b.sequence;
}

function stateOf(payment: SimulatedPayment): PaymentState {
  return {
    paymentId: payment.paymentId,
    channelTxnId: payment.channelTxnId,
    status: payment.status,
    amountMinor: payment.amountMinor,
    decidedAtMs: payment.status === 'pending' ? null : payment.decideAtMs,
    failureReason: payment.failureReason,
  };
}

function invalid(message: string): never {
  throw new AcquiringRequestError('invalid_request', message);
}

function checkText(value: string, field: string, lengthMax: number): void {
  // Control characters have no place in an id, and would break the statement's lines.
  if (value.length === 0 || value.length > lengthMax || /\p{Cc}/u.test(value)) {
    invalid(`${field} must have 1 to ${lengthMax} characters and no control characters`);
  }
}

/** Checks run in a fixed order and the first failure wins: the payment id first, as it names the request. */
function validateCreate(request: CreatePayment): void {
  const l = acquiringSimulatorLimits;
  checkText(request.paymentId, 'paymentId', l.paymentIdLengthMax);
  checkText(request.orderNo, 'orderNo', l.orderNoLengthMax);
  if (request.amountMinor < l.amountMinorMin || request.amountMinor > l.amountMinorMax) {
    invalid(`amountMinor must lie in ${l.amountMinorMin}..${l.amountMinorMax} fen`);
  }
  if (!/^[A-Z]{3}$/.test(request.currency)) invalid('currency must be an ISO 4217 code such as CNY');
  checkText(request.platformId, 'platformId', l.platformIdLengthMax);
}

// ---------------------------------------------------------------------------------------
// The wire format, shared by callbacks, the simulator server's answers and their readers.

/** The JSON a callback body (or a payment answer) carries for one payment's state. */
export function paymentWire(channel: string, state: PaymentState): PaymentWire {
  return {
    channel,
    payment_id: state.paymentId,
    channel_txn_id: state.channelTxnId,
    status: state.status,
    amount: state.amountMinor.toString(),
    decided_at: state.decidedAtMs === null ? null : new Date(state.decidedAtMs).toISOString(),
    failure_reason: state.failureReason,
  };
}

/**
 * Reads a payment's state from its wire form, or null when anything about it is malformed
 * or inconsistent (a pending payment with a decision time, a failure without a reason).
 */
export function parsePaymentWire(value: unknown): { readonly channel: string; readonly state: PaymentState } | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const fields = value as Readonly<Record<string, unknown>>;
  const l = acquiringSimulatorLimits;
  const { channel, payment_id: paymentId, channel_txn_id: channelTxnId, status, amount } = fields;
  if (!isText(channel, l.channelNameLengthMax) || !isText(paymentId, l.paymentIdLengthMax)) return null;
  if (!isText(channelTxnId, l.channelTxnIdLengthMax)) return null;
  if (status !== 'pending' && status !== 'succeeded' && status !== 'failed') return null;
  if (typeof amount !== 'string' || !/^\d{1,19}$/.test(amount)) return null;
  const amountMinor = BigInt(amount);
  if (amountMinor < l.amountMinorMin || amountMinor > l.amountMinorMax) return null;
  const decidedAt = fields.decided_at;
  const decidedAtMs = typeof decidedAt === 'string' ? parseRfc3339Ms(decidedAt) : decidedAt === null ? null : undefined;
  if (decidedAtMs === undefined || (decidedAt !== null && decidedAtMs === null)) return null;
  const failureReason = fields.failure_reason;
  if (failureReason !== null && !isText(failureReason, l.failureReasonLengthMax)) return null;
  if ((status === 'pending') !== (decidedAtMs === null)) return null;
  if ((status === 'failed') !== (failureReason !== null)) return null;
  return { channel, state: { paymentId, channelTxnId, status, amountMinor, decidedAtMs, failureReason } };
}

function isText(value: unknown, lengthMax: number): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= lengthMax;
}

/** ms since the epoch of an RFC 3339 timestamp with a zone (`Z` or `±hh:mm`), else null. */
export function parseRfc3339Ms(value: string): number | null {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/.test(value)) return null;
  const ms = Date.parse(value);
  return Number.isSafeInteger(ms) ? ms : null;
}

/**
 * Checks a callback's signature against `secret` at `nowMs`, then reads it for `channelName`.
 * Null for a missing, forged or expired signature, a body that is not a payment state, or a
 * callback addressed to another channel: none of them may move money.
 */
export function readAcquiringCallback(secret: string, channelName: string, callback: ChannelCallback, nowMs: number): PaymentState | null {
  if (callback.body.length > acquiringSimulatorLimits.callbackBodyBytesMax) return null;
  const verdict = verifySignature(
    secret,
    callback.body,
    callback.signature.length === 0 ? undefined : callback.signature,
    Math.floor(nowMs / 1000),
    signatureToleranceSecondsDefault,
  );
  if (verdict !== 'ok') return null;
  let body: unknown;
  try {
    body = JSON.parse(callback.body);
  } catch {
    return null;
  }
  const read = parsePaymentWire(body);
  if (read === null || read.channel !== channelName || callback.channel !== channelName) return null;
  return read.state;
}

// ---------------------------------------------------------------------------------------
// Statement formatting

/** RFC 4180: a field with a comma, a quote or a line break is quoted, its quotes doubled. */
function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** Formats instants as RFC 3339: UTC by default, else with the zone's offset at that instant. */
function instantFormatter(timeZone: string | undefined): (ms: number) => string {
  if (timeZone === undefined) return (ms) => new Date(ms).toISOString();
  let offsetNames: Intl.DateTimeFormat;
  try {
    offsetNames = new Intl.DateTimeFormat('en-US', { timeZone, timeZoneName: 'longOffset' });
  } catch {
    return invalid(`unknown time zone ${timeZone}`);
  }
  return (ms) => {
    const name = offsetNames.formatToParts(new Date(ms)).find((part) => part.type === 'timeZoneName')?.value ?? 'GMT';
    // `GMT` alone is a zero offset; otherwise `GMT+08:00`, `GMT-03:30`.
    const match = /^GMT([+-])(\d{2}):(\d{2})$/.exec(name);
    const sign = match?.[1] === '-' ? -1 : 1;
    const offsetMinutes = match === null ? 0 : sign * (Number(match[2]) * 60 + Number(match[3]));
    const local = new Date(ms + offsetMinutes * 60_000).toISOString().slice(0, -1);
    return match === null ? `${local}Z` : `${local}${match[1]}${match[2]}:${match[3]}`;
  };
}
