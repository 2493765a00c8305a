/**
 * The identity-verification port: four-element checks (name, ID number, card number,
 * bank-reserved phone), SMS delivery of one-time codes, and small-amount deposits
 * (小额鉴权). A real provider's adapter and the simulator implement it alike.
 *
 * Every call carries a `requestId` chosen by Custos: a provider must treat a repeated
 * `requestId` as the same request (same answer, charged once), which is what makes a retry
 * after a timeout safe.
 */
export interface ProviderCall {
  /** Who answered, e.g. `sim` or a bank's provider name. */
  readonly provider: string;
  readonly requestId: string;
  /** Attempts made, the last one answered (retries after timeouts count). */
  readonly attempts: number;
  /** Wall time from the first attempt to the answer. */
  readonly latencyMs: number;
  /** What the provider charges for this request, in fen; charged once per requestId. */
  readonly feeMinor: bigint;
  /** The provider's own reference, for reconciling its invoice. */
  readonly providerRef: string;
}

export interface FourElementsRequest {
  readonly requestId: string;
  readonly name: string;
  readonly idNumber: string;
  readonly cardNumber: string;
  readonly phone: string;
}

export interface FourElementsResult extends ProviderCall {
  /** `mismatch`: the four elements do not belong together at the card's bank. */
  readonly outcome: 'match' | 'mismatch';
}

export interface SmsRequest {
  readonly requestId: string;
  readonly phone: string;
  readonly text: string;
}

export interface SmsResult extends ProviderCall {
  readonly outcome: 'sent';
}

export interface MicroDepositRequest {
  readonly requestId: string;
  /** The account holder's name as the card's bank must find it. */
  readonly name: string;
  readonly cardNumber: string;
  /** 1 to 50 fen. */
  readonly amountMinor: bigint;
}

export interface MicroDepositResult extends ProviderCall {
  /** `rejected`: the card's bank refused the deposit (closed card, name mismatch). */
  readonly outcome: 'sent' | 'rejected';
}

export interface IdentityVerifier {
  readonly provider: string;
  verifyFourElements(request: FourElementsRequest): Promise<FourElementsResult>;
  sendSms(request: SmsRequest): Promise<SmsResult>;
  sendMicroDeposit(request: MicroDepositRequest): Promise<MicroDepositResult>;
}

/** The provider did not answer within the retry budget; nothing may be assumed about it. */
export class ProviderUnavailableError extends Error {
  constructor(
    readonly provider: string,
    readonly requestId: string,
    readonly attempts: number,
    cause?: unknown,
  ) {
    super(`${provider} did not answer request ${requestId} after ${attempts} attempts`, { cause });
  }
}

/** One attempt timed out: the adapter may retry with the same requestId. */
export class ProviderTimeoutError extends Error {
  constructor(
    readonly provider: string,
    readonly requestId: string,
  ) {
    super(`${provider} timed out on request ${requestId}`);
  }
}
