import { HttpIdentityVerifier } from './channels/identity/http-identity-verifier.js';
import { IdentitySimulator } from './channels/identity/identity-simulator.js';
import type { IdentityVerifier } from './channels/identity/identity-verifier.js';
import { RetryingIdentityVerifier } from './channels/identity/retrying-identity-verifier.js';
import { randomBytes } from 'node:crypto';
import type { AcquiringChannel } from './channels/acquiring/acquiring-channel.js';
import { AcquiringSimulator } from './channels/acquiring/acquiring-simulator.js';
import { HttpAcquiringChannel } from './channels/acquiring/http-acquiring-channel.js';
import { SandboxClock, systemClock } from './clock.js';
import type { Clock } from './clock.js';
import { CardService } from './custody/card-service.js';
import { InvariantService } from './custody/invariant-service.js';
import { OrderService } from './custody/order-service.js';
import { PayinService } from './custody/payin-service.js';
import type { Warn } from './custody/payin-service.js';
import { pino } from 'pino';
import { SuspenseService } from './custody/suspense-service.js';
import { ReconciliationService } from './custody/reconciliation-service.js';
import { SqlReconciliationStore } from './storage/sql-reconciliation-store.js';
import { TransferService } from './custody/transfer-service.js';
import { SqlTradeStore, tradeTables } from './storage/sql-trade-store.js';
import { SqlWithdrawalStore, withdrawalTables } from './storage/sql-withdrawal-store.js';
import { EodService } from './custody/eod-service.js';
import { defaultReserveSchedule } from './custody/reserve-rules.js';
import type { ReserveStep } from './custody/reserve-rules.js';
import { eodTables, SqlEodStore } from './storage/sql-eod-store.js';
import { WebhookDispatcher } from './custody/webhook-dispatcher.js';
import { WebhookService } from './custody/webhook-service.js';
import { SqlWebhookStore } from './storage/sql-webhook-store.js';
import { AdjustmentService } from './custody/adjustment-service.js';
import { PayoutProcessor } from './custody/payout-processor.js';
import { RiskConfigService } from './custody/risk-config-service.js';
import { WithdrawalService } from './custody/withdrawal-service.js';
import type { PayoutChannel } from './channels/payout/payout-channel.js';
import { HttpPayoutChannel } from './channels/payout/http-payout-channel.js';
import { PayoutSimulator } from './channels/payout/payout-simulator.js';
import { CredentialService } from './custody/credential-service.js';
import { MemberService } from './custody/member-service.js';
import { PlatformService } from './custody/platform-service.js';
import { bankScope } from './custody/records.js';
import { Metrics } from './http/metrics.js';
import { assertLimits } from './limits.js';
import { loadMasterKey, PiiVault } from './security/pii-vault.js';
import { migrationsApplied } from './storage/migrator.js';
import { openStore } from './storage/open-store.js';
import { SqlCustodyStore } from './storage/sql-custody-store.js';
import type { SqlLedgerStore } from './storage/sql-ledger-store.js';
import { CompiledQuery, sql } from 'kysely';

export interface RuntimeConfig {
  /** Simulators in-process, sandbox answers in responses, a clock operators can move. */
  readonly sandbox: boolean;
  /** PostgreSQL; absent: PGlite in `dataDir`, or in memory when that is absent too. */
  readonly databaseUrl?: string | undefined;
  readonly dataDir?: string | undefined;
  /** PostgreSQL schema to work in (tests); absent: the server's search path. */
  readonly schema?: string | undefined;
  readonly adminToken?: string | undefined;
  /** CUSTOS_ENCRYPTION_KEY; without it the key lives in `dataDir` (embedded mode only). */
  readonly encryptionKey?: string | undefined;
  /** A provider speaking the simulator's signed HTTP protocol (required outside sandbox). */
  readonly identity?: { readonly url: string; readonly secret: string } | undefined;
  /** Acquiring channels served by a simulator over signed HTTP (outside sandbox). */
  readonly acquiring?: { readonly url: string; readonly secret: string; readonly channels: readonly string[] } | undefined;
  /** A payout rail served by a simulator over signed HTTP (outside sandbox). */
  readonly payout?: { readonly url: string; readonly secret: string } | undefined;
  /** Where warnings of the services go (default: JSON lines on stdout, like the HTTP log). */
  readonly log?: Warn | undefined;
  /** Seed of the in-process simulators. */
  readonly seed?: number | undefined;
  readonly batchEntriesMax?: number | undefined;
  readonly batchWaitMs?: number | undefined;
  /** Wall clock under the sandbox clock (tests move it by hand). */
  readonly wallClock?: Clock | undefined;
  /** End of day closes the previous day by itself this many minutes after midnight (default 30). */
  readonly eodCutoffMinutes?: number | undefined;
  /** The reserve-fund ratio schedule (default: the published steps). */
  readonly reserveSchedule?: readonly ReserveStep[] | undefined;
}

export interface Runtime {
  readonly config: RuntimeConfig;
  readonly clock: Clock;
  /** The movable clock, in sandbox mode only. */
  readonly sandboxClock: SandboxClock | null;
  readonly ledger: SqlLedgerStore;
  readonly custody: SqlCustodyStore;
  readonly metrics: Metrics;
  readonly verifier: IdentityVerifier;
  readonly credentials: CredentialService;
  readonly platforms: PlatformService;
  readonly members: MemberService;
  readonly cards: CardService;
  readonly trades: SqlTradeStore;
  readonly orders: OrderService;
  readonly payins: PayinService;
  readonly transfers: TransferService;
  readonly suspense: SuspenseService;
  readonly invariants: InvariantService;
  /** The in-process acquiring simulator (sandbox), or null. */
  readonly acquiringSimulator: AcquiringSimulator | null;
  readonly withdrawalStore: SqlWithdrawalStore;
  readonly withdrawals: WithdrawalService;
  readonly payouts: PayoutProcessor;
  readonly adjustments: AdjustmentService;
  readonly riskConfig: RiskConfigService;
  readonly eod: EodService;
  readonly reconciliations: ReconciliationService;
  /** Encrypts personal data and stored secrets at rest (AES-256-GCM). */
  readonly vault: PiiVault;
  readonly webhooks: WebhookService;
  readonly webhookDispatcher: WebhookDispatcher;
  /** The payout rail: the in-process simulator in sandbox. */
  readonly payoutRail: PayoutChannel;
  readonly payoutSimulator: PayoutSimulator | null;
  /** An admin token generated at first start, to be shown once; null otherwise. */
  readonly generatedAdminToken: string | null;
  readonly encryptionKeySource: 'env' | 'file' | 'generated';
  /** Moves the sandbox clock and saves it, then runs whatever fell due. */
  advanceClock(seconds: number): Promise<void>;
  /** Runs the jobs that are due now: expired holds, auto-confirms, payins to ask about, callbacks. */
  runDueJobs(): Promise<DueWork>;
  /** Database reachable and every migration applied. */
  ready(): Promise<boolean>;
  close(): Promise<void>;
}

const clockOffsetKey = 'sandbox_clock_offset_ms';

export interface DueWork {
  readonly payoutSteps: number;
  readonly expired: number;
  readonly autoConfirmed: number;
  readonly payinsDecided: number;
  readonly callbacksDelivered: number;
  readonly daysClosed: number;
  readonly webhooksDelivered: number;
}

/** Everything Custos is made of, wired once, for `custos serve`, the CLI and the tests. */
export async function createRuntime(config: RuntimeConfig): Promise<Runtime> {
  assertLimits();
  const wall = config.wallClock ?? systemClock;
  const sandboxClock = config.sandbox ? new SandboxClock(0, wall) : null;
  const clock: Clock = sandboxClock ?? wall;
  const metrics = new Metrics(config.wallClock === undefined);
  const key = await loadMasterKey({
    env: config.encryptionKey,
    dataDir: config.databaseUrl === undefined ? config.dataDir : undefined,
    allowGenerate: config.databaseUrl === undefined && config.dataDir !== undefined,
  }).catch((error: unknown) => {
    if (config.databaseUrl === undefined && config.dataDir === undefined && config.encryptionKey === undefined) {
      // An in-memory database lives as long as the process: so may its key.
      return { key: Buffer.from(crypto.getRandomValues(new Uint8Array(32))), source: 'generated' as const };
    }
    throw error;
  });
  const vault = new PiiVault(key.key);
  const ledger = await openStore({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    schema: config.schema,
    clock,
    batchEntriesMax: config.batchEntriesMax,
    batchWaitMs: config.batchWaitMs,
    onBatch: (entries, written, replayed, seconds) => metrics.observeBatch(entries, written, replayed, seconds),
    guardedTables: [...tradeTables, ...withdrawalTables, ...eodTables],
  });
  try {
    const custody = SqlCustodyStore.on(ledger.kysely);
    if (sandboxClock !== null) {
      sandboxClock.advance(Math.floor(Number((await custody.getSetting(bankScope, clockOffsetKey)) ?? '0') / 1000));
    }
    const verifier = identityVerifier(config);
    const credentials = new CredentialService(custody, clock, config.sandbox);
    const platforms = new PlatformService(custody, ledger, credentials, vault, clock);
    const trades = SqlTradeStore.on(ledger.kysely);
    const members = new MemberService(custody, platforms, ledger, vault, clock, trades);
    const cards = new CardService(custody, members, verifier, vault, clock, config.sandbox);
    const log = config.log ?? pino({ level: process.env.LOG_LEVEL ?? 'info' });
    const orders = new OrderService(ledger, trades, platforms, members, clock, log);
    const acquiringSimulator = config.sandbox && config.acquiring === undefined
      ? new AcquiringSimulator({ clock, secret: randomBytes(32).toString('hex'), seed: config.seed ?? 1 })
      : null;
    const payins = new PayinService(ledger, trades, platforms, members, orders, acquiringChannels(config, acquiringSimulator), clock, log);
    acquiringSimulator?.setSink(async (callback) => {
      await payins.handleCallback(callback);
    });
    const transfers = new TransferService(ledger, trades, platforms, members, verifier, vault, clock, config.sandbox);
    const suspense = new SuspenseService(ledger, trades, platforms, members, vault, clock);
    const invariants = new InvariantService(ledger, trades);
    const withdrawalStore = SqlWithdrawalStore.on(ledger.kysely);
    const withdrawals = new WithdrawalService(ledger, withdrawalStore, trades, platforms, members, cards, clock);
    const payoutSimulator = config.sandbox && config.payout === undefined ? new PayoutSimulator({ clock, seed: config.seed ?? 1 }) : null;
    const payoutRail = payoutRailOf(config, payoutSimulator);
    const payouts = new PayoutProcessor(ledger, withdrawalStore, withdrawals, platforms, members, cards, payoutRail, clock, log);
    const adjustments = new AdjustmentService(ledger, withdrawalStore, platforms, clock);
    const riskConfig = new RiskConfigService(withdrawalStore, platforms, members, clock);
    const { generated } = await credentials.bootstrapAdmin(config.adminToken);
    const expireAndConfirm = async () => {
      let expired = 0;
      for (const platformId of await ledger.booksWithDuePendings()) expired += await ledger.expireDue(platformId);
      return { expired, autoConfirmed: await orders.autoConfirmDue() };
    };
    const eod = new EodService(ledger, SqlEodStore.on(ledger.kysely), platforms, invariants, clock, log, {
      cutoffMinutes: config.eodCutoffMinutes ?? 30,
      reserveSchedule: config.reserveSchedule ?? defaultReserveSchedule,
      dueWork: async () => {
        await expireAndConfirm();
      },
      onClose: (outcome) => metrics.observeClose(outcome.status),
    });
    const webhookStore = SqlWebhookStore.on(ledger.kysely);
    const reconciliations = new ReconciliationService(SqlReconciliationStore.on(ledger.kysely), suspense, adjustments, platforms, clock);
    const webhooks = new WebhookService(webhookStore, vault, clock, config.sandbox);
    const webhookDispatcher = new WebhookDispatcher(webhookStore, webhooks, clock, { wall, log });
    const runDueJobs = async (): Promise<DueWork> => {
      const callbacksDelivered = (await acquiringSimulator?.deliverDue()) ?? 0;
      const payoutSteps = await payouts.runDue();
      const { expired, autoConfirmed } = await expireAndConfirm();
      const payinsDecided = await payins.queryStale();
      await custody.deleteExpiredIdempotent(clock.nowMs(), 10_000);
      const daysClosed = await eod.runDue();
      // Last, so the events the jobs above wrote go out in this sweep.
      const webhookWork = await webhookDispatcher.runDue();
      return { payoutSteps, expired, autoConfirmed, payinsDecided, callbacksDelivered, daysClosed, webhooksDelivered: webhookWork.delivered };
    };
    return {
      config,
      clock,
      sandboxClock,
      ledger,
      custody,
      metrics,
      verifier,
      credentials,
      platforms,
      members,
      cards,
      trades,
      orders,
      payins,
      transfers,
      suspense,
      invariants,
      acquiringSimulator,
      withdrawalStore,
      withdrawals,
      payouts,
      adjustments,
      riskConfig,
      eod,
      reconciliations,
      vault,
      webhooks,
      webhookDispatcher,
      payoutRail,
      payoutSimulator,
      generatedAdminToken: generated,
      encryptionKeySource: key.source,
      async advanceClock(seconds) {
        if (sandboxClock === null) throw new Error('the clock moves in sandbox mode only');
        sandboxClock.advance(seconds);
        await custody.setSetting(bankScope, clockOffsetKey, String(sandboxClock.offset), wall.nowMs());
        await runDueJobs();
      },
      runDueJobs,
      async ready() {
        try {
          await sql`select 1`.execute(ledger.kysely);
          return await migrationsApplied(
            async <Row>(text: string, params?: readonly unknown[]) =>
              (await ledger.kysely.executeQuery<Row>(CompiledQuery.raw(text, [...(params ?? [])]))).rows,
          );
        } catch {
          return false;
        }
      },
      close: async () => {
        acquiringSimulator?.stop();
        await ledger.close();
      },
    };
  } catch (error) {
    await ledger.close();
    throw error;
  }
}

/** Channels by name: the sandbox simulator's (`sim`, `sim_fail`), or a simulator server's over HTTP. */
function acquiringChannels(config: RuntimeConfig, simulator: AcquiringSimulator | null): Map<string, AcquiringChannel> {
  if (simulator !== null) return new Map(simulator.channelNames.map((name) => [name, simulator.channel(name)]));
  const remote = config.acquiring;
  if (remote === undefined) return new Map();
  return new Map(remote.channels.map((name) => [name, new HttpAcquiringChannel({ baseUrl: remote.url, secret: remote.secret, name })]));
}

function payoutRailOf(config: RuntimeConfig, simulator: PayoutSimulator | null): PayoutChannel {
  if (simulator !== null) return simulator;
  if (config.payout !== undefined) return new HttpPayoutChannel({ baseUrl: config.payout.url, secret: config.payout.secret });
  throw new Error('no payout rail: set CUSTOS_PAYOUT_URL and CUSTOS_PAYOUT_SECRET, or run with --sandbox');
}

function identityVerifier(config: RuntimeConfig): IdentityVerifier {
  if (config.identity !== undefined) {
    return new RetryingIdentityVerifier(new HttpIdentityVerifier({ baseUrl: config.identity.url, secret: config.identity.secret }));
  }
  if (config.sandbox) return new RetryingIdentityVerifier(new IdentitySimulator({ seed: config.seed ?? 1 }));
  throw new Error(
    'no identity-verification provider: set CUSTOS_IDENTITY_URL and CUSTOS_IDENTITY_SECRET, or run with --sandbox',
  );
}
