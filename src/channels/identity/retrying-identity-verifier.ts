import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { ProviderTimeoutError, ProviderUnavailableError } from './identity-verifier.js';
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

export const identityRetryDefaults = {
  /** Attempts of one request id, the first included, before the provider counts as unavailable. */
  attemptsMax: 4,
  /** Wait before the second attempt; each later wait doubles. */
  backoffMsBase: 20,
  backoffFactor: 2,
} as const;

/** The most attempts anyone may configure: every attempt may cost a full adapter timeout. */
export const identityRetryAttemptsMax = 10;

export interface RetryingIdentityVerifierOptions {
  readonly attemptsMax?: number;
  readonly backoffMsBase?: number;
  /** Uniform in [0, 1); inject a seeded one for reproducible waits. */
  readonly random?: () => number;
}

/**
 * Retries a request whose attempt timed out, with the same request id, so that the provider
 * answers it once and charges it once however many attempts it took. Only
 * `ProviderTimeoutError` is retried: adapters map their transport failures to it, and every
 * other error or answer (a mismatch, a rejected deposit, a refused request) is final.
 * Retrying is a concern wrapped around a verifier, not written into each adapter.
 */
export class RetryingIdentityVerifier implements IdentityVerifier {
  readonly provider: string;
  private readonly attemptsMax: number;
  private readonly backoffMsBase: number;
  private readonly random: () => number;

  constructor(
    private readonly inner: IdentityVerifier,
    options: RetryingIdentityVerifierOptions = {},
  ) {
    this.provider = inner.provider;
    this.attemptsMax = options.attemptsMax ?? identityRetryDefaults.attemptsMax;
    this.backoffMsBase = options.backoffMsBase ?? identityRetryDefaults.backoffMsBase;
    // Jitter is the one random thing here; an adapter may take it from Math.random.
    this.random = options.random ?? Math.random;
    if (!Number.isSafeInteger(this.attemptsMax) || this.attemptsMax < 1 || this.attemptsMax > identityRetryAttemptsMax) {
      throw new Error(`attemptsMax lies in 1..${identityRetryAttemptsMax}`);
    }
    if (!(this.backoffMsBase >= 0)) throw new Error('backoffMsBase must not be negative');
  }

  verifyFourElements(request: FourElementsRequest): Promise<FourElementsResult> {
    return this.retry(request.requestId, () => this.inner.verifyFourElements(request));
  }

  sendSms(request: SmsRequest): Promise<SmsResult> {
    return this.retry(request.requestId, () => this.inner.sendSms(request));
  }

  sendMicroDeposit(request: MicroDepositRequest): Promise<MicroDepositResult> {
    return this.retry(request.requestId, () => this.inner.sendMicroDeposit(request));
  }

  /** The wait before attempt `attempt + 1`: half fixed, half random, so clients that failed together spread out. */
  backoffMs(attempt: number): number {
    const ceilingMs = this.backoffMsBase * identityRetryDefaults.backoffFactor ** (attempt - 1);
    return Math.round(ceilingMs / 2 + (ceilingMs / 2) * this.random());
  }

  private async retry<R extends ProviderCall>(requestId: string, attempt: () => Promise<R>): Promise<R> {
    const startedMs = performance.now();
    let lastError: unknown;
    for (let attempts = 1; attempts <= this.attemptsMax; attempts++) {
      try {
        const result = await attempt();
        // An inner verifier may have retried too; its attempts add to ours.
        return { ...result, attempts: attempts - 1 + result.attempts, latencyMs: Math.round(performance.now() - startedMs) };
      } catch (error) {
        if (!(error instanceof ProviderTimeoutError)) throw error;
        lastError = error;
      }
      if (attempts < this.attemptsMax) await sleep(this.backoffMs(attempts));
    }
    throw new ProviderUnavailableError(this.provider, requestId, this.attemptsMax, lastError);
  }
}
