import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import type { Id, RowGuard, RowSet, RowWrite } from '../ledger/index.js';
import type { Database } from './database.js';
import { plainArray, textArray } from './pg-array.js';

/** Versions of guarded rows: a number, or null for a row that does not exist (yet). */
export type RowVersions = Map<string, Map<string, number | null>>;

interface TableShape {
  readonly columns: readonly string[];
  /** The SQL type of the `id` column (uuid, text …), to compare ids with their index. */
  readonly idType: string;
}

const identifier = /^[a-z_][a-z0-9_]*$/;

/**
 * Keys in one statement from which the planner is told to reach rows by their primary key.
 * For thousands of keys it would otherwise scan the whole table (a close's 10,000 lots of
 * 950,000 took a 260 MB scan per statement, three times per batch), pricing each index probe
 * as a disk read when the pages are in memory.
 */
const longKeyListMin = 64;

/**
 * Runs a statement over `keys` keys of one table with sequential scans off for it alone when
 * the list is long. The setting is local to the transaction and put back after; a statement
 * that fails aborts the transaction, which undoes the setting with everything else.
 */
async function byPrimaryKey<T>(db: Kysely<Database>, keys: number, statement: () => Promise<T>): Promise<T> {
  if (keys < longKeyListMin) return statement();
  const { rows } = await sql<{ before: string }>`
    select current_setting('enable_seqscan') as before, set_config('enable_seqscan', 'off', true)`.execute(db);
  const result = await statement();
  await sql`select set_config('enable_seqscan', ${rows[0]?.before ?? 'on'}, true)`.execute(db);
  return result;
}

/**
 * Business rows written inside the book's transaction: their versions are read under lock
 * before the batch is decided, and whole rows are written in bulk with
 * `jsonb_populate_recordset`, one statement per table and mode. Only tables named at
 * construction may be written, and each must have `platform_id`, `id` and `version` columns.
 */
export class GuardedRows {
  private readonly shapes = new Map<string, TableShape>();

  constructor(private readonly tables: ReadonlySet<string>) {
    for (const table of tables) if (!identifier.test(table)) throw new Error(`bad table name ${table}`);
  }

  private check(table: string): void {
    if (!this.tables.has(table)) throw new Error(`table ${table} is not writable through the ledger`);
  }

  private async shape(db: Kysely<Database>, table: string): Promise<TableShape> {
    this.check(table);
    const known = this.shapes.get(table);
    if (known !== undefined) return known;
    const { rows } = await sql<{ column_name: string; udt_name: string }>`
      select column_name, udt_name from information_schema.columns
      where table_schema = current_schema() and table_name = ${table}
      order by ordinal_position`.execute(db);
    const id = rows.find((row) => row.column_name === 'id');
    const names = rows.map((row) => row.column_name);
    if (id === undefined || !names.includes('platform_id') || !names.includes('version')) {
      throw new Error(`table ${table} needs platform_id, id and version columns`);
    }
    const shape = { columns: names, idType: id.udt_name };
    this.shapes.set(table, shape);
    return shape;
  }

  /**
   * Locks and reads the versions of every guarded row, in table and id order. Rows a command
   * only sets columns on (`RowSet`) are read without a row lock: every writer of a guarded
   * table holds the book's lock, and the set statement checks each row's version again, so a
   * row lock there would only cost a WAL record per row (tens of thousands at a close).
   * Rows in `taken` are not read at all: their versions come from the commands
   * (`versionsSetRowsCheck`), and the set statement checks them.
   */
  async lockVersions(
    db: Kysely<Database>,
    platformId: Id,
    guards: readonly RowGuard[],
    setRows: ReadonlySet<string> = new Set(),
    taken: ReadonlyMap<string, number> = new Map(),
  ): Promise<RowVersions> {
    const byTable = new Map<string, { locked: Set<string>; read: Set<string>; taken: Map<string, number> }>();
    for (const guard of guards) {
      let ids = byTable.get(guard.table);
      if (ids === undefined) byTable.set(guard.table, (ids = { locked: new Set(), read: new Set(), taken: new Map() }));
      const key = rowKey(guard.table, guard.id);
      const version = taken.get(key);
      if (version !== undefined) ids.taken.set(guard.id, version);
      else (setRows.has(key) ? ids.read : ids.locked).add(guard.id);
    }
    const versions: RowVersions = new Map();
    for (const [table, { locked, read, taken: given }] of [...byTable].sort(([a], [b]) => a.localeCompare(b))) {
      const shape = await this.shape(db, table);
      const found = new Map<string, number | null>(given);
      for (const [ids, lock] of [
        [[...locked].sort(), true],
        [[...read].sort(), false],
      ] as const) {
        if (ids.length === 0) continue;
        for (const id of ids) found.set(id, null);
        const { rows } = await byPrimaryKey(db, ids.length, () =>
          sql<{ id: string; version: number }>`
            select id::text as id, version from ${sql.table(table)}
            where platform_id = ${platformId}::uuid and id = any(${textArray(ids)}::${sql.raw(shape.idType)}[])
            order by id ${lock ? sql`for update` : sql``}`.execute(db),
        );
        for (const row of rows) found.set(row.id, row.version);
      }
      versions.set(table, found);
    }
    return versions;
  }

  /** Writes the rows of the commands that applied: inserts first, then updates, then sets, per table. */
  async write(db: Kysely<Database>, platformId: Id, writes: readonly (RowWrite | RowSet)[]): Promise<void> {
    const groups = new Map<string, Record<string, unknown>[]>();
    const sets = new Map<string, { table: string; changes: Readonly<Record<string, unknown>>; ids: string[]; versions: number[] }>();
    for (const write of writes) {
      if (write.mode === 'set') {
        const key = `${write.table}:${JSON.stringify(jsonRow(write.changes))}`;
        let set = sets.get(key);
        if (set === undefined) sets.set(key, (set = { table: write.table, changes: write.changes, ids: [], versions: [] }));
        write.ids.forEach((id, i) => {
          set.ids.push(id);
          set.versions.push(write.versions[i] ?? -1);
        });
        continue;
      }
      const key = `${write.mode}:${write.table}`;
      let rows = groups.get(key);
      if (rows === undefined) groups.set(key, (rows = []));
      rows.push(jsonRow(write.row));
    }
    const ordered = [...groups.keys()].sort((a, b) => (a.startsWith('insert') === b.startsWith('insert') ? a.localeCompare(b) : a.startsWith('insert') ? -1 : 1));
    for (const key of ordered) {
      const [mode, table = ''] = key.split(':');
      const shape = await this.shape(db, table);
      const rows = JSON.stringify(groups.get(key), (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
      if (mode === 'insert') {
        const columns = sql.join(shape.columns.map((c) => sql.ref(c)));
        await sql`insert into ${sql.table(table)} (${columns})
          select ${columns} from jsonb_populate_recordset(null::${sql.table(table)}, ${rows}::jsonb)`.execute(db);
        continue;
      }
      const changed = shape.columns.filter((c) => c !== 'platform_id' && c !== 'id');
      const targets = sql.join(changed.map((c) => sql.ref(c)));
      const values = sql.join(changed.map((c) => sql.ref(`r.${c}`)));
      const count = groups.get(key)?.length ?? 0;
      const result = await byPrimaryKey(db, count, () =>
        sql`update ${sql.table(table)} t set (${targets}) = row(${values})
          from jsonb_populate_recordset(null::${sql.table(table)}, ${rows}::jsonb) r
          where t.platform_id = r.platform_id and t.id = r.id`.execute(db),
      );
      expectRows(table, result.numAffectedRows, count);
    }
    for (const { table, changes, ids, versions } of [...sets.values()].sort((a, b) => a.table.localeCompare(b.table))) {
      const shape = await this.shape(db, table);
      const columns = Object.keys(changes);
      for (const column of columns) {
        if (!shape.columns.includes(column) || ['platform_id', 'id', 'version'].includes(column)) throw new Error(`cannot set ${table}.${column}`);
      }
      const targets = sql.join([...columns, 'version'].map((c) => sql.ref(c)));
      const values = sql.join([...columns.map((c) => sql.ref(`r.${c}`)), sql`t.version + 1`]);
      const result = await byPrimaryKey(db, ids.length, () =>
        sql`update ${sql.table(table)} t set (${targets}) = row(${values})
          from jsonb_populate_record(null::${sql.table(table)}, ${JSON.stringify(jsonRow(changes))}::jsonb) r,
               unnest(${textArray(ids)}::${sql.raw(shape.idType)}[], ${plainArray(versions)}::int4[]) as g(id, version)
          where t.platform_id = ${platformId}::uuid and t.id = g.id and t.version = g.version`.execute(db),
      );
      // Fewer rows: a version taken from the commands was not the row's, or a row was changed
      // since it was read, by a writer outside the book's lock.
      expectRows(table, result.numAffectedRows, ids.length);
    }
  }
}

/** An update found fewer of the rows it names (at the versions it names, for a set) than it names. */
export class RowsMoved extends Error {
  constructor(table: string, affected: bigint | undefined, expected: number) {
    super(`updating ${table}: ${String(affected)} of ${expected} rows found`);
  }
}

function expectRows(table: string, affected: bigint | undefined, expected: number): void {
  if (Number(affected ?? 0n) !== expected) throw new RowsMoved(table, affected, expected);
}

/** Guards hold when every row is at the version the command read. */
export function guardsHold(guards: readonly RowGuard[] | undefined, versions: RowVersions): boolean {
  for (const guard of guards ?? []) {
    if ((versions.get(guard.table)?.get(guard.id) ?? null) !== guard.version) return false;
  }
  return true;
}

/** After a command applied, its rows are at their new versions for the rest of the batch. */
export function advanceVersions(writes: readonly (RowWrite | RowSet)[] | undefined, versions: RowVersions): void {
  for (const write of writes ?? []) {
    let table = versions.get(write.table);
    if (table === undefined) versions.set(write.table, (table = new Map()));
    if (write.mode === 'set') {
      for (const id of write.ids) {
        const version = table.get(id);
        if (version === undefined || version === null) throw new Error(`a set row of ${write.table} must be guarded by its command`);
        table.set(id, version + 1);
      }
      continue;
    }
    const id = write.row.id;
    const version = write.row.version;
    if (typeof id !== 'string' || typeof version !== 'number') throw new Error(`a row of ${write.table} needs a string id and a numeric version`);
    table.set(id, version);
  }
}

/** How `lockVersions` names a row of a table. */
export function rowKey(table: string, id: string): string {
  return `${table}\u0000${id}`;
}

/** The rows the commands only set columns on (`RowSet`), by `rowKey`. */
export function setRowsOf(commands: readonly { readonly writes?: readonly (RowWrite | RowSet)[] | undefined }[]): Set<string> {
  const keys = new Set<string>();
  for (const command of commands) {
    for (const write of command.writes ?? []) if (write.mode === 'set') for (const id of write.ids) keys.add(rowKey(write.table, id));
  }
  return keys;
}

/**
 * Rows whose versions a batch may take from its commands instead of reading them: rows that
 * every command guarding them also sets, at the version it guards, and that no command
 * inserts or updates whole. The set statement checks each row's version as it writes it, so
 * a version taken wrongly cannot be written over; `takenVersionsUnchecked` names the other
 * way one could matter. Keys are `rowKey`s; the version is the first guard's.
 */
export function versionsSetRowsCheck(commands: readonly { readonly guards?: readonly RowGuard[] | undefined; readonly writes?: readonly (RowWrite | RowSet)[] | undefined }[]): Map<string, number> {
  const taken = new Map<string, number>();
  const excluded = new Set<string>();
  for (const command of commands) {
    const sets = new Map<string, number>();
    for (const write of command.writes ?? []) {
      if (write.mode === 'set') write.ids.forEach((id, i) => sets.set(rowKey(write.table, id), write.versions[i] ?? -1));
      else if (typeof write.row.id === 'string') excluded.add(rowKey(write.table, write.row.id));
    }
    for (const guard of command.guards ?? []) {
      const key = rowKey(guard.table, guard.id);
      if (guard.version === null || sets.get(key) !== guard.version) excluded.add(key);
      else if (!taken.has(key)) taken.set(key, guard.version);
    }
  }
  for (const key of excluded) taken.delete(key);
  return taken;
}

/**
 * Whether a command that did not apply consulted a version taken from the commands. Only
 * the commands that apply have their versions checked (by their set statements), so such a
 * batch must be decided again on versions read: its refusals could otherwise differ.
 */
export function takenVersionsUnchecked(
  commands: readonly { readonly guards?: readonly RowGuard[] | undefined }[],
  results: readonly { readonly code: string }[],
  taken: ReadonlyMap<string, number>,
): boolean {
  if (taken.size === 0) return false;
  return commands.some((command, i) => results[i]?.code !== 'ok' && (command.guards ?? []).some((guard) => taken.has(rowKey(guard.table, guard.id))));
}

/** Rows a command writes: the weight it adds to a batch. */
export function rowsWritten(writes: readonly (RowWrite | RowSet)[] | undefined): number {
  let rows = 0;
  for (const write of writes ?? []) rows += write.mode === 'set' ? write.ids.length : 1;
  return rows;
}

/** JSON for jsonb_populate_recordset: bigints as strings (exact), dates as RFC 3339. */
function jsonRow(row: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(row)) {
    out[key] = typeof value === 'bigint' ? value.toString() : value instanceof Date ? value.toISOString() : value;
  }
  return out;
}
