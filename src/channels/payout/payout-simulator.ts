import { Random } from '../../bench/workload.js';
import { businessDate, defaultTimeZone, isBusinessDate, startOfBusinessDate } from '../../business-date.js';
import type { Clock } from '../../clock.js';
import { limits } from '../../limits.js';
import { parseRfc3339Ms } from '../acquiring/acquiring-simulator.js';
import { PayoutOutcomeUnknownError } from './payout-channel.js';
import type { PayoutChannel, PayoutRail, PayoutState, PayoutStatus, SendPayout } from './payout-channel.js';

/** The simulator's bounds: it may run for days as a sandbox, so nothing it keeps may grow without end. */
export const payoutSimulatorLimits = {
  /**
   * Payouts remembered for replays, queries and statements. Only settled payouts (failed,
   * returned, or succeeded with no return to come) are ever forgotten, oldest settled first:
   * forgetting one still in flight would let a resend pay it a second time. When every
   * remembered payout is in flight, new ones are refused as `rail_busy`.
   */
  payoutsRememberedMax: 100_000,
  /** Longest decision delay anyone may configure: one day. */
  decisionDelayMsMax: 86_400_000,
  /** Latest a returned payment (退票) may come back: thirty days. */
  returnAfterMsMax: 30 * 86_400_000,
  /** Holidays one calendar may list: about fifteen years of Chinese public holidays. */
  holidaysMax: 500,
  /**
   * Days searched for the high-value rail's next opening. Any 1000 days hold more than 700
   * weekdays, more than `holidaysMax`, so the search always finds a working day.
   */
  railOpeningSearchDaysMax: 1000,
  simulatorNameLengthMax: 32,
  payoutIdLengthMax: 128,
  orderNoLengthMax: 64,
  platformIdLengthMax: 128,
  accountNameLengthMax: 128,
  railTxnIdLengthMax: 64,
  failureReasonLengthMax: 128,
  /** Amounts cross the API as JSON numbers, so no payout can be larger than the ledger allows. */
  amountMinorMin: 1n,
  amountMinorMax: limits.amountMinorMax,
} as const;

export const payoutSimulatorDefaults = {
  seed: 1,
  name: 'sim',
  decisionDelayMsMin: 100,
  decisionDelayMsMax: 1500,
  /** A returned payment comes back a day after it was paid. */
  returnAfterMs: 86_400_000,
  timeZone: defaultTimeZone,
  unknownRate: 0,
} as const;

/** The rails' rules, as the issue states them for the bank Custos pays out through. */
export const payoutRailRules = {
  /** The real-time rail takes at most ¥50,000; anything larger goes to the high-value rail. */
  realtimeAmountMinorMax: 5_000_000n,
  /** The high-value rail opens at 08:30 and closes at 17:00, local wall time, on working days. */
  highValueOpensAtMinute: 8 * 60 + 30,
  highValueClosesAtMinute: 17 * 60,
} as const;

/** A domestic rail pays renminbi only. */
export const payoutCurrency = 'CNY';

/** The sandbox magic card endings of API.md, and the reasons their payouts give. */
export const payoutMagicCards = {
  /** The payout fails. */
  failsSuffix: '0003',
  /** The first send's answer is lost; a query later finds the payout succeeded. */
  unknownSuffix: '0004',
  /** The payout succeeds, then comes back returned (退票) `returnAfterMs` later. */
  returnedSuffix: '0005',
} as const;

export const payoutFailureReasons = {
  failed: 'account_frozen_at_bank',
  returned: 'returned_by_beneficiary_bank',
} as const;

/** The bank statement's header, the format API.md names for imports. */
export const bankStatementHeader = 'bank_txn_id,direction,amount,counterparty_account,counterparty_name,memo,occurred_at';

/** Picks the rail for an amount: the real-time rail up to its limit, the high-value rail above. */
export function payoutRailFor(amountMinor: bigint): PayoutRail {
  return amountMinor <= payoutRailRules.realtimeAmountMinorMax ? 'realtime' : 'high_value';
}

export interface PayoutSimulatorOptions {
  /** Decisions and returns fall due on this clock, and rail hours are read from it. */
  readonly clock: Clock;
  readonly seed?: number;
  /** The channel's name (`PayoutChannel.name`). */
  readonly name?: string;
  /** How long after the first send a payout is decided, in ms on `clock`, both ends included. */
  readonly decisionDelayMs?: { readonly min: number; readonly max: number };
  /** How long after a magic `0005` payout succeeded it comes back returned. */
  readonly returnAfterMs?: number;
  /** The bank's time zone, for the high-value rail's hours. */
  readonly timeZone?: string;
  /** Business dates (`YYYY-MM-DD`) on which the high-value rail stays closed. */
  readonly holidays?: readonly string[];
  /**
   * Share of sendPayout calls whose answer is lost: the rail received the payout but the
   * call rejects with `PayoutOutcomeUnknownError`. A `0004` payout's first send always is.
   */
  readonly unknownRate?: number;
  /** At most `payoutSimulatorLimits.payoutsRememberedMax` (the default). */
  readonly payoutsRememberedMax?: number;
}

/**
 * The rail refused the request, and nothing was recorded. `invalid_request`,
 * `payout_id_reused` and `rail_limit_exceeded` (a real-time payout above ¥50,000) are the
 * caller's bugs, so retrying cannot help; `rail_busy` means the simulator is full of payouts
 * in flight and may take the payout later.
 */
export class PayoutRequestError extends Error {
  constructor(
    readonly code: 'invalid_request' | 'payout_id_reused' | 'rail_limit_exceeded' | 'rail_busy',
    message: string,
  ) {
    super(message);
  }
}

/** The rail is closed at this instant (the high-value rail out of hours); nothing was recorded. Send again at `opensAtMs`. */
export class RailClosedError extends Error {
  constructor(
    readonly rail: PayoutRail,
    readonly atMs: number,
    readonly opensAtMs: number,
  ) {
    super(`the ${rail} rail is closed at ${new Date(atMs).toISOString()}; it opens at ${new Date(opensAtMs).toISOString()}`);
  }
}

/** One payout as the simulator sees it, for tests and sandbox operators. */
export interface SimulatedPayoutRecord {
  readonly payoutId: string;
  readonly platformId: string;
  readonly orderNo: string;
  readonly rail: PayoutRail;
  readonly status: PayoutStatus;
  readonly amountMinor: bigint;
  readonly cardLast4: string;
  readonly railTxnId: string;
  readonly receivedAtMs: number;
  /** When the money left the custody account, if it did. */
  readonly paidAtMs: number | null;
  readonly returnedAtMs: number | null;
  readonly failureReason: string | null;
  /** How many sendPayout calls reached the rail for this payout. */
  readonly sends: number;
  /** How many of those calls lost their answer. */
  readonly answersLost: number;
}

export interface PayoutSimulatorStats {
  readonly payoutsRemembered: number;
  readonly inFlight: number;
  /** Settled payouts forgotten to keep within `payoutsRememberedMax`. */
  readonly forgotten: number;
}

// ---------------------------------------------------------------------------------------
// The calendar, shared by the simulator and the HTTP adapter so both keep the same hours.

/** A bank's calendar: its time zone and the weekdays on which it does not work. */
export interface PayoutCalendar {
  readonly timeZone: string;
  readonly holidays: ReadonlySet<string>;
}

/** Checks a calendar's time zone and holidays once, so that asking it later cannot fail. */
export function payoutCalendar(timeZone: string = defaultTimeZone, holidays: readonly string[] = []): PayoutCalendar {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
  } catch {
    throw new Error(`unknown time zone ${timeZone}`);
  }
  if (holidays.length > payoutSimulatorLimits.holidaysMax) throw new Error(`a calendar lists at most ${payoutSimulatorLimits.holidaysMax} holidays`);
  for (const holiday of holidays) if (!isBusinessDate(holiday)) throw new Error(`holiday ${holiday} is not a YYYY-MM-DD date`);
  return { timeZone, holidays: new Set(holidays) };
}

/**
 * Whether `rail` takes payouts at `atMs`: the real-time rail always; the high-value rail
 * from 08:30 (inclusive) to 17:00 (exclusive), local wall time in the calendar's zone, on
 * Monday to Friday unless the date is a holiday.
 */
export function isPayoutRailOpen(rail: PayoutRail, atMs: number, calendar: PayoutCalendar): boolean {
  if (rail === 'realtime') return true;
  if (!isWorkingDay(businessDate(atMs, calendar.timeZone), calendar)) return false;
  const minute = wallMinuteOfDay(atMs, calendar.timeZone);
  return minute >= payoutRailRules.highValueOpensAtMinute && minute < payoutRailRules.highValueClosesAtMinute;
}

/** The first instant at or after `atMs` at which `rail` is open. */
export function nextPayoutRailOpeningMs(rail: PayoutRail, atMs: number, calendar: PayoutCalendar): number {
  if (isPayoutRailOpen(rail, atMs, calendar)) return atMs;
  const firstDate = businessDate(atMs, calendar.timeZone);
  for (let day = 0; day <= payoutSimulatorLimits.railOpeningSearchDaysMax; day++) {
    const date = addDays(firstDate, day);
    if (!isWorkingDay(date, calendar)) continue;
    const openingMs = openingInstant(date, calendar.timeZone);
    if (openingMs > atMs) return openingMs;
  }
  throw new Error('no working day within the search window: the calendar contradicts payoutSimulatorLimits');
}

function isWorkingDay(date: string, calendar: PayoutCalendar): boolean {
  const weekday = new Date(`${date}T00:00:00Z`).getUTCDay();
  return weekday !== 0 && weekday !== 6 && !calendar.holidays.has(date);
}

function addDays(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);
}

/** 08:30 wall time on `date`: midnight plus 8.5 h, corrected once in case a clock change fell in between. */
function openingInstant(date: string, timeZone: string): number {
  const opens = payoutRailRules.highValueOpensAtMinute;
  const guess = startOfBusinessDate(date, timeZone) + opens * 60_000;
  return guess + (opens - wallMinuteOfDay(guess, timeZone)) * 60_000;
}

/** One formatter per zone; zones come from configuration, so the cache stays as small as the zone list. */
const wallFormatters = new Map<string, Intl.DateTimeFormat>();

function wallMinuteOfDay(ms: number, timeZone: string): number {
  let format = wallFormatters.get(timeZone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    wallFormatters.set(timeZone, format);
  }
  let hour = 0;
  let minute = 0;
  for (const part of format.formatToParts(new Date(ms))) {
    if (part.type === 'hour') hour = Number(part.value);
    if (part.type === 'minute') minute = Number(part.value);
  }
  return hour * 60 + minute;
}

// ---------------------------------------------------------------------------------------
// The simulator

type Fate = 'succeed' | 'fail' | 'return';

/** One line of the custody account's bank statement. */
interface BankMovement {
  readonly bankTxnId: string;
  readonly direction: 'debit' | 'credit';
  readonly occurredAtMs: number;
}

interface SimulatedPayout {
  readonly sequence: number;
  readonly request: SendPayout;
  readonly railTxnId: string;
  readonly receivedAtMs: number;
  readonly decideAtMs: number;
  readonly fate: Fate;
  status: PayoutStatus;
  returnedAtMs: number | null;
  failureReason: string | null;
  sends: number;
  answersLost: number;
  /**
   * The money this payout moved, appended at the moment it moved. `paidTwice` counts the
   * debits here, so it audits what happened rather than what the status claims.
   */
  readonly movements: BankMovement[];
}

/**
 * An in-process bank payout rail (代付) that behaves like a real one: it accepts a payout at
 * once as `processing` and decides it some time later on the clock it is given; a query
 * always tells the truth; a repeated payout id is the same payout and never pays again. The
 * high-value rail keeps business hours. The magic card endings of API.md fail a payout
 * (`0003`), lose the first answer (`0004`), or pay and then return it (`0005`).
 *
 * Every random choice for a payout is drawn when it is first received, and one more draw is
 * made for every call that reaches the rail, so the same seed and the same calls give the
 * same rail references, decision times and lost answers.
 */
export class PayoutSimulator implements PayoutChannel {
  readonly name: string;
  readonly calendar: PayoutCalendar;
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly decisionDelayMsMin: number;
  private readonly decisionDelayMsMax: number;
  private readonly returnAfterMs: number;
  private readonly unknownRate: number;
  private readonly payoutsRememberedMax: number;
  private readonly remembered = new Map<string, SimulatedPayout>();
  /** Payouts whose decision or return is still to come. */
  private readonly inFlight = new Set<SimulatedPayout>();
  /** Ids of settled payouts, oldest settled first: the only ones that may be forgotten. */
  private readonly settled = new Set<string>();
  private sequence = 0;
  private forgottenCount = 0;

  constructor(options: PayoutSimulatorOptions) {
    const d = payoutSimulatorDefaults;
    this.clock = options.clock;
    this.name = options.name ?? d.name;
    this.random = new Random(options.seed ?? d.seed);
    this.decisionDelayMsMin = options.decisionDelayMs?.min ?? d.decisionDelayMsMin;
    this.decisionDelayMsMax = options.decisionDelayMs?.max ?? d.decisionDelayMsMax;
    this.returnAfterMs = options.returnAfterMs ?? d.returnAfterMs;
    this.unknownRate = options.unknownRate ?? d.unknownRate;
    this.payoutsRememberedMax = options.payoutsRememberedMax ?? payoutSimulatorLimits.payoutsRememberedMax;
    this.calendar = payoutCalendar(options.timeZone ?? d.timeZone, options.holidays ?? []);
    this.checkOptions();
  }

  async sendPayout(request: SendPayout): Promise<PayoutState> {
    validateSend(request);
    const nowMs = this.clock.nowMs();
    const existing = this.remembered.get(request.payoutId);
    if (existing !== undefined) checkSamePayout(existing.request, request);
    const payout = existing ?? this.receive(request, nowMs);
    payout.sends += 1;
    this.advance(payout, nowMs);
    // One draw per call that reaches the rail, whatever the card, so the sequence of draws
    // depends only on the calls made.
    const lost = this.random.next() < this.unknownRate;
    if (lost || (payout.sends === 1 && hasSuffix(request.cardNumber, payoutMagicCards.unknownSuffix))) {
      payout.answersLost += 1;
      throw new PayoutOutcomeUnknownError(request.payoutId);
    }
    return stateOf(payout);
  }

  async queryPayout(payoutId: string): Promise<PayoutState | null> {
    const payout = this.remembered.get(payoutId);
    if (payout === undefined) return null;
    this.advance(payout, this.clock.nowMs());
    return stateOf(payout);
  }

  isOpen(rail: PayoutRail, atMs: number): boolean {
    return isPayoutRailOpen(rail, atMs, this.calendar);
  }

  /** Every remembered payout, oldest received first, with what is due decided. */
  payouts(): readonly SimulatedPayoutRecord[] {
    this.advanceAll();
    return [...this.remembered.values()].map(recordOf);
  }

  /**
   * Payout ids for which money left the custody account more than once. It counts the debit
   * movements each payout actually made, so a bug that paid a repeated send would show here
   * even if the payout's status looked right. Must always be empty.
   */
  paidTwice(): string[] {
    this.advanceAll();
    return [...this.remembered.values()]
      .filter((payout) => payout.movements.filter((movement) => movement.direction === 'debit').length > 1)
      .map((payout) => payout.request.payoutId);
  }

  /**
   * The custody account's bank statement for payouts in [fromMs, toMs): each succeeded
   * payout a `debit` at its decision time, each returned one also a `credit` at its return
   * time, oldest first; CSV with a header row, amounts in fen, `occurred_at` RFC 3339 in UTC.
   * With `platformId`, only that platform's payouts. Only remembered payouts appear.
   */
  statement(fromMs: number, toMs: number, platformId?: string): string {
    if (!Number.isSafeInteger(fromMs) || !Number.isSafeInteger(toMs) || fromMs > toMs) {
      invalid('a statement covers [from, to) with from ≤ to, in whole ms');
    }
    this.advanceAll();
    const lines: { readonly sequence: number; readonly atMs: number; readonly text: string }[] = [];
    for (const payout of this.remembered.values()) {
      if (platformId !== undefined && payout.request.platformId !== platformId) continue;
      for (const movement of payout.movements) {
        if (movement.occurredAtMs < fromMs || movement.occurredAtMs >= toMs) continue;
        lines.push({ sequence: payout.sequence, atMs: movement.occurredAtMs, text: statementLine(payout.request, movement) });
      }
    }
    lines.sort((a, b) => a.atMs - b.atMs || a.sequence - b.sequence);
    return [bankStatementHeader, ...lines.map((line) => line.text)].map((line) => `${line}\n`).join('');
  }

  stats(): PayoutSimulatorStats {
    this.advanceAll();
    return { payoutsRemembered: this.remembered.size, inFlight: this.inFlight.size, forgotten: this.forgottenCount };
  }

  private checkOptions(): void {
    const l = payoutSimulatorLimits;
    const min = this.decisionDelayMsMin;
    const max = this.decisionDelayMsMax;
    if (!Number.isSafeInteger(min) || !Number.isSafeInteger(max) || min < 0 || min > max || max > l.decisionDelayMsMax) {
      throw new Error(`decisionDelayMs must satisfy 0 ≤ min ≤ max ≤ ${l.decisionDelayMsMax}, in whole ms`);
    }
    if (!Number.isSafeInteger(this.returnAfterMs) || this.returnAfterMs < 1 || this.returnAfterMs > l.returnAfterMsMax) {
      throw new Error(`returnAfterMs lies in 1..${l.returnAfterMsMax}`);
    }
    if (!(this.unknownRate >= 0 && this.unknownRate <= 1)) throw new Error('unknownRate lies in [0, 1]');
    const namePattern = new RegExp(`^[a-z0-9_]{1,${l.simulatorNameLengthMax}}$`);
    if (!namePattern.test(this.name)) throw new Error(`the payout channel name must match ${namePattern.source}`);
    const remembered = this.payoutsRememberedMax;
    if (!Number.isSafeInteger(remembered) || remembered < 1 || remembered > l.payoutsRememberedMax) {
      throw new Error(`payoutsRememberedMax lies in 1..${l.payoutsRememberedMax}`);
    }
  }

  /** A payout the rail has not seen: refused if its rail cannot take it now, else recorded as processing. */
  private receive(request: SendPayout, nowMs: number): SimulatedPayout {
    if (request.rail === 'realtime' && request.amountMinor > payoutRailRules.realtimeAmountMinorMax) {
      throw new PayoutRequestError('rail_limit_exceeded', `the realtime rail takes at most ${payoutRailRules.realtimeAmountMinorMax} fen`);
    }
    if (!this.isOpen(request.rail, nowMs)) {
      throw new RailClosedError(request.rail, nowMs, nextPayoutRailOpeningMs(request.rail, nowMs, this.calendar));
    }
    this.makeRoom();
    const delayMs = this.decisionDelayMsMin + this.random.int(this.decisionDelayMsMax - this.decisionDelayMsMin + 1);
    const noise = this.random.int(2 ** 32).toString(16).padStart(8, '0');
    this.sequence += 1;
    const payout: SimulatedPayout = {
      sequence: this.sequence,
      request: { ...request },
      railTxnId: `po_${this.sequence.toString(36).padStart(6, '0')}${noise}`,
      receivedAtMs: nowMs,
      decideAtMs: nowMs + delayMs,
      fate: fateOf(request.cardNumber),
      status: 'processing',
      returnedAtMs: null,
      failureReason: null,
      sends: 0,
      answersLost: 0,
      movements: [],
    };
    this.remembered.set(request.payoutId, payout);
    this.inFlight.add(payout);
    return payout;
  }

  /** Forgets the oldest settled payout when full; a rail full of payouts in flight takes no more. */
  private makeRoom(): void {
    if (this.remembered.size < this.payoutsRememberedMax) return;
    // Decisions are made lazily, so a payout that is due counts as settled only once decided.
    this.advanceAll();
    const oldest = this.settled.values().next();
    if (oldest.done) throw new PayoutRequestError('rail_busy', `${this.remembered.size} payouts are in flight; send again later`);
    this.settled.delete(oldest.value);
    this.remembered.delete(oldest.value);
    this.forgottenCount += 1;
  }

  private advanceAll(): void {
    const nowMs = this.clock.nowMs();
    for (const payout of [...this.inFlight]) this.advance(payout, nowMs);
  }

  /** Applies whatever fell due by `nowMs`: the decision, then for a `0005` payout its return. */
  private advance(payout: SimulatedPayout, nowMs: number): void {
    if (payout.status === 'processing' && payout.decideAtMs <= nowMs) this.decide(payout);
    const returnAtMs = payout.decideAtMs + this.returnAfterMs;
    if (payout.status === 'succeeded' && payout.fate === 'return' && returnAtMs <= nowMs) this.giveBack(payout, returnAtMs);
  }

  private decide(payout: SimulatedPayout): void {
    if (payout.fate === 'fail') {
      payout.status = 'failed';
      payout.failureReason = payoutFailureReasons.failed;
    } else {
      payout.status = 'succeeded';
      payout.movements.push({ bankTxnId: payout.railTxnId, direction: 'debit', occurredAtMs: payout.decideAtMs });
    }
    if (payout.fate !== 'return') this.settle(payout);
  }

  private giveBack(payout: SimulatedPayout, returnAtMs: number): void {
    payout.status = 'returned';
    payout.returnedAtMs = returnAtMs;
    payout.failureReason = payoutFailureReasons.returned;
    payout.movements.push({ bankTxnId: `${payout.railTxnId}_rt`, direction: 'credit', occurredAtMs: returnAtMs });
    this.settle(payout);
  }

  private settle(payout: SimulatedPayout): void {
    this.inFlight.delete(payout);
    this.settled.add(payout.request.payoutId);
  }
}

function hasSuffix(cardNumber: string, suffix: string): boolean {
  return cardNumber.endsWith(suffix);
}

function fateOf(cardNumber: string): Fate {
  if (hasSuffix(cardNumber, payoutMagicCards.failsSuffix)) return 'fail';
  if (hasSuffix(cardNumber, payoutMagicCards.returnedSuffix)) return 'return';
  return 'succeed';
}

/** What the port reports: for a returned payout, `decidedAtMs` is when the money came back, as the port documents. */
function stateOf(payout: SimulatedPayout): PayoutState {
  const paidAtMs = payout.status === 'processing' ? null : payout.decideAtMs;
  return {
    payoutId: payout.request.payoutId,
    railTxnId: payout.railTxnId,
    status: payout.status,
    amountMinor: payout.request.amountMinor,
    decidedAtMs: payout.status === 'returned' ? payout.returnedAtMs : paidAtMs,
    returnedAtMs: payout.returnedAtMs,
    failureReason: payout.failureReason,
  };
}

function recordOf(payout: SimulatedPayout): SimulatedPayoutRecord {
  const debit = payout.movements.find((movement) => movement.direction === 'debit');
  return {
    payoutId: payout.request.payoutId,
    platformId: payout.request.platformId,
    orderNo: payout.request.orderNo,
    rail: payout.request.rail,
    status: payout.status,
    amountMinor: payout.request.amountMinor,
    cardLast4: payout.request.cardNumber.slice(-4),
    railTxnId: payout.railTxnId,
    receivedAtMs: payout.receivedAtMs,
    paidAtMs: debit?.occurredAtMs ?? null,
    returnedAtMs: payout.returnedAtMs,
    failureReason: payout.failureReason,
    sends: payout.sends,
    answersLost: payout.answersLost,
  };
}

function statementLine(request: SendPayout, movement: BankMovement): string {
  return [
    movement.bankTxnId,
    movement.direction,
    request.amountMinor.toString(),
    request.cardNumber,
    request.accountName,
    request.orderNo,
    new Date(movement.occurredAtMs).toISOString(),
  ]
    .map(csvField)
    .join(',');
}

/** RFC 4180: a field with a comma, a quote or a line break is quoted, its quotes doubled. */
function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

function invalid(message: string): never {
  throw new PayoutRequestError('invalid_request', message);
}

function checkText(value: string, field: string, lengthMax: number): void {
  // Control characters have no place in an id or a name, and would break the statement's lines.
  if (value.length === 0 || value.length > lengthMax || /\p{Cc}/u.test(value)) {
    invalid(`${field} must have 1 to ${lengthMax} characters and no control characters`);
  }
}

/** Checks run in a fixed order and the first failure wins: the payout id first, as it names the request. */
function validateSend(request: SendPayout): void {
  const l = payoutSimulatorLimits;
  checkText(request.payoutId, 'payoutId', l.payoutIdLengthMax);
  checkText(request.platformId, 'platformId', l.platformIdLengthMax);
  checkText(request.orderNo, 'orderNo', l.orderNoLengthMax);
  if (request.amountMinor < l.amountMinorMin || request.amountMinor > l.amountMinorMax) {
    invalid(`amountMinor must lie in ${l.amountMinorMin}..${l.amountMinorMax} fen`);
  }
  if (request.currency !== payoutCurrency) invalid(`currency must be ${payoutCurrency}: the rail pays renminbi only`);
  if (request.rail !== 'realtime' && request.rail !== 'high_value') invalid('rail must be realtime or high_value');
  if (!/^\d{12,19}$/.test(request.cardNumber)) invalid('cardNumber must have 12 to 19 digits');
  checkText(request.accountName, 'accountName', l.accountNameLengthMax);
}

/** A repeated payout id must carry the same payout: anything else is the caller's bug, never a second payout. */
function checkSamePayout(remembered: SendPayout, request: SendPayout): void {
  const fields = ['platformId', 'orderNo', 'amountMinor', 'currency', 'rail', 'cardNumber', 'accountName'] as const;
  const differing = fields.filter((field) => remembered[field] !== request[field]);
  if (differing.length > 0) {
    throw new PayoutRequestError('payout_id_reused', `payout id ${request.payoutId} was already used with another ${differing.join(', ')}`);
  }
}

// ---------------------------------------------------------------------------------------
// The wire format, shared by the simulator server's answers and the HTTP adapter.

/** The JSON of one payout's state in the simulator server's answers. */
export interface PayoutWire {
  readonly payout_id: string;
  readonly rail_txn_id: string | null;
  readonly status: PayoutStatus;
  /** Fen, as a decimal string. */
  readonly amount: string;
  /** RFC 3339, null while processing. */
  readonly decided_at: string | null;
  readonly returned_at: string | null;
  readonly failure_reason: string | null;
}

export function payoutWire(state: PayoutState): PayoutWire {
  const instant = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
  return {
    payout_id: state.payoutId,
    rail_txn_id: state.railTxnId,
    status: state.status,
    amount: state.amountMinor.toString(),
    decided_at: instant(state.decidedAtMs),
    returned_at: instant(state.returnedAtMs),
    failure_reason: state.failureReason,
  };
}

const payoutStatuses: readonly PayoutStatus[] = ['processing', 'succeeded', 'failed', 'returned'];

/**
 * Reads a payout's state from its wire form, or null when anything about it is malformed or
 * inconsistent: times and reasons must be present exactly when the status calls for them.
 */
export function parsePayoutWire(value: unknown): PayoutState | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const fields = value as Readonly<Record<string, unknown>>;
  const l = payoutSimulatorLimits;
  const { payout_id: payoutId, rail_txn_id: railTxnId, status, amount, failure_reason: failureReason } = fields;
  if (!isText(payoutId, l.payoutIdLengthMax)) return null;
  if (railTxnId !== null && !isText(railTxnId, l.railTxnIdLengthMax)) return null;
  if (typeof status !== 'string' || !payoutStatuses.includes(status as PayoutStatus)) return null;
  if (typeof amount !== 'string' || !/^\d{1,19}$/.test(amount)) return null;
  const amountMinor = BigInt(amount);
  if (amountMinor < l.amountMinorMin || amountMinor > l.amountMinorMax) return null;
  const decidedAtMs = optionalInstant(fields.decided_at);
  const returnedAtMs = optionalInstant(fields.returned_at);
  if (decidedAtMs === undefined || returnedAtMs === undefined) return null;
  if (failureReason !== null && !isText(failureReason, l.failureReasonLengthMax)) return null;
  const state: PayoutState = { payoutId, railTxnId, status: status as PayoutStatus, amountMinor, decidedAtMs, returnedAtMs, failureReason };
  return isConsistent(state) ? state : null;
}

function isConsistent(state: PayoutState): boolean {
  const decided = state.decidedAtMs !== null;
  const returned = state.returnedAtMs !== null;
  const reason = state.failureReason !== null;
  switch (state.status) {
    case 'processing':
      return !decided && !returned && !reason;
    case 'succeeded':
      return decided && !returned && !reason;
    case 'failed':
      return decided && !returned && reason;
    case 'returned':
      return decided && returned && reason;
  }
}

function isText(value: unknown, lengthMax: number): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= lengthMax;
}

/** ms of an RFC 3339 timestamp, null for null, undefined for anything else. */
function optionalInstant(value: unknown): number | null | undefined {
  if (value === null) return null;
  if (typeof value !== 'string') return undefined;
  return parseRfc3339Ms(value) ?? undefined;
}
