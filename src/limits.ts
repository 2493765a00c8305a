/**
 * Every limit Custos enforces, in one place (TigerBeetle's "put a limit on everything").
 * Names carry units and end in Max/Min. `assertLimits()` runs at start-up and checks the
 * relations between them, so a bad edit fails loudly instead of silently at run time.
 */
export const limits = {
  /** Postings in one journal entry. An order with 30 payees and fees needs 61. */
  postingsPerEntryMax: 64,
  /** Largest amount of one posting: amounts cross the API as JSON numbers, ≤ 2^53 − 1. */
  amountMinorMax: 2n ** 53n - 1n,
  /** Largest value of any balance field: PostgreSQL bigint. */
  balanceMinorMax: 2n ** 63n - 1n,
  /** Longest a pending entry may wait before it expires by itself. */
  pendingTimeoutSecondsMax: 366 * 24 * 3600,
  /** Lengths of the descriptive strings stored on an entry or account. */
  commandLengthMax: 64,
  referenceLengthMax: 128,
  actorLengthMax: 128,
  accountCodeLengthMax: 40,
  /** Accounts created by one call. */
  accountsPerCallMax: 8190,

  /** Group commit: entries decided and written in one database transaction. */
  batchEntriesMax: 8190,
  /** Group commit: postings in one database transaction (bounds statement size). */
  batchPostingsMax: 16384,
  /** Group commit default: how long an idle batcher waits for company before it writes. */
  batchWaitMsDefault: 0,
  /** Group commit: the longest wait anyone may configure. */
  batchWaitMsMax: 100,
  /** Commands queued per book beyond which new ones are refused as `overloaded`. */
  batchQueueEntriesMax: 262_144,
  /** Times a batch is retried after its optimistic insert met an existing entry id. */
  batchConflictRetriesMax: 3,
  /** Accounts whose balances a process keeps between batches (validated by the book version). */
  balanceCacheAccountsMax: 1_000_000,

  /** Rows returned by one page of a list query. */
  pageSizeMax: 100,
  pageSizeDefault: 10,

  /** HTTP: request bodies above this answer 413 (CSV imports stream and have their own). */
  requestBodyBytesMax: 1024 * 1024,
  /** HTTP: requests per credential per window before 429, and the window. */
  rateLimitRequestsPerWindow: 1000,
  rateLimitWindowMs: 1000,
  /** Credentials and addresses the rate limiter keeps counting at once (oldest dropped). */
  rateLimitKeysMax: 100_000,
  /** HTTP: failed sign-ins per address per window before 429, and how many addresses are tracked. */
  authFailuresPerWindowMax: 300,
  authFailureWindowMs: 60_000,
  authFailureAddressesMax: 100_000,
  /** HTTP: a request that runs longer is cut off. */
  requestTimeoutMs: 30_000,
  /** Idempotency-Key: longest key, how long a response is replayed, how long a claim holds. */
  idempotencyKeyLengthMax: 255,
  idempotencyTtlSeconds: 24 * 3600,
  idempotencyLockSeconds: 60,

  /** Platforms. */
  platformNameLengthMax: 128,
  autoConfirmSecondsDefault: 7 * 24 * 3600,
  autoConfirmSecondsMin: 60,
  autoConfirmSecondsMax: 180 * 24 * 3600,
  /** Members. */
  externalIdLengthMax: 64,
  memberNameLengthMax: 128,
  /** Card binding (identity verification). */
  smsSendsPerMemberPerDayMax: 10,
  verificationWrongAnswersMax: 3,
  smsCodeTtlSeconds: 600,
  smallAmountWindowSeconds: 48 * 3600,
  microDepositMinorMax: 50n,
  cardsPerMemberMax: 10,
  /** Trades. */
  payeesPerOrderMax: 30,
  orderAmountMinorMax: 10_000_000_000n,
  payinAmountMinorMax: 10_000_000_000n,
  transferAmountMinorMax: 10_000_000_000n,
  /** A payin with no answer from its channel for this long is asked about. */
  payinQueryAfterSeconds: 60,
  /** Withdrawals: the largest one, the real-time rail's ceiling (¥50,000), how far back risk rules look. */
  withdrawalAmountMinorMax: 10_000_000_000n,
  realtimeRailAmountMinorMax: 5_000_000n,
  riskLookbackSecondsMax: 7 * 24 * 3600,
  /** Payouts: asking a rail again, at most this often and this rarely; watching for returns this long. */
  payoutRetryBaseSeconds: 1,
  payoutRetryMaxSeconds: 3600,
  payoutReturnWatchSeconds: 14 * 24 * 3600,
  payoutReturnCheckSeconds: 6 * 3600,
  /** A high-value payout waiting for its rail to open looks again this often. */
  highValueRailPollSeconds: 300,
  adjustmentReasonLengthMax: 500,
  /** Consent codes for paying the platform. */
  consentCodeTtlSeconds: 600,
  /** Entries per run of the hash chain the database checks in one statement. */
  verifyChunkEntriesMax: 50_000,
  /** Runs of the chain the database checks at once (each keeps one core busy). */
  verifyReadsInFlight: 2,
} as const;

export type Limits = typeof limits;

/** Crashes at start-up when the limits contradict each other. */
export function assertLimits(l: Limits = limits): void {
  const check = (ok: boolean, what: string): void => {
    if (!ok) throw new Error(`limits: ${what}`);
  };
  check(l.postingsPerEntryMax >= 1, 'postingsPerEntryMax must be at least 1');
  check(l.batchPostingsMax >= l.postingsPerEntryMax, 'a batch must hold the largest entry');
  check(l.batchEntriesMax >= 1, 'batchEntriesMax must be at least 1');
  check(l.amountMinorMax < l.balanceMinorMax, 'one amount must fit in a balance');
  check(l.batchWaitMsDefault <= l.batchWaitMsMax, 'default batch wait above its maximum');
  check(l.batchQueueEntriesMax >= l.batchEntriesMax, 'the queue must hold a full batch');
  check(l.pageSizeMax >= 1 && l.pageSizeMax <= 1000, 'pageSizeMax out of range');
  check(l.pageSizeDefault >= 1 && l.pageSizeDefault <= l.pageSizeMax, 'pageSizeDefault out of range');
  check(l.idempotencyLockSeconds * 1000 > l.requestTimeoutMs, 'an idempotency claim must outlive the request');
  check(l.autoConfirmSecondsMin <= l.autoConfirmSecondsDefault, 'auto-confirm default below its minimum');
  check(l.autoConfirmSecondsDefault <= l.autoConfirmSecondsMax, 'auto-confirm default above its maximum');
  check(l.microDepositMinorMax > 0n && l.microDepositMinorMax <= 50n, 'a small-amount deposit is at most ¥0.50');
  check(l.smsCodeTtlSeconds < l.smallAmountWindowSeconds, 'SMS codes expire before small-amount answers');
  check(l.payeesPerOrderMax * 2 + 1 <= l.postingsPerEntryMax, 'an order with every payee and fee fits one entry');
  check(l.orderAmountMinorMax <= l.amountMinorMax, 'an order fits one posting');
}
