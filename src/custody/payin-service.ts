import type { AcquiringChannel, ChannelCallback, PaymentState } from '../channels/acquiring/acquiring-channel.js';
import { businessDate } from '../business-date.js';
import type { Clock } from '../clock.js';
import { CustodyError } from '../errors.js';
import { newId } from '../ids.js';
import type { Id, LedgerStore } from '../ledger/index.js';
import { limits } from '../limits.js';
import type { OrderRow, PayinRow } from '../storage/sql-trade-store.js';
import { CommandDraft, refusalOf, runCommand } from './command-draft.js';
import type { Row } from './command-draft.js';
import type { MemberService } from './member-service.js';
import { checkOrderNo } from './order-service.js';
import type { OrderService } from './order-service.js';
import type { PlatformService } from './platform-service.js';

export interface PayinReads {
  businessKey(platformId: Id, orderNo: string): Promise<{ kind: string; object_id: string } | undefined>;
  payin(platformId: Id, id: Id): Promise<PayinRow | undefined>;
  payinById(id: Id): Promise<PayinRow | undefined>;
  stalePayins(beforeMs: number, limit: number): Promise<PayinRow[]>;
  order(platformId: Id, id: Id): Promise<OrderRow | undefined>;
}

export interface CreatePayin {
  readonly orderNo: string;
  readonly amountMinor: bigint;
  readonly channel: string;
  /** Recharge a member … */
  readonly memberId?: Id | undefined;
  /** … or fund one of the platform's own accounts. */
  readonly account?: 'marketing' | 'own_funds' | undefined;
}

/** What a logger must offer: warnings about channel answers that cannot be trusted or applied. */
/** Where services tell what happened: warnings always; information and errors if the log takes them. */
export interface Warn {
  warn(fields: Record<string, unknown>, message: string): void;
  info?(fields: Record<string, unknown>, message: string): void;
  error?(fields: Record<string, unknown>, message: string): void;
}

/**
 * Money in (入金) through acquiring channels. A payin is recorded first, then the channel is
 * asked; its result comes back as a signed callback (or an answer to a query when callbacks
 * go missing) and is applied exactly once: on success the member's spendable grows (never
 * withdrawable) and the money sits in the channel in-transit account until settlement.
 */
export class PayinService {
  constructor(
    private readonly ledger: LedgerStore,
    private readonly reads: PayinReads,
    private readonly platforms: PlatformService,
    private readonly members: MemberService,
    private readonly orders: OrderService,
    private readonly channels: ReadonlyMap<string, AcquiringChannel>,
    private readonly clock: Clock,
    private readonly log: Warn,
  ) {}

  channelNames(): string[] {
    return [...this.channels.keys()];
  }

  private channel(name: string): AcquiringChannel {
    const channel = this.channels.get(name);
    if (channel === undefined) {
      throw new CustodyError('invalid_request', `Unknown channel; this Custos knows ${this.channelNames().join(', ')}.`, 'channel');
    }
    return channel;
  }

  async create(platformId: Id, command: CreatePayin, actor: string): Promise<PayinRow> {
    checkOrderNo(command.orderNo);
    this.channel(command.channel);
    if (command.amountMinor > limits.payinAmountMinorMax) throw new CustodyError('amount_exceeds_limit', 'The payin is above the amount limit.', 'amount');
    if ((command.memberId === undefined) === (command.account === undefined)) {
      throw new CustodyError('invalid_request', 'Name either member_id or account.', command.memberId === undefined ? 'member_id' : 'account');
    }
    await this.platforms.record(platformId);
    if (command.memberId !== undefined) {
      await this.members.record(platformId, command.memberId).catch(() => {
        throw new CustodyError('not_found', 'No such member.', 'member_id');
      });
    }
    const payin = await runCommand(this.ledger, platformId, async () => {
      if ((await this.reads.businessKey(platformId, command.orderNo)) !== undefined) {
        throw new CustodyError('duplicate_order_no', 'This order_no was used before on this platform.', 'order_no');
      }
      const draft = new CommandDraft(platformId, this.clock.nowMs());
      const id = newId(draft.nowMs);
      draft.businessKey(command.orderNo, 'payin', id);
      const row = this.insertPayin(draft, id, {
        order_no: command.orderNo,
        purpose: 'recharge',
        member_id: command.memberId ?? null,
        account_code: command.account ?? null,
        order_id: null,
        amount: command.amountMinor,
        channel: command.channel,
      }, actor);
      return { draft, done: () => row as PayinRow };
    });
    return this.askChannel(payin);
  }

  /** An order paid through a channel: its payin is created with it, then the channel is asked. */
  async startOrderPayment(order: OrderRow, actor: string): Promise<OrderRow> {
    if (order.channel === null) throw new Error('an order paid from a balance has no channel payment');
    this.channel(order.channel);
    const payin = await runCommand(this.ledger, order.platform_id, async () => {
      const current = await this.reads.order(order.platform_id, order.id);
      if (current === undefined) throw new Error('the order vanished');
      if (current.payin_id !== null) {
        const existing = await this.reads.payin(order.platform_id, current.payin_id);
        if (existing === undefined) throw new Error('the payment vanished');
        return { draft: new CommandDraft(order.platform_id, this.clock.nowMs()), done: () => existing };
      }
      const draft = new CommandDraft(order.platform_id, this.clock.nowMs());
      const id = newId(draft.nowMs);
      const row = this.insertPayin(draft, id, {
        order_no: order.order_no,
        purpose: 'order_payment',
        member_id: order.buyer_id,
        account_code: null,
        order_id: order.id,
        amount: order.amount,
        channel: order.channel ?? '',
      }, actor);
      draft.update('orders', current as unknown as Row, { payin_id: id, updated_at: new Date(draft.nowMs) });
      return { draft, done: () => row as PayinRow };
    });
    await this.askChannel(payin);
    return (await this.reads.order(order.platform_id, order.id)) ?? order;
  }

  private insertPayin(draft: CommandDraft, id: Id, fields: Record<string, unknown>, actor: string): Row {
    const row = draft.insert('payins', {
      id,
      ...fields,
      currency: 'CNY',
      channel_txn_id: null,
      status: 'pending',
      failure_reason: null,
      entry_id: null,
      business_date: businessDate(draft.nowMs),
      created_at: new Date(draft.nowMs),
      decided_at: null,
    });
    this.event(draft, row, 'payin.created', actor, null);
    return row;
  }

  /**
   * Asks the channel to collect. If the channel cannot be reached, the payin stays pending
   * and the query sweep asks again later under the same payment id (never a second charge).
   */
  private async askChannel(payin: PayinRow): Promise<PayinRow> {
    let state: PaymentState;
    try {
      state = await this.channel(payin.channel).createPayment({
        paymentId: payin.id,
        orderNo: payin.order_no,
        amountMinor: payin.amount,
        currency: payin.currency,
        platformId: payin.platform_id,
      });
    } catch (error) {
      this.log.warn({ payin: payin.id, err: error }, 'the channel did not take the payment yet; it will be asked again');
      return payin;
    }
    return this.apply(payin.platform_id, payin.id, state, `channel:${payin.channel}`);
  }

  /** A callback from a channel: trusted only with a valid signature, applied at most once. */
  async handleCallback(callback: ChannelCallback): Promise<'applied' | 'ignored' | 'rejected'> {
    const channel = this.channels.get(callback.channel);
    const state = channel?.readCallback(callback, this.clock.nowMs()) ?? null;
    if (state === null) return 'rejected';
    const payin = await this.reads.payinById(state.paymentId);
    if (payin === undefined || payin.channel !== callback.channel) return 'rejected';
    const before = payin.status;
    const after = await this.apply(payin.platform_id, payin.id, state, `channel:${callback.channel}`);
    return before === 'pending' && after.status !== 'pending' ? 'applied' : 'ignored';
  }

  /** Payins whose channel never answered: ask, and apply what the channel says. */
  async queryStale(limit = 200): Promise<number> {
    let decided = 0;
    const before = this.clock.nowMs() - limits.payinQueryAfterSeconds * 1000;
    for (const payin of await this.reads.stalePayins(before, limit)) {
      const channel = this.channels.get(payin.channel);
      if (channel === undefined) continue;
      const state = await channel.queryPayment(payin.id).catch(() => null);
      const after = state === null ? await this.askChannel(payin) : await this.apply(payin.platform_id, payin.id, state, `channel:${payin.channel}`);
      if (after.status !== 'pending') decided++;
    }
    return decided;
  }

  /**
   * Applies a channel's word about a payment, exactly once: a decided payin ignores every
   * later callback (duplicates, stale `pending` ones that arrive late).
   */
  async apply(platformId: Id, payinId: Id, state: PaymentState, actor: string): Promise<PayinRow> {
    return runCommand(this.ledger, platformId, async () => {
      const payin = await this.reads.payin(platformId, payinId);
      if (payin === undefined) throw new Error(`payin ${payinId} vanished`);
      const draft = new CommandDraft(platformId, this.clock.nowMs());
      const noChange = { draft, done: () => payin };
      if (payin.status !== 'pending') return noChange;
      if (state.status === 'pending') {
        if (payin.channel_txn_id !== null || state.channelTxnId === '') return noChange;
        const row = draft.update('payins', payin as unknown as Row, { channel_txn_id: state.channelTxnId });
        return { draft, done: () => row as PayinRow };
      }
      if (state.amountMinor !== payin.amount) {
        this.log.warn({ payin: payin.id }, 'the channel reports another amount; left pending for reconciliation');
        return noChange;
      }
      const row = await this.draftDecision(draft, payin, state, actor);
      return {
        draft,
        done: (result) => {
          if (result.code !== 'ok') throw refusalOf(result.code, 'The payin could not be credited.');
          return row as PayinRow;
        },
      };
    });
  }

  private async draftDecision(draft: CommandDraft, payin: PayinRow, state: PaymentState, actor: string): Promise<Row> {
    const succeeded = state.status === 'succeeded';
    const decidedAt = new Date(state.decidedAtMs ?? draft.nowMs);
    if (payin.purpose === 'order_payment') {
      const order = await this.reads.order(payin.platform_id, payin.order_id ?? '');
      if (order === undefined) throw new Error('the order of a payment vanished');
      if (succeeded) await this.orders.draftChannelPaid(draft, order, actor);
      else this.orders.draftChannelFailed(draft, order, actor, state.failureReason);
    } else if (succeeded) {
      draft.entry = {
        id: newId(draft.nowMs),
        kind: 'posted',
        command: 'payin.succeeded',
        reference: payin.order_no,
        actor,
        postings: [{ debitAccountId: (await this.platforms.record(payin.platform_id)).accounts.channel_in_transit, creditAccountId: await this.creditAccount(payin), amountMinor: payin.amount }],
      };
    }
    const row = draft.update('payins', payin as unknown as Row, {
      status: state.status,
      channel_txn_id: state.channelTxnId,
      failure_reason: succeeded ? null : state.failureReason ?? 'failed',
      entry_id: draft.entry?.id ?? null,
      decided_at: decidedAt,
    });
    this.event(draft, row, succeeded ? 'payin.succeeded' : 'payin.failed', actor, succeeded ? null : state.failureReason);
    return row;
  }

  /** A recharge lands in the member's spendable bucket, or in the platform account named. */
  private async creditAccount(payin: PayinRow): Promise<Id> {
    if (payin.member_id !== null) return (await this.members.record(payin.platform_id, payin.member_id)).accounts.member_spendable;
    const platform = await this.platforms.record(payin.platform_id);
    return payin.account_code === 'own_funds' ? platform.accounts.own_funds : platform.accounts.marketing;
  }

  async get(platformId: Id, payinId: Id): Promise<PayinRow> {
    const payin = await this.reads.payin(platformId, payinId);
    if (payin === undefined) throw new CustodyError('not_found', 'No such payin.', 'id');
    return payin;
  }

  private event(draft: CommandDraft, payin: Row, type: string, actor: string, reason: string | null): void {
    const { platform_id: _platform, ...data } = payin;
    draft.event({ objectType: 'payin', objectId: payin.id, sequence: payin.version, type, actor, reason, data });
  }
}
