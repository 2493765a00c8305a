import { PayoutOutcomeUnknownError } from '../channels/payout/payout-channel.js';
import type { PayoutChannel, PayoutState } from '../channels/payout/payout-channel.js';
import type { Clock } from '../clock.js';
import { newId } from '../ids.js';
import type { Id, LedgerStore } from '../ledger/index.js';
import { limits } from '../limits.js';
import type { WithdrawalRow } from '../storage/sql-withdrawal-store.js';
import type { CardService } from './card-service.js';
import { CommandDraft, refusalOf, runCommand } from './command-draft.js';
import type { Row } from './command-draft.js';
import type { MemberService } from './member-service.js';
import type { Warn } from './payin-service.js';
import type { PlatformService } from './platform-service.js';
import type { WithdrawalService } from './withdrawal-service.js';

export interface DueWithdrawals {
  dueWithdrawals(nowMs: number, limit: number): Promise<WithdrawalRow[]>;
  withdrawal(platformId: Id, id: Id): Promise<WithdrawalRow | undefined>;
}

/** How long to wait before asking a rail again: exponential, bounded. */
export function retryDelayMs(attempts: number): number {
  const seconds = Math.min(limits.payoutRetryMaxSeconds, limits.payoutRetryBaseSeconds * 2 ** Math.min(20, Math.max(0, attempts - 1)));
  return seconds * 1000;
}

/**
 * Fault injection for the crash-and-resume tests: with CUSTOS_TEST_CRASH_AT naming a step,
 * the process kills itself there, as a power cut would, so the test can restart it and see
 * the withdrawal resume. Unset in every real deployment, where this does nothing.
 */
function crashPoint(step: string): void {
  if (process.env.CUSTOS_TEST_CRASH_AT === step) process.kill(process.pid, 'SIGKILL');
}

/**
 * Takes reserved withdrawals to the payout rail and follows them to the end, one durable
 * step at a time, so that a crash anywhere resumes where it stopped:
 * reserved → (waiting for the high-value rail to open) → sending → sent → succeeded → watched
 * for returns; or failed. Before anything is sent the step says `sending`; a withdrawal found
 * `sending` is asked about, and sent only if the rail never received it. Money is never paid twice.
 */
export class PayoutProcessor {
  private readonly running = new Set<Id>();

  constructor(
    private readonly ledger: LedgerStore,
    private readonly reads: DueWithdrawals,
    private readonly withdrawals: WithdrawalService,
    private readonly platforms: PlatformService,
    private readonly members: MemberService,
    private readonly cards: CardService,
    private readonly rail: PayoutChannel,
    private readonly clock: Clock,
    private readonly log: Warn,
  ) {}

  /** Does every step that is due; returns how many withdrawals moved. */
  async runDue(limit = 200): Promise<number> {
    let moved = 0;
    for (const due of await this.reads.dueWithdrawals(this.clock.nowMs(), limit)) {
      if (await this.step(due.platform_id, due.id)) moved++;
    }
    return moved;
  }

  /** One step of one withdrawal; false when nothing could be done now. */
  async step(platformId: Id, id: Id): Promise<boolean> {
    if (this.running.has(id)) return false;
    this.running.add(id);
    try {
      const withdrawal = await this.reads.withdrawal(platformId, id);
      if (withdrawal === undefined) return false;
      switch (withdrawal.step) {
        case 'reserved':
        case 'waiting_rail':
          return await this.send(withdrawal);
        case 'sending':
          return await this.resume(withdrawal);
        case 'sent':
        case 'watching':
          return await this.follow(withdrawal);
        default:
          return false;
      }
    } finally {
      this.running.delete(id);
    }
  }

  private async send(withdrawal: WithdrawalRow): Promise<boolean> {
    const rail = withdrawal.rail as 'realtime' | 'high_value';
    if (!this.rail.isOpen(rail, this.clock.nowMs())) {
      await this.move(withdrawal, { step: 'waiting_rail', next_attempt_at: new Date(this.clock.nowMs() + limits.highValueRailPollSeconds * 1000) });
      return false;
    }
    // The rail may receive it from here on: a crash now must be followed by a query, not a send.
    const sending = await this.move(withdrawal, { step: 'sending', attempts: withdrawal.attempts + 1, next_attempt_at: new Date(this.clock.nowMs() + retryDelayMs(withdrawal.attempts + 1)) });
    if (sending === null) return false;
    crashPoint('before_send');
    let state: PayoutState;
    try {
      state = await this.rail.sendPayout(await this.request(sending));
    } catch (error) {
      if (!(error instanceof PayoutOutcomeUnknownError)) this.log.warn({ withdrawal: withdrawal.id, err: error }, 'the payout rail refused or failed; will ask again');
      return true;
    }
    crashPoint('after_send');
    await this.apply(sending.platform_id, sending.id, state);
    return true;
  }

  /** A withdrawal left `sending`: the rail may or may not have it. Ask first. */
  private async resume(withdrawal: WithdrawalRow): Promise<boolean> {
    const state = await this.query(withdrawal);
    if (state === undefined) return false;
    if (state === null) return this.send(withdrawal);
    await this.apply(withdrawal.platform_id, withdrawal.id, state);
    return true;
  }

  private async follow(withdrawal: WithdrawalRow): Promise<boolean> {
    const state = await this.query(withdrawal);
    if (state === undefined || state === null) return false;
    await this.apply(withdrawal.platform_id, withdrawal.id, state);
    return true;
  }

  /** The rail's answer, null if it never received the payout, undefined if it did not answer. */
  private async query(withdrawal: WithdrawalRow): Promise<PayoutState | null | undefined> {
    try {
      return await this.rail.queryPayout(withdrawal.id);
    } catch (error) {
      this.log.warn({ withdrawal: withdrawal.id, err: error }, 'the payout rail did not answer a query; will ask again');
      await this.move(withdrawal, { attempts: withdrawal.attempts + 1, next_attempt_at: new Date(this.clock.nowMs() + retryDelayMs(withdrawal.attempts + 1)) });
      return undefined;
    }
  }

  private async request(withdrawal: WithdrawalRow) {
    const member = await this.members.record(withdrawal.platform_id, withdrawal.member_id);
    // The card was the member's own and bound when the withdrawal was reserved; it is paid
    // to even if the member unbinds it meanwhile.
    const card = await this.cards.recordOf(withdrawal.platform_id, withdrawal.card_id);
    return {
      payoutId: withdrawal.id,
      platformId: withdrawal.platform_id,
      orderNo: withdrawal.order_no,
      amountMinor: withdrawal.amount,
      currency: withdrawal.currency,
      rail: withdrawal.rail as 'realtime' | 'high_value',
      cardNumber: this.cards.cardNumberOf(card),
      accountName: this.members.personal(member).name,
    };
  }

  /** Applies what the rail says, once: each outcome moves the withdrawal forward only from where it stood. */
  private async apply(platformId: Id, id: Id, state: PayoutState): Promise<void> {
    await runCommand(this.ledger, platformId, async () => {
      const withdrawal = await this.reads.withdrawal(platformId, id);
      if (withdrawal === undefined) throw new Error(`withdrawal ${id} vanished`);
      const draft = new CommandDraft(platformId, this.clock.nowMs());
      const row = await this.draftOutcome(draft, withdrawal, state);
      return {
        draft,
        done: (result) => {
          if (result.code !== 'ok') throw refusalOf(result.code, `The payout outcome could not be applied (${String(row)}).`);
        },
      };
    });
  }

  private async draftOutcome(draft: CommandDraft, w: WithdrawalRow, state: PayoutState): Promise<string> {
    const now = new Date(draft.nowMs);
    const railTxnId = state.railTxnId ?? w.rail_txn_id;
    if (w.status === 'processing' && state.status === 'processing') {
      draft.update('withdrawals', w as unknown as Row, { step: 'sent', rail_txn_id: railTxnId, next_attempt_at: new Date(draft.nowMs + retryDelayMs(w.attempts + 1)), attempts: w.attempts + 1, updated_at: now });
      return 'sent';
    }
    if (w.status === 'processing' && state.status === 'failed') {
      const row = await this.withdrawals.release(draft, w, 'failed', state.failureReason ?? 'failed_at_rail', 'rail');
      this.withdrawals.event(draft, row, 'withdrawal.failed', 'rail', state.failureReason);
      return 'failed';
    }
    if (w.status === 'processing' && (state.status === 'succeeded' || state.status === 'returned')) {
      // A payout already returned when first seen is first recorded as paid; the return follows.
      if (w.reserve_entry_id === null) throw new Error('a processing withdrawal has a reservation');
      draft.entry = { id: newId(draft.nowMs), kind: 'post_pending', pendingId: w.reserve_entry_id, postings: [], command: 'withdrawal.paid', reference: w.order_no, actor: 'rail' };
      const row = draft.update('withdrawals', w as unknown as Row, {
        status: 'succeeded',
        step: 'watching',
        rail_txn_id: railTxnId,
        decided_at: new Date(state.decidedAtMs ?? draft.nowMs),
        watch_until: new Date(draft.nowMs + limits.payoutReturnWatchSeconds * 1000),
        next_attempt_at: new Date(draft.nowMs + (state.status === 'returned' ? 0 : limits.payoutReturnCheckSeconds * 1000)),
        updated_at: now,
      });
      this.withdrawals.event(draft, row, 'withdrawal.succeeded', 'rail', null);
      return 'succeeded';
    }
    if (w.status === 'succeeded' && state.status === 'returned') return this.draftReturn(draft, w, state);
    if (w.status === 'succeeded') {
      const watching = w.watch_until !== null && w.watch_until.getTime() > draft.nowMs;
      draft.update('withdrawals', w as unknown as Row, {
        step: watching ? 'watching' : 'done',
        next_attempt_at: watching ? new Date(draft.nowMs + limits.payoutReturnCheckSeconds * 1000) : null,
        updated_at: now,
      });
      return watching ? 'watching' : 'done';
    }
    return 'unchanged';
  }

  /** 退票: the money came back to the custody account; the member may withdraw it again. */
  private async draftReturn(draft: CommandDraft, w: WithdrawalRow, state: PayoutState): Promise<string> {
    const platform = await this.platforms.record(w.platform_id);
    const member = await this.members.record(w.platform_id, w.member_id);
    draft.entry = {
      id: newId(draft.nowMs),
      kind: 'posted',
      command: 'withdrawal.returned',
      reference: w.order_no,
      actor: 'rail',
      postings: [{ debitAccountId: platform.accounts.custody_summary, creditAccountId: member.accounts.member_withdrawable, amountMinor: w.amount }],
    };
    await this.withdrawals.restoreLots(draft, w);
    const row = draft.update('withdrawals', w as unknown as Row, {
      status: 'returned',
      step: 'done',
      failure_reason: state.failureReason ?? 'returned',
      returned_at: new Date(state.returnedAtMs ?? draft.nowMs),
      next_attempt_at: null,
      updated_at: new Date(draft.nowMs),
    });
    this.withdrawals.event(draft, row, 'withdrawal.returned', 'rail', state.failureReason);
    return 'returned';
  }

  /** Moves a withdrawal's step (no money); null when someone else moved it first. */
  private async move(withdrawal: WithdrawalRow, changes: Record<string, unknown>): Promise<WithdrawalRow | null> {
    const draft = new CommandDraft(withdrawal.platform_id, this.clock.nowMs());
    const row = draft.update('withdrawals', withdrawal as unknown as Row, { ...changes, updated_at: new Date(draft.nowMs) });
    const result = await this.ledger.execute(withdrawal.platform_id, draft.command());
    return result.code === 'ok' ? (row as WithdrawalRow) : null;
  }
}
