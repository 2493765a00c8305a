import type { Clock } from '../clock.js';
import { CustodyError } from '../errors.js';
import { newId } from '../ids.js';
import type { Id, LedgerStore } from '../ledger/index.js';
import { limits } from '../limits.js';
import type { AdjustmentRow } from '../storage/sql-withdrawal-store.js';
import { CommandDraft, refusalOf, runCommand } from './command-draft.js';
import type { Row } from './command-draft.js';
import type { PlatformService } from './platform-service.js';

export interface AdjustmentReads {
  adjustment(platformId: Id, id: Id): Promise<AdjustmentRow | undefined>;
  adjustmentById(id: Id): Promise<AdjustmentRow | undefined>;
  listAdjustments(platformId: Id | undefined, status: string | undefined, limit: number, afterId?: Id): Promise<AdjustmentRow[]>;
}

export interface ProposeAdjustment {
  readonly platformId: Id;
  readonly debitAccountId: Id;
  readonly creditAccountId: Id;
  readonly amountMinor: bigint;
  readonly reason: string;
}

/**
 * Manual adjustments (调账/补账) under maker-checker: one operator proposes, a second,
 * different approver applies it as one journal entry (or rejects it). Nothing moves on one
 * person's word.
 */
export class AdjustmentService {
  constructor(
    private readonly ledger: LedgerStore,
    private readonly reads: AdjustmentReads,
    private readonly platforms: PlatformService,
    private readonly clock: Clock,
  ) {}

  async propose(command: ProposeAdjustment, maker: string): Promise<AdjustmentRow> {
    await this.platforms.record(command.platformId);
    const reason = command.reason.trim();
    if (reason.length === 0 || reason.length > limits.adjustmentReasonLengthMax) {
      throw new CustodyError('invalid_request', `reason must be 1 to ${limits.adjustmentReasonLengthMax} characters.`, 'reason');
    }
    if (command.debitAccountId === command.creditAccountId) throw new CustodyError('invalid_request', 'The two accounts must differ.', 'credit_account_id');
    if (command.amountMinor > limits.amountMinorMax) throw new CustodyError('amount_exceeds_limit', 'The amount is above the limit.', 'amount');
    const found = new Set((await this.ledger.getAccounts(command.platformId, [command.debitAccountId, command.creditAccountId])).map((a) => a.id));
    if (!found.has(command.debitAccountId)) throw new CustodyError('not_found', "No such account on this platform's books.", 'debit_account_id');
    if (!found.has(command.creditAccountId)) throw new CustodyError('not_found', "No such account on this platform's books.", 'credit_account_id');
    return runCommand(this.ledger, command.platformId, async () => {
      const draft = new CommandDraft(command.platformId, this.clock.nowMs());
      const row = draft.insert('adjustments', {
        id: newId(draft.nowMs),
        debit_account_id: command.debitAccountId,
        credit_account_id: command.creditAccountId,
        amount: command.amountMinor,
        reason,
        status: 'pending_approval',
        maker,
        checker: null,
        decision_reason: null,
        entry_id: null,
        created_at: new Date(draft.nowMs),
        decided_at: null,
      });
      this.event(draft, row, 'adjustment.proposed', maker, reason);
      return { draft, done: () => row as AdjustmentRow };
    });
  }

  async approve(id: Id, checker: string): Promise<AdjustmentRow> {
    return this.decide(id, checker, 'applied', null);
  }

  async reject(id: Id, checker: string, reason: string | null): Promise<AdjustmentRow> {
    return this.decide(id, checker, 'rejected', reason);
  }

  private async decide(id: Id, checker: string, status: 'applied' | 'rejected', reason: string | null): Promise<AdjustmentRow> {
    const found = await this.byId(id);
    return runCommand(this.ledger, found.platform_id, async () => {
      const adjustment = await this.reads.adjustment(found.platform_id, id);
      if (adjustment === undefined) throw new CustodyError('not_found', 'No such adjustment.', 'id');
      if (adjustment.status !== 'pending_approval') throw new CustodyError('state_conflict', `The adjustment is ${adjustment.status} already.`);
      if (adjustment.maker === checker) throw new CustodyError('maker_cannot_approve', 'The operator who proposed an adjustment cannot decide it.');
      const draft = new CommandDraft(found.platform_id, this.clock.nowMs());
      if (status === 'applied') {
        await this.refuseOverdrawingTransit(adjustment);
        draft.entry = {
          id: newId(draft.nowMs),
          kind: 'posted',
          command: 'adjustment.applied',
          reference: `adj:${adjustment.id}`,
          actor: checker,
          postings: [{ debitAccountId: adjustment.debit_account_id, creditAccountId: adjustment.credit_account_id, amountMinor: adjustment.amount }],
        };
      }
      const row = draft.update('adjustments', adjustment as unknown as Row, {
        status,
        checker,
        decision_reason: reason,
        entry_id: draft.entry?.id ?? null,
        decided_at: new Date(draft.nowMs),
      });
      this.event(draft, row, `adjustment.${status}`, checker, reason);
      return {
        draft,
        done: (result) => {
          if (result.code !== 'ok') throw refusalOf(result.code, 'The debited account does not hold the amount.');
          return row as AdjustmentRow;
        },
      };
    });
  }

  /**
   * The withdrawal in-transit account carries no balance flag (a withdrawal's reservation
   * passes through it both ways in one entry), so the ledger cannot keep it from going below
   * zero; an adjustment may take out of it only what it holds.
   */
  private async refuseOverdrawingTransit(adjustment: AdjustmentRow): Promise<void> {
    const [debited] = await this.ledger.getAccounts(adjustment.platform_id, [adjustment.debit_account_id]);
    if (debited === undefined || debited.code !== 'withdrawal_in_transit') return;
    if (debited.creditsPostedMinor - debited.debitsPostedMinor - debited.debitsPendingMinor < adjustment.amount) {
      throw new CustodyError('insufficient_funds', 'The withdrawal in-transit account does not hold the amount.');
    }
  }

  async byId(id: Id): Promise<AdjustmentRow> {
    const adjustment = await this.reads.adjustmentById(id);
    if (adjustment === undefined) throw new CustodyError('not_found', 'No such adjustment.', 'id');
    return adjustment;
  }

  async list(platformId: Id | undefined, status: string | undefined, limit: number, afterId?: Id): Promise<AdjustmentRow[]> {
    return this.reads.listAdjustments(platformId, status, limit, afterId);
  }

  private event(draft: CommandDraft, row: Row, type: string, actor: string, reason: string | null): void {
    const { platform_id: _p, ...data } = row;
    draft.event({ objectType: 'adjustment', objectId: row.id, sequence: row.version, type, actor, reason, data });
  }
}
