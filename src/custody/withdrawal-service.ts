import { businessDate, startOfBusinessDate } from '../business-date.js';
import type { Clock } from '../clock.js';
import { CustodyError } from '../errors.js';
import { newId } from '../ids.js';
import type { EntryInput, Id, LedgerStore } from '../ledger/index.js';
import { limits } from '../limits.js';
import type { LotRow } from '../storage/sql-trade-store.js';
import type { WithdrawalRow, WithdrawalSourceRow } from '../storage/sql-withdrawal-store.js';
import type { CardService } from './card-service.js';
import { CommandDraft, refusalOf, runCommand, StaleRead } from './command-draft.js';
import type { Row } from './command-draft.js';
import type { MemberService } from './member-service.js';
import { checkOrderNo } from './order-service.js';
import type { PlatformService } from './platform-service.js';
import { addLot, takeLots } from './proceeds-lots.js';
import type { MemberRecord, PlatformRecord } from './records.js';
import { evaluateRisk } from './risk-rules.js';
import type { RiskFacts, RiskOutcome, RiskRule } from './risk-rules.js';
import { consumeLots } from './trade-rules.js';

/** Trade reads a withdrawal needs: the business number's owner, the member's proceeds lots. */
export interface ProceedsReads {
  businessKey(platformId: Id, orderNo: string): Promise<{ kind: string; object_id: string } | undefined>;
  lots(platformId: Id, memberId: Id, bucket: 'pending' | 'withdrawable'): Promise<LotRow[]>;
}

export interface WithdrawalReads {
  withdrawal(platformId: Id, id: Id): Promise<WithdrawalRow | undefined>;
  withdrawalById(id: Id): Promise<WithdrawalRow | undefined>;
  listWithdrawals(platformId: Id, limit: number, afterId?: Id): Promise<WithdrawalRow[]>;
  held(platformId: Id | undefined, limit: number, afterId?: Id): Promise<WithdrawalRow[]>;
  memberWithdrawalsSince(platformId: Id, memberId: Id, sinceMs: number): Promise<WithdrawalRow[]>;
  platformTotalsOn(platformId: Id, businessDate: string): Promise<{ amount: bigint; count: number }>;
  sources(platformId: Id, withdrawalId: Id): Promise<WithdrawalSourceRow[]>;
  memberTradeCount(platformId: Id, memberId: Id): Promise<number>;
  orderBuyers(platformId: Id, orderIds: readonly Id[]): Promise<Map<Id, Id | null>>;
  riskRules(platformId: Id): Promise<RiskRule[]>;
  memberLinked(platformId: Id, memberId: Id): Promise<boolean>;
}

export interface CreateWithdrawal {
  readonly orderNo: string;
  readonly memberId: Id;
  readonly cardId: Id;
  readonly amountMinor: bigint;
}

/** A withdrawal's rail: real-time up to ¥50,000, above it the high-value rail. */
export function railFor(amountMinor: bigint): 'realtime' | 'high_value' {
  return amountMinor <= limits.realtimeRailAmountMinorMax ? 'realtime' : 'high_value';
}

/** The money's way out, reserved at once and posted when the rail pays: member → transitional account → custody account. */
export function withdrawalPostings(member: MemberRecord, platform: PlatformRecord, amountMinor: bigint) {
  return [
    { debitAccountId: member.accounts.member_withdrawable, creditAccountId: platform.accounts.withdrawal_in_transit, amountMinor },
    { debitAccountId: platform.accounts.withdrawal_in_transit, creditAccountId: platform.accounts.custody_summary, amountMinor },
  ];
}

/**
 * Money out (出金): a member takes settled proceeds to their own bound card. The checks run
 * in the order API.md gives (card, limits, balance, then risk); an allowed or held
 * withdrawal reserves its money at once with a pending entry, spending the member's oldest
 * proceeds first and recording which trades they came from (lineage).
 */
export class WithdrawalService {
  constructor(
    private readonly ledger: LedgerStore,
    private readonly reads: WithdrawalReads,
    private readonly proceeds: ProceedsReads,
    private readonly platforms: PlatformService,
    private readonly members: MemberService,
    private readonly cards: CardService,
    private readonly clock: Clock,
  ) {}

  async create(platformId: Id, command: CreateWithdrawal, actor: string): Promise<WithdrawalRow> {
    checkOrderNo(command.orderNo);
    const platform = await this.platforms.record(platformId);
    const member = await this.members.record(platformId, command.memberId).catch(() => {
      throw new CustodyError('not_found', 'No such member.', 'member_id');
    });
    const card = await this.cards.boundCard(platformId, member.id, command.cardId);
    if (command.amountMinor > limits.withdrawalAmountMinorMax) {
      throw new CustodyError('amount_exceeds_limit', `A withdrawal is at most ${limits.withdrawalAmountMinorMax} fen.`, 'amount');
    }
    return runCommand(this.ledger, platformId, async () => {
      if ((await this.proceeds.businessKey(platformId, command.orderNo)) !== undefined) {
        throw new CustodyError('duplicate_order_no', 'This order_no was used before on this platform.', 'order_no');
      }
      const balances = await this.members.balances(member);
      if (balances.availableMinor < command.amountMinor) throw new CustodyError('insufficient_funds', "The member's available balance does not cover the amount.", 'amount');
      if (balances.withdrawableMinor < command.amountMinor) {
        throw new CustodyError('withdrawal_not_allowed', 'Only settled trade proceeds may be withdrawn; recharged money and pending proceeds may not.', 'amount');
      }
      const draft = new CommandDraft(platformId, this.clock.nowMs());
      const lots = await this.proceeds.lots(platformId, member.id, 'withdrawable');
      const risk = evaluateRisk(await this.reads.riskRules(platformId), await this.facts(platform, member, card.boundAtMs ?? 0, command.amountMinor, lots, draft.nowMs));
      const row = this.draftCreate(draft, platform, member, { id: card.id, last4: card.last4 }, command, risk, lots, actor);
      return {
        draft,
        done: (result) => {
          if (result.code !== 'ok') throw refusalOf(result.code, 'The withdrawable balance no longer covers the amount.');
          return row as WithdrawalRow;
        },
      };
    });
  }

  private draftCreate(
    draft: CommandDraft,
    platform: PlatformRecord,
    member: MemberRecord,
    card: { id: Id; last4: string },
    command: CreateWithdrawal,
    risk: RiskOutcome,
    lots: readonly LotRow[],
    actor: string,
  ): Row {
    const id = newId(draft.nowMs);
    const rejected = risk.decision === 'reject';
    let reserveEntryId: Id | null = null;
    if (!rejected) {
      const entry: EntryInput = {
        id: newId(draft.nowMs),
        kind: 'pending',
        command: 'withdrawal.reserve',
        reference: command.orderNo,
        actor,
        postings: withdrawalPostings(member, platform, command.amountMinor),
      };
      draft.entry = entry;
      reserveEntryId = entry.id;
      const taken = takeLots(draft, lots, command.amountMinor);
      if (taken === null) throw new StaleRead(`the withdrawable lots of member ${member.id} do not cover its balance`);
      for (const lot of taken) {
        draft.insert('withdrawal_sources', {
          id: newId(draft.nowMs),
          withdrawal_id: id,
          lot_id: lot.lotId,
          order_id: lot.orderId,
          order_no: lot.orderNo,
          business_date: lot.businessDate,
          amount: lot.amount,
        });
      }
    }
    draft.businessKey(command.orderNo, 'withdrawal', id);
    const status = rejected ? 'rejected' : risk.decision === 'hold' ? 'held' : 'processing';
    const row = draft.insert('withdrawals', {
      id,
      order_no: command.orderNo,
      member_id: member.id,
      card_id: card.id,
      card_last4: card.last4,
      amount: command.amountMinor,
      fee: 0n,
      currency: 'CNY',
      rail: railFor(command.amountMinor),
      status,
      step: status === 'processing' ? 'reserved' : status === 'held' ? 'review' : 'done',
      risk_decision: risk.decision,
      risk_rules: risk.fired,
      reserve_entry_id: reserveEntryId,
      rail_txn_id: null,
      failure_reason: rejected ? 'rejected_by_risk_rules' : null,
      attempts: 0,
      next_attempt_at: status === 'processing' ? new Date(draft.nowMs) : null,
      watch_until: null,
      reviewed_by: null,
      review_reason: null,
      business_date: businessDate(draft.nowMs),
      created_at: new Date(draft.nowMs),
      updated_at: new Date(draft.nowMs),
      decided_at: rejected ? new Date(draft.nowMs) : null,
      returned_at: null,
    });
    this.event(draft, row, `withdrawal.${status === 'processing' ? 'created' : status}`, actor, rejected ? 'risk rules' : null);
    return row;
  }

  /** What the risk rules look at, gathered once per withdrawal. */
  private async facts(
    platform: PlatformRecord,
    member: MemberRecord,
    cardBoundAtMs: number,
    amountMinor: bigint,
    lots: readonly LotRow[],
    nowMs: number,
  ): Promise<RiskFacts> {
    const today = businessDate(nowMs);
    const dayStart = startOfBusinessDate(today);
    const windowMax = limits.riskLookbackSecondsMax * 1000;
    const recent = await this.reads.memberWithdrawalsSince(platform.id, member.id, Math.min(dayStart, nowMs - windowMax));
    const ofToday = recent.filter((w) => w.business_date === today);
    const platformToday = await this.reads.platformTotalsOn(platform.id, today);
    const taken = consumeLots(lots.map((lot) => ({ ...lot, businessDate: lot.business_date, createdAtMs: lot.created_at.getTime() })), amountMinor) ?? [];
    const buyers = await this.reads.orderBuyers(platform.id, taken.flatMap(({ lot }) => (lot.order_id === null ? [] : [lot.order_id])));
    return {
      amountMinor,
      nowMs,
      memberTodayAmountMinor: ofToday.reduce((sum, w) => sum + w.amount, 0n),
      memberTodayCount: ofToday.length,
      platformTodayAmountMinor: platformToday.amount,
      platformTodayCount: platformToday.count,
      memberRecentCount: (seconds) => recent.filter((w) => w.created_at.getTime() >= nowMs - seconds * 1000).length,
      cardBoundAtMs,
      linkedToPlatform:
        (platform.legalIdNumberHash !== null && platform.legalIdNumberHash === member.idNumberHash) ||
        (await this.reads.memberLinked(platform.id, member.id)),
      sources: taken.map(({ lot, amount }) => ({
        arrivedAtMs: lot.created_at.getTime(),
        counterparty: lot.order_id === null ? null : (buyers.get(lot.order_id) ?? null),
        amountMinor: amount,
      })),
      memberTradeCount: await this.reads.memberTradeCount(platform.id, member.id),
      memberTodayAmounts: ofToday.map((w) => w.amount),
    };
  }

  async get(platformId: Id, id: Id): Promise<WithdrawalRow> {
    const withdrawal = await this.reads.withdrawal(platformId, id);
    if (withdrawal === undefined) throw new CustodyError('not_found', 'No such withdrawal.', 'id');
    return withdrawal;
  }

  async byId(id: Id): Promise<WithdrawalRow> {
    const withdrawal = await this.reads.withdrawalById(id);
    if (withdrawal === undefined) throw new CustodyError('not_found', 'No such withdrawal.', 'id');
    return withdrawal;
  }

  async list(platformId: Id, limit: number, afterId?: Id): Promise<WithdrawalRow[]> {
    return this.reads.listWithdrawals(platformId, limit, afterId);
  }

  async reviews(platformId: Id | undefined, limit: number, afterId?: Id): Promise<WithdrawalRow[]> {
    return this.reads.held(platformId, limit, afterId);
  }

  /** The trades whose settled proceeds paid for the withdrawal, first in, first out, by order. */
  async lineage(platformId: Id, id: Id): Promise<{ orderId: Id | null; orderNo: string | null; amountMinor: bigint }[]> {
    const withdrawal = await this.get(platformId, id);
    const byOrder = new Map<string, { orderId: Id | null; orderNo: string | null; amountMinor: bigint }>();
    for (const source of await this.reads.sources(platformId, withdrawal.id)) {
      const key = source.order_id ?? `lot:${source.lot_id}`;
      const seen = byOrder.get(key);
      if (seen === undefined) byOrder.set(key, { orderId: source.order_id, orderNo: source.order_no, amountMinor: source.amount });
      else byOrder.set(key, { ...seen, amountMinor: seen.amountMinor + source.amount });
    }
    return [...byOrder.values()];
  }

  /** An approver lets a held withdrawal go on to the rail. */
  async approve(id: Id, reviewer: string, reason: string): Promise<WithdrawalRow> {
    const found = await this.byId(id);
    return runCommand(this.ledger, found.platform_id, async () => {
      const withdrawal = await this.get(found.platform_id, id);
      if (withdrawal.status !== 'held') throw new CustodyError('state_conflict', `The withdrawal is ${withdrawal.status}, not held.`);
      const draft = new CommandDraft(found.platform_id, this.clock.nowMs());
      const row = draft.update('withdrawals', withdrawal as unknown as Row, {
        status: 'processing',
        step: 'reserved',
        next_attempt_at: new Date(draft.nowMs),
        reviewed_by: reviewer,
        review_reason: reason,
        updated_at: new Date(draft.nowMs),
      });
      this.event(draft, row, 'withdrawal.approved', reviewer, reason);
      return { draft, done: () => row as WithdrawalRow };
    });
  }

  /** An approver rejects a held withdrawal: its reservation is voided and the proceeds return. */
  async reject(id: Id, reviewer: string, reason: string): Promise<WithdrawalRow> {
    const found = await this.byId(id);
    return runCommand(this.ledger, found.platform_id, async () => {
      const withdrawal = await this.get(found.platform_id, id);
      if (withdrawal.status !== 'held') throw new CustodyError('state_conflict', `The withdrawal is ${withdrawal.status}, not held.`);
      const draft = new CommandDraft(found.platform_id, this.clock.nowMs());
      const row = await this.release(draft, withdrawal, 'rejected', reason, reviewer, { reviewed_by: reviewer, review_reason: reason });
      this.event(draft, row, 'withdrawal.rejected', reviewer, reason);
      return {
        draft,
        done: (result) => {
          if (result.code !== 'ok') throw refusalOf(result.code, 'The reservation could not be released.');
          return row as WithdrawalRow;
        },
      };
    });
  }

  /**
   * Voids the reservation and gives the member back their proceeds lots (same orders, same
   * dates), for a rejected or failed withdrawal.
   */
  async release(
    draft: CommandDraft,
    withdrawal: WithdrawalRow,
    status: 'rejected' | 'failed',
    reason: string | null,
    actor: string,
    more: Record<string, unknown> = {},
  ): Promise<Row> {
    if (withdrawal.reserve_entry_id === null) throw new Error('a withdrawal without a reservation has nothing to release');
    draft.entry = { id: newId(draft.nowMs), kind: 'void_pending', pendingId: withdrawal.reserve_entry_id, postings: [], command: `withdrawal.${status}`, reference: withdrawal.order_no, actor };
    await this.restoreLots(draft, withdrawal);
    return draft.update('withdrawals', withdrawal as unknown as Row, {
      status,
      step: 'done',
      failure_reason: reason,
      next_attempt_at: null,
      decided_at: new Date(draft.nowMs),
      updated_at: new Date(draft.nowMs),
      ...more,
    });
  }

  /** The member's proceeds come back as they left: lot by lot, with their orders and dates. */
  async restoreLots(draft: CommandDraft, withdrawal: WithdrawalRow): Promise<void> {
    for (const source of await this.reads.sources(withdrawal.platform_id, withdrawal.id)) {
      addLot(draft, withdrawal.member_id, 'withdrawable', source.amount, {
        orderId: source.order_id,
        orderNo: source.order_no,
        businessDate: source.business_date,
      });
    }
  }

  event(draft: CommandDraft, row: Row, type: string, actor: string, reason: string | null): void {
    const { platform_id: _p, ...data } = row;
    draft.event({ objectType: 'withdrawal', objectId: row.id, sequence: row.version, type, actor, reason, data });
  }
}
