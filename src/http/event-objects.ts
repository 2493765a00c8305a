import { toPublicId } from '../public-ids.js';
import type { BankCreditRow, EventRow, OrderRow, PayinRow, SuspenseRow, TransferRow } from '../storage/sql-trade-store.js';
import type { AdjustmentRow, WithdrawalRow } from '../storage/sql-withdrawal-store.js';
import type { CardView } from '../custody/card-service.js';
import * as present from './present.js';

/**
 * The object an event carries, as the API shows it. `object_events.data` is the object's row
 * after the change, written as JSON by the book command (bigints as decimal strings, dates as
 * RFC 3339 strings, no `platform_id`). Each function below turns that JSON back into the
 * typed row its presenter takes, so a webhook's `data.object` is exactly what `GET` of the
 * object answered at that moment: one presenter, never a second copy of it.
 *
 * A field missing or of the wrong kind is our own bug (we wrote the data), so it throws.
 */

type Data = Readonly<Record<string, unknown>>;

class RowReader {
  constructor(
    private readonly data: Data,
    private readonly what: string,
  ) {}

  private fail(key: string, expected: string): never {
    throw new Error(`event data of ${this.what}: ${key} is not ${expected}`);
  }

  private value(key: string): unknown {
    return this.data[key];
  }

  text(key: string): string {
    const value = this.value(key);
    return typeof value === 'string' ? value : this.fail(key, 'a string');
  }

  textOrNull(key: string): string | null {
    const value = this.value(key);
    return value === null || value === undefined ? null : this.text(key);
  }

  integer(key: string): number {
    const value = this.value(key);
    return typeof value === 'number' && Number.isSafeInteger(value) ? value : this.fail(key, 'an integer');
  }

  bigint(key: string): bigint {
    const value = this.value(key);
    if (typeof value === 'string' && /^-?\d{1,20}$/.test(value)) return BigInt(value);
    if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value);
    return this.fail(key, 'an integer amount');
  }

  date(key: string): Date {
    const value = this.value(key);
    const ms = typeof value === 'string' ? Date.parse(value) : Number.NaN;
    return Number.isNaN(ms) ? this.fail(key, 'an RFC 3339 time') : new Date(ms);
  }

  dateOrNull(key: string): Date | null {
    const value = this.value(key);
    return value === null || value === undefined ? null : this.date(key);
  }

  json(key: string): unknown {
    return this.value(key);
  }
}

function dataOf(event: EventRow): Data {
  const data = event.data;
  if (data === null || typeof data !== 'object' || Array.isArray(data)) throw new Error(`event ${event.id}: data is not an object`);
  return data as Data;
}

function readerOf(event: EventRow, objectType: string): RowReader {
  if (event.object_type !== objectType) throw new Error(`event ${event.id} is of a ${event.object_type}, not a ${objectType}`);
  return new RowReader(dataOf(event), objectType);
}

/** Columns every guarded row has, from the event row (the data leaves `platform_id` out). */
function base(event: EventRow, r: RowReader): { platform_id: string; id: string; version: number } {
  return { platform_id: event.platform_id, id: r.text('id'), version: r.integer('version') };
}

export function cardViewOf(event: EventRow): CardView {
  const r = readerOf(event, 'card');
  return {
    id: r.text('id'),
    memberId: r.text('member_id'),
    method: r.text('method') as CardView['method'],
    status: r.text('status') as CardView['status'],
    cardNumber: r.text('card_number'),
    last4: r.text('last4'),
    createdAtMs: r.date('created_at').getTime(),
    boundAtMs: r.dateOrNull('bound_at')?.getTime() ?? null,
    failureReason: r.textOrNull('failure_reason'),
  };
}

export function payinRowOf(event: EventRow): PayinRow {
  const r = readerOf(event, 'payin');
  return {
    ...base(event, r),
    order_no: r.text('order_no'),
    purpose: r.text('purpose'),
    member_id: r.textOrNull('member_id'),
    account_code: r.textOrNull('account_code'),
    order_id: r.textOrNull('order_id'),
    amount: r.bigint('amount'),
    currency: r.text('currency'),
    channel: r.text('channel'),
    channel_txn_id: r.textOrNull('channel_txn_id'),
    status: r.text('status'),
    failure_reason: r.textOrNull('failure_reason'),
    entry_id: r.textOrNull('entry_id'),
    business_date: r.text('business_date'),
    created_at: r.date('created_at'),
    decided_at: r.dateOrNull('decided_at'),
  };
}

export function orderRowOf(event: EventRow): OrderRow {
  const r = readerOf(event, 'order');
  const payees = r.json('payees');
  if (!Array.isArray(payees)) throw new Error('event data of order: payees is not an array');
  return {
    ...base(event, r),
    order_no: r.text('order_no'),
    buyer_id: r.textOrNull('buyer_id'),
    mode: r.text('mode'),
    funding: r.text('funding'),
    channel: r.textOrNull('channel'),
    payin_id: r.textOrNull('payin_id'),
    escrow_mode: r.text('escrow_mode'),
    status: r.text('status'),
    amount: r.bigint('amount'),
    escrowed_amount: r.bigint('escrowed_amount'),
    released_amount: r.bigint('released_amount'),
    refunded_amount: r.bigint('refunded_amount'),
    payees,
    // Events leave out where the buyer's money came from (internal to refunds and lineage).
    funded_from: {},
    auto_confirm_at: r.dateOrNull('auto_confirm_at'),
    business_date: r.text('business_date'),
    created_at: r.date('created_at'),
    updated_at: r.date('updated_at'),
  };
}

export function transferRowOf(event: EventRow): TransferRow {
  const r = readerOf(event, 'transfer');
  return {
    ...base(event, r),
    order_no: r.text('order_no'),
    purpose: r.text('purpose'),
    from_member_id: r.textOrNull('from_member_id'),
    from_account: r.textOrNull('from_account'),
    to_member_id: r.textOrNull('to_member_id'),
    to_account: r.textOrNull('to_account'),
    amount: r.bigint('amount'),
    status: r.text('status'),
    entry_id: r.text('entry_id'),
    created_at: r.date('created_at'),
  };
}

export function withdrawalRowOf(event: EventRow): WithdrawalRow {
  const r = readerOf(event, 'withdrawal');
  return {
    ...base(event, r),
    order_no: r.text('order_no'),
    member_id: r.text('member_id'),
    card_id: r.text('card_id'),
    card_last4: r.text('card_last4'),
    amount: r.bigint('amount'),
    fee: r.bigint('fee'),
    currency: r.text('currency'),
    rail: r.text('rail'),
    status: r.text('status'),
    step: r.text('step'),
    risk_decision: r.text('risk_decision'),
    risk_rules: r.json('risk_rules') ?? [],
    reserve_entry_id: r.textOrNull('reserve_entry_id'),
    rail_txn_id: r.textOrNull('rail_txn_id'),
    failure_reason: r.textOrNull('failure_reason'),
    attempts: r.integer('attempts'),
    next_attempt_at: r.dateOrNull('next_attempt_at'),
    watch_until: r.dateOrNull('watch_until'),
    reviewed_by: r.textOrNull('reviewed_by'),
    review_reason: r.textOrNull('review_reason'),
    business_date: r.text('business_date'),
    created_at: r.date('created_at'),
    updated_at: r.date('updated_at'),
    decided_at: r.dateOrNull('decided_at'),
    returned_at: r.dateOrNull('returned_at'),
  };
}

export function adjustmentRowOf(event: EventRow): AdjustmentRow {
  const r = readerOf(event, 'adjustment');
  return {
    ...base(event, r),
    debit_account_id: r.text('debit_account_id'),
    credit_account_id: r.text('credit_account_id'),
    amount: r.bigint('amount'),
    reason: r.text('reason'),
    status: r.text('status'),
    maker: r.text('maker'),
    checker: r.textOrNull('checker'),
    decision_reason: r.textOrNull('decision_reason'),
    entry_id: r.textOrNull('entry_id'),
    created_at: r.date('created_at'),
    decided_at: r.dateOrNull('decided_at'),
  };
}

export function suspenseRowOf(event: EventRow): SuspenseRow {
  const r = readerOf(event, 'suspense');
  return {
    ...base(event, r),
    bank_credit_id: r.text('bank_credit_id'),
    amount: r.bigint('amount'),
    allocated: r.bigint('allocated'),
    reversed: r.bigint('reversed'),
    status: r.text('status'),
    created_at: r.date('created_at'),
    updated_at: r.date('updated_at'),
  };
}

export function bankCreditRowOf(event: EventRow): BankCreditRow {
  const r = readerOf(event, 'bank_credit');
  return {
    ...base(event, r),
    amount: r.bigint('amount'),
    // Events never carry the payer's account or name, even encrypted; the presenter shows
    // neither, so empty values stand in for them.
    payer_account_enc: '',
    payer_account_hash: '',
    payer_name_enc: '',
    memo: r.text('memo'),
    status: r.text('status'),
    member_id: r.textOrNull('member_id'),
    suspense_id: r.textOrNull('suspense_id'),
    entry_id: r.text('entry_id'),
    bank_txn_id: r.textOrNull('bank_txn_id'),
    business_date: r.text('business_date'),
    created_at: r.date('created_at'),
  };
}

/** A consent request carries only its member and amount (the code is never stored in clear). */
export function consentObjectOf(event: EventRow) {
  const r = readerOf(event, 'consent');
  return {
    id: toPublicId('consent', event.object_id),
    object: 'consent' as const,
    member_id: toPublicId('member', r.text('member_id')),
    amount: present.amount(r.bigint('amount')),
  };
}


/** The public id of an event's object (the kind is known from its object type). */
export function publicObjectId(event: Pick<EventRow, 'object_type' | 'object_id'>): string {
  const kind = present.objectKinds[event.object_type];
  return kind === undefined ? event.object_id : toPublicId(kind, event.object_id);
}

/**
 * The object after the change, as the API shows it. An object type without a presenter (a
 * future one) shows its id and type only, rather than leaking its stored row.
 */
export function eventObject(event: EventRow): Record<string, unknown> {
  switch (event.object_type) {
    case 'payin':
      return present.payin(payinRowOf(event));
    case 'order':
      return present.order(orderRowOf(event));
    case 'transfer':
      return present.transfer(transferRowOf(event));
    case 'withdrawal':
      return present.withdrawal(withdrawalRowOf(event));
    case 'adjustment':
      return present.adjustment(adjustmentRowOf(event));
    case 'suspense':
      return present.suspenseItem(suspenseRowOf(event));
    case 'bank_credit':
      return present.bankCredit(bankCreditRowOf(event));
    case 'consent':
      return consentObjectOf(event);
    case 'card':
      return present.card(cardViewOf(event));
    default:
      return { id: publicObjectId(event), object: event.object_type };
  }
}

/** The body of a webhook delivery, as API.md "Webhooks" gives it. */
export function webhookPayload(event: EventRow) {
  return {
    id: toPublicId('event', event.id),
    object: 'event' as const,
    type: event.type,
    created: present.time(event.created_at.getTime()),
    sequence: event.sequence,
    data: { object: eventObject(event) },
  };
}

/** `GET /v1/events/{id}`: the audit-trail entry with the object after the change. */
export function eventWithObject(event: EventRow) {
  return { ...present.objectEvent(event), data: { object: eventObject(event) } };
}
