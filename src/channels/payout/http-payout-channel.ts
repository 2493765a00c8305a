import { parseRfc3339Ms } from '../acquiring/acquiring-simulator.js';
import { postToSimServer, SimResponseError, SimTransportError } from '../sim-server.js';
import type { SimServiceResponse } from '../sim-server.js';
import { PayoutOutcomeUnknownError } from './payout-channel.js';
import type { PayoutChannel, PayoutRail, PayoutState, SendPayout } from './payout-channel.js';
import { payoutSimPaths } from './payout-sim-service.js';
import {
  isPayoutRailOpen,
  parsePayoutWire,
  payoutCalendar,
  PayoutRequestError,
  payoutSimulatorDefaults,
  RailClosedError,
} from './payout-simulator.js';
import type { PayoutCalendar } from './payout-simulator.js';

export const httpPayoutChannelDefaults = {
  /** One attempt's budget, body included; the caller decides when to query again. */
  timeoutMs: 2000,
  name: payoutSimulatorDefaults.name,
} as const;

/** The longest attempt anyone may configure. */
export const httpPayoutTimeoutMsMax = 60_000;

/** The refusals a signed answer may carry that prove the rail recorded nothing. */
const refusalCodes: ReadonlySet<string> = new Set<PayoutRequestError['code']>(['invalid_request', 'payout_id_reused', 'rail_limit_exceeded']);

export interface HttpPayoutChannelOptions {
  /** The simulator server's URL (`custos sim` prints it). */
  readonly baseUrl: string;
  /** Signs requests and verifies answers, as the simulator server does. */
  readonly secret: string;
  readonly name?: string;
  readonly timeoutMs?: number;
  /** The bank's calendar for `isOpen`; keep it equal to the simulator's. */
  readonly timeZone?: string;
  readonly holidays?: readonly string[];
}

/**
 * The rail answered a query or a statement, but the answer is refused or unusable: a bad
 * signature, a body that is not a payout state, or a status that is not part of the
 * protocol; `unavailable` when a statement got no answer at all. `sendPayout` never throws
 * it: there, any answer short of a proven refusal is an unknown outcome.
 */
export class PayoutResponseError extends Error {
  constructor(
    readonly channel: string,
    readonly reason: 'bad_signature' | 'too_large' | 'invalid_json' | 'invalid_result' | 'refused' | 'unavailable',
    message: string,
    readonly status?: number,
    readonly code?: string,
  ) {
    super(`${channel}: ${message}`);
  }
}

/**
 * A `PayoutChannel` that calls a simulator server (`startSimServer` with the payout service)
 * over signed HTTP. Money leaves through it, so it errs towards "unknown": `sendPayout`
 * rejects with `PayoutOutcomeUnknownError` on every failure except a signed refusal that
 * proves nothing was recorded (`PayoutRequestError`, `RailClosedError`, the same classes the
 * in-process simulator throws), and the caller then queries instead of sending again.
 * `isOpen` is answered locally from the same calendar rules as the simulator's.
 */
export class HttpPayoutChannel implements PayoutChannel {
  readonly name: string;
  readonly calendar: PayoutCalendar;
  private readonly baseUrl: string;
  private readonly secret: string;
  private readonly timeoutMs: number;

  constructor(options: HttpPayoutChannelOptions) {
    const url = new URL(options.baseUrl);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('baseUrl must be http or https');
    if (options.secret.length === 0) throw new Error('the simulator secret must not be empty');
    this.baseUrl = options.baseUrl;
    this.secret = options.secret;
    this.name = options.name ?? httpPayoutChannelDefaults.name;
    if (this.name.length === 0) throw new Error('the channel name must not be empty');
    this.timeoutMs = options.timeoutMs ?? httpPayoutChannelDefaults.timeoutMs;
    if (!Number.isSafeInteger(this.timeoutMs) || this.timeoutMs < 1 || this.timeoutMs > httpPayoutTimeoutMsMax) {
      throw new Error(`timeoutMs lies in 1..${httpPayoutTimeoutMsMax}`);
    }
    this.calendar = payoutCalendar(options.timeZone, options.holidays);
  }

  async sendPayout(request: SendPayout): Promise<PayoutState> {
    const payload = {
      payout_id: request.payoutId,
      platform_id: request.platformId,
      order_no: request.orderNo,
      amount: request.amountMinor,
      currency: request.currency,
      rail: request.rail,
      card_number: request.cardNumber,
      account_name: request.accountName,
    };
    let answer: SimServiceResponse;
    try {
      answer = await this.post(payoutSimPaths.payouts, payload);
    } catch (error) {
      throw new PayoutOutcomeUnknownError(request.payoutId, error);
    }
    if (answer.status !== 200) throw refusalOrUnknown(request.payoutId, answer);
    try {
      const state = this.parseState(answer.body, request.payoutId);
      if (state.amountMinor !== request.amountMinor) this.invalid(`the answer's amount ${state.amountMinor} differs from ${request.amountMinor}`);
      return state;
    } catch (error) {
      // The rail answered something we cannot believe; it may still have the payout.
      throw new PayoutOutcomeUnknownError(request.payoutId, error);
    }
  }

  async queryPayout(payoutId: string): Promise<PayoutState | null> {
    let answer: SimServiceResponse;
    try {
      answer = await this.post(payoutSimPaths.query, { payout_id: payoutId });
    } catch (error) {
      if (error instanceof SimTransportError) throw new PayoutOutcomeUnknownError(payoutId, error);
      throw error;
    }
    if (answer.status >= 500) throw new PayoutOutcomeUnknownError(payoutId, new Error(`status ${answer.status}`));
    if (answer.status === 404 && errorCode(answer.body) === 'payout_not_found') return null;
    this.refuseUnlessOk(answer);
    return this.parseState(answer.body, payoutId);
  }

  isOpen(rail: PayoutRail, atMs: number): boolean {
    return isPayoutRailOpen(rail, atMs, this.calendar);
  }

  /** The bank statement CSV for payouts in [fromMs, toMs) (see `PayoutSimulator.statement`). */
  async statement(fromMs: number, toMs: number, platformId?: string): Promise<string> {
    const payload = { from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString(), platform_id: platformId };
    let answer: SimServiceResponse;
    try {
      answer = await this.post(payoutSimPaths.statement, payload);
    } catch (error) {
      if (error instanceof SimTransportError) throw new PayoutResponseError(this.name, 'unavailable', error.message);
      throw error;
    }
    this.refuseUnlessOk(answer);
    const body = answer.body;
    if (typeof body !== 'object' || body === null || !('csv' in body) || typeof body.csv !== 'string') {
      return this.invalid('the statement answer has no csv');
    }
    return body.csv;
  }

  /** Throws `SimTransportError` when no answer came, `PayoutResponseError` when the answer cannot be trusted. */
  private async post(path: string, payload: unknown): Promise<SimServiceResponse> {
    try {
      return await postToSimServer({ baseUrl: this.baseUrl, secret: this.secret, timeoutMs: this.timeoutMs }, path, payload);
    } catch (error) {
      if (error instanceof SimResponseError) throw new PayoutResponseError(this.name, error.reason, error.message);
      throw error;
    }
  }

  private refuseUnlessOk(answer: SimServiceResponse): void {
    if (answer.status === 200) return;
    const code = errorCode(answer.body);
    throw new PayoutResponseError(this.name, 'refused', `refused with ${answer.status} ${code ?? 'without an error code'}`, answer.status, code);
  }

  /** Believes nothing it has not checked: the form and the payout id. */
  private parseState(body: unknown, payoutId: string): PayoutState {
    const state = parsePayoutWire(body);
    if (state === null) return this.invalid('the answer is not a payout state');
    if (state.payoutId !== payoutId) this.invalid('the answer is for another payout id');
    return state;
  }

  private invalid(message: string): never {
    throw new PayoutResponseError(this.name, 'invalid_result', message);
  }
}

/**
 * A signed non-200 answer to a send: a refusal that proves nothing was recorded becomes the
 * simulator's own error; everything else (5xx, a lost answer's 504, a status outside the
 * protocol) leaves the payout's fate unknown.
 */
function refusalOrUnknown(payoutId: string, answer: SimServiceResponse): Error {
  const code = errorCode(answer.body);
  const message = messageOf(answer.body) ?? `refused with ${answer.status} ${code ?? ''}`.trim();
  if (answer.status === 409 && code === 'rail_closed') {
    const closed = railClosedFrom(answer.body);
    if (closed !== null) return closed;
  }
  if ((answer.status === 400 || answer.status === 409) && code !== undefined && refusalCodes.has(code)) {
    return new PayoutRequestError(code as PayoutRequestError['code'], message);
  }
  return new PayoutOutcomeUnknownError(payoutId, new Error(`status ${answer.status} ${code ?? ''}`.trim()));
}

function railClosedFrom(body: unknown): RailClosedError | null {
  if (typeof body !== 'object' || body === null) return null;
  const fields = body as Readonly<Record<string, unknown>>;
  const rail = fields.rail;
  const atMs = typeof fields.at === 'string' ? parseRfc3339Ms(fields.at) : null;
  const opensAtMs = typeof fields.opens_at === 'string' ? parseRfc3339Ms(fields.opens_at) : null;
  if ((rail !== 'realtime' && rail !== 'high_value') || atMs === null || opensAtMs === null) return null;
  return new RailClosedError(rail, atMs, opensAtMs);
}

function errorCode(body: unknown): string | undefined {
  if (typeof body === 'object' && body !== null && 'error' in body && typeof body.error === 'string') return body.error;
  return undefined;
}

function messageOf(body: unknown): string | undefined {
  if (typeof body === 'object' && body !== null && 'message' in body && typeof body.message === 'string') return body.message;
  return undefined;
}
