import type { Clock } from '../clock.js';
import { CustodyError } from '../errors.js';
import { newId } from '../ids.js';
import type { Account, AccountLine, Id, LedgerStore } from '../ledger/index.js';
import { limits } from '../limits.js';
import { maskIdNumber, maskName, maskPhone } from '../security/masking.js';
import type { PiiVault } from '../security/pii-vault.js';
import { memberCodesFor } from './chart-of-accounts.js';
import type { MemberAccountCode } from './chart-of-accounts.js';
import {
  isMainlandMobile,
  isResidentIdNumber,
  isUnifiedSocialCreditCode,
  luhnCheckDigit,
  normalizeIdNumber,
  normalizeMainlandMobile,
} from './identity-validators.js';
import type { PlatformService } from './platform-service.js';
import type { MemberProperty, MemberRecord, MemberType, NewMember, Page } from './records.js';

export interface MemberRepository {
  createMember(member: NewMember, subAccountNo: (platformNo: number, seq: bigint) => string): Promise<MemberRecord | 'duplicate_external_id'>;
  getMember(platformId: Id, id: Id): Promise<MemberRecord | undefined>;
  listMembers(
    platformId: Id,
    page: Page & { externalId?: string | undefined; idNumberHash?: string | undefined; phoneHash?: string | undefined },
  ): Promise<MemberRecord[]>;
}

/** What is escrowed in open orders, where escrow sits in the platform's guarantee account. */
export interface EscrowAsBuyer {
  escrowedAsBuyer(platformId: Id, memberId: Id): Promise<bigint>;
}

export interface OpenMember {
  readonly externalId: string;
  readonly name: string;
  readonly type: MemberType;
  readonly property?: MemberProperty | undefined;
  readonly idNumber: string;
  readonly phone: string;
}

/** The five buckets banks report (API.md "Balances"), in fen. */
export interface MemberBalances {
  readonly availableMinor: bigint;
  readonly withdrawableMinor: bigint;
  readonly pendingMinor: bigint;
  readonly spendableMinor: bigint;
  readonly frozenMinor: bigint;
}

export interface MemberView {
  readonly id: Id;
  readonly platformId: Id;
  readonly externalId: string;
  readonly subAccountNo: string;
  readonly type: MemberType;
  readonly property: MemberProperty;
  readonly status: MemberRecord['status'];
  readonly name: string;
  readonly idNumber: string;
  readonly phone: string;
  readonly createdAtMs: number;
  readonly balances: MemberBalances;
}

export type Bucket = 'spendable' | 'pending' | 'withdrawable' | 'frozen';

/** One line of a member's statement: a movement of one bucket and the bucket after it. */
export interface StatementLine {
  readonly seq: bigint;
  readonly postingIndex: number;
  readonly bucket: Bucket;
  readonly entryId: Id;
  readonly occurredAtMs: number;
  readonly kind: string;
  readonly orderNo: string | null;
  /** Signed: positive when money comes to the member. */
  readonly amountMinor: bigint;
  readonly balanceAfterMinor: bigint;
}

const bucketOf: Record<MemberAccountCode, Bucket> = {
  member_spendable: 'spendable',
  member_pending: 'pending',
  member_withdrawable: 'withdrawable',
  member_frozen: 'frozen',
};

const externalIdPattern = /^[A-Za-z0-9_.:@-]+$/;

/** A bucket's value: what it holds minus what is reserved to leave it (withdrawals in flight). */
function bucketValue(account: Account | undefined): bigint {
  if (account === undefined) return 0n;
  return account.creditsPostedMinor - account.debitsPostedMinor - account.debitsPendingMinor;
}

/** 16 digits: the platform's four, the member's eleven, and a Luhn check digit. */
export function subAccountNumber(platformNo: number, seq: bigint): string {
  const body = `${String(platformNo).padStart(4, '0')}${seq.toString().padStart(11, '0')}`;
  return `${body}${luhnCheckDigit(body)}`;
}

/** Member sub-accounts (会员子账户): opening, balances and statements. */
export class MemberService {
  constructor(
    private readonly repository: MemberRepository,
    private readonly platforms: PlatformService,
    private readonly ledger: LedgerStore,
    private readonly vault: PiiVault,
    private readonly clock: Clock,
    private readonly escrows: EscrowAsBuyer,
  ) {}

  async open(platformId: Id, command: OpenMember): Promise<MemberView> {
    const platform = await this.platforms.record(platformId);
    const checked = this.check(command);
    const nowMs = this.clock.nowMs();
    const id = newId(nowMs);
    const context = (field: string) => `member:${platformId}:${id}:${field}`;
    const accounts = Object.fromEntries(memberCodesFor(platform.escrowMode).map((code) => [code, newId(nowMs)]));
    const created = await this.repository.createMember(
      {
        platformId,
        id,
        externalId: command.externalId,
        type: command.type,
        property: command.property ?? 'ordinary',
        nameEnc: this.vault.encrypt(checked.name, context('name')),
        idNumberEnc: this.vault.encrypt(checked.idNumber, context('id_number')),
        idNumberHash: this.vault.lookupHash('id_number', checked.idNumber),
        phoneEnc: this.vault.encrypt(checked.phone, context('phone')),
        phoneHash: this.vault.lookupHash('phone', checked.phone),
        accounts: accounts as MemberRecord['accounts'],
        createdAtMs: nowMs,
      },
      subAccountNumber,
    );
    if (created === 'duplicate_external_id') {
      throw new CustodyError('duplicate_external_id', 'A member with this external_id exists already.', 'external_id');
    }
    return this.view(created);
  }

  async get(platformId: Id, memberId: Id): Promise<MemberView> {
    return this.view(await this.record(platformId, memberId));
  }

  async record(platformId: Id, memberId: Id): Promise<MemberRecord> {
    const member = await this.repository.getMember(platformId, memberId);
    if (member === undefined) throw new CustodyError('not_found', 'No such member.', 'id');
    return member;
  }

  /** Members by page, optionally found by external id, ID number or phone (by keyed hash: nothing is decrypted to search). */
  async list(
    platformId: Id,
    page: Page & { externalId?: string | undefined; idNumber?: string | undefined; phone?: string | undefined },
  ): Promise<MemberView[]> {
    const members = await this.repository.listMembers(platformId, {
      limit: page.limit,
      afterId: page.afterId,
      externalId: page.externalId,
      idNumberHash: page.idNumber === undefined ? undefined : this.vault.lookupHash('id_number', normalizeIdNumber(page.idNumber)),
      phoneHash: page.phone === undefined ? undefined : this.vault.lookupHash('phone', normalizeMainlandMobile(page.phone)),
    });
    return Promise.all(members.map((m) => this.view(m)));
  }

  /** Personal data in clear, for the services that must send it to a provider. */
  personal(member: MemberRecord): { name: string; idNumber: string; phone: string } {
    const context = (field: string) => `member:${member.platformId}:${member.id}:${field}`;
    return {
      name: this.vault.decrypt(member.nameEnc, context('name')),
      idNumber: this.vault.decrypt(member.idNumberEnc, context('id_number')),
      phone: this.vault.decrypt(member.phoneEnc, context('phone')),
    };
  }

  async balances(member: MemberRecord): Promise<MemberBalances> {
    const ids = Object.values(member.accounts).filter((id): id is Id => id !== undefined);
    const accounts = new Map((await this.ledger.getAccounts(member.platformId, ids)).map((a) => [a.id, a]));
    const value = (code: MemberAccountCode) => {
      const id = member.accounts[code];
      return id === undefined ? 0n : bucketValue(accounts.get(id));
    };
    const spendableMinor = value('member_spendable');
    const pendingMinor = value('member_pending');
    const withdrawableMinor = value('member_withdrawable');
    return {
      availableMinor: spendableMinor + pendingMinor + withdrawableMinor,
      withdrawableMinor,
      pendingMinor,
      spendableMinor,
      // Escrow in the guarantee account is the buyer's frozen money; in buyer or seller mode it
      // sits in the member's own frozen account. Never both, so nothing counts twice.
      frozenMinor: value('member_frozen') + (await this.escrows.escrowedAsBuyer(member.platformId, member.id)),
    };
  }

  /** The member's statement, oldest first, every bucket in one list. */
  async statement(
    platformId: Id,
    memberId: Id,
    page: { after?: { seq: bigint; postingIndex: number; bucket: Bucket } | undefined; limit: number },
  ): Promise<StatementLine[]> {
    const member = await this.record(platformId, memberId);
    const codes = (Object.keys(member.accounts) as MemberAccountCode[]).filter((c) => member.accounts[c] !== undefined);
    const accountIds = codes.map((code) => member.accounts[code] as Id);
    const bucketByAccount = new Map(codes.map((code) => [member.accounts[code] as Id, bucketOf[code]]));
    const after = page.after && {
      seq: page.after.seq,
      postingIndex: page.after.postingIndex,
      accountId: accountIds[codes.findIndex((code) => bucketOf[code] === page.after?.bucket)] ?? accountIds[0] ?? '',
    };
    const lines = await this.ledger.listLines(platformId, accountIds, { after, limit: page.limit });
    return lines.map((line) => statementLine(line, bucketByAccount.get(line.accountId) ?? 'spendable'));
  }

  private check(command: OpenMember): { name: string; idNumber: string; phone: string } {
    if (
      command.externalId.length === 0 ||
      command.externalId.length > limits.externalIdLengthMax ||
      !externalIdPattern.test(command.externalId)
    ) {
      throw new CustodyError('invalid_request', `external_id must be 1 to ${limits.externalIdLengthMax} letters, digits or _.:@-`, 'external_id');
    }
    const name = command.name.trim();
    if (name.length === 0 || name.length > limits.memberNameLengthMax) {
      throw new CustodyError('invalid_request', `name must be 1 to ${limits.memberNameLengthMax} characters.`, 'name');
    }
    const idNumber = normalizeIdNumber(command.idNumber);
    const valid =
      command.type === 'individual' ? isResidentIdNumber(idNumber, this.clock.nowMs()) : isUnifiedSocialCreditCode(idNumber);
    if (!valid) {
      throw new CustodyError(
        'invalid_request',
        command.type === 'individual'
          ? 'id_number must be a valid resident ID number for an individual.'
          : 'id_number must be a valid unified social credit code for an enterprise.',
        'id_number',
      );
    }
    const phone = normalizeMainlandMobile(command.phone);
    if (!isMainlandMobile(phone)) throw new CustodyError('invalid_request', 'phone must be a mainland mobile number.', 'phone');
    return { name, idNumber, phone };
  }

  private async view(member: MemberRecord): Promise<MemberView> {
    const personal = this.personal(member);
    return {
      id: member.id,
      platformId: member.platformId,
      externalId: member.externalId,
      subAccountNo: member.subAccountNo,
      type: member.type,
      property: member.property,
      status: member.status,
      name: maskName(personal.name),
      idNumber: maskIdNumber(personal.idNumber),
      phone: maskPhone(personal.phone),
      createdAtMs: member.createdAtMs,
      balances: await this.balances(member),
    };
  }
}

/**
 * A posting seen from one bucket: what it changed in the bucket's value (posted movements,
 * reservations made or released) and the value after it.
 */
function statementLine(line: AccountLine, bucket: Bucket): StatementLine {
  const sign = line.side === 'credit' ? 1n : -1n;
  const reserved = line.kind === 'pending' ? line.amountMinor : 0n;
  const posted = line.kind === 'posted' || line.kind === 'post_pending' ? line.amountMinor : 0n;
  // Reservations only ever take money out of a bucket; their release gives it back.
  const change = line.side === 'debit' ? -posted - reserved + line.pendingReleasedMinor : posted;
  const pendingOut = line.pendingAfterMinor < 0n ? line.pendingAfterMinor : 0n;
  return {
    seq: line.seq,
    postingIndex: line.postingIndex,
    bucket,
    entryId: line.entryId,
    occurredAtMs: line.occurredAtMs,
    kind: line.command,
    orderNo: line.reference,
    amountMinor: line.side === 'debit' ? change : sign * change,
    balanceAfterMinor: line.postedAfterMinor + pendingOut,
  };
}
