import { addDays, businessDate, isBusinessDate, startOfBusinessDate } from '../business-date.js';
import type { Clock } from '../clock.js';
import { csvLine } from '../csv.js';
import { CustodyError } from '../errors.js';
import { toPublicId } from '../public-ids.js';
import { derivedId, newId } from '../ids.js';
import type { Id, LedgerStore } from '../ledger/index.js';
import { closeCommandPrefix, closeReference } from '../storage/sql-eod-store.js';
import type { AccountDayRow, DayCut, EodRunRow, PendingLotsOfMember, SettlementBasis, SqlEodStore, YearEndRunRow } from '../storage/sql-eod-store.js';
import { normalSide } from './chart-of-accounts.js';
import { CommandDraft, runCommand } from './command-draft.js';
import type { InvariantCheck, InvariantService } from './invariant-service.js';
import type { PlatformService } from './platform-service.js';
import type { PlatformRecord } from './records.js';
import type { Warn } from './payin-service.js';
import { customerFunds, ratioOn, requiredDeposit } from './reserve-rules.js';
import type { ReserveStep } from './reserve-rules.js';

export interface EodOptions {
  /** Minutes after midnight (platform time) at which the previous day closes by itself. */
  readonly cutoffMinutes: number;
  readonly reserveSchedule: readonly ReserveStep[];
  /** Work due before a close: auto-confirms and expiries whose time has come. */
  readonly dueWork: () => Promise<void>;
  /** Told of every finished close (metrics). */
  readonly onClose?: ((outcome: CloseOutcome) => void) | undefined;
}

/** One platform's close of one date, as the API reports it. */
export interface CloseOutcome {
  readonly platformId: Id;
  readonly date: string;
  readonly status: 'closed' | 'failed';
  readonly settledMinor: bigint;
  /** `statement`: per the channels' statements imported for the date; `books`: none was, so per our in-transit balance. */
  readonly settlementBasis: SettlementBasis;
  readonly convertedMembers: number;
  readonly convertedMinor: bigint;
  readonly closedAtMs: number | null;
  readonly checks: readonly InvariantCheck[];
  readonly error: string | null;
  /** When the close of this date was (first) done before this call: the call changed nothing. */
  readonly replayed: boolean;
}

export interface TrialBalanceLine {
  readonly accountId: Id;
  readonly code: string;
  readonly memberId: Id | null;
  readonly openingMinor: bigint;
  readonly debitsMinor: bigint;
  readonly creditsMinor: bigint;
  readonly closingMinor: bigint;
}

export interface TrialBalance {
  readonly date: string;
  readonly accounts: TrialBalanceLine[];
  readonly totals: { debitsMinor: bigint; creditsMinor: bigint };
}

export interface Reserve {
  readonly date: string;
  readonly customerFundsMinor: bigint;
  readonly ratioBps: number;
  readonly requiredDepositMinor: bigint;
  /** Where the balances came from: the date's end-of-day balances, or the books now. */
  readonly basis: 'end_of_day' | 'now';
}

export const statementKinds = ['balances', 'trades', 'recharges', 'withdrawals'] as const;
export type StatementKind = (typeof statementKinds)[number];

/** Members whose pending proceeds one conversion command moves (an entry's postings). */
const conversionMembersPerCommand = 64;
/** Members whose lots are read together (one query), then converted a command's worth at a time. */
const conversionMembersPerRead = 1024;
/** Conversion commands in flight at once: they share group commits. */
const conversionCommandsInFlight = 16;
/** A close that stopped is tried again by the scheduler after this long. */
const failedCloseRetryMs = 10 * 60_000;
const filePageRows = 5000;

/**
 * End of day (日终): per platform and business date, once. Settles the channels' in-transit
 * money into the custody account, makes the day's pending proceeds withdrawable (T+1),
 * takes every account's and member's balances for the day's trial balance and files, after
 * checking the books' invariants; a failed check stops the close and raises an alert.
 */
export class EodService {
  private readonly running = new Map<Id, Promise<unknown>>();

  constructor(
    private readonly ledger: LedgerStore,
    private readonly store: SqlEodStore,
    private readonly platforms: PlatformService,
    private readonly invariants: InvariantService,
    private readonly clock: Clock,
    private readonly log: Warn,
    private readonly options: EodOptions,
  ) {}

  /** Closes a business date that is over, for one platform or all (each closing any earlier day still open). */
  async close(date: string, platformId?: Id): Promise<CloseOutcome[]> {
    checkDate(date);
    if (businessDate(this.clock.nowMs()) <= date) throw new CustodyError('day_not_over', `${date} is not over yet.`, 'date');
    const targets = platformId === undefined ? await this.openOn(date) : [await this.platforms.record(platformId)];
    const opened = businessDate(targets[0]?.createdAtMs ?? 0);
    if (platformId !== undefined && date < opened) {
      throw new CustodyError('invalid_request', `The platform opened on ${opened}; it has no ${date} to close.`, 'date');
    }
    await this.options.dueWork();
    const outcomes: CloseOutcome[] = [];
    for (const platform of targets) outcomes.push(await this.closeThrough(platform, date));
    return outcomes;
  }

  /** The scheduled close: every platform's days that ended before the cut-off passed. */
  async runDue(): Promise<number> {
    const nowMs = this.clock.nowMs();
    const due = addDays(businessDate(nowMs - this.options.cutoffMinutes * 60_000), -1);
    const closed = await this.store.lastClosedDates();
    let closes = 0;
    let dueWorkDone = false;
    for (const platform of await this.openOn(due)) {
      const last = closed.get(platform.id);
      if (last !== undefined && last >= due) continue;
      const latest = await this.store.latestRun(platform.id);
      if (latest?.status === 'failed' && nowMs - (latest.completedAtMs ?? 0) < failedCloseRetryMs) continue;
      if (!dueWorkDone) {
        await this.options.dueWork();
        dueWorkDone = true;
      }
      await this.closeThrough(platform, due);
      closes++;
    }
    return closes;
  }

  private async openOn(date: string): Promise<PlatformRecord[]> {
    const out: PlatformRecord[] = [];
    let afterId: Id | undefined;
    for (;;) {
      const page = await this.platforms.list({ limit: 100, afterId });
      for (const view of page) {
        const record = await this.platforms.record(view.id);
        if (businessDate(record.createdAtMs) <= date) out.push(record);
      }
      if (page.length < 100) return out;
      afterId = page[page.length - 1]?.id;
    }
  }

  /** Closes every open day of a platform up to `date`, in order; one close of a platform at a time. */
  private async closeThrough(platform: PlatformRecord, date: string): Promise<CloseOutcome> {
    const previous = this.running.get(platform.id) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(() => this.closeDays(platform, date));
    this.running.set(platform.id, next);
    try {
      return await next;
    } finally {
      if (this.running.get(platform.id) === next) this.running.delete(platform.id);
    }
  }

  private async closeDays(platform: PlatformRecord, date: string): Promise<CloseOutcome> {
    const existing = await this.store.run(platform.id, date);
    if (existing?.status === 'closed') return outcomeOf(existing, true);
    const latest = await this.store.latestRun(platform.id);
    const lastClosed = latest === undefined ? undefined : latest.status === 'closed' ? latest : await this.lastClosedBefore(platform.id, latest.businessDate);
    let day = lastClosed === undefined ? businessDate(platform.createdAtMs) : addDays(lastClosed.businessDate, 1);
    let before = lastClosed;
    for (; day <= date; day = addDays(day, 1)) {
      const outcome = await this.closeDay(platform, day, before);
      if (outcome.status !== 'closed') return outcome;
      before = await this.store.run(platform.id, day);
    }
    const run = await this.store.run(platform.id, date);
    if (run === undefined) throw new Error(`the close of ${date} left no record`);
    return outcomeOf(run, false);
  }

  private async lastClosedBefore(platformId: Id, date: string): Promise<EodRunRow | undefined> {
    for (let day = addDays(date, -1); ; day = addDays(day, -1)) {
      const run = await this.store.run(platformId, day);
      if (run === undefined) return undefined;
      if (run.status === 'closed') return run;
    }
  }

  private async closeDay(platform: PlatformRecord, date: string, previous: EodRunRow | undefined): Promise<CloseOutcome> {
    const startedMs = Date.now();
    const endMs = startOfBusinessDate(addDays(date, 1));
    const cut: DayCut = {
      platformId: platform.id,
      businessDate: date,
      previousLastSeq: previous?.lastSeq ?? 0n,
      lastSeq: await this.ledger.seqAt(platform.id, endMs - 1),
      endMs,
    };
    await this.store.startRun(cut, this.clock.nowMs());
    const phases: Record<string, number> = {};
    let phaseStarted = Date.now();
    const phase = (name: string) => {
      phases[name] = Date.now() - phaseStarted;
      phaseStarted = Date.now();
    };
    const chainFrom =
      previous?.verifiedSeq !== null && previous?.verifiedSeq !== undefined && previous.verifiedHash !== null
        ? { seq: previous.verifiedSeq, hash: previous.verifiedHash }
        : undefined;
    await this.store.analyze();
    phase('analyzeMs');
    const checked = await this.invariants.check(platform.id, chainFrom);
    phase('invariantsMs');
    if (!checked.ok) return this.fail(cut, 'An invariant of the books failed; the day was not closed.', checked.checks);
    try {
      const { settledMinor, settlementBasis } = await this.settle(platform, cut);
      phase('settleMs');
      const converted = await this.convert(cut);
      phase('convertMs');
      const totals = await this.store.snapshotAndClose(cut, {
        settledMinor,
        settlementBasis,
        convertedMembers: converted.members,
        convertedMinor: converted.amountMinor,
        verifiedSeq: checked.chain.seq,
        verifiedHash: checked.chain.hash,
        invariants: checked.checks,
        completedAtMs: this.clock.nowMs(),
      });
      phase('balancesMs');
      const run = await this.store.run(platform.id, date);
      if (run === undefined) throw new Error(`the close of ${date} left no record`);
      this.log.info?.(
        {
          platformId: platform.id,
          date,
          settledMinor: String(settledMinor),
          convertedMembers: converted.members,
          debits: String(totals.debitsMinor),
          ms: Date.now() - startedMs,
          ...phases,
        },
        'day closed',
      );
      const outcome = outcomeOf(run, false);
      this.options.onClose?.(outcome);
      return outcome;
    } catch (error) {
      if (error instanceof CustodyError) return this.fail(cut, error.message, checked.checks);
      await this.fail(cut, `The close stopped: ${(error as Error).message}`, checked.checks);
      throw error;
    }
  }

  private async fail(cut: DayCut, message: string, checks: readonly InvariantCheck[]): Promise<CloseOutcome> {
    const nowMs = this.clock.nowMs();
    await this.store.failRun(cut.platformId, cut.businessDate, message, checks, nowMs);
    await this.store.raiseAlert({
      id: newId(nowMs),
      platformId: cut.platformId,
      kind: 'eod_failed',
      message: `End of day ${cut.businessDate}: ${message}`,
      detail: { date: cut.businessDate, failed: checks.filter((c) => !c.ok) },
      createdAtMs: nowMs,
    });
    const fields = { platformId: cut.platformId, date: cut.businessDate, failed: checks.filter((c) => !c.ok) };
    if (this.log.error === undefined) this.log.warn(fields, 'end of day stopped');
    else this.log.error(fields, 'end of day stopped');
    const run = await this.store.run(cut.platformId, cut.businessDate);
    if (run === undefined) throw new Error(`the close of ${cut.businessDate} left no record`);
    const outcome = { ...outcomeOf(run, false), checks };
    this.options.onClose?.(outcome);
    return outcome;
  }

  /**
   * The channels' money of the day reaches the custody account: from channel in-transit to
   * the custody summary, as much as the channels' statements of the date settle (their
   * matched succeeded payins) when they were imported before the close, never more than
   * in-transit holds; without a statement, what in-transit held at the day's end. What a
   * statement did not settle stays in transit, a break to work. The entry's id derives from
   * the platform and the date, so a close run again books it once.
   */
  private async settle(platform: PlatformRecord, cut: DayCut): Promise<{ settledMinor: bigint; settlementBasis: SettlementBasis }> {
    const inTransit = await this.store.netBeforeClose(cut, platform.accounts.channel_in_transit);
    const statement = await this.store.statementSettlement(platform.id, cut.businessDate);
    const settlementBasis: SettlementBasis = statement === null ? 'books' : 'statement';
    const amountMinor = statement === null || statement > inTransit ? inTransit : statement;
    if (amountMinor <= 0n) return { settledMinor: 0n, settlementBasis };
    const result = await this.ledger.submit(platform.id, {
      id: derivedId(`eod:${platform.id}:${cut.businessDate}:settle`),
      kind: 'posted',
      command: `${closeCommandPrefix}settle`,
      reference: closeReference(cut.businessDate),
      actor: 'system',
      postings: [{ debitAccountId: platform.accounts.custody_summary, creditAccountId: platform.accounts.channel_in_transit, amountMinor }],
    });
    if (result.code !== 'ok' && result.code !== 'exists') throw new Error(`the settlement was refused (${result.code})`);
    return { settledMinor: amountMinor, settlementBasis };
  }

  /** T+1: proceeds booked by the day's end become withdrawable, lot by lot, member by member. */
  private async convert(cut: DayCut): Promise<{ members: number; amountMinor: bigint }> {
    let members = 0;
    let amountMinor = 0n;
    let after: Id | null = null;
    const inFlight = new Set<Promise<void>>();
    for (;;) {
      const read = await this.store.memberPage(cut.platformId, after, conversionMembersPerRead);
      if (read.length === 0) break;
      after = read[read.length - 1]?.memberId ?? null;
      const due = await this.store.pendingLots(cut, read);
      for (let i = 0; i < due.length; i += conversionMembersPerCommand) {
        const page = due.slice(i, i + conversionMembersPerCommand);
        const work = this.convertMembers(cut, page).then((done) => {
          members += done.members;
          amountMinor += done.amountMinor;
        });
        inFlight.add(work);
        void work.finally(() => inFlight.delete(work)).catch(() => undefined);
        if (inFlight.size >= conversionCommandsInFlight) await Promise.race(inFlight);
      }
    }
    await Promise.all(inFlight);
    return { members, amountMinor };
  }

  private async convertMembers(cut: DayCut, firstRead: PendingLotsOfMember[]): Promise<{ members: number; amountMinor: bigint }> {
    let read: PendingLotsOfMember[] | null = firstRead;
    return runCommand(this.ledger, cut.platformId, async () => {
      const due = read ?? (await this.store.pendingLots(cut, firstRead));
      read = null;
      const draft = new CommandDraft(cut.platformId, this.clock.nowMs());
      const postings = [];
      let total = 0n;
      for (const member of due) {
        let sum = 0n;
        for (const lot of member.lots) sum += lot.remaining;
        draft.set('proceeds_lots', member.lots, { bucket: 'withdrawable' });
        if (sum === 0n) continue;
        postings.push({ debitAccountId: member.pendingAccountId, creditAccountId: member.withdrawableAccountId, amountMinor: sum });
        total += sum;
      }
      if (postings.length > 0) {
        draft.entry = {
          id: newId(draft.nowMs),
          kind: 'posted',
          command: `${closeCommandPrefix}withdrawable`,
          reference: closeReference(cut.businessDate),
          actor: 'system',
          postings,
        };
      }
      return {
        draft,
        done: (result) => {
          if (result.code !== 'ok') throw new Error(`pending proceeds could not be made withdrawable (${result.code})`);
          return { members: postings.length, amountMinor: total };
        },
      };
    });
  }

  async runOf(platformId: Id, date: string): Promise<EodRunRow> {
    checkDate(date);
    const run = await this.store.run(platformId, date);
    if (run?.status !== 'closed') throw new CustodyError('not_found', `${date} has not been closed for this platform.`, 'date');
    return run;
  }

  /** Every account's opening, debits, credits and closing of a closed day, on its normal side. */
  async trialBalance(platformId: Id, date: string): Promise<TrialBalance> {
    await this.platforms.record(platformId);
    await this.runOf(platformId, date);
    const accounts = (await this.store.accountDays(platformId, date)).map(trialLine);
    const totals = accounts.reduce((t, a) => ({ debitsMinor: t.debitsMinor + a.debitsMinor, creditsMinor: t.creditsMinor + a.creditsMinor }), { debitsMinor: 0n, creditsMinor: 0n });
    return { date, accounts, totals };
  }

  /** Customer funds on a date (its end-of-day balances once closed, else the books now) and the deposit they require. */
  async reserve(date: string, platformId?: Id): Promise<Reserve> {
    checkDate(date);
    const targets = platformId === undefined ? await this.openOn(date) : [await this.platforms.record(platformId)];
    let funds = 0n;
    let basis: Reserve['basis'] = 'end_of_day';
    for (const platform of targets) {
      const run = await this.store.run(platform.id, date);
      const normal = new Map<string, bigint>();
      if (run?.status === 'closed') {
        for (const [code, sums] of await this.store.closingByCode(platform.id, date)) normal.set(code, normalOf(code, sums.debitsMinor, sums.creditsMinor));
      } else {
        basis = 'now';
        for (const sum of await this.ledger.accountSums(platform.id)) {
          normal.set(sum.code, (normal.get(sum.code) ?? 0n) + normalOf(sum.code, sum.debitsPostedMinor, sum.creditsPostedMinor));
        }
      }
      funds += customerFunds(normal);
    }
    const ratioBps = ratioOn(this.options.reserveSchedule, date);
    return { date, customerFundsMinor: funds, ratioBps, requiredDepositMinor: requiredDeposit(funds, ratioBps), basis };
  }

  /** The day's file of one kind, line by line (CSV with its header). */
  async statement(platformId: Id, date: string, kind: StatementKind): Promise<AsyncIterable<string>> {
    const run = await this.runOf(platformId, date);
    switch (kind) {
      case 'balances':
        return this.balancesFile(run);
      case 'trades':
        return this.tradesFile(run);
      case 'recharges':
        return this.rechargesFile(run);
      case 'withdrawals':
        return this.withdrawalsFile(run);
    }
  }

  private async *balancesFile(run: EodRunRow): AsyncIterable<string> {
    yield csvLine(['member_id', 'external_id', 'sub_account_no', 'available', 'withdrawable', 'pending', 'spendable', 'frozen']);
    for (let after = 0n; ; ) {
      const rows = await this.store.memberDays(run.platformId, run.businessDate, after, filePageRows);
      for (const r of rows) {
        yield csvLine([toPublicId('member', r.memberId), r.externalId, r.subAccountNo, r.availableMinor, r.withdrawableMinor, r.pendingMinor, r.spendableMinor, r.frozenMinor]);
      }
      if (rows.length < filePageRows) return;
      after = rows[rows.length - 1]?.seq ?? after;
    }
  }

  private async *tradesFile(run: EodRunRow): AsyncIterable<string> {
    yield csvLine(['entry_id', 'order_no', 'kind', 'payer_member_id', 'payee_member_id', 'amount', 'fee', 'occurred_at']);
    for (let after: { seq: bigint; position: number } | null = null; ; ) {
      const rows = await this.store.tradeRows(run, after, filePageRows);
      for (const r of rows) {
        yield csvLine([toPublicId('entry', r.entryId), r.orderNo, r.kind, memberIdOf(r.payerMemberId), memberIdOf(r.payeeMemberId), r.amountMinor, r.feeMinor, iso(r.occurredAtMs)]);
      }
      const last = rows[rows.length - 1];
      if (last === undefined || rows.length < filePageRows) return;
      after = { seq: last.seq, position: last.position };
    }
  }

  private async *rechargesFile(run: EodRunRow): AsyncIterable<string> {
    yield csvLine(['payin_id', 'order_no', 'member_id', 'amount', 'fee', 'channel', 'channel_txn_id', 'occurred_at']);
    // A payin is decided just before its entry is booked: a day back covers any boundary.
    const fromMs = startOfBusinessDate(addDays(run.businessDate, -1));
    const endMs = startOfBusinessDate(addDays(run.businessDate, 1));
    for (let after: { seq: bigint; id: Id } | null = null; ; ) {
      const rows = await this.store.rechargeRows(run, after, filePageRows, fromMs, endMs);
      for (const r of rows) {
        yield csvLine([toPublicId('payin', r.id), r.orderNo, memberIdOf(r.memberId), r.amountMinor, 0n, r.channel, r.channelTxnId, iso(r.occurredAtMs)]);
      }
      const last = rows[rows.length - 1];
      if (last === undefined || rows.length < filePageRows) return;
      after = { seq: last.seq, id: last.id };
    }
  }

  private async *withdrawalsFile(run: EodRunRow): AsyncIterable<string> {
    yield csvLine(['withdrawal_id', 'order_no', 'member_id', 'amount', 'fee', 'status', 'card_last4', 'occurred_at']);
    const startMs = startOfBusinessDate(run.businessDate);
    const endMs = startOfBusinessDate(addDays(run.businessDate, 1));
    for (let after: Id | null = null; ; ) {
      const rows = await this.store.withdrawalRows(run.platformId, startMs, endMs, after, filePageRows);
      for (const r of rows) {
        const d = r.data;
        yield csvLine([toPublicId('withdrawal', text(d.id)), text(d.order_no), toPublicId('member', text(d.member_id)), text(d.amount), text(d.fee ?? '0'), text(d.status), text(d.card_last4), iso(r.occurredAtMs)]);
      }
      if (rows.length < filePageRows) return;
      after = rows[rows.length - 1]?.eventId ?? after;
    }
  }

  /**
   * Year-end close (年终决算): closes every day of the year still open, then records each
   * account's opening on the year's first day and the year's debits and credits. Once.
   */
  async closeYear(year: number, platformId?: Id): Promise<{ year: number; platforms: ({ status: 'closed'; run: YearEndRunRow } | { status: 'failed'; platformId: Id; outcome: CloseOutcome })[] }> {
    const lastDate = `${String(year).padStart(4, '0')}-12-31`;
    if (!Number.isInteger(year) || year < 2000 || year > 9999) throw new CustodyError('invalid_request', 'year is a four-digit year.', 'year');
    if (businessDate(this.clock.nowMs()) <= lastDate) throw new CustodyError('day_not_over', `${year} is not over yet.`, 'year');
    const targets = platformId === undefined ? await this.openOn(lastDate) : [await this.platforms.record(platformId)];
    const out: ({ status: 'closed'; run: YearEndRunRow } | { status: 'failed'; platformId: Id; outcome: CloseOutcome })[] = [];
    for (const platform of targets) {
      const opened = businessDate(platform.createdAtMs);
      if (opened > lastDate) throw new CustodyError('invalid_request', `The platform opened on ${opened}, after ${year}.`, 'year');
      const done = await this.store.yearEndRun(platform.id, year);
      if (done !== undefined) {
        out.push({ status: 'closed', run: done });
        continue;
      }
      const outcome = await this.closeThrough(platform, lastDate);
      if (outcome.status !== 'closed') {
        out.push({ status: 'failed', platformId: platform.id, outcome });
        continue;
      }
      const firstDate = opened > `${year}-01-01` ? opened : `${year}-01-01`;
      out.push({ status: 'closed', run: await this.store.closeYear(platform.id, year, firstDate, lastDate, this.clock.nowMs()) });
    }
    return { year, platforms: out };
  }

  async yearEnd(platformId: Id, year: number): Promise<YearEndRunRow> {
    await this.platforms.record(platformId);
    const run = await this.store.yearEndRun(platformId, year);
    if (run === undefined) throw new CustodyError('not_found', `${year} has not been closed for this platform.`, 'year');
    return run;
  }

  /** The year's closing trial balance as a file. */
  async *yearTrialBalanceFile(run: YearEndRunRow): AsyncIterable<string> {
    yield csvLine(['account_id', 'code', 'member_id', 'opening', 'debits', 'credits', 'closing']);
    for (let after: Id | null = null; ; ) {
      const rows = await this.store.yearEndBalances(run.platformId, run.year, after, filePageRows);
      for (const row of rows) {
        const line = trialLine(row);
        yield csvLine([toPublicId('account', line.accountId), line.code, memberIdOf(line.memberId), line.openingMinor, line.debitsMinor, line.creditsMinor, line.closingMinor]);
      }
      if (rows.length < filePageRows) return;
      after = rows[rows.length - 1]?.accountId ?? after;
    }
  }

  /** Each member's year, bucket by bucket: opening, money in, money out, closing. */
  async *yearStatementsFile(run: YearEndRunRow): AsyncIterable<string> {
    yield csvLine(['member_id', 'external_id', 'sub_account_no', 'bucket', 'opening', 'credits', 'debits', 'closing']);
    const pageMembers = 1000;
    for (let after = 0n; ; ) {
      const members = await this.store.yearEndMembers(run.platformId, run.year, after, pageMembers);
      for (const member of members) {
        for (const account of member.accounts) {
          const line = trialLine(account);
          yield csvLine([toPublicId('member', member.memberId), member.externalId, member.subAccountNo, account.code.replace(/^member_/, ''), line.openingMinor, line.creditsMinor, line.debitsMinor, line.closingMinor]);
        }
      }
      if (members.length < pageMembers) return;
      after = members[members.length - 1]?.seq ?? after;
    }
  }

  async alerts(platformId: Id | undefined, limit: number, beforeId?: Id) {
    return this.store.alerts(platformId, limit, beforeId);
  }
}

function checkDate(date: string): void {
  if (!isBusinessDate(date)) throw new CustodyError('invalid_request', 'date is a calendar date, YYYY-MM-DD.', 'date');
}

function normalOf(code: string, debitsMinor: bigint, creditsMinor: bigint): bigint {
  return normalSide(code) === 'debit' ? debitsMinor - creditsMinor : creditsMinor - debitsMinor;
}

function trialLine(row: AccountDayRow): TrialBalanceLine {
  const openingMinor = normalOf(row.code, row.openingDebitsMinor, row.openingCreditsMinor);
  const movementMinor = normalOf(row.code, row.debitsMinor, row.creditsMinor);
  return {
    accountId: row.accountId,
    code: row.code,
    memberId: row.memberId,
    openingMinor,
    debitsMinor: row.debitsMinor,
    creditsMinor: row.creditsMinor,
    closingMinor: openingMinor + movementMinor,
  };
}

function outcomeOf(run: EodRunRow, replayed: boolean): CloseOutcome {
  return {
    platformId: run.platformId,
    date: run.businessDate,
    status: run.status === 'closed' ? 'closed' : 'failed',
    settledMinor: run.settledMinor,
    settlementBasis: run.settlementBasis,
    convertedMembers: run.convertedMembers,
    convertedMinor: run.convertedMinor,
    closedAtMs: run.status === 'closed' ? run.completedAtMs : null,
    checks: Array.isArray(run.invariants) ? (run.invariants as InvariantCheck[]) : [],
    error: run.error,
    replayed,
  };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function memberIdOf(id: Id | null): string | null {
  return id === null ? null : toPublicId('member', id);
}

function text(value: unknown): string {
  return value === null || value === undefined ? '' : String(value);
}
