import { postToSimServer, SimResponseError, SimTransportError } from '../sim-server.js';
import type { SimServiceResponse } from '../sim-server.js';
import type { AcquiringChannel, ChannelCallback, CreatePayment, PaymentState } from './acquiring-channel.js';
import { acquiringSimPaths } from './acquiring-sim-service.js';
import { parsePaymentWire, readAcquiringCallback } from './acquiring-simulator.js';

export const httpAcquiringChannelDefaults = {
  /** One attempt's budget, body included; the caller decides how many attempts. */
  timeoutMs: 2000,
} as const;

/** The longest attempt anyone may configure. */
export const httpAcquiringTimeoutMsMax = 60_000;

/**
 * Statuses that mean "no answer from the channel itself". A 500 is among them: the channel
 * may have created the payment before failing, so its outcome is unknown too.
 */
const outcomeUnknownStatuses: ReadonlySet<number> = new Set([500, 502, 503, 504]);

export interface HttpAcquiringChannelOptions {
  /** The simulator server's URL (`custos sim` prints it). */
  readonly baseUrl: string;
  /** Signs requests, verifies answers, and verifies callbacks: the simulator signs all three with it. */
  readonly secret: string;
  /** The channel name this port speaks for (`sim`, `sim_fail`, …). */
  readonly name: string;
  readonly timeoutMs?: number;
}

/**
 * Unknown outcome: no trustworthy answer arrived (connection refused or reset, time out, a
 * 5xx gateway or server error). The payment may or may not exist at the channel. Retrying
 * `createPayment` with the same `paymentId` and the same request is safe, because the
 * channel treats it as the same payment; so is `queryPayment`. This is the only error
 * class that means "retry".
 */
export class AcquiringTransportError extends Error {
  readonly outcomeUnknown = true;

  constructor(
    readonly channel: string,
    readonly paymentId: string,
    cause: unknown,
  ) {
    super(`${channel} payment ${paymentId}: no answer from the channel`, { cause });
  }
}

/**
 * The channel answered, but the answer is refused or unusable: a bad signature, a body that
 * is not a payment state, or a status saying the request itself was refused (`code` tells
 * which, e.g. `payment_id_reused`). Never retried: the same request meets the same answer,
 * and a forged answer must be looked into. `statement_too_large` asks for a shorter window.
 */
export class AcquiringResponseError extends Error {
  constructor(
    readonly channel: string,
    readonly reason: 'bad_signature' | 'too_large' | 'invalid_json' | 'invalid_result' | 'refused',
    message: string,
    readonly status?: number,
    readonly code?: string,
  ) {
    super(`${channel}: ${message}`);
  }
}

/** An `AcquiringChannel` that calls a simulator server (`startSimServer` with the acquiring service) over signed HTTP. */
export class HttpAcquiringChannel implements AcquiringChannel {
  readonly name: string;
  private readonly baseUrl: string;
  private readonly secret: string;
  private readonly timeoutMs: number;

  constructor(options: HttpAcquiringChannelOptions) {
    const url = new URL(options.baseUrl);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('baseUrl must be http or https');
    if (options.secret.length === 0) throw new Error('the simulator secret must not be empty');
    if (options.name.length === 0) throw new Error('the channel name must not be empty');
    this.baseUrl = options.baseUrl;
    this.secret = options.secret;
    this.name = options.name;
    this.timeoutMs = options.timeoutMs ?? httpAcquiringChannelDefaults.timeoutMs;
    if (!Number.isSafeInteger(this.timeoutMs) || this.timeoutMs < 1 || this.timeoutMs > httpAcquiringTimeoutMsMax) {
      throw new Error(`timeoutMs lies in 1..${httpAcquiringTimeoutMsMax}`);
    }
  }

  async createPayment(request: CreatePayment): Promise<PaymentState> {
    const payload = {
      channel: this.name,
      payment_id: request.paymentId,
      order_no: request.orderNo,
      amount: request.amountMinor,
      currency: request.currency,
      platform_id: request.platformId,
    };
    const answer = await this.post(acquiringSimPaths.payments, request.paymentId, payload);
    this.refuseUnlessOk(answer);
    const state = this.parseState(answer.body, request.paymentId);
    if (state.amountMinor !== request.amountMinor) this.invalid(`the answer's amount ${state.amountMinor} differs from ${request.amountMinor}`);
    return state;
  }

  async queryPayment(paymentId: string): Promise<PaymentState | null> {
    const answer = await this.post(acquiringSimPaths.query, paymentId, { channel: this.name, payment_id: paymentId });
    if (answer.status === 404 && errorCode(answer.body) === 'payment_not_found') return null;
    this.refuseUnlessOk(answer);
    return this.parseState(answer.body, paymentId);
  }

  readCallback(callback: ChannelCallback, nowMs: number): PaymentState | null {
    return readAcquiringCallback(this.secret, this.name, callback, nowMs);
  }

  /** The channel's statement CSV for decisions in [fromMs, toMs) (see `AcquiringSimulator.statement`). */
  async statement(fromMs: number, toMs: number, timeZone?: string): Promise<string> {
    const payload = { channel: this.name, from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString(), time_zone: timeZone };
    const answer = await this.post(acquiringSimPaths.statement, '(statement)', payload);
    this.refuseUnlessOk(answer);
    const body = answer.body;
    if (typeof body !== 'object' || body === null || !('csv' in body) || typeof body.csv !== 'string') {
      return this.invalid('the statement answer has no csv');
    }
    return body.csv;
  }

  private async post(path: string, paymentId: string, payload: unknown): Promise<SimServiceResponse> {
    let answer: SimServiceResponse;
    try {
      answer = await postToSimServer({ baseUrl: this.baseUrl, secret: this.secret, timeoutMs: this.timeoutMs }, path, payload);
    } catch (error) {
      if (error instanceof SimTransportError) throw new AcquiringTransportError(this.name, paymentId, error);
      if (error instanceof SimResponseError) throw new AcquiringResponseError(this.name, error.reason, error.message);
      throw error;
    }
    if (outcomeUnknownStatuses.has(answer.status)) {
      throw new AcquiringTransportError(this.name, paymentId, new Error(`status ${answer.status} ${errorCode(answer.body) ?? ''}`.trim()));
    }
    return answer;
  }

  private refuseUnlessOk(answer: SimServiceResponse): void {
    if (answer.status === 200) return;
    const code = errorCode(answer.body);
    const what = code ?? 'without an error code';
    throw new AcquiringResponseError(this.name, 'refused', `refused with ${answer.status} ${what}`, answer.status, code);
  }

  /** Believes nothing it has not checked: the form, the channel and the payment id. */
  private parseState(body: unknown, paymentId: string): PaymentState {
    const read = parsePaymentWire(body);
    if (read === null) return this.invalid('the answer is not a payment state');
    if (read.channel !== this.name) this.invalid(`the answer is for channel ${read.channel}`);
    if (read.state.paymentId !== paymentId) this.invalid('the answer is for another payment id');
    return read.state;
  }

  private invalid(message: string): never {
    throw new AcquiringResponseError(this.name, 'invalid_result', message);
  }
}

function errorCode(body: unknown): string | undefined {
  if (typeof body === 'object' && body !== null && 'error' in body && typeof body.error === 'string') return body.error;
  return undefined;
}
