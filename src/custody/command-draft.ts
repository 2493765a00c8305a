import { CustodyError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import { newId } from '../ids.js';
import type { BookCommand, CommandResult, EntryInput, EntryResultCode, Id, LedgerStore, RowGuard, RowWrite } from '../ledger/index.js';

/** A row as it is stored: snake_case columns, with its version. */
export type Row = Readonly<Record<string, unknown>> & { readonly id: string; readonly version: number };

/**
 * A state change being put together: rows it read (guards), rows it writes, events it
 * records, and the ledger entry that moves the money, to be executed as one book command.
 */
export class CommandDraft {
  private readonly guards: RowGuard[] = [];
  private readonly writes: RowWrite[] = [];
  entry: EntryInput | undefined;

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

  command(): BookCommand {
    return { entry: this.entry, guards: this.guards, writes: this.writes };
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

/** Attempts before a command that keeps meeting changed state gives up. */
export const commandAttemptsMax = 8;

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
  for (let attempt = 0; attempt < commandAttemptsMax; attempt++) {
    const { draft, done } = await decide();
    const result = await ledger.execute(platformId, draft.command());
    if (result.code === 'state_changed') continue;
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
