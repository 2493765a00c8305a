import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import type { Clock } from '../clock.js';
import { CustodyError } from '../errors.js';
import { newId } from '../ids.js';
import type { Id } from '../ledger/index.js';
import { fromPublicId, toPublicId } from '../public-ids.js';
import type { PiiVault } from '../security/pii-vault.js';
import type { EventRow } from '../storage/sql-trade-store.js';
import type {
  EndpointStatus,
  SqlWebhookStore,
  WebhookAttemptRow,
  WebhookDeliveryRow,
  WebhookEndpointRow,
} from '../storage/sql-webhook-store.js';

/**
 * Every event type Custos emits (see the services' `draft.event` calls, and `card.bound`,
 * written with the card's change by the custody store), which is what an endpoint may
 * subscribe to.
 */
export const webhookEventTypes = [
  'payin.created',
  'payin.succeeded',
  'payin.failed',
  'order.paid',
  'order.confirmed',
  'order.refunded',
  'order.failed',
  'transfer.succeeded',
  'withdrawal.created',
  'withdrawal.held',
  'withdrawal.approved',
  'withdrawal.rejected',
  'withdrawal.succeeded',
  'withdrawal.failed',
  'withdrawal.returned',
  'suspense.opened',
  'suspense.allocated',
  'suspense.reversed',
  'bank_credit.credited',
  'bank_credit.suspense',
  'adjustment.proposed',
  'adjustment.applied',
  'adjustment.rejected',
  'consent.requested',
  'card.bound',
] as const;

export type WebhookEventType = (typeof webhookEventTypes)[number];

/** Every event, present and future. */
export const allEvents = '*';

const knownTypes: ReadonlySet<string> = new Set(webhookEventTypes);

/** Limits of webhooks (the project's habit: a limit on everything, named with its unit). */
export const webhookLimits = {
  /** Endpoints a platform may have subscribed at once (disabled ones do not count). */
  endpointsPerPlatformMax: 16,
  urlLengthMax: 2048,
  /** How long the old secret still signs after a rotation, by default and at most. */
  secretOverlapSecondsDefault: 24 * 3600,
  secretOverlapSecondsMax: 7 * 24 * 3600,
  /** Endpoints one redelivery request may target. */
  redeliveryEndpointsMax: 16,
} as const;

/** Signing secrets: `whsec_` and 32 random bytes, base64url (the whole string is the HMAC key). */
const secretPrefix = 'whsec_';
const secretBytes = 32;

export interface CreateEndpoint {
  readonly url: string;
  readonly events: readonly string[];
}

export interface WebhookEndpointView {
  readonly id: Id;
  readonly platformId: Id;
  readonly url: string;
  readonly events: readonly string[];
  readonly status: EndpointStatus;
  readonly failingSinceMs: number | null;
  /** When the previous secret stops signing; null when only one secret signs. */
  readonly previousSecretExpiresAtMs: number | null;
  readonly createdAtMs: number;
  readonly updatedAtMs: number;
}

export interface WebhookDeliveryView {
  readonly delivery: WebhookDeliveryRow;
  readonly attempts: readonly WebhookAttemptRow[];
}

/**
 * Webhook endpoints of a platform: their URLs, the events they take and their signing
 * secrets (encrypted at rest; shown once, at creation and at rotation), and what was sent to
 * them. Sending itself is the dispatcher's (src/custody/webhook-dispatcher.ts).
 */
export class WebhookService {
  constructor(
    private readonly store: SqlWebhookStore,
    private readonly vault: PiiVault,
    private readonly clock: Clock,
    /** Sandbox: plain `http://` to loopback addresses is allowed (local receivers). */
    private readonly sandbox: boolean,
  ) {}

  async create(platformId: Id, command: CreateEndpoint): Promise<{ endpoint: WebhookEndpointView; secret: string }> {
    const url = checkUrl(command.url, this.sandbox);
    const events = checkEvents(command.events);
    if ((await this.store.countLiveEndpoints(platformId)) >= webhookLimits.endpointsPerPlatformMax) {
      throw new CustodyError('invalid_request', `At most ${webhookLimits.endpointsPerPlatformMax} webhook endpoints per platform; disable one first.`, 'url');
    }
    const nowMs = this.clock.nowMs();
    const id = newId(nowMs);
    const secret = newSecret();
    const row = {
      platform_id: platformId,
      id,
      url,
      events,
      secret_enc: this.vault.encrypt(secret, secretContext(platformId, id, 'secret')),
      previous_secret_enc: null,
      previous_secret_expires_at: null,
      status: 'active',
      failing_since: null,
      created_at: new Date(nowMs),
      updated_at: new Date(nowMs),
    };
    await this.store.insertEndpoint(row);
    return { endpoint: this.view({ ...row, events }, nowMs), secret };
  }

  async get(platformId: Id, id: Id): Promise<WebhookEndpointView> {
    return this.view(await this.row(platformId, id), this.clock.nowMs());
  }

  async list(platformId: Id, limit: number, afterId?: Id): Promise<WebhookEndpointView[]> {
    const nowMs = this.clock.nowMs();
    return (await this.store.listEndpoints(platformId, limit, afterId)).map((row) => this.view(row, nowMs));
  }

  /** Operators: endpoints across platforms, e.g. the failing ones. */
  async listAll(filter: { status?: EndpointStatus; platformId?: Id }, limit: number, afterId?: Id): Promise<WebhookEndpointView[]> {
    const nowMs = this.clock.nowMs();
    return (await this.store.listAllEndpoints(filter, limit, afterId)).map((row) => this.view(row, nowMs));
  }

  /** Stops deliveries to an endpoint for good; what was still pending ends as failed. */
  async disable(platformId: Id, id: Id): Promise<WebhookEndpointView> {
    const nowMs = this.clock.nowMs();
    const row = await this.store.disableEndpoint(platformId, id, nowMs);
    if (row === undefined) throw new CustodyError('not_found', 'No such webhook endpoint.', 'id');
    return this.view(row, nowMs);
  }

  /**
   * A new signing secret, shown once. The old one keeps signing alongside it for
   * `overlapSeconds` (each delivery then carries one `v1=` per secret), so the platform can
   * deploy the new secret without rejecting deliveries in between.
   */
  async rotateSecret(platformId: Id, id: Id, overlapSeconds?: number): Promise<{ endpoint: WebhookEndpointView; secret: string }> {
    const overlap = overlapSeconds ?? webhookLimits.secretOverlapSecondsDefault;
    if (!Number.isSafeInteger(overlap) || overlap < 0 || overlap > webhookLimits.secretOverlapSecondsMax) {
      throw new CustodyError('invalid_request', `overlap_seconds is 0 to ${webhookLimits.secretOverlapSecondsMax}.`, 'overlap_seconds');
    }
    const current = await this.row(platformId, id);
    if (current.status === 'disabled') throw new CustodyError('state_conflict', 'The webhook endpoint is disabled.', 'id');
    const nowMs = this.clock.nowMs();
    const secret = newSecret();
    const previous = overlap === 0 ? null : this.vault.decrypt(current.secret_enc, secretContext(platformId, id, 'secret'));
    const row = await this.store.rotateSecret(platformId, id, {
      expectedSecretEnc: current.secret_enc,
      secretEnc: this.vault.encrypt(secret, secretContext(platformId, id, 'secret')),
      previousSecretEnc: previous === null ? null : this.vault.encrypt(previous, secretContext(platformId, id, 'previous_secret')),
      previousExpiresAtMs: previous === null ? null : nowMs + overlap * 1000,
      nowMs,
    });
    if (row === undefined) throw new CustodyError('state_conflict', 'The secret was rotated meanwhile; retry.', 'id');
    return { endpoint: this.view(row, nowMs), secret };
  }

  /** The secrets that sign a delivery now: the current one first, then the previous during its overlap. */
  signingSecrets(endpoint: WebhookEndpointRow, nowMs: number): string[] {
    const secrets = [this.vault.decrypt(endpoint.secret_enc, secretContext(endpoint.platform_id, endpoint.id, 'secret'))];
    const expiresAt = endpoint.previous_secret_expires_at?.getTime() ?? null;
    if (endpoint.previous_secret_enc !== null && expiresAt !== null && expiresAt > nowMs) {
      secrets.push(this.vault.decrypt(endpoint.previous_secret_enc, secretContext(endpoint.platform_id, endpoint.id, 'previous_secret')));
    }
    return secrets;
  }

  /** One event of the platform (for `GET /v1/events/{id}` and redelivery). */
  async event(platformId: Id, eventId: Id): Promise<EventRow> {
    const event = await this.store.event(platformId, eventId);
    if (event === undefined) throw new CustodyError('not_found', 'No such event.', 'id');
    return event;
  }

  /**
   * Sends an event again, as a new delivery (its own attempts and retries): to one endpoint,
   * or to every endpoint still subscribed to its type. The platform drops it by `sequence` if
   * it has seen a later update of the object meanwhile.
   */
  async redeliver(platformId: Id, eventId: Id, endpointId?: Id): Promise<WebhookDeliveryRow[]> {
    const event = await this.event(platformId, eventId);
    const endpoints =
      endpointId === undefined
        ? (await this.store.liveEndpoints(platformId)).filter((endpoint) => subscribes(endpoint, event.type))
        : [await this.row(platformId, endpointId, 'endpoint_id')];
    for (const endpoint of endpoints) {
      if (endpoint.status === 'disabled') throw new CustodyError('state_conflict', 'The webhook endpoint is disabled.', 'endpoint_id');
    }
    const created: WebhookDeliveryRow[] = [];
    for (const endpoint of endpoints.slice(0, webhookLimits.redeliveryEndpointsMax)) {
      created.push(await this.redeliverTo(event, endpoint));
    }
    return created;
  }

  private async redeliverTo(event: EventRow, endpoint: WebhookEndpointRow): Promise<WebhookDeliveryRow> {
    // Two redeliveries at once may pick the same number: the loser takes the next one.
    for (let tries = 0; tries < 3; tries++) {
      const nowMs = this.clock.nowMs();
      const redelivery = Math.max(1, await this.store.nextRedelivery(event.platform_id, endpoint.id, event.id));
      const [row] = await this.store.insertDeliveries([
        { platformId: event.platform_id, id: newId(nowMs), endpointId: endpoint.id, event, redelivery, nowMs },
      ]);
      if (row !== undefined) return row;
    }
    throw new CustodyError('state_conflict', 'The event was being redelivered meanwhile; retry.', 'id');
  }

  /** An endpoint's deliveries, oldest first, each with its attempts. */
  async deliveries(platformId: Id, endpointId: Id, limit: number, afterId?: Id): Promise<WebhookDeliveryView[]> {
    await this.row(platformId, endpointId);
    const deliveries = await this.store.deliveries(platformId, endpointId, limit, afterId);
    const attempts = await this.store.attempts(platformId, deliveries.map((d) => d.id));
    return deliveries.map((delivery) => ({ delivery, attempts: attempts.filter((a) => a.delivery_id === delivery.id) }));
  }

  private async row(platformId: Id, id: Id, param = 'id'): Promise<WebhookEndpointRow> {
    const row = await this.store.endpoint(platformId, id);
    if (row === undefined) throw new CustodyError('not_found', 'No such webhook endpoint.', param);
    return row;
  }

  private view(row: WebhookEndpointRow, nowMs: number): WebhookEndpointView {
    const expiresAt = row.previous_secret_expires_at?.getTime() ?? null;
    return {
      id: row.id,
      platformId: row.platform_id,
      url: row.url,
      events: eventsOf(row),
      status: row.status as EndpointStatus,
      failingSinceMs: row.failing_since?.getTime() ?? null,
      previousSecretExpiresAtMs: row.previous_secret_enc !== null && expiresAt !== null && expiresAt > nowMs ? expiresAt : null,
      createdAtMs: row.created_at.getTime(),
      updatedAtMs: row.updated_at.getTime(),
    };
  }
}

/**
 * Deliveries have no prefix of their own in src/public-ids.ts yet: they borrow the event
 * encoding under `whd_` (reversible, like every public id).
 */
const deliveryPrefix = 'whd_';

export function publicDeliveryId(id: Id): string {
  return deliveryPrefix + toPublicId('event', id).slice('evt_'.length);
}

export function deliveryIdOf(publicId: string): Id | null {
  if (!publicId.startsWith(deliveryPrefix)) return null;
  return fromPublicId('event', `evt_${publicId.slice(deliveryPrefix.length)}`);
}

function newSecret(): string {
  return `${secretPrefix}${randomBytes(secretBytes).toString('base64url')}`;
}

function secretContext(platformId: Id, id: Id, field: 'secret' | 'previous_secret'): string {
  return `webhook_endpoint:${platformId}:${id}:${field}`;
}

/** The types an endpoint row subscribes to (jsonb, written by `create` only). */
export function eventsOf(row: Pick<WebhookEndpointRow, 'events'>): string[] {
  const events = row.events;
  if (!Array.isArray(events) || !events.every((e): e is string => typeof e === 'string')) throw new Error('webhook_endpoints.events is not a list of strings');
  return events;
}

/** Whether an endpoint takes events of `type`. */
export function subscribes(endpoint: Pick<WebhookEndpointRow, 'events'>, type: string): boolean {
  const events = eventsOf(endpoint);
  return events.includes(allEvents) || events.includes(type);
}

/** `["*"]`, or known types without repeats; anything else is a 400 naming `events`. */
export function checkEvents(events: readonly string[]): string[] {
  if (events.length === 0) throw new CustodyError('invalid_request', 'events lists at least one event type, or "*".', 'events');
  if (events.includes(allEvents)) {
    if (events.length !== 1) throw new CustodyError('invalid_request', '"*" stands alone in events: it means every type.', 'events');
    return [allEvents];
  }
  const unknown = events.filter((type) => !knownTypes.has(type));
  if (unknown.length > 0) {
    throw new CustodyError('invalid_request', `Unknown event type ${JSON.stringify(unknown[0])}; see the list of event types.`, 'events');
  }
  return [...new Set(events)];
}

/** Loopback hosts a sandbox may deliver to over plain HTTP (a receiver on the developer's machine). */
const loopbackHosts: ReadonlySet<string> = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * `https://` with a host, no credentials and no fragment. In sandbox, also `http://` to a
 * loopback address. Outside the sandbox, an IP-literal host in a loopback, private or
 * link-local range is refused (Custos must not be made to POST into its own network); a
 * name that resolves there is the network's egress policy to stop.
 */
export function checkUrl(text: string, sandbox: boolean): string {
  const refuse = (why: string): never => {
    throw new CustodyError('invalid_request', `url ${why}.`, 'url');
  };
  if (text.length > webhookLimits.urlLengthMax) refuse(`is longer than ${webhookLimits.urlLengthMax} characters`);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return refuse('is not an absolute URL');
  }
  if (url.username !== '' || url.password !== '') refuse('must not carry credentials');
  if (url.hash !== '') refuse('must not have a fragment');
  if (url.hostname === '') refuse('needs a host');
  const loopback = loopbackHosts.has(url.hostname);
  if (url.protocol === 'http:') {
    if (!(sandbox && loopback)) refuse(sandbox ? 'must be https:// (plain http:// only to 127.0.0.1, localhost or [::1])' : 'must be https://');
  } else if (url.protocol !== 'https:') {
    refuse('must be https://');
  }
  if (!sandbox && (loopback || isInternalAddress(url.hostname))) refuse('must not name a loopback, private or link-local address');
  return text;
}

function isInternalAddress(hostname: string): boolean {
  const host = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
  const family = isIP(host);
  if (family === 4) {
    const [a = 0, b = 0] = host.split('.').map(Number);
    return a === 0 || a === 10 || a === 127 || (a === 169 && b === 254) || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127);
  }
  if (family === 6) {
    const lower = host.toLowerCase();
    return lower === '::' || lower === '::1' || lower.startsWith('fc') || lower.startsWith('fd') || lower.startsWith('fe80') || lower.startsWith('::ffff:');
  }
  return false;
}
