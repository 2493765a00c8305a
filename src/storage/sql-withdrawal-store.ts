import { sql } from 'kysely';
import type { Kysely, Selectable } from 'kysely';
import type { RiskRule, RiskRuleKind } from '../custody/risk-rules.js';
import { defaultRiskRules, riskRuleKinds } from '../custody/risk-rules.js';
import type { Id } from '../ledger/index.js';
import type { AdjustmentsTable, CustodyDatabase, Database, WithdrawalSourcesTable, WithdrawalsTable } from './database.js';

export type WithdrawalRow = Selectable<WithdrawalsTable>;
export type WithdrawalSourceRow = Selectable<WithdrawalSourcesTable>;
export type AdjustmentRow = Selectable<AdjustmentsTable>;

/** Tables written through book commands for money out. */
export const withdrawalTables = ['withdrawals', 'withdrawal_sources', 'adjustments'] as const;

type Db = Kysely<CustodyDatabase>;

/** Reads for withdrawals, reviews, adjustments; and the risk configuration (rules, flags). */
export class SqlWithdrawalStore {
  constructor(private readonly db: Db) {}

  static on(ledgerKysely: Kysely<Database>): SqlWithdrawalStore {
    return new SqlWithdrawalStore(ledgerKysely as unknown as Db);
  }

  async withdrawal(platformId: Id, id: Id): Promise<WithdrawalRow | undefined> {
    return this.db.selectFrom('withdrawals').selectAll().where('platform_id', '=', platformId).where('id', '=', id).executeTakeFirst();
  }

  /** By id alone: operators review a withdrawal without naming its platform. */
  async withdrawalById(id: Id): Promise<WithdrawalRow | undefined> {
    return this.db.selectFrom('withdrawals').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async listWithdrawals(platformId: Id, limit: number, afterId?: Id): Promise<WithdrawalRow[]> {
    let query = this.db.selectFrom('withdrawals').selectAll().where('platform_id', '=', platformId).orderBy('id').limit(limit);
    if (afterId !== undefined) query = query.where('id', '>', afterId);
    return query.execute();
  }

  /** Withdrawals with work due (send, query, watch for returns), across platforms. */
  async dueWithdrawals(nowMs: number, limit: number): Promise<WithdrawalRow[]> {
    return this.db
      .selectFrom('withdrawals')
      .selectAll()
      .where('step', 'in', ['reserved', 'waiting_rail', 'sending', 'sent', 'watching'])
      .where('next_attempt_at', '<=', new Date(nowMs))
      .orderBy('next_attempt_at')
      .limit(limit)
      .execute();
  }

  async held(platformId: Id | undefined, limit: number, afterId?: Id): Promise<WithdrawalRow[]> {
    let query = this.db.selectFrom('withdrawals').selectAll().where('status', '=', 'held').orderBy('id').limit(limit);
    if (platformId !== undefined) query = query.where('platform_id', '=', platformId);
    if (afterId !== undefined) query = query.where('id', '>', afterId);
    return query.execute();
  }

  /** A member's withdrawals since an instant that still count (not rejected). */
  async memberWithdrawalsSince(platformId: Id, memberId: Id, sinceMs: number): Promise<WithdrawalRow[]> {
    return this.db
      .selectFrom('withdrawals')
      .selectAll()
      .where('platform_id', '=', platformId)
      .where('member_id', '=', memberId)
      .where('created_at', '>=', new Date(sinceMs))
      .where('status', '!=', 'rejected')
      .execute();
  }

  async platformTotalsOn(platformId: Id, businessDate: string): Promise<{ amount: bigint; count: number }> {
    const row = await this.db
      .selectFrom('withdrawals')
      .select((eb) => [eb.fn.coalesce(eb.fn.sum<bigint>('amount'), sql<bigint>`0::int8`).as('amount'), eb.fn.countAll<string>().as('count')])
      .where('platform_id', '=', platformId)
      .where('business_date', '=', businessDate)
      .where('status', '!=', 'rejected')
      .executeTakeFirstOrThrow();
    return { amount: BigInt(row.amount), count: Number(row.count) };
  }

  async sources(platformId: Id, withdrawalId: Id): Promise<WithdrawalSourceRow[]> {
    return this.db
      .selectFrom('withdrawal_sources')
      .selectAll()
      .where('platform_id', '=', platformId)
      .where('withdrawal_id', '=', withdrawalId)
      .orderBy('business_date')
      .orderBy('id')
      .execute();
  }

  /** Orders the member took part in, as buyer or payee. */
  async memberTradeCount(platformId: Id, memberId: Id): Promise<number> {
    const row = await sql<{ count: string }>`
      select count(*)::text as count from orders
      where platform_id = ${platformId}::uuid and status in ('escrowed', 'completed', 'refunded')
        and (buyer_id = ${memberId}::uuid or payees @> ${JSON.stringify([{ memberId }])}::jsonb)`.execute(this.db);
    return Number(row.rows[0]?.count ?? 0);
  }

  /** Who paid for an order (its buyer), or null when it was paid through a channel. */
  async orderBuyers(platformId: Id, orderIds: readonly Id[]): Promise<Map<Id, Id | null>> {
    if (orderIds.length === 0) return new Map();
    const rows = await this.db
      .selectFrom('orders')
      .select(['id', 'buyer_id'])
      .where('platform_id', '=', platformId)
      .where('id', 'in', [...orderIds])
      .execute();
    return new Map(rows.map((row) => [row.id, row.buyer_id]));
  }

  async adjustment(platformId: Id, id: Id): Promise<AdjustmentRow | undefined> {
    return this.db.selectFrom('adjustments').selectAll().where('platform_id', '=', platformId).where('id', '=', id).executeTakeFirst();
  }

  async adjustmentById(id: Id): Promise<AdjustmentRow | undefined> {
    return this.db.selectFrom('adjustments').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async listAdjustments(platformId: Id | undefined, status: string | undefined, limit: number, afterId?: Id): Promise<AdjustmentRow[]> {
    let query = this.db.selectFrom('adjustments').selectAll().orderBy('id').limit(limit);
    if (platformId !== undefined) query = query.where('platform_id', '=', platformId);
    if (status !== undefined) query = query.where('status', '=', status);
    if (afterId !== undefined) query = query.where('id', '>', afterId);
    return query.execute();
  }

  // Risk configuration: rules (every version kept) and member flags.

  /** The rules in force for a platform: its latest version of each, else the default. */
  async riskRules(platformId: Id): Promise<RiskRule[]> {
    const rows = await sql<{ id: string; version: number; action: string; enabled: boolean; params: unknown }>`
      select distinct on (id) id, version, action, enabled, params from risk_rules
      where platform_id = ${platformId}::uuid order by id, version desc`.execute(this.db);
    const stored = new Map(rows.rows.map((row) => [row.id, row]));
    return defaultRiskRules.map((rule) => {
      const row = stored.get(rule.id);
      if (row === undefined) return rule;
      return { id: rule.id, version: row.version, action: row.action as RiskRule['action'], enabled: row.enabled, params: row.params as RiskRule['params'] };
    });
  }

  /** Stores a new version of a rule; a concurrent change of the same rule makes one of them fail. */
  async saveRiskRule(platformId: Id, rule: RiskRule, actor: string, nowMs: number): Promise<void> {
    if (!(riskRuleKinds as readonly string[]).includes(rule.id)) throw new Error(`unknown risk rule ${rule.id}`);
    await this.db
      .insertInto('risk_rules')
      .values({
        platform_id: platformId,
        id: rule.id,
        version: rule.version,
        action: rule.action,
        enabled: rule.enabled,
        params: JSON.stringify(rule.params),
        updated_by: actor,
        updated_at: new Date(nowMs),
      })
      .execute();
  }

  async riskRuleHistory(platformId: Id, id: RiskRuleKind): Promise<{ version: number; action: string; enabled: boolean; params: unknown; updated_by: string; updated_at: Date }[]> {
    return this.db
      .selectFrom('risk_rules')
      .select(['version', 'action', 'enabled', 'params', 'updated_by', 'updated_at'])
      .where('platform_id', '=', platformId)
      .where('id', '=', id)
      .orderBy('version')
      .execute();
  }

  async memberLinked(platformId: Id, memberId: Id): Promise<boolean> {
    const row = await this.db
      .selectFrom('member_flags')
      .select('linked_to_platform')
      .where('platform_id', '=', platformId)
      .where('id', '=', memberId)
      .executeTakeFirst();
    return row?.linked_to_platform ?? false;
  }

  async setMemberFlag(platformId: Id, memberId: Id, linked: boolean, reason: string | null, actor: string, nowMs: number): Promise<void> {
    await this.db
      .insertInto('member_flags')
      .values({ platform_id: platformId, id: memberId, linked_to_platform: linked, reason, updated_by: actor, updated_at: new Date(nowMs) })
      .onConflict((oc) =>
        oc.columns(['platform_id', 'id']).doUpdateSet({ linked_to_platform: linked, reason, updated_by: actor, updated_at: new Date(nowMs) }),
      )
      .execute();
  }
}
