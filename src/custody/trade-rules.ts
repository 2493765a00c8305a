/**
 * The arithmetic of witnessed trades (API.md "Orders"), pure and exact in fen: where a
 * buyer's money comes from, how a payee's fee is shared between partial releases and
 * refunds, and which proceeds lots a debit consumes. No I/O; services call these and turn
 * the answers into ledger postings.
 */

/** The buckets a buyer pays from, in the order they are used. */
export interface Buckets {
  readonly spendable: bigint;
  readonly withdrawable: bigint;
  readonly pending: bigint;
}

export const noBuckets: Buckets = { spendable: 0n, withdrawable: 0n, pending: 0n };

export function bucketsTotal(b: Buckets): bigint {
  return b.spendable + b.withdrawable + b.pending;
}

/** Spendable first, then withdrawable, then pending; null when the three do not cover it. */
export function allocateFunding(amount: bigint, available: Buckets): Buckets | null {
  if (amount <= 0n) throw new RangeError('an amount to allocate is positive');
  if (bucketsTotal(available) < amount) return null;
  const spendable = min(amount, available.spendable);
  const withdrawable = min(amount - spendable, available.withdrawable);
  const pending = amount - spendable - withdrawable;
  return { spendable, withdrawable, pending };
}

/** For a payee's money leaving back to the buyer: pending first, then withdrawable, then spendable. */
export function allocatePayeeReturn(amount: bigint, available: Buckets): Buckets | null {
  if (bucketsTotal(available) < amount) return null;
  const pending = min(amount, available.pending);
  const withdrawable = min(amount - pending, available.withdrawable);
  const spendable = amount - pending - withdrawable;
  return { spendable, withdrawable, pending };
}

/** One payee's part of an order, and what has happened to it. */
export interface PayeePart {
  readonly memberId: string;
  /** Gross: what the buyer paid for this payee. */
  readonly amount: bigint;
  readonly fee: bigint;
  /** Still in escrow. */
  readonly escrowed: bigint;
  /** Released to the payee so far (gross, cumulative; does not fall on refund). */
  readonly released: bigint;
  /** Fee taken with those releases. */
  readonly feeReleased: bigint;
  /** Refunded to the buyer so far, gross (from escrow and after release). */
  readonly refunded: bigint;
  /** Of it, refunded after release (taken back from the payee and the fees). */
  readonly refundedAfterRelease: bigint;
  /** Fee given back with refunds after release. */
  readonly feeRefunded: bigint;
}

export function newPayeePart(memberId: string, amount: bigint, fee: bigint, escrowed: boolean): PayeePart {
  if (fee < 0n || fee > amount) throw new RangeError('a fee is between 0 and the amount');
  return {
    memberId,
    amount,
    fee,
    escrowed: escrowed ? amount : 0n,
    released: escrowed ? 0n : amount,
    feeReleased: escrowed ? 0n : fee,
    refunded: 0n,
    refundedAfterRelease: 0n,
    feeRefunded: 0n,
  };
}

export interface Release {
  readonly part: PayeePart;
  readonly gross: bigint;
  /** To the platform's fees account; the payee gets gross − fee. */
  readonly fee: bigint;
}

/**
 * Releasing part of a payee's escrow (API.md "Orders"): its fee share is
 * floor(fee × released / amount), and the release that empties the escrow takes the rest of
 * the fee, also after part of the escrow was refunded. No share exceeds its release: a
 * share is raised when what would be left of the fee no longer fits in what is left in
 * escrow, and capped at the release itself (both only with fees close to the amount and
 * releases or escrow refunds of a few fen), so the shares sum to the fee whenever the
 * releases can carry it.
 */
export function release(part: PayeePart, gross: bigint): Release {
  if (gross <= 0n || gross > part.escrowed) throw new RangeError('a release is positive and at most what is in escrow');
  const escrowAfter = part.escrowed - gross;
  const feeDue = part.fee - part.feeReleased;
  const proportional = escrowAfter === 0n ? feeDue : (part.fee * gross) / part.amount;
  const fee = min(gross, min(feeDue, max(proportional, feeDue - escrowAfter)));
  return {
    gross,
    fee,
    part: { ...part, escrowed: escrowAfter, released: part.released + gross, feeReleased: part.feeReleased + fee },
  };
}

export interface Refund {
  readonly part: PayeePart;
  /** From escrow, straight back to the buyer. */
  readonly fromEscrow: bigint;
  /** Net, from the payee's buckets. */
  readonly fromPayee: bigint;
  /** The fee share, from the platform's fees account. */
  readonly fromFees: bigint;
}

/** What may still be refunded for a payee: what was paid and not yet refunded. */
export function refundable(part: PayeePart): bigint {
  return part.amount - part.refunded;
}

/**
 * Refunding part of a payee's share: first from what is still in escrow, then from what was
 * released, the released part split into the payee's net and the fee share (floored as for
 * releases; the refund that empties the payee's part takes the rest of the fee). The fee
 * share is raised where the floor would ask the payee for more than it still holds of what
 * it was paid (only with fees close to the amount and refunds of a few fen).
 */
export function refund(part: PayeePart, gross: bigint): Refund {
  if (gross <= 0n || gross > refundable(part)) throw new RangeError('a refund is positive and at most what is refundable');
  const fromEscrow = min(gross, part.escrowed);
  const afterRelease = gross - fromEscrow;
  const empties = gross === refundable(part);
  const feeLeft = part.feeReleased - part.feeRefunded;
  // What the payee still holds of its net share: a refund never takes more back from it.
  const payeeNetLeft = part.released - part.feeReleased - (part.refundedAfterRelease - part.feeRefunded);
  const proportional = empties ? feeLeft : (part.fee * afterRelease) / part.amount;
  const fromFees = afterRelease === 0n ? 0n : min(afterRelease, min(feeLeft, max(proportional, afterRelease - payeeNetLeft)));
  return {
    fromEscrow,
    fromPayee: afterRelease - fromFees,
    fromFees,
    part: {
      ...part,
      escrowed: part.escrowed - fromEscrow,
      refunded: part.refunded + gross,
      refundedAfterRelease: part.refundedAfterRelease + afterRelease,
      feeRefunded: part.feeRefunded + fromFees,
    },
  };
}

/** A lot of proceeds: money from one order, credited on one business date. */
export interface Lot {
  readonly id: string;
  readonly businessDate: string;
  readonly createdAtMs: number;
  readonly remaining: bigint;
}

export interface Taken<L extends Lot> {
  readonly lot: L;
  readonly amount: bigint;
}

/** First in, first out: the oldest lots (by date, then creation) are spent first. */
export function consumeLots<L extends Lot>(lots: readonly L[], amount: bigint): Taken<L>[] | null {
  const ordered = [...lots]
    .filter((lot) => lot.remaining > 0n)
    .sort((a, b) => (a.businessDate < b.businessDate ? -1 : a.businessDate > b.businessDate ? 1 : a.createdAtMs - b.createdAtMs || (a.id < b.id ? -1 : 1)));
  const taken: Taken<L>[] = [];
  let left = amount;
  for (const lot of ordered) {
    if (left === 0n) break;
    const take = min(left, lot.remaining);
    taken.push({ lot, amount: take });
    left -= take;
  }
  return left === 0n ? taken : null;
}

function min(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

function max(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}

/** Money leaving accounts and money arriving, paired into postings (totals must agree). */
export interface Flow {
  readonly accountId: string;
  readonly amount: bigint;
}

export interface PairedPosting {
  readonly debitAccountId: string;
  readonly creditAccountId: string;
  readonly amountMinor: bigint;
}

/**
 * Pairs sources with sinks in order, splitting where needed, and merges postings between the
 * same two accounts, so one entry holds as few postings as the flows allow.
 */
export function pairPostings(sources: readonly Flow[], sinks: readonly Flow[]): PairedPosting[] {
  const from = sources.filter((f) => f.amount > 0n).map((f) => ({ ...f }));
  const to = sinks.filter((f) => f.amount > 0n).map((f) => ({ ...f }));
  const total = (flows: readonly Flow[]) => flows.reduce((sum, f) => sum + f.amount, 0n);
  if (total(from) !== total(to)) throw new RangeError('sources and sinks must move the same amount');
  const merged = new Map<string, PairedPosting>();
  let i = 0;
  let j = 0;
  while (i < from.length && j < to.length) {
    const source = from[i] as { accountId: string; amount: bigint };
    const sink = to[j] as { accountId: string; amount: bigint };
    const amount = min(source.amount, sink.amount);
    if (source.accountId === sink.accountId) throw new RangeError('money cannot move from an account to itself');
    const key = `${source.accountId}>${sink.accountId}`;
    const previous = merged.get(key);
    merged.set(key, { debitAccountId: source.accountId, creditAccountId: sink.accountId, amountMinor: (previous?.amountMinor ?? 0n) + amount });
    source.amount -= amount;
    sink.amount -= amount;
    if (source.amount === 0n) i++;
    if (sink.amount === 0n) j++;
  }
  return [...merged.values()];
}
