import { businessDate } from '../business-date.js';
import type { Clock } from '../clock.js';
import { CustodyError } from '../errors.js';
import { newId } from '../ids.js';
import type { Id, LedgerStore } from '../ledger/index.js';
import { limits } from '../limits.js';
import type { PiiVault } from '../security/pii-vault.js';
import type { BankCreditRow, SuspenseRow } from '../storage/sql-trade-store.js';
import { CommandDraft, refusalOf, runCommand } from './command-draft.js';
import type { Row } from './command-draft.js';
import type { MemberService } from './member-service.js';
import type { PlatformService } from './platform-service.js';
import type { MemberRecord } from './records.js';

export interface SuspenseReads {
  suspenseItem(platformId: Id, id: Id): Promise<SuspenseRow | undefined>;
  listSuspense(platformId: Id, limit: number, afterId?: Id): Promise<SuspenseRow[]>;
  bankCredit(platformId: Id, id: Id): Promise<BankCreditRow | undefined>;
  memberBySubAccountNo(platformId: Id, subAccountNo: string): Promise<Id | undefined>;
}

export interface BankCredit {
  readonly amountMinor: bigint;
  readonly payerAccount: string;
  readonly payerName: string;
  readonly memo: string;
  /** The bank's own id for the credit (statement imports name it). */
  readonly bankTxnId?: string | undefined;
}

/**
 * Money that reaches the real custody account directly (a bank transfer): credited to the
 * member whose sub-account number the memo names, or held in suspense (挂账) until the
 * platform allocates it to a member or it is sent back, in whole or in part.
 */
export class SuspenseService {
  constructor(
    private readonly ledger: LedgerStore,
    private readonly reads: SuspenseReads,
    private readonly platforms: PlatformService,
    private readonly members: MemberService,
    private readonly vault: PiiVault,
    private readonly clock: Clock,
  ) {}

  async recordBankCredit(platformId: Id, credit: BankCredit, actor: string): Promise<BankCreditRow> {
    if (credit.amountMinor > limits.payinAmountMinorMax) throw new CustodyError('amount_exceeds_limit', 'The credit is above the amount limit.', 'amount');
    const platform = await this.platforms.record(platformId);
    const memberId = await this.memberNamedBy(platformId, credit.memo);
    const member = memberId === undefined ? undefined : await this.members.record(platformId, memberId);
    return runCommand(this.ledger, platformId, async () => {
      const draft = new CommandDraft(platformId, this.clock.nowMs());
      const id = newId(draft.nowMs);
      const suspenseId = member === undefined ? newId(draft.nowMs) : null;
      draft.entry = {
        id: newId(draft.nowMs),
        kind: 'posted',
        command: member === undefined ? 'bank_credit.suspense' : 'bank_credit.credited',
        reference: credit.bankTxnId,
        actor,
        postings: [
          {
            debitAccountId: platform.accounts.custody_summary,
            creditAccountId: member === undefined ? platform.accounts.suspense : member.accounts.member_spendable,
            amountMinor: credit.amountMinor,
          },
        ],
      };
      const row = draft.insert('bank_credits', {
        id,
        amount: credit.amountMinor,
        payer_account_enc: this.vault.encrypt(credit.payerAccount, `bank_credit:${platformId}:${id}:payer_account`),
        payer_account_hash: this.vault.lookupHash('bank_account', credit.payerAccount),
        payer_name_enc: this.vault.encrypt(credit.payerName, `bank_credit:${platformId}:${id}:payer_name`),
        memo: credit.memo,
        status: member === undefined ? 'suspense' : 'credited',
        member_id: member?.id ?? null,
        suspense_id: suspenseId,
        entry_id: draft.entry.id,
        bank_txn_id: credit.bankTxnId ?? null,
        business_date: businessDate(draft.nowMs),
        created_at: new Date(draft.nowMs),
      });
      draft.event({ objectType: 'bank_credit', objectId: id, sequence: 1, type: `bank_credit.${row.status as string}`, actor, data: publicCredit(row) });
      if (suspenseId !== null) {
        const item = draft.insert('suspense_items', {
          id: suspenseId,
          bank_credit_id: id,
          amount: credit.amountMinor,
          allocated: 0n,
          reversed: 0n,
          status: 'open',
          created_at: new Date(draft.nowMs),
          updated_at: new Date(draft.nowMs),
        });
        this.event(draft, item, 'suspense.opened', actor, null);
      }
      return {
        draft,
        done: (result) => {
          if (result.code !== 'ok') throw refusalOf(result.code, 'The credit could not be recorded.');
          return row as BankCreditRow;
        },
      };
    });
  }

  /** A 16-digit sub-account number in the memo, if it is one of this platform's members. */
  private async memberNamedBy(platformId: Id, memo: string): Promise<Id | undefined> {
    for (const candidate of memo.match(/\d{16}/g) ?? []) {
      const found = await this.reads.memberBySubAccountNo(platformId, candidate);
      if (found !== undefined) return found;
    }
    return undefined;
  }

  /** Gives (part of) a suspense item to a member's spendable bucket. */
  async allocate(platformId: Id, suspenseId: Id, memberId: Id, amountMinor: bigint | undefined, actor: string): Promise<SuspenseRow> {
    const member = await this.members.record(platformId, memberId).catch(() => {
      throw new CustodyError('not_found', 'No such member.', 'member_id');
    });
    return this.settle(platformId, suspenseId, amountMinor, actor, 'allocate', member);
  }

  /** Sends (part of) a suspense item back to whoever paid it. */
  async reverse(platformId: Id, suspenseId: Id, amountMinor: bigint | undefined, actor: string): Promise<SuspenseRow> {
    return this.settle(platformId, suspenseId, amountMinor, actor, 'reverse', null);
  }

  private async settle(
    platformId: Id,
    suspenseId: Id,
    amountMinor: bigint | undefined,
    actor: string,
    action: 'allocate' | 'reverse',
    member: MemberRecord | null,
  ): Promise<SuspenseRow> {
    const platform = await this.platforms.record(platformId);
    return runCommand(this.ledger, platformId, async () => {
      const item = await this.get(platformId, suspenseId);
      const left = item.amount - item.allocated - item.reversed;
      if (left === 0n) throw new CustodyError('suspense_not_open', 'Nothing is left of this suspense item.');
      const amount = amountMinor ?? left;
      if (amount > left) throw new CustodyError('suspense_not_open', `Only ${left} fen is left of this suspense item.`, 'amount');
      const draft = new CommandDraft(platformId, this.clock.nowMs());
      draft.entry = {
        id: newId(draft.nowMs),
        kind: 'posted',
        command: `suspense.${action}`,
        actor,
        postings: [
          {
            debitAccountId: platform.accounts.suspense,
            creditAccountId: member === null ? platform.accounts.custody_summary : member.accounts.member_spendable,
            amountMinor: amount,
          },
        ],
      };
      const allocated = item.allocated + (action === 'allocate' ? amount : 0n);
      const reversed = item.reversed + (action === 'reverse' ? amount : 0n);
      const settled = allocated + reversed === item.amount;
      const status = !settled ? 'open' : reversed === 0n ? 'allocated' : allocated === 0n ? 'reversed' : 'settled';
      const updated = draft.update('suspense_items', item as unknown as Row, { allocated, reversed, status, updated_at: new Date(draft.nowMs) });
      this.event(draft, updated, action === 'allocate' ? 'suspense.allocated' : 'suspense.reversed', actor, member === null ? null : `to member ${member.id}`);
      return {
        draft,
        done: (result) => {
          if (result.code !== 'ok') throw refusalOf(result.code, 'The suspense item could not be settled.');
          return updated as SuspenseRow;
        },
      };
    });
  }

  async get(platformId: Id, suspenseId: Id): Promise<SuspenseRow> {
    const item = await this.reads.suspenseItem(platformId, suspenseId);
    if (item === undefined) throw new CustodyError('not_found', 'No such suspense item.', 'id');
    return item;
  }

  async list(platformId: Id, limit: number, afterId?: Id): Promise<SuspenseRow[]> {
    return this.reads.listSuspense(platformId, limit, afterId);
  }

  private event(draft: CommandDraft, item: Row, type: string, actor: string, reason: string | null): void {
    const { platform_id: _p, ...data } = item;
    draft.event({ objectType: 'suspense', objectId: item.id, sequence: item.version, type, actor, reason, data });
  }
}

/** A bank credit as events show it: no payer account or name, even encrypted. */
function publicCredit(row: Row): Record<string, unknown> {
  const { platform_id: _p, payer_account_enc: _a, payer_account_hash: _h, payer_name_enc: _n, ...rest } = row;
  return rest;
}
