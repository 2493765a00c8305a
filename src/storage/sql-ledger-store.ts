import { sql } from 'kysely';
import type { Kysely, RawBuilder } from 'kysely';
import assert from 'node:assert/strict';
import type {
  Account,
  BookCommand,
  CommandResult,
  AccountInput,
  AccountLine,
  AccountSum,
  AccountResult,
  ChainCheck,
  ChainHead,
  CloseAccountResult,
  Entry,
  EntryInput,
  EntryKind,
  EntryResult,
  Id,
  LedgerStore,
  LinePage,
  LinesPage,
  NetBalance,
  Pending,
  PendingState,
} from '../ledger/index.js';
import { genesisHash } from '../ledger/index.js';
import { systemClock } from '../clock.js';
import { newId } from '../ids.js';
import { limits } from '../limits.js';
import { BookMemories } from './book-memory.js';
import { Batcher } from './batcher.js';
import type { Database } from './database.js';
import { createAccountsIn } from './ledger-accounts.js';
import { plainArray, textArrays } from './pg-array.js';
import type { ArrayCodec } from './pg-array.js';
import { GuardedRows, rowsWritten } from './guarded-rows.js';
import { LedgerBatchWriter } from './ledger-batch-writer.js';
import type { Clock } from './ledger-batch-writer.js';
import {
  lockBook,
  readBook,
  selectAccounts,
  checkChainRange,
  selectEntryHash,
  selectEntriesAfter,
  selectEntriesById,
} from './ledger-rows.js';

export type { Clock } from './ledger-batch-writer.js';

export interface SqlLedgerStoreOptions {
  readonly clock?: Clock;
  /** Entries per group-commit batch (≤ limits.batchEntriesMax). */
  readonly batchEntriesMax?: number;
  /** How long an idle book waits for more entries before writing (≤ limits.batchWaitMsMax). */
  readonly batchWaitMs?: number;
  readonly balanceCacheAccountsMax?: number;
  /** Tables whose rows commands may guard and write inside the book's transaction. */
  readonly guardedTables?: readonly string[] | undefined;
  /** Entries per read of the hash-chain verifier, and reads in flight at once. */
  readonly verifyChunkEntries?: number;
  readonly verifyReadsInFlight?: number;
  /** Told of every committed batch: entries in it, written, replayed, seconds from queue to commit. */
  readonly onBatch?: BatchObserver | undefined;
  /** How the batch statement sends its arrays: set by the adapter (default: as text). */
  readonly arrays?: ArrayCodec;
}

/** One side of a posting: its account, the other side's, and the account's balances after. */
interface Side {
  readonly name: string;
  readonly account: RawBuilder<unknown>;
  readonly other: RawBuilder<unknown>;
  readonly postedAfter: RawBuilder<unknown>;
  readonly pendingAfter: RawBuilder<unknown>;
}

const sides: readonly Side[] = (['debit', 'credit'] as const).map((name) => {
  const other = name === 'debit' ? 'credit' : 'debit';
  return {
    name,
    account: sql.ref(`${name}_account`),
    other: sql.ref(`${other}_account`),
    postedAfter: sql.ref(`${name}_posted_after`),
    pendingAfter: sql.ref(`${name}_pending_after`),
  };
});

/**
 * Where postings are stored (migration 0010): in the row of an entry with one posting, and in
 * ledger_postings for the others. Readers of one account's postings in order ask each store
 * apart, so that each walks its index in order (ledger_postings_all would sort).
 */
interface Stored {
  readonly table: RawBuilder<unknown>;
  readonly seq: RawBuilder<unknown>;
  readonly idx: RawBuilder<unknown>;
  /** The store's order of an account's postings, as its index keeps them, and its reverse. */
  readonly order: RawBuilder<unknown>;
  readonly reverse: RawBuilder<unknown>;
}

const storedPostings: readonly Stored[] = [
  { table: sql.table('ledger_entries'), seq: sql.ref('seq'), idx: sql`0::int2`, order: sql`seq`, reverse: sql`seq desc` },
  {
    table: sql.table('ledger_postings'),
    seq: sql.ref('entry_seq'),
    idx: sql.ref('idx'),
    order: sql`entry_seq, idx`,
    reverse: sql`entry_seq desc, idx desc`,
  },
];

/** One query per side of a posting and per store, as one union. */
function everySideAndStore(query: (side: Side, stored: Stored) => RawBuilder<unknown>): RawBuilder<unknown> {
  return sql.join(
    sides.flatMap((side) => storedPostings.map((stored) => query(side, stored))),
    sql` union all `,
  );
}

function entryResultOf(result: CommandResult): EntryResult {
  assert.ok(result.entry !== undefined, 'an entry command answers with its entry');
  return result.entry;
}

export type BatchObserver = (entries: number, written: number, replayed: number, seconds: number) => void;

export { systemClock } from '../clock.js';

/** Counters of group commit, for metrics and tests. */
export interface WriteStats {
  /** Database transactions that wrote at least one entry. */
  batches: number;
  /** Entries written (ok), replays answered (exists) and entries refused. */
  entriesWritten: number;
  entriesReplayed: number;
  entriesRefused: number;
  /** Batches decided ahead that met a moved head and were decided again. */
  batchesRedecided: number;
}

/**
 * The ledger on any PostgreSQL-compatible database reachable through Kysely: the same SQL
 * runs on PGlite and on a PostgreSQL server. Writes of entries go through group commit.
 */
export class SqlLedgerStore implements LedgerStore {
  private readonly batcher: Batcher<BookCommand, CommandResult>;
  private readonly clock: Clock;
  private readonly verifyChunkEntries: number;
  private readonly verifyReadsInFlight: number;
  readonly stats: WriteStats = { batches: 0, entriesWritten: 0, entriesReplayed: 0, entriesRefused: 0, batchesRedecided: 0 };

  constructor(
    private readonly db: Kysely<Database>,
    private readonly release: () => Promise<void>,
    options: SqlLedgerStoreOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
    this.verifyChunkEntries = options.verifyChunkEntries ?? limits.verifyChunkEntriesMax;
    this.verifyReadsInFlight = options.verifyReadsInFlight ?? limits.verifyReadsInFlight;
    const entriesMax = options.batchEntriesMax ?? limits.batchEntriesMax;
    if (entriesMax < 1 || entriesMax > limits.batchEntriesMax) throw new Error('batchEntriesMax out of range');
    const memories = new BookMemories(options.balanceCacheAccountsMax ?? limits.balanceCacheAccountsMax);
    const rows = new GuardedRows(new Set(options.guardedTables ?? []));
    const writer = new LedgerBatchWriter(db, memories, this.clock, this.stats, rows, options.arrays ?? textArrays, options.onBatch);
    this.batcher = new Batcher<BookCommand, CommandResult>(
      (platformId, commands) => writer.write(platformId, commands),
      {
        batchItemsMax: entriesMax,
        batchWeightMax: limits.batchPostingsMax,
        waitMs: options.batchWaitMs ?? limits.batchWaitMsDefault,
        queueItemsMax: limits.batchQueueEntriesMax,
        inFlightMax: 2,
      },
      (command) => Math.max(1, command.entry?.postings.length ?? 0, rowsWritten(command.writes)),
    );
  }

  /** The Kysely instance, for the adapters' own checks and for tests. */
  get kysely(): Kysely<Database> {
    return this.db;
  }

  async createAccounts(platformId: Id, inputs: readonly AccountInput[]): Promise<AccountResult[]> {
    const createdAtMs = this.clock.nowMs();
    return this.db.transaction().execute((trx) => createAccountsIn(trx, platformId, inputs, createdAtMs));
  }

  async closeAccount(platformId: Id, accountId: Id): Promise<CloseAccountResult> {
    return this.db.transaction().execute(async (trx) => {
      if ((await lockBook(trx, platformId)) === undefined) return 'account_not_found';
      const [account] = await selectAccounts(trx, platformId, [accountId], true);
      if (account === undefined) return 'account_not_found';
      if (account.closed) return 'account_already_closed';
      const empty =
        account.debitsPendingMinor === 0n &&
        account.creditsPendingMinor === 0n &&
        account.debitsPostedMinor === account.creditsPostedMinor;
      if (!empty) return 'balance_not_zero';
      await sql`update ledger_accounts set closed = true where platform_id = ${platformId}::uuid and id = ${accountId}::uuid`.execute(trx);
      // Other processes' cached balances of this book (closed flag included) are now stale.
      await sql`update ledger_books set version = version + 1 where platform_id = ${platformId}::uuid`.execute(trx);
      return 'closed';
    });
  }

  submit(platformId: Id, entry: EntryInput): Promise<EntryResult> {
    // Not an async function: thousands of callers wait at once, and each async frame would
    // live, and be copied by the collector, until its batch commits.
    return this.batcher.submit(platformId, { entry }, entryResultOf);
  }

  submitMany(platformId: Id, entries: readonly EntryInput[]): Promise<EntryResult[]> {
    return Promise.all(entries.map((entry) => this.submit(platformId, entry)));
  }

  execute(platformId: Id, command: BookCommand): Promise<CommandResult> {
    return this.batcher.submit(platformId, command);
  }

  async expireDue(platformId: Id, limit: number = limits.batchEntriesMax): Promise<number> {
    const now = new Date(this.clock.nowMs()).toISOString();
    const { rows } = await sql<{ entry_id: string }>`
      select entry_id from ledger_pending
      where platform_id = ${platformId}::uuid and state = 'open' and timeout_at <= ${now}::timestamptz
      order by timeout_at limit ${limit}`.execute(this.db);
    const results = await this.submitMany(
      platformId,
      rows.map((row) => ({
        id: newId(this.clock.nowMs()),
        kind: 'expire' as const,
        pendingId: row.entry_id,
        postings: [],
        command: 'ledger.expire',
        actor: 'system',
      })),
    );
    return results.filter((result) => result.code === 'ok').length;
  }

  async booksWithDuePendings(limit = 1000): Promise<Id[]> {
    const now = new Date(this.clock.nowMs()).toISOString();
    const { rows } = await sql<{ platform_id: string }>`
      select distinct platform_id from ledger_pending
      where state = 'open' and timeout_at <= ${now}::timestamptz limit ${limit}`.execute(this.db);
    return rows.map((row) => row.platform_id);
  }

  async getAccounts(platformId: Id, ids: readonly Id[]): Promise<Account[]> {
    return selectAccounts(this.db, platformId, ids, false);
  }

  private async accountNum(platformId: Id, accountId: Id): Promise<bigint | undefined> {
    const { rows } = await sql<{ num: bigint }>`
      select num from ledger_accounts where platform_id = ${platformId}::uuid and id = ${accountId}::uuid`.execute(this.db);
    return rows[0]?.num;
  }

  async listAccounts(platformId: Id, page: { afterId?: Id | undefined; limit: number }): Promise<Account[]> {
    const after = page.afterId ?? '00000000-0000-0000-0000-000000000000';
    const { rows } = await sql<{ id: string }>`
      select id from ledger_accounts where platform_id = ${platformId}::uuid and id > ${after}::uuid
      order by id limit ${page.limit}`.execute(this.db);
    return selectAccounts(this.db, platformId, rows.map((row) => row.id), false);
  }

  async getEntries(platformId: Id, ids: readonly Id[]): Promise<Entry[]> {
    return selectEntriesById(this.db, platformId, ids);
  }

  async listEntries(platformId: Id, page: { afterSeq: bigint; limit: number }): Promise<Entry[]> {
    return selectEntriesAfter(this.db, platformId, page.afterSeq, page.limit);
  }

  async listAccountLines(platformId: Id, accountId: Id, page: LinePage): Promise<AccountLine[]> {
    const after = page.after && { ...page.after, accountId };
    return this.listLines(platformId, [accountId], { after, limit: page.limit });
  }

  async listLines(platformId: Id, accountIds: readonly Id[], page: LinesPage): Promise<AccountLine[]> {
    if (accountIds.length === 0) return [];
    const accounts = await selectAccounts(this.db, platformId, accountIds, false);
    if (accounts.length === 0) return [];
    const nums = plainArray(accounts.map((a) => a.num));
    const afterSeq = (page.after?.seq ?? 0n).toString();
    const afterIdx = page.after?.postingIndex ?? -1;
    const afterNum = (accounts.find((a) => a.id === page.after?.accountId)?.num ?? 0n).toString();
    const limit = page.limit + 1;
    const lines = (side: Side, stored: Stored) => sql`(
      select ${stored.seq} as entry_seq, ${stored.idx} as idx, ${side.account} as num, ${side.other} as other,
             ${side.name} as side, amount, pending_released, ${side.postedAfter} as posted_after,
             ${side.pendingAfter} as pending_after
      from ${stored.table}
      where platform_id = ${platformId}::uuid and ${side.account} = any(${nums}::int8[])
        and ${stored.seq} >= ${afterSeq}::int8 and (${stored.seq}, ${stored.idx}) >= (${afterSeq}::int8, ${afterIdx}::int2)
      order by ${stored.order} limit ${limit})`;
    const { rows } = await sql<LineRow>`
      select l.entry_seq, l.idx, l.side, a.id as account_id, o.id as counterparty_id, l.amount, l.pending_released,
             l.posted_after, l.pending_after, e.id as entry_id, e.kind, e.command, e.reference,
             (extract(epoch from e.occurred_at) * 1000)::int8 as occurred_ms
      from (${everySideAndStore(lines)}) l
      join ledger_accounts a on a.platform_id = ${platformId}::uuid and a.num = l.num
      join ledger_accounts o on o.platform_id = ${platformId}::uuid and o.num = l.other
      join ledger_entries e on e.platform_id = ${platformId}::uuid and e.seq = l.entry_seq
      where (l.entry_seq, l.idx, l.num) > (${afterSeq}::int8, ${afterIdx}::int2, ${afterNum}::int8)
      order by l.entry_seq, l.idx, l.num limit ${page.limit}`.execute(this.db);
    return rows.map(toLine);
  }

  async balanceAt(platformId: Id, accountId: Id, seq: bigint): Promise<NetBalance> {
    const num = await this.accountNum(platformId, accountId);
    if (num === undefined) return { postedMinor: 0n, pendingMinor: 0n };
    const last = (side: Side, stored: Stored) => sql`(
      select debit_account, debit_posted_after, debit_pending_after, credit_posted_after, credit_pending_after,
             ${stored.seq} as entry_seq, ${stored.idx} as idx
      from ${stored.table}
      where platform_id = ${platformId}::uuid and ${side.account} = ${num.toString()}::int8
        and ${stored.seq} <= ${seq.toString()}::int8
      order by ${stored.reverse} limit 1)`;
    const { rows } = await sql<BalanceRow>`
      select * from (${everySideAndStore(last)}) p order by entry_seq desc, idx desc limit 1`.execute(this.db);
    const row = rows[0];
    if (row === undefined) return { postedMinor: 0n, pendingMinor: 0n };
    return row.debit_account === num
      ? { postedMinor: row.debit_posted_after, pendingMinor: row.debit_pending_after }
      : { postedMinor: row.credit_posted_after, pendingMinor: row.credit_pending_after };
  }

  /** Binary search over the journal: entry times never go backwards, so no time index is needed. */
  async seqAt(platformId: Id, atMs: number): Promise<bigint> {
    const head = await readBook(this.db, platformId);
    if (head === undefined) return 0n;
    let low = 0n;
    let high = head.seq;
    while (low < high) {
      const middle = (low + high + 1n) / 2n;
      const { rows } = await sql<{ ms: bigint }>`
        select (extract(epoch from occurred_at) * 1000)::int8 as ms from ledger_entries
        where platform_id = ${platformId}::uuid and seq = ${middle.toString()}::int8`.execute(this.db);
      if (rows[0] !== undefined && Number(rows[0].ms) <= atMs) low = middle;
      else high = middle - 1n;
    }
    return low;
  }

  async listPendings(
    platformId: Id,
    page: { state: PendingState; afterId?: Id; limit: number },
  ): Promise<Pending[]> {
    const after = page.afterId ?? '00000000-0000-0000-0000-000000000000';
    const { rows } = await sql<{ entry_id: string; entry_seq: bigint; state: string; timeout_ms: bigint | null }>`
      select entry_id, entry_seq, state, (extract(epoch from timeout_at) * 1000)::int8 as timeout_ms
      from ledger_pending
      where platform_id = ${platformId}::uuid and state = ${page.state} and entry_id > ${after}::uuid
      order by entry_id limit ${page.limit}`.execute(this.db);
    const entries = new Map((await this.getEntries(platformId, rows.map((r) => r.entry_id))).map((e) => [e.id, e]));
    return rows.map((row) => ({
      id: row.entry_id,
      seq: row.entry_seq,
      state: row.state as PendingState,
      timeoutAtMs: row.timeout_ms === null ? null : Number(row.timeout_ms),
      postings: (entries.get(row.entry_id)?.postings ?? []).map((p) => ({
        debitAccountId: p.debitAccountId,
        creditAccountId: p.creditAccountId,
        amountMinor: p.amountMinor,
      })),
    }));
  }

  async head(platformId: Id): Promise<ChainHead | undefined> {
    const book = await readBook(this.db, platformId);
    return book === undefined ? undefined : { seq: book.seq, hash: book.hash, lastOccurredAtMs: book.lastOccurredAtMs };
  }

  async accountSums(platformId: Id): Promise<AccountSum[]> {
    const { rows } = await sql<{
      code: string;
      currency: string;
      accounts: bigint;
      dp: string;
      dpo: string;
      cp: string;
      cpo: string;
      negative: bigint;
    }>`
      select code, currency, count(*)::int8 as accounts,
             sum(debits_pending)::text as dp, sum(debits_posted)::text as dpo,
             sum(credits_pending)::text as cp, sum(credits_posted)::text as cpo,
             count(*) filter (where credits_posted - debits_posted - debits_pending < 0)::int8 as negative
      from ledger_accounts where platform_id = ${platformId}::uuid
      group by code, currency order by code, currency`.execute(this.db);
    return rows.map((row) => ({
      code: row.code,
      currency: row.currency,
      accounts: Number(row.accounts),
      debitsPendingMinor: BigInt(row.dp),
      debitsPostedMinor: BigInt(row.dpo),
      creditsPendingMinor: BigInt(row.cp),
      creditsPostedMinor: BigInt(row.cpo),
      negative: Number(row.negative),
    }));
  }

  /**
   * Walks the hash chain from `from` (or the first entry) to the book's head as it stands
   * when the walk starts; entries booked meanwhile are left to the next walk. The journal is
   * read in runs of seq, several at once: each run is checked from its predecessor's stored
   * hash, which the run before checks in turn, so the runs together check every link once,
   * as one walk would, and the first broken entry is the one reported.
   */
  async verifyChain(platformId: Id, from?: { seq: bigint; hash: string }): Promise<ChainCheck> {
    const book = await readBook(this.db, platformId);
    const start: ChainCheck = { ok: true, brokenAtSeq: null, reason: null, seq: from?.seq ?? 0n, hash: from?.hash ?? genesisHash };
    if (book === undefined) return start;
    if (book.seq < start.seq) return { ...start, ok: false, brokenAtSeq: book.seq + 1n, reason: `the book's head is at ${book.seq}, before the verified entry ${start.seq}` };
    if (book.seq === start.seq) {
      return book.hash === start.hash ? start : { ...start, ok: false, brokenAtSeq: start.seq, reason: "the book's head hash is not the verified entry's" };
    }
    const end = book.seq;
    const chunk = BigInt(this.verifyChunkEntries);
    const broken: { seq: bigint; reason: string }[] = [];
    let next = start.seq;
    let endHash: string | null = null;
    const walk = async (): Promise<void> => {
      // Runs are handed out in seq order, so when one breaks, every run before it is walked.
      while (next < end && broken.length === 0) {
        const after = next;
        const through = after + chunk < end ? after + chunk : end;
        next = through;
        const first = after === start.seq;
        const range = await checkChainRange(this.db, platformId, after, through, first ? start.hash : null);
        const lastFound = range.lastSeq ?? after;
        if (first && after > 0n && range.priorHash !== start.hash) broken.push({ seq: after, reason: `entry ${after} is not the entry verified before` });
        else if (range.missingSeq !== null) broken.push({ seq: range.missingSeq, reason: `entry ${range.missingSeq} is missing` });
        else if (range.mismatchSeq !== null) broken.push({ seq: range.mismatchSeq, reason: 'stored hash does not match the entry' });
        else if (lastFound !== through) broken.push({ seq: lastFound + 1n, reason: `entry ${lastFound + 1n} is missing` });
        else if (through === end) endHash = range.lastHash;
      }
    };
    await Promise.all(Array.from({ length: this.verifyReadsInFlight }, walk));
    // A rewritten last entry (hash and all) leaves the book's head pointing at another.
    if (broken.length === 0 && endHash !== book.hash) broken.push({ seq: end, reason: `the book's head is entry ${end}, which the journal does not end with` });
    const earliest = broken.sort((a, b) => (a.seq < b.seq ? -1 : 1))[0];
    if (earliest === undefined) return { ok: true, brokenAtSeq: null, reason: null, seq: end, hash: book.hash };
    // Every entry before the first broken one is verified: the walk can go on from there.
    const verifiedSeq = earliest.seq - 1n;
    const verifiedHash = verifiedSeq === start.seq ? start.hash : ((await selectEntryHash(this.db, platformId, verifiedSeq)) ?? start.hash);
    return { ok: false, brokenAtSeq: earliest.seq, reason: earliest.reason, seq: verifiedSeq, hash: verifiedHash };
  }

  async drain(): Promise<void> {
    await this.batcher.drain();
  }

  async close(): Promise<void> {
    await this.batcher.close();
    await this.release();
  }
}

interface BalanceRow {
  debit_account: bigint;
  debit_posted_after: bigint;
  debit_pending_after: bigint;
  credit_posted_after: bigint;
  credit_pending_after: bigint;
}

interface LineRow {
  entry_seq: bigint;
  idx: number;
  side: 'debit' | 'credit';
  account_id: string;
  counterparty_id: string;
  amount: bigint;
  pending_released: bigint;
  posted_after: bigint;
  pending_after: bigint;
  entry_id: string;
  kind: string;
  command: string;
  reference: string | null;
  occurred_ms: bigint;
}

function toLine(row: LineRow): AccountLine {
  return {
    accountId: row.account_id,
    seq: row.entry_seq,
    entryId: row.entry_id,
    postingIndex: row.idx,
    kind: row.kind as EntryKind,
    command: row.command,
    reference: row.reference,
    occurredAtMs: Number(row.occurred_ms),
    side: row.side,
    counterpartyAccountId: row.counterparty_id,
    amountMinor: row.amount,
    pendingReleasedMinor: row.pending_released,
    postedAfterMinor: row.posted_after,
    pendingAfterMinor: row.pending_after,
  };
}
