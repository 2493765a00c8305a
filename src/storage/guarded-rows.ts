import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import type { Id, RowGuard, RowSet, RowWrite } from '../ledger/index.js';
import type { Database } from './database.js';
import { textArray } from './pg-array.js';

/** Versions of guarded rows: a number, or null for a row that does not exist (yet). */
export type RowVersions = Map<string, Map<string, number | null>>;

interface TableShape {
  readonly columns: readonly string[];
  /** The SQL type of the `id` column (uuid, text …), to compare ids with their index. */
  readonly idType: string;
}

const identifier = /^[a-z_][a-z0-9_]*$/;

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

  /** Locks and reads the versions of every guarded row, in table and id order. */
  async lockVersions(db: Kysely<Database>, platformId: Id, guards: readonly RowGuard[]): Promise<RowVersions> {
    const byTable = new Map<string, Set<string>>();
    for (const guard of guards) {
      let ids = byTable.get(guard.table);
      if (ids === undefined) byTable.set(guard.table, (ids = new Set()));
      ids.add(guard.id);
    }
    const versions: RowVersions = new Map();
    for (const table of [...byTable.keys()].sort()) {
      const shape = await this.shape(db, table);
      const ids = [...(byTable.get(table) ?? [])].sort();
      const found = new Map<string, number | null>(ids.map((id) => [id, null]));
      const { rows } = await sql<{ id: string; version: number }>`
        select id::text as id, version from ${sql.table(table)}
        where platform_id = ${platformId}::uuid and id = any(${textArray(ids)}::${sql.raw(shape.idType)}[])
        order by id for update`.execute(db);
      for (const row of rows) found.set(row.id, row.version);
      versions.set(table, found);
    }
    return versions;
  }

  /** Writes the rows of the commands that applied: inserts first, then updates, then sets, per table. */
  async write(db: Kysely<Database>, platformId: Id, writes: readonly (RowWrite | RowSet)[]): Promise<void> {
    const groups = new Map<string, Record<string, unknown>[]>();
    const sets = new Map<string, { table: string; changes: Readonly<Record<string, unknown>>; ids: string[] }>();
    for (const write of writes) {
      if (write.mode === 'set') {
        const key = `${write.table}:${JSON.stringify(jsonRow(write.changes))}`;
        let set = sets.get(key);
        if (set === undefined) sets.set(key, (set = { table: write.table, changes: write.changes, ids: [] }));
        for (const id of write.ids) set.ids.push(id);
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
      const result = await sql`update ${sql.table(table)} t set (${targets}) = row(${values})
        from jsonb_populate_recordset(null::${sql.table(table)}, ${rows}::jsonb) r
        where t.platform_id = r.platform_id and t.id = r.id`.execute(db);
      expectRows(table, result.numAffectedRows, groups.get(key)?.length ?? 0);
    }
    for (const { table, changes, ids } of [...sets.values()].sort((a, b) => a.table.localeCompare(b.table))) {
      const shape = await this.shape(db, table);
      const columns = Object.keys(changes);
      for (const column of columns) {
        if (!shape.columns.includes(column) || ['platform_id', 'id', 'version'].includes(column)) throw new Error(`cannot set ${table}.${column}`);
      }
      const targets = sql.join([...columns, 'version'].map((c) => sql.ref(c)));
      const values = sql.join([...columns.map((c) => sql.ref(`r.${c}`)), sql`t.version + 1`]);
      const result = await sql`update ${sql.table(table)} t set (${targets}) = row(${values})
        from jsonb_populate_record(null::${sql.table(table)}, ${JSON.stringify(jsonRow(changes))}::jsonb) r
        where t.platform_id = ${platformId}::uuid and t.id = any(${textArray(ids)}::${sql.raw(shape.idType)}[])`.execute(db);
      expectRows(table, result.numAffectedRows, ids.length);
    }
  }
}

function expectRows(table: string, affected: bigint | undefined, expected: number): void {
  if (Number(affected ?? 0n) !== expected) throw new Error(`updating ${table}: ${String(affected)} of ${expected} rows found`);
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
