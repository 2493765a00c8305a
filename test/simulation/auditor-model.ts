import { limits } from '../../src/limits.js';
import type { AccountFlags, EntryInput, EntryResultCode, Id, PostingInput } from '../../src/ledger/index.js';

/**
 * An independent, deliberately plain model of what the ledger must do, written apart from
 * the core (no code shared with src/ledger beyond types). The simulation predicts every
 * result with it and compares; any disagreement is a bug in one of them.
 *
 * It covers what the workload generates: entries whose shape is valid (the workload tags
 * invalid ones with the code they must get), replays, unknown and closed accounts, currency
 * mismatches, pending reserve/post/void/expiry, and the balance rules.
 */
export interface ModelAccount {
  readonly id: Id;
  readonly currency: string;
  readonly flags: AccountFlags;
  closed: boolean;
  dp: bigint;
  dpo: bigint;
  cp: bigint;
  cpo: bigint;
}

interface ModelPending {
  readonly postings: readonly PostingInput[];
  readonly timeoutAtMs: number | null;
  state: 'open' | 'posted' | 'voided' | 'expired';
}

interface ModelEntry {
  readonly input: EntryInput;
  readonly seq: bigint;
  readonly released: readonly bigint[];
}

export interface Prediction {
  readonly code: EntryResultCode;
  readonly seq?: bigint;
}

export class BookModel {
  readonly accounts = new Map<Id, ModelAccount>();
  readonly pendings = new Map<Id, ModelPending>();
  readonly entries = new Map<Id, ModelEntry>();
  seq = 0n;

  constructor(readonly platformId: Id) {}

  addAccount(id: Id, currency: string, flags: AccountFlags): void {
    this.accounts.set(id, { id, currency, flags, closed: false, dp: 0n, dpo: 0n, cp: 0n, cpo: 0n });
  }

  /** Predicts and applies one entry whose shape is valid. */
  apply(input: EntryInput, nowMs: number): Prediction {
    const stored = this.entries.get(input.id);
    if (stored !== undefined) return this.replay(input, stored);
    const code = input.kind === 'posted' || input.kind === 'pending' ? this.newMoney(input, nowMs) : this.resolve(input, nowMs);
    return code === 'ok' ? { code, seq: this.seq } : { code };
  }

  /** Voids every open pending entry due at `nowMs`; returns how many. */
  expire(nowMs: number): number {
    let count = 0;
    for (const pending of this.pendings.values()) {
      if (pending.state !== 'open' || pending.timeoutAtMs === null || pending.timeoutAtMs > nowMs) continue;
      for (const p of pending.postings) this.release(p, p.amountMinor, 0n);
      pending.state = 'expired';
      this.seq++;
      count++;
    }
    return count;
  }

  private replay(input: EntryInput, stored: ModelEntry): Prediction {
    const first = stored.input;
    if (first.kind !== input.kind) return { code: 'exists_with_different_kind' };
    if ((first.pendingId ?? null) !== (input.pendingId ?? null)) return { code: 'exists_with_different_pending_id' };
    if (first.kind === 'pending' && (first.timeoutSeconds ?? 0) !== (input.timeoutSeconds ?? 0)) {
      return { code: 'exists_with_different_timeout' };
    }
    if (!samePostings(first, input, stored.released)) return { code: 'exists_with_different_postings' };
    if (first.command !== input.command) return { code: 'exists_with_different_command' };
    if ((first.reference ?? null) !== (input.reference ?? null)) return { code: 'exists_with_different_reference' };
    if ((first.actor ?? null) !== (input.actor ?? null)) return { code: 'exists_with_different_actor' };
    return { code: 'exists', seq: stored.seq };
  }

  private accountsRefusal(postings: readonly PostingInput[], allowClosed: boolean): EntryResultCode | null {
    for (const p of postings) {
      if (!this.accounts.has(p.debitAccountId)) return 'debit_account_not_found';
      if (!this.accounts.has(p.creditAccountId)) return 'credit_account_not_found';
    }
    if (!allowClosed) {
      for (const p of postings) {
        if (this.accounts.get(p.debitAccountId)?.closed) return 'debit_account_closed';
        if (this.accounts.get(p.creditAccountId)?.closed) return 'credit_account_closed';
      }
    }
    const currency = this.accounts.get(postings[0]?.debitAccountId ?? '')?.currency;
    for (const p of postings) {
      if (this.accounts.get(p.debitAccountId)?.currency !== currency) return 'currency_mismatch';
      if (this.accounts.get(p.creditAccountId)?.currency !== currency) return 'currency_mismatch';
    }
    return null;
  }

  private newMoney(input: EntryInput, nowMs: number): EntryResultCode {
    const refusal = this.accountsRefusal(input.postings, false);
    if (refusal !== null) return refusal;
    const reserve = input.kind === 'pending';
    // Work on copies: the entry applies whole or not at all.
    const copies = new Map<Id, ModelAccount>();
    const copy = (id: Id): ModelAccount => {
      let c = copies.get(id);
      if (c === undefined) {
        c = { ...(this.accounts.get(id) as ModelAccount) };
        copies.set(id, c);
      }
      return c;
    };
    for (const p of input.postings) {
      const debit = copy(p.debitAccountId);
      const credit = copy(p.creditAccountId);
      const amount = p.amountMinor;
      const dp = debit.dp + (reserve ? amount : 0n);
      const dpo = debit.dpo + (reserve ? 0n : amount);
      const cp = credit.cp + (reserve ? amount : 0n);
      const cpo = credit.cpo + (reserve ? 0n : amount);
      const max = limits.balanceMinorMax;
      if (dp > max || dpo > max || dp + dpo > max) return 'overflows_debits';
      if (cp > max || cpo > max || cp + cpo > max) return 'overflows_credits';
      if (debit.flags.debitsMustNotExceedCredits && dp + dpo > debit.cpo) return 'exceeds_credits';
      if (credit.flags.creditsMustNotExceedDebits && cp + cpo > credit.dpo) return 'exceeds_debits';
      Object.assign(debit, { dp, dpo });
      Object.assign(credit, { cp, cpo });
    }
    for (const [id, c] of copies) this.accounts.set(id, c);
    this.seq++;
    this.entries.set(input.id, { input, seq: this.seq, released: [] });
    if (reserve) {
      const timeout = input.timeoutSeconds ?? 0;
      this.pendings.set(input.id, {
        postings: input.postings,
        timeoutAtMs: timeout > 0 ? nowMs + timeout * 1000 : null,
        state: 'open',
      });
    }
    return 'ok';
  }

  private resolve(input: EntryInput, nowMs: number): EntryResultCode {
    const pendingId = input.pendingId as Id;
    const pending = this.pendings.get(pendingId);
    if (pending !== undefined) {
      const refusal = this.accountsRefusal(pending.postings, input.kind !== 'post_pending');
      if (refusal !== null) return refusal;
    }
    if (pending === undefined) return this.entries.has(pendingId) ? 'pending_entry_not_pending' : 'pending_entry_not_found';
    if (pending.state === 'posted') return 'pending_entry_already_posted';
    if (pending.state === 'voided') return 'pending_entry_already_voided';
    if (pending.state === 'expired') return 'pending_entry_expired';
    const due = pending.timeoutAtMs !== null && nowMs >= pending.timeoutAtMs;
    if (input.kind === 'expire' && !due) return 'pending_entry_not_expired';
    if (input.kind !== 'expire' && due) return 'pending_entry_expired';
    let amounts = pending.postings.map(() => 0n);
    if (input.kind === 'post_pending') {
      if (input.postings.length === 0) {
        amounts = pending.postings.map((p) => p.amountMinor);
      } else {
        if (input.postings.length !== pending.postings.length) return 'pending_entry_has_different_postings';
        for (const [i, p] of input.postings.entries()) {
          const reserved = pending.postings[i] as PostingInput;
          if (p.debitAccountId !== reserved.debitAccountId || p.creditAccountId !== reserved.creditAccountId) {
            return 'pending_entry_has_different_postings';
          }
          if (p.amountMinor > reserved.amountMinor) return 'exceeds_pending_amount';
        }
        amounts = input.postings.map((p) => p.amountMinor);
      }
    }
    pending.postings.forEach((p, i) => this.release(p, p.amountMinor, amounts[i] ?? 0n));
    pending.state = input.kind === 'post_pending' ? 'posted' : input.kind === 'void_pending' ? 'voided' : 'expired';
    this.seq++;
    this.entries.set(input.id, { input, seq: this.seq, released: pending.postings.map((p) => p.amountMinor) });
    return 'ok';
  }

  private release(p: PostingInput, reserved: bigint, posted: bigint): void {
    const debit = this.accounts.get(p.debitAccountId) as ModelAccount;
    const credit = this.accounts.get(p.creditAccountId) as ModelAccount;
    debit.dp -= reserved;
    debit.dpo += posted;
    credit.cp -= reserved;
    credit.cpo += posted;
  }
}

function samePostings(first: EntryInput, again: EntryInput, released: readonly bigint[]): boolean {
  if (again.kind === 'void_pending' || again.kind === 'expire') return true;
  if (again.kind === 'post_pending' && again.postings.length === 0) {
    if (first.postings.length === 0) return true;
    return first.postings.every((p, i) => p.amountMinor === released[i]);
  }
  if (again.kind === 'post_pending' && first.postings.length === 0) {
    return again.postings.every((p, i) => p.amountMinor === released[i]);
  }
  if (first.postings.length !== again.postings.length) return false;
  return first.postings.every((p, i) => {
    const q = again.postings[i];
    return (
      q !== undefined &&
      q.debitAccountId === p.debitAccountId &&
      q.creditAccountId === p.creditAccountId &&
      q.amountMinor === p.amountMinor
    );
  });
}
