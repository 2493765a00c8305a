import { businessDate } from '../business-date.js';
import type { Clock } from '../clock.js';
import { CustodyError } from '../errors.js';
import { newId } from '../ids.js';
import type { Id, LedgerStore } from '../ledger/index.js';
import { limits } from '../limits.js';
import type { LotRow, OrderRow, RefundRow } from '../storage/sql-trade-store.js';
import { CommandDraft, refusalOf, runCommand, StaleRead } from './command-draft.js';
import type { Row, TradeMovement } from './command-draft.js';
import type { MemberService } from './member-service.js';
import type { Warn } from './payin-service.js';
import type { PlatformService } from './platform-service.js';
import { addLot, takeLots } from './proceeds-lots.js';
import type { MemberRecord, PlatformRecord } from './records.js';
import {
  allocateFunding,
  allocatePayeeReturn,
  newPayeePart,
  pairPostings,
  refund,
  refundable,
  release,
} from './trade-rules.js';
import type { Buckets, Flow, PayeePart } from './trade-rules.js';

/** What the order service reads; every write goes through book commands. */
export interface TradeReads {
  businessKey(platformId: Id, orderNo: string): Promise<{ kind: string; object_id: string } | undefined>;
  order(platformId: Id, id: Id): Promise<OrderRow | undefined>;
  listOrders(platformId: Id, limit: number, afterId?: Id): Promise<OrderRow[]>;
  dueOrders(nowMs: number, limit: number): Promise<{ platform_id: string; id: string }[]>;
  refunds(platformId: Id, orderId: Id): Promise<RefundRow[]>;
  lots(platformId: Id, memberId: Id, bucket: 'pending' | 'withdrawable'): Promise<LotRow[]>;
}

export type OrderMode = 'guaranteed' | 'direct_t0' | 'direct_t1';

export interface CreateOrder {
  readonly orderNo: string;
  readonly buyerId?: Id | undefined;
  readonly mode: OrderMode;
  readonly payees: readonly { memberId: Id; amountMinor: bigint; feeMinor?: bigint | undefined }[];
  /** Absent: from the buyer's balance; a channel: the buyer pays through it for this order. */
  readonly channel?: string | undefined;
  readonly autoConfirmSeconds?: number | undefined;
}

/** Payee parts as stored in the order row: bigints as decimal strings, exact. */
type PayeeJson = Record<keyof PayeePart, string>;

export function payeesOf(order: OrderRow): PayeePart[] {
  return (order.payees as PayeeJson[]).map((p) => ({
    memberId: p.memberId,
    amount: BigInt(p.amount),
    fee: BigInt(p.fee),
    escrowed: BigInt(p.escrowed),
    released: BigInt(p.released),
    feeReleased: BigInt(p.feeReleased),
    refunded: BigInt(p.refunded),
    refundedAfterRelease: BigInt(p.refundedAfterRelease),
    feeRefunded: BigInt(p.feeRefunded),
  }));
}

function payeesJson(parts: readonly PayeePart[]): PayeeJson[] {
  return parts.map((p) => Object.fromEntries(Object.entries(p).map(([k, v]) => [k, String(v)])) as PayeeJson);
}

const orderNoPattern = /^[A-Za-z0-9_.:@-]{1,64}$/;

export function checkOrderNo(orderNo: string): void {
  if (!orderNoPattern.test(orderNo)) throw new CustodyError('invalid_request', 'order_no must be 1 to 64 letters, digits or _.:@-', 'order_no');
}

/** Ends of an order's money: the account that holds a payee's escrow in each escrow mode. */
function escrowAccount(platform: PlatformRecord, mode: OrderRow['escrow_mode'], buyer: MemberRecord | null, payee: MemberRecord): Id {
  if (mode === 'intermediate') return platform.accounts.guarantee;
  const holder = mode === 'buyer' ? buyer : payee;
  const frozen = holder?.accounts.member_frozen;
  if (frozen === undefined) throw new Error(`escrow in ${mode} mode needs the member's frozen account`);
  return frozen;
}

function orderStatus(parts: readonly PayeePart[]): OrderRow['status'] {
  if (parts.some((p) => p.escrowed > 0n)) return 'escrowed';
  if (parts.every((p) => p.refunded === p.amount)) return 'refunded';
  return 'completed';
}

function totals(parts: readonly PayeePart[]) {
  return {
    escrowed_amount: parts.reduce((s, p) => s + p.escrowed, 0n),
    released_amount: parts.reduce((s, p) => s + p.released, 0n),
    refunded_amount: parts.reduce((s, p) => s + p.refunded, 0n),
  };
}

/**
 * Witnessed trades (见证交易): orders paid from a buyer's balance or through a channel,
 * escrowed (guaranteed) or paid straight to payees (direct T+0 / T+1), confirmed to payees
 * minus the platform's fee, refunded before or after release, and auto-confirmed when due.
 * Each money movement is one journal entry written with the order's new state.
 */
export class OrderService {
  constructor(
    private readonly ledger: LedgerStore,
    private readonly trades: TradeReads,
    private readonly platforms: PlatformService,
    private readonly members: MemberService,
    private readonly clock: Clock,
    private readonly log: Warn = { warn: () => undefined },
  ) {}

  async create(platformId: Id, command: CreateOrder, actor: string): Promise<OrderRow> {
    const platform = await this.platforms.record(platformId);
    const checked = await this.check(platform, command);
    return runCommand(this.ledger, platformId, async () => {
      if ((await this.trades.businessKey(platformId, command.orderNo)) !== undefined) {
        throw new CustodyError('duplicate_order_no', 'This order_no was used before on this platform.', 'order_no');
      }
      const draft = new CommandDraft(platformId, this.clock.nowMs());
      const row = await this.draftCreate(draft, platform, command, checked, actor);
      return {
        draft,
        done: (result) => {
          if (result.code === 'ok') return row as OrderRow;
          throw refusalOf(result.code, "The buyer's available balance does not cover the order.");
        },
      };
    });
  }

  private async check(platform: PlatformRecord, command: CreateOrder) {
    checkOrderNo(command.orderNo);
    if (command.payees.length === 0) throw new CustodyError('invalid_request', 'payees must name at least one payee.', 'payees');
    if (command.payees.length > limits.payeesPerOrderMax) {
      throw new CustodyError('too_many_payees', `An order has at most ${limits.payeesPerOrderMax} payees.`, 'payees');
    }
    const seen = new Set<Id>();
    const payees: MemberRecord[] = [];
    for (const [index, payee] of command.payees.entries()) {
      const fee = payee.feeMinor ?? 0n;
      if (fee < 0n || fee > payee.amountMinor) throw new CustodyError('invalid_request', 'fee must be between 0 and the amount.', `payees[${index}].fee`);
      if (seen.has(payee.memberId)) throw new CustodyError('invalid_request', 'A payee appears twice.', `payees[${index}].member_id`);
      seen.add(payee.memberId);
      payees.push(await this.members.record(platform.id, payee.memberId).catch(() => {
        throw new CustodyError('not_found', 'No such member.', `payees[${index}].member_id`);
      }));
    }
    const amount = command.payees.reduce((sum, p) => sum + p.amountMinor, 0n);
    if (amount > limits.orderAmountMinorMax) throw new CustodyError('amount_exceeds_limit', 'The order is above the amount limit.', 'payees');
    let buyer: MemberRecord | null = null;
    if (command.buyerId !== undefined) {
      buyer = await this.members.record(platform.id, command.buyerId).catch(() => {
        throw new CustodyError('not_found', 'No such member.', 'buyer_id');
      });
      if (seen.has(buyer.id)) throw new CustodyError('invalid_request', 'The buyer cannot be a payee of the same order.', 'buyer_id');
    } else if (command.channel === undefined) {
      throw new CustodyError('invalid_request', 'buyer_id is required when the order is paid from a balance.', 'buyer_id');
    }
    if (platform.escrowMode === 'buyer' && command.mode === 'guaranteed' && buyer === null) {
      throw new CustodyError('invalid_request', 'In buyer escrow mode a guaranteed order needs a buyer_id.', 'buyer_id');
    }
    const autoConfirmSeconds = command.autoConfirmSeconds ?? platform.autoConfirmSeconds;
    if (autoConfirmSeconds < limits.autoConfirmSecondsMin || autoConfirmSeconds > limits.autoConfirmSecondsMax) {
      throw new CustodyError('invalid_request', 'auto_confirm_seconds is out of range.', 'auto_confirm_seconds');
    }
    return { amount, buyer, payees, autoConfirmSeconds };
  }

  private async draftCreate(
    draft: CommandDraft,
    platform: PlatformRecord,
    command: CreateOrder,
    checked: Awaited<ReturnType<OrderService['check']>>,
    actor: string,
  ): Promise<Row> {
    const id = newId(draft.nowMs);
    const today = businessDate(draft.nowMs);
    const guaranteed = command.mode === 'guaranteed';
    const parts = command.payees.map((p) => newPayeePart(p.memberId, p.amountMinor, p.feeMinor ?? 0n, guaranteed));
    const channel = command.channel;
    let fundedFrom: Buckets = { spendable: 0n, withdrawable: 0n, pending: 0n };
    if (channel === undefined) {
      const buyer = checked.buyer as MemberRecord;
      fundedFrom = await this.fund(draft, platform, buyer, checked.amount);
      const sinks = this.payeeSinks(draft, platform, command.mode, buyer, checked.payees, parts, id, command.orderNo, today);
      draft.entry = {
        id: newId(draft.nowMs),
        kind: 'posted',
        command: 'order.pay',
        reference: command.orderNo,
        actor,
        postings: pairPostings(this.buyerSources(buyer, fundedFrom), sinks),
      };
      payMovements(draft, { orderNo: command.orderNo, mode: command.mode, escrowMode: platform.escrowMode, buyerId: buyer.id, amount: checked.amount }, parts);
    }
    draft.businessKey(command.orderNo, 'order', id);
    const row = draft.insert('orders', {
      id,
      order_no: command.orderNo,
      buyer_id: checked.buyer?.id ?? null,
      mode: command.mode,
      funding: channel === undefined ? 'balance' : 'channel',
      channel: channel ?? null,
      payin_id: null,
      escrow_mode: platform.escrowMode,
      status: channel === undefined ? orderStatus(parts) : 'awaiting_payment',
      amount: checked.amount,
      ...(channel === undefined ? totals(parts) : { escrowed_amount: 0n, released_amount: 0n, refunded_amount: 0n }),
      payees: payeesJson(parts),
      funded_from: Object.fromEntries(Object.entries(fundedFrom).map(([k, v]) => [k, String(v)])),
      auto_confirm_at: guaranteed ? new Date(draft.nowMs + checked.autoConfirmSeconds * 1000) : null,
      business_date: today,
      created_at: new Date(draft.nowMs),
      updated_at: new Date(draft.nowMs),
    });
    if (channel === undefined) this.event(draft, row, 'order.paid', actor, null);
    return row;
  }

  /** The buyer's buckets pay: spendable, then withdrawable, then pending (lots spent FIFO). */
  private async fund(draft: CommandDraft, platform: PlatformRecord, buyer: MemberRecord, amount: bigint): Promise<Buckets> {
    const balances = await this.members.balances(buyer);
    const allocation = allocateFunding(amount, {
      spendable: balances.spendableMinor,
      withdrawable: balances.withdrawableMinor,
      pending: balances.pendingMinor,
    });
    if (allocation === null) throw new CustodyError('insufficient_funds', "The buyer's available balance does not cover the order.");
    for (const bucket of ['withdrawable', 'pending'] as const) {
      const part = allocation[bucket];
      if (part === 0n) continue;
      if (takeLots(draft, await this.trades.lots(platform.id, buyer.id, bucket), part) === null) {
        throw new StaleRead(`the ${bucket} lots of member ${buyer.id} do not cover its balance`);
      }
    }
    return allocation;
  }

  private buyerSources(buyer: MemberRecord, from: Buckets): Flow[] {
    return [
      { accountId: buyer.accounts.member_spendable, amount: from.spendable },
      { accountId: buyer.accounts.member_withdrawable, amount: from.withdrawable },
      { accountId: buyer.accounts.member_pending, amount: from.pending },
    ];
  }

  /** Where a paid order's money goes: escrow, or the payees (and the fees) at once. */
  private payeeSinks(
    draft: CommandDraft,
    platform: PlatformRecord,
    mode: OrderMode,
    buyer: MemberRecord | null,
    payees: readonly MemberRecord[],
    parts: readonly PayeePart[],
    orderId: Id,
    orderNo: string,
    today: string,
  ): Flow[] {
    const sinks: Flow[] = [];
    parts.forEach((part, index) => {
      const payee = payees[index] as MemberRecord;
      if (mode === 'guaranteed') {
        sinks.push({ accountId: escrowAccount(platform, platform.escrowMode, buyer, payee), amount: part.amount });
        return;
      }
      const bucket = mode === 'direct_t0' ? 'withdrawable' : 'pending';
      const account = mode === 'direct_t0' ? payee.accounts.member_withdrawable : payee.accounts.member_pending;
      sinks.push({ accountId: account, amount: part.amount - part.fee });
      sinks.push({ accountId: platform.accounts.fees, amount: part.fee });
      addLot(draft, payee.id, bucket, part.amount - part.fee, { orderId, orderNo, businessDate: today });
    });
    return sinks;
  }

  /** A channel paid for an order: the money goes from the channel's in-transit account to escrow or the payees. */
  async draftChannelPaid(draft: CommandDraft, order: OrderRow, actor: string): Promise<void> {
    const platform = await this.platforms.record(order.platform_id);
    const parts = payeesOf(order);
    const payees = await Promise.all(parts.map((p) => this.members.record(order.platform_id, p.memberId)));
    const buyer = order.buyer_id === null ? null : await this.members.record(order.platform_id, order.buyer_id);
    const today = businessDate(draft.nowMs);
    const sinks = this.payeeSinks(draft, platform, order.mode as OrderMode, buyer, payees, parts, order.id, order.order_no, today);
    draft.entry = {
      id: newId(draft.nowMs),
      kind: 'posted',
      command: 'order.pay',
      reference: order.order_no,
      actor,
      postings: pairPostings([{ accountId: platform.accounts.channel_in_transit, amount: order.amount }], sinks),
    };
    payMovements(draft, { orderNo: order.order_no, mode: order.mode as OrderMode, escrowMode: order.escrow_mode, buyerId: order.buyer_id, amount: order.amount }, parts);
    const updated = draft.update('orders', order as unknown as Row, {
      status: orderStatus(parts),
      ...totals(parts),
      updated_at: new Date(draft.nowMs),
    });
    this.event(draft, updated, 'order.paid', actor, null);
  }

  /** The channel refused the payment: the order fails and nothing moves. */
  draftChannelFailed(draft: CommandDraft, order: OrderRow, actor: string, reason: string | null): void {
    const updated = draft.update('orders', order as unknown as Row, { status: 'failed', updated_at: new Date(draft.nowMs) });
    this.event(draft, updated, 'order.failed', actor, reason);
  }

  async get(platformId: Id, orderId: Id): Promise<OrderRow> {
    const order = await this.trades.order(platformId, orderId);
    if (order === undefined) throw new CustodyError('not_found', 'No such order.', 'id');
    return order;
  }

  async list(platformId: Id, limit: number, afterId?: Id): Promise<OrderRow[]> {
    return this.trades.listOrders(platformId, limit, afterId);
  }

  async refundsOf(platformId: Id, orderId: Id): Promise<RefundRow[]> {
    return this.trades.refunds(platformId, orderId);
  }

  /**
   * Releases escrow to payees: all of it, or the given amounts per payee. Each release pays
   * the payee's pending bucket (withdrawable after the day's end) and the fee share.
   */
  async confirm(
    platformId: Id,
    orderId: Id,
    releases: readonly { memberId: Id; amountMinor: bigint }[] | undefined,
    actor: string,
    reason: string | null = null,
  ): Promise<OrderRow> {
    const named = new Set<Id>();
    for (const [index, release] of (releases ?? []).entries()) {
      if (named.has(release.memberId)) throw new CustodyError('invalid_request', 'A payee appears twice.', `payees[${index}].member_id`);
      named.add(release.memberId);
    }
    return runCommand(this.ledger, platformId, async () => {
      const order = await this.get(platformId, orderId);
      if (order.status !== 'escrowed') throw new CustodyError('order_not_confirmable', `The order is ${order.status}; nothing is in escrow.`);
      const draft = new CommandDraft(platformId, this.clock.nowMs());
      const updated = await this.draftConfirm(draft, order, releases, actor, reason);
      return {
        draft,
        done: (result) => {
          if (result.code !== 'ok') throw refusalOf(result.code, 'The release could not be made.');
          return updated as OrderRow;
        },
      };
    });
  }

  private async draftConfirm(
    draft: CommandDraft,
    order: OrderRow,
    releases: readonly { memberId: Id; amountMinor: bigint }[] | undefined,
    actor: string,
    reason: string | null,
  ): Promise<Row> {
    const platform = await this.platforms.record(order.platform_id);
    const parts = payeesOf(order);
    const wanted = new Map<Id, bigint>(
      releases === undefined ? parts.map((p) => [p.memberId, p.escrowed]) : releases.map((r) => [r.memberId, r.amountMinor]),
    );
    const buyer = order.buyer_id === null ? null : await this.members.record(order.platform_id, order.buyer_id);
    const today = businessDate(draft.nowMs);
    const sources: Flow[] = [];
    const sinks: Flow[] = [];
    const movements: TradeMovement[] = [];
    for (const [memberId, gross] of wanted) {
      const index = parts.findIndex((p) => p.memberId === memberId);
      const part = parts[index];
      if (part === undefined) throw new CustodyError('invalid_request', 'This member is no payee of the order.', 'payees');
      if (gross === 0n) continue;
      if (gross > part.escrowed) throw new CustodyError('order_not_confirmable', `At most ${part.escrowed} fen of this payee is in escrow.`, 'payees');
      const payee = await this.members.record(order.platform_id, memberId);
      const released = release(part, gross);
      parts[index] = released.part;
      sources.push({ accountId: escrowAccount(platform, order.escrow_mode, buyer, payee), amount: gross });
      sinks.push({ accountId: payee.accounts.member_pending, amount: gross - released.fee });
      sinks.push({ accountId: platform.accounts.fees, amount: released.fee });
      addLot(draft, memberId, 'pending', gross - released.fee, { orderId: order.id, orderNo: order.order_no, businessDate: today });
      movements.push({
        kind: 'confirm',
        orderNo: order.order_no,
        payerId: order.buyer_id,
        payeeId: memberId,
        amountMinor: gross,
        feeMinor: released.fee,
        buyerEscrowDeltaMinor: escrowHeldForBuyer(order.escrow_mode, order.buyer_id) ? -gross : 0n,
      });
    }
    if (sources.length === 0) throw new CustodyError('order_not_confirmable', 'Nothing to release.');
    draft.entry = {
      id: newId(draft.nowMs),
      kind: 'posted',
      command: 'order.confirm',
      reference: order.order_no,
      actor,
      postings: pairPostings(sources, sinks),
    };
    for (const movement of movements) draft.movement(movement);
    const updated = draft.update('orders', order as unknown as Row, {
      payees: payeesJson(parts),
      status: orderStatus(parts),
      ...totals(parts),
      updated_at: new Date(draft.nowMs),
    });
    this.event(draft, updated, 'order.confirmed', actor, reason);
    return updated;
  }

  /**
   * Gives money back to the buyer (their spendable bucket): from escrow while it lasts, then
   * the payee's net share (pending, withdrawable, spendable) and the fee share from fees.
   */
  async refund(platformId: Id, orderId: Id, amountMinor: bigint, memberId: Id | undefined, actor: string): Promise<RefundRow> {
    return runCommand(this.ledger, platformId, async () => {
      const order = await this.get(platformId, orderId);
      if (order.status === 'awaiting_payment' || order.status === 'failed') {
        throw new CustodyError('order_not_refundable', `The order is ${order.status}; nothing was paid.`);
      }
      const draft = new CommandDraft(platformId, this.clock.nowMs());
      const row = await this.draftRefund(draft, order, amountMinor, memberId, actor);
      return {
        draft,
        done: (result) => {
          if (result.code !== 'ok') throw refusalOf(result.code, 'The payee no longer has the money to refund.');
          return row as RefundRow;
        },
      };
    });
  }

  private async draftRefund(draft: CommandDraft, order: OrderRow, amount: bigint, memberId: Id | undefined, actor: string): Promise<Row> {
    const platform = await this.platforms.record(order.platform_id);
    const parts = payeesOf(order);
    if (memberId === undefined && parts.length > 1) {
      throw new CustodyError('invalid_request', 'member_id names the payee whose part is refunded (the order has several).', 'member_id');
    }
    const index = memberId === undefined ? 0 : parts.findIndex((p) => p.memberId === memberId);
    const part = parts[index];
    if (part === undefined) throw new CustodyError('invalid_request', 'This member is no payee of the order.', 'member_id');
    if (amount > refundable(part)) throw new CustodyError('refund_exceeds_paid', `At most ${refundable(part)} fen can be refunded for this payee.`, 'amount');
    const split = refund(part, amount);
    parts[index] = split.part;
    const payee = await this.members.record(order.platform_id, part.memberId);
    const buyer = order.buyer_id === null ? null : await this.members.record(order.platform_id, order.buyer_id);
    const sources: Flow[] = [
      { accountId: escrowAccount(platform, order.escrow_mode, buyer, payee), amount: split.fromEscrow },
      ...(await this.payeeReturn(draft, payee, split.fromPayee)),
      { accountId: platform.accounts.fees, amount: split.fromFees },
    ];
    // A buyer with a balance gets it back as spendable; a payer who paid through a channel gets it back through the channel.
    const to = buyer === null ? platform.accounts.channel_in_transit : buyer.accounts.member_spendable;
    const id = newId(draft.nowMs);
    draft.entry = {
      id: newId(draft.nowMs),
      kind: 'posted',
      command: 'order.refund',
      reference: order.order_no,
      actor,
      postings: pairPostings(sources, [{ accountId: to, amount }]),
    };
    draft.movement({
      kind: 'refund',
      orderNo: order.order_no,
      payerId: part.memberId,
      payeeId: order.buyer_id,
      amountMinor: amount,
      feeMinor: split.fromFees,
      buyerEscrowDeltaMinor: escrowHeldForBuyer(order.escrow_mode, order.buyer_id) ? -split.fromEscrow : 0n,
    });
    const updated = draft.update('orders', order as unknown as Row, {
      payees: payeesJson(parts),
      status: orderStatus(parts),
      ...totals(parts),
      updated_at: new Date(draft.nowMs),
    });
    const row = draft.insert('refunds', {
      id,
      order_id: order.id,
      member_id: part.memberId,
      buyer_id: order.buyer_id ?? part.memberId,
      amount,
      from_escrow: split.fromEscrow,
      from_payee: split.fromPayee,
      from_fees: split.fromFees,
      entry_id: draft.entry.id,
      created_at: new Date(draft.nowMs),
    });
    this.event(draft, updated, 'order.refunded', actor, null);
    return row;
  }

  /** A payee's net share back: pending first, then withdrawable, then spendable. */
  private async payeeReturn(draft: CommandDraft, payee: MemberRecord, amount: bigint): Promise<Flow[]> {
    if (amount === 0n) return [];
    const balances = await this.members.balances(payee);
    const from = allocatePayeeReturn(amount, {
      spendable: balances.spendableMinor,
      withdrawable: balances.withdrawableMinor,
      pending: balances.pendingMinor,
    });
    if (from === null) throw new CustodyError('insufficient_funds', 'The payee no longer has the money to refund.');
    for (const bucket of ['pending', 'withdrawable'] as const) {
      if (takeLots(draft, await this.trades.lots(payee.platformId, payee.id, bucket), from[bucket]) === null) {
        throw new StaleRead(`the ${bucket} lots of member ${payee.id} do not cover its balance`);
      }
    }
    return [
      { accountId: payee.accounts.member_pending, amount: from.pending },
      { accountId: payee.accounts.member_withdrawable, amount: from.withdrawable },
      { accountId: payee.accounts.member_spendable, amount: from.spendable },
    ];
  }

  /** Confirms every order whose auto-confirm time has come, exactly once each. */
  async autoConfirmDue(limit = 500): Promise<number> {
    let confirmed = 0;
    for (const due of await this.trades.dueOrders(this.clock.nowMs(), limit)) {
      try {
        await this.confirm(due.platform_id, due.id, undefined, 'system', 'auto_confirm');
        confirmed++;
      } catch (error) {
        // Someone confirmed or refunded it meanwhile: nothing is left to do. Anything else
        // is told, and the order is tried again at the next sweep; the others go on.
        if (error instanceof CustodyError && error.code === 'order_not_confirmable') continue;
        this.log.warn({ platformId: due.platform_id, orderId: due.id, err: error }, 'auto-confirm failed');
      }
    }
    return confirmed;
  }

  private event(draft: CommandDraft, order: Row, type: string, actor: string, reason: string | null): void {
    draft.event({ objectType: 'order', objectId: order.id, sequence: order.version, type, actor, reason, data: orderData(order) });
  }
}

/** In intermediate escrow mode a buyer's escrow sits in the platform's guarantee account. */
function escrowHeldForBuyer(escrowMode: string, buyerId: Id | null): boolean {
  return escrowMode === 'intermediate' && buyerId !== null;
}

/**
 * The trade file's rows for a paid order: the buyer's payment, and in the direct modes each
 * payee's credit with its fee.
 */
function payMovements(
  draft: CommandDraft,
  order: { orderNo: string; mode: OrderMode; escrowMode: string; buyerId: Id | null; amount: bigint },
  parts: readonly PayeePart[],
): void {
  const guaranteed = order.mode === 'guaranteed';
  draft.movement({
    kind: 'pay',
    orderNo: order.orderNo,
    payerId: order.buyerId,
    payeeId: parts.length === 1 ? (parts[0] as PayeePart).memberId : null,
    amountMinor: order.amount,
    buyerEscrowDeltaMinor: guaranteed && escrowHeldForBuyer(order.escrowMode, order.buyerId) ? order.amount : 0n,
  });
  if (guaranteed) return;
  for (const part of parts) {
    draft.movement({ kind: 'direct', orderNo: order.orderNo, payerId: order.buyerId, payeeId: part.memberId, amountMinor: part.amount, feeMinor: part.fee });
  }
}

/** The order as events carry it (the API's shape, without the presenter's id encoding). */
function orderData(order: Row): Record<string, unknown> {
  const { platform_id: _platform, payees, funded_from: _from, ...rest } = order as unknown as Record<string, unknown> & { payees: PayeeJson[] };
  return { ...rest, payees };
}
