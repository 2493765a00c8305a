import { sql } from 'kysely';
import type { Kysely, Selectable } from 'kysely';
import type { Id } from '../ledger/index.js';
import type {
  BankCreditsTable,
  ConsentsTable,
  CustodyDatabase,
  Database,
  ObjectEventsTable,
  OrdersTable,
  PayinsTable,
  ProceedsLotsTable,
  RefundsTable,
  SuspenseItemsTable,
  TransfersTable,
} from './database.js';

export type PayinRow = Selectable<PayinsTable>;
export type OrderRow = Selectable<OrdersTable>;
export type RefundRow = Selectable<RefundsTable>;
export type TransferRow = Selectable<TransfersTable>;
export type ConsentRow = Selectable<ConsentsTable>;
export type BankCreditRow = Selectable<BankCreditsTable>;
export type SuspenseRow = Selectable<SuspenseItemsTable>;
export type LotRow = Selectable<ProceedsLotsTable>;
export type EventRow = Selectable<ObjectEventsTable>;

/** Tables that book commands may write (see src/storage/guarded-rows.ts). */
export const tradeTables = [
  'business_keys',
  'payins',
  'orders',
  'refunds',
  'transfers',
  'consents',
  'bank_credits',
  'suspense_items',
  'proceeds_lots',
  'object_events',
] as const;

type Db = Kysely<CustodyDatabase>;

/**
 * Reads of trade state. Nothing here writes: every change goes through a book command, so
 * a read is a snapshot a command may be decided on, and its guards catch any change since.
 */
export class SqlTradeStore {
  constructor(private readonly db: Db) {}

  static on(ledgerKysely: Kysely<Database>): SqlTradeStore {
    return new SqlTradeStore(ledgerKysely as unknown as Db);
  }

  async businessKey(platformId: Id, orderNo: string): Promise<{ kind: string; object_id: string } | undefined> {
    return this.db
      .selectFrom('business_keys')
      .select(['kind', 'object_id'])
      .where('platform_id', '=', platformId)
      .where('id', '=', orderNo)
      .executeTakeFirst();
  }

  async payin(platformId: Id, id: Id): Promise<PayinRow | undefined> {
    return this.db.selectFrom('payins').selectAll().where('platform_id', '=', platformId).where('id', '=', id).executeTakeFirst();
  }

  /** A payin by its id alone: channels answer with the payment id Custos gave them. */
  async payinById(id: Id): Promise<PayinRow | undefined> {
    return this.db.selectFrom('payins').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** Payins still pending since before `beforeMs`, oldest first, across platforms (for queries). */
  async stalePayins(beforeMs: number, limit: number): Promise<PayinRow[]> {
    return this.db
      .selectFrom('payins')
      .selectAll()
      .where('status', '=', 'pending')
      .where('created_at', '<', new Date(beforeMs))
      .orderBy('created_at')
      .limit(limit)
      .execute();
  }

  async order(platformId: Id, id: Id): Promise<OrderRow | undefined> {
    return this.db.selectFrom('orders').selectAll().where('platform_id', '=', platformId).where('id', '=', id).executeTakeFirst();
  }

  async listOrders(platformId: Id, limit: number, afterId?: Id): Promise<OrderRow[]> {
    let query = this.db.selectFrom('orders').selectAll().where('platform_id', '=', platformId).orderBy('id').limit(limit);
    if (afterId !== undefined) query = query.where('id', '>', afterId);
    return query.execute();
  }

  /** Orders whose auto-confirm time has come, across platforms, oldest first. */
  async dueOrders(nowMs: number, limit: number): Promise<{ platform_id: string; id: string }[]> {
    return this.db
      .selectFrom('orders')
      .select(['platform_id', 'id'])
      .where('status', '=', 'escrowed')
      .where('auto_confirm_at', '<=', new Date(nowMs))
      .orderBy('auto_confirm_at')
      .limit(limit)
      .execute();
  }

  /** What a buyer has in escrow in open orders (their frozen balance in intermediate mode). */
  async escrowedAsBuyer(platformId: Id, memberId: Id): Promise<bigint> {
    const row = await this.db
      .selectFrom('orders')
      .select((eb) => eb.fn.coalesce(eb.fn.sum<bigint>('escrowed_amount'), sql<bigint>`0::int8`).as('total'))
      .where('platform_id', '=', platformId)
      .where('buyer_id', '=', memberId)
      .where('status', '=', 'escrowed')
      .where('escrow_mode', '=', 'intermediate')
      .executeTakeFirstOrThrow();
    return BigInt(row.total);
  }

  /** Σ escrowed of open orders, per currency (all CNY today). */
  async openEscrowTotal(platformId: Id): Promise<bigint> {
    const row = await this.db
      .selectFrom('orders')
      .select((eb) => eb.fn.coalesce(eb.fn.sum<bigint>('escrowed_amount'), sql<bigint>`0::int8`).as('total'))
      .where('platform_id', '=', platformId)
      .where('status', '=', 'escrowed')
      .executeTakeFirstOrThrow();
    return BigInt(row.total);
  }

  async refunds(platformId: Id, orderId: Id): Promise<RefundRow[]> {
    return this.db.selectFrom('refunds').selectAll().where('platform_id', '=', platformId).where('order_id', '=', orderId).orderBy('id').execute();
  }

  async transfer(platformId: Id, id: Id): Promise<TransferRow | undefined> {
    return this.db.selectFrom('transfers').selectAll().where('platform_id', '=', platformId).where('id', '=', id).executeTakeFirst();
  }

  async consents(platformId: Id, memberId: Id, sinceMs: number): Promise<ConsentRow[]> {
    return this.db
      .selectFrom('consents')
      .selectAll()
      .where('platform_id', '=', platformId)
      .where('member_id', '=', memberId)
      .where('created_at', '>=', new Date(sinceMs))
      .orderBy('created_at', 'desc')
      .execute();
  }

  async bankCredit(platformId: Id, id: Id): Promise<BankCreditRow | undefined> {
    return this.db.selectFrom('bank_credits').selectAll().where('platform_id', '=', platformId).where('id', '=', id).executeTakeFirst();
  }

  async memberBySubAccountNo(platformId: Id, subAccountNo: string): Promise<Id | undefined> {
    const row = await this.db
      .selectFrom('members')
      .select('id')
      .where('platform_id', '=', platformId)
      .where('sub_account_no', '=', subAccountNo)
      .executeTakeFirst();
    return row?.id;
  }

  async suspenseItem(platformId: Id, id: Id): Promise<SuspenseRow | undefined> {
    return this.db.selectFrom('suspense_items').selectAll().where('platform_id', '=', platformId).where('id', '=', id).executeTakeFirst();
  }

  async listSuspense(platformId: Id, limit: number, afterId?: Id): Promise<SuspenseRow[]> {
    let query = this.db.selectFrom('suspense_items').selectAll().where('platform_id', '=', platformId).orderBy('id').limit(limit);
    if (afterId !== undefined) query = query.where('id', '>', afterId);
    return query.execute();
  }

  /** A member's lots with money left, oldest first. */
  async lots(platformId: Id, memberId: Id, bucket: 'pending' | 'withdrawable'): Promise<LotRow[]> {
    return this.db
      .selectFrom('proceeds_lots')
      .selectAll()
      .where('platform_id', '=', platformId)
      .where('member_id', '=', memberId)
      .where('bucket', '=', bucket)
      .where('remaining', '>', 0n)
      .orderBy('business_date')
      .orderBy('created_at')
      .orderBy('id')
      .execute();
  }

  async events(platformId: Id, objectId: Id): Promise<EventRow[]> {
    return this.db
      .selectFrom('object_events')
      .selectAll()
      .where('platform_id', '=', platformId)
      .where('object_id', '=', objectId)
      .orderBy('sequence')
      .execute();
  }

  /** Every event of a platform, oldest first (ids are time-ordered), for replay. */
  async platformEvents(platformId: Id, limit: number, afterId?: Id): Promise<EventRow[]> {
    let query = this.db.selectFrom('object_events').selectAll().where('platform_id', '=', platformId).orderBy('id').limit(limit);
    if (afterId !== undefined) query = query.where('id', '>', afterId);
    return query.execute();
  }
}
