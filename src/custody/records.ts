import type { Id } from '../ledger/index.js';
import type { EscrowMode, MemberAccountCode, PlatformAccountCode } from './chart-of-accounts.js';

/**
 * The records custody services keep, as the services see them (times in ms since the epoch,
 * personal data already encrypted by the vault). Storage maps them to rows.
 */

/** The bank itself owns rows that belong to no platform: operators and their requests. */
export const bankScope: Id = '00000000-0000-0000-0000-000000000000';

export const roles = ['viewer', 'operator', 'approver', 'admin'] as const;
export type Role = (typeof roles)[number];

export interface PlatformRecord {
  readonly id: Id;
  readonly no: number;
  readonly name: string;
  readonly escrowMode: EscrowMode;
  readonly autoConfirmSeconds: number;
  readonly legalIdNumberHash: string | null;
  readonly status: 'active' | 'suspended';
  readonly createdAtMs: number;
  readonly accounts: Readonly<Record<PlatformAccountCode, Id>>;
}

export interface NewPlatform {
  readonly id: Id;
  readonly name: string;
  readonly escrowMode: EscrowMode;
  readonly autoConfirmSeconds: number;
  readonly legalIdNumberEnc: string | null;
  readonly legalIdNumberHash: string | null;
  readonly createdAtMs: number;
  readonly accounts: Readonly<Record<PlatformAccountCode, Id>>;
}

export interface CredentialRecord {
  /** The platform of an API key; `bankScope` for an operator. */
  readonly platformId: Id;
  readonly id: Id;
  readonly kind: 'api_key' | 'operator';
  readonly name: string;
  readonly role: Role | null;
  readonly secretHash: string;
  readonly secretPrefix: string;
  readonly createdAtMs: number;
  readonly revokedAtMs: number | null;
}

export type MemberType = 'individual' | 'enterprise';
export type MemberProperty = 'ordinary' | 'merchant';

export interface MemberRecord {
  readonly platformId: Id;
  readonly id: Id;
  readonly externalId: string;
  readonly seq: bigint;
  readonly subAccountNo: string;
  readonly type: MemberType;
  readonly property: MemberProperty;
  readonly status: 'active' | 'frozen' | 'closed';
  readonly nameEnc: string;
  readonly idNumberEnc: string;
  readonly idNumberHash: string;
  readonly phoneEnc: string;
  readonly phoneHash: string;
  readonly accounts: Readonly<Partial<Record<MemberAccountCode, Id>>> & {
    readonly member_spendable: Id;
    readonly member_pending: Id;
    readonly member_withdrawable: Id;
  };
  readonly createdAtMs: number;
}

export type NewMember = Omit<MemberRecord, 'seq' | 'subAccountNo' | 'status'>;

export type CardMethod = 'four_element' | 'small_amount';
export type CardStatus = 'verifying' | 'bound' | 'failed' | 'expired' | 'unbound';

export interface CardRecord {
  readonly platformId: Id;
  readonly id: Id;
  readonly memberId: Id;
  readonly method: CardMethod;
  readonly status: CardStatus;
  readonly cardNumberEnc: string;
  readonly cardNumberHash: string;
  readonly last4: string;
  readonly phoneEnc: string | null;
  readonly challengeHash: string | null;
  readonly challengeExpiresAtMs: number | null;
  readonly wrongAnswers: number;
  readonly failureReason: string | null;
  readonly createdAtMs: number;
  readonly boundAtMs: number | null;
  readonly endedAtMs: number | null;
}

export type VerificationKind = 'four_element' | 'sms' | 'micro_deposit';

export interface VerificationCallRecord {
  readonly platformId: Id;
  readonly id: Id;
  readonly memberId: Id;
  readonly cardId: Id;
  readonly kind: VerificationKind;
  readonly provider: string;
  readonly requestId: string;
  readonly providerRef: string | null;
  readonly outcome: string;
  readonly feeMinor: bigint;
  readonly attempts: number;
  readonly latencyMs: number;
  readonly createdAtMs: number;
}

export interface VerificationFeeLine {
  readonly kind: VerificationKind;
  readonly provider: string;
  readonly calls: number;
  readonly feeMinor: bigint;
}

/** What became of an attempt to start an idempotent request. */
export type IdempotencyStart =
  | { readonly kind: 'started' }
  | { readonly kind: 'replay'; readonly status: number; readonly body: string }
  | { readonly kind: 'reused' }
  | { readonly kind: 'in_use' };

export interface Page {
  readonly limit: number;
  /** The last id of the previous page (internal id). */
  readonly afterId?: Id | undefined;
}
