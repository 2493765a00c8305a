/**
 * The acquiring port (收单): a payment channel collects money from a payer for Custos and
 * settles it into the platform's custody account later. Results arrive asynchronously, as
 * signed callbacks that may come twice or out of order, and can always be asked for.
 *
 * `paymentId` is chosen by Custos (a payin's or an order's id): a channel must treat a
 * repeated `paymentId` as the same payment, so a retried create never charges twice.
 */
export type PaymentStatus = 'pending' | 'succeeded' | 'failed';

export interface CreatePayment {
  readonly paymentId: string;
  /** The platform's business number (order_no), for the channel's statement. */
  readonly orderNo: string;
  readonly amountMinor: bigint;
  readonly currency: string;
  /** Who the payment is for, as the channel's statement shows it. */
  readonly platformId: string;
}

export interface PaymentState {
  readonly paymentId: string;
  readonly channelTxnId: string;
  readonly status: PaymentStatus;
  readonly amountMinor: bigint;
  /** When the channel decided (succeeded/failed), ms since the epoch; null while pending. */
  readonly decidedAtMs: number | null;
  /** Why it failed, in the channel's words. */
  readonly failureReason: string | null;
}

/** One callback as the channel sends it: a JSON body and its signature header. */
export interface ChannelCallback {
  readonly channel: string;
  readonly body: string;
  readonly signature: string;
}

export interface AcquiringChannel {
  /** The channel's name as payins name it (`sim`, `sim_fail`, a real channel's code). */
  readonly name: string;
  createPayment(request: CreatePayment): Promise<PaymentState>;
  queryPayment(paymentId: string): Promise<PaymentState | null>;
  /**
   * Checks a callback's signature and reads it. Null when the signature is wrong, expired
   * or missing: such a callback is never trusted, whatever it says.
   */
  readCallback(callback: ChannelCallback, nowMs: number): PaymentState | null;
}

/** Where a channel delivers its callbacks (Custos's callback endpoint, in-process or over HTTP). */
export type CallbackSink = (callback: ChannelCallback) => Promise<void>;
