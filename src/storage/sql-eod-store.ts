import { sql } from 'kysely';
import type { Kysely, RawBuilder } from 'kysely';
import type { Id } from '../ledger/index.js';
import type { Database } from './database.js';
import { plainArray } from './pg-array.js';

/** Tables that book commands write for the day's files. */
export const eodTables = ['trade_movements'] as const;

type Db = Kysely<Database>;

export type EodStatus = 'running' | 'closed' | 'failed';

export interface EodRunRow {
  readonly platformId: Id;
  readonly businessDate: string;
  readonly status: EodStatus;
  readonly previousLastSeq: bigint;
  readonly lastSeq: bigint;
  readonly verifiedSeq: bigint | null;
  readonly verifiedHash: string | null;
  readonly settledMinor: bigint;
  readonly settlementBasis: SettlementBasis;
  readonly convertedMembers: number;
  readonly convertedMinor: bigint;
  readonly invariants: unknown;
  readonly error: string | null;
  readonly startedAtMs: number;
  readonly completedAtMs: number | null;
}

export type SettlementBasis = 'books' | 'statement';

/**
 * Which entries belong to a closed day: those booked up to its last entry, except the closes
 * of earlier days, and the entries of its own close (settlement, conversion), booked after
 * its last entry but part of the day. Everything else after the last entry is later.
 */
export interface DayCut {
  readonly platformId: Id;
  readonly businessDate: string;
  readonly previousLastSeq: bigint;
  readonly lastSeq: bigint;
  /** The first instant of the next day. */
  readonly endMs: number;
}

/** Marks the entries of a day's close: their command starts `eod.`, their reference names the day. */
export const closeCommandPrefix = 'eod.';
export function closeReference(businessDate: string): string {
  return `eod:${businessDate}`;
}

export interface AccountDayRow {
  readonly accountId: Id;
  readonly code: string;
  readonly memberId: Id | null;
  readonly openingDebitsMinor: bigint;
  readonly openingCreditsMinor: bigint;
  readonly debitsMinor: bigint;
  readonly creditsMinor: bigint;
}

export interface MemberDayRow {
  readonly memberId: Id;
  readonly externalId: string;
  readonly subAccountNo: string;
  readonly seq: bigint;
  readonly availableMinor: bigint;
  readonly withdrawableMinor: bigint;
  readonly pendingMinor: bigint;
  readonly spendableMinor: bigint;
  readonly frozenMinor: bigint;
}

/** A member and the two accounts T+1 moves its proceeds between. */
export interface MemberProceedsAccounts {
  readonly memberId: Id;
  readonly pendingAccountId: Id;
  readonly withdrawableAccountId: Id;
}

export interface PendingLotsOfMember extends MemberProceedsAccounts {
  /** What the conversion needs of each lot: which, at what version, how much is left. */
  readonly lots: { readonly id: Id; readonly version: number; readonly remaining: bigint }[];
}

export interface TradeFileRow {
  readonly seq: bigint;
  readonly position: number;
  readonly entryId: Id;
  readonly orderNo: string;
  readonly kind: string;
  readonly payerMemberId: Id | null;
  readonly payeeMemberId: Id | null;
  readonly amountMinor: bigint;
  readonly feeMinor: bigint;
  readonly occurredAtMs: number;
}

export interface RechargeFileRow {
  readonly seq: bigint;
  readonly id: Id;
  readonly orderNo: string;
  readonly memberId: Id | null;
  readonly amountMinor: bigint;
  readonly channel: string;
  readonly channelTxnId: string | null;
  readonly occurredAtMs: number;
}

export interface WithdrawalFileRow {
  readonly eventId: Id;
  readonly data: Record<string, unknown>;
  readonly occurredAtMs: number;
}

export interface YearEndRunRow {
  readonly platformId: Id;
  readonly year: number;
  readonly firstDate: string;
  readonly lastDate: string;
  readonly accounts: number;
  readonly debitsMinor: bigint;
  readonly creditsMinor: bigint;
  readonly completedAtMs: number;
}

export interface AlertRow {
  readonly id: Id;
  readonly platformId: Id | null;
  readonly kind: string;
  readonly message: string;
  readonly detail: unknown;
  readonly createdAtMs: number;
}

const postedKinds = sql`('posted', 'post_pending')`;

/**
 * Postings of a platform's entries after `afterSeq`, one row per account touched, each
 * marked `later` (after the close of `cut`'s day) or `earlier_close` (booked by the close of
 * an earlier day, so part of that day), for the sums a close needs.
 */
function movesAfter(cut: DayCut, afterSeq: bigint): RawBuilder<unknown> {
  const reference = closeReference(cut.businessDate);
  return sql`
    select s.num, s.is_debit, p.amount, p.pending_released, e.kind,
           (e.seq > ${cut.lastSeq.toString()}::int8
             and not (e.command like ${`${closeCommandPrefix}%`} and e.reference <= ${reference})) as later,
           (e.command like ${`${closeCommandPrefix}%`} and e.reference < ${reference}) as earlier_close
    from ledger_entries e
    join ledger_postings_all p on p.platform_id = e.platform_id and p.entry_seq = e.seq
    cross join lateral (values (p.debit_account, true), (p.credit_account, false)) as s(num, is_debit)
    -- The bound is given to the postings too: the planner carries it into each store of the
    -- view, which it would not derive from the join.
    where e.platform_id = ${cut.platformId}::uuid and e.seq > ${afterSeq.toString()}::int8
      and p.platform_id = ${cut.platformId}::uuid and p.entry_seq > ${afterSeq.toString()}::int8`;
}

/** Day closes, their balances and files, the year-end close and alerts. */
export class SqlEodStore {
  constructor(private readonly db: Db) {}

  static on(ledgerKysely: Kysely<Database>): SqlEodStore {
    return new SqlEodStore(ledgerKysely);
  }

  async run(platformId: Id, businessDate: string): Promise<EodRunRow | undefined> {
    const { rows } = await sql<RawRun>`
      select * from eod_runs where platform_id = ${platformId}::uuid and business_date = ${businessDate}::date`.execute(this.db);
    return rows[0] === undefined ? undefined : runOf(rows[0]);
  }

  /** The platform's latest close, whatever its status. */
  async latestRun(platformId: Id): Promise<EodRunRow | undefined> {
    const { rows } = await sql<RawRun>`
      select * from eod_runs where platform_id = ${platformId}::uuid
      order by business_date desc limit 1`.execute(this.db);
    return rows[0] === undefined ? undefined : runOf(rows[0]);
  }

  /** The latest closed day of every platform that has one. */
  async lastClosedDates(): Promise<Map<Id, string>> {
    const { rows } = await sql<{ platform_id: string; business_date: string }>`
      select platform_id, max(business_date)::text as business_date from eod_runs
      where status = 'closed' group by platform_id`.execute(this.db);
    return new Map(rows.map((r) => [r.platform_id, r.business_date]));
  }

  /** Records that a close started (or started again after it stopped). */
  async startRun(cut: DayCut, startedAtMs: number): Promise<void> {
    await sql`
      insert into eod_runs (platform_id, business_date, status, previous_last_seq, last_seq, started_at)
      values (${cut.platformId}::uuid, ${cut.businessDate}::date, 'running', ${cut.previousLastSeq.toString()}::int8,
              ${cut.lastSeq.toString()}::int8, ${new Date(startedAtMs)})
      on conflict (platform_id, business_date) do update
        set status = 'running', previous_last_seq = excluded.previous_last_seq, last_seq = excluded.last_seq,
            error = null, started_at = excluded.started_at, completed_at = null
        where eod_runs.status <> 'closed'`.execute(this.db);
  }

  async failRun(platformId: Id, businessDate: string, error: string, invariants: unknown, atMs: number): Promise<void> {
    await sql`
      update eod_runs set status = 'failed', error = ${error}, invariants = ${JSON.stringify(invariants ?? null)}::jsonb,
                          completed_at = ${new Date(atMs)}
      where platform_id = ${platformId}::uuid and business_date = ${businessDate}::date and status <> 'closed'`.execute(this.db);
  }

  /**
   * An account's net posted balance (debits − credits) at the end of a day, before that
   * day's own close booked anything: what the channel's in-transit account held to settle.
   */
  async netBeforeClose(cut: DayCut, accountId: Id): Promise<bigint> {
    const reference = closeReference(cut.businessDate);
    const { rows } = await sql<{ net: string }>`
      with account as (
        select num, debits_posted - credits_posted as net from ledger_accounts
        where platform_id = ${cut.platformId}::uuid and id = ${accountId}::uuid
      ), later as (
        select coalesce(sum(case when p.debit_account = a.num then p.amount else -p.amount end), 0) as net
        from ledger_entries e
        join ledger_postings_all p on p.platform_id = e.platform_id and p.entry_seq = e.seq
        cross join account a
        where e.platform_id = ${cut.platformId}::uuid and e.seq > ${cut.lastSeq.toString()}::int8
          and p.platform_id = ${cut.platformId}::uuid and p.entry_seq > ${cut.lastSeq.toString()}::int8
          and e.kind in ${postedKinds}
          and (p.debit_account = a.num or p.credit_account = a.num)
          and not (e.command like ${`${closeCommandPrefix}%`} and e.reference < ${reference})
      )
      select ((select net from account) - (select net from later))::text as net`.execute(this.db);
    return BigInt(rows[0]?.net ?? '0');
  }

  /**
   * What the channels' statements of a date say they settle: the succeeded payins matched by
   * the latest completed import of each channel's statement for that date; null when no
   * channel statement of the date was imported.
   */
  async statementSettlement(platformId: Id, businessDate: string): Promise<bigint | null> {
    const { rows: latest } = await sql<{ id: string }>`
      select distinct on (source) id from reconciliations
      where platform_id = ${platformId}::uuid and business_date = ${businessDate}::date and status = 'completed' and source like 'channel:%'
      order by source, completed_at desc, id desc`.execute(this.db);
    if (latest.length === 0) return null;
    const { rows } = await sql<{ amount: string }>`
      select coalesce(sum(p.amount), 0)::text as amount
      from reconciliation_matches m
      join payins p on p.platform_id = m.platform_id and p.id = m.object_id
      where m.platform_id = ${platformId}::uuid and m.reconciliation_id = any(${plainArray(latest.map((r) => r.id))}::uuid[])
        and m.object_type = 'payin' and m.outcome = 'matched' and p.status = 'succeeded'`.execute(this.db);
    return BigInt(rows[0]?.amount ?? '0');
  }

  /** A page of the platform's members, by id: the conversion walks them all. */
  async memberPage(platformId: Id, afterMemberId: Id | null, limit: number): Promise<MemberProceedsAccounts[]> {
    const { rows } = await sql<{ id: string; pending_account_id: string; withdrawable_account_id: string }>`
      select id, pending_account_id, withdrawable_account_id from members
      where platform_id = ${platformId}::uuid and id > ${afterMemberId ?? '00000000-0000-0000-0000-000000000000'}::uuid
      order by id limit ${limit}`.execute(this.db);
    return rows.map((r) => ({ memberId: r.id, pendingAccountId: r.pending_account_id, withdrawableAccountId: r.withdrawable_account_id }));
  }

  /**
   * Fresh statistics for the tables a close reads whole: written in bulk all day, and on
   * PGlite never analyzed by itself, their estimates would be a day old (one row for a
   * million) and plans chosen on them quadratic.
   */
  async analyze(): Promise<void> {
    for (const table of ['proceeds_lots', 'members', 'ledger_entries', 'ledger_postings', 'ledger_accounts', 'trade_movements']) {
      await sql`analyze ${sql.table(table)}`.execute(this.db);
    }
  }

  /**
   * The pending proceeds of the members named that were booked by the end of the day, lots in
   * spending order; members with none are left out.
   */
  async pendingLots(cut: DayCut, members: readonly MemberProceedsAccounts[]): Promise<PendingLotsOfMember[]> {
    if (members.length === 0) return [];
    // The members' accounts come with the page: a join here would hash every member of the platform per page.
    const { rows } = await sql<{ id: string; version: number; member_id: string; remaining: bigint }>`
      select l.id, l.version, l.member_id, l.remaining
      from proceeds_lots l
      where l.platform_id = ${cut.platformId}::uuid and l.member_id = any(${plainArray(members.map((m) => m.memberId))}::uuid[])
        and l.bucket = 'pending' and l.remaining > 0 and l.business_date <= ${cut.businessDate}::date
        -- Booked by the day's end: not by an entry after it (a lot commits with its entry, so
        -- a lot seen has its entry; the few entries after the cut are one small hash).
        and (l.entry_id is null or l.entry_id not in (
          select e.id from ledger_entries e where e.platform_id = ${cut.platformId}::uuid and e.seq > ${cut.lastSeq.toString()}::int8))
      order by l.member_id`.execute(this.db);
    const accounts = new Map(members.map((m) => [m.memberId, m]));
    const out: PendingLotsOfMember[] = [];
    for (const row of rows) {
      let last = out[out.length - 1];
      if (last === undefined || last.memberId !== row.member_id) {
        const member = accounts.get(row.member_id);
        if (member === undefined) throw new Error(`lots of member ${row.member_id}, not asked for`);
        last = { ...member, lots: [] };
        out.push(last);
      }
      last.lots.push({ id: row.id, version: row.version, remaining: BigInt(row.remaining) });
    }
    return out;
  }

  /**
   * Takes the day's balances (every account, every member's buckets) and marks the close
   * done, in one transaction: a close either has all its balances or none.
   */
  async snapshotAndClose(
    cut: DayCut,
    close: { settledMinor: bigint; settlementBasis: SettlementBasis; convertedMembers: number; convertedMinor: bigint; verifiedSeq: bigint; verifiedHash: string; invariants: unknown; completedAtMs: number },
  ): Promise<{ debitsMinor: bigint; creditsMinor: bigint }> {
    return this.db.transaction().execute(async (trx) => {
      const p = cut.platformId;
      const date = cut.businessDate;
      // Whole-platform aggregates joined on tables bulk-written since the last analyze: a
      // nested loop chosen on stale row estimates turns these joins quadratic; hash joins
      // are right at every size.
      await sql`set local enable_nestloop = off`.execute(trx);
      // A disabled plan node adds 10^10 to the estimated cost, far past `jit_above_cost`, so
      // every one of these statements was compiled with JIT's inlining and optimisation: about
      // half a second each on PostgreSQL 15 here, whatever the size of the day.
      await sql`set local jit = off`.execute(trx);
      await sql`delete from account_day_balances where platform_id = ${p}::uuid and business_date = ${date}::date`.execute(trx);
      await sql`delete from member_day_balances where platform_id = ${p}::uuid and business_date = ${date}::date`.execute(trx);
      await sql`
        insert into account_day_balances (platform_id, business_date, account_id, code, member_id,
                                          opening_debits, opening_credits, debits, credits, debits_reserved)
        with moves as (${movesAfter(cut, cut.previousLastSeq)}),
        sums as (
          select num,
            coalesce(sum(amount) filter (where later and is_debit and kind in ${postedKinds}), 0) as later_debits,
            coalesce(sum(amount) filter (where later and not is_debit and kind in ${postedKinds}), 0) as later_credits,
            coalesce(sum(case when kind = 'pending' then amount else -pending_released end) filter (where later and is_debit), 0) as later_reserved,
            coalesce(sum(amount) filter (where not later and not earlier_close and is_debit and kind in ${postedKinds}), 0) as day_debits,
            coalesce(sum(amount) filter (where not later and not earlier_close and not is_debit and kind in ${postedKinds}), 0) as day_credits
          from moves group by num
        ),
        owners as (
          select m.id as member_id, x.account_id from members m
          cross join lateral (values (m.spendable_account_id), (m.pending_account_id), (m.withdrawable_account_id), (m.frozen_account_id)) as x(account_id)
          where m.platform_id = ${p}::uuid and x.account_id is not null
        )
        select a.platform_id, ${date}::date, a.id, a.code, o.member_id,
               a.debits_posted - coalesce(g.later_debits, 0) - coalesce(g.day_debits, 0),
               a.credits_posted - coalesce(g.later_credits, 0) - coalesce(g.day_credits, 0),
               coalesce(g.day_debits, 0), coalesce(g.day_credits, 0),
               a.debits_pending - coalesce(g.later_reserved, 0)
        from ledger_accounts a
        left join sums g on g.num = a.num
        left join owners o on o.account_id = a.id
        where a.platform_id = ${p}::uuid and a.created_at < ${new Date(cut.endMs)}`.execute(trx);
      await sql`
        insert into member_day_balances (platform_id, business_date, member_id, available, withdrawable, pending, spendable, frozen)
        with escrow as (
          select buyer_id as member_id, sum(escrowed_amount) as amount from orders
          where platform_id = ${p}::uuid and status = 'escrowed' and escrow_mode = 'intermediate' and buyer_id is not null
          group by buyer_id
          union all
          select case when t.kind = 'refund' then t.payee_member_id else t.payer_member_id end, -sum(t.buyer_escrow_delta)
          from ledger_entries e
          join trade_movements t on t.platform_id = e.platform_id and t.entry_id = e.id
          where e.platform_id = ${p}::uuid and e.seq > ${cut.lastSeq.toString()}::int8 and t.buyer_escrow_delta <> 0
          group by 1
        ), escrow_of as (
          select member_id, sum(amount) as amount from escrow group by member_id
        ), bucket as (
          select account_id, opening_credits + credits - opening_debits - debits - debits_reserved as value
          from account_day_balances where platform_id = ${p}::uuid and business_date = ${date}::date
        )
        select m.platform_id, ${date}::date, m.id,
               s.value + pe.value + w.value, w.value, pe.value, s.value,
               coalesce(f.value, 0) + coalesce(x.amount, 0)
        from members m
        join bucket s on s.account_id = m.spendable_account_id
        join bucket pe on pe.account_id = m.pending_account_id
        join bucket w on w.account_id = m.withdrawable_account_id
        left join bucket f on f.account_id = m.frozen_account_id
        left join escrow_of x on x.member_id = m.id
        where m.platform_id = ${p}::uuid and m.created_at < ${new Date(cut.endMs)}`.execute(trx);
      const { rows } = await sql<{ debits: string; credits: string }>`
        select coalesce(sum(debits), 0)::text as debits, coalesce(sum(credits), 0)::text as credits
        from account_day_balances where platform_id = ${p}::uuid and business_date = ${date}::date`.execute(trx);
      const totals = { debitsMinor: BigInt(rows[0]?.debits ?? '0'), creditsMinor: BigInt(rows[0]?.credits ?? '0') };
      if (totals.debitsMinor !== totals.creditsMinor) {
        throw new Error(`the day's debits (${totals.debitsMinor}) and credits (${totals.creditsMinor}) differ`);
      }
      await sql`
        update eod_runs set status = 'closed', settled_amount = ${close.settledMinor.toString()}::int8, settlement_basis = ${close.settlementBasis},
               converted_members = ${close.convertedMembers}, converted_amount = ${close.convertedMinor.toString()}::int8,
               verified_seq = ${close.verifiedSeq.toString()}::int8, verified_hash = ${close.verifiedHash},
               invariants = ${JSON.stringify(close.invariants)}::jsonb, error = null, completed_at = ${new Date(close.completedAtMs)}
        where platform_id = ${p}::uuid and business_date = ${date}::date`.execute(trx);
      return totals;
    });
  }

  async accountDays(platformId: Id, businessDate: string): Promise<AccountDayRow[]> {
    const { rows } = await sql<RawAccountDay>`
      select account_id, code, member_id, opening_debits, opening_credits, debits, credits
      from account_day_balances where platform_id = ${platformId}::uuid and business_date = ${businessDate}::date
      order by member_id nulls first, code, account_id`.execute(this.db);
    return rows.map(accountDayOf);
  }

  /** Closing posted balances summed per account code, of a closed day. */
  async closingByCode(platformId: Id, businessDate: string): Promise<Map<string, { debitsMinor: bigint; creditsMinor: bigint }>> {
    const { rows } = await sql<{ code: string; debits: string; credits: string }>`
      select code, sum(opening_debits + debits)::text as debits, sum(opening_credits + credits)::text as credits
      from account_day_balances where platform_id = ${platformId}::uuid and business_date = ${businessDate}::date
      group by code`.execute(this.db);
    return new Map(rows.map((r) => [r.code, { debitsMinor: BigInt(r.debits), creditsMinor: BigInt(r.credits) }]));
  }

  async memberDays(platformId: Id, businessDate: string, afterSeq: bigint, limit: number): Promise<MemberDayRow[]> {
    const { rows } = await sql<RawMemberDay>`
      select b.member_id, m.external_id, m.sub_account_no, m.seq, b.available, b.withdrawable, b.pending, b.spendable, b.frozen
      from member_day_balances b join members m on m.platform_id = b.platform_id and m.id = b.member_id
      where b.platform_id = ${platformId}::uuid and b.business_date = ${businessDate}::date and m.seq > ${afterSeq.toString()}::int8
      order by m.seq limit ${limit}`.execute(this.db);
    return rows.map((r) => ({
      memberId: r.member_id,
      externalId: r.external_id,
      subAccountNo: r.sub_account_no,
      seq: BigInt(r.seq),
      availableMinor: BigInt(r.available),
      withdrawableMinor: BigInt(r.withdrawable),
      pendingMinor: BigInt(r.pending),
      spendableMinor: BigInt(r.spendable),
      frozenMinor: BigInt(r.frozen),
    }));
  }

  /** The day's movements between parties, in journal order: the day's entries, each with its movements. */
  async tradeRows(run: EodRunRow, after: { seq: bigint; position: number } | null, limit: number): Promise<TradeFileRow[]> {
    const { rows } = await sql<RawTrade>`
      select e.seq, t.position, t.entry_id, t.order_no, t.kind, t.payer_member_id, t.payee_member_id, t.amount, t.fee, e.occurred_at
      from ledger_entries e
      join trade_movements t on t.platform_id = e.platform_id and t.entry_id = e.id
      where e.platform_id = ${run.platformId}::uuid
        and e.seq >= ${(after?.seq ?? run.previousLastSeq + 1n).toString()}::int8 and e.seq <= ${run.lastSeq.toString()}::int8
        and (e.seq, t.position) > (${(after?.seq ?? 0n).toString()}::int8, ${after?.position ?? 0})
      order by e.seq, t.position limit ${limit}`.execute(this.db);
    return rows.map((r) => ({
      seq: BigInt(r.seq),
      position: r.position,
      entryId: r.entry_id,
      orderNo: r.order_no,
      kind: r.kind,
      payerMemberId: r.payer_member_id,
      payeeMemberId: r.payee_member_id,
      amountMinor: BigInt(r.amount),
      feeMinor: BigInt(r.fee),
      occurredAtMs: r.occurred_at.getTime(),
    }));
  }

  /** The day's succeeded payins, in journal order. */
  async rechargeRows(run: EodRunRow, after: { seq: bigint; id: Id } | null, limit: number, fromMs: number, endMs: number): Promise<RechargeFileRow[]> {
    const { rows } = await sql<RawRecharge>`
      select e.seq, y.id, y.order_no, y.member_id, y.amount, y.channel, y.channel_txn_id, e.occurred_at
      from payins y
      join ledger_entries e on e.platform_id = y.platform_id and e.id = y.entry_id
      where y.platform_id = ${run.platformId}::uuid and y.status = 'succeeded'
        and y.decided_at >= ${new Date(fromMs)} and y.decided_at < ${new Date(endMs)}
        and e.seq > ${run.previousLastSeq.toString()}::int8 and e.seq <= ${run.lastSeq.toString()}::int8
        and (e.seq, y.id) > (${(after?.seq ?? 0n).toString()}::int8, ${after?.id ?? '00000000-0000-0000-0000-000000000000'}::uuid)
      order by e.seq, y.id limit ${limit}`.execute(this.db);
    return rows.map((r) => ({
      seq: BigInt(r.seq),
      id: r.id,
      orderNo: r.order_no,
      memberId: r.member_id,
      amountMinor: BigInt(r.amount),
      channel: r.channel,
      channelTxnId: r.channel_txn_id,
      occurredAtMs: r.occurred_at.getTime(),
    }));
  }

  /** Each withdrawal that changed during the day, as it stood at the day's end. */
  async withdrawalRows(platformId: Id, startMs: number, endMs: number, afterEventId: Id | null, limit: number): Promise<WithdrawalFileRow[]> {
    const { rows } = await sql<{ id: string; data: Record<string, unknown>; created_at: Date }>`
      with last_of_day as (
        select distinct on (v.object_id) v.id, v.data, v.created_at
        from object_events v
        where v.platform_id = ${platformId}::uuid and v.object_type = 'withdrawal' and v.created_at < ${new Date(endMs)}
          and v.object_id in (
            select id from withdrawals where platform_id = ${platformId}::uuid and updated_at >= ${new Date(startMs)})
        order by v.object_id, v.sequence desc
      )
      select id, data, created_at from last_of_day
      where created_at >= ${new Date(startMs)} and id > ${afterEventId ?? '00000000-0000-0000-0000-000000000000'}::uuid
      order by id limit ${limit}`.execute(this.db);
    return rows.map((r) => ({ eventId: r.id, data: r.data, occurredAtMs: r.created_at.getTime() }));
  }

  /** Closes a year from its closed days, replacing nothing once done. */
  async closeYear(platformId: Id, year: number, firstDate: string, lastDate: string, completedAtMs: number): Promise<YearEndRunRow> {
    return this.db.transaction().execute(async (trx) => {
      const existing = await sql<RawYearEnd>`
        select * from year_end_runs where platform_id = ${platformId}::uuid and year = ${year} for update`.execute(trx);
      if (existing.rows[0] !== undefined) return yearEndOf(existing.rows[0]);
      await sql`
        insert into year_end_balances (platform_id, year, account_id, code, member_id, opening_debits, opening_credits, debits, credits)
        select distinct on (d.account_id) d.platform_id, ${year}, d.account_id, d.code, d.member_id,
               d.opening_debits, d.opening_credits, y.debits, y.credits
        from account_day_balances d
        join (
          select account_id, sum(debits) as debits, sum(credits) as credits from account_day_balances
          where platform_id = ${platformId}::uuid and business_date between ${firstDate}::date and ${lastDate}::date
          group by account_id
        ) y using (account_id)
        where d.platform_id = ${platformId}::uuid and d.business_date between ${firstDate}::date and ${lastDate}::date
        order by d.account_id, d.business_date`.execute(trx);
      const { rows } = await sql<RawYearEnd>`
        insert into year_end_runs (platform_id, year, first_date, last_date, accounts, debits, credits, completed_at)
        select ${platformId}::uuid, ${year}, ${firstDate}::date, ${lastDate}::date, count(*),
               coalesce(sum(debits), 0), coalesce(sum(credits), 0), ${new Date(completedAtMs)}
        from year_end_balances where platform_id = ${platformId}::uuid and year = ${year}
        returning *`.execute(trx);
      const run = rows[0];
      if (run === undefined) throw new Error('the year-end run was not recorded');
      return yearEndOf(run);
    });
  }

  async yearEndRun(platformId: Id, year: number): Promise<YearEndRunRow | undefined> {
    const { rows } = await sql<RawYearEnd>`
      select * from year_end_runs where platform_id = ${platformId}::uuid and year = ${year}`.execute(this.db);
    return rows[0] === undefined ? undefined : yearEndOf(rows[0]);
  }

  async yearEndBalances(platformId: Id, year: number, afterAccountId: Id | null, limit: number): Promise<AccountDayRow[]> {
    const { rows } = await sql<RawAccountDay>`
      select account_id, code, member_id, opening_debits, opening_credits, debits, credits
      from year_end_balances where platform_id = ${platformId}::uuid and year = ${year}
        and account_id > ${afterAccountId ?? '00000000-0000-0000-0000-000000000000'}::uuid
      order by account_id limit ${limit}`.execute(this.db);
    return rows.map(accountDayOf);
  }

  /** Members' year: their accounts' rows with the member's numbers, a page of members at a time. */
  async yearEndMembers(
    platformId: Id,
    year: number,
    afterSeq: bigint,
    limit: number,
  ): Promise<{ seq: bigint; memberId: Id; externalId: string; subAccountNo: string; accounts: AccountDayRow[] }[]> {
    const { rows } = await sql<RawAccountDay & { seq: bigint; external_id: string; sub_account_no: string }>`
      with page as (
        select id, seq, external_id, sub_account_no from members
        where platform_id = ${platformId}::uuid and seq > ${afterSeq.toString()}::int8 order by seq limit ${limit}
      )
      select page.seq, page.external_id, page.sub_account_no, b.account_id, b.code, b.member_id,
             b.opening_debits, b.opening_credits, b.debits, b.credits
      from page join year_end_balances b on b.platform_id = ${platformId}::uuid and b.year = ${year} and b.member_id = page.id
      order by page.seq, b.code`.execute(this.db);
    const out: { seq: bigint; memberId: Id; externalId: string; subAccountNo: string; accounts: AccountDayRow[] }[] = [];
    for (const row of rows) {
      let last = out[out.length - 1];
      const seq = BigInt(row.seq);
      if (last === undefined || last.seq !== seq) {
        last = { seq, memberId: row.member_id ?? '', externalId: row.external_id, subAccountNo: row.sub_account_no, accounts: [] };
        out.push(last);
      }
      last.accounts.push(accountDayOf(row));
    }
    return out;
  }

  async raiseAlert(alert: AlertRow): Promise<void> {
    await sql`
      insert into alerts (id, platform_id, kind, message, detail, created_at)
      values (${alert.id}::uuid, ${alert.platformId}::uuid, ${alert.kind}, ${alert.message},
              ${JSON.stringify(alert.detail ?? {})}::jsonb, ${new Date(alert.createdAtMs)})`.execute(this.db);
  }

  async alerts(platformId: Id | undefined, limit: number, beforeId?: Id): Promise<AlertRow[]> {
    const { rows } = await sql<{ id: string; platform_id: string | null; kind: string; message: string; detail: unknown; created_at: Date }>`
      select * from alerts
      where (${platformId ?? null}::uuid is null or platform_id = ${platformId ?? null}::uuid)
        and id < ${beforeId ?? 'ffffffff-ffff-ffff-ffff-ffffffffffff'}::uuid
      order by id desc limit ${limit}`.execute(this.db);
    return rows.map((r) => ({ id: r.id, platformId: r.platform_id, kind: r.kind, message: r.message, detail: r.detail, createdAtMs: r.created_at.getTime() }));
  }
}

interface RawRun {
  platform_id: string;
  business_date: string;
  status: EodStatus;
  previous_last_seq: bigint;
  last_seq: bigint;
  verified_seq: bigint | null;
  verified_hash: string | null;
  settled_amount: bigint;
  settlement_basis: SettlementBasis;
  converted_members: number;
  converted_amount: bigint;
  invariants: unknown;
  error: string | null;
  started_at: Date;
  completed_at: Date | null;
}

function runOf(r: RawRun): EodRunRow {
  return {
    platformId: r.platform_id,
    businessDate: r.business_date,
    status: r.status,
    previousLastSeq: BigInt(r.previous_last_seq),
    lastSeq: BigInt(r.last_seq),
    verifiedSeq: r.verified_seq === null ? null : BigInt(r.verified_seq),
    verifiedHash: r.verified_hash,
    settledMinor: BigInt(r.settled_amount),
    settlementBasis: r.settlement_basis,
    convertedMembers: r.converted_members,
    convertedMinor: BigInt(r.converted_amount),
    invariants: r.invariants,
    error: r.error,
    startedAtMs: r.started_at.getTime(),
    completedAtMs: r.completed_at === null ? null : r.completed_at.getTime(),
  };
}

interface RawAccountDay {
  account_id: string;
  code: string;
  member_id: string | null;
  opening_debits: bigint;
  opening_credits: bigint;
  debits: bigint;
  credits: bigint;
}

function accountDayOf(r: RawAccountDay): AccountDayRow {
  return {
    accountId: r.account_id,
    code: r.code,
    memberId: r.member_id,
    openingDebitsMinor: BigInt(r.opening_debits),
    openingCreditsMinor: BigInt(r.opening_credits),
    debitsMinor: BigInt(r.debits),
    creditsMinor: BigInt(r.credits),
  };
}

interface RawMemberDay {
  member_id: string;
  external_id: string;
  sub_account_no: string;
  seq: bigint;
  available: bigint;
  withdrawable: bigint;
  pending: bigint;
  spendable: bigint;
  frozen: bigint;
}

interface RawTrade {
  seq: bigint;
  position: number;
  entry_id: string;
  order_no: string;
  kind: string;
  payer_member_id: string | null;
  payee_member_id: string | null;
  amount: bigint;
  fee: bigint;
  occurred_at: Date;
}

interface RawRecharge {
  seq: bigint;
  id: string;
  order_no: string;
  member_id: string | null;
  amount: bigint;
  channel: string;
  channel_txn_id: string | null;
  occurred_at: Date;
}

interface RawYearEnd {
  platform_id: string;
  year: number;
  first_date: string;
  last_date: string;
  accounts: number | bigint;
  debits: bigint;
  credits: bigint;
  completed_at: Date;
}

function yearEndOf(r: RawYearEnd): YearEndRunRow {
  return {
    platformId: r.platform_id,
    year: r.year,
    firstDate: r.first_date,
    lastDate: r.last_date,
    accounts: Number(r.accounts),
    debitsMinor: BigInt(r.debits),
    creditsMinor: BigInt(r.credits),
    completedAtMs: r.completed_at.getTime(),
  };
}
