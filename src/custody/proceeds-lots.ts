import { newId } from '../ids.js';
import type { Id } from '../ledger/index.js';
import type { LotRow } from '../storage/sql-trade-store.js';
import { entryOfThisCommand } from './command-draft.js';
import type { CommandDraft, Row } from './command-draft.js';
import { consumeLots } from './trade-rules.js';

export type LotBucket = 'pending' | 'withdrawable';

/** A lot as consumed: which order's proceeds, of which date, and how much. */
export interface LotTaken {
  readonly lotId: Id;
  readonly orderId: Id | null;
  readonly orderNo: string | null;
  readonly businessDate: string;
  readonly amount: bigint;
}

/**
 * Spends a member's proceeds lots first in, first out, writing the changed lots into the
 * draft (guarded by their versions). Null when the lots do not cover the amount, which means
 * the bucket and its lots disagree: a bug, never a business refusal.
 */
export function takeLots(draft: CommandDraft, lots: readonly LotRow[], amount: bigint): LotTaken[] | null {
  if (amount === 0n) return [];
  const taken = consumeLots(
    lots.map((lot) => ({ ...lot, businessDate: lot.business_date, createdAtMs: lot.created_at.getTime() })),
    amount,
  );
  if (taken === null) return null;
  return taken.map(({ lot, amount: part }) => {
    draft.update('proceeds_lots', lot as unknown as Row, { remaining: lot.remaining - part });
    return { lotId: lot.id, orderId: lot.order_id, orderNo: lot.order_no, businessDate: lot.business_date, amount: part };
  });
}

/** New proceeds for a member, from an order (or moved from another member, keeping their date). */
export function addLot(
  draft: CommandDraft,
  memberId: Id,
  bucket: LotBucket,
  amount: bigint,
  source: { orderId: Id | null; orderNo: string | null; businessDate: string },
): void {
  if (amount <= 0n) return;
  draft.insert('proceeds_lots', {
    id: newId(draft.nowMs),
    member_id: memberId,
    bucket,
    order_id: source.orderId,
    order_no: source.orderNo,
    // The lot becomes withdrawable at the close of the day its entry is booked in.
    entry_id: entryOfThisCommand,
    business_date: source.businessDate,
    amount,
    remaining: amount,
    created_at: new Date(draft.nowMs),
  });
}
