import { randomUUID } from 'node:crypto';
import { signPayload } from '../channels/signature.js';
import { systemClock } from '../clock.js';
import type { Clock } from '../clock.js';
import { webhookPayload } from '../http/event-objects.js';
import { newId } from '../ids.js';
import type { Id } from '../ledger/index.js';
import type { SqlWebhookStore, WebhookDeliveryRow, WebhookEndpointRow, AttemptOutcome, NewDelivery } from '../storage/sql-webhook-store.js';
import type { Warn } from './payin-service.js';
import { publicDeliveryId, subscribes } from './webhook-service.js';
import type { WebhookService } from './webhook-service.js';

/** How deliveries are sent and retried: every bound in one place, with its unit. */
export const webhookDelivery = {
  /** One POST, from connecting to the response headers, before it counts as a timeout. */
  timeoutMs: 10_000,
  /** POSTs in flight at once per dispatcher, and to any one endpoint (a slow one never takes them all). */
  concurrencyMax: 16,
  inFlightPerEndpointMax: 4,
  /** Attempts one `runDue` makes at most, so a run always ends. */
  attemptsPerRunMax: 1000,
  /** A claim's lease: far longer than an attempt, so it only runs out when its holder died. */
  claimLeaseMs: 5 * 60_000,
  /** Waits after the 1st, 2nd … failed attempt; then every `retryEverySecondsAfter`; each ± jitter. */
  retryDelaysSeconds: [60, 300, 1800, 7200, 21_600],
  retryEverySecondsAfter: 12 * 3600,
  retryJitterRatio: 0.1,
  /** How long after its first attempt a delivery is retried before it fails for good. */
  retryWindowSeconds: 3 * 24 * 3600,
  /**
   * Event ids are numbered when a command is decided, a moment before it commits, so an
   * event can become visible behind one fan-out has already passed. Each run reads this far
   * behind its cursor again (deliveries are unique per endpoint and event, so nothing is sent
   * twice).
   */
  fanoutLookbackMs: 30_000,
  fanoutEventsPerPage: 500,
  fanoutPagesPerRun: 20,
  /** Platforms read per query (every platform with an endpoint is looked at in each run). */
  fanoutPlatformsPerPage: 1000,
  /** Stored error text per attempt. */
  errorLengthMax: 300,
} as const;

export interface WebhookDispatcherOptions {
  /** The wall clock, for the signature's `t` (receivers compare it with their own clock). */
  readonly wall?: Clock;
  readonly timeoutMs?: number;
  readonly concurrency?: number;
  readonly inFlightPerEndpointMax?: number;
  /** Jitter source in [0, 1). */
  readonly random?: () => number;
  readonly log?: Warn;
}

export interface DispatchRun {
  /** Deliveries created from new events. */
  readonly fannedOut: number;
  /** Attempts answered 2xx. */
  readonly delivered: number;
  /** Attempts that did not succeed (non-2xx, timeout, network error). */
  readonly failed: number;
  /** Deliveries given up this run (3 days of retries passed). */
  readonly gaveUp: number;
}

/**
 * Sends webhooks from the transactional outbox (`object_events`): fan-out turns new events
 * into deliveries, one per subscribed endpoint, then deliveries that are due are claimed and
 * POSTed, signed, in parallel, each with its own timeout. Schedules (retries, leases, the
 * 3-day window) run on the injected clock, so the sandbox clock drives them; the signature's
 * timestamp is wall time, because the receiver checks it against its own clock.
 *
 * Several dispatchers (processes) may run against one database: claims are row locks taken
 * with SKIP LOCKED plus a lease, and an attempt is settled only by the claim that made it.
 */
export class WebhookDispatcher {
  private readonly owner = `dispatcher:${randomUUID()}`;
  private readonly wall: Clock;
  private readonly timeoutMs: number;
  private readonly concurrency: number;
  private readonly inFlightPerEndpointMax: number;
  private readonly random: () => number;
  private readonly log: Warn | undefined;
  /** Deliveries this dispatcher is sending, and how many per endpoint. */
  private readonly inFlight = new Set<Id>();
  private readonly inFlightByEndpoint = new Map<Id, number>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: SqlWebhookStore,
    private readonly service: WebhookService,
    private readonly clock: Clock,
    options: WebhookDispatcherOptions = {},
  ) {
    this.wall = options.wall ?? systemClock;
    this.timeoutMs = options.timeoutMs ?? webhookDelivery.timeoutMs;
    this.concurrency = options.concurrency ?? webhookDelivery.concurrencyMax;
    this.inFlightPerEndpointMax = options.inFlightPerEndpointMax ?? webhookDelivery.inFlightPerEndpointMax;
    this.random = options.random ?? Math.random;
    this.log = options.log;
    if (!(this.timeoutMs > 0 && this.concurrency >= 1 && this.inFlightPerEndpointMax >= 1)) throw new Error('webhook dispatcher: bad options');
    if (this.timeoutMs * 2 > webhookDelivery.claimLeaseMs) throw new Error('webhook dispatcher: a claim must outlive an attempt');
  }

  /**
   * Fans out new events, then sends what is due until nothing is (or the run's bound is
   * reached). Calls in one process run one after the other.
   */
  async runDue(): Promise<DispatchRun> {
    const run = this.queue.then(() => this.runOnce());
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async runOnce(): Promise<DispatchRun> {
    const fannedOut = await this.fanOut();
    const tally = { delivered: 0, failed: 0, gaveUp: 0 };
    let budget = webhookDelivery.attemptsPerRunMax;
    // Each worker claims one delivery at a time, so a delivery unblocked by another's success
    // (the next update of the same object) is taken in the same run, and a hanging endpoint
    // holds one worker until its timeout while the others go on.
    const worker = async (): Promise<void> => {
      while (budget > 0) {
        const delivery = await this.claimOne();
        if (delivery === undefined) return;
        budget--;
        const outcome = await this.deliver(delivery);
        if (outcome === 'succeeded') tally.delivered++;
        else tally.failed++;
        if (outcome === 'gave_up') tally.gaveUp++;
      }
    };
    await Promise.all(Array.from({ length: this.concurrency }, worker));
    return { fannedOut, ...tally };
  }

  // ---- fan-out ----------------------------------------------------------------------------

  private async fanOut(): Promise<number> {
    let created = 0;
    let after: Id | undefined;
    for (;;) {
      const platforms = await this.store.platformsWithLiveEndpoints(webhookDelivery.fanoutPlatformsPerPage, after);
      for (const { platformId, earliestMs } of platforms) created += await this.fanOutPlatform(platformId, earliestMs);
      if (platforms.length < webhookDelivery.fanoutPlatformsPerPage) return created;
      after = platforms.at(-1)?.platformId;
    }
  }

  private async fanOutPlatform(platformId: Id, earliestEndpointMs: number): Promise<number> {
    const endpoints = await this.store.liveEndpoints(platformId);
    const cursor = await this.store.fanoutCursor(platformId);
    // No endpoint wants events from before it existed.
    const floor = uuidFloor(earliestEndpointMs);
    let created = 0;
    if (cursor !== undefined) {
      const behind = maxId(floor, uuidFloor(uuidTimeMs(cursor) - webhookDelivery.fanoutLookbackMs));
      created += (await this.fanOutRange(platformId, endpoints, behind, cursor, true)).created;
    }
    const forward = await this.fanOutRange(platformId, endpoints, cursor === undefined ? floor : maxId(cursor, floor), null);
    if (forward.lastEventId !== null) await this.store.advanceFanoutCursor(platformId, forward.lastEventId, this.clock.nowMs());
    return created + forward.created;
  }

  private async fanOutRange(
    platformId: Id,
    endpoints: readonly WebhookEndpointRow[],
    afterId: Id,
    upToId: Id | null,
    unsentOnly = false,
  ): Promise<{ created: number; lastEventId: Id | null }> {
    let after = afterId;
    let lastEventId: Id | null = null;
    let created = 0;
    for (let page = 0; page < webhookDelivery.fanoutPagesPerRun; page++) {
      const events = await this.store.eventsAfter(platformId, after, upToId, webhookDelivery.fanoutEventsPerPage, unsentOnly);
      const last = events.at(-1);
      if (last === undefined) break;
      const nowMs = this.clock.nowMs();
      const pairs = events.flatMap((event) =>
        endpoints
          .filter((endpoint) => event.created_at.getTime() >= endpoint.created_at.getTime() && subscribes(endpoint, event.type))
          .map((endpoint) => ({ event, endpoint })),
      );
      // Ids of one millisecond sort at random: sorted, they list deliveries in event order.
      const ids = pairs.map(() => newId(nowMs)).sort();
      const deliveries: NewDelivery[] = pairs.map(({ event, endpoint }, i) => ({
        platformId,
        id: ids[i] ?? newId(nowMs),
        endpointId: endpoint.id,
        event,
        redelivery: 0,
        nowMs,
      }));
      created += (await this.store.insertDeliveries(deliveries)).length;
      after = lastEventId = last.id;
      if (events.length < webhookDelivery.fanoutEventsPerPage) break;
    }
    return { created, lastEventId };
  }

  // ---- delivery ---------------------------------------------------------------------------

  private async claimOne(): Promise<(WebhookDeliveryRow & { claimToken: string }) | undefined> {
    const nowMs = this.clock.nowMs();
    const claimToken = `${this.owner}:${newId(nowMs)}`;
    const saturated = [...this.inFlightByEndpoint].filter(([, n]) => n >= this.inFlightPerEndpointMax).map(([id]) => id);
    const [delivery] = await this.store.claimDue({
      nowMs,
      leaseUntilMs: nowMs + webhookDelivery.claimLeaseMs,
      claimToken,
      limit: 1,
      excludeDeliveryIds: [...this.inFlight],
      excludeEndpointIds: saturated,
    });
    if (delivery === undefined) return undefined;
    this.inFlight.add(delivery.id);
    this.inFlightByEndpoint.set(delivery.endpoint_id, (this.inFlightByEndpoint.get(delivery.endpoint_id) ?? 0) + 1);
    return { ...delivery, claimToken };
  }

  private release(delivery: WebhookDeliveryRow): void {
    this.inFlight.delete(delivery.id);
    const left = (this.inFlightByEndpoint.get(delivery.endpoint_id) ?? 1) - 1;
    if (left <= 0) this.inFlightByEndpoint.delete(delivery.endpoint_id);
    else this.inFlightByEndpoint.set(delivery.endpoint_id, left);
  }

  /** One attempt, recorded whatever came of it. */
  private async deliver(delivery: WebhookDeliveryRow & { claimToken: string }): Promise<'succeeded' | 'retry' | 'gave_up'> {
    try {
      const sent = await this.attempt(delivery);
      const nowMs = this.clock.nowMs();
      const firstMs = delivery.first_attempt_at?.getTime() ?? nowMs;
      const retryAtMs = sent.ok ? null : nextAttemptAtMs(firstMs, delivery.attempts + 1, nowMs, this.random);
      const next: AttemptOutcome['next'] = sent.ok ? { kind: 'succeeded' } : retryAtMs === null ? { kind: 'failed' } : { kind: 'retry', atMs: retryAtMs };
      const settled = await this.store.settleAttempt(
        delivery,
        delivery.claimToken,
        { attemptId: newId(nowMs), statusCode: sent.statusCode, latencyMs: sent.latencyMs, error: sent.error, attemptedAtMs: nowMs, next },
        webhookDelivery.errorLengthMax,
      );
      if (!settled) this.log?.warn({ delivery: delivery.id }, 'webhook attempt outlived its claim; another dispatcher owns the delivery now');
      return next.kind === 'succeeded' ? 'succeeded' : next.kind === 'failed' ? 'gave_up' : 'retry';
    } catch (error) {
      // The database failed us: the claim runs out and the delivery is attempted again.
      this.log?.warn({ delivery: delivery.id, err: error }, 'webhook attempt could not be recorded');
      return 'retry';
    } finally {
      this.release(delivery);
    }
  }

  private async attempt(delivery: WebhookDeliveryRow): Promise<{ ok: boolean; statusCode: number | null; latencyMs: number; error: string | null }> {
    const [event, endpoint] = await Promise.all([
      this.store.event(delivery.platform_id, delivery.event_id),
      this.store.endpoint(delivery.platform_id, delivery.endpoint_id),
    ]);
    if (event === undefined || endpoint === undefined) return { ok: false, statusCode: null, latencyMs: 0, error: 'event_or_endpoint_missing' };
    let body: string;
    let secrets: string[];
    try {
      body = JSON.stringify(webhookPayload(event));
      secrets = this.service.signingSecrets(endpoint, this.clock.nowMs());
    } catch (error) {
      return { ok: false, statusCode: null, latencyMs: 0, error: `not_sent: ${messageOf(error)}` };
    }
    return this.post(endpoint.url, body, secrets, delivery);
  }

  /** The POST itself: the body exactly as signed, no redirects followed, one timeout. */
  private async post(
    url: string,
    body: string,
    secrets: readonly string[],
    delivery: WebhookDeliveryRow,
  ): Promise<{ ok: boolean; statusCode: number | null; latencyMs: number; error: string | null }> {
    const timestampSeconds = Math.floor(this.wall.nowMs() / 1000);
    const started = performance.now();
    const latency = () => Math.round(performance.now() - started);
    try {
      const response = await fetch(url, {
        method: 'POST',
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(this.timeoutMs),
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Custos-Webhooks/1',
          'custos-signature': signatureHeader(secrets, body, timestampSeconds),
          'custos-delivery-id': publicDeliveryId(delivery.id),
          'custos-attempt': String(delivery.attempts + 1),
        },
      });
      // The answer's body means nothing to us; it is not read (a huge one costs nothing).
      await response.body?.cancel().catch(() => undefined);
      const ok = response.status >= 200 && response.status < 300;
      return { ok, statusCode: response.status, latencyMs: latency(), error: ok ? null : `http_${response.status}` };
    } catch (error) {
      const timedOut = error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
      return { ok: false, statusCode: null, latencyMs: latency(), error: timedOut ? `timeout after ${this.timeoutMs} ms` : networkError(error) };
    }
  }
}

/**
 * `t=<seconds>,v1=<hmac>[,v1=<hmac>]`: one signature per secret, the current one first, all
 * over the same `t` and body (src/channels/signature.ts makes each).
 */
export function signatureHeader(secrets: readonly string[], body: string, timestampSeconds: number): string {
  if (secrets.length === 0) throw new Error('a delivery is signed by at least one secret');
  const signatures = secrets.map((secret) => signPayload(secret, body, timestampSeconds).slice(`t=${timestampSeconds},`.length));
  return [`t=${timestampSeconds}`, ...signatures].join(',');
}

/**
 * When to try again after the `attemptsMade`-th attempt failed at `nowMs`: about 1 min, 5 min,
 * 30 min, 2 h, 6 h, then every 12 h (± jitter, so deliveries failed together do not return
 * together), never past 3 days after the first attempt; one last attempt falls at that
 * limit. Null when the limit has passed: the delivery has failed.
 */
export function nextAttemptAtMs(firstAttemptMs: number, attemptsMade: number, nowMs: number, random: () => number): number | null {
  const deadlineMs = firstAttemptMs + webhookDelivery.retryWindowSeconds * 1000;
  if (nowMs >= deadlineMs) return null;
  const baseSeconds = webhookDelivery.retryDelaysSeconds[attemptsMade - 1] ?? webhookDelivery.retryEverySecondsAfter;
  const jitter = 1 + (random() * 2 - 1) * webhookDelivery.retryJitterRatio;
  return Math.min(nowMs + Math.round(baseSeconds * 1000 * jitter), deadlineMs);
}

/** The smallest UUID of a millisecond: every UUIDv7 of that millisecond sorts after it. */
export function uuidFloor(ms: number): Id {
  const hex = Math.max(0, Math.floor(ms)).toString(16).padStart(12, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-0000-0000-000000000000`;
}

/** The millisecond of a UUIDv7 (ids from src/ids.ts). */
export function uuidTimeMs(id: Id): number {
  return parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}

function maxId(a: Id, b: Id): Id {
  return a > b ? a : b;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** fetch hides the socket's error code in `cause`. */
function networkError(error: unknown): string {
  const cause = error instanceof Error ? (error as Error & { cause?: unknown }).cause : undefined;
  const code = cause instanceof Error && 'code' in cause && typeof cause.code === 'string' ? cause.code : undefined;
  return code ?? messageOf(cause ?? error);
}
