import { formatYuan } from '../money.js';
import { randomInt } from 'node:crypto';
import type { IdentityVerifier } from '../channels/identity/identity-verifier.js';
import type { Clock } from '../clock.js';
import { CustodyError } from '../errors.js';
import { newId } from '../ids.js';
import type { Id, LedgerStore } from '../ledger/index.js';
import { limits } from '../limits.js';
import type { PiiVault } from '../security/pii-vault.js';
import type { ConsentRow, LotRow, TransferRow } from '../storage/sql-trade-store.js';
import { CommandDraft, refusalOf, runCommand, StaleRead } from './command-draft.js';
import type { Row } from './command-draft.js';
import type { MemberService } from './member-service.js';
import { checkOrderNo } from './order-service.js';
import type { PlatformService } from './platform-service.js';
import { addLot, takeLots } from './proceeds-lots.js';
import type { MemberRecord } from './records.js';
import { allocateFunding, pairPostings } from './trade-rules.js';
import type { Flow } from './trade-rules.js';

export interface TransferReads {
  businessKey(platformId: Id, orderNo: string): Promise<{ kind: string; object_id: string } | undefined>;
  transfer(platformId: Id, id: Id): Promise<TransferRow | undefined>;
  consents(platformId: Id, memberId: Id, sinceMs: number): Promise<ConsentRow[]>;
  lots(platformId: Id, memberId: Id, bucket: 'pending' | 'withdrawable'): Promise<LotRow[]>;
}

export type TransferPurpose = 'subsidy' | 'pay_to_platform' | 'same_name';

/** One end of a transfer: a member, or one of the platform's own accounts by name. */
export type TransferEnd = { readonly memberId: Id } | { readonly account: string };

export interface CreateTransfer {
  readonly orderNo: string;
  readonly purpose: TransferPurpose;
  readonly from: TransferEnd;
  readonly to: TransferEnd;
  readonly amountMinor: bigint;
  readonly smsCode?: string | undefined;
}

/** The sandbox's consent code (API.md); a real member receives one by SMS. */
export const sandboxConsentCode = '000000';

const notAllowed = (why: string) => new CustodyError('transfer_not_allowed', why);

/**
 * Platform-directed transfers, the only ways a platform moves money between sub-accounts
 * without a trade: subsidies from its marketing account, payments to it that the member
 * consented to by SMS, and moves between one person's merchant and ordinary sub-accounts.
 * Nothing else can move member money into the platform's own accounts.
 */
export class TransferService {
  constructor(
    private readonly ledger: LedgerStore,
    private readonly reads: TransferReads,
    private readonly platforms: PlatformService,
    private readonly members: MemberService,
    private readonly verifier: IdentityVerifier,
    private readonly vault: PiiVault,
    private readonly clock: Clock,
    private readonly sandbox: boolean,
  ) {}

  async create(platformId: Id, command: CreateTransfer, actor: string): Promise<TransferRow> {
    checkOrderNo(command.orderNo);
    if (command.amountMinor > limits.transferAmountMinorMax) throw new CustodyError('amount_exceeds_limit', 'The transfer is above the amount limit.', 'amount');
    const platform = await this.platforms.record(platformId);
    return runCommand(this.ledger, platformId, async () => {
      if ((await this.reads.businessKey(platformId, command.orderNo)) !== undefined) {
        throw new CustodyError('duplicate_order_no', 'This order_no was used before on this platform.', 'order_no');
      }
      const draft = new CommandDraft(platformId, this.clock.nowMs());
      const id = newId(draft.nowMs);
      const postings = await this.postings(draft, platform.accounts, command);
      draft.entry = { id: newId(draft.nowMs), kind: 'posted', command: `transfer.${command.purpose}`, reference: command.orderNo, actor, postings };
      draft.movement({
        kind: 'transfer',
        orderNo: command.orderNo,
        payerId: 'memberId' in command.from ? command.from.memberId : null,
        payeeId: 'memberId' in command.to ? command.to.memberId : null,
        amountMinor: command.amountMinor,
      });
      draft.businessKey(command.orderNo, 'transfer', id);
      const row = draft.insert('transfers', {
        id,
        order_no: command.orderNo,
        purpose: command.purpose,
        from_member_id: 'memberId' in command.from ? command.from.memberId : null,
        from_account: 'account' in command.from ? command.from.account : null,
        to_member_id: 'memberId' in command.to ? command.to.memberId : null,
        to_account: 'account' in command.to ? command.to.account : null,
        amount: command.amountMinor,
        status: 'succeeded',
        entry_id: draft.entry.id,
        created_at: new Date(draft.nowMs),
      });
      const { platform_id: _p, ...data } = row;
      draft.event({ objectType: 'transfer', objectId: id, sequence: 1, type: 'transfer.succeeded', actor, data });
      return {
        draft,
        done: (result) => {
          if (result.code !== 'ok') throw refusalOf(result.code, 'The account paying does not hold the amount.');
          return row as TransferRow;
        },
      };
    });
  }

  private async postings(draft: CommandDraft, accounts: { marketing: Id; fees: Id }, command: CreateTransfer) {
    switch (command.purpose) {
      case 'subsidy': {
        if (!('account' in command.from) || command.from.account !== 'marketing' || !('memberId' in command.to)) {
          throw notAllowed('A subsidy goes from "marketing" to a member.');
        }
        const member = await this.member(draft.platformId, command.to.memberId, 'to');
        return [{ debitAccountId: accounts.marketing, creditAccountId: member.accounts.member_spendable, amountMinor: command.amountMinor }];
      }
      case 'pay_to_platform': {
        if (!('memberId' in command.from) || !('account' in command.to) || command.to.account !== 'fees') {
          throw notAllowed('A payment to the platform goes from a member to "fees".');
        }
        const member = await this.member(draft.platformId, command.from.memberId, 'from');
        await this.consume(draft, member, command.amountMinor, command.smsCode);
        const sources = await this.spend(draft, member, command.amountMinor);
        return pairPostings(sources, [{ accountId: accounts.fees, amount: command.amountMinor }]);
      }
      case 'same_name': {
        if (!('memberId' in command.from) || !('memberId' in command.to)) throw notAllowed('A same-name transfer goes between two members.');
        const from = await this.member(draft.platformId, command.from.memberId, 'from');
        const to = await this.member(draft.platformId, command.to.memberId, 'to');
        if (from.id === to.id || from.idNumberHash !== to.idNumberHash || from.type !== to.type || from.property === to.property) {
          throw notAllowed("A same-name transfer moves money between one person's merchant and ordinary sub-accounts only.");
        }
        return this.sameName(draft, from, to, command.amountMinor);
      }
    }
  }

  private async member(platformId: Id, memberId: Id, param: string): Promise<MemberRecord> {
    return this.members.record(platformId, memberId).catch(() => {
      throw new CustodyError('not_found', 'No such member.', param);
    });
  }

  /** Spendable first, then withdrawable, then pending (lots spent oldest first). */
  private async spend(draft: CommandDraft, member: MemberRecord, amount: bigint): Promise<Flow[]> {
    const b = await this.members.balances(member);
    const from = allocateFunding(amount, { spendable: b.spendableMinor, withdrawable: b.withdrawableMinor, pending: b.pendingMinor });
    if (from === null) throw new CustodyError('insufficient_funds', "The member's available balance does not cover the amount.");
    for (const bucket of ['withdrawable', 'pending'] as const) {
      if (takeLots(draft, await this.reads.lots(member.platformId, member.id, bucket), from[bucket]) === null) {
        throw new StaleRead(`the ${bucket} lots of member ${member.id} do not cover its balance`);
      }
    }
    return [
      { accountId: member.accounts.member_spendable, amount: from.spendable },
      { accountId: member.accounts.member_withdrawable, amount: from.withdrawable },
      { accountId: member.accounts.member_pending, amount: from.pending },
    ];
  }

  /** Bucket for bucket: withdrawable first, then pending (keeping each lot's date), then spendable. */
  private async sameName(draft: CommandDraft, from: MemberRecord, to: MemberRecord, amount: bigint) {
    const b = await this.members.balances(from);
    let left = amount;
    const postings = [];
    for (const bucket of ['withdrawable', 'pending', 'spendable'] as const) {
      const have = bucket === 'withdrawable' ? b.withdrawableMinor : bucket === 'pending' ? b.pendingMinor : b.spendableMinor;
      const part = left < have ? left : have;
      if (part <= 0n) continue;
      left -= part;
      const code = `member_${bucket}` as const;
      postings.push({ debitAccountId: from.accounts[code], creditAccountId: to.accounts[code], amountMinor: part });
      if (bucket === 'spendable') continue;
      const taken = takeLots(draft, await this.reads.lots(from.platformId, from.id, bucket), part);
      if (taken === null) throw new StaleRead(`the ${bucket} lots of member ${from.id} do not cover its balance`);
      for (const lot of taken) addLot(draft, to.id, bucket, lot.amount, lot);
    }
    if (left > 0n) throw new CustodyError('insufficient_funds', "The member's available balance does not cover the amount.");
    return postings;
  }

  /** Sends a member a one-time code to consent to paying the platform `amount`. */
  async requestConsent(platformId: Id, memberId: Id, amountMinor: bigint, actor: string): Promise<{ id: Id; expiresAtMs: number; sandboxCode?: string }> {
    const member = await this.member(platformId, memberId, 'id');
    const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
    const nowMs = this.clock.nowMs();
    const id = newId(nowMs);
    const expiresAtMs = nowMs + limits.consentCodeTtlSeconds * 1000;
    await this.verifier.sendSms({
      requestId: `${id}:consent`,
      phone: this.members.personal(member).phone,
      text: `[Custos] Code ${code} authorises a payment of ${formatYuan(amountMinor)} to the platform. Expires in ${limits.consentCodeTtlSeconds / 60} minutes.`,
    });
    await runCommand(this.ledger, platformId, async () => {
      const draft = new CommandDraft(platformId, nowMs);
      draft.insert('consents', {
        id,
        member_id: memberId,
        purpose: 'pay_to_platform',
        amount: amountMinor,
        code_hash: this.vault.lookupHash('consent', `${id}:${code}`),
        expires_at: new Date(expiresAtMs),
        used_at: null,
        created_at: new Date(nowMs),
      });
      draft.event({ objectType: 'consent', objectId: id, sequence: 1, type: 'consent.requested', actor, data: { member_id: memberId, amount: amountMinor.toString() } });
      return { draft, done: () => undefined };
    });
    return this.sandbox ? { id, expiresAtMs, sandboxCode: code } : { id, expiresAtMs };
  }

  /** A valid, unused, unexpired code for this amount is used up by the transfer. */
  private async consume(draft: CommandDraft, member: MemberRecord, amount: bigint, smsCode: string | undefined): Promise<void> {
    if (smsCode === undefined) throw new CustodyError('consent_required', "A payment to the platform needs the member's SMS code.", 'sms_code');
    if (this.sandbox && smsCode === sandboxConsentCode) return;
    const since = draft.nowMs - limits.consentCodeTtlSeconds * 1000;
    for (const consent of await this.reads.consents(member.platformId, member.id, since)) {
      const matches = consent.code_hash === this.vault.lookupHash('consent', `${consent.id}:${smsCode}`);
      if (!matches || consent.used_at !== null || consent.expires_at.getTime() < draft.nowMs || consent.amount !== amount) continue;
      draft.update('consents', consent as unknown as Row, { used_at: new Date(draft.nowMs) });
      return;
    }
    throw new CustodyError('consent_required', 'The SMS code is wrong, used, expired or for another amount.', 'sms_code');
  }

  async get(platformId: Id, id: Id): Promise<TransferRow> {
    const transfer = await this.reads.transfer(platformId, id);
    if (transfer === undefined) throw new CustodyError('not_found', 'No such transfer.', 'id');
    return transfer;
  }
}
