import { businessDate, isBusinessDate, startOfBusinessDate } from '../business-date.js';
import type { Clock } from '../clock.js';
import { CustodyError } from '../errors.js';
import { newId } from '../ids.js';
import type { Id } from '../ledger/index.js';
import { limits } from '../limits.js';
import { toPublicId } from '../public-ids.js';
import type { BankCreditRow } from '../storage/sql-trade-store.js';
import type { AdjustmentRow } from '../storage/sql-withdrawal-store.js';
import { returnSuffix } from '../storage/sql-reconciliation-store.js';
import type {
  BreakRow,
  CompleteImport,
  NewBreak,
  NewMatch,
  NewReconciliation,
  ObjectType,
  OurRecord,
  ReconciliationRow,
  Resolve,
  StagedCredit,
} from '../storage/sql-reconciliation-store.js';
import { bankLine, bankStatementColumns, channelLine, channelStatementColumns, statementLines } from './statement-csv.js';
import type { BankLine, ChannelLine } from './statement-csv.js';
import type { BankCredit } from './suspense-service.js';

export const reconciliationLimits = {
  /** Lines parsed, looked up (one query) and written (one statement per table) together. */
  chunkLinesMax: 1000,
  /**
   * The window across midnight: a record of ours decided this close to the edge of the date
   * is not short when a neighbouring day's file of the same source named it, and a short of a
   * neighbouring day is explained when this file names its record within the window.
   */
  windowMs: 15 * 60_000,
  /** An `importing` reconciliation that has not moved for this long was abandoned by a crash. */
  staleImportMs: 10 * 60_000,
  /** How often a running import says it is alive (at most once per chunk). */
  heartbeatMs: 10_000,
  /** Unmatched bank credits recorded per round trip for the staged page. */
  creditsPerRoundMax: 100,
  noteLengthMax: 500,
  channelNameLengthMax: 32,
} as const;

/** `bank` (the custody account's bank statement) or `channel:<name>` (an acquiring channel's). */
export type ReconciliationSource = 'bank' | `channel:${string}`;

const sourcePattern = new RegExp(`^(bank|channel:[a-z0-9_]{1,${reconciliationLimits.channelNameLengthMax}})$`);

export function isReconciliationSource(value: string): value is ReconciliationSource {
  return sourcePattern.test(value);
}

/** Told after every chunk: data lines read, matched, breaks so far, and lines the chunk held. */
export interface ImportProgress {
  readonly lines: number;
  readonly matched: number;
  readonly breaks: number;
  /** Parsed lines held in memory at once (at most `chunkLinesMax`). */
  readonly heldLines: number;
}

export type BreakResolution =
  | { readonly action: 'explain'; readonly note: string }
  | { readonly action: 'adjust'; readonly adjustmentId: Id; readonly note?: string | undefined };

export interface Page {
  readonly limit: number;
  readonly afterId?: Id | undefined;
}

/** The storage an import needs (src/storage/sql-reconciliation-store.ts). */
export interface ReconciliationRepository {
  failStale(platformId: Id, source: string, staleBeforeMs: number, nowMs: number): Promise<number>;
  start(row: NewReconciliation): Promise<boolean>;
  running(platformId: Id, source: string): Promise<Id | undefined>;
  touch(platformId: Id, id: Id, nowMs: number): Promise<void>;
  payinsByTxnId(platformId: Id, channel: string, txnIds: readonly string[]): Promise<OurRecord[]>;
  bankRecords(platformId: Id, railTxnIds: readonly string[], bankTxnIds: readonly string[]): Promise<OurRecord[]>;
  claimMatches(platformId: Id, reconciliationId: Id, matches: readonly NewMatch[]): Promise<Set<string>>;
  stageCredits(platformId: Id, reconciliationId: Id, credits: readonly StagedCredit[]): Promise<Set<string>>;
  insertBreaks(platformId: Id, reconciliationId: Id, breaks: readonly NewBreak[]): Promise<void>;
  stagedCredits(platformId: Id, reconciliationId: Id, afterLineNo: number, limit: number): Promise<StagedCredit[]>;
  bankCreditByTxnId(platformId: Id, bankTxnId: string): Promise<{ id: Id; created_at: Date } | undefined>;
  creditRecorded(
    platformId: Id,
    reconciliationId: Id,
    credit: StagedCredit,
    recorded: { readonly bankCreditId: Id; readonly createdAtMs: number; readonly breakId: Id; readonly detail: string; readonly actor: string; readonly nowMs: number },
  ): Promise<void>;
  complete(c: CompleteImport): Promise<void>;
  discard(platformId: Id, id: Id): Promise<void>;
  fail(platformId: Id, id: Id, detail: string, nowMs: number): Promise<void>;
  reconciliation(id: Id): Promise<ReconciliationRow | undefined>;
  listReconciliations(platformId: Id | undefined, limit: number, afterId?: Id): Promise<ReconciliationRow[]>;
  breaks(platformId: Id, reconciliationId: Id, limit: number, afterId?: Id, resolved?: boolean): Promise<BreakRow[]>;
  breakById(id: Id): Promise<BreakRow | undefined>;
  resolveBreak(platformId: Id, id: Id, r: Resolve): Promise<BreakRow | undefined>;
}

export { returnSuffix };

/** What reconciliation uses of the other services. */
export interface BankCreditRecorder {
  recordBankCredit(platformId: Id, credit: BankCredit, actor: string): Promise<BankCreditRow>;
}
export interface AdjustmentLookup {
  byId(id: Id): Promise<AdjustmentRow>;
}
export interface PlatformLookup {
  record(id: Id): Promise<unknown>;
}

/** The actor that resolves a neighbouring day's short by itself. */
export const reconciliationActor = 'system:reconciliation';

/** One import under way: where it writes and what it has counted. */
interface Run {
  readonly platformId: Id;
  readonly id: Id;
  readonly source: ReconciliationSource;
  readonly actor: string;
  readonly onProgress: ((progress: ImportProgress) => void) | undefined;
  readonly ids: IdSequence;
  lines: number;
  matched: number;
  breaks: number;
  touchedMs: number;
}

type BreakDraft = Omit<NewBreak, 'id'>;

/**
 * Break ids that follow the file: each chunk's ids are later than the previous chunk's (a
 * millisecond of their own) and handed out in line order, so that breaks, listed by id,
 * read in the order of the file, then the recorded credits, then the shorts.
 */
class IdSequence {
  private lastMs = 0;

  /** A millisecond after every id handed out so far, and not before `nowMs`. */
  nextMs(nowMs: number): number {
    this.lastMs = Math.max(nowMs, this.lastMs + 1);
    return this.lastMs;
  }

  take(count: number, nowMs: number): Id[] {
    const ms = this.nextMs(nowMs);
    return Array.from({ length: count }, () => newId(ms)).sort();
  }
}

/** A line that named one of our records, and how it compares. */
interface Named {
  readonly lineNo: number;
  readonly txnId: string;
  readonly orderNo: string | null;
  readonly objectType: ObjectType;
  readonly record: OurRecord;
  readonly statusAgrees: boolean;
  readonly theirStatus: string;
  readonly theirAmountMinor: bigint;
  readonly decidedAtMs: number | null;
}

/**
 * Reconciliation (对账): a channel's or the bank's statement of one business date, streamed
 * and matched against our payins, withdrawals and bank credits. Breaks are classified as long
 * (theirs, not ours), short (ours, not theirs), amount or status mismatch, and worked by
 * operators: explained, or corrected by an adjustment under maker-checker. An unmatched
 * credit on the bank statement is money in the custody account: it is recorded at once (a
 * member's credit when the memo names one, else suspense), its break marked `recorded`.
 *
 * A file is validated while it streams; a bad line refuses the whole import and leaves
 * nothing behind. Memory stays bounded by one chunk whatever the file's size: our records
 * the file never named are found at the end by one query against the matches written
 * chunk by chunk.
 */
export class ReconciliationService {
  constructor(
    private readonly store: ReconciliationRepository,
    private readonly suspense: BankCreditRecorder,
    private readonly adjustments: AdjustmentLookup,
    private readonly platforms: PlatformLookup,
    private readonly clock: Clock,
  ) {}

  async import(
    platformId: Id,
    source: ReconciliationSource,
    date: string,
    lines: AsyncIterable<string>,
    actor: string,
    onProgress?: (progress: ImportProgress) => void,
  ): Promise<ReconciliationRow> {
    if (!isReconciliationSource(source)) throw new CustodyError('invalid_request', 'source must be bank or channel:<name>.', 'source');
    this.checkDate(date);
    await this.platforms.record(platformId).catch((error: unknown) => {
      throw error instanceof CustodyError && error.code === 'not_found' ? new CustodyError('not_found', 'No such platform.', 'platform_id') : error;
    });
    const nowMs = this.clock.nowMs();
    await this.store.failStale(platformId, source, nowMs - reconciliationLimits.staleImportMs, nowMs);
    const id = newId(nowMs);
    if (!(await this.store.start({ platformId, id, source, businessDate: date, createdBy: actor, nowMs }))) {
      const running = await this.store.running(platformId, source);
      const name = running === undefined ? '' : ` (${toPublicId('reconciliation', running)})`;
      throw new CustodyError('state_conflict', `Another import of ${source} for this platform is running${name}; retry when it is done.`);
    }
    const run: Run = { platformId, id, source, actor, onProgress, ids: new IdSequence(), lines: 0, matched: 0, breaks: 0, touchedMs: nowMs };
    try {
      if (source === 'bank') await this.consume(run, statementLines(lines, bankStatementColumns, bankLine), (chunk) => this.bankChunk(run, chunk));
      else await this.consume(run, statementLines(lines, channelStatementColumns, channelLine), (chunk) => this.channelChunk(run, chunk, source.slice(8)));
    } catch (error) {
      // Nothing was recorded yet: the import leaves no trace but its answer.
      await this.store.discard(platformId, id);
      throw error;
    }
    try {
      if (source === 'bank') await this.recordCredits(run);
      await this.store.complete(this.completion(run, date));
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      await this.store.fail(platformId, id, `stopped after recording bank credits: ${detail}`.slice(0, 500), this.clock.nowMs());
      throw error;
    }
    return this.get(id);
  }

  private checkDate(date: string): void {
    if (!isBusinessDate(date)) throw new CustodyError('invalid_request', 'date must be a business date YYYY-MM-DD.', 'date');
    if (date > businessDate(this.clock.nowMs())) throw new CustodyError('invalid_request', 'date is in the future: there is no statement for it yet.', 'date');
  }

  /** Reads typed lines into chunks of `chunkLinesMax`, handing each to `flush`. */
  private async consume<T>(run: Run, typed: AsyncIterable<T>, flush: (chunk: readonly T[]) => Promise<void>): Promise<void> {
    let chunk: T[] = [];
    const handOver = async (): Promise<void> => {
      const held = chunk.length;
      await flush(chunk);
      run.lines += held;
      chunk = [];
      const nowMs = this.clock.nowMs();
      if (nowMs - run.touchedMs >= reconciliationLimits.heartbeatMs) {
        await this.store.touch(run.platformId, run.id, nowMs);
        run.touchedMs = nowMs;
      }
      run.onProgress?.({ lines: run.lines, matched: run.matched, breaks: run.breaks, heldLines: held });
    };
    for await (const line of typed) {
      chunk.push(line);
      if (chunk.length >= reconciliationLimits.chunkLinesMax) await handOver();
    }
    if (chunk.length > 0) await handOver();
  }

  private async channelChunk(run: Run, chunk: readonly ChannelLine[], channel: string): Promise<void> {
    const nowMs = this.clock.nowMs();
    const ours = firstByKey(await this.store.payinsByTxnId(run.platformId, channel, unique(chunk.map((line) => line.txnId))));
    const named: Named[] = [];
    const breaks: BreakDraft[] = [];
    for (const line of chunk) {
      const payin = ours.get(line.txnId);
      if (payin === undefined) {
        breaks.push(longBreak(line.lineNo, line.txnId, line.orderNo, line.amountMinor, line.status, `Not among our payments of channel ${channel}.`));
        continue;
      }
      named.push({
        lineNo: line.lineNo,
        txnId: line.txnId,
        orderNo: line.orderNo ?? payin.orderNo,
        objectType: 'payin',
        record: payin,
        statusAgrees: payin.status === line.status,
        theirStatus: line.status,
        theirAmountMinor: line.amountMinor,
        decidedAtMs: payin.decidedAtMs,
      });
    }
    await this.write(run, named, breaks, nowMs);
  }

  private async bankChunk(run: Run, chunk: readonly BankLine[]): Promise<void> {
    const nowMs = this.clock.nowMs();
    const railTxnIds = new Set<string>();
    const bankTxnIds = new Set<string>();
    for (const line of chunk) {
      if (line.direction === 'debit') railTxnIds.add(line.txnId);
      else {
        bankTxnIds.add(line.txnId);
        if (line.txnId.endsWith(returnSuffix)) railTxnIds.add(line.txnId.slice(0, -returnSuffix.length));
      }
    }
    const ours = await this.store.bankRecords(run.platformId, [...railTxnIds], [...bankTxnIds]);
    const withdrawals = firstByKey(ours.filter((record) => record.objectType === 'withdrawal'));
    const credits = firstByKey(ours.filter((record) => record.objectType === 'bank_credit'));
    const named: Named[] = [];
    const breaks: BreakDraft[] = [];
    const staged = new Map<string, StagedCredit>();
    for (const line of chunk) {
      const base = { lineNo: line.lineNo, txnId: line.txnId, theirAmountMinor: line.amountMinor };
      if (line.direction === 'debit') {
        const w = withdrawals.get(line.txnId);
        if (w === undefined) breaks.push(longBreak(line.lineNo, line.txnId, null, line.amountMinor, 'paid', 'No withdrawal of ours was paid out with this bank_txn_id.'));
        else named.push({ ...base, orderNo: w.orderNo, objectType: 'withdrawal', record: w, statusAgrees: paidStatuses.has(w.status), theirStatus: 'paid', decidedAtMs: w.decidedAtMs });
        continue;
      }
      const returned = line.txnId.endsWith(returnSuffix) ? withdrawals.get(line.txnId.slice(0, -returnSuffix.length)) : undefined;
      if (returned !== undefined) {
        named.push({ ...base, orderNo: returned.orderNo, objectType: 'withdrawal_return', record: returned, statusAgrees: returned.status === 'returned', theirStatus: 'returned', decidedAtMs: returned.returnedAtMs });
        continue;
      }
      const credit = credits.get(line.txnId);
      if (credit !== undefined) {
        named.push({ ...base, orderNo: null, objectType: 'bank_credit', record: credit, statusAgrees: true, theirStatus: 'credited', decidedAtMs: credit.decidedAtMs });
      } else if (line.amountMinor > limits.payinAmountMinorMax) {
        breaks.push(longBreak(line.lineNo, line.txnId, null, line.amountMinor, 'credited', `Above the largest credit Custos records (${limits.payinAmountMinorMax} fen): not recorded; record it by hand.`));
      } else if (staged.has(line.txnId)) {
        breaks.push(longBreak(line.lineNo, line.txnId, null, line.amountMinor, 'credited', duplicateCredit));
      } else {
        staged.set(line.txnId, { txnId: line.txnId, lineNo: line.lineNo, amountMinor: line.amountMinor, counterpartyAccount: line.counterpartyAccount, counterpartyName: line.counterpartyName, memo: line.memo });
      }
    }
    const fresh = await this.store.stageCredits(run.platformId, run.id, [...staged.values()]);
    for (const credit of staged.values()) {
      if (!fresh.has(credit.txnId)) breaks.push(longBreak(credit.lineNo, credit.txnId, null, credit.amountMinor, 'credited', duplicateCredit));
    }
    await this.write(run, named, breaks, nowMs);
  }

  /**
   * Writes a chunk: the records its lines named (a record named by an earlier line of the
   * file makes this line a long break: the file has it twice), then its breaks.
   */
  private async write(run: Run, named: readonly Named[], breaks: BreakDraft[], nowMs: number): Promise<void> {
    const first = new Map<string, Named>();
    for (const line of named) {
      const key = `${line.objectType}:${line.record.objectId}`;
      if (first.has(key)) breaks.push(longBreak(line.lineNo, line.txnId, line.orderNo, line.theirAmountMinor, line.theirStatus, duplicateRecord));
      else first.set(key, line);
    }
    const verdicts = [...first.values()].map((line) => ({ line, outcome: outcomeOf(line) }));
    const fresh = await this.store.claimMatches(
      run.platformId,
      run.id,
      verdicts.map(({ line, outcome }) => ({ objectType: line.objectType, objectId: line.record.objectId, lineNo: line.lineNo, outcome, decidedAtMs: line.decidedAtMs })),
    );
    for (const { line, outcome } of verdicts) {
      if (!fresh.has(`${line.objectType}:${line.record.objectId}`)) {
        breaks.push(longBreak(line.lineNo, line.txnId, line.orderNo, line.theirAmountMinor, line.theirStatus, duplicateRecord));
      } else if (outcome === 'matched') {
        run.matched++;
      } else {
        breaks.push(mismatchBreak(line, outcome));
      }
    }
    breaks.sort((a, b) => (a.lineNo ?? 0) - (b.lineNo ?? 0));
    const ids = run.ids.take(breaks.length, nowMs);
    await this.store.insertBreaks(run.platformId, run.id, breaks.map((draft, i) => ({ ...draft, id: ids[i] ?? newId(nowMs) })));
    run.breaks += breaks.length;
  }

  /** The bank statement's credits that match nothing of ours, recorded now that the file is whole. */
  private async recordCredits(run: Run): Promise<void> {
    let afterLineNo = 0;
    for (;;) {
      const page = await this.store.stagedCredits(run.platformId, run.id, afterLineNo, reconciliationLimits.creditsPerRoundMax);
      if (page.length === 0) return;
      for (const credit of page) {
        afterLineNo = credit.lineNo;
        const recorded = await this.recordCredit(run, credit);
        const nowMs = this.clock.nowMs();
        await this.store.creditRecorded(run.platformId, run.id, credit, { ...recorded, breakId: run.ids.take(1, nowMs)[0] ?? newId(nowMs), actor: run.actor, nowMs });
        run.breaks++;
      }
      const nowMs = this.clock.nowMs();
      await this.store.touch(run.platformId, run.id, nowMs);
      run.touchedMs = nowMs;
    }
  }

  private async recordCredit(run: Run, credit: StagedCredit): Promise<{ bankCreditId: Id; createdAtMs: number; detail: string }> {
    // Recorded meanwhile (by an operator, or by an import that crashed after recording it).
    const existing = await this.store.bankCreditByTxnId(run.platformId, credit.txnId);
    if (existing !== undefined) {
      return {
        bankCreditId: existing.id,
        createdAtMs: existing.created_at.getTime(),
        detail: `Recorded meanwhile as bank credit ${toPublicId('bankCredit', existing.id)}, not by this import.`,
      };
    }
    const row = await this.suspense.recordBankCredit(
      run.platformId,
      { amountMinor: credit.amountMinor, payerAccount: credit.counterpartyAccount, payerName: credit.counterpartyName, memo: credit.memo, bankTxnId: credit.txnId },
      run.actor,
    );
    const name = toPublicId('bankCredit', row.id);
    const detail =
      row.member_id !== null
        ? `Recorded as bank credit ${name}: credited to member ${toPublicId('member', row.member_id)}, whose sub-account the memo names.`
        : `Recorded as bank credit ${name}: held in suspense ${toPublicId('suspense', row.suspense_id ?? '')} until allocated or sent back.`;
    return { bankCreditId: row.id, createdAtMs: row.created_at.getTime(), detail };
  }

  private completion(run: Run, date: string): CompleteImport {
    const nowMs = this.clock.nowMs();
    const startMs = startOfBusinessDate(date);
    const nextDate = businessDate(startMs + 36 * 3600_000);
    const windowMinutes = reconciliationLimits.windowMs / 60_000;
    return {
      platformId: run.platformId,
      id: run.id,
      source: run.source,
      lines: run.lines,
      startMs,
      endMs: startOfBusinessDate(nextDate),
      previousDate: businessDate(startMs - 12 * 3600_000),
      nextDate,
      windowMs: reconciliationLimits.windowMs,
      nowMs,
      idMs: run.ids.nextMs(nowMs),
      neighbourNote: `Named by the ${run.source} statement of ${date} (${toPublicId('reconciliation', run.id)}), within ${windowMinutes} minutes of midnight.`,
      neighbourActor: reconciliationActor,
    };
  }

  // Reads and work on breaks.

  async get(id: Id): Promise<ReconciliationRow> {
    const row = await this.store.reconciliation(id);
    if (row === undefined) throw new CustodyError('not_found', 'No such reconciliation.', 'id');
    return row;
  }

  async list(platformId: Id | undefined, page: Page): Promise<ReconciliationRow[]> {
    return this.store.listReconciliations(platformId, page.limit, page.afterId);
  }

  /** A reconciliation's breaks by id, a page at a time; `resolved` filters open (false) or worked (true) ones. */
  async breaks(reconciliationId: Id, page: Page, resolved?: boolean): Promise<BreakRow[]> {
    const reconciliation = await this.get(reconciliationId);
    return this.store.breaks(reconciliation.platform_id, reconciliation.id, page.limit, page.afterId, resolved);
  }

  async getBreak(id: Id): Promise<BreakRow> {
    const found = await this.store.breakById(id);
    if (found === undefined) throw new CustodyError('not_found', 'No such break.', 'id');
    return found;
  }

  /**
   * Works a break: `explain` records why it needs no correction; `adjust` links the
   * adjustment (调账) that corrects it, which must be of the same platform and not rejected,
   * and moves money only when a second operator approves it (maker-checker). Who, when and
   * how are kept on the break.
   */
  async resolve(breakId: Id, resolution: BreakResolution, actor: string): Promise<BreakRow> {
    const found = await this.getBreak(breakId);
    const note = this.note(resolution);
    let adjustmentId: Id | null = null;
    if (resolution.action === 'adjust') {
      const adjustment = await this.adjustments.byId(resolution.adjustmentId).catch((error: unknown) => {
        throw error instanceof CustodyError && error.code === 'not_found' ? new CustodyError('not_found', 'No such adjustment.', 'adjustment_id') : error;
      });
      // Another platform's adjustment is not found, never refused: it says nothing about it.
      if (adjustment.platform_id !== found.platform_id) throw new CustodyError('not_found', 'No such adjustment.', 'adjustment_id');
      if (adjustment.status === 'rejected') throw new CustodyError('state_conflict', 'The adjustment was rejected: it corrects nothing.', 'adjustment_id');
      adjustmentId = adjustment.id;
    }
    const reconciliation = await this.get(found.reconciliation_id);
    if (reconciliation.status !== 'completed') throw new CustodyError('state_conflict', `The reconciliation is ${reconciliation.status}; only a completed one's breaks are worked.`);
    if (found.resolution !== null) throw new CustodyError('state_conflict', `The break is ${found.resolution} already.`);
    const resolved = await this.store.resolveBreak(found.platform_id, found.id, {
      resolution: resolution.action === 'explain' ? 'explained' : 'adjusted',
      note,
      adjustmentId,
      actor,
      nowMs: this.clock.nowMs(),
    });
    if (resolved === undefined) throw new CustodyError('state_conflict', 'The break was resolved meanwhile.');
    return resolved;
  }

  private note(resolution: BreakResolution): string | null {
    const note = resolution.note?.trim() ?? '';
    if (note.length > reconciliationLimits.noteLengthMax || (resolution.action === 'explain' && note.length === 0)) {
      throw new CustodyError('invalid_request', `note must be 1 to ${reconciliationLimits.noteLengthMax} characters.`, 'note');
    }
    return note.length === 0 ? null : note;
  }
}

/** Our withdrawal statuses in which its money left the custody account. */
const paidStatuses = new Set(['succeeded', 'returned']);

const duplicateRecord = 'An earlier line of this file names the same record: the file has it twice.';
const duplicateCredit = 'An earlier line of this file has the same bank_txn_id: the credit is recorded once.';

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}

/** Our records by key; the first (by id) wins should two share one. */
function firstByKey(records: readonly OurRecord[]): Map<string, OurRecord> {
  const out = new Map<string, OurRecord>();
  for (const record of records) if (!out.has(record.key)) out.set(record.key, record);
  return out;
}

/** Status first: whether money moved at all matters more than how much. */
function outcomeOf(line: Named): 'matched' | 'amount_mismatch' | 'status_mismatch' {
  if (!line.statusAgrees) return 'status_mismatch';
  if (line.record.amountMinor !== line.theirAmountMinor) return 'amount_mismatch';
  return 'matched';
}

function longBreak(lineNo: number, txnId: string, orderNo: string | null, amountMinor: bigint, status: string, detail: string): BreakDraft {
  return {
    kind: 'long',
    txnId,
    orderNo,
    lineNo,
    objectType: null,
    objectId: null,
    expectedAmountMinor: null,
    actualAmountMinor: amountMinor,
    expectedStatus: null,
    actualStatus: status,
    detail,
  };
}

function mismatchBreak(line: Named, kind: 'amount_mismatch' | 'status_mismatch'): BreakDraft {
  const ours = line.record;
  return {
    kind,
    txnId: line.txnId,
    orderNo: line.orderNo,
    lineNo: line.lineNo,
    objectType: line.objectType,
    objectId: ours.objectId,
    expectedAmountMinor: ours.amountMinor,
    actualAmountMinor: line.theirAmountMinor,
    expectedStatus: ours.status,
    actualStatus: line.theirStatus,
    detail:
      kind === 'status_mismatch'
        ? `Ours is ${ours.status}, theirs ${line.theirStatus}.`
        : `Ours is ${ours.amountMinor} fen, theirs ${line.theirAmountMinor} fen.`,
  };
}
