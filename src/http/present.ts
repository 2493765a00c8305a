import type { CardView } from '../custody/card-service.js';
import type { CredentialRecord } from '../custody/records.js';
import type { MemberView, StatementLine } from '../custody/member-service.js';
import type { AccountView, PlatformView } from '../custody/platform-service.js';
import { toPublicId } from '../public-ids.js';

/** Views to the API's JSON: snake_case, public ids, amounts as integers, RFC 3339 times. */

export function amount(minor: bigint): number {
  if (minor > BigInt(Number.MAX_SAFE_INTEGER) || minor < -BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new RangeError('an amount beyond 2^53 − 1 cannot leave as a JSON number');
  }
  return Number(minor);
}

export function time(ms: number): string {
  return new Date(ms).toISOString();
}

export function optionalTime(ms: number | null): string | null {
  return ms === null ? null : time(ms);
}

export function account(view: AccountView) {
  return { id: toPublicId('account', view.id), code: view.code, currency: view.currency, balance: amount(view.balanceMinor) };
}

export function platform(view: PlatformView) {
  return {
    id: toPublicId('platform', view.id),
    object: 'platform' as const,
    name: view.name,
    escrow_mode: view.escrowMode,
    auto_confirm_seconds: view.autoConfirmSeconds,
    status: view.status,
    created: time(view.createdAtMs),
    accounts: view.accounts.map(account),
  };
}

export function member(view: MemberView) {
  return {
    id: toPublicId('member', view.id),
    object: 'member' as const,
    external_id: view.externalId,
    sub_account_no: view.subAccountNo,
    type: view.type,
    property: view.property,
    status: view.status,
    name: view.name,
    id_number: view.idNumber,
    phone: view.phone,
    created: time(view.createdAtMs),
    balances: {
      available: amount(view.balances.availableMinor),
      withdrawable: amount(view.balances.withdrawableMinor),
      pending: amount(view.balances.pendingMinor),
      spendable: amount(view.balances.spendableMinor),
      frozen: amount(view.balances.frozenMinor),
    },
  };
}

/** A statement line's id is its place in the journal and its bucket: stable, and a cursor. */
export function lineId(line: Pick<StatementLine, 'seq' | 'postingIndex' | 'bucket'>): string {
  return `ln_${line.seq.toString(36)}_${line.postingIndex}_${line.bucket}`;
}

export function parseLineId(id: string): { seq: bigint; postingIndex: number; bucket: StatementLine['bucket'] } | null {
  const match = /^ln_([0-9a-z]{1,13})_(\d{1,2})_(spendable|pending|withdrawable|frozen)$/.exec(id);
  if (match === null) return null;
  const seq = [...(match[1] ?? '')].reduce((n, c) => n * 36n + BigInt(parseInt(c, 36)), 0n);
  return { seq, postingIndex: Number(match[2]), bucket: match[3] as StatementLine['bucket'] };
}

export function statementLine(line: StatementLine) {
  return {
    id: lineId(line),
    object: 'statement_line' as const,
    entry_id: toPublicId('entry', line.entryId),
    occurred_at: time(line.occurredAtMs),
    kind: line.kind,
    order_no: line.orderNo,
    bucket: line.bucket,
    amount: amount(line.amountMinor),
    balance_after: amount(line.balanceAfterMinor),
  };
}

export function card(view: CardView) {
  return {
    id: toPublicId('card', view.id),
    object: 'card' as const,
    member_id: toPublicId('member', view.memberId),
    method: view.method,
    status: view.status,
    card_number: view.cardNumber,
    last4: view.last4,
    created: time(view.createdAtMs),
    bound_at: optionalTime(view.boundAtMs),
    failure_reason: view.failureReason,
    ...(view.sandbox === undefined
      ? {}
      : {
          sandbox: {
            ...(view.sandbox.smsCode === undefined ? {} : { sms_code: view.sandbox.smsCode }),
            ...(view.sandbox.amountMinor === undefined ? {} : { amount: amount(view.sandbox.amountMinor) }),
          },
        }),
  };
}

export function apiKey(record: CredentialRecord) {
  return {
    id: toPublicId('apiKey', record.id),
    object: 'api_key' as const,
    platform_id: toPublicId('platform', record.platformId),
    name: record.name,
    prefix: record.secretPrefix,
    created: time(record.createdAtMs),
    revoked_at: optionalTime(record.revokedAtMs),
  };
}

export function operator(record: CredentialRecord) {
  return {
    id: toPublicId('operator', record.id),
    object: 'operator' as const,
    name: record.name,
    role: record.role ?? 'viewer',
    prefix: record.secretPrefix,
    created: time(record.createdAtMs),
    revoked_at: optionalTime(record.revokedAtMs),
  };
}

/** A page of a list: `has_more` is known by asking for one more than the limit. */
export function list<T, R>(items: readonly T[], limit: number, present: (item: T) => R) {
  return { object: 'list' as const, data: items.slice(0, limit).map(present), has_more: items.length > limit };
}
