import { sql } from 'kysely';
import type { Kysely, Selectable } from 'kysely';
import type { Id } from '../ledger/index.js';
import type { CustodyDatabase, Database } from './database.js';
import { plainArray } from './pg-array.js';
import type { EventRow } from './sql-trade-store.js';

export interface WebhookEndpointsTable {
  platform_id: string;
  id: string;
  url: string;
  /** jsonb: the event types subscribed to, or ["*"]. */
  events: unknown;
  secret_enc: string;
  previous_secret_enc: string | null;
  previous_secret_expires_at: Date | null;
  status: string;
  failing_since: Date | null;
  created_at: Date;
  updated_at: Date;
}

export interface WebhookDeliveriesTable {
  platform_id: string;
  id: string;
  endpoint_id: string;
  event_id: string;
  redelivery: number;
  event_type: string;
  object_id: string;
  sequence: number;
  status: string;
  attempts: number;
  first_attempt_at: Date | null;
  next_attempt_at: Date;
  claimed_by: string | null;
  claimed_until: Date | null;
  last_status_code: number | null;
  last_error: string | null;
  last_latency_ms: number | null;
  delivered_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

export interface WebhookAttemptsTable {
  platform_id: string;
  id: string;
  delivery_id: string;
  endpoint_id: string;
  attempt: number;
  status_code: number | null;
  latency_ms: number;
  error: string | null;
  attempted_at: Date;
}

export interface WebhookFanoutCursorsTable {
  platform_id: string;
  last_event_id: string;
  updated_at: Date;
}

export interface WebhookDatabase extends CustodyDatabase {
  webhook_endpoints: WebhookEndpointsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
  webhook_fanout_cursors: WebhookFanoutCursorsTable;
}

export type WebhookEndpointRow = Selectable<WebhookEndpointsTable>;
export type WebhookDeliveryRow = Selectable<WebhookDeliveriesTable>;
export type WebhookAttemptRow = Selectable<WebhookAttemptsTable>;
export type EndpointStatus = 'active' | 'disabled' | 'failing';

/** What fan-out reads of an event. */
export type FanoutEvent = Pick<EventRow, 'id' | 'type' | 'object_id' | 'sequence' | 'created_at'>;

/** A new delivery, as fan-out and redelivery create them. */
export interface NewDelivery {
  readonly platformId: Id;
  readonly id: Id;
  readonly endpointId: Id;
  readonly event: Pick<EventRow, 'id' | 'type' | 'object_id' | 'sequence'>;
  readonly redelivery: number;
  readonly nowMs: number;
}

/** How an attempt ended, to be recorded with the delivery's next state. */
export interface AttemptOutcome {
  readonly attemptId: Id;
  readonly statusCode: number | null;
  readonly latencyMs: number;
  readonly error: string | null;
  readonly attemptedAtMs: number;
  /** What becomes of the delivery. */
  readonly next: { readonly kind: 'succeeded' } | { readonly kind: 'retry'; readonly atMs: number } | { readonly kind: 'failed' };
}

type Db = Kysely<WebhookDatabase>;

const deliveryRowsPerInsertMax = 1000;

/**
 * Webhook endpoints, deliveries and attempts. Deliveries are claimed with
 * `SELECT … FOR UPDATE SKIP LOCKED` and a lease, so several dispatchers (processes) on one
 * database never hold the same delivery at once; every write that settles an attempt is
 * conditional on still holding that claim.
 */
export class SqlWebhookStore {
  constructor(private readonly db: Db) {}

  static on(ledgerKysely: Kysely<Database>): SqlWebhookStore {
    return new SqlWebhookStore(ledgerKysely as unknown as Db);
  }

  // ---- endpoints ----------------------------------------------------------------------

  async insertEndpoint(row: Omit<WebhookEndpointRow, 'events'> & { events: readonly string[] }): Promise<void> {
    await this.db
      .insertInto('webhook_endpoints')
      .values({ ...row, events: JSON.stringify(row.events) })
      .execute();
  }

  async countLiveEndpoints(platformId: Id): Promise<number> {
    const row = await this.db
      .selectFrom('webhook_endpoints')
      .select((eb) => eb.fn.countAll<string | number | bigint>().as('n'))
      .where('platform_id', '=', platformId)
      .where('status', '<>', 'disabled')
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async endpoint(platformId: Id, id: Id): Promise<WebhookEndpointRow | undefined> {
    return this.db.selectFrom('webhook_endpoints').selectAll().where('platform_id', '=', platformId).where('id', '=', id).executeTakeFirst();
  }

  async listEndpoints(platformId: Id, limit: number, afterId?: Id): Promise<WebhookEndpointRow[]> {
    let query = this.db.selectFrom('webhook_endpoints').selectAll().where('platform_id', '=', platformId).orderBy('id').limit(limit);
    if (afterId !== undefined) query = query.where('id', '>', afterId);
    return query.execute();
  }

  /** Endpoints of every platform, for operators, optionally of one status or platform. */
  async listAllEndpoints(filter: { status?: EndpointStatus; platformId?: Id }, limit: number, afterId?: Id): Promise<WebhookEndpointRow[]> {
    let query = this.db.selectFrom('webhook_endpoints').selectAll().orderBy('id').limit(limit);
    if (filter.status !== undefined) query = query.where('status', '=', filter.status);
    if (filter.platformId !== undefined) query = query.where('platform_id', '=', filter.platformId);
    if (afterId !== undefined) query = query.where('id', '>', afterId);
    return query.execute();
  }

  /** Disables an endpoint; its pending deliveries end as failed (nobody will send them). */
  async disableEndpoint(platformId: Id, id: Id, nowMs: number): Promise<WebhookEndpointRow | undefined> {
    const now = new Date(nowMs);
    return this.db.transaction().execute(async (trx) => {
      const row = await trx
        .updateTable('webhook_endpoints')
        .set({ status: 'disabled', failing_since: null, updated_at: now })
        .where('platform_id', '=', platformId)
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirst();
      if (row === undefined) return undefined;
      await trx
        .updateTable('webhook_deliveries')
        .set({ status: 'failed', last_error: 'endpoint_disabled', claimed_by: null, claimed_until: null, updated_at: now })
        .where('platform_id', '=', platformId)
        .where('endpoint_id', '=', id)
        .where('status', '=', 'pending')
        .execute();
      return row;
    });
  }

  /**
   * Replaces the signing secret, keeping the old one as the previous secret until
   * `previousExpiresAtMs`. Applies only if the secret is still the one read (`expectedSecretEnc`),
   * so two rotations at once cannot both believe they made the current secret.
   */
  async rotateSecret(
    platformId: Id,
    id: Id,
    change: { expectedSecretEnc: string; secretEnc: string; previousSecretEnc: string | null; previousExpiresAtMs: number | null; nowMs: number },
  ): Promise<WebhookEndpointRow | undefined> {
    return this.db
      .updateTable('webhook_endpoints')
      .set({
        secret_enc: change.secretEnc,
        previous_secret_enc: change.previousSecretEnc,
        previous_secret_expires_at: change.previousExpiresAtMs === null ? null : new Date(change.previousExpiresAtMs),
        updated_at: new Date(change.nowMs),
      })
      .where('platform_id', '=', platformId)
      .where('id', '=', id)
      .where('secret_enc', '=', change.expectedSecretEnc)
      .returningAll()
      .executeTakeFirst();
  }

  // ---- fan-out --------------------------------------------------------------------------

  /** Platforms with at least one endpoint still subscribed, and the earliest one's creation. */
  async platformsWithLiveEndpoints(limit: number, afterPlatformId?: Id): Promise<{ platformId: Id; earliestMs: number }[]> {
    let query = this.db
      .selectFrom('webhook_endpoints')
      .select(['platform_id', (eb) => eb.fn.min<Date>('created_at').as('earliest')])
      .where('status', '<>', 'disabled')
      .groupBy('platform_id')
      .orderBy('platform_id')
      .limit(limit);
    if (afterPlatformId !== undefined) query = query.where('platform_id', '>', afterPlatformId);
    const rows = await query.execute();
    return rows.map((row) => ({ platformId: row.platform_id, earliestMs: new Date(row.earliest).getTime() }));
  }

  async liveEndpoints(platformId: Id): Promise<WebhookEndpointRow[]> {
    return this.db
      .selectFrom('webhook_endpoints')
      .selectAll()
      .where('platform_id', '=', platformId)
      .where('status', '<>', 'disabled')
      .orderBy('id')
      .execute();
  }

  async fanoutCursor(platformId: Id): Promise<Id | undefined> {
    const row = await this.db.selectFrom('webhook_fanout_cursors').select('last_event_id').where('platform_id', '=', platformId).executeTakeFirst();
    return row?.last_event_id;
  }

  /** Moves the cursor forward (never back, whoever else moved it meanwhile). */
  async advanceFanoutCursor(platformId: Id, lastEventId: Id, nowMs: number): Promise<void> {
    await sql`insert into webhook_fanout_cursors (platform_id, last_event_id, updated_at)
      values (${platformId}::uuid, ${lastEventId}::uuid, ${new Date(nowMs)})
      on conflict (platform_id) do update
        set last_event_id = greatest(webhook_fanout_cursors.last_event_id, excluded.last_event_id),
            updated_at = excluded.updated_at`.execute(this.db);
  }

  /**
   * A page of a platform's events after `afterId` (and up to `upToId`), in id order, without
   * their data (fan-out needs none). `unsentOnly` leaves out events that already have a
   * delivery, for the second look behind the cursor.
   */
  async eventsAfter(platformId: Id, afterId: Id, upToId: Id | null, limit: number, unsentOnly = false): Promise<FanoutEvent[]> {
    let query = this.db
      .selectFrom('object_events as e')
      .select(['e.id', 'e.type', 'e.object_id', 'e.sequence', 'e.created_at'])
      .where('e.platform_id', '=', platformId)
      .where('e.id', '>', afterId)
      .orderBy('e.id')
      .limit(limit);
    if (upToId !== null) query = query.where('e.id', '<=', upToId);
    if (unsentOnly) {
      query = query.where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('webhook_deliveries as d')
              .select('d.id')
              .whereRef('d.platform_id', '=', 'e.platform_id')
              .whereRef('d.event_id', '=', 'e.id')
              .where('d.redelivery', '=', 0),
          ),
        ),
      );
    }
    return query.execute();
  }

  async event(platformId: Id, id: Id): Promise<EventRow | undefined> {
    return this.db.selectFrom('object_events').selectAll().where('platform_id', '=', platformId).where('id', '=', id).executeTakeFirst();
  }

  /** Inserts deliveries; one that exists already (same endpoint, event, redelivery) is skipped. */
  async insertDeliveries(deliveries: readonly NewDelivery[]): Promise<WebhookDeliveryRow[]> {
    const inserted: WebhookDeliveryRow[] = [];
    // Statements stay well under PostgreSQL's 65,535 parameters.
    for (let start = 0; start < deliveries.length; start += deliveryRowsPerInsertMax) {
      inserted.push(...(await this.insertDeliveryRows(deliveries.slice(start, start + deliveryRowsPerInsertMax))));
    }
    return inserted;
  }

  private async insertDeliveryRows(deliveries: readonly NewDelivery[]): Promise<WebhookDeliveryRow[]> {
    if (deliveries.length === 0) return [];
    return this.db
      .insertInto('webhook_deliveries')
      .values(
        deliveries.map((d) => ({
          platform_id: d.platformId,
          id: d.id,
          endpoint_id: d.endpointId,
          event_id: d.event.id,
          redelivery: d.redelivery,
          event_type: d.event.type,
          object_id: d.event.object_id,
          sequence: d.event.sequence,
          status: 'pending',
          attempts: 0,
          first_attempt_at: null,
          next_attempt_at: new Date(d.nowMs),
          claimed_by: null,
          claimed_until: null,
          last_status_code: null,
          last_error: null,
          last_latency_ms: null,
          delivered_at: null,
          created_at: new Date(d.nowMs),
          updated_at: new Date(d.nowMs),
        })),
      )
      .onConflict((oc) => oc.doNothing())
      .returningAll()
      .execute();
  }

  /** The next redelivery number of an event to an endpoint. */
  async nextRedelivery(platformId: Id, endpointId: Id, eventId: Id): Promise<number> {
    const row = await this.db
      .selectFrom('webhook_deliveries')
      .select((eb) => eb.fn.max<number | null>('redelivery').as('n'))
      .where('platform_id', '=', platformId)
      .where('endpoint_id', '=', endpointId)
      .where('event_id', '=', eventId)
      .executeTakeFirst();
    return row?.n === null || row?.n === undefined ? 0 : Number(row.n) + 1;
  }

  // ---- delivery -------------------------------------------------------------------------

  /**
   * Claims up to `limit` due deliveries for `claimToken` until `leaseUntilMs`: pending, due,
   * not claimed by anyone (or their claim has run out), the endpoint not disabled, and no
   * earlier update of the same object to the same endpoint still pending (per-object order).
   * Rows another dispatcher is claiming right now are skipped, not waited for.
   */
  async claimDue(claim: {
    nowMs: number;
    leaseUntilMs: number;
    claimToken: string;
    limit: number;
    excludeDeliveryIds: readonly Id[];
    excludeEndpointIds: readonly Id[];
  }): Promise<WebhookDeliveryRow[]> {
    const now = new Date(claim.nowMs);
    const { rows } = await sql<WebhookDeliveryRow>`
      with due as (
        select d.platform_id, d.id
        from webhook_deliveries d
        join webhook_endpoints w on w.platform_id = d.platform_id and w.id = d.endpoint_id
        where d.status = 'pending'
          and d.next_attempt_at <= ${now}
          and (d.claimed_until is null or d.claimed_until <= ${now})
          and w.status <> 'disabled'
          and not (d.id = any(${plainArray(claim.excludeDeliveryIds)}::uuid[]))
          and not (d.endpoint_id = any(${plainArray(claim.excludeEndpointIds)}::uuid[]))
          and not exists (
            select 1 from webhook_deliveries e
            where e.platform_id = d.platform_id and e.endpoint_id = d.endpoint_id and e.object_id = d.object_id
              and e.status = 'pending' and e.sequence < d.sequence
          )
        order by d.next_attempt_at, d.sequence, d.id
        limit ${claim.limit}
        for update of d skip locked
      )
      update webhook_deliveries t
        set claimed_by = ${claim.claimToken}, claimed_until = ${new Date(claim.leaseUntilMs)}
        from due
        where t.platform_id = due.platform_id and t.id = due.id
        returning t.*`.execute(this.db);
    return rows;
  }

  /**
   * Records an attempt and the delivery's next state, if `claimToken` still holds the claim
   * (false otherwise: the lease ran out and someone else took the delivery over). A success
   * clears the endpoint's `failing`; a delivery given up marks it `failing`.
   */
  async settleAttempt(delivery: WebhookDeliveryRow, claimToken: string, outcome: AttemptOutcome, errorLengthMax: number): Promise<boolean> {
    const at = new Date(outcome.attemptedAtMs);
    const error = outcome.error === null ? null : outcome.error.slice(0, errorLengthMax);
    return this.db.transaction().execute(async (trx) => {
      const next = outcome.next;
      const updated = await trx
        .updateTable('webhook_deliveries')
        .set((eb) => ({
          attempts: eb('attempts', '+', 1),
          first_attempt_at: eb.fn.coalesce('first_attempt_at', sql<Date>`${at}::timestamptz`),
          status: next.kind === 'retry' ? 'pending' : next.kind,
          next_attempt_at: next.kind === 'retry' ? new Date(next.atMs) : at,
          delivered_at: next.kind === 'succeeded' ? at : null,
          claimed_by: null,
          claimed_until: null,
          last_status_code: outcome.statusCode,
          last_error: error,
          last_latency_ms: outcome.latencyMs,
          updated_at: at,
        }))
        .where('platform_id', '=', delivery.platform_id)
        .where('id', '=', delivery.id)
        .where('claimed_by', '=', claimToken)
        .where('status', '=', 'pending')
        .executeTakeFirst();
      if (Number(updated.numUpdatedRows) !== 1) return false;
      await trx
        .insertInto('webhook_attempts')
        .values({
          platform_id: delivery.platform_id,
          id: outcome.attemptId,
          delivery_id: delivery.id,
          endpoint_id: delivery.endpoint_id,
          attempt: delivery.attempts + 1,
          status_code: outcome.statusCode,
          latency_ms: outcome.latencyMs,
          error,
          attempted_at: at,
        })
        .execute();
      if (next.kind === 'succeeded') {
        await trx
          .updateTable('webhook_endpoints')
          .set({ status: 'active', failing_since: null, updated_at: at })
          .where('platform_id', '=', delivery.platform_id)
          .where('id', '=', delivery.endpoint_id)
          .where('status', '=', 'failing')
          .execute();
      } else if (next.kind === 'failed') {
        await trx
          .updateTable('webhook_endpoints')
          .set({ status: 'failing', failing_since: at, updated_at: at })
          .where('platform_id', '=', delivery.platform_id)
          .where('id', '=', delivery.endpoint_id)
          .where('status', '=', 'active')
          .execute();
      }
      return true;
    });
  }

  // ---- reads for platforms and operators -----------------------------------------------

  async delivery(platformId: Id, id: Id): Promise<WebhookDeliveryRow | undefined> {
    return this.db.selectFrom('webhook_deliveries').selectAll().where('platform_id', '=', platformId).where('id', '=', id).executeTakeFirst();
  }

  async deliveries(platformId: Id, endpointId: Id, limit: number, afterId?: Id): Promise<WebhookDeliveryRow[]> {
    let query = this.db
      .selectFrom('webhook_deliveries')
      .selectAll()
      .where('platform_id', '=', platformId)
      .where('endpoint_id', '=', endpointId)
      .orderBy('id')
      .limit(limit);
    if (afterId !== undefined) query = query.where('id', '>', afterId);
    return query.execute();
  }

  /** The attempts of some deliveries, in attempt order. */
  async attempts(platformId: Id, deliveryIds: readonly Id[]): Promise<WebhookAttemptRow[]> {
    if (deliveryIds.length === 0) return [];
    return this.db
      .selectFrom('webhook_attempts')
      .selectAll()
      .where('platform_id', '=', platformId)
      .where('delivery_id', 'in', [...deliveryIds])
      .orderBy('delivery_id')
      .orderBy('attempt')
      .execute();
  }
}
