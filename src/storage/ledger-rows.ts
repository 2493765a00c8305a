import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import type { Account, Entry, EntryKind, Id, Pending, PendingState, Posting } from '../ledger/index.js';
import type { BookHead } from './book-memory.js';
import type { Database } from './database.js';
import { plainArray } from './pg-array.js';

/**
 * Reads of ledger rows, shared by the batch writer (inside its transaction) and the reader.
 * Times travel as integer milliseconds: PostgreSQL's `extract(epoch …)` is exact numeric.
 */
type Db = Kysely<Database>;

export type { BookHead } from './book-memory.js';

interface BookRow {
  entry_seq: bigint;
  head_hash: string;
  version: bigint;
  last_ms: bigint;
}

/** Locks a book's head row: every writer of the book takes this lock first. */
export async function lockBook(db: Db, platformId: Id): Promise<BookHead | undefined> {
  const { rows } = await sql<BookRow>`
    select entry_seq, encode(head_hash, 'hex') as head_hash, version,
           (extract(epoch from last_occurred_at) * 1000)::int8 as last_ms
    from ledger_books where platform_id = ${platformId}::uuid for update`.execute(db);
  return rows[0] === undefined ? undefined : toHead(rows[0]);
}

export async function readBook(db: Db, platformId: Id): Promise<BookHead | undefined> {
  const { rows } = await sql<BookRow>`
    select entry_seq, encode(head_hash, 'hex') as head_hash, version,
           (extract(epoch from last_occurred_at) * 1000)::int8 as last_ms
    from ledger_books where platform_id = ${platformId}::uuid`.execute(db);
  return rows[0] === undefined ? undefined : toHead(rows[0]);
}

function toHead(row: BookRow): BookHead {
  return { seq: row.entry_seq, hash: row.head_hash, version: row.version, lastOccurredAtMs: Number(row.last_ms) };
}

interface AccountRow {
  id: string;
  num: bigint;
  code: string;
  currency: string;
  flags: number;
  closed: boolean;
  debits_pending: bigint;
  debits_posted: bigint;
  credits_pending: bigint;
  credits_posted: bigint;
}

/** An account with its number in the book (how postings name it). */
export interface StoredAccount extends Account {
  readonly num: bigint;
}

/** Accounts by id, optionally locked in id order (the order every writer locks them in). */
export async function selectAccounts(
  db: Db,
  platformId: Id,
  ids: readonly Id[],
  lock: boolean,
): Promise<StoredAccount[]> {
  if (ids.length === 0) return [];
  const sorted = [...ids].sort();
  const { rows } = await sql<AccountRow>`
    select id, num, code, currency, flags, closed, debits_pending, debits_posted, credits_pending, credits_posted
    from ledger_accounts
    where platform_id = ${platformId}::uuid and id = any(${plainArray(sorted)}::uuid[])
    order by id ${lock ? sql`for update` : sql``}`.execute(db);
  return rows.map(toAccount);
}

export function toAccount(row: AccountRow): StoredAccount {
  return {
    id: row.id,
    num: row.num,
    code: row.code,
    currency: row.currency,
    flags: { debitsMustNotExceedCredits: (row.flags & 1) !== 0, creditsMustNotExceedDebits: (row.flags & 2) !== 0 },
    closed: row.closed,
    debitsPendingMinor: row.debits_pending,
    debitsPostedMinor: row.debits_posted,
    creditsPendingMinor: row.credits_pending,
    creditsPostedMinor: row.credits_posted,
  };
}

/** Same number, kind, currency, flags, state and balances. */
export function sameStoredAccount(a: StoredAccount, b: StoredAccount): boolean {
  return (
    a.id === b.id &&
    a.num === b.num &&
    a.code === b.code &&
    a.currency === b.currency &&
    flagBits(a) === flagBits(b) &&
    a.closed === b.closed &&
    a.debitsPendingMinor === b.debitsPendingMinor &&
    a.debitsPostedMinor === b.debitsPostedMinor &&
    a.creditsPendingMinor === b.creditsPendingMinor &&
    a.creditsPostedMinor === b.creditsPostedMinor
  );
}

export function flagBits(account: Pick<Account, 'flags'>): number {
  return (account.flags.debitsMustNotExceedCredits ? 1 : 0) | (account.flags.creditsMustNotExceedDebits ? 2 : 0);
}

interface EntryRow {
  seq: bigint;
  id: string;
  kind: string;
  pending_id: string | null;
  timeout_ms: bigint | null;
  command: string;
  reference: string | null;
  actor: string | null;
  occurred_ms: bigint;
  hash: string;
}

export interface PostingRow {
  entry_seq: bigint;
  idx: number;
  /** Joined from the accounts' numbers. */
  debit_account_id: string;
  credit_account_id: string;
  amount: bigint;
  pending_released: bigint;
  debit_posted_after: bigint;
  debit_pending_after: bigint;
  credit_posted_after: bigint;
  credit_pending_after: bigint;
}

const entryColumns = sql`seq, id, kind, pending_id,
  (extract(epoch from timeout_at) * 1000)::int8 as timeout_ms, command, reference, actor,
  (extract(epoch from occurred_at) * 1000)::int8 as occurred_ms, encode(hash, 'hex') as hash`;

/** Entries with the given ids, postings included. */
export async function selectEntriesById(db: Db, platformId: Id, ids: readonly Id[]): Promise<Entry[]> {
  if (ids.length === 0) return [];
  const { rows } = await sql<EntryRow>`
    select ${entryColumns} from ledger_entries
    where platform_id = ${platformId}::uuid and id = any(${plainArray(ids)}::uuid[])
    order by seq`.execute(db);
  return withPostings(db, platformId, rows);
}

/** Entries after `afterSeq` in journal order, postings included. */
export async function selectEntriesAfter(db: Db, platformId: Id, afterSeq: bigint, limit: number): Promise<Entry[]> {
  const { rows } = await sql<EntryRow>`
    select ${entryColumns} from ledger_entries
    where platform_id = ${platformId}::uuid and seq > ${afterSeq.toString()}::int8
    order by seq limit ${limit}`.execute(db);
  return withPostings(db, platformId, rows);
}

/** What the database found checking one run of the hash chain. */
export interface ChainRangeCheck {
  /** The stored hash of entry `afterSeq`, when the run starts after an entry that exists. */
  readonly priorHash: string | null;
  /** The first seq missing from the run, if any. */
  readonly missingSeq: bigint | null;
  /** The first entry whose stored hash is not the hash of its predecessor and its content. */
  readonly mismatchSeq: bigint | null;
  /** The run's last entry and its stored hash. */
  readonly lastSeq: bigint | null;
  readonly lastHash: string | null;
}

/**
 * Checks the links of the hash chain from entry `afterSeq` to `throughSeq` inside the
 * database, where the journal is: each entry's SHA-256 over its predecessor's stored hash and
 * its canonical form (`canonicalEntry` in ledger/entry-hash.ts, built here in SQL: ids as
 * text, numbers in decimal, free text as JSON strings) must equal its stored hash. The first
 * entry of the run is linked to `startHash` when the run's predecessor is not in the journal
 * (the genesis), else to the predecessor's stored hash. The contract tests hold the two forms
 * equal, for text of every kind.
 */
export async function checkChainRange(
  db: Db,
  platformId: Id,
  afterSeq: bigint,
  throughSeq: bigint,
  startHash: string | null,
): Promise<ChainRangeCheck> {
  const after = afterSeq.toString();
  const through = throughSeq.toString();
  // The run's parts are sorted by seq in memory, not spilled to disk.
  const { rows } = await db.transaction().execute(async (trx) => {
    await sql`set local work_mem = '64MB'`.execute(trx);
    return sql<{
      prior_hash: string | null;
      missing_seq: bigint | null;
      mismatch_seq: bigint | null;
      last_seq: bigint | null;
      last_hash: string | null;
    }>`
    with parts as (
      -- An entry's own fields, then its postings in order (idx ≥ 0): one stream, grouped by
      -- seq, no join of entries to postings for a planner to get wrong.
      select e.seq, -1 as idx, e.hash,
             e.platform_id::text || '|' || e.seq || '|' || e.id::text || '|' || e.kind || '|' ||
             coalesce(e.pending_id::text, '-') || '|' ||
             coalesce(((extract(epoch from e.timeout_at) * 1000)::int8)::text, '-') || '|' ||
             to_json(e.command)::text || '|' || coalesce(to_json(e.reference)::text, 'null') || '|' ||
             coalesce(to_json(e.actor)::text, 'null') || '|' ||
             ((extract(epoch from e.occurred_at) * 1000)::int8)::text as text
      from ledger_entries e
      where e.platform_id = ${platformId}::uuid and e.seq >= ${after}::int8 and e.seq <= ${through}::int8
      union all
      select p.entry_seq, p.idx, null,
             '|' || d.id::text || '|' || c.id::text || '|' || p.amount || '|' || p.pending_released || '|' ||
             p.debit_posted_after || '|' || p.debit_pending_after || '|' ||
             p.credit_posted_after || '|' || p.credit_pending_after
      from ledger_postings_all p
      join ledger_accounts d on d.platform_id = p.platform_id and d.num = p.debit_account
      join ledger_accounts c on c.platform_id = p.platform_id and c.num = p.credit_account
      where p.platform_id = ${platformId}::uuid and p.entry_seq > ${after}::int8 and p.entry_seq <= ${through}::int8
    ), entries as (
      -- A posting without its entry has no entry part (idx −1) and so no seq here to link.
      select seq, (array_agg(hash) filter (where idx = -1))[1] as hash, string_agg(text, '' order by idx) as canonical
      from parts group by seq having bool_or(idx = -1)
    ), linked as (
      select seq, hash, canonical,
             coalesce(lag(seq) over run, case when ${startHash}::text is null then null else ${after}::int8 end) as prior_seq,
             coalesce(lag(hash) over run, decode(${startHash}::text, 'hex')) as prior_hash
      from entries
      window run as (order by seq)
    )
    select encode((array_agg(hash) filter (where seq = ${after}::int8))[1], 'hex') as prior_hash,
           min(coalesce(prior_seq, ${after}::int8) + 1) filter (where seq > ${after}::int8 and prior_seq is distinct from seq - 1) as missing_seq,
           min(seq) filter (where seq > ${after}::int8 and prior_seq = seq - 1
             and sha256(convert_to(encode(prior_hash, 'hex') || '|' || canonical, 'UTF8')) <> hash) as mismatch_seq,
           max(seq) filter (where seq > ${after}::int8) as last_seq,
           encode((array_agg(hash order by seq desc) filter (where seq > ${after}::int8))[1], 'hex') as last_hash
    from linked`.execute(trx);
  });
  const row = rows[0];
  return {
    priorHash: row?.prior_hash ?? null,
    missingSeq: row?.missing_seq ?? null,
    mismatchSeq: row?.mismatch_seq ?? null,
    lastSeq: row?.last_seq ?? null,
    lastHash: row?.last_hash ?? null,
  };
}

async function withPostings(db: Db, platformId: Id, rows: EntryRow[]): Promise<Entry[]> {
  if (rows.length === 0) return [];
  const postings = await selectPostings(db, platformId, rows.map((row) => row.seq));
  return rows.map((row) => ({
    platformId,
    seq: row.seq,
    id: row.id,
    kind: row.kind as EntryKind,
    pendingId: row.pending_id,
    timeoutAtMs: row.timeout_ms === null ? null : Number(row.timeout_ms),
    command: row.command,
    reference: row.reference,
    actor: row.actor,
    occurredAtMs: Number(row.occurred_ms),
    postings: postings.get(row.seq) ?? [],
    hash: row.hash,
  }));
}

/** The stored hash of one entry, if it is in the journal. */
export async function selectEntryHash(db: Db, platformId: Id, seq: bigint): Promise<string | null> {
  const { rows } = await sql<{ hash: string }>`
    select encode(hash, 'hex') as hash from ledger_entries
    where platform_id = ${platformId}::uuid and seq = ${seq.toString()}::int8`.execute(db);
  return rows[0]?.hash ?? null;
}

async function selectPostings(db: Db, platformId: Id, seqs: readonly bigint[]): Promise<Map<bigint, Posting[]>> {
  const { rows } = await sql<PostingRow>`
    select ${postingColumns}
    from ${postingsWithAccountIds}
    where p.platform_id = ${platformId}::uuid and p.entry_seq = any(${plainArray(seqs)}::int8[])
    order by p.entry_seq, p.idx`.execute(db);
  const bySeq = new Map<bigint, Posting[]>();
  for (const row of rows) {
    let list = bySeq.get(row.entry_seq);
    if (list === undefined) bySeq.set(row.entry_seq, (list = []));
    list.push(toPosting(row));
  }
  return bySeq;
}

/** Postings with both accounts' ids (`p`, `d`, `c`). */
export const postingsWithAccountIds = sql`ledger_postings_all p
  join ledger_accounts d on d.platform_id = p.platform_id and d.num = p.debit_account
  join ledger_accounts c on c.platform_id = p.platform_id and c.num = p.credit_account`;

export const postingColumns = sql`p.entry_seq, p.idx, d.id as debit_account_id, c.id as credit_account_id, p.amount,
  p.pending_released, p.debit_posted_after, p.debit_pending_after, p.credit_posted_after, p.credit_pending_after`;

export function toPosting(row: PostingRow): Posting {
  return {
    debitAccountId: row.debit_account_id,
    creditAccountId: row.credit_account_id,
    amountMinor: row.amount,
    pendingReleasedMinor: row.pending_released,
    debitPostedAfterMinor: row.debit_posted_after,
    debitPendingAfterMinor: row.debit_pending_after,
    creditPostedAfterMinor: row.credit_posted_after,
    creditPendingAfterMinor: row.credit_pending_after,
  };
}

interface PendingRow {
  entry_id: string;
  entry_seq: bigint;
  state: string;
  timeout_ms: bigint | null;
}

/**
 * Pending entries by id with their reserved postings. Ids that name an entry of another
 * kind come back as 'not_pending'; unknown ids are absent.
 */
export async function selectPendings(
  db: Db,
  platformId: Id,
  ids: readonly Id[],
): Promise<Map<Id, Pending | 'not_pending'>> {
  const found = new Map<Id, Pending | 'not_pending'>();
  if (ids.length === 0) return found;
  const { rows } = await sql<PendingRow>`
    select entry_id, entry_seq, state, (extract(epoch from timeout_at) * 1000)::int8 as timeout_ms
    from ledger_pending
    where platform_id = ${platformId}::uuid and entry_id = any(${plainArray(ids)}::uuid[])`.execute(db);
  const postings = await selectPostings(db, platformId, rows.map((row) => row.entry_seq));
  for (const row of rows) {
    found.set(row.entry_id, {
      id: row.entry_id,
      seq: row.entry_seq,
      state: row.state as PendingState,
      timeoutAtMs: row.timeout_ms === null ? null : Number(row.timeout_ms),
      postings: (postings.get(row.entry_seq) ?? []).map((p) => ({
        debitAccountId: p.debitAccountId,
        creditAccountId: p.creditAccountId,
        amountMinor: p.amountMinor,
      })),
    });
  }
  const others = ids.filter((id) => !found.has(id));
  for (const id of await selectExistingIds(db, platformId, others)) found.set(id, 'not_pending');
  return found;
}

/** Which of these ids name stored entries. */
export async function selectExistingIds(db: Db, platformId: Id, ids: readonly Id[]): Promise<Id[]> {
  if (ids.length === 0) return [];
  const { rows } = await sql<{ id: string }>`
    select id from ledger_entries
    where platform_id = ${platformId}::uuid and id = any(${plainArray(ids)}::uuid[])`.execute(db);
  return rows.map((row) => row.id);
}
