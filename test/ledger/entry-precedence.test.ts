import { describe, expect, it } from 'vitest';
import { newId } from '../../src/ids.js';
import {
  decideBatch,
  entryErrorCodes,
  entryErrorPrecedence,
  genesisHash,
  zeroBalances,
} from '../../src/ledger/index.js';
import type {
  Account,
  AccountFlags,
  Balances,
  BatchDecision,
  BookView,
  ChainHead,
  Entry,
  EntryErrorCode,
  EntryInput,
  EntryKind,
  EntryResultCode,
  Id,
  Pending,
  PostingInput,
} from '../../src/ledger/index.js';
import { limits } from '../../src/limits.js';
import {
  accountInput,
  asset,
  free,
  owed,
  pending,
  posted,
  posting,
  postPending,
  transfer,
  voidPending,
} from '../support/fixtures.js';

/**
 * Validation runs in a fixed order and the first failure wins. For every code, from the
 * highest precedence down, the cases below build entries that break that rule and as many
 * lower-precedence rules as can be broken at the same time; the decided code must be
 * exactly the higher one. The peeling chains at the end fix one rule at a time and check
 * that the lower rules really were broken.
 */

const t0 = Date.parse('2026-01-05T02:00:00Z');
/** When the cases are decided: a 60 s pending opened at t0 is due, a 3600 s one is not. */
const t1 = t0 + 120_000;
const max = limits.balanceMinorMax;

/** A book held in maps, written the way storage writes a decision. */
class MemoryBook implements BookView {
  readonly accounts = new Map<Id, Account>();
  readonly entries = new Map<Id, Entry>();
  readonly pendings = new Map<Id, Pending>();
  head: ChainHead = { seq: 0n, hash: genesisHash, lastOccurredAtMs: 0 };

  constructor(readonly platformId: Id = newId()) {}

  open(flags: AccountFlags = free, balances: Partial<Balances> = {}, currency = 'CNY', closed = false): Id {
    const input = accountInput('member_spendable', flags, currency);
    this.accounts.set(input.id, { ...input, ...zeroBalances, ...balances, closed });
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

  /** Decides without writing anything. */
  decide(inputs: readonly EntryInput[], nowMs: number): BatchDecision {
    return decideBatch(this.platformId, this.head, inputs, this, nowMs);
  }

  /** Decides and writes the decision; every entry must be accepted. */
  commit(inputs: readonly EntryInput[], nowMs: number): BatchDecision {
    const decision = this.decide(inputs, nowMs);
    expect(decision.results.map((r) => r.code)).toEqual(inputs.map(() => 'ok'));
    for (const account of decision.accounts) this.accounts.set(account.id, account);
    for (const entry of decision.entries) this.entries.set(entry.id, entry);
    for (const change of [...decision.pendingsOpened, ...decision.pendingsResolved]) {
      this.pendings.set(change.pending.id, change.pending);
    }
    this.head = decision.head;
    return decision;
  }
}

function expire(pendingId: Id): EntryInput {
  return { id: newId(), kind: 'expire', pendingId, postings: [], command: 'ledger.expire' };
}

/** Builds the book every case is decided against; nothing is ever written to it after. */
function buildWorld() {
  const book = new MemoryBook();
  const a = book.open();
  const b = book.open();
  const w = {
    book,
    a,
    b,
    usd1: book.open(free, {}, 'USD'),
    usd2: book.open(free, {}, 'USD'),
    closedCny: book.open(free, {}, 'CNY', true),
    closedUsd: book.open(free, {}, 'USD', true),
    owedEmpty: book.open(owed),
    assetEmpty: book.open(asset),
    owed5: book.open(owed, { creditsPostedMinor: 5n }),
    asset5: book.open(asset, { debitsPostedMinor: 5n }),
    /** Adding 10 to its debits passes the largest balance. */
    debitNearMax: book.open(owed, { debitsPostedMinor: max - 5n, creditsPostedMinor: max - 5n }),
    /** Adding 10 to its credits passes the largest balance. */
    creditNearMax: book.open(asset, { debitsPostedMinor: max - 5n, creditsPostedMinor: max - 5n }),
    unknown1: newId(),
    unknown2: newId(),
    storedPosted: transfer(a, b, 10n, { reference: 'order-1', actor: 'key-1' }),
    duePending: pending(a, b, 100n, 60),
    notDuePending: pending(a, b, 100n, 3600),
    openPending: pending(a, b, 100n),
    postedPending: pending(a, b, 100n),
    partlyPostedPending: pending(a, b, 100n),
    voidedPending: pending(a, b, 100n),
    expiredPending: pending(a, b, 100n, 1),
    twoPostingPending: { ...pending(a, b, 100n), postings: [posting(a, b, 100n), posting(b, a, 50n)] },
  };
  const storedPost = postPending(w.postedPending.id);
  const storedPartialPost = postPending(w.partlyPostedPending.id, [posting(a, b, 40n)]);
  const storedVoid = voidPending(w.voidedPending.id);
  book.commit(
    [
      w.storedPosted,
      w.duePending,
      w.notDuePending,
      w.openPending,
      w.postedPending,
      w.partlyPostedPending,
      w.voidedPending,
      w.expiredPending,
    ],
    t0,
  );
  book.commit([w.twoPostingPending, storedPost, storedPartialPost, storedVoid], t0);
  book.commit([expire(w.expiredPending.id)], t0 + 1000);
  return { ...w, storedPost, storedPartialPost, storedVoid };
}

const w = buildWorld();

const long = (length: number): string => 'x'.repeat(length);
const badKind = 'bogus' as string as EntryKind;
const notABigint = 5 as unknown as bigint;
const badPosting: PostingInput = { debitAccountId: 'bad', creditAccountId: 'bad', amountMinor: -1n };
const tooMany = (p: PostingInput = badPosting): PostingInput[] =>
  Array.from({ length: limits.postingsPerEntryMax + 1 }, () => p);
/** Postings to follow a first one: between them they break every account and balance rule. */
const closedAndOverdrawn = (): PostingInput[] => [
  posting(w.closedCny, w.closedUsd, 10n),
  posting(w.owedEmpty, w.assetEmpty, 10n),
];

/** Text that passes the entry's checks and differs from `storedPosted`'s. */
const otherText = { command: 'other.command', reference: 'order-2', actor: 'key-2' } as const;

/** Everything wrong with an entry of a kind that takes new money. */
function worstNewMoney(more: Partial<EntryInput> = {}): EntryInput {
  return {
    id: w.storedPosted.id,
    kind: 'pending',
    command: 'Bad Command',
    reference: long(limits.referenceLengthMax + 1),
    actor: long(limits.actorLengthMax + 1),
    pendingId: 'bad',
    timeoutSeconds: -1,
    postings: tooMany(),
    ...more,
  };
}

/** Everything wrong with an entry of a kind that resolves a pending entry. */
function worstResolution(more: Partial<EntryInput> = {}): EntryInput {
  return {
    id: w.storedPosted.id,
    kind: 'void_pending',
    command: 'test.void',
    pendingId: w.unknown1,
    timeoutSeconds: -1.5,
    postings: tooMany(),
    ...more,
  };
}

/** A replay of `storedPosted` that differs from it in everything from `kind` down. */
function differentReplay(more: Partial<EntryInput> = {}): EntryInput {
  return {
    id: w.storedPosted.id,
    kind: 'pending',
    timeoutSeconds: 5,
    postings: [posting(w.unknown1, w.unknown2, 11n)],
    ...otherText,
    ...more,
  };
}

function post(pendingId: Id, postings: PostingInput[] = []): EntryInput {
  return postPending(pendingId, postings);
}

/** Every code has at least one case (the Record makes a missing one a type error). */
const cases: Record<EntryErrorCode, () => EntryInput[]> = {
  id_invalid: () => [
    worstNewMoney({ id: 'not-a-uuid', kind: badKind }),
    worstNewMoney({ id: newId().toUpperCase(), kind: badKind }),
    worstNewMoney({ id: '00000000-0000-0000-0000-000000000000' }),
    worstNewMoney({ id: 'ffffffff-ffff-ffff-ffff-ffffffffffff' }),
    worstNewMoney({ id: `{${newId()}}` }),
  ],
  kind_invalid: () => [worstNewMoney({ kind: badKind }), worstResolution({ kind: badKind })],
  command_invalid: () =>
    ['Bad Command', '', long(limits.commandLengthMax + 1), '1abc', 'order confirm', 'Order.confirm'].flatMap(
      (command) => [worstNewMoney({ command }), worstNewMoney({ command, kind: 'posted' })],
    ),
  reference_too_long: () => [
    worstNewMoney({ command: 'other.command' }),
    worstResolution({ reference: long(limits.referenceLengthMax + 1), actor: long(limits.actorLengthMax + 1) }),
  ],
  actor_too_long: () => [
    worstNewMoney({ command: 'other.command', reference: 'order-2' }),
    worstResolution({ actor: long(limits.actorLengthMax + 1) }),
  ],
  pending_id_must_be_absent: () => [
    worstNewMoney({ ...otherText }),
    worstNewMoney({ ...otherText, kind: 'posted', pendingId: w.openPending.id }),
    worstNewMoney({ ...otherText, postings: [] }),
  ],
  pending_id_required: () =>
    (['post_pending', 'void_pending', 'expire'] as const).map((kind) =>
      worstResolution({ kind, pendingId: undefined }),
    ),
  pending_id_invalid: () =>
    ['bad', newId().toUpperCase(), '00000000-0000-0000-0000-000000000000', ''].map((pendingId) =>
      worstResolution({ pendingId }),
    ),
  pending_id_must_be_different: () => [
    worstResolution({ pendingId: w.storedPosted.id }),
    worstResolution({ kind: 'post_pending', pendingId: w.storedPosted.id }),
  ],
  timeout_reserved_for_pending_entry: () => [
    worstResolution(),
    worstResolution({ kind: 'post_pending', timeoutSeconds: limits.pendingTimeoutSecondsMax + 1 }),
    worstResolution({ kind: 'expire', timeoutSeconds: 60 }),
    worstNewMoney({ ...otherText, kind: 'posted', pendingId: undefined }),
    worstNewMoney({ ...otherText, kind: 'posted', pendingId: undefined, timeoutSeconds: Number.NaN, postings: [] }),
  ],
  timeout_invalid: () =>
    [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53].flatMap((timeoutSeconds) => [
      worstNewMoney({ ...otherText, pendingId: undefined, timeoutSeconds }),
      worstNewMoney({ ...otherText, pendingId: undefined, timeoutSeconds, postings: [] }),
    ]),
  timeout_exceeds_max: () => [
    worstNewMoney({ ...otherText, pendingId: undefined, timeoutSeconds: limits.pendingTimeoutSecondsMax + 1 }),
    worstNewMoney({ ...otherText, pendingId: undefined, timeoutSeconds: 2 ** 31, postings: [] }),
  ],
  postings_must_not_be_empty: () => [
    // The id is stored with other postings: idempotency comes after the entry's shape.
    { ...w.storedPosted, postings: [] },
    { ...w.duePending, postings: [] },
    differentReplay({ timeoutSeconds: undefined, postings: [] }),
  ],
  postings_must_be_empty: () => [
    worstResolution({ timeoutSeconds: undefined, postings: [badPosting] }),
    worstResolution({ kind: 'expire', timeoutSeconds: undefined, postings: [posting(w.a, w.b, 1n)] }),
    { ...w.storedVoid, postings: [posting(w.a, w.b, 100n)] },
  ],
  too_many_postings: () => [
    differentReplay({ timeoutSeconds: undefined, postings: tooMany() }),
    differentReplay({ postings: tooMany(posting(w.unknown1, w.unknown2, 1n)) }),
    { ...w.storedPosted, postings: tooMany(posting(w.a, w.b, 10n)) },
    worstResolution({ kind: 'post_pending', timeoutSeconds: undefined, postings: tooMany() }),
  ],
  debit_account_id_invalid: () => [
    differentReplay({ postings: [badPosting, ...closedAndOverdrawn()] }),
    differentReplay({ postings: [posting(newId().toUpperCase(), 'bad', 0n)] }),
    differentReplay({ postings: [posting('00000000-0000-0000-0000-000000000000', w.b, 1n)] }),
    // A later posting is checked too, once the earlier ones pass.
    differentReplay({ postings: [posting(w.a, w.b, 1n), posting('bad', 'bad', -1n)] }),
    post(w.unknown1, [posting('bad', w.unknown1, -1n)]),
  ],
  credit_account_id_invalid: () => [
    differentReplay({ postings: [posting(w.unknown1, 'bad', -1n), ...closedAndOverdrawn()] }),
    differentReplay({ postings: [posting(w.a, newId().toUpperCase(), limits.amountMinorMax + 1n)] }),
    post(w.unknown1, [posting(w.a, 'bad', -1n)]),
  ],
  accounts_must_be_different: () => [
    differentReplay({ postings: [posting(w.unknown1, w.unknown1, -1n), ...closedAndOverdrawn()] }),
    differentReplay({ postings: [posting(w.a, w.a, limits.amountMinorMax + 1n)] }),
    post(w.unknown1, [posting(w.a, w.a, -1n)]),
  ],
  amount_must_be_positive: () => [
    differentReplay({ postings: [posting(w.unknown1, w.unknown2, 0n), ...closedAndOverdrawn()] }),
    differentReplay({ postings: [posting(w.unknown1, w.unknown2, -5n), ...closedAndOverdrawn()] }),
    differentReplay({ kind: 'posted', timeoutSeconds: undefined, postings: [posting(w.unknown1, w.unknown2, 0n)] }),
    differentReplay({ postings: [posting(w.unknown1, w.unknown2, notABigint)] }),
    // A post may leave a posting at zero, but never below.
    post(w.unknown1, [posting(w.b, w.a, -1n)]),
  ],
  amount_exceeds_max: () => [
    differentReplay({
      postings: [posting(w.unknown1, w.unknown2, limits.amountMinorMax + 1n), ...closedAndOverdrawn()],
    }),
    differentReplay({ kind: 'posted', timeoutSeconds: undefined, postings: [posting(w.a, w.b, max)] }),
    post(w.unknown1, [posting(w.b, w.a, limits.amountMinorMax + 1n)]),
  ],
  exists_with_different_kind: () => [
    differentReplay(),
    differentReplay({ kind: 'post_pending', timeoutSeconds: undefined, pendingId: w.unknown1 }),
    { ...w.duePending, kind: 'posted', timeoutSeconds: undefined },
    { ...w.storedVoid, kind: 'expire' },
  ],
  exists_with_different_pending_id: () => [
    {
      ...w.storedPost,
      pendingId: w.unknown1,
      postings: [posting(w.unknown1, w.unknown2, 1n)],
      command: 'other.command',
    },
    { ...w.storedPost, pendingId: w.openPending.id },
    { ...w.storedVoid, pendingId: w.unknown1, command: 'other.command', reference: 'x', actor: 'y' },
  ],
  exists_with_different_timeout: () => [
    {
      ...w.duePending,
      timeoutSeconds: 120,
      postings: [posting(w.unknown1, w.unknown2, 1n)],
      command: 'other.command',
      reference: 'order-2',
      actor: 'key-2',
    },
    { ...w.duePending, timeoutSeconds: 0 },
    { ...w.duePending, timeoutSeconds: undefined },
    { ...w.openPending, timeoutSeconds: 60 },
  ],
  exists_with_different_postings: () => [
    differentReplay({ kind: 'posted', timeoutSeconds: undefined }),
    { ...w.storedPosted, postings: [posting(w.a, w.b, 11n)] },
    { ...w.storedPosted, postings: [posting(w.b, w.a, 10n)] },
    { ...w.storedPosted, postings: [posting(w.a, w.b, 10n), posting(w.a, w.b, 10n)] },
    { ...w.duePending, postings: [posting(w.a, w.b, 99n)], command: 'other.command' },
    // The stored post posted everything: a partial post under its id is something else.
    { ...w.storedPost, postings: [posting(w.a, w.b, 50n)], command: 'other.command' },
    // The stored post posted part: a post of everything under its id is something else.
    { ...w.storedPartialPost, postings: [], command: 'other.command' },
  ],
  exists_with_different_command: () => [
    { ...w.storedPosted, command: 'other.command', reference: 'order-2', actor: 'key-2' },
    { ...w.storedVoid, command: 'other.command', reference: 'x' },
  ],
  exists_with_different_reference: () => [
    { ...w.storedPosted, reference: 'order-2', actor: 'key-2' },
    { ...w.storedPosted, reference: undefined, actor: undefined },
    { ...w.openPending, reference: 'order-2' },
  ],
  exists_with_different_actor: () => [
    { ...w.storedPosted, actor: 'key-2' },
    { ...w.storedPosted, actor: undefined },
    { ...w.storedVoid, actor: 'someone' },
  ],
  debit_account_not_found: () => [
    transfer(w.unknown1, w.unknown2, 10n),
    posted([posting(w.unknown1, w.unknown2, 10n), ...closedAndOverdrawn()]),
    // Every posting is looked up before any is checked for being closed.
    {
      ...pending(w.a, w.b, 1n),
      postings: [posting(w.a, w.b, 1n), ...closedAndOverdrawn(), posting(w.unknown1, w.a, 1n)],
    },
  ],
  credit_account_not_found: () => [
    posted([posting(w.owedEmpty, w.unknown1, 10n), ...closedAndOverdrawn()]),
    { ...pending(w.a, w.b, 1n), postings: [...closedAndOverdrawn(), posting(w.a, w.unknown2, 1n)] },
  ],
  debit_account_closed: () => [
    posted(closedAndOverdrawn()),
    { ...pending(w.a, w.b, 1n), postings: [posting(w.a, w.b, 1n), ...closedAndOverdrawn()] },
  ],
  credit_account_closed: () => [
    posted([posting(w.owedEmpty, w.closedUsd, 10n), posting(w.a, w.assetEmpty, 1n)]),
    transfer(w.a, w.closedCny, 1n),
  ],
  currency_mismatch: () => [
    // Within one posting.
    transfer(w.owedEmpty, w.usd1, 10n),
    transfer(w.usd1, w.a, 10n),
    // Across postings, each one consistent in itself.
    posted([posting(w.owedEmpty, w.assetEmpty, 10n), posting(w.usd1, w.usd2, 10n)]),
    {
      ...pending(w.a, w.b, 1n),
      postings: [posting(w.usd1, w.usd2, 10n), posting(w.debitNearMax, w.creditNearMax, 10n)],
    },
  ],
  pending_entry_not_found: () => [
    post(w.unknown1, [posting(w.b, w.a, 200n)]),
    post(w.unknown1),
    voidPending(w.unknown1),
    expire(w.unknown1),
  ],
  pending_entry_not_pending: () => [
    post(w.storedPosted.id, [posting(w.b, w.a, 200n)]),
    // A post or void is no pending entry either.
    post(w.storedPost.id),
    voidPending(w.storedVoid.id),
    expire(w.storedPosted.id),
  ],
  pending_entry_already_posted: () => [
    post(w.postedPending.id, [posting(w.b, w.a, 200n)]),
    post(w.postedPending.id),
    voidPending(w.postedPending.id),
    expire(w.postedPending.id),
  ],
  pending_entry_already_voided: () => [
    post(w.voidedPending.id, [posting(w.b, w.a, 200n)]),
    voidPending(w.voidedPending.id),
    expire(w.voidedPending.id),
  ],
  pending_entry_expired: () => [
    // Expired by an expire entry.
    post(w.expiredPending.id, [posting(w.b, w.a, 200n)]),
    voidPending(w.expiredPending.id),
    expire(w.expiredPending.id),
    // Still open, but past its timeout.
    post(w.duePending.id, [posting(w.b, w.a, 200n)]),
    post(w.duePending.id),
    voidPending(w.duePending.id),
  ],
  pending_entry_not_expired: () => [expire(w.notDuePending.id), expire(w.openPending.id)],
  pending_entry_has_different_postings: () => [
    post(w.openPending.id, [posting(w.b, w.a, 200n)]),
    post(w.openPending.id, [posting(w.a, w.b, 50n), posting(w.a, w.b, 50n)]),
    post(w.twoPostingPending.id, [posting(w.a, w.b, 100n)]),
    post(w.twoPostingPending.id, [posting(w.a, w.b, 100n), posting(w.a, w.b, 500n)]),
    // The accounts of a post are its pending entry's: any other account is another posting.
    post(w.openPending.id, [posting(w.a, w.unknown1, 200n)]),
  ],
  exceeds_pending_amount: () => [
    post(w.openPending.id, [posting(w.a, w.b, 101n)]),
    post(w.twoPostingPending.id, [posting(w.a, w.b, 100n), posting(w.b, w.a, 51n)]),
    post(w.twoPostingPending.id, [posting(w.a, w.b, limits.amountMinorMax), posting(w.b, w.a, 0n)]),
  ],
  overflows_debits: () => [
    transfer(w.debitNearMax, w.creditNearMax, 10n),
    pending(w.debitNearMax, w.creditNearMax, 10n),
  ],
  overflows_credits: () => [transfer(w.owedEmpty, w.creditNearMax, 10n), pending(w.owedEmpty, w.creditNearMax, 10n)],
  exceeds_credits: () => [
    transfer(w.owed5, w.asset5, 10n),
    pending(w.owed5, w.asset5, 6n),
    transfer(w.owedEmpty, w.assetEmpty, 1n),
  ],
  exceeds_debits: () => [transfer(w.a, w.asset5, 6n), pending(w.a, w.asset5, 6n), transfer(w.owed5, w.assetEmpty, 1n)],
};

describe('entry error precedence', () => {
  it('lists every code once', () => {
    expect(new Set(entryErrorCodes).size).toBe(entryErrorCodes.length);
    expect(Object.keys(cases).sort()).toEqual([...entryErrorCodes].sort());
    entryErrorCodes.forEach((code, rank) => expect(entryErrorPrecedence(code)).toBe(rank));
  });

  // Every code in the list can be caused by a caller through decideBatch. Two paths cannot:
  // resolving a pending entry never overflows (it posts at most what it reserved, and the
  // reservation already fit) and never meets a currency mismatch (its postings were checked
  // when it was created), so those codes are caused through new money here.
  for (const [rank, code] of entryErrorCodes.entries()) {
    it(`${rank + 1}. ${code}`, () => {
      const inputs = cases[code]();
      expect(inputs.length).toBeGreaterThan(0);
      for (const input of inputs) {
        const decision = w.book.decide([input], t1);
        expect({ input, code: decision.results[0]?.code }).toEqual({ input, code });
        expect(decision.entries).toEqual([]);
        expect(decision.accounts).toEqual([]);
      }
    });
  }

  it('accepts every limit at its boundary', () => {
    const amountMax = limits.amountMinorMax;
    const inputs: EntryInput[] = [
      transfer(w.a, w.b, amountMax, {
        command: `c${long(limits.commandLengthMax - 1)}`,
        reference: long(limits.referenceLengthMax),
        actor: long(limits.actorLengthMax),
      }),
      { ...pending(w.a, w.b, 1n, limits.pendingTimeoutSecondsMax) },
      posted(Array.from({ length: limits.postingsPerEntryMax }, () => posting(w.a, w.b, 1n))),
      transfer(w.a, w.b, 1n, { command: 'a0_.:-z' }),
      transfer(w.owed5, w.asset5, 5n),
      post(w.openPending.id, [posting(w.a, w.b, 0n)]),
      expire(w.duePending.id),
    ];
    expect(w.book.decide(inputs, t1).results.map((r) => r.code)).toEqual(inputs.map(() => 'ok'));
  });
});

type Fix = readonly [EntryResultCode, (input: EntryInput) => EntryInput];

/**
 * Decides `start`, expects the first code, applies its fix, decides again, and so on: each
 * fix must reveal a rule of lower precedence that the entry was breaking all along.
 */
function peel(start: EntryInput, fixes: readonly Fix[]): void {
  let input = start;
  let previousRank = -1;
  for (const [code, fix] of fixes) {
    expect({ step: code, code: w.book.decide([input], t1).results[0]?.code }).toEqual({ step: code, code });
    if (code !== 'ok' && code !== 'exists') {
      const rank = entryErrorPrecedence(code);
      // Ranks are unique: a rank equal to the last one is the same code, reached again.
      expect(rank).toBeGreaterThanOrEqual(previousRank);
      previousRank = rank;
    }
    input = fix(input);
  }
}

const withPosting = (index: number, change: Partial<PostingInput>) => (input: EntryInput): EntryInput => ({
  ...input,
  postings: input.postings.map((p, i) => (i === index ? { ...p, ...change } : p)),
});

describe('peeling one broken rule at a time', () => {
  it('walks new money from id_invalid down to the balance rules', () => {
    const fresh = newId();
    peel(worstNewMoney({ id: 'not-a-uuid', kind: badKind }), [
      ['id_invalid', (e) => ({ ...e, id: w.storedPosted.id })],
      ['kind_invalid', (e) => ({ ...e, kind: 'posted' })],
      ['command_invalid', (e) => ({ ...e, command: 'other.command' })],
      ['reference_too_long', (e) => ({ ...e, reference: 'order-2' })],
      ['actor_too_long', (e) => ({ ...e, actor: 'key-2' })],
      ['pending_id_must_be_absent', (e) => ({ ...e, pendingId: undefined })],
      ['timeout_reserved_for_pending_entry', (e) => ({ ...e, timeoutSeconds: undefined })],
      ['too_many_postings', (e) => ({ ...e, postings: [badPosting, ...closedAndOverdrawn()] })],
      ['debit_account_id_invalid', withPosting(0, { debitAccountId: w.unknown1 })],
      ['credit_account_id_invalid', withPosting(0, { creditAccountId: w.unknown1 })],
      ['accounts_must_be_different', withPosting(0, { creditAccountId: w.unknown2 })],
      ['amount_must_be_positive', withPosting(0, { amountMinor: limits.amountMinorMax + 1n })],
      ['amount_exceeds_max', withPosting(0, { amountMinor: 10n })],
      ['exists_with_different_postings', (e) => ({ ...e, id: fresh })],
      ['debit_account_not_found', withPosting(0, { debitAccountId: w.a })],
      ['credit_account_not_found', withPosting(0, { creditAccountId: w.b })],
      ['debit_account_closed', withPosting(1, { debitAccountId: w.usd1 })],
      ['credit_account_closed', withPosting(1, { creditAccountId: w.usd2 })],
      ['currency_mismatch', withPosting(1, { debitAccountId: w.debitNearMax, creditAccountId: w.creditNearMax })],
      ['overflows_debits', withPosting(1, { debitAccountId: w.a })],
      ['overflows_credits', withPosting(1, { creditAccountId: w.b })],
      ['exceeds_credits', withPosting(2, { debitAccountId: w.a })],
      ['exceeds_debits', withPosting(2, { creditAccountId: w.b })],
      ['ok', (e) => e],
    ]);
  });

  it('walks idempotency from a different kind down to a different actor', () => {
    peel(differentReplay(), [
      ['exists_with_different_kind', (e) => ({ ...e, kind: 'posted', timeoutSeconds: undefined })],
      ['exists_with_different_postings', (e) => ({ ...e, postings: w.storedPosted.postings })],
      ['exists_with_different_command', (e) => ({ ...e, command: w.storedPosted.command })],
      ['exists_with_different_reference', (e) => ({ ...e, reference: w.storedPosted.reference })],
      ['exists_with_different_actor', (e) => ({ ...e, actor: w.storedPosted.actor })],
      ['exists', (e) => e],
    ]);
    peel({ ...w.storedPost, pendingId: w.unknown1, postings: [posting(w.a, w.b, 1n)], command: 'other.command' }, [
      ['exists_with_different_pending_id', (e) => ({ ...e, pendingId: w.postedPending.id })],
      ['exists_with_different_postings', (e) => ({ ...e, postings: [] })],
      ['exists_with_different_command', (e) => ({ ...e, command: w.storedPost.command })],
      ['exists', (e) => e],
    ]);
    peel({ ...w.duePending, timeoutSeconds: 61, postings: [posting(w.a, w.b, 1n)], reference: 'order-2' }, [
      ['exists_with_different_timeout', (e) => ({ ...e, timeoutSeconds: 60 })],
      ['exists_with_different_postings', (e) => ({ ...e, postings: w.duePending.postings })],
      ['exists_with_different_reference', (e) => ({ ...e, reference: undefined })],
      ['exists', (e) => e],
    ]);
  });

  it('walks a post from pending_id_required down to exceeds_pending_amount', () => {
    const start: EntryInput = {
      ...post(w.unknown1, [posting(w.b, w.a, 200n)]),
      pendingId: undefined,
      timeoutSeconds: 5,
    };
    peel(start, [
      ['pending_id_required', (e) => ({ ...e, pendingId: 'bad' })],
      ['pending_id_invalid', (e) => ({ ...e, pendingId: e.id })],
      ['pending_id_must_be_different', (e) => ({ ...e, pendingId: w.unknown1 })],
      ['timeout_reserved_for_pending_entry', (e) => ({ ...e, timeoutSeconds: 0 })],
      ['pending_entry_not_found', (e) => ({ ...e, pendingId: w.storedPosted.id })],
      ['pending_entry_not_pending', (e) => ({ ...e, pendingId: w.postedPending.id })],
      ['pending_entry_already_posted', (e) => ({ ...e, pendingId: w.voidedPending.id })],
      ['pending_entry_already_voided', (e) => ({ ...e, pendingId: w.expiredPending.id })],
      ['pending_entry_expired', (e) => ({ ...e, pendingId: w.duePending.id })],
      ['pending_entry_expired', (e) => ({ ...e, pendingId: w.openPending.id })],
      ['pending_entry_has_different_postings', withPosting(0, { debitAccountId: w.a, creditAccountId: w.b })],
      ['exceeds_pending_amount', withPosting(0, { amountMinor: 100n })],
      ['ok', (e) => e],
    ]);
  });

  it('walks an expiry from postings_must_be_empty down to pending_entry_not_expired', () => {
    peel({ ...expire(w.openPending.id), postings: [posting(w.a, w.b, 1n)] }, [
      ['postings_must_be_empty', (e) => ({ ...e, postings: [] })],
      ['pending_entry_not_expired', (e) => ({ ...e, pendingId: w.duePending.id })],
      ['ok', (e) => e],
    ]);
  });
});
