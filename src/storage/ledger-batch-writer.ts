import assert from 'node:assert/strict';
import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import { BatchDecider, entryErrorCodes, entryShapeErrorCodes, genesisHash, isValidId } from '../ledger/index.js';
import type {
  Account,
  BatchDecision,
  BookCommand,
  BookView,
  CommandResult,
  Entry,
  EntryInput,
  EntryResult,
  Id,
  Pending,
  Posting,
  RowSet,
  RowWrite,
} from '../ledger/index.js';
import type { Clock } from '../clock.js';
import { limits } from '../limits.js';
import { sameHead } from './book-memory.js';
import type { BookHead, BookMemories, BookMemory } from './book-memory.js';
import type { Database } from './database.js';
import { RowsMoved, advanceVersions, guardsHold, setRowsOf, takenVersionsUnchecked, versionsSetRowsCheck } from './guarded-rows.js';
import type { GuardedRows } from './guarded-rows.js';
import type { BatchObserver, WriteStats } from './sql-ledger-store.js';
import {
  lockBook,
  sameStoredAccount,
  selectAccounts,
  selectEntriesById,
  selectExistingIds,
  selectPendings,
} from './ledger-rows.js';
import type { StoredAccount } from './ledger-rows.js';
import { unlessAll } from './pg-array.js';
import type { ArrayCodec } from './pg-array.js';
import { isUniqueViolation } from './pg-errors.js';

export type { Clock } from '../clock.js';

/** Thrown inside the transaction to roll it back when an entry id turned out to exist. */
class ExistingIdsFound extends Error {
  constructor(readonly ids: Id[]) {
    super('entry ids exist already');
  }
}

/** A batch decided ahead, on the head the batch before it will leave if it commits. */
interface Prepared {
  readonly base: BookHead;
  /**
   * What the callers are answered. The entries themselves are in the statement only: kept
   * here they would outlive the next collections of the young heap, waiting for the batch
   * before to commit, and be copied and promoted for nothing.
   */
  readonly results: readonly EntryResult[];
  readonly statement: WriteStatement;
  /** Accounts read ahead without a lock: the decision stands only if they are still so. */
  readonly assumed: Assumed;
}

/** Accounts read ahead: the ids asked for, and the accounts found (ids not found do not exist). */
interface Assumed {
  readonly ids: readonly Id[];
  readonly accounts: readonly StoredAccount[];
}

/** A decided batch: the entries, each command's result, the rows to write. */
interface Decided {
  readonly decision: BatchDecision;
  readonly results: CommandResult[];
  readonly writes: (RowWrite | RowSet)[];
}

/** The accounts a batch names, as of the head it is decided on, and their numbers. */
interface BatchAccounts {
  readonly accounts: ReadonlyMap<Id, Account>;
  readonly nums: ReadonlyMap<Id, bigint>;
}

function entriesOnly(commands: readonly BookCommand[]): EntryInput[] | null {
  const entries: EntryInput[] = [];
  for (const command of commands) {
    if (command.entry === undefined || (command.guards?.length ?? 0) > 0 || (command.writes?.length ?? 0) > 0) return null;
    entries.push(command.entry);
  }
  return entries;
}

const fromEntry = (entry: EntryResult): CommandResult => ({ code: entry.code, entry });

/** Entries decided between two turns of the event loop, so I/O is never kept waiting long. */
const decideSliceEntries = 512;

/**
 * Writes one batch of one book in one database transaction:
 * lock the book's head row (every writer of the book takes it first, so writers never
 * deadlock), read the balances this process does not already know under row locks in id
 * order, decide every entry in memory with the pure core, then insert the entries and
 * postings and update each touched balance row once, all in one statement.
 *
 * Two things keep the database busy instead of waiting on this process:
 * - Balances this process wrote are remembered with the book head they belong to, and
 *   trusted only when the locked head in the database is that head.
 * - While one batch commits, the next is decided ahead on the head the first will leave.
 *   Its transaction checks that head under lock and otherwise decides again.
 *
 * Entry ids are assumed new; if the insert meets an existing id, the transaction rolls back
 * and the batch is decided again knowing the stored entries, which then answer `exists`.
 */
export class LedgerBatchWriter {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly memories: BookMemories,
    private readonly clock: Clock,
    private readonly stats: WriteStats,
    private readonly rows: GuardedRows,
    private readonly arrays: ArrayCodec,
    private readonly onBatch?: BatchObserver,
  ) {}

  async write(platformId: Id, commands: readonly BookCommand[]): Promise<CommandResult[]> {
    const startedMs = performance.now();
    const memory = this.memories.of(platformId);
    const previousDecided = memory.decided;
    const previousCommitted = memory.committed;
    const decided = signal();
    const committed = signal();
    memory.decided = decided.promise;
    memory.committed = committed.promise;
    try {
      // Decide as soon as the batch before has decided: while it commits, this one is ready.
      await previousDecided;
      const plain = entriesOnly(commands);
      let prepared = plain === null ? null : await this.prepare(platformId, memory, plain);
      if (prepared !== null) decided.fire();
      await previousCommitted;
      const existing = new Map<Id, Entry>();
      // Versions of rows only set are taken from the commands until that proves wrong once.
      let taken = plain === null ? versionsSetRowsCheck(commands) : new Map<string, number>();
      for (let attempt = 0; ; attempt++) {
        try {
          const results =
            prepared !== null && standsAlone(prepared)
              ? await this.writeAlone(prepared)
              : await this.db
                  .transaction()
                  .execute((trx) => this.attempt(trx, platformId, memory, commands, prepared, existing, taken, decided.fire));
          this.count(results, (performance.now() - startedMs) / 1000);
          return results;
        } catch (error) {
          this.memories.forget(memory);
          prepared = null;
          if (error instanceof StaleSpeculation) {
            this.stats.batchesRedecided++;
            continue;
          }
          if (taken.size > 0 && (error instanceof RowsMoved || error instanceof UncheckedVersions)) {
            // A version taken from the commands was wrong, or answered a refusal: read them all.
            taken = new Map();
            this.stats.batchesRedecided++;
            continue;
          }
          if (!(error instanceof ExistingIdsFound) || attempt >= limits.batchConflictRetriesMax) throw error;
          for (const entry of await selectEntriesById(this.db, platformId, error.ids)) existing.set(entry.id, entry);
        }
      }
    } finally {
      decided.fire();
      committed.fire();
    }
  }

  private count(results: readonly CommandResult[], seconds: number): void {
    let written = 0;
    let replayed = 0;
    for (const result of results) {
      if (result.code === 'ok') written++;
      else if (result.code === 'exists') replayed++;
    }
    if (written > 0) this.stats.batches++;
    this.stats.entriesWritten += written;
    this.stats.entriesReplayed += replayed;
    this.stats.entriesRefused += results.length - written - replayed;
    this.onBatch?.(results.length, written, replayed, seconds);
  }

  /**
   * Decides a batch ahead: new money only (posts and voids need pending entries read from the
   * database). Accounts this process does not remember are read ahead without a lock; the
   * batch's transaction reads them again under the book lock and decides again unless they
   * are as read (`assumed`). Moves the book's memory on to the head this batch leaves, so the
   * next batch can build on it.
   */
  private async prepare(platformId: Id, memory: BookMemory, inputs: readonly EntryInput[]): Promise<Prepared | null> {
    const base = memory.head;
    if (base === null) return null;
    if (!inputs.every((input) => input.kind === 'posted' || input.kind === 'pending')) return null;
    // Copied now: while this batch reads or decides, other books' batches may push these
    // accounts out of memory, and a failure of the batch before makes it forget them all.
    const { accounts, nums, missing } = rememberedAccounts(memory, inputs, new Map());
    const assumed = missing.size === 0 ? { ids: [], accounts: [] } : await readAhead(this.db, platformId, missing);
    // The batch before may have failed meanwhile: then nothing can be built on it.
    if (memory.head !== base) return null;
    addAccounts(accounts, nums, assumed.accounts);
    const view: BookView = { account: (id) => accounts.get(id), pending: () => undefined, existing: () => undefined };
    const decider = new BatchDecider(platformId, base, view, this.clock.nowMs());
    for (let start = 0; start < inputs.length; start += decideSliceEntries) {
      if (start > 0) await yieldToIo();
      const end = Math.min(inputs.length, start + decideSliceEntries);
      for (let i = start; i < end; i++) decider.decide(inputs[i] as EntryInput);
    }
    const decision = decider.finish();
    await yieldToIo();
    const statement = writeStatement(this.arrays, platformId, base, decision, nums);
    if (memory.head !== base) return null;
    // The accounts read ahead are remembered with their numbers; the moved ones after the batch.
    this.memories.remember(memory, { ...decision.head, version: versionAfter(base, statement) }, [
      ...assumed.accounts,
      ...decision.accounts,
    ]);
    return { base, results: decision.results, statement, assumed };
  }

  /**
   * A batch decided ahead that needs nothing checked but the head is written by its statement
   * alone, outside any transaction: the statement locks the book's row and writes only if the
   * head is still the one the batch was decided on. One round trip instead of four (begin,
   * lock, write, commit), while the database would otherwise wait on this process.
   */
  private async writeAlone(prepared: Prepared): Promise<CommandResult[]> {
    const version = await this.persist(this.db, prepared.base, prepared.statement);
    if (version === null) throw new StaleSpeculation();
    assert.equal(version, versionAfter(prepared.base, prepared.statement), 'one write bumps the book version once');
    return prepared.results.map(fromEntry);
  }

  private async attempt(
    trx: Kysely<Database>,
    platformId: Id,
    memory: BookMemory,
    commands: readonly BookCommand[],
    prepared: Prepared | null,
    existing: ReadonlyMap<Id, Entry>,
    taken: ReadonlyMap<string, number>,
    onDecided: () => void,
  ): Promise<CommandResult[]> {
    const head = await lockBook(trx, platformId);
    if (head === undefined) return this.decideWithoutBook(platformId, commands);
    let entryResults: readonly EntryResult[];
    let results: CommandResult[];
    let writes: (RowWrite | RowSet)[] = [];
    let statement: WriteStatement;
    if (prepared !== null && sameHead(head, prepared.base) && (await asAssumed(trx, platformId, prepared.assumed))) {
      entryResults = prepared.results;
      results = entryResults.map(fromEntry);
      statement = prepared.statement;
    } else {
      if (prepared !== null) throw new StaleSpeculation();
      const batch = await this.decideUnderLock(trx, platformId, memory, head, commands, existing, taken);
      const decision = batch.decision;
      // Built now, while the numbers are at hand: other batches may change memory from here on.
      statement = writeStatement(this.arrays, platformId, head, decision, batch.nums);
      // The next batch may build on this one now; write() forgets the book if this one fails.
      this.memories.remember(memory, { ...decision.head, version: versionAfter(head, statement) }, decision.accounts);
      onDecided();
      entryResults = decision.results;
      results = batch.results;
      writes = batch.writes;
    }
    await this.checkRefusedAreNew(trx, platformId, entryResults, existing);
    const version = await this.persist(trx, head, statement);
    assert.ok(version !== null, 'the locked head is the head the batch was decided on');
    assert.equal(version, versionAfter(head, statement), 'one write bumps the book version once');
    if (writes.length > 0) await this.rows.write(trx, platformId, writes);
    return results;
  }

  private async decideUnderLock(
    trx: Kysely<Database>,
    platformId: Id,
    memory: BookMemory,
    head: BookHead,
    commands: readonly BookCommand[],
    existing: ReadonlyMap<Id, Entry>,
    taken: ReadonlyMap<string, number>,
  ): Promise<Decided & { readonly nums: ReadonlyMap<Id, bigint> }> {
    if (memory.head === null || !sameHead(memory.head, head)) {
      this.memories.forget(memory);
      memory.head = head;
    }
    const inputs = commands.flatMap((command) => (command.entry === undefined ? [] : [command.entry]));
    const pendings = await selectPendings(trx, platformId, pendingIdsOf(inputs));
    const batch = await this.accountsOf(trx, platformId, memory, inputs, pendings);
    this.memories.remember(memory, head, storedAccounts(batch));
    const versions = await this.rows.lockVersions(trx, platformId, commands.flatMap((command) => command.guards ?? []), setRowsOf(commands), taken);
    const view: BookView = {
      account: (id) => batch.accounts.get(id),
      pending: (id) => pendings.get(id),
      existing: (id) => existing.get(id),
    };
    const decider = new BatchDecider(platformId, head, view, this.clock.nowMs());
    const results: CommandResult[] = [];
    const writes: (RowWrite | RowSet)[] = [];
    for (const command of commands) {
      if (!guardsHold(command.guards, versions)) {
        results.push({ code: 'state_changed' });
        continue;
      }
      const entry = command.entry === undefined ? undefined : decider.decide(command.entry);
      const code = entry?.code ?? 'ok';
      results.push({ code, entry });
      if (code !== 'ok') continue;
      advanceVersions(command.writes, versions);
      writes.push(...(command.writes ?? []));
    }
    if (takenVersionsUnchecked(commands, results, taken)) throw new UncheckedVersions();
    return { decision: decider.finish(), results, writes, nums: batch.nums };
  }

  /** A book without a head row has no accounts: every entry is refused by the core. */
  private decideWithoutBook(platformId: Id, commands: readonly BookCommand[]): CommandResult[] {
    const view: BookView = { account: () => undefined, pending: () => undefined, existing: () => undefined };
    const head = { seq: 0n, hash: genesisHash, lastOccurredAtMs: 0 };
    const decider = new BatchDecider(platformId, head, view, this.clock.nowMs());
    const results = commands.map((command): CommandResult =>
      command.entry === undefined ? { code: 'state_changed' } : fromEntry(decider.decide(command.entry)),
    );
    assert.equal(decider.finish().entries.length, 0, 'no entry applies to a book without accounts');
    return results;
  }

  /**
   * Every account the batch names that exists, with its number: those remembered, and the
   * rest read under lock in id order. A copy, so that other batches' memories cannot push them
   * out while this one is decided and written.
   */
  private async accountsOf(
    trx: Kysely<Database>,
    platformId: Id,
    memory: BookMemory,
    inputs: readonly EntryInput[],
    pendings: ReadonlyMap<Id, Pending | 'not_pending'>,
  ): Promise<BatchAccounts> {
    const { accounts, nums, missing } = rememberedAccounts(memory, inputs, pendings);
    addAccounts(accounts, nums, await selectAccounts(trx, platformId, [...missing], true));
    return { accounts, nums };
  }

  /**
   * A refused entry may be a replay of one stored before (say, a transfer that no longer
   * fits the balance): it must answer `exists`, so look for refused ids before writing.
   */
  private async checkRefusedAreNew(
    trx: Kysely<Database>,
    platformId: Id,
    results: readonly EntryResult[],
    existing: ReadonlyMap<Id, Entry>,
  ): Promise<void> {
    const refused = results
      .filter((r) => r.code !== 'ok' && r.code !== 'exists' && !existing.has(r.id) && !decidedWithoutStore.has(r.code))
      .map((r) => r.id);
    const found = await selectExistingIds(trx, platformId, refused);
    if (found.length > 0) throw new ExistingIdsFound(found);
  }

  /** The book's version after the write; null if the book's head was not `head`, and nothing was written. */
  private async persist(db: Kysely<Database>, head: BookHead, statement: WriteStatement): Promise<bigint | null> {
    if (statement.entryIds.length === 0) return head.version;
    const { rows } = await statement.query.execute(db).catch((error: unknown) => {
      if (isUniqueViolation(error, entryIdConstraint)) throw new ExistingIdsFound([...statement.entryIds]);
      throw error;
    });
    const row = rows[0];
    assert.ok(row !== undefined);
    if (row.version === null) return null;
    assert.equal(row.inserted, statement.entryIds.length, 'every entry of the batch is inserted');
    return row.version;
  }
}

/** The key that makes an entry id name one entry per book (migration 0009). */
const entryIdConstraint = 'ledger_entries_id_key';

function versionAfter(head: BookHead, statement: WriteStatement): bigint {
  return statement.entryIds.length > 0 ? head.version + 1n : head.version;
}

function signal(): { promise: Promise<void>; fire: () => void } {
  let fire = (): void => {};
  const promise = new Promise<void>((resolve) => (fire = resolve));
  return { promise, fire };
}

/** A batch decided ahead met a head other than the one it was decided on. */
class StaleSpeculation extends Error {
  constructor() {
    super('the book moved under a batch decided ahead');
  }
}

/** A command refused on versions taken from the commands: only versions read may refuse. */
class UncheckedVersions extends Error {
  constructor() {
    super('a refused command consulted versions not read');
  }
}

/** Refusals that never depend on what is stored under the entry's id. */
const decidedWithoutStore = new Set<string>([
  ...entryShapeErrorCodes,
  ...entryErrorCodes.filter((code) => code.startsWith('exists_with_different_')),
]);

function pendingIdsOf(inputs: readonly EntryInput[]): Id[] {
  const ids = new Set<Id>();
  // An id that is no uuid is refused by the core before any pending entry is looked at.
  for (const input of inputs) if (input.pendingId !== undefined && isValidId(input.pendingId)) ids.add(input.pendingId);
  return [...ids];
}

async function readAhead(db: Kysely<Database>, platformId: Id, ids: ReadonlySet<Id>): Promise<Assumed> {
  const asked = [...ids];
  return { ids: asked, accounts: await selectAccounts(db, platformId, asked, false) };
}

/**
 * Whether the accounts a batch decided ahead read without a lock are still as read, now that
 * the book is locked. Each may have moved in between: another writer's batch, or one of this
 * process's batches still in flight when it was read (its balances may no longer be
 * remembered). Under the book lock nothing moves them any more.
 */
async function asAssumed(trx: Kysely<Database>, platformId: Id, assumed: Assumed): Promise<boolean> {
  if (assumed.ids.length === 0) return true;
  const now = await selectAccounts(trx, platformId, assumed.ids, true);
  if (now.length !== assumed.accounts.length) return false;
  const read = new Map(assumed.accounts.map((account) => [account.id, account]));
  return now.every((account) => {
    const before = read.get(account.id);
    return before !== undefined && sameStoredAccount(before, account);
  });
}

/** The accounts with their numbers, to remember. */
function storedAccounts(batch: BatchAccounts): StoredAccount[] {
  const stored: StoredAccount[] = [];
  for (const [id, account] of batch.accounts) {
    const num = batch.nums.get(id);
    assert.ok(num !== undefined);
    stored.push({ ...account, num });
  }
  return stored;
}

/**
 * The accounts that the entries and the pending entries they resolve name, copied from
 * memory with their numbers, and the ids memory lacks (ids that are no uuid left out: the
 * core refuses those before any account is looked at).
 */
function rememberedAccounts(
  memory: BookMemory,
  inputs: readonly EntryInput[],
  pendings: ReadonlyMap<Id, Pending | 'not_pending'>,
): { accounts: Map<Id, Account>; nums: Map<Id, bigint>; missing: Set<Id> } {
  const accounts = new Map<Id, Account>();
  const nums = new Map<Id, bigint>();
  const missing = new Set<Id>();
  const need = (id: Id): void => {
    if (accounts.has(id) || missing.has(id)) return;
    const account = memory.accounts.get(id);
    const num = memory.nums.get(id);
    if (account !== undefined && num !== undefined) {
      accounts.set(id, account);
      nums.set(id, num);
    } else if (isValidId(id)) {
      missing.add(id);
    }
  };
  for (const input of inputs) {
    for (const posting of input.postings) {
      need(posting.debitAccountId);
      need(posting.creditAccountId);
    }
  }
  for (const pending of pendings.values()) {
    if (pending === 'not_pending') continue;
    for (const posting of pending.postings) {
      need(posting.debitAccountId);
      need(posting.creditAccountId);
    }
  }
  return { accounts, nums, missing };
}

function addAccounts(accounts: Map<Id, Account>, nums: Map<Id, bigint>, read: readonly StoredAccount[]): void {
  for (const account of read) {
    accounts.set(account.id, account);
    nums.set(account.id, account.num);
  }
}

/**
 * Whether a batch decided ahead may be written by its statement alone: it read no account
 * that must be checked under lock, and it refused no entry that might be a replay (those
 * answer `exists` only after a look in the journal).
 */
function standsAlone(prepared: Prepared): boolean {
  if (prepared.assumed.ids.length > 0 || prepared.statement.entryIds.length === 0) return false;
  return prepared.results.every((result) => result.code === 'ok' || decidedWithoutStore.has(result.code));
}

function yieldToIo(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

type WriteStatement = ReturnType<typeof writeStatement>;

/**
 * The whole write of a batch as one statement: one round trip, one plan. It locks the book's
 * row first and writes nothing unless the head is `base`, the head the batch was decided on,
 * so that it may run alone, outside a transaction that locked the book before.
 */
function writeStatement(
  arrays: ArrayCodec,
  platformId: Id,
  base: BookHead,
  decision: BatchDecision,
  nums: ReadonlyMap<Id, bigint>,
) {
  const num = (id: Id): bigint => {
    const found = nums.get(id);
    // Not assert.ok(…, message): its message would be built for every posting.
    if (found === undefined) assert.fail(`the number of account ${id} is known`);
    return found;
  };
  // An entry with one posting (most entries) is one row with its posting (migration 0010);
  // the postings of the others go to ledger_postings.
  const e = entryColumns(arrays, base, decision, num);
  const p = postingColumns(arrays, decision, num);
  const a = accountColumns(arrays, decision.accounts, num);
  const opened = decision.pendingsOpened;
  const resolved = decision.pendingsResolved;
  const head = decision.head;
  const occurredAt = new Date(head.lastOccurredAtMs).toISOString();
  const decided = sql`exists (select from decided_on)`;
  const query = sql<{ inserted: number; version: bigint | null }>`
    with decided_on as (
      select from ledger_books
      where platform_id = ${platformId}::uuid and entry_seq = ${base.seq.toString()}::int8
        and head_hash = decode(${base.hash}, 'hex') and version = ${base.version.toString()}::int8
      for update
    ), hashes as materialized (
      -- Every entry's hash in one parameter, decoded once; the nth entry's are bytes 32n-31 to 32n.
      select decode(${e.hashes}::text, 'hex') as bytes
    ), new_entries as (
      insert into ledger_entries (platform_id, seq, id, kind, pending_id, timeout_at, command, reference, actor,
                                  occurred_at, posting_count, hash, debit_account, credit_account, amount,
                                  pending_released, debit_posted_after, debit_pending_after,
                                  credit_posted_after, credit_pending_after)
      -- Entries take the seqs after the head's, in order: the nth is the head's + n. The posting
      -- columns are null for an entry with several postings; the columns sent empty when all
      -- are zero read as zero for the others.
      select ${platformId}::uuid, ${base.seq.toString()}::int8 + u.n, u.id, u.kind, u.pending_id,
             timestamptz 'epoch' + u.timeout_ms * interval '1 millisecond',
             u.command, u.reference, u.actor, ${occurredAt}::timestamptz, coalesce(u.posting_count, 1),
             substring((select bytes from hashes) from (u.n::int4 - 1) * 32 + 1 for 32),
             u.debit, u.credit, u.amount, case when u.debit is not null then coalesce(u.released, 0) end,
             u.debit_posted, case when u.debit is not null then coalesce(u.debit_pending, 0) end,
             u.credit_posted, case when u.debit is not null then coalesce(u.credit_pending, 0) end
      from unnest(${e.id}::uuid[], ${e.kind}::text[], ${e.pendingId}::uuid[],
                  ${e.timeoutMs}::int8[], ${e.command}::text[], ${e.reference}::text[], ${e.actor}::text[],
                  ${e.postingCount}::int2[], ${e.debit}::int8[], ${e.credit}::int8[], ${e.amount}::int8[],
                  ${e.released}::int8[], ${e.debitPosted}::int8[], ${e.debitPending}::int8[],
                  ${e.creditPosted}::int8[], ${e.creditPending}::int8[]) with ordinality
        as u(id, kind, pending_id, timeout_ms, command, reference, actor, posting_count, debit, credit, amount,
             released, debit_posted, debit_pending, credit_posted, credit_pending, n)
      where ${decided}
      -- No "on conflict": a stored id fails the statement (the batch is then decided again
      -- knowing it), and every new row is spared the speculative insert's extra probe and record.
      returning 1
    ), new_postings as (
      insert into ledger_postings (platform_id, entry_seq, idx, debit_account, credit_account, amount,
                                   pending_released, debit_posted_after, debit_pending_after,
                                   credit_posted_after, credit_pending_after)
      -- The postings of the entries with several: none in most batches.
      select ${platformId}::uuid, u.seq, u.idx, u.debit, u.credit, u.amount, coalesce(u.released, 0),
             u.debit_posted, coalesce(u.debit_pending, 0), u.credit_posted, coalesce(u.credit_pending, 0)
      from unnest(${p.seq}::int8[], ${p.idx}::int2[], ${p.debit}::int8[], ${p.credit}::int8[], ${p.amount}::int8[],
                  ${p.released}::int8[], ${p.debitPosted}::int8[], ${p.debitPending}::int8[],
                  ${p.creditPosted}::int8[], ${p.creditPending}::int8[])
        as u(seq, idx, debit, credit, amount, released, debit_posted, debit_pending, credit_posted, credit_pending)
      where ${decided}
    ), changed_accounts as (
      update ledger_accounts a
      set debits_pending = coalesce(u.dp, 0), debits_posted = u.dpo, credits_pending = coalesce(u.cp, 0), credits_posted = u.cpo
      from unnest(${a.num}::int8[], ${a.debitsPending}::int8[], ${a.debitsPosted}::int8[],
                  ${a.creditsPending}::int8[], ${a.creditsPosted}::int8[]) as u(num, dp, dpo, cp, cpo)
      where a.platform_id = ${platformId}::uuid and a.num = u.num and ${decided}
    ), opened as (
      insert into ledger_pending (platform_id, entry_id, entry_seq, timeout_at, state, resolved_seq)
      select ${platformId}::uuid, u.id, u.seq, timestamptz 'epoch' + u.timeout_ms * interval '1 millisecond',
             u.state, u.resolved_seq
      from unnest(${arrays.uuid(opened.map((c) => c.pending.id))}::uuid[],
                  ${arrays.int8(opened.map((c) => c.pending.seq))}::int8[],
                  ${arrays.int8(opened.map((c) => c.pending.timeoutAtMs))}::int8[],
                  ${arrays.text(opened.map((c) => c.pending.state))}::text[],
                  ${arrays.int8(opened.map((c) => c.resolvedSeq))}::int8[]) as u(id, seq, timeout_ms, state, resolved_seq)
      where ${decided}
      -- A replayed id is caught by the entries insert above; the whole batch is then undone.
      on conflict (platform_id, entry_id) do nothing
    ), resolved as (
      update ledger_pending p set state = u.state, resolved_seq = u.resolved_seq
      from unnest(${arrays.uuid(resolved.map((c) => c.pending.id))}::uuid[],
                  ${arrays.text(resolved.map((c) => c.pending.state))}::text[],
                  ${arrays.int8(resolved.map((c) => c.resolvedSeq))}::int8[]) as u(id, state, resolved_seq)
      where p.platform_id = ${platformId}::uuid and p.entry_id = u.id and p.state = 'open' and ${decided}
    ), book as (
      update ledger_books
      set entry_seq = ${head.seq.toString()}::int8, head_hash = decode(${head.hash}, 'hex'),
          version = version + 1, last_occurred_at = ${occurredAt}::timestamptz
      where platform_id = ${platformId}::uuid and ${decided}
      returning version
    )
    select (select count(*) from new_entries)::int4 as inserted, (select version from book) as version`;
  return { query, entryIds: e.ids };
}

function entryColumns(
  arrays: ArrayCodec,
  base: BookHead,
  decision: BatchDecision,
  num: (id: Id) => bigint,
) {
  const entries = decision.entries;
  const count = entries.length;
  // Sized up front and filled by index: arrays grown by push left their smaller copies behind.
  const id = new Array<Id>(count);
  const kind = new Array<string>(count);
  const pendingId = new Array<Id | null>(count);
  const timeoutMs = new Array<number | null>(count);
  const command = new Array<string>(count);
  const reference = new Array<string | null>(count);
  const actor = new Array<string | null>(count);
  const postingCount = new Array<number>(count);
  const hashes = new Array<string>(count);
  // The posting of each entry that has one; null for the others.
  const single = new Array<Posting | null>(count);
  let oneEach = true;
  // The statement numbers entries from the head: they must follow it without a gap.
  let seq = base.seq;
  for (let i = 0; i < count; i++) {
    const entry = entries[i] as Entry;
    if (entry.seq !== ++seq) assert.fail('entries follow the head in order');
    if (entry.hash.length !== 64) assert.fail('a hash is 32 bytes in hex');
    id[i] = entry.id;
    kind[i] = entry.kind;
    pendingId[i] = entry.pendingId;
    timeoutMs[i] = entry.timeoutAtMs;
    command[i] = entry.command;
    reference[i] = entry.reference;
    actor[i] = entry.actor;
    postingCount[i] = entry.postings.length;
    hashes[i] = entry.hash;
    const one = entry.postings.length === 1;
    single[i] = one ? (entry.postings[0] as Posting) : null;
    oneEach &&= one;
  }
  return {
    // The ids themselves: a stored one fails the statement, and the batch is decided again.
    ids: id as readonly Id[],
    id: arrays.uuid(id),
    kind: arrays.text(kind),
    pendingId: unlessAll(pendingId, null, arrays.uuid),
    timeoutMs: unlessAll(timeoutMs, null, arrays.int8),
    command: arrays.text(command),
    reference: unlessAll(reference, null, arrays.text),
    actor: unlessAll(actor, null, arrays.text),
    // Read through coalesce(…, 1) by the statement: not sent when every entry has one
    // posting (most batches).
    postingCount: arrays.int2(oneEach ? [] : postingCount),
    // One text of 64 hex digits per entry: a single value to read instead of an array.
    hashes: hashes.join(''),
    ...postingArrays(arrays, single, num),
  };
}

/** The postings of the entries that have several, each with its entry's seq and its place. */
function postingColumns(arrays: ArrayCodec, decision: BatchDecision, num: (id: Id) => bigint) {
  const seq: bigint[] = [];
  const idx: number[] = [];
  const postings: Posting[] = [];
  for (const entry of decision.entries) {
    if (entry.postings.length === 1) continue;
    entry.postings.forEach((posting, index) => {
      seq.push(entry.seq);
      idx.push(index);
      postings.push(posting);
    });
  }
  return { seq: arrays.int8(seq), idx: arrays.int2(idx), ...postingArrays(arrays, postings, num) };
}

/**
 * A posting's columns, one array each; null stays null in every array. The pending and
 * released columns are read through coalesce(…, 0) by the statement, so they are sent empty
 * when every value is zero.
 */
function postingArrays(arrays: ArrayCodec, postings: readonly (Posting | null)[], num: (id: Id) => bigint) {
  const count = postings.length;
  const debit = new Array<bigint | null>(count);
  const credit = new Array<bigint | null>(count);
  const amount = new Array<bigint | null>(count);
  const released = new Array<bigint | null>(count);
  const debitPosted = new Array<bigint | null>(count);
  const debitPending = new Array<bigint | null>(count);
  const creditPosted = new Array<bigint | null>(count);
  const creditPending = new Array<bigint | null>(count);
  for (let i = 0; i < count; i++) {
    const x = postings[i] as Posting | null;
    if (x === null) {
      debit[i] = credit[i] = amount[i] = released[i] = null;
      debitPosted[i] = debitPending[i] = creditPosted[i] = creditPending[i] = null;
      continue;
    }
    debit[i] = num(x.debitAccountId);
    credit[i] = num(x.creditAccountId);
    amount[i] = x.amountMinor;
    released[i] = x.pendingReleasedMinor;
    debitPosted[i] = x.debitPostedAfterMinor;
    debitPending[i] = x.debitPendingAfterMinor;
    creditPosted[i] = x.creditPostedAfterMinor;
    creditPending[i] = x.creditPendingAfterMinor;
  }
  return {
    debit: arrays.int8(debit),
    credit: arrays.int8(credit),
    amount: arrays.int8(amount),
    released: unlessAll(released, 0n, arrays.int8),
    debitPosted: arrays.int8(debitPosted),
    debitPending: unlessAll(debitPending, 0n, arrays.int8),
    creditPosted: arrays.int8(creditPosted),
    creditPending: unlessAll(creditPending, 0n, arrays.int8),
  };
}

function accountColumns(arrays: ArrayCodec, accounts: readonly Account[], num: (id: Id) => bigint) {
  return {
    num: arrays.int8(accounts.map((x) => num(x.id))),
    // Read through coalesce(…, 0) by the statement.
    debitsPending: unlessAll(accounts.map((x) => x.debitsPendingMinor), 0n, arrays.int8),
    debitsPosted: arrays.int8(accounts.map((x) => x.debitsPostedMinor)),
    creditsPending: unlessAll(accounts.map((x) => x.creditsPendingMinor), 0n, arrays.int8),
    creditsPosted: arrays.int8(accounts.map((x) => x.creditsPostedMinor)),
  };
}
