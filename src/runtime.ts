import { HttpIdentityVerifier } from './channels/identity/http-identity-verifier.js';
import { IdentitySimulator } from './channels/identity/identity-simulator.js';
import type { IdentityVerifier } from './channels/identity/identity-verifier.js';
import { RetryingIdentityVerifier } from './channels/identity/retrying-identity-verifier.js';
import { SandboxClock, systemClock } from './clock.js';
import type { Clock } from './clock.js';
import { CardService } from './custody/card-service.js';
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
  /** Seed of the in-process simulators. */
  readonly seed?: number | undefined;
  readonly batchEntriesMax?: number | undefined;
  readonly batchWaitMs?: number | undefined;
  /** Wall clock under the sandbox clock (tests move it by hand). */
  readonly wallClock?: Clock | undefined;
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
  /** An admin token generated at first start, to be shown once; null otherwise. */
  readonly generatedAdminToken: string | null;
  readonly encryptionKeySource: 'env' | 'file' | 'generated';
  /** Moves the sandbox clock and saves it, then runs whatever fell due. */
  advanceClock(seconds: number): Promise<void>;
  /** Runs the jobs that are due now (expired holds, later auto-confirms and more). */
  runDueJobs(): Promise<{ expired: number }>;
  /** Database reachable and every migration applied. */
  ready(): Promise<boolean>;
  close(): Promise<void>;
}

const clockOffsetKey = 'sandbox_clock_offset_ms';

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
  });
  try {
    const custody = SqlCustodyStore.on(ledger.kysely);
    if (sandboxClock !== null) {
      sandboxClock.advance(Math.floor(Number((await custody.getSetting(bankScope, clockOffsetKey)) ?? '0') / 1000));
    }
    const verifier = identityVerifier(config);
    const credentials = new CredentialService(custody, clock, config.sandbox);
    const platforms = new PlatformService(custody, ledger, credentials, vault, clock);
    const members = new MemberService(custody, platforms, ledger, vault, clock);
    const cards = new CardService(custody, members, verifier, vault, clock, config.sandbox);
    const { generated } = await credentials.bootstrapAdmin(config.adminToken);
    const runDueJobs = async (): Promise<{ expired: number }> => {
      let expired = 0;
      for (const platformId of await ledger.booksWithDuePendings()) expired += await ledger.expireDue(platformId);
      await custody.deleteExpiredIdempotent(clock.nowMs(), 10_000);
      return { expired };
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
      close: () => ledger.close(),
    };
  } catch (error) {
    await ledger.close();
    throw error;
  }
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
