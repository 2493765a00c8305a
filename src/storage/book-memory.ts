import type { Account, ChainHead, Id } from '../ledger/index.js';
import type { StoredAccount } from './ledger-rows.js';

/** A book's head as stored: the chain head plus the version every writer bumps. */
export interface BookHead extends ChainHead {
  readonly version: bigint;
}

export function sameHead(a: BookHead, b: BookHead): boolean {
  return a.seq === b.seq && a.hash === b.hash && a.version === b.version;
}

/**
 * What this process knows about one book between batches: the head after the last batch it
 * decided, and the balances as of that head. It is trusted only while the head in the
 * database is that head: another writer moves it, and the next batch then forgets
 * everything and reads balances again under lock.
 */
export class BookMemory {
  head: BookHead | null = null;
  readonly accounts = new Map<Id, Account>();
  /** The accounts' numbers in the book (they never change). */
  readonly nums = new Map<Id, bigint>();
  /** When the last batch handed to this book has been decided: the next decides after it. */
  decided: Promise<void> = Promise.resolve();
  /** When the last batch's transaction has ended: transactions of a book run in order. */
  committed: Promise<void> = Promise.resolve();
}

/** Book memories of this process, bounded by `capacity` accounts in all (oldest go first). */
export class BookMemories {
  private readonly books = new Map<Id, BookMemory>();
  private size = 0;

  constructor(private readonly capacity: number) {}

  of(platformId: Id): BookMemory {
    let memory = this.books.get(platformId);
    if (memory === undefined) {
      memory = new BookMemory();
      this.books.set(platformId, memory);
    }
    return memory;
  }

  /**
   * The book is now at `head`, with these balances (on top of those already known). The
   * accounts given are kept even beyond capacity: the batch at hand is decided on them.
   */
  remember(memory: BookMemory, head: BookHead, accounts: Iterable<Account | StoredAccount>): void {
    memory.head = head;
    let given = 0;
    for (const account of accounts) {
      if ('num' in account) memory.nums.set(account.id, account.num);
      if (memory.accounts.delete(account.id)) this.size--;
      memory.accounts.set(account.id, account);
      this.size++;
      given++;
    }
    this.evict(memory, given);
  }

  forget(memory: BookMemory): void {
    memory.head = null;
    this.size -= memory.accounts.size;
    memory.accounts.clear();
    memory.nums.clear();
  }

  get accountsRemembered(): number {
    return this.size;
  }

  /** Oldest first, sparing the last `fresh` accounts remembered in `current` (they are last in it). */
  private evict(current: BookMemory, fresh: number): void {
    for (const memory of this.books.values()) {
      let evictable = memory === current ? memory.accounts.size - fresh : memory.accounts.size;
      for (const id of memory.accounts.keys()) {
        if (this.size <= this.capacity) return;
        if (evictable-- <= 0) break;
        memory.accounts.delete(id);
        memory.nums.delete(id);
        this.size--;
      }
    }
  }
}
