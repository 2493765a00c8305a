import { describe, expect, it } from 'vitest';
import { newId } from '../../src/ids.js';
import {
  canonicalEntry,
  chainHash,
  decideBatch,
  genesisHash,
  verifyChainSegment,
  zeroBalances,
} from '../../src/ledger/index.js';
import type {
  Account,
  AccountFlags,
  BatchDecision,
  BookView,
  ChainHead,
  Entry,
  EntryInput,
  Id,
  Pending,
  Posting,
} from '../../src/ledger/index.js';
import {
  accountInput,
  free,
  owed,
  pending,
  posted,
  posting,
  postPending,
  transfer,
  voidPending,
} from '../support/fixtures.js';

const t0 = Date.parse('2026-01-05T02:00:00Z');

/** A book held in maps, written the way storage writes a decision. */
class MemoryBook implements BookView {
  readonly accounts = new Map<Id, Account>();
  readonly entries = new Map<Id, Entry>();
  readonly pendings = new Map<Id, Pending>();
  readonly journal: Entry[] = [];
  readonly heads: ChainHead[] = [];
  head: ChainHead = { seq: 0n, hash: genesisHash, lastOccurredAtMs: 0 };

  constructor(readonly platformId: Id = newId()) {}

  open(flags: AccountFlags = free): Id {
    const input = accountInput('member_spendable', flags);
    this.accounts.set(input.id, { ...input, ...zeroBalances, closed: false });
    return input.id;
  }

  account(id: Id): Account | undefined {
    return this.accounts.get(id);
  }

  pending(id: Id): Pending | 'not_pending' | undefined {
    return this.pendings.get(id) ?? (this.entries.has(id) ? 'not_pending' : undefined);
  }

  existing(id: Id): Entry | undefined {
    return this.entries.get(id);
  }

  commit(inputs: readonly EntryInput[], nowMs: number): BatchDecision {
    const decision = decideBatch(this.platformId, this.head, inputs, this, nowMs);
    for (const account of decision.accounts) this.accounts.set(account.id, account);
    for (const entry of decision.entries) {
      this.entries.set(entry.id, entry);
      this.journal.push(entry);
    }
    for (const change of [...decision.pendingsOpened, ...decision.pendingsResolved]) {
      this.pendings.set(change.pending.id, change.pending);
    }
    this.head = decision.head;
    this.heads.push(decision.head);
    return decision;
  }
}

function must<T>(value: T | undefined): T {
  if (value === undefined) throw new Error('expected a value');
  return value;
}

const p1: Posting = {
  debitAccountId: newId(),
  creditAccountId: newId(),
  amountMinor: 700n,
  pendingReleasedMinor: 1000n,
  debitPostedAfterMinor: -700n,
  debitPendingAfterMinor: 0n,
  creditPostedAfterMinor: 700n,
  creditPendingAfterMinor: 0n,
};
const p2: Posting = {
  ...p1,
  debitAccountId: newId(),
  creditAccountId: newId(),
  amountMinor: 300n,
  pendingReleasedMinor: 300n,
};

/** An entry with every field set, so that each can be changed on its own. */
const base: Omit<Entry, 'hash'> = {
  platformId: newId(),
  seq: 12n,
  id: newId(),
  kind: 'post_pending',
  pendingId: newId(),
  timeoutAtMs: null,
  command: 'order.confirm',
  reference: 'order-1',
  actor: 'key-1',
  occurredAtMs: t0,
  postings: [p1, p2],
};
const previous = 'a'.repeat(64);

const postingFields = [
  'debitAccountId',
  'creditAccountId',
  'amountMinor',
  'pendingReleasedMinor',
  'debitPostedAfterMinor',
  'debitPendingAfterMinor',
  'creditPostedAfterMinor',
  'creditPendingAfterMinor',
] as const satisfies readonly (keyof Posting)[];

function changedPosting(field: (typeof postingFields)[number]): Posting {
  if (field === 'debitAccountId' || field === 'creditAccountId') return { ...p1, [field]: newId() };
  return { ...p1, [field]: p1[field] + 1n };
}

/** Every single-field change of `base` a reader could be fooled by. */
const variants: readonly (readonly [string, Omit<Entry, 'hash'>])[] = [
  ['platformId', { ...base, platformId: newId() }],
  ['seq', { ...base, seq: 13n }],
  ['id', { ...base, id: newId() }],
  ['kind', { ...base, kind: 'void_pending' }],
  ['pendingId', { ...base, pendingId: newId() }],
  ['pendingId absent', { ...base, pendingId: null }],
  ['timeoutAtMs', { ...base, timeoutAtMs: t0 + 60_000 }],
  ['timeoutAtMs zero', { ...base, timeoutAtMs: 0 }],
  ['command', { ...base, command: 'order.cancel' }],
  ['reference', { ...base, reference: 'order-2' }],
  ['reference absent', { ...base, reference: null }],
  ['reference "null"', { ...base, reference: 'null' }],
  ['reference empty', { ...base, reference: '' }],
  ['actor', { ...base, actor: 'key-2' }],
  ['actor absent', { ...base, actor: null }],
  ['actor "null"', { ...base, actor: 'null' }],
  ['occurredAtMs', { ...base, occurredAtMs: t0 + 1 }],
  ...postingFields.map(
    (field) => [`postings[0].${field}`, { ...base, postings: [changedPosting(field), p2] }] as const,
  ),
  ['postings[1].amountMinor', { ...base, postings: [p1, { ...p2, amountMinor: 301n }] }],
  ['postings[1].creditPendingAfterMinor', { ...base, postings: [p1, { ...p2, creditPendingAfterMinor: -1n }] }],
  ['postings swapped', { ...base, postings: [p2, p1] }],
  ['posting removed', { ...base, postings: [p1] }],
  ['posting repeated', { ...base, postings: [p1, p2, p2] }],
  ['no postings', { ...base, postings: [] }],
  // Free text holds separators and quotes: moving text between fields must still show.
  ['reference and actor swapped', { ...base, reference: 'key-1', actor: 'order-1' }],
  ['separator moved from actor to reference', { ...base, reference: 'order-1|key', actor: '1' }],
  ['quotes inside the reference', { ...base, reference: 'order-1"|"key-1', actor: null }],
  ['separator moved from reference to actor', { ...base, reference: 'order', actor: '1|key-1' }],
];

describe('chainHash', () => {
  it('is deterministic lowercase SHA-256 hex', () => {
    const hash = chainHash(previous, base);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(chainHash(previous, structuredClone(base))).toBe(hash);
    expect(chainHash(previous, { ...base, postings: base.postings.map((p) => ({ ...p })) })).toBe(hash);
  });

  it('ignores the stored hash field', () => {
    expect(chainHash(previous, { ...base, hash: 'f'.repeat(64) } as Entry)).toBe(chainHash(previous, base));
  });

  it('depends on the previous hash', () => {
    expect(chainHash('b'.repeat(64), base)).not.toBe(chainHash(previous, base));
    expect(chainHash(genesisHash, base)).not.toBe(chainHash(previous, base));
  });

  for (const [name, variant] of variants) {
    it(`changes when ${name} changes`, () => {
      expect(canonicalEntry(variant)).not.toBe(canonicalEntry(base));
      expect(chainHash(previous, variant)).not.toBe(chainHash(previous, base));
    });
  }

  it('gives every variant its own hash', () => {
    const hashes = new Set([chainHash(previous, base), ...variants.map(([, v]) => chainHash(previous, v))]);
    expect(hashes.size).toBe(variants.length + 1);
  });

  it('is what decideBatch stores, linked from the head it was given', () => {
    const book = new MemoryBook();
    const a = book.open();
    const b = book.open();
    const decision = book.commit([transfer(a, b, 5n), pending(a, b, 2n, 60)], t0);
    const [first, second] = decision.entries;
    expect(must(first).hash).toBe(chainHash(genesisHash, must(first)));
    expect(must(second).hash).toBe(chainHash(must(first).hash, must(second)));
    expect(decision.head.hash).toBe(must(second).hash);
  });
});

/** Three batches of mixed entries, some refused, from the genesis head. */
function buildJournal(): MemoryBook {
  const book = new MemoryBook();
  const o = book.open(owed);
  const a = book.open();
  const b = book.open();
  const hold = pending(a, o, 40n, 60);
  const other = pending(a, b, 7n);
  book.commit([transfer(a, o, 100n), transfer(o, b, 101n), hold, posted([posting(o, b, 30n), posting(b, a, 10n)])], t0);
  const quoted = transfer(o, a, 1n, { reference: 'r|"x"', actor: 'ops' });
  book.commit([postPending(hold.id, [posting(a, o, 25n)]), other, quoted], t0 + 1000);
  book.commit([voidPending(other.id), transfer(o, b, 1000n), transfer(b, a, 3n)], t0 + 2000);
  return book;
}

describe('verifyChainSegment', () => {
  const book = buildJournal();
  const journal = book.journal;
  const head = book.head;

  const whole = { ok: true, brokenAtSeq: null, reason: null, seq: head.seq, hash: head.hash };

  it('accepts the chain decideBatch wrote across batches', () => {
    expect(journal.map((e) => e.seq)).toEqual([1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n]);
    expect(verifyChainSegment(0n, genesisHash, journal)).toEqual(whole);
  });

  it('continues from any verified head', () => {
    const first = must(book.heads[0]);
    const firstPart = journal.filter((e) => e.seq <= first.seq);
    const rest = journal.filter((e) => e.seq > first.seq);
    expect(verifyChainSegment(0n, genesisHash, firstPart)).toMatchObject({
      ok: true,
      seq: first.seq,
      hash: first.hash,
    });
    expect(verifyChainSegment(first.seq, first.hash, rest)).toMatchObject({ ok: true, seq: head.seq, hash: head.hash });
    expect(verifyChainSegment(head.seq, head.hash, [])).toEqual(whole);
  });

  it('refuses a segment that starts from the wrong hash or position', () => {
    expect(verifyChainSegment(0n, 'b'.repeat(64), journal)).toMatchObject({
      ok: false,
      brokenAtSeq: 1n,
      seq: 0n,
      hash: 'b'.repeat(64),
    });
    expect(verifyChainSegment(1n, genesisHash, journal)).toMatchObject({ ok: false, brokenAtSeq: 2n, seq: 1n });
  });

  const firstPosting =
    (change: (p: Posting) => Posting) =>
    (e: Entry): Entry => ({ ...e, postings: e.postings.map((p, i) => (i === 0 ? change(p) : p)) });
  const edits: readonly (readonly [string, (e: Entry) => Entry])[] = [
    ['a posting amount', firstPosting((p) => ({ ...p, amountMinor: p.amountMinor + 1n }))],
    ['a balance after', firstPosting((p) => ({ ...p, creditPostedAfterMinor: p.creditPostedAfterMinor - 1n }))],
    ['the command', (e) => ({ ...e, command: 'forged.command' })],
    ['the time', (e) => ({ ...e, occurredAtMs: e.occurredAtMs - 1 })],
    ['the hash', (e) => ({ ...e, hash: chainHash('c'.repeat(64), e) })],
  ];

  for (const [what, edit] of edits) {
    it(`stops at the first entry whose ${what} was edited`, () => {
      for (const [index, entry] of journal.entries()) {
        const edited = journal.map((e, i) => (i === index ? edit(e) : e));
        expect(verifyChainSegment(0n, genesisHash, edited)).toEqual({
          ok: false,
          brokenAtSeq: entry.seq,
          reason: 'stored hash does not match the entry',
          seq: entry.seq - 1n,
          hash: journal[index - 1]?.hash ?? genesisHash,
        });
      }
    });
  }

  it('stops at the next entry when an edited entry was given a fresh hash', () => {
    for (const [index, entry] of journal.entries()) {
      const forged = { ...entry, command: 'forged.command' };
      const rehashed = { ...forged, hash: chainHash(journal[index - 1]?.hash ?? genesisHash, forged) };
      const check = verifyChainSegment(0n, genesisHash, journal.map((e, i) => (i === index ? rehashed : e)));
      if (index === journal.length - 1) {
        // The last link has nothing after it: only the head it should end at shows the edit.
        expect(check).toMatchObject({ ok: true, seq: head.seq });
        expect(check.hash).not.toBe(head.hash);
      } else {
        expect(check).toMatchObject({ ok: false, brokenAtSeq: entry.seq + 1n, seq: entry.seq, hash: rehashed.hash });
      }
    }
  });

  it('stops where an entry was removed', () => {
    for (const [index, entry] of journal.entries()) {
      const check = verifyChainSegment(0n, genesisHash, journal.filter((_, i) => i !== index));
      if (index === journal.length - 1) {
        expect(check).toMatchObject({ ok: true, seq: head.seq - 1n });
        expect(check.hash).not.toBe(head.hash);
      } else {
        expect(check).toEqual({
          ok: false,
          brokenAtSeq: entry.seq,
          reason: `expected seq ${entry.seq}, found ${entry.seq + 1n}`,
          seq: entry.seq - 1n,
          hash: journal[index - 1]?.hash ?? genesisHash,
        });
      }
    }
  });

  it('stops where two entries were swapped, even with their seqs swapped back', () => {
    for (let index = 0; index + 1 < journal.length; index++) {
      const here = must(journal[index]);
      const next = must(journal[index + 1]);
      const swapped = [...journal.slice(0, index), next, here, ...journal.slice(index + 2)];
      expect(verifyChainSegment(0n, genesisHash, swapped)).toMatchObject({
        ok: false,
        brokenAtSeq: here.seq,
        seq: here.seq - 1n,
      });
      const renumbered = [
        ...journal.slice(0, index),
        { ...next, seq: here.seq },
        { ...here, seq: next.seq },
        ...journal.slice(index + 2),
      ];
      expect(verifyChainSegment(0n, genesisHash, renumbered)).toMatchObject({
        ok: false,
        brokenAtSeq: here.seq,
        reason: 'stored hash does not match the entry',
      });
    }
  });

  it('stops at a repeated entry', () => {
    const repeated = [...journal.slice(0, 3), must(journal[2]), ...journal.slice(3)];
    expect(verifyChainSegment(0n, genesisHash, repeated)).toMatchObject({
      ok: false,
      brokenAtSeq: 4n,
      seq: 3n,
      hash: journal[2]?.hash,
    });
  });
});
