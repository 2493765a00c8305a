import type { CardView } from '../custody/card-service.js';
import { publicDeliveryId } from '../custody/webhook-service.js';
import type { WebhookDeliveryView, WebhookEndpointView } from '../custody/webhook-service.js';
import type { CredentialRecord } from '../custody/records.js';
import type { MemberView, StatementLine } from '../custody/member-service.js';
import type { AccountView, PlatformView } from '../custody/platform-service.js';
import { payeesOf } from '../custody/order-service.js';
import { toPublicId } from '../public-ids.js';
import type { IdKind } from '../public-ids.js';
import type { BankCreditRow, EventRow, OrderRow, PayinRow, RefundRow, SuspenseRow, TransferRow } from '../storage/sql-trade-store.js';
import type { AdjustmentRow, WithdrawalRow } from '../storage/sql-withdrawal-store.js';
import type { orderModes, orderStatuses } from './schemas.js';

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

export function order(row: OrderRow) {
  return {
    id: toPublicId('order', row.id),
    object: 'order' as const,
    order_no: row.order_no,
    status: row.status as (typeof orderStatuses)[number],
    mode: row.mode as (typeof orderModes)[number],
    amount: amount(row.amount),
    escrowed_amount: amount(row.escrowed_amount),
    released_amount: amount(row.released_amount),
    refunded_amount: amount(row.refunded_amount),
    buyer_id: row.buyer_id === null ? null : toPublicId('member', row.buyer_id),
    funding: row.funding === 'channel' ? { channel: row.channel ?? '' } : ('balance' as const),
    payees: payeesOf(row).map((p) => ({
      member_id: toPublicId('member', p.memberId),
      amount: amount(p.amount),
      fee: amount(p.fee),
      escrowed: amount(p.escrowed),
      released: amount(p.released),
      refunded: amount(p.refunded),
    })),
    auto_confirm_at: row.auto_confirm_at === null ? null : time(row.auto_confirm_at.getTime()),
    business_date: row.business_date,
    created: time(row.created_at.getTime()),
  };
}

export function refundOf(row: RefundRow) {
  return {
    id: toPublicId('refund', row.id),
    object: 'refund' as const,
    order_id: toPublicId('order', row.order_id),
    member_id: toPublicId('member', row.member_id),
    amount: amount(row.amount),
    from_escrow: amount(row.from_escrow),
    from_payee: amount(row.from_payee),
    from_fees: amount(row.from_fees),
    entry_id: toPublicId('entry', row.entry_id),
    created: time(row.created_at.getTime()),
  };
}

/** The id kind of each event object type (webhook payloads and the audit trail). */
export const objectKinds: Readonly<Record<string, IdKind>> = {
  consent: 'consent',
  order: 'order',
  payin: 'payin',
  transfer: 'transfer',
  withdrawal: 'withdrawal',
  bank_credit: 'bankCredit',
  suspense: 'suspense',
  card: 'card',
  adjustment: 'adjustment',
};

/** An entry of an object's audit trail (and, later, the payload of its webhook). */
export function objectEvent(row: EventRow) {
  return {
    id: toPublicId('event', row.id),
    object: 'event' as const,
    type: row.type,
    object_type: row.object_type,
    object_id: toPublicId(objectKinds[row.object_type] ?? 'order', row.object_id),
    sequence: row.sequence,
    actor: row.actor,
    reason: row.reason,
    created: time(row.created_at.getTime()),
  };
}

export function payin(row: PayinRow) {
  return {
    id: toPublicId('payin', row.id),
    object: 'payin' as const,
    order_no: row.order_no,
    purpose: row.purpose,
    status: row.status as 'pending' | 'succeeded' | 'failed',
    amount: amount(row.amount),
    currency: row.currency,
    channel: row.channel,
    channel_txn_id: row.channel_txn_id,
    member_id: row.member_id === null ? null : toPublicId('member', row.member_id),
    account: row.account_code,
    order_id: row.order_id === null ? null : toPublicId('order', row.order_id),
    failure_reason: row.failure_reason,
    business_date: row.business_date,
    created: time(row.created_at.getTime()),
    decided_at: row.decided_at === null ? null : time(row.decided_at.getTime()),
  };
}

export function transfer(row: TransferRow) {
  return {
    id: toPublicId('transfer', row.id),
    object: 'transfer' as const,
    order_no: row.order_no,
    purpose: row.purpose,
    from: row.from_member_id === null ? row.from_account ?? '' : toPublicId('member', row.from_member_id),
    to: row.to_member_id === null ? row.to_account ?? '' : toPublicId('member', row.to_member_id),
    amount: amount(row.amount),
    status: row.status,
    entry_id: toPublicId('entry', row.entry_id),
    created: time(row.created_at.getTime()),
  };
}

export function suspenseItem(row: SuspenseRow) {
  return {
    id: toPublicId('suspense', row.id),
    object: 'suspense_item' as const,
    bank_credit_id: toPublicId('bankCredit', row.bank_credit_id),
    amount: amount(row.amount),
    allocated: amount(row.allocated),
    reversed: amount(row.reversed),
    remaining: amount(row.amount - row.allocated - row.reversed),
    status: row.status,
    created: time(row.created_at.getTime()),
  };
}

export function bankCredit(row: BankCreditRow) {
  return {
    id: toPublicId('bankCredit', row.id),
    object: 'bank_credit' as const,
    platform_id: toPublicId('platform', row.platform_id),
    status: row.status as 'credited' | 'suspense',
    amount: amount(row.amount),
    member_id: row.member_id === null ? null : toPublicId('member', row.member_id),
    suspense_id: row.suspense_id === null ? null : toPublicId('suspense', row.suspense_id),
    memo: row.memo,
    bank_txn_id: row.bank_txn_id,
    created: time(row.created_at.getTime()),
  };
}

export function withdrawal(row: WithdrawalRow) {
  const fired = (row.risk_rules as { id: string; version: number; reason: string }[]) ?? [];
  return {
    id: toPublicId('withdrawal', row.id),
    object: 'withdrawal' as const,
    order_no: row.order_no,
    member_id: toPublicId('member', row.member_id),
    card_id: toPublicId('card', row.card_id),
    card_last4: row.card_last4,
    amount: amount(row.amount),
    fee: amount(row.fee),
    currency: row.currency,
    rail: row.rail,
    status: row.status as 'processing' | 'held' | 'succeeded' | 'failed' | 'returned' | 'rejected',
    risk: {
      decision: row.risk_decision as 'allow' | 'hold' | 'reject',
      rules: fired.map((rule) => ({ id: rule.id, version: rule.version, reason: rule.reason })),
    },
    failure_reason: row.failure_reason,
    review: row.reviewed_by === null ? null : { by: row.reviewed_by, reason: row.review_reason },
    business_date: row.business_date,
    created: time(row.created_at.getTime()),
    decided_at: row.decided_at === null ? null : time(row.decided_at.getTime()),
    returned_at: row.returned_at === null ? null : time(row.returned_at.getTime()),
  };
}

export function adjustment(row: AdjustmentRow) {
  return {
    id: toPublicId('adjustment', row.id),
    object: 'adjustment' as const,
    platform_id: toPublicId('platform', row.platform_id),
    debit_account_id: toPublicId('account', row.debit_account_id),
    credit_account_id: toPublicId('account', row.credit_account_id),
    amount: amount(row.amount),
    reason: row.reason,
    status: row.status as 'pending_approval' | 'applied' | 'rejected',
    maker: row.maker,
    checker: row.checker,
    decision_reason: row.decision_reason,
    entry_id: row.entry_id === null ? null : toPublicId('entry', row.entry_id),
    created: time(row.created_at.getTime()),
    decided_at: row.decided_at === null ? null : time(row.decided_at.getTime()),
  };
}

export function publicOrderId(id: string): string {
  return toPublicId('order', id);
}

export function webhookEndpoint(view: WebhookEndpointView) {
  return {
    id: toPublicId('webhookEndpoint', view.id),
    object: 'webhook_endpoint' as const,
    url: view.url,
    events: [...view.events],
    status: view.status,
    failing_since: optionalTime(view.failingSinceMs),
    previous_secret_expires_at: optionalTime(view.previousSecretExpiresAtMs),
    created: time(view.createdAtMs),
    updated: time(view.updatedAtMs),
  };
}

/** An endpoint as operators see it: with the platform it belongs to. */
export function opsWebhookEndpoint(view: WebhookEndpointView) {
  return { ...webhookEndpoint(view), platform_id: toPublicId('platform', view.platformId) };
}

export function webhookDelivery(view: WebhookDeliveryView) {
  const d = view.delivery;
  return {
    id: publicDeliveryId(d.id),
    object: 'webhook_delivery' as const,
    endpoint_id: toPublicId('webhookEndpoint', d.endpoint_id),
    event_id: toPublicId('event', d.event_id),
    event_type: d.event_type,
    sequence: d.sequence,
    redelivery: d.redelivery,
    status: d.status as 'pending' | 'succeeded' | 'failed',
    attempt_count: d.attempts,
    first_attempt_at: d.first_attempt_at === null ? null : time(d.first_attempt_at.getTime()),
    next_attempt_at: d.status === 'pending' ? time(d.next_attempt_at.getTime()) : null,
    delivered_at: d.delivered_at === null ? null : time(d.delivered_at.getTime()),
    last_status_code: d.last_status_code,
    last_error: d.last_error,
    last_latency_ms: d.last_latency_ms,
    created: time(d.created_at.getTime()),
    attempts: view.attempts.map((a) => ({
      attempt: a.attempt,
      status_code: a.status_code,
      latency_ms: a.latency_ms,
      error: a.error,
      attempted_at: time(a.attempted_at.getTime()),
    })),
  };
}
