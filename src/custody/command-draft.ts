import { CustodyError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import { businessDate } from '../business-date.js';
import { newId } from '../ids.js';
import type { BookCommand, CommandResult, EntryInput, EntryResultCode, Id, LedgerStore, RowGuard, RowSet, RowWrite } from '../ledger/index.js';

/** A row as it is stored: snake_case columns, with its version. */
export type Row = Readonly<Record<string, unknown>> & { readonly id: string; readonly version: number };

/**
 * Stands for the id of the command's entry in a row written with it (`entry_id`), filled in
 * when the command is built: a row so tied belongs to the business day its entry does.
 */
export const entryOfThisCommand = '$entry-of-this-command';

/**
 * A state change being put together: rows it read (guards), rows it writes, events it
 * records, and the ledger entry that moves the money, to be executed as one book command.
 */
export class CommandDraft {
  private readonly guards: RowGuard[] = [];
  private readonly writes: RowWrite[] = [];
  private readonly sets: RowSet[] = [];
  entry: EntryInput | undefined;
  private movements = 0;

  constructor(
    readonly platformId: Id,
    readonly nowMs: number,
  ) {}

  /** A new row: the command applies only if no row has this id yet. */
  insert(table: string, row: Readonly<Record<string, unknown>> & { readonly id: string }): Row {
    const full: Row = { ...row, id: row.id, platform_id: this.platformId, version: 1 };
    this.guards.push({ table, id: full.id, version: null });
    this.writes.push({ table, mode: 'insert', row: full });
    return full;
  }

  /** A changed row: the command applies only if the row is still at the version read. */
  update(table: string, read: Row, changes: Readonly<Record<string, unknown>>): Row {
    const full = { ...read, ...changes, platform_id: this.platformId, version: read.version + 1 } as Row;
    this.guards.push({ table, id: read.id, version: read.version });
    this.writes.push({ table, mode: 'update', row: full });
    return full;
  }

  /**
   * The same changes to many rows, each still at the version read, in one statement; the rows
   * are not returned (nothing else in the command reads them).
   */
  set(table: string, read: readonly { readonly id: string; readonly version: number }[], changes: Readonly<Record<string, unknown>>): void {
    if (read.length === 0) return;
    for (const row of read) this.guards.push({ table, id: row.id, version: row.version });
    this.sets.push({ table, mode: 'set', ids: read.map((row) => row.id), versions: read.map((row) => row.version), changes });
  }

  /** The order_no is taken by this object, or the command fails as a duplicate. */
  businessKey(orderNo: string, kind: string, objectId: Id): void {
    this.insert('business_keys', { id: orderNo, kind, object_id: objectId, created_at: new Date(this.nowMs) });
  }

  /** One state change of an object, for its audit trail and the platform's events. */
  event(change: ObjectChange): void {
    this.insert('object_events', {
      id: newId(this.nowMs),
      object_type: change.objectType,
      object_id: change.objectId,
      sequence: change.sequence,
      type: change.type,
      actor: change.actor,
      reason: change.reason ?? null,
      data: change.data,
      created_at: new Date(this.nowMs),
    });
  }

  /** One movement of money between parties, for the day's trade file, tied to the command's entry. */
  movement(movement: TradeMovement): void {
    this.movements += 1;
    this.insert('trade_movements', {
      id: newId(this.nowMs),
      entry_id: entryOfThisCommand,
      position: this.movements,
      order_no: movement.orderNo,
      kind: movement.kind,
      payer_member_id: movement.payerId,
      payee_member_id: movement.payeeId,
      amount: movement.amountMinor,
      fee: movement.feeMinor ?? 0n,
      buyer_escrow_delta: movement.buyerEscrowDeltaMinor ?? 0n,
      business_date: businessDate(this.nowMs),
      occurred_at: new Date(this.nowMs),
    });
  }

  command(): BookCommand {
    const entryId = this.entry?.id;
    const writes = this.writes.map((write) => {
      if (write.row.entry_id !== entryOfThisCommand) return write;
      if (entryId === undefined) throw new Error(`a ${write.table} row names the entry of a command that moves no money`);
      return { ...write, row: { ...write.row, entry_id: entryId } };
    });
    return { entry: this.entry, guards: this.guards, writes: [...writes, ...this.sets] };
  }
}

export interface ObjectChange {
  readonly objectType: string;
  readonly objectId: Id;
  /** The object's version after the change: numbers a platform's updates per object. */
  readonly sequence: number;
  readonly type: string;
  readonly actor: string;
  readonly reason?: string | null | undefined;
  /** The object as the API shows it after the change. */
  readonly data: unknown;
}

/** A row of the trade file (API.md "Files"): `amount` gross, `fee` the payee's fee. */
export interface TradeMovement {
  readonly kind: 'pay' | 'confirm' | 'refund' | 'direct' | 'transfer';
  readonly orderNo: string;
  readonly payerId: Id | null;
  readonly payeeId: Id | null;
  readonly amountMinor: bigint;
  readonly feeMinor?: bigint;
  /**
   * How the buyer's escrow in the guarantee account changed (intermediate escrow mode), so
   * a day's closing frozen balances can be told from later ones.
   */
  readonly buyerEscrowDeltaMinor?: bigint;
}

/**
 * Thrown while deciding when two reads disagree because a command committed between them
 * (a bucket's balance and its proceeds lots): the command is decided again from fresh reads.
 * Should they still disagree after every attempt, the books and the lots truly differ: a bug,
 * and the error goes up as it is.
 */
export class StaleRead extends Error {}

/** Attempts before a command that keeps meeting changed state gives up. */
export const commandAttemptsMax = 8;
/** Times a command refused for want of money is decided again from fresh balances. */
const balanceRefusalRetriesMax = 3;

/**
 * Runs a state change against the ledger, deciding it again from fresh state when a guard
 * failed (someone else changed a row it read first). `decide` reads what it needs and
 * returns a draft, or throws a CustodyError for a refusal.
 */
export async function runCommand<T>(
  ledger: LedgerStore,
  platformId: Id,
  decide: () => Promise<{ draft: CommandDraft; done: (result: CommandResult) => T }>,
): Promise<T> {
  let refusals = 0;
  for (let attempt = 0; attempt < commandAttemptsMax; attempt++) {
    let decided: Awaited<ReturnType<typeof decide>>;
    try {
      decided = await decide();
    } catch (error) {
      if (error instanceof StaleRead && attempt + 1 < commandAttemptsMax) continue;
      throw error;
    }
    const { draft, done } = decided;
    const result = await ledger.execute(platformId, draft.command());
    if (result.code === 'state_changed') continue;
    // An account that held enough when read may have been drawn on by a command decided
    // alongside: decide again from what it holds now (a real shortfall is then refused
    // while deciding, as a business refusal), a few times before taking the ledger's word.
    if ((result.code === 'exceeds_credits' || result.code === 'exceeds_debits') && ++refusals < balanceRefusalRetriesMax) continue;
    return done(result);
  }
  throw new CustodyError('state_conflict', 'The object kept changing while this request was decided; retry.');
}

/** What a refused entry means to a caller. */
export function refusalOf(code: EntryResultCode | 'state_changed', message: string): CustodyError {
  if (code === 'state_changed') return new CustodyError('state_conflict', 'The object changed while this request was decided; retry.');
  const map: Partial<Record<EntryResultCode, ErrorCode>> = {
    exceeds_credits: 'insufficient_funds',
    exceeds_debits: 'insufficient_funds',
    debit_account_closed: 'account_frozen',
    credit_account_closed: 'account_frozen',
    currency_mismatch: 'currency_mismatch',
    amount_exceeds_max: 'amount_exceeds_limit',
  };
  const mapped = map[code];
  if (mapped === undefined) return new CustodyError('internal_error', `The ledger refused the entry (${code}).`);
  return new CustodyError(mapped, message);
}
