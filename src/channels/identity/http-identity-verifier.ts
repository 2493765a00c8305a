import { performance } from 'node:perf_hooks';
import { postToSimServer, SimResponseError, SimTransportError } from '../sim-server.js';
import type { SimServiceResponse } from '../sim-server.js';
import { identitySimPaths } from './identity-sim-service.js';
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

export const httpIdentityVerifierDefaults = {
  /** One attempt's budget, body included; the retrying wrapper decides how many attempts. */
  timeoutMs: 2000,
  provider: 'sim',
} as const;

/** The longest attempt anyone may configure. */
export const httpIdentityTimeoutMsMax = 60_000;

/** Statuses that mean "no answer from the provider itself": the request id may be retried. */
const retryableStatuses: ReadonlySet<number> = new Set([502, 503, 504]);

export interface HttpIdentityVerifierOptions {
  /** The simulator server's URL (`custos sim` prints it). */
  readonly baseUrl: string;
  readonly secret: string;
  readonly timeoutMs?: number;
  /** The name results carry in `provider`. */
  readonly provider?: string;
}

/**
 * The attempt got no answer (connection refused or reset, time out, gateway error). It is a
 * `ProviderTimeoutError`, so the retrying wrapper retries it with the same request id.
 */
export class ProviderTransportError extends ProviderTimeoutError {
  constructor(provider: string, requestId: string, cause: unknown) {
    super(provider, requestId);
    this.cause = cause;
  }
}

/**
 * The provider answered, but the answer is refused or unusable: a bad signature, a body that
 * is not a result, or a status saying the request itself was refused. Never retried: the
 * same request would meet the same answer, and a forged answer must be looked into.
 */
export class ProviderResponseError extends Error {
  constructor(
    readonly provider: string,
    readonly requestId: string,
    readonly reason: 'bad_signature' | 'too_large' | 'invalid_json' | 'invalid_result' | 'refused',
    message: string,
    readonly status?: number,
  ) {
    super(`${provider} request ${requestId}: ${message}`);
  }
}

/** An `IdentityVerifier` that calls a simulator server (`startSimServer` with the identity service) over signed HTTP. */
export class HttpIdentityVerifier implements IdentityVerifier {
  readonly provider: string;
  private readonly baseUrl: string;
  private readonly secret: string;
  private readonly timeoutMs: number;

  constructor(options: HttpIdentityVerifierOptions) {
    const url = new URL(options.baseUrl);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('baseUrl must be http or https');
    if (options.secret.length === 0) throw new Error('the simulator secret must not be empty');
    this.baseUrl = options.baseUrl;
    this.secret = options.secret;
    this.timeoutMs = options.timeoutMs ?? httpIdentityVerifierDefaults.timeoutMs;
    this.provider = options.provider ?? httpIdentityVerifierDefaults.provider;
    if (!Number.isSafeInteger(this.timeoutMs) || this.timeoutMs < 1 || this.timeoutMs > httpIdentityTimeoutMsMax) {
      throw new Error(`timeoutMs lies in 1..${httpIdentityTimeoutMsMax}`);
    }
  }

  async verifyFourElements(request: FourElementsRequest): Promise<FourElementsResult> {
    const { requestId, name, idNumber, cardNumber, phone } = request;
    const payload = { requestId, name, idNumber, cardNumber, phone };
    return this.call(identitySimPaths.fourElements, requestId, payload, ['match', 'mismatch'] as const);
  }

  async sendSms(request: SmsRequest): Promise<SmsResult> {
    const { requestId, phone, text } = request;
    return this.call(identitySimPaths.sms, requestId, { requestId, phone, text }, ['sent'] as const);
  }

  async sendMicroDeposit(request: MicroDepositRequest): Promise<MicroDepositResult> {
    const { requestId, name, cardNumber, amountMinor } = request;
    return this.call(identitySimPaths.microDeposits, requestId, { requestId, name, cardNumber, amountMinor }, ['sent', 'rejected'] as const);
  }

  private async call<O extends string>(
    path: string,
    requestId: string,
    payload: unknown,
    outcomes: readonly O[],
  ): Promise<ProviderCall & { outcome: O }> {
    const startedMs = performance.now();
    const answer = await this.post(path, requestId, payload);
    if (retryableStatuses.has(answer.status)) {
      throw new ProviderTransportError(this.provider, requestId, new Error(`status ${answer.status}`));
    }
    if (answer.status !== 200) {
      const code = errorCode(answer.body);
      throw new ProviderResponseError(this.provider, requestId, 'refused', `refused with ${answer.status} ${code}`, answer.status);
    }
    const result = this.parseResult(answer.body, requestId, outcomes);
    return { provider: this.provider, requestId, attempts: 1, latencyMs: Math.round(performance.now() - startedMs), ...result };
  }

  private async post(path: string, requestId: string, payload: unknown): Promise<SimServiceResponse> {
    try {
      return await postToSimServer({ baseUrl: this.baseUrl, secret: this.secret, timeoutMs: this.timeoutMs }, path, payload);
    } catch (error) {
      if (error instanceof SimTransportError) throw new ProviderTransportError(this.provider, requestId, error);
      if (error instanceof SimResponseError) throw new ProviderResponseError(this.provider, requestId, error.reason, error.message);
      throw error;
    }
  }

  /** Believes nothing it has not checked: the request id, the outcome, the fee's form. */
  private parseResult<O extends string>(body: unknown, requestId: string, outcomes: readonly O[]): { outcome: O; feeMinor: bigint; providerRef: string } {
    const invalid = (what: string): never => {
      throw new ProviderResponseError(this.provider, requestId, 'invalid_result', what);
    };
    if (typeof body !== 'object' || body === null) return invalid('the answer is not an object');
    const fields = body as Readonly<Record<string, unknown>>;
    if (fields.requestId !== requestId) invalid('the answer is for another request id');
    const outcome = outcomes.find((one) => one === fields.outcome);
    if (outcome === undefined) return invalid(`unknown outcome ${String(fields.outcome)}`);
    const feeMinor = fields.feeMinor;
    if (typeof feeMinor !== 'string' || !/^\d{1,19}$/.test(feeMinor)) return invalid('feeMinor is not a decimal string of fen');
    const providerRef = fields.providerRef;
    if (typeof providerRef !== 'string' || providerRef.length === 0) return invalid('providerRef is missing');
    return { outcome, feeMinor: BigInt(feeMinor), providerRef };
  }
}

function errorCode(body: unknown): string {
  if (typeof body === 'object' && body !== null && 'error' in body && typeof body.error === 'string') return body.error;
  return 'without an error code';
}
