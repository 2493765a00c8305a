import { sql } from 'kysely';
import type { Kysely, RawBuilder, Transaction } from 'kysely';
import type { Id } from '../ledger/index.js';
import type { Database } from './database.js';
import { plainArray, textArray } from './pg-array.js';
import { isUniqueViolation } from './pg-errors.js';

/**
 * Reconciliation's own tables (migrations/0005_reconciliation.sql) and the batched reads of
 * our payins, withdrawals and bank credits that an import makes, one query per chunk. These
 * rows are not guarded by book commands: an import moves no money by itself.
 */

export type BreakKind = 'long' | 'short' | 'amount_mismatch' | 'status_mismatch';
export type BreakResolutionKind = 'explained' | 'adjusted' | 'recorded';
export type ObjectType = 'payin' | 'withdrawal' | 'withdrawal_return' | 'bank_credit';
export type MatchOutcome = 'matched' | 'amount_mismatch' | 'status_mismatch' | 'recorded';
export type ReconciliationStatus = 'importing' | 'completed' | 'failed';

export interface ReconciliationRow {
  readonly platform_id: Id;
  readonly id: Id;
  readonly source: string;
  readonly business_date: string;
  readonly status: ReconciliationStatus;
  readonly lines: bigint;
  readonly matched: bigint;
  readonly breaks: bigint;
  readonly breaks_long: bigint;
  readonly breaks_short: bigint;
  readonly breaks_amount_mismatch: bigint;
  readonly breaks_status_mismatch: bigint;
  readonly detail: string | null;
  readonly created_by: string;
  readonly created_at: Date;
  readonly updated_at: Date;
  readonly completed_at: Date | null;
}

export interface BreakRow {
  readonly platform_id: Id;
  readonly id: Id;
  readonly reconciliation_id: Id;
  readonly kind: BreakKind;
  readonly txn_id: string | null;
  readonly order_no: string | null;
  readonly line_no: bigint | null;
  readonly object_type: ObjectType | null;
  readonly object_id: Id | null;
  readonly expected_amount: bigint | null;
  readonly actual_amount: bigint | null;
  readonly expected_status: string | null;
  readonly actual_status: string | null;
  readonly detail: string | null;
  readonly resolution: BreakResolutionKind | null;
  readonly resolution_note: string | null;
  readonly adjustment_id: Id | null;
  readonly resolved_by: string | null;
  readonly resolved_at: Date | null;
}

/** A break as an import writes it (unresolved, or recorded). */
export interface NewBreak {
  readonly id: Id;
  readonly kind: BreakKind;
  readonly txnId: string | null;
  readonly orderNo: string | null;
  readonly lineNo: number | null;
  readonly objectType: ObjectType | null;
  readonly objectId: Id | null;
  readonly expectedAmountMinor: bigint | null;
  readonly actualAmountMinor: bigint | null;
  readonly expectedStatus: string | null;
  readonly actualStatus: string | null;
  readonly detail: string | null;
}

/** Our record a line named. */
export interface NewMatch {
  readonly objectType: ObjectType;
  readonly objectId: Id;
  readonly lineNo: number;
  readonly outcome: MatchOutcome;
  readonly decidedAtMs: number | null;
}

export interface StagedCredit {
  readonly txnId: string;
  readonly lineNo: number;
  readonly amountMinor: bigint;
  readonly counterpartyAccount: string;
  readonly counterpartyName: string;
  readonly memo: string;
}

/** One of our records as an import compares it with a line. */
export interface OurRecord {
  readonly objectType: 'payin' | 'withdrawal' | 'bank_credit';
  readonly objectId: Id;
  /** channel_txn_id, rail_txn_id or bank_txn_id. */
  readonly key: string;
  readonly amountMinor: bigint;
  readonly status: string;
  readonly orderNo: string | null;
  readonly decidedAtMs: number | null;
  readonly returnedAtMs: number | null;
}

export interface NewReconciliation {
  readonly platformId: Id;
  readonly id: Id;
  readonly source: string;
  readonly businessDate: string;
  readonly createdBy: string;
  readonly nowMs: number;
}

/** What closing an import needs: the date's bounds in instants, its neighbours, the window. */
export interface CompleteImport {
  readonly platformId: Id;
  readonly id: Id;
  readonly source: string;
  readonly lines: number;
  readonly startMs: number;
  readonly endMs: number;
  readonly previousDate: string;
  readonly nextDate: string;
  readonly windowMs: number;
  readonly nowMs: number;
  /** The millisecond of the shorts' ids: after every break of the file. */
  readonly idMs: number;
  /** The note written on a neighbouring day's short that this file explains. */
  readonly neighbourNote: string;
  readonly neighbourActor: string;
}

export interface Resolve {
  readonly resolution: 'explained' | 'adjusted';
  readonly note: string | null;
  readonly adjustmentId: Id | null;
  readonly actor: string;
  readonly nowMs: number;
}

type Db = Kysely<Database>;

/** A withdrawal's return shows on the bank statement as its rail_txn_id with this suffix. */
export const returnSuffix = '_rt';

const reconciliationColumns = sql.raw(
  `platform_id, id, source, business_date, status, lines, matched, breaks, breaks_long, breaks_short,
   breaks_amount_mismatch, breaks_status_mismatch, detail, created_by, created_at, updated_at, completed_at`,
);
const breakColumns = sql.raw(
  `platform_id, id, reconciliation_id, kind, txn_id, order_no, line_no, object_type, object_id, expected_amount,
   actual_amount, expected_status, actual_status, detail, resolution, resolution_note, adjustment_id, resolved_by, resolved_at`,
);

/** A UUIDv7 made by the database at `nowMs` (for rows made by insert … select). */
function uuidV7At(nowMs: number): RawBuilder<string> {
  return sql<string>`encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) placing substring(int8send(${nowMs}::int8) from 3) from 1 for 6), 52, 1), 53, 1), 'hex')::uuid`;
}

function isoOrNull(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

function msOf(value: Date | null): number | null {
  return value === null ? null : value.getTime();
}

/** Our records in id order: should two share a key, the oldest wins, every time. */
function byObjectId(a: OurRecord, b: OurRecord): number {
  return a.objectId < b.objectId ? -1 : a.objectId > b.objectId ? 1 : 0;
}

export class SqlReconciliationStore {
  constructor(private readonly db: Db) {}

  static on(ledgerKysely: Kysely<Database>): SqlReconciliationStore {
    return new SqlReconciliationStore(ledgerKysely);
  }

  // Imports.

  /**
   * Marks `importing` reconciliations of the platform and source with no progress since
   * `staleBeforeMs` as failed (a crashed import), keeping only their recorded breaks.
   */
  async failStale(platformId: Id, source: string, staleBeforeMs: number, nowMs: number): Promise<number> {
    const { rows } = await sql<{ id: string }>`
      update reconciliations set status = 'failed', detail = 'abandoned: the import stopped making progress', updated_at = ${new Date(nowMs)}
      where platform_id = ${platformId}::uuid and source = ${source} and status = 'importing' and updated_at < ${new Date(staleBeforeMs)}
      returning id`.execute(this.db);
    for (const row of rows) await this.dropWork(platformId, row.id, true);
    return rows.length;
  }

  /** Starts an import; false when another import of the platform and source is running. */
  async start(row: NewReconciliation): Promise<boolean> {
    try {
      await sql`
        insert into reconciliations (platform_id, id, source, business_date, status, created_by, created_at, updated_at)
        values (${row.platformId}::uuid, ${row.id}::uuid, ${row.source}, ${row.businessDate}::date, 'importing', ${row.createdBy},
                ${new Date(row.nowMs)}, ${new Date(row.nowMs)})`.execute(this.db);
      return true;
    } catch (error) {
      if (isUniqueViolation(error)) return false;
      throw error;
    }
  }

  /** The import running for a platform and source, if any. */
  async running(platformId: Id, source: string): Promise<Id | undefined> {
    const { rows } = await sql<{ id: string }>`
      select id from reconciliations where platform_id = ${platformId}::uuid and source = ${source} and status = 'importing'`.execute(this.db);
    return rows[0]?.id;
  }

  async touch(platformId: Id, id: Id, nowMs: number): Promise<void> {
    await sql`update reconciliations set updated_at = ${new Date(nowMs)} where platform_id = ${platformId}::uuid and id = ${id}::uuid`.execute(this.db);
  }

  /**
   * Our payins of a channel with these channel_txn_ids: one query for a whole chunk, one
   * index probe per id (a lateral subquery), whatever the table's statistics say.
   */
  async payinsByTxnId(platformId: Id, channel: string, txnIds: readonly string[]): Promise<OurRecord[]> {
    if (txnIds.length === 0) return [];
    const { rows } = await sql<{ id: string; key: string; amount: bigint; status: string; order_no: string; decided_at: Date | null }>`
      select p.id, p.channel_txn_id as key, p.amount, p.status, p.order_no, p.decided_at
      from unnest(${textArray(txnIds)}::text[]) as k(txn_id)
      cross join lateral (
        select id, channel_txn_id, amount, status, order_no, decided_at from payins
        where platform_id = ${platformId}::uuid and channel = ${channel} and channel_txn_id = k.txn_id
        limit 2) p`.execute(this.db);
    return rows
      .map((row) => ({
        objectType: 'payin' as const,
        objectId: row.id,
        key: row.key,
        amountMinor: row.amount,
        status: row.status,
        orderNo: row.order_no,
        decidedAtMs: msOf(row.decided_at),
        returnedAtMs: null,
      }))
      .sort(byObjectId);
  }

  /** Withdrawals by rail_txn_id and bank credits by bank_txn_id: one query for a whole chunk, probes by key. */
  async bankRecords(platformId: Id, railTxnIds: readonly string[], bankTxnIds: readonly string[]): Promise<OurRecord[]> {
    if (railTxnIds.length === 0 && bankTxnIds.length === 0) return [];
    const { rows } = await sql<{
      type: 'withdrawal' | 'bank_credit';
      id: string;
      key: string;
      amount: bigint;
      status: string;
      order_no: string | null;
      decided_at: Date | null;
      returned_at: Date | null;
    }>`
      select 'withdrawal' as type, w.id, w.rail_txn_id as key, w.amount, w.status, w.order_no, w.decided_at, w.returned_at
      from unnest(${textArray(railTxnIds)}::text[]) as k(txn_id)
      cross join lateral (
        select id, rail_txn_id, amount, status, order_no, decided_at, returned_at from withdrawals
        where platform_id = ${platformId}::uuid and rail_txn_id = k.txn_id
        limit 2) w
      union all
      select 'bank_credit' as type, b.id, b.bank_txn_id as key, b.amount, b.status, null as order_no, b.created_at as decided_at, null as returned_at
      from unnest(${textArray(bankTxnIds)}::text[]) as k(txn_id)
      cross join lateral (
        select id, bank_txn_id, amount, status, created_at from bank_credits
        where platform_id = ${platformId}::uuid and bank_txn_id = k.txn_id
        limit 2) b`.execute(this.db);
    return rows
      .map((row) => ({
        objectType: row.type,
        objectId: row.id,
        key: row.key,
        amountMinor: row.amount,
        status: row.status,
        orderNo: row.order_no,
        decidedAtMs: msOf(row.decided_at),
        returnedAtMs: msOf(row.returned_at),
      }))
      .sort(byObjectId);
  }

  /**
   * Records that the file named these records; returns the keys (`type:id`) that were new.
   * A key not returned was named by an earlier chunk of the same file.
   */
  async claimMatches(platformId: Id, reconciliationId: Id, matches: readonly NewMatch[]): Promise<Set<string>> {
    if (matches.length === 0) return new Set();
    const { rows } = await sql<{ object_type: string; object_id: string }>`
      insert into reconciliation_matches (platform_id, reconciliation_id, object_type, object_id, line_no, outcome, decided_at)
      select ${platformId}::uuid, ${reconciliationId}::uuid, u.object_type, u.object_id, u.line_no, u.outcome, u.decided_at
      from unnest(${textArray(matches.map((m) => m.objectType))}::text[], ${plainArray(matches.map((m) => m.objectId))}::uuid[],
                  ${plainArray(matches.map((m) => m.lineNo))}::int8[], ${textArray(matches.map((m) => m.outcome))}::text[],
                  ${textArray(matches.map((m) => isoOrNull(m.decidedAtMs)))}::timestamptz[])
           as u(object_type, object_id, line_no, outcome, decided_at)
      on conflict do nothing
      returning object_type, object_id`.execute(this.db);
    return new Set(rows.map((row) => `${row.object_type}:${row.object_id}`));
  }

  /** Stages unmatched credits; returns the bank_txn_ids that were new to this import. */
  async stageCredits(platformId: Id, reconciliationId: Id, credits: readonly StagedCredit[]): Promise<Set<string>> {
    if (credits.length === 0) return new Set();
    const { rows } = await sql<{ bank_txn_id: string }>`
      insert into reconciliation_staged_credits
        (platform_id, reconciliation_id, bank_txn_id, line_no, amount, counterparty_account, counterparty_name, memo)
      select ${platformId}::uuid, ${reconciliationId}::uuid, u.txn_id, u.line_no, u.amount, u.account, u.name, u.memo
      from unnest(${textArray(credits.map((c) => c.txnId))}::text[], ${plainArray(credits.map((c) => c.lineNo))}::int8[],
                  ${plainArray(credits.map((c) => c.amountMinor))}::int8[], ${textArray(credits.map((c) => c.counterpartyAccount))}::text[],
                  ${textArray(credits.map((c) => c.counterpartyName))}::text[], ${textArray(credits.map((c) => c.memo))}::text[])
           as u(txn_id, line_no, amount, account, name, memo)
      on conflict do nothing
      returning bank_txn_id`.execute(this.db);
    return new Set(rows.map((row) => row.bank_txn_id));
  }

  async insertBreaks(platformId: Id, reconciliationId: Id, breaks: readonly NewBreak[]): Promise<void> {
    if (breaks.length === 0) return;
    await sql`
      insert into reconciliation_breaks (platform_id, id, reconciliation_id, kind, txn_id, order_no, line_no, object_type, object_id,
                                         expected_amount, actual_amount, expected_status, actual_status, detail)
      select ${platformId}::uuid, u.id, ${reconciliationId}::uuid, u.kind, u.txn_id, u.order_no, u.line_no, u.object_type, u.object_id,
             u.expected_amount, u.actual_amount, u.expected_status, u.actual_status, u.detail
      from unnest(${plainArray(breaks.map((b) => b.id))}::uuid[], ${textArray(breaks.map((b) => b.kind))}::text[],
                  ${textArray(breaks.map((b) => b.txnId))}::text[], ${textArray(breaks.map((b) => b.orderNo))}::text[],
                  ${plainArray(breaks.map((b) => b.lineNo))}::int8[], ${textArray(breaks.map((b) => b.objectType))}::text[],
                  ${plainArray(breaks.map((b) => b.objectId))}::uuid[], ${plainArray(breaks.map((b) => b.expectedAmountMinor))}::int8[],
                  ${plainArray(breaks.map((b) => b.actualAmountMinor))}::int8[], ${textArray(breaks.map((b) => b.expectedStatus))}::text[],
                  ${textArray(breaks.map((b) => b.actualStatus))}::text[], ${textArray(breaks.map((b) => b.detail))}::text[])
           as u(id, kind, txn_id, order_no, line_no, object_type, object_id, expected_amount, actual_amount, expected_status, actual_status, detail)`.execute(
      this.db,
    );
  }

  /** Staged credits in file order, a page at a time. */
  async stagedCredits(platformId: Id, reconciliationId: Id, afterLineNo: number, limit: number): Promise<StagedCredit[]> {
    const { rows } = await sql<{ bank_txn_id: string; line_no: bigint; amount: bigint; counterparty_account: string; counterparty_name: string; memo: string }>`
      select bank_txn_id, line_no, amount, counterparty_account, counterparty_name, memo from reconciliation_staged_credits
      where platform_id = ${platformId}::uuid and reconciliation_id = ${reconciliationId}::uuid and line_no > ${afterLineNo}::int8
      order by line_no limit ${limit}`.execute(this.db);
    return rows.map((row) => ({
      txnId: row.bank_txn_id,
      lineNo: Number(row.line_no),
      amountMinor: row.amount,
      counterpartyAccount: row.counterparty_account,
      counterpartyName: row.counterparty_name,
      memo: row.memo,
    }));
  }

  /** A bank credit of ours with this bank_txn_id (recorded meanwhile, or by an import that crashed). */
  async bankCreditByTxnId(platformId: Id, bankTxnId: string): Promise<{ id: Id; created_at: Date } | undefined> {
    const { rows } = await sql<{ id: string; created_at: Date }>`
      select id, created_at from bank_credits where platform_id = ${platformId}::uuid and bank_txn_id = ${bankTxnId} order by id limit 1`.execute(this.db);
    return rows[0];
  }

  /** A staged credit now recorded as a bank credit: its break (resolved), its match, and the staged row gone, together. */
  async creditRecorded(
    platformId: Id,
    reconciliationId: Id,
    credit: StagedCredit,
    recorded: { readonly bankCreditId: Id; readonly createdAtMs: number; readonly breakId: Id; readonly detail: string; readonly actor: string; readonly nowMs: number },
  ): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await sql`
        insert into reconciliation_breaks (platform_id, id, reconciliation_id, kind, txn_id, line_no, object_type, object_id, actual_amount,
                                           actual_status, detail, resolution, resolution_note, resolved_by, resolved_at)
        values (${platformId}::uuid, ${recorded.breakId}::uuid, ${reconciliationId}::uuid, 'long', ${credit.txnId}, ${credit.lineNo}::int8,
                'bank_credit', ${recorded.bankCreditId}::uuid, ${credit.amountMinor}::int8, 'credited', ${recorded.detail}, 'recorded',
                ${recorded.detail}, ${recorded.actor}, ${new Date(recorded.nowMs)})`.execute(trx);
      await sql`
        insert into reconciliation_matches (platform_id, reconciliation_id, object_type, object_id, line_no, outcome, decided_at)
        values (${platformId}::uuid, ${reconciliationId}::uuid, 'bank_credit', ${recorded.bankCreditId}::uuid, ${credit.lineNo}::int8, 'recorded',
                ${new Date(recorded.createdAtMs)})
        on conflict do nothing`.execute(trx);
      await sql`
        delete from reconciliation_staged_credits
        where platform_id = ${platformId}::uuid and reconciliation_id = ${reconciliationId}::uuid and bank_txn_id = ${credit.txnId}`.execute(trx);
    });
  }

  /**
   * Closes an import in one transaction: our records of the date that the file never named
   * become shorts (unless a neighbouring day's file named them within the window), shorts of
   * neighbouring days that this file explains are resolved, counts are taken, and the
   * reconciliation is completed.
   */
  async complete(c: CompleteImport): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      if (c.source === 'bank') await this.insertBankShorts(trx, c);
      else await this.insertChannelShorts(trx, c, c.source.slice('channel:'.length));
      await this.resolveNeighbourShorts(trx, c);
      await sql`
        with break_counts as (
          select count(*) as breaks,
                 count(*) filter (where kind = 'long') as long,
                 count(*) filter (where kind = 'short') as short,
                 count(*) filter (where kind = 'amount_mismatch') as amount_mismatch,
                 count(*) filter (where kind = 'status_mismatch') as status_mismatch
          from reconciliation_breaks where platform_id = ${c.platformId}::uuid and reconciliation_id = ${c.id}::uuid
        ), match_counts as (
          select count(*) as matched from reconciliation_matches
          where platform_id = ${c.platformId}::uuid and reconciliation_id = ${c.id}::uuid and outcome = 'matched'
        )
        update reconciliations set status = 'completed', lines = ${c.lines}::int8, matched = match_counts.matched, breaks = break_counts.breaks,
               breaks_long = break_counts.long, breaks_short = break_counts.short, breaks_amount_mismatch = break_counts.amount_mismatch,
               breaks_status_mismatch = break_counts.status_mismatch, updated_at = ${new Date(c.nowMs)}, completed_at = ${new Date(c.nowMs)}
        from break_counts, match_counts
        where platform_id = ${c.platformId}::uuid and id = ${c.id}::uuid`.execute(trx);
      await sql`delete from reconciliation_staged_credits where platform_id = ${c.platformId}::uuid and reconciliation_id = ${c.id}::uuid`.execute(trx);
    });
  }

  /**
   * Joins that find whether the file named our record of `type` (`idColumn`, decided at
   * `atColumn`), or a neighbouring day's completed file of the same source named it while it
   * was decided within the window of this date's edges. Lateral subqueries with a limit are
   * probes by key whatever the planner believes: PGlite runs no autovacuum, so tables written
   * in bulk (the matches) are never analyzed, and a plan chosen on missing statistics can turn
   * a join quadratic.
   */
  private namedJoins(c: CompleteImport, type: string, idColumn: RawBuilder<unknown>, atColumn: RawBuilder<unknown>): RawBuilder<unknown> {
    return sql`
      left join lateral (
        select 1 as hit from reconciliation_matches m
        where m.platform_id = ${c.platformId}::uuid and m.reconciliation_id = ${c.id}::uuid and m.object_type = ${type} and m.object_id = ${idColumn}
        limit 1) named on true
      left join lateral (
        select 1 as hit from reconciliation_matches nm
        join reconciliations nr on nr.platform_id = nm.platform_id and nr.id = nm.reconciliation_id
        where (${atColumn} < ${new Date(c.startMs + c.windowMs)} or ${atColumn} >= ${new Date(c.endMs - c.windowMs)})
          and nm.platform_id = ${c.platformId}::uuid and nm.object_id = ${idColumn} and nm.object_type = ${type}
          and nr.source = ${c.source} and nr.status = 'completed' and nr.business_date in (${c.previousDate}::date, ${c.nextDate}::date)
        limit 1) neighbour on true`;
  }

  private async insertChannelShorts(trx: Transaction<Database>, c: CompleteImport, channel: string): Promise<void> {
    await sql`
      insert into reconciliation_breaks (platform_id, id, reconciliation_id, kind, txn_id, order_no, object_type, object_id, expected_amount,
                                         expected_status, detail)
      select p.platform_id, ${uuidV7At(c.idMs)}, ${c.id}::uuid, 'short', p.channel_txn_id, p.order_no, 'payin', p.id, p.amount, p.status,
             'Our payment, decided on this date; the file does not name it.'
      from payins p
      ${this.namedJoins(c, 'payin', sql.ref('p.id'), sql.ref('p.decided_at'))}
      where p.platform_id = ${c.platformId}::uuid and p.channel = ${channel} and p.status in ('succeeded', 'failed')
        and p.decided_at >= ${new Date(c.startMs)} and p.decided_at < ${new Date(c.endMs)}
        and named.hit is null and neighbour.hit is null`.execute(trx);
  }

  private async insertBankShorts(trx: Transaction<Database>, c: CompleteImport): Promise<void> {
    await sql`
      insert into reconciliation_breaks (platform_id, id, reconciliation_id, kind, txn_id, order_no, object_type, object_id, expected_amount,
                                         expected_status, detail)
      select w.platform_id, ${uuidV7At(c.idMs)}, ${c.id}::uuid, 'short', w.rail_txn_id, w.order_no, 'withdrawal', w.id, w.amount, w.status,
             'Our withdrawal, paid on this date; the file has no debit for it.'
      from withdrawals w
      ${this.namedJoins(c, 'withdrawal', sql.ref('w.id'), sql.ref('w.decided_at'))}
      where w.platform_id = ${c.platformId}::uuid and w.status in ('succeeded', 'returned')
        and w.decided_at >= ${new Date(c.startMs)} and w.decided_at < ${new Date(c.endMs)}
        and named.hit is null and neighbour.hit is null`.execute(trx);
    await sql`
      insert into reconciliation_breaks (platform_id, id, reconciliation_id, kind, txn_id, order_no, object_type, object_id, expected_amount,
                                         expected_status, detail)
      select w.platform_id, ${uuidV7At(c.idMs)}, ${c.id}::uuid, 'short', w.rail_txn_id || ${returnSuffix}, w.order_no, 'withdrawal_return', w.id,
             w.amount, w.status, 'Our withdrawal, returned on this date; the file has no credit for the return.'
      from withdrawals w
      ${this.namedJoins(c, 'withdrawal_return', sql.ref('w.id'), sql.ref('w.returned_at'))}
      where w.platform_id = ${c.platformId}::uuid and w.status = 'returned'
        and w.returned_at >= ${new Date(c.startMs)} and w.returned_at < ${new Date(c.endMs)}
        and named.hit is null and neighbour.hit is null`.execute(trx);
    await sql`
      insert into reconciliation_breaks (platform_id, id, reconciliation_id, kind, txn_id, object_type, object_id, expected_amount,
                                         expected_status, detail)
      select b.platform_id, ${uuidV7At(c.idMs)}, ${c.id}::uuid, 'short', b.bank_txn_id, 'bank_credit', b.id, b.amount, b.status,
             'Our bank credit, recorded on this date; the file has no credit for it.'
      from bank_credits b
      ${this.namedJoins(c, 'bank_credit', sql.ref('b.id'), sql.ref('b.created_at'))}
      where b.platform_id = ${c.platformId}::uuid and b.created_at >= ${new Date(c.startMs)} and b.created_at < ${new Date(c.endMs)}
        and named.hit is null and neighbour.hit is null`.execute(trx);
  }

  /** Open shorts of the neighbouring days' files for records this file named within the window. */
  private async resolveNeighbourShorts(trx: Transaction<Database>, c: CompleteImport): Promise<void> {
    await sql`
      update reconciliation_breaks
      set resolution = 'explained', resolution_note = ${c.neighbourNote}, resolved_by = ${c.neighbourActor}, resolved_at = ${new Date(c.nowMs)}
      where platform_id = ${c.platformId}::uuid and id in (
        select b.id from reconciliations r
        join reconciliation_breaks b on b.platform_id = r.platform_id and b.reconciliation_id = r.id
        cross join lateral (
          select 1 from reconciliation_matches m
          where m.platform_id = b.platform_id and m.reconciliation_id = ${c.id}::uuid and m.object_type = b.object_type and m.object_id = b.object_id
            and ((m.decided_at >= ${new Date(c.startMs - c.windowMs)} and m.decided_at < ${new Date(c.startMs)})
              or (m.decided_at >= ${new Date(c.endMs)} and m.decided_at < ${new Date(c.endMs + c.windowMs)}))
          limit 1) hit
        where r.platform_id = ${c.platformId}::uuid and r.source = ${c.source} and r.status = 'completed'
          and r.business_date in (${c.previousDate}::date, ${c.nextDate}::date)
          and b.kind = 'short' and b.resolution is null)`.execute(trx);
  }

  /** A refused file: everything of the import goes, the reconciliation too. */
  async discard(platformId: Id, id: Id): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await this.dropWorkIn(trx, platformId, id, false);
      await sql`delete from reconciliations where platform_id = ${platformId}::uuid and id = ${id}::uuid`.execute(trx);
    });
  }

  /** An import that stopped after money moved: failed, with only its recorded breaks kept. */
  async fail(platformId: Id, id: Id, detail: string, nowMs: number): Promise<void> {
    await sql`
      update reconciliations set status = 'failed', detail = ${detail}, updated_at = ${new Date(nowMs)}
      where platform_id = ${platformId}::uuid and id = ${id}::uuid`.execute(this.db);
    await this.dropWork(platformId, id, true);
  }

  private async dropWork(platformId: Id, id: Id, keepRecorded: boolean): Promise<void> {
    await this.db.transaction().execute((trx) => this.dropWorkIn(trx, platformId, id, keepRecorded));
  }

  private async dropWorkIn(trx: Transaction<Database>, platformId: Id, id: Id, keepRecorded: boolean): Promise<void> {
    await sql`delete from reconciliation_staged_credits where platform_id = ${platformId}::uuid and reconciliation_id = ${id}::uuid`.execute(trx);
    await sql`delete from reconciliation_matches where platform_id = ${platformId}::uuid and reconciliation_id = ${id}::uuid`.execute(trx);
    await sql`
      delete from reconciliation_breaks where platform_id = ${platformId}::uuid and reconciliation_id = ${id}::uuid
        and (${!keepRecorded}::boolean or resolution is distinct from 'recorded')`.execute(trx);
  }

  // Reads and resolutions.

  async reconciliation(id: Id): Promise<ReconciliationRow | undefined> {
    const { rows } = await sql<ReconciliationRow>`select ${reconciliationColumns} from reconciliations where id = ${id}::uuid`.execute(this.db);
    return rows[0];
  }

  async listReconciliations(platformId: Id | undefined, limit: number, afterId?: Id): Promise<ReconciliationRow[]> {
    const { rows } = await sql<ReconciliationRow>`
      select ${reconciliationColumns} from reconciliations
      where (${platformId ?? null}::uuid is null or platform_id = ${platformId ?? null}::uuid)
        and (${afterId ?? null}::uuid is null or id > ${afterId ?? null}::uuid)
      order by id limit ${limit}`.execute(this.db);
    return rows;
  }

  async breaks(platformId: Id, reconciliationId: Id, limit: number, afterId?: Id, resolved?: boolean): Promise<BreakRow[]> {
    const { rows } = await sql<BreakRow>`
      select ${breakColumns} from reconciliation_breaks
      where platform_id = ${platformId}::uuid and reconciliation_id = ${reconciliationId}::uuid
        and (${afterId ?? null}::uuid is null or id > ${afterId ?? null}::uuid)
        and (${resolved ?? null}::boolean is null or (resolution is not null) = ${resolved ?? null}::boolean)
      order by id limit ${limit}`.execute(this.db);
    return rows;
  }

  async breakById(id: Id): Promise<BreakRow | undefined> {
    const { rows } = await sql<BreakRow>`select ${breakColumns} from reconciliation_breaks where id = ${id}::uuid`.execute(this.db);
    return rows[0];
  }

  /** Resolves a break still open; undefined when someone resolved it first. */
  async resolveBreak(platformId: Id, id: Id, r: Resolve): Promise<BreakRow | undefined> {
    const { rows } = await sql<BreakRow>`
      update reconciliation_breaks set resolution = ${r.resolution}, resolution_note = ${r.note}, adjustment_id = ${r.adjustmentId}::uuid,
             resolved_by = ${r.actor}, resolved_at = ${new Date(r.nowMs)}
      where platform_id = ${platformId}::uuid and id = ${id}::uuid and resolution is null
      returning ${breakColumns}`.execute(this.db);
    return rows[0];
  }
}
