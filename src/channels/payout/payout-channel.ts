/**
 * The payout port (代付): the bank's rail that sends money from the custody account to a
 * member's own card. A payout's result often comes later than the request, and sometimes
 * not at all: then it must be asked for, never sent again. A payout that succeeded can still
 * come back days later (退票, a returned payment).
 *
 * `payoutId` is chosen by Custos (a withdrawal's id): a rail must treat a repeated
 * `payoutId` as the same payout, so asking again can never pay twice.
 */
export type PayoutStatus = 'processing' | 'succeeded' | 'failed' | 'returned';

/** Real-time for small amounts; the high-value rail (大额) only in business hours. */
export type PayoutRail = 'realtime' | 'high_value';

export interface SendPayout {
  readonly payoutId: string;
  readonly platformId: string;
  /** The platform's business number of the withdrawal. */
  readonly orderNo: string;
  readonly amountMinor: bigint;
  readonly currency: string;
  readonly rail: PayoutRail;
  readonly cardNumber: string;
  readonly accountName: string;
}

export interface PayoutState {
  readonly payoutId: string;
  /** The rail's own reference, once it has one. */
  readonly railTxnId: string | null;
  readonly status: PayoutStatus;
  readonly amountMinor: bigint;
  /** When the rail decided (succeeded/failed), or when the money came back (returned). */
  readonly decidedAtMs: number | null;
  readonly returnedAtMs: number | null;
  readonly failureReason: string | null;
}

export interface PayoutChannel {
  readonly name: string;
  /**
   * Hands the payout to the rail. Resolves with what the rail knows now (often
   * `processing`); rejects when the outcome is unknown (timeout, connection lost), in which
   * case the caller must query, not send again.
   */
  sendPayout(request: SendPayout): Promise<PayoutState>;
  /** The payout's state, or null if the rail never received it. */
  queryPayout(payoutId: string): Promise<PayoutState | null>;
  /**
   * Whether the rail takes payouts at this instant (the high-value rail keeps business
   * hours on working days in the bank's time zone; real-time runs always).
   */
  isOpen(rail: PayoutRail, atMs: number): boolean;
}

/** The rail did not answer: the payout may or may not have been received. Query it. */
export class PayoutOutcomeUnknownError extends Error {
  constructor(
    readonly payoutId: string,
    cause?: unknown,
  ) {
    super(`the outcome of payout ${payoutId} is unknown`, { cause });
  }
}
